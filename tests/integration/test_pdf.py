"""Signed PDFs as Nghị định 30 defines them: the official's then the organ's PAdES
signature made by docflow and checked by docflow and by pyHanko's own validation; PDFs
signed by pyHanko directly with another CA's certificates (no docflow names in them)
read with the right roles; each tampering a verdict with its reason; the attachment
stamp's printed time the CMS signing time, rendered with Vietnamese letters."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docflow.errors import CredentialsError, PdfError, TransportError
from docflow.model import Signer
from docflow.pdf import (
    PdfTrust,
    PdfVerdict,
    Role,
    seal_box,
    sign_attachment,
    sign_official,
    sign_organ,
    verify_pdf,
)
from docflow.pdf.samples import sample_pdf, sample_seal_png, sample_signature_png
from docflow.security import (
    Credentials,
    create_ca,
    create_crl,
    issue_official_certificate,
)
from tests.conftest import NOW, Pki
from tests.hostile.pdf_catalogue import flip_signed_byte as flip_in_first_revision
from tests.hostile.pdf_catalogue import later_note as annotate
from tests.hostile.pdf_catalogue import later_overlay as overlay
from tests.pdf_pki import OutsidePki, outside_pki

SIGNED_AT = NOW + dt.timedelta(hours=1)  # the certificates were issued at NOW
LATER = NOW + dt.timedelta(hours=2)
CRL_AT = NOW - dt.timedelta(days=2)  # the CA's CRL of the week, published before signing


@dataclass(frozen=True)
class Signers:
    official: Credentials
    organ: Credentials
    trust: PdfTrust


@pytest.fixture(scope="module")
def signers_(pki: Pki) -> Signers:
    official = issue_official_certificate(pki.ca, "000.00.00.H41", "Nguyễn Văn An", now=NOW,
                                          title="Chủ tịch",
                                          organization="UBND tỉnh Quảng Nam")
    return Signers(official, pki.province,
                   PdfTrust.of([pki.ca.certificate], crls=[create_crl(pki.ca, [], now=CRL_AT)]))


@pytest.fixture(scope="module")
def signed(signers_: Signers) -> bytes:
    official = sign_official(sample_pdf(), signers_.official, image=sample_signature_png(),
                             signed_at=SIGNED_AT)
    return sign_organ(official, signers_.organ, seal=sample_seal_png(), trust=signers_.trust,
                      signed_at=SIGNED_AT + dt.timedelta(minutes=3))


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OutsidePki]:
    with outside_pki(tmp_path_factory.mktemp("keys")) as pki:
        yield pki


def test_the_two_signatures_verify_with_their_roles_in_docflow_and_in_pyhanko(
        signed: bytes, signers_: Signers, pki: Pki) -> None:
    report = verify_pdf(signed, signers_.trust, at=LATER,
                        signer=Signer("Nguyễn Văn An", "Chủ tịch", "TM. ỦY BAN NHÂN DÂN"))
    assert report.verdict is PdfVerdict.VALID, report.reasons()
    official, organ = report.signatures
    assert (official.role, official.role_by, official.organ) == (
        Role.OFFICIAL, "certificate", "000.00.00.H41")
    assert (organ.role, organ.signer, organ.organ) == (Role.ORGAN, "UBND tỉnh Quảng Nam",
                                                       "000.00.00.H41")
    assert official.revision < organ.revision
    assert official.modification == "form_filling" and organ.modification == "none"
    assert official.signed_at == SIGNED_AT
    # pyHanko's own validation, with no docflow code in between
    root = asn1_x509.Certificate.load(pki.ca.certificate.public_bytes(Encoding.DER))
    crl = create_crl(pki.ca, [], now=CRL_AT).public_bytes(Encoding.DER)
    for embedded in PdfFileReader(io.BytesIO(signed)).embedded_signatures:
        context = ValidationContext(trust_roots=[root], crls=[crl], moment=LATER,
                                    revocation_mode="hard-fail")
        assert validate_pdf_signature(embedded, context).bottom_line


def test_the_seal_sits_over_the_left_third_of_the_signature(signed: bytes) -> None:
    fields_ = {e.field_name: e.sig_field["/Rect"]
               for e in PdfFileReader(io.BytesIO(signed)).embedded_signatures}
    official, seal = (tuple(round(float(v)) for v in rect) for rect in fields_.values())
    assert seal == seal_box(official)  # type: ignore[arg-type]
    overlap = min(seal[2], official[2]) - max(seal[0], official[0])
    assert overlap == round((official[2] - official[0]) / 3)


def test_only_the_official_signed_is_incomplete_and_the_organ_refuses_bad_input(
        signers_: Signers) -> None:
    official = sign_official(sample_pdf(), signers_.official, signed_at=SIGNED_AT)
    report = verify_pdf(official, signers_.trust, at=LATER)
    assert report.verdict is PdfVerdict.INCOMPLETE and not report.reasons()
    with pytest.raises(PdfError, match="the official signs first"):
        sign_official(official, signers_.official)
    with pytest.raises(PdfError, match=r"found 0 signature\(s\)"):
        sign_organ(sample_pdf(), signers_.organ)
    with pytest.raises(CredentialsError, match="not an official's"):
        sign_official(sample_pdf(), signers_.organ)
    with pytest.raises(CredentialsError, match="not an organ's"):
        sign_organ(official, signers_.official)
    tampered = flip_in_first_revision(official)
    with pytest.raises(PdfError, match="changed after signing"):
        sign_organ(tampered, signers_.organ)
    with pytest.raises(PdfError, match=r"not valid.*integrity"):
        sign_organ(tampered, signers_.organ, trust=signers_.trust)
    with pytest.raises(PdfError, match="not a PDF"):
        sign_official(b"GIF89a not a pdf", signers_.official)


def test_an_attachment_carries_the_organ_alone_with_number_and_vietnam_time(
        signers_: Signers, tmp_path: Path) -> None:
    moment = dt.datetime(2026, 11, 25, 2, 16, 33, tzinfo=dt.UTC)
    signed = sign_attachment(sample_pdf(["PHỤ LỤC", "Danh sách các đơn vị"]), signers_.organ,
                             number="4512", notation="QĐ-UBND", signed_at=moment)
    report = verify_pdf(signed, signers_.trust, at=LATER)
    assert report.verdict is PdfVerdict.VALID, report.reasons()
    (organ,) = report.signatures
    assert organ.role is Role.ORGAN
    assert organ.signed_at == moment  # the CMS signing time ...
    text = pdf_text(signed)  # ... is the time printed, in Vietnam time
    assert "Thời gian ký: 2026-11-25T09:16:33+07:00" in text
    assert "Số: 4512/QĐ-UBND" in text and "UBND tỉnh Quảng Nam" in text
    (embedded,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    _, _, x2, y2 = (float(v) for v in embedded.sig_field["/Rect"])
    assert x2 == 595 - 15 and y2 == 842 - 20  # the top right corner of page 1


def test_tampering_gives_a_verdict_with_its_reason(signed: bytes, signers_: Signers,
                                                   pki: Pki) -> None:
    cases = {
        "a byte in the signed range": flip_in_first_revision(signed),
        "a later revision over the page": overlay(signed),
        "a note added after signing": annotate(signed),
    }
    expected = {
        "a byte in the signed range": "integrity",
        "a later revision over the page": "a later revision changed the document",
        "a note added after signing": "a later revision changed the document",
    }
    for name, data in cases.items():
        report = verify_pdf(data, signers_.trust, at=LATER)
        assert report.verdict is PdfVerdict.INVALID, name
        assert any(expected[name] in reason for reason in report.reasons()), (name,
                                                                             report.reasons())
    # no CRL at hand: required revocation information says so (soft-fail would pass it)
    bare = PdfTrust.of([pki.ca.certificate])
    report = verify_pdf(signed, bare, at=LATER)
    assert report.verdict is PdfVerdict.INVALID
    assert any("no revocation information" in r for r in report.reasons())
    # the organ's certificate revoked before it signed
    revoked = PdfTrust.of([pki.ca.certificate], crls=[create_crl(
        pki.ca, [signers_.organ.certificate], now=SIGNED_AT - dt.timedelta(days=1))])
    report = verify_pdf(signed, revoked, at=LATER)
    assert report.verdict is PdfVerdict.INVALID
    assert any("organ signature" in r and "revoked" in r for r in report.reasons())
    # another root altogether
    stranger = create_ca("Somebody else", now=NOW)
    report = verify_pdf(signed, PdfTrust.of([stranger.certificate],
                                            crls=[create_crl(stranger, [], now=CRL_AT)]),
                        at=LATER)
    assert all("does not chain to the PDF trust list" in " ".join(s.problems)
               for s in report.signatures)
    # a competence the decree does not know (TM., KT., TL., TUQ., Q. are its forms)
    report = verify_pdf(signed, signers_.trust, at=LATER,
                        signer=Signer("Nguyễn Văn An", "Chủ tịch", "PT. Chủ tịch"))
    assert any("'PT.', not one of TM., KT., TL., TUQ., Q." in r for r in report.reasons())
    for fine in ("KT. Chủ tịch", "TUQ. Giám đốc", "Chủ tịch"):
        assert verify_pdf(signed, signers_.trust, at=LATER,
                          signer=Signer("Nguyễn Văn An", "Chủ tịch", fine)).valid
    # the packet names someone else as its signer
    report = verify_pdf(signed, signers_.trust, at=LATER, signer=Signer("Lê Văn Cường"))
    assert any("SignerInfo names 'Lê Văn Cường'" in r for r in report.reasons())


def test_not_a_pdf_and_a_truncated_one_are_verdicts_not_crashes(signed: bytes,
                                                                signers_: Signers) -> None:
    for data, reason in ((b"", "not a PDF"), (b"<html>hello</html>", "not a PDF"),
                         (signed[: len(signed) // 2], ""), (sample_pdf(), "no signature")):
        report = verify_pdf(data, signers_.trust, at=LATER)
        assert report.verdict is PdfVerdict.INVALID
        assert reason in " ".join(report.reasons())


def test_a_pdf_signed_by_pyhanko_directly_reads_with_the_roles_by_order(
        outside: OutsidePki) -> None:
    """Another CA's certificates (no docflow names): the first signature is the
    official's, the second the organ's; the intermediate's and the root's CRLs given."""
    pdf = sample_pdf()
    for label, field in (("official", "Signature1"), ("organ", "Signature2")):
        pdf = pyhanko_sign(pdf, outside, label, field)
    trust = PdfTrust.of([outside.certificate("root"), outside.certificate("interm")],
                        crls=[outside.crl("root"), outside.crl("interm")])
    report = verify_pdf(pdf, trust, at=LATER, signer=Signer("Nguyễn Văn An"))
    assert report.verdict is PdfVerdict.VALID, report.reasons()
    assert [(s.role, s.role_by) for s in report.signatures] == [
        (Role.OFFICIAL, "order"), (Role.ORGAN, "order")]
    assert report.signatures[1].organ == "Ủy ban nhân dân tỉnh Thử Nghiệm"
    # fetched from the CRL server on 127.0.0.1 instead of handed in
    fetching = PdfTrust.of([outside.certificate("root"), outside.certificate("interm")],
                           fetch=True)
    before = len([p for p in outside.asked if p.endswith(".crl")])
    assert verify_pdf(pdf, fetching, at=LATER).verdict is PdfVerdict.VALID
    fetched = len([p for p in outside.asked if p.endswith(".crl")]) - before
    assert fetched >= 1
    assert verify_pdf(pdf, fetching, at=LATER).verdict is PdfVerdict.VALID  # from the cache
    assert len([p for p in outside.asked if p.endswith(".crl")]) - before == fetched
    # a revoked signer, and an untrusted root whose signer bears the official's name
    revoked = pyhanko_sign(sample_pdf(), outside, "revoked", "Signature1")
    assert any("revoked" in r for r in verify_pdf(revoked, trust, at=LATER).reasons())
    forged = pyhanko_sign(sample_pdf(), outside, "evil-official", "Signature1", arch="evil")
    assert any("does not chain" in r for r in verify_pdf(forged, trust, at=LATER).reasons())


def test_the_stamp_renders_vietnamese_at_normal_spacing(signers_: Signers,
                                                        tmp_path: Path) -> None:
    """pyHanko spaces a font whose units per em are not 1000 as if they were: the
    shipped font is rescaled, so the stamp's text is as wide as its glyphs."""
    poppler_or_skip()
    signed = sign_attachment(sample_pdf(), signers_.organ, number="4512",
                             notation="QĐ-UBND", signed_at=NOW)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    subprocess.run(["pdftoppm", "-r", "144", "-png", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / "page")], check=True)
    from PIL import Image

    (png,) = tmp_path.glob("page*.png")
    image = Image.open(png).convert("L")
    # The stamp's box is the top right 200 x 55 points; its text starts at the left of
    # the box and, at the font's real width, ends well inside it.
    scale = 144 / 72
    box = image.crop((round((595 - 215) * scale), round(20 * scale),
                      round((595 - 15) * scale), round(75 * scale)))
    dark = [x for x in range(box.size[0]) for y in range(4, box.size[1] - 4)
            if box.getpixel((x, y)) < 128 and 4 < x < box.size[0] - 4]
    assert dark, "the stamp has no text"
    assert max(dark) < box.size[0] * 0.95  # letter-spaced text would run off the box
    assert "Thời gian ký" in pdf_text(signed)


