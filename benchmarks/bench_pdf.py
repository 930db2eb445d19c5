"""Checking a doubly signed PDF (the official's and the organ's PAdES signatures, 1 MB,
10 pages) with docflow's ``verify_pdf`` next to pyHanko's bare validation of the same
file (each signature, the same trust roots and CRL, revocation required): the ratio is
what docflow adds (reading the roles, the order, the organs, the report). Signing each
of the two signatures is measured too, next to the same bare pyHanko signing."""

from __future__ import annotations

import datetime as dt
import io

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from benchmarks._harness import Row, rate, sized
from docflow.pdf import PdfTrust, sign_official, sign_organ, verify_pdf
from docflow.pdf.samples import sample_pdf
from docflow.security import create_ca, create_crl, issue_certificate, issue_official_certificate

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
SIZE = sized(1_000_000, 100_000)


def run() -> list[Row]:
    ca = create_ca("Bench CA", now=NOW - dt.timedelta(days=1))
    official = issue_official_certificate(ca, "000.00.00.H41", "Nguyễn Văn An",
                                          now=NOW - dt.timedelta(days=1))
    organ = issue_certificate(ca, "000.00.00.H41", "UBND tỉnh", now=NOW - dt.timedelta(days=1))
    crl = create_crl(ca, [], now=NOW - dt.timedelta(hours=1))
    trust = PdfTrust.of([ca.certificate], crls=[crl])
    pdf = sample_pdf(pages=10, filler=SIZE)
    first = sign_official(pdf, official, signed_at=NOW)
    signed = sign_organ(first, organ, signed_at=NOW)
    at = NOW + dt.timedelta(minutes=5)
    root = asn1_x509.Certificate.load(ca.certificate.public_bytes(Encoding.DER))
    crl_der = asn1_crl.CertificateList.load(crl.public_bytes(Encoding.DER))

    def ours() -> None:
        assert verify_pdf(signed, trust, at=at).valid

    def bare() -> None:
        for embedded in PdfFileReader(io.BytesIO(signed)).embedded_signatures:
            context = ValidationContext(trust_roots=[root], crls=[crl_der], moment=at,
                                        revocation_mode="require")
            assert validate_pdf_signature(embedded, context).bottom_line

    def sign_both() -> None:
        sign_organ(sign_official(pdf, official, signed_at=NOW), organ, signed_at=NOW)

    size = f"{len(signed) / 1e6:.1f} MB"
    return [
        Row("pdf", f"verify_pdf, a doubly signed {size} PDF", rate(ours, seconds=2.0),
            "pyHanko's bare validation of both signatures", rate(bare, seconds=2.0),
            unit="files/s", goal=0.8),
        Row("pdf", f"sign as the official then the organ, {size}",
            rate(sign_both, seconds=2.0), "verify_pdf of the result", rate(ours, seconds=2.0),
            unit="files/s"),
    ]


NOTES = [
    "pdf: docflow's verify_pdf runs pyHanko's validation (chain, CRL, modification "
    "analysis) once per signature and reads the roles from what pyHanko parsed; the "
    "organ's signing checks the official's signature first (integrity and later changes; "
    "with a trust list, the chain too), so signing both costs two signings and a check.",
]
