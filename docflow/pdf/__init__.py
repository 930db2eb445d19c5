"""Signed PDFs as the law defines them: the official's and the organ's PAdES signatures
(Nghị định 30/2020/NĐ-CP, Art. 5 and 32; Phụ lục I), made and checked with pyHanko.

In the real network the edXML signature is often a placeholder: the signed PDF is where
a document's integrity lives. :func:`sign_official` then :func:`sign_organ` make the two
signatures of a document (each an incremental revision; the organ's refuses a PDF its
official has not validly signed); :func:`sign_attachment` signs an attachment or appendix
in a separate file; :func:`verify_pdf` checks every signature against a
:class:`PdfTrust` (the PDF trust list, CRLs, hard-fail revocation) and gives the file's
:class:`PdfVerdict` with the reasons.

>>> import datetime as dt
>>> from docflow.pdf import PdfTrust, sign_official, sign_organ, verify_pdf
>>> from docflow.pdf.samples import sample_pdf
>>> from docflow.security import (create_ca, create_crl, issue_certificate,
...                               issue_official_certificate)
>>> now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
>>> ca = create_ca("Quảng Nam CA", now=now)
>>> official = issue_official_certificate(ca, "000.00.00.H41", "Nguyễn Văn An", now=now)
>>> organ = issue_certificate(ca, "000.00.00.H41", "UBND tỉnh Quảng Nam", now=now)
>>> trust = PdfTrust.of([ca.certificate], crls=[create_crl(ca, [], now=now)])
>>> signed = sign_organ(sign_official(sample_pdf(), official, signed_at=now), organ,
...                     trust=trust, signed_at=now)
>>> report = verify_pdf(signed, trust, at=now + dt.timedelta(minutes=1))
>>> report.verdict.value, [s.role.value for s in report.signatures]
('valid', ['official', 'organ'])
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

# pyHanko imports cryptography's DSA support, which cryptography deprecates: a warning
# docflow's users can do nothing about.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import pyhanko.sign  # noqa: F401

from docflow.pdf._outgoing import seal_attachments
from docflow.pdf._read import MAX_PDF_BYTES, Box
from docflow.pdf._receipt import PdfPolicy, check_attachments, is_pdf
from docflow.pdf._roles import (
    ATTACHMENT_FIELD,
    OFFICIAL_FIELD,
    ORGAN_FIELD,
    Role,
    role_of,
)
from docflow.pdf._sign import (
    DEFAULT_OFFICIAL_BOX,
    seal_box,
    sign_attachment,
    sign_official,
    sign_organ,
)
from docflow.pdf._trust import REVOCATION_MODES, PdfTrust
from docflow.pdf._verify import (
    COMPETENCE_PREFIXES,
    PdfReport,
    PdfVerdict,
    SignatureCheck,
    verify_pdf,
)

__all__ = [
    "ATTACHMENT_FIELD",
    "COMPETENCE_PREFIXES",
    "DEFAULT_OFFICIAL_BOX",
    "MAX_PDF_BYTES",
    "OFFICIAL_FIELD",
    "ORGAN_FIELD",
    "REVOCATION_MODES",
    "Box",
    "PdfPolicy",
    "PdfReport",
    "PdfTrust",
    "PdfVerdict",
    "Role",
    "SignatureCheck",
    "check_attachments",
    "is_pdf",
    "role_of",
    "seal_attachments",
    "seal_box",
    "sign_attachment",
    "sign_official",
    "sign_organ",
    "verify_pdf",
]
