"""The organ's signature on a document's PDFs on their way out (``docflow send
--sign-pdf``): the văn thư signs, as the organ, each PDF its official signed; a PDF
nobody signed is an attachment or appendix in a separate file, stamped as one only when
asked (``attachment_only``), else refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from docflow.errors import PdfError
from docflow.model import Attachment
from docflow.pdf._read import read_pdf, signatures_of
from docflow.pdf._receipt import is_pdf
from docflow.pdf._roles import Role
from docflow.pdf._sign import sign_attachment, sign_organ
from docflow.pdf._trust import PdfTrust
from docflow.security import Credentials

__all__ = ["seal_attachments"]


def seal_attachments(attachments: Sequence[Attachment], credentials: Credentials, *,
                     number: str, notation: str, trust: PdfTrust | None = None,
                     attachment_only: bool = False, signed_at: dt.datetime | None = None
                     ) -> tuple[Attachment, ...]:
    """The attachments with the organ's signature on each PDF: over the official's (a
    valid one, checked against ``trust`` when given), or, with ``attachment_only``, the
    attachment stamp (``number/notation``) on a PDF nobody signed. A PDF the organ
    signed already is left as it is; any other is a :class:`~docflow.errors.PdfError`
    naming it, and nothing is signed."""
    sealed = []
    for attachment in attachments:
        if not is_pdf(attachment):
            sealed.append(attachment)
            continue
        found = [f for f in signatures_of(read_pdf(attachment.data))
                 if not f.document_timestamp]
        roles = [f.role for f in found]
        try:
            if Role.ORGAN in roles:
                data = attachment.data
            elif roles == [Role.OFFICIAL]:
                data = sign_organ(attachment.data, credentials, trust=trust,
                                  signed_at=signed_at)
            elif not found and attachment_only:
                data = sign_attachment(attachment.data, credentials, number=number,
                                       notation=notation, signed_at=signed_at)
            else:
                raise PdfError(
                    "no official's signature to sign over" if not found else
                    f"its signatures are not the decree's ({', '.join(roles)})",
                    hint="have the official sign it first, or send it as an attachment "
                         "file with --attachment-only")
        except PdfError as exc:
            raise PdfError(f"{attachment.name}: {exc.message}", where=attachment.name,
                           hint=exc.hint) from exc
        sealed.append(dataclasses.replace(attachment, data=data))
    return tuple(sealed)