# ------------------------------------------------------------------------- helpers

def poppler_or_skip() -> None:
    """poppler-utils (pdftoppm, pdftotext), which `make test` installs: skipped when
    missing, except in CI, where that is a failure."""
    if shutil.which("pdftoppm") and shutil.which("pdftotext"):
        return
    if os.environ.get("CI"):
        pytest.fail("poppler-utils (pdftoppm, pdftotext) is required in CI: make test "
                    "installs it")
    pytest.skip("needs poppler-utils (pdftoppm, pdftotext)")


def pdf_text(data: bytes) -> str:
    """The PDF's text, as pdftotext reads it."""
    poppler_or_skip()
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True,
                          check=True).stdout.decode()


def pyhanko_sign(pdf: bytes, outside: OutsidePki, label: str, field: str, *,
                 arch: str = "vn") -> bytes:
    """Sign with pyHanko alone (another system's PAdES signature)."""
    pki = outside.vn if arch == "vn" else outside.evil
    from certomancer.registry import CertLabel, KeyLabel

    signer = signers.SimpleSigner(
        signing_cert=pki.get_cert(CertLabel(label)),
        signing_key=pki.key_set.get_private_key(KeyLabel(label)),
        cert_registry=SimpleCertificateStore.from_certs(
            [pki.get_cert(CertLabel("interm" if arch == "vn" else "evil-root"))]))
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    spec = fields.SigFieldSpec(field, on_page=0, box=(100, 100, 200, 150))
    out = signers.PdfSigner(meta, signer, new_field_spec=spec).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)))
    return bytes(out.getbuffer())





