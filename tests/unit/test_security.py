"""Signing and verification: round trips, PKI, trust, independent verifier."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
import xmlsec
from hypothesis import HealthCheck, given, settings
from lxml import etree
from signxml import XMLVerifier

from docflow.envelope import (
    DSIG_NS,
    Envelope,
    PacketKind,
    build_envelope,
    build_status,
    build_tree,
)
from docflow.errors import (
    CertificateRevokedError,
    CertificateValidityError,
    ConfigError,
    CredentialsError,
    MissingSignatureError,
    MultipleSignaturesError,
    SignatureValueError,
    SignerMismatchError,
    UntrustedCertificateError,
)
from docflow.model import OrganCode
from docflow.samples import sample_envelope, sample_status
from docflow.security import (
    Credentials,
    TrustStore,
    create_crl,
    issue_certificate,
    load_certificates,
    organ_of,
    sign,
    sign_envelope,
    sign_status,
    verify,
)
from docflow.security._dsig import _sign_tree
from tests.conftest import Pki
from tests.strategies import envelopes_of, organs


def test_document_round_trip(pki: Pki) -> None:
    envelope = sample_envelope()
    verified = verify(sign(build_envelope(envelope), pki.province), pki.trust, now=pki.now)
    assert verified.envelope == envelope
    assert verified.signer == OrganCode("000.00.00.H41")
    assert verified.certificate == pki.province.certificate
    assert verified.hops == ()


def test_status_round_trip(pki: Pki) -> None:
    status = sample_status(sample_envelope())  # from the district
    verified = verify(sign(build_status(status), pki.district), pki.trust, now=pki.now)
    assert verified.status == status
    assert verified.signer == OrganCode("000.00.01.H41")


def test_ecdsa_round_trip(pki: Pki) -> None:
    data = sign(build_envelope(sample_envelope()), pki.province_ec)
    assert b"ecdsa-sha256" in data
    assert verify(data, pki.trust, now=pki.now).envelope == sample_envelope()


# The province's documents; hops are a hub's to add (and sign): a sender's packet has none.
provinces_packets = envelopes_of(
    organs.map(lambda organ: replace(organ, code=OrganCode("000.00.00.H41"))), hops=0)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(provinces_packets)
def test_any_document_signs_and_verifies(pki: Pki, envelope: Envelope) -> None:
    verified = verify(sign(build_envelope(envelope), pki.province), pki.trust, now=pki.now)
    assert verified.envelope == envelope


def _libxmlsec1_signature(signed: bytes, credentials: Credentials) -> tuple[bytes, ...]:
    """Sign the template of a docflow-signed packet again with libxmlsec1 itself; the
    decoded digest values and signature value it computes."""
    root = etree.fromstring(signed)
    signature = root.find(f".//{{{DSIG_NS}}}Signature")
    assert signature is not None
    for node in signature.iter(f"{{{DSIG_NS}}}DigestValue", f"{{{DSIG_NS}}}SignatureValue"):
        node.text = None
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(credentials.private_key_pem(),
                                     xmlsec.constants.KeyDataFormatPem)
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("Id", "").startswith("edxml-"):
            ctx.register_id(element, "Id")
    ctx.sign(signature)
    return _signature_values(etree.tostring(root))


def _signature_values(packet: bytes) -> tuple[bytes, ...]:
    root = etree.fromstring(packet)
    return tuple(base64.b64decode("".join((node.text or "").split())) for node in root.iter(
        f"{{{DSIG_NS}}}DigestValue", f"{{{DSIG_NS}}}SignatureValue"))


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(provinces_packets)
def test_signatures_are_those_libxmlsec1_computes(pki: Pki, envelope: Envelope) -> None:
    """docflow computes its digests and signature values itself (lxml C14N, hashlib, the
    key); RSA PKCS#1 v1.5 is deterministic, so libxmlsec1 signing the same template must
    produce the same bytes, for any document and for status packets."""
    signed = sign_envelope(envelope, pki.province)
    assert _signature_values(signed) == _libxmlsec1_signature(signed, pki.province)
    # sign_envelope splices the attachments' base64 into the bytes instead of the tree:
    # the packet must be the very one signing the full tree gives.
    full_tree = _sign_tree(build_tree(envelope), PacketKind.DOCUMENT, pki.province)
    assert signed == full_tree
    status = sign_status(sample_status(sample_envelope()), pki.district)
    assert _signature_values(status) == _libxmlsec1_signature(status, pki.district)


def test_independent_verifier_accepts_docflow_signatures(pki: Pki, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(pki.ca.certificate_pem())
    for credentials in (pki.province, pki.province_ec):
        data = sign(build_envelope(sample_envelope()), credentials)
        results = XMLVerifier().verify(data, ca_pem_file=str(ca_file), expect_references=4)
        assert [result.signed_xml.tag.rsplit("}", 1)[1] for result in results] == [
            "MessageHeader", "Bussiness", "edXMLBody", "AttachmentEncoded"]
    status = sign(build_status(sample_status(sample_envelope())), pki.district)
    # signxml returns a single result (not a list) when one reference is expected.
    result = XMLVerifier().verify(status, ca_pem_file=str(ca_file), expect_references=1)
    assert result.signed_xml.tag.endswith("MessageHeader")


def test_signing_as_another_organ_is_refused(pki: Pki) -> None:
    with pytest.raises(SignerMismatchError, match=r"from 000\.00\.00\.H41"):
        sign(build_envelope(sample_envelope()), pki.district)


def test_signing_twice_is_refused(pki: Pki) -> None:
    signed = sign(build_envelope(sample_envelope()), pki.province)
    with pytest.raises(MultipleSignaturesError, match="already signed"):
        sign(signed, pki.province)


def test_unsigned_packet_is_refused(pki: Pki) -> None:
    with pytest.raises(MissingSignatureError):
        verify(build_envelope(sample_envelope()), pki.trust, now=pki.now)


def test_empty_signature_holder_is_refused(pki: Pki) -> None:
    data = build_envelope(sample_envelope()).replace(
        b"</edXML:TraceHeaderList>", b"</edXML:TraceHeaderList><edXML:DigitalSignature/>")
    with pytest.raises(MissingSignatureError):
        verify(data, pki.trust, now=pki.now)


def test_certificate_from_another_ca_is_untrusted(pki: Pki) -> None:
    data = sign(build_envelope(sample_envelope()), pki.rogue_province)
    with pytest.raises(UntrustedCertificateError, match="not issued by a trusted CA"):
        verify(data, pki.trust, now=pki.now)


def test_self_signed_certificate_is_untrusted(pki: Pki) -> None:
    # The foreign CA itself, used as if it were an organ's certificate: not ours, and a CA.
    self_signed = Credentials(pki.foreign_ca.private_key, pki.foreign_ca.certificate)
    assert organ_of(self_signed.certificate) is None
    with pytest.raises(CredentialsError, match="names no organ"):
        sign(build_envelope(sample_envelope()), self_signed)


@pytest.mark.parametrize(("offset", "fragment"), [
    (dt.timedelta(days=800), "expired"),
    (dt.timedelta(days=-1), "not valid yet"),
])
def test_certificate_validity_period(pki: Pki, offset: dt.timedelta, fragment: str) -> None:
    data = sign(build_envelope(sample_envelope()), pki.province)
    with pytest.raises(CertificateValidityError, match=fragment):
        verify(data, pki.trust, now=pki.now + offset)


def test_revoked_certificate(pki: Pki) -> None:
    crl = create_crl(pki.ca, [pki.province.certificate], now=pki.now)
    trust = TrustStore([pki.ca.certificate], [crl])
    data = sign(build_envelope(sample_envelope()), pki.province)
    with pytest.raises(CertificateRevokedError, match="revoked"):
        verify(data, trust, now=pki.now)
    # Other certificates of the same CA stay good.
    status = sign(build_status(sample_status(sample_envelope())), pki.district)
    assert verify(status, trust, now=pki.now).signer == OrganCode("000.00.01.H41")


def test_trust_store_clock_is_used_when_no_now_is_given(pki: Pki) -> None:
    data = sign(build_envelope(sample_envelope()), pki.province)
    late = TrustStore([pki.ca.certificate], clock=lambda: pki.now + dt.timedelta(days=900))
    with pytest.raises(CertificateValidityError):
        verify(data, late)


def test_trust_store_refuses_non_ca_certificates(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="not a CA"):
        TrustStore([pki.province.certificate])
    with pytest.raises(ConfigError, match="at least one"):
        TrustStore([])


def test_crl_from_an_untrusted_issuer_is_refused(pki: Pki) -> None:
    crl = create_crl(pki.foreign_ca, [], now=pki.now)
    with pytest.raises(ConfigError, match="CRL"):
        TrustStore([pki.ca.certificate], [crl])


def test_credentials_files_with_passphrase(pki: Pki, tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    pki.province.save(key, cert, passphrase=b"mat-khau")
    assert key.stat().st_mode & 0o777 == 0o600
    loaded = Credentials.load(key, cert, passphrase=b"mat-khau")
    assert loaded.organ == OrganCode("000.00.00.H41")
    signed = sign(build_envelope(sample_envelope()), loaded)
    assert verify(signed, pki.trust, now=pki.now).signer == loaded.organ
    with pytest.raises(CredentialsError, match="wrong passphrase"):
        Credentials.load(key, cert, passphrase=b"sai")
    with pytest.raises(CredentialsError):
        Credentials.load(key, cert)
    other = tmp_path / "other.pem"
    other.write_bytes(pki.district.certificate_pem())
    with pytest.raises(CredentialsError, match="does not match"):
        Credentials.load(key, other, passphrase=b"mat-khau")
    with pytest.raises(CredentialsError, match="cannot read"):
        Credentials.load(tmp_path / "missing.pem", cert)


def test_trust_store_from_a_directory(pki: Pki, tmp_path: Path) -> None:
    """A folder of CA certificates; with more than one CA, its organs.toml says which
    organs each may certify (two CAs bound to nothing are refused)."""
    (tmp_path / "a.pem").write_bytes(pki.ca.certificate_pem())
    (tmp_path / "b.pem").write_bytes(pki.foreign_ca.certificate_pem())
    assert len(load_certificates(tmp_path)) == 2
    with pytest.raises(ConfigError, match="may certify any organ"):
        TrustStore.from_paths(tmp_path)
    (tmp_path / "organs.toml").write_text(
        '[[ca]]\ncertificate = "a.pem"\norgans = ["*.*.*.H44"]\n'
        '[[ca]]\ncertificate = "b.pem"\norgans = ["*.*.*.H41"]\n', encoding="utf-8")
    trust = TrustStore.from_paths(tmp_path)
    data = sign(build_envelope(sample_envelope()), pki.rogue_province)
    assert verify(data, trust, now=pki.now).signer == OrganCode("000.00.00.H41")
    with pytest.raises(UntrustedCertificateError, match="may not certify organ"):
        verify(sign(build_envelope(sample_envelope()), pki.province), trust, now=pki.now)


def test_organ_binding_is_a_san_uri(pki: Pki) -> None:
    credentials = issue_certificate(pki.ca, "000.46.24.H44", "UBND xã", now=pki.now)
    assert organ_of(credentials.certificate) == OrganCode("000.46.24.H44")
    assert "urn:vn:organ:000.46.24.H44" in str(credentials.certificate.extensions)


def test_sign_envelope_and_sign_status_build_and_sign_in_one_go(pki: Pki) -> None:
    from docflow.security import sign_envelope, sign_status

    envelope = sample_envelope()
    assert verify(sign_envelope(envelope, pki.province), pki.trust, now=pki.now).envelope == (
        envelope)
    status = sample_status(envelope)
    assert verify(sign_status(status, pki.district), pki.trust, now=pki.now).status == status
    with pytest.raises(SignerMismatchError):
        sign_envelope(envelope, pki.district)
    with pytest.raises(SignerMismatchError):
        sign_status(status, pki.province)


def test_audit_checkpoints_are_signed_statements(pki: Pki) -> None:
    from docflow.security import AuditCheckpoint, sign_checkpoint, verify_checkpoint

    for credentials in (pki.province, pki.province_ec):
        checkpoint = sign_checkpoint(credentials, 42, "ab" * 32, now=pki.now)
        assert verify_checkpoint(checkpoint, pki.trust) == OrganCode("000.00.00.H41")
        again = AuditCheckpoint.from_json(checkpoint.to_json())
        assert again == checkpoint and verify_checkpoint(again, pki.trust)
        # Any field changed after signing: the signature no longer covers it.
        for changed in (replace(checkpoint, seq=41), replace(checkpoint, head="cd" * 32),
                        replace(checkpoint, at=pki.now + dt.timedelta(seconds=1))):
            with pytest.raises(SignatureValueError):
                verify_checkpoint(changed, pki.trust)
    # Another organ's certificate under the claimed organ; a CA that is not trusted.
    forged = replace(sign_checkpoint(pki.district, 42, "ab" * 32, now=pki.now),
                     organ=OrganCode("000.00.00.H41"))
    with pytest.raises(SignerMismatchError):
        verify_checkpoint(forged, pki.trust)
    with pytest.raises(UntrustedCertificateError):
        verify_checkpoint(sign_checkpoint(pki.rogue_province, 42, "ab" * 32, now=pki.now),
                          pki.trust)
    for text in ("{}", "not json", '{"format": "docflow-audit-checkpoint-v1", "seq": -1}'):
        with pytest.raises(SignatureValueError, match="not an audit checkpoint"):
            AuditCheckpoint.from_json(text)


def test_credentials_load_takes_str_or_path_and_a_str_or_bytes_passphrase(
        pki: Pki, tmp_path: Path) -> None:
    from docflow.errors import CredentialsError
    from docflow.security import Credentials, TrustStore

    key, cert = tmp_path / "organ.key", tmp_path / "organ.crt"
    pki.province.save(key, cert, passphrase="mật khẩu")  # noqa: S106 - a test key
    for passphrase in ("mật khẩu", "mật khẩu".encode()):
        for paths in ((key, cert), (str(key), str(cert))):
            assert Credentials.load(*paths, passphrase=passphrase).organ == pki.province.organ
    locked = Credentials.load(key, cert, need_key=False)  # a reader: no passphrase needed
    assert locked.organ == pki.province.organ and locked.private_key is None
    with pytest.raises(CredentialsError, match="no passphrase was given"):
        sign_envelope(sample_envelope(), locked)
    with pytest.raises(CredentialsError, match="it is encrypted and no passphrase was given"):
        Credentials.load(key, cert)
    (tmp_path / "ca.crt").write_bytes(pki.ca.certificate_pem())
    assert TrustStore.from_paths(str(tmp_path / "ca.crt")).cas == [pki.ca.certificate]
