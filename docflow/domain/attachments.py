"""What the signed PDFs of a received document decide (Nghị định 30/2020, Art. 21.2:
the văn thư checks authenticity and integrity before receiving, and returns the document
otherwise): the document's verdict, the worst of its PDF attachments', and, under a node
policy of ``reject``, the readable reason the document goes back with (status 02)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["OnInvalid", "PdfCheck", "PdfMark", "document_mark", "refusal"]


class PdfMark(enum.StrEnum):
    """A received PDF's verdict as the store keeps it."""

    VALID = "valid"  #: the decree's signatures, each valid
    UNCHECKED = "unchecked"  #: not checked: the node has no PDF trust list
    INCOMPLETE = "incomplete"  #: the official's signature only
    INVALID = "invalid"  #: a signature failed, or none, or not a readable PDF


#: worse last: a document's mark is its worst attachment's
_RANK = {PdfMark.VALID: 0, PdfMark.UNCHECKED: 1, PdfMark.INCOMPLETE: 2, PdfMark.INVALID: 3}


class OnInvalid(enum.StrEnum):
    """What a node does with a document whose PDF is invalid (``[pdf] on_invalid``)."""

    RECORD = "record"  #: receive it, the verdict kept and shown (the default)
    REJECT = "reject"  #: receive it and return it at once: status 02 naming the PDF


@dataclass(frozen=True)
class PdfCheck:
    """One PDF attachment's check: its place and name, its mark, the reasons (empty when
    valid) and the full report as JSON (signature by signature)."""

    position: int
    name: str
    mark: PdfMark
    reasons: tuple[str, ...] = ()
    report: str = "{}"


def document_mark(checks: Sequence[PdfCheck]) -> PdfMark | None:
    """The worst mark of a document's PDFs (None: it has none)."""
    return max((check.mark for check in checks), key=_RANK.__getitem__, default=None)


def refusal(checks: Sequence[PdfCheck], policy: OnInvalid, *, limit: int = 900
            ) -> str | None:
    """The reason a document goes back (status 02) under ``policy``, naming each
    invalid PDF and its problems; None when it is received as it is."""
    if policy is not OnInvalid.REJECT:
        return None
    invalid = [check for check in checks if check.mark is PdfMark.INVALID]
    if not invalid:
        return None
    reason = "; ".join(f"the attachment {check.name!r} is not validly signed: "
                       + (", ".join(check.reasons) or "invalid") for check in invalid)
    reason += " (Nghị định 30/2020, Điều 21.2: returned unreceived)"
    return reason if len(reason) <= limit else reason[:limit - 1] + "…"
