"""A decision signed as Nghị định 30/2020 says, then checked as a receiving văn thư must.

The chairman's office signs the PDF (the official's signature, with its image); the văn
thư signs it as the organ (the seal over the left third of the signature), which docflow
allows only over a valid official signature; the receiver checks both and gets a
verdict. A copy painted over after signing, and one whose official is not the packet's
signer, are caught. Runs with nothing but docflow: python examples/signed_pdf.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from docflow.model import Signer
from docflow.pdf import PdfTrust, sign_official, sign_organ, verify_pdf
from docflow.pdf.samples import painted_over, sample_pdf, sample_seal_png, sample_signature_png
from docflow.security import (
    create_ca,
    create_crl,
    issue_certificate,
    issue_official_certificate,
)

now = dt.datetime.now(dt.UTC)
issued = now - dt.timedelta(hours=1)
ca = create_ca("Quảng Nam province CA", now=issued)
official = issue_official_certificate(ca, "000.00.00.H41", "Trần Văn Tân", now=issued,
                                      title="Phó Chủ tịch")
organ = issue_certificate(ca, "000.00.00.H41", "UBND tỉnh Quảng Nam", now=issued)
trust = PdfTrust.of([ca.certificate], crls=[create_crl(ca, [], now=issued)])

signed = sign_official(sample_pdf(), official, image=sample_signature_png())
signed = sign_organ(signed, organ, seal=sample_seal_png(), trust=trust)
Path("quyet-dinh-signed.pdf").write_bytes(signed)

signer = Signer("Trần Văn Tân", "Phó Chủ tịch", "KT. Chủ tịch")
for label, data, named in (("as signed", signed, signer),
                           ("painted over later", painted_over(signed), signer),
                           ("another signer named", signed, Signer("Lê Văn Cường"))):
    report = verify_pdf(data, trust, signer=named)
    print(f"{label:<22} {report.verdict}")
    for check in report.signatures:
        print(f"  {check.role.value:<8} {check.signer} ({check.organ}): "
              f"{'ok' if not check.problems else '; '.join(check.problems)}")
assert verify_pdf(signed, trust, signer=signer).valid
assert not verify_pdf(painted_over(signed), trust, signer=signer).valid
