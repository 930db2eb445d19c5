"""The PDFs of a received document, checked inside the receive step: a node's policy
(:class:`PdfPolicy`: its PDF trust list, what to do with an invalid one) and one
:class:`~docflow.domain.PdfCheck` per PDF attachment (:func:`check_attachments`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from docflow.domain import OnInvalid, PdfCheck, PdfMark
from docflow.model import Attachment, Signer
from docflow.pdf._trust import PdfTrust
from docflow.pdf._verify import verify_pdf

__all__ = ["PdfPolicy", "check_attachments", "is_pdf"]


@dataclass(frozen=True)
class PdfPolicy:
    """A node's ``[pdf]`` policy: the trust list its PDFs are checked against (None:
    they are marked ``unchecked``) and what an invalid one does (``on_invalid``)."""

    trust: PdfTrust | None = None
    on_invalid: OnInvalid = OnInvalid.RECORD


def is_pdf(attachment: Attachment) -> bool:
    """Whether an attachment is a PDF: by its type, its name or its first bytes."""
    return (attachment.content_type == "application/pdf"
            or attachment.name.lower().endswith(".pdf")
            or attachment.data[:1024].lstrip().startswith(b"%PDF-"))


def check_attachments(attachments: Sequence[Attachment], policy: PdfPolicy, *,
                      signer: Signer | None = None, at: dt.datetime | None = None
                      ) -> tuple[PdfCheck, ...]:
    """Check every PDF among ``attachments`` (by position): verified against the
    policy's trust list at ``at``, the official against ``signer`` (the packet's
    SignerInfo); ``unchecked`` without a trust list."""
    checks = []
    for position, attachment in enumerate(attachments):
        if not is_pdf(attachment):
            continue
        if policy.trust is None:
            checks.append(PdfCheck(position, attachment.name, PdfMark.UNCHECKED,
                                   ("no PDF trust list is configured ([pdf] trust)",)))
            continue
        report = verify_pdf(attachment.data, policy.trust, at=at, signer=signer)
        checks.append(PdfCheck(position, attachment.name, PdfMark(report.verdict.value),
                               tuple(report.reasons()),
                               json.dumps(report.as_dict(), ensure_ascii=False)))
    return tuple(checks)
