"""A packet received before: whether a message is new, the same message again, another
system's rebuilt retry of it, a replay with other content, or remembered no longer
(:func:`admit`); and whether a document is the unsigned twin of one received before, or
the signed document superseding such a twin (:func:`twin_of`)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from docflow.errors import ReplayError
from docflow.security import Verdict

__all__ = ["Admission", "Seen", "Twin", "admit", "twin_of"]


class Admission(enum.Enum):
    """What to do with a message, given what was seen of its id before."""

    NEW = "new"  #: store it
    FORGOTTEN = "forgotten"  #: seen once, remembered no longer: forget that, then store it
    AGAIN = "again"  #: the same signed content: answer as the first time, write nothing
    REBUILT = "rebuilt"  #: a rebuilt retry (its id derived from the DocumentId): the same
    #: document again, answered as the first time, with a warning


@dataclass(frozen=True)
class Seen:
    """What was kept of a message id the first time: the bytes' SHA-256, the signed
    content's digest, and until when it is remembered (None: for as long as it is kept)."""

    document_ref: int
    sha256: str
    content_digest: str | None
    expires_at: dt.datetime | None = None


def admit(seen: Seen | None, *, digest: str, identity: str, derived: bool,
          message_id: str, now: dt.datetime, what: str = "received",  # not a state: a verb
          ) -> Admission:
    """Whether a message (its bytes' ``digest``, its signed content's ``identity``) is
    new. The same id with the same bytes or signed content is :attr:`Admission.AGAIN`
    (whatever its encoding or trace hops); with other content it is a
    :class:`~docflow.errors.ReplayError`, unless its id was ``derived`` from the
    DocumentId (a system that rebuilds the packet on each retry): then it is the same
    document again (:attr:`Admission.REBUILT`). A memory past its ``expires_at`` is
    :attr:`Admission.FORGOTTEN`."""
    if seen is None:
        return Admission.NEW
    if seen.expires_at is not None and seen.expires_at <= now:
        return Admission.FORGOTTEN
    if seen.sha256 == digest or seen.content_digest == identity:
        return Admission.AGAIN
    if derived:
        return Admission.REBUILT
    raise ReplayError(f"this message id was {what} before with different content",
                      where=f"message {message_id}",
                      hint="a resend must carry the very same signed bytes")


class Twin(enum.Enum):
    """A document and another one received before under its DocumentId."""

    NONE = "none"  #: no such earlier document, or two signed ones: both stand
    FIRST_STANDS = "first stands"  #: this is an unsigned copy: the earlier one stands
    SUPERSEDES = "supersedes"  #: this signed one supersedes an unsigned earlier one


def twin_of(earlier: Verdict | str | None, signature: Verdict | str | None, *,
            found: bool) -> Twin:
    """How a document relates to the one ``found`` earlier under its DocumentId and
    business type (``earlier``: that one's signature verdict). A DocumentId names one
    document per sender: an unsigned packet never shadows the document received first;
    a verified one supersedes an unsigned first. ``signature`` None is the strict
    path's (verified)."""
    if not found:
        return Twin.NONE
    if signature not in (None, Verdict.VERIFIED):
        return Twin.FIRST_STANDS
    return Twin.SUPERSEDES if earlier != Verdict.VERIFIED else Twin.NONE
