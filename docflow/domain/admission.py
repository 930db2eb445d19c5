"""A packet received before: whether a message is new, the same message again, another
system's rebuilt retry of it, a replay with other content, or remembered no longer
(:func:`admit`); and whether a document is the unsigned twin of one received before, or
the signed document superseding such a twin (:func:`twin_of`)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from docflow.errors import ReplayError
from docflow.lifecycle import IncomingEvent
from docflow.security import Verdict

__all__ = ["Admission", "Note", "Seen", "Twin", "admit", "rebuilt_note", "received_note",
           "repeated_code_note", "superseded_note", "twin_of", "unsigned_twin_note"]


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


@dataclass(frozen=True)
class Note:
    """An entry for the audit chain that the domain asks for: an action on a subject,
    with its details (the unit of work appends it, with its actor, on commit)."""

    action: str
    subject: str
    detail: dict[str, object]


def received_note(document_ref: int, message_id: str, digest: str, sender: str,
                  pdf: dict[str, str] | None = None, *, supersedes: int | None = None
                  ) -> Note:
    """A document received: its message id, bytes' digest, sender, PDF marks and the
    unsigned twin it supersedes."""
    detail: dict[str, object] = {"message_id": message_id, "sha256": digest, "from": sender}
    if pdf:
        detail["pdf"] = pdf
    if supersedes is not None:
        detail["supersedes"] = supersedes
    return Note(IncomingEvent.RECEIVE, f"document:{document_ref}", detail)


def rebuilt_note(document_ref: int, message_id: str, digest: str) -> Note:
    """Another system's rebuilt retry of a document (Nghị định 30 asks for the
    warning)."""
    return Note("duplicate", f"document:{document_ref}", {
        "message_id": message_id, "sha256": digest,
        "warning": "the same DocumentId again with other content"})


def unsigned_twin_note(twin_ref: int, message_id: str, digest: str) -> Note:
    """An unsigned copy of a DocumentId received before: the first stands."""
    return Note("duplicate", f"document:{twin_ref}", {
        "message_id": message_id, "sha256": digest,
        "warning": "the same DocumentId again, unsigned, with other content: "
                   "the document received first stands"})


def repeated_code_note(document_ref: int, first_ref: int, code: str) -> Note:
    """A document repeating the number and notation of another its sender issued that
    year, under another DocumentId (Phụ lục VI III.1.h asks for the warning)."""
    return Note("duplicate", f"document:{document_ref}", {
        "first": first_ref, "code": code,
        "warning": "the number and notation of another document of this sender, this "
                   "year"})


def superseded_note(twin_ref: int, by: int) -> Note:
    """An unsigned copy superseded by the signed document that arrived later."""
    return Note("superseded", f"document:{twin_ref}", {
        "by": by, "warning": "an unsigned copy of a DocumentId whose signed document "
                             "arrived later"})
