"""Create a test PKI, sign a decision as the province, add a hub hop, verify at the district.

Run: python examples/sign_and_verify.py
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import replace
from pathlib import Path

import docflow
from docflow.samples import sample_envelope
from docflow.security import (
    Credentials,
    TrustStore,
    create_ca,
    issue_certificate,
    sign_envelope,
    sign_hop,
    verify,
)


def main() -> None:
    now = dt.datetime.now(dt.UTC)
    ca = create_ca("Quảng Nam province CA (test)", now=now)
    province = issue_certificate(ca, "000.00.00.H41", "UBND tỉnh Quảng Nam", now=now)
    hub = issue_certificate(ca, "000.00.90.H41", "LGSP Quảng Nam", now=now)

    with tempfile.TemporaryDirectory() as home:
        key, cert = Path(home, "province.key"), Path(home, "province.crt")
        province.save(key, cert, passphrase=b"doi-mat-khau-nay")
        province = Credentials.load(key, cert, passphrase=b"doi-mat-khau-nay")
        print(f"credentials for {province.organ} saved and loaded back from {home}")

    envelope = sample_envelope()
    signed = sign_envelope(envelope, province)  # build + sign (RSA-SHA256, exc-C14N)
    print(f"signed packet: {len(signed)} bytes")

    relayed = sign_hop(signed, hub, when=now)  # the LGSP records (and signs) its hop
    trust = TrustStore([ca.certificate])
    verified = verify(relayed, trust)
    # Everything but the trace is exactly what the province signed.
    assert verified.envelope == replace(envelope, trace=verified.envelope.trace)
    print(f"verified: signed by {verified.signer}, hops {[str(h.organ) for h in verified.hops]}")

    tampered = relayed.replace("phê duyệt".encode(), "bãi bỏ".encode(), 1)
    try:
        verify(tampered, trust)
    except docflow.DigestMismatchError as error:
        print(f"tampered copy refused: {error}")


if __name__ == "__main__":
    main()