def test_a_time_stamped_signature_from_a_local_tsa(outside: OutsidePki, signers_: Signers,
                                                   pki: Pki) -> None:
    """PAdES-T: the official's signature time-stamped by the TSA served on 127.0.0.1;
    the verdict names the time-stamp's time; a TSA the trust list does not know makes
    the signature invalid."""
    from docflow.timestamps import pdf_timestamper

    stamped = sign_official(sample_pdf(), signers_.official,
                            timestamper=pdf_timestamper(outside.tsa_url), signed_at=SIGNED_AT)
    with_tsa = PdfTrust.of([pki.ca.certificate, outside.certificate("root")],
                           crls=[create_crl(pki.ca, [], now=CRL_AT), outside.crl("root")])
    report = verify_pdf(stamped, with_tsa, at=LATER)
    (official,) = report.signatures
    assert report.verdict is PdfVerdict.INCOMPLETE, report.reasons()
    assert official.timestamp is not None and official.as_dict()["timestamp"]
    report = verify_pdf(stamped, signers_.trust, at=LATER)  # the TSA's root not trusted
    assert any("time-stamp does not verify" in r for r in report.reasons())
    with pytest.raises(TransportError, match=r"no time-stamp.*127\.0\.0\.1:1"):
        sign_official(sample_pdf(), signers_.official,
                      timestamper=pdf_timestamper("http://127.0.0.1:1/tsa", timeout=2))
