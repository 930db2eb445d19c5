"""Attacks on signed packets: every one built from a really signed packet, every one
refused with its own SecurityError subclass (or earlier, by the schema)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest
import xmlsec
from lxml import etree

from docflow.envelope import (
    DSIG_NS,
    EDXML_NS,
    add_trace_hop,
    build_envelope,
    build_status,
    load_tree,
    serialize,
)
from docflow.errors import (
    DigestMismatchError,
    DuplicateIdError,
    MissingSignatureError,
    MultipleSignaturesError,
    SchemaError,
    SignatureLayoutError,
    SignatureValueError,
    SignatureWrappingError,
    SignerMismatchError,
    TraceHopError,
)
from docflow.model import OrganCode
from docflow.samples import sample_envelope, sample_status
from docflow.security import SIGNED_INFO_ID, Credentials, _dsig, sign, sign_hop, verify
from tests.conftest import Pki

E = f"{{{EDXML_NS}}}"
DS = f"{{{DSIG_NS}}}"
C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
SENDER_REFS = ["#edxml-header", "#edxml-business", "#edxml-body", "#edxml-attachments"]


@pytest.fixture
def signed(pki: Pki) -> bytes:
    return sign(build_envelope(sample_envelope()), pki.province)


def _tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def _header(root: etree._Element) -> etree._Element:
    return root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")


def _signature(root: etree._Element) -> etree._Element:
    return _header(root).find(f"{E}Signature/{DS}Signature")


def sign_custom(packet: bytes, credentials: Credentials,
                references: Sequence[tuple[str, Sequence[str]]],
                *, xpath: bool = False) -> bytes:
    """Really sign ``packet`` with a layout docflow does not use (a permissive signer)."""
    root, _ = load_tree(packet)
    signature = _dsig._template(credentials, references, SIGNED_INFO_ID)
    if xpath:
        transform = signature.find(f"{DS}SignedInfo/{DS}Reference/{DS}Transforms/{DS}Transform")
        transform.set("Algorithm", XPATH)
        etree.SubElement(transform, f"{DS}XPath").text = (
            "not(ancestor-or-self::*[local-name()='Subject'])"
        )
    etree.SubElement(_header(root), f"{E}Signature").append(signature)
    ctx = xmlsec.SignatureContext()
    ctx.key = _dsig._Keys.private(credentials)
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("Id"):
            ctx.register_id(element, "Id")
    ctx.sign(signature)
    return serialize(root)


# ----------------------------------------------------------------------- tampering

@pytest.mark.parametrize(("old", "new", "part"), [
    ("Quyết định phê duyệt".encode(), "Quyết định bãi bỏ".encode(), "MessageHeader"),
    (b"<edXML:MessageId>sample-0001", b"<edXML:MessageId>sample-0002", "MessageHeader"),
    (b"<edXML:Paper>0</edXML:Paper>", b"<edXML:Paper>1</edXML:Paper>", "Bussiness"),
    ("Văn bản ký số".encode(), "Văn bản giả".encode(), "edXMLBody"),
    (b"<ContentTransferEncoded>JVBER", b"<ContentTransferEncoded>KVBER", "AttachmentEncoded"),
    (b"<AttachmentName>QD-4512.pdf", b"<AttachmentName>QD-4513.pdf", "AttachmentEncoded"),
])
def test_changed_signed_part(pki: Pki, signed: bytes, old: bytes, new: bytes, part: str) -> None:
    assert old in signed
    with pytest.raises(DigestMismatchError) as info:
        verify(signed.replace(old, new, 1), pki.trust, now=pki.now)
    assert info.value.part == part
    assert part in str(info.value)


def test_bad_signature_value(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    value = _signature(root).find(f"{DS}SignatureValue")
    text = value.text.strip()
    value.text = ("A" if text[0] != "A" else "B") + text[1:]
    with pytest.raises(SignatureValueError):
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_signature_of_another_packet(pki: Pki, signed: bytes) -> None:
    other = sign(build_envelope(sample_envelope(number="4513")), pki.province)
    root, donor = _tree(signed), _tree(other)
    _signature(root).getparent().replace(_signature(root), _signature(donor))
    with pytest.raises(DigestMismatchError):
        verify(etree.tostring(root), pki.trust, now=pki.now)


# ----------------------------------------------------------------------- signer

def test_valid_signature_by_another_organ(pki: Pki) -> None:
    # The district really signs a packet claiming to come from the province.
    root, kind = load_tree(build_envelope(sample_envelope()))
    forged = _dsig._sign_tree(root, kind, pki.district)
    with pytest.raises(SignerMismatchError, match=r"signed by 000\.00\.01\.H41"):
        verify(forged, pki.trust, now=pki.now)


def test_status_from_an_organ_other_than_its_signer(pki: Pki) -> None:
    root, kind = load_tree(build_status(sample_status(sample_envelope())))  # from district
    forged = _dsig._sign_tree(root, kind, pki.province)
    with pytest.raises(SignerMismatchError):
        verify(forged, pki.trust, now=pki.now)


# ----------------------------------------------------------------------- layout

def test_two_sender_signatures(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    signature = _signature(root)
    signature.getparent().append(copy.deepcopy(signature))
    with pytest.raises(MultipleSignaturesError):
        verify(etree.tostring(root), pki.trust, now=pki.now)


@pytest.mark.parametrize(("references", "fragment"), [
    ([(uri, (C14N,)) for uri in SENDER_REFS[:3]], "4 reference"),  # attachments uncovered
    ([(uri, (C14N,)) for uri in SENDER_REFS[1:]], "4 reference"),  # header uncovered
    ([(uri, (C14N,)) for uri in [*SENDER_REFS[:3], "#edxml-header"]], "URI='#edxml-attachments'"),
    ([(uri, (C14N,)) for uri in reversed(SENDER_REFS)], "URI='#edxml-header'"),
    ([(uri, ()) for uri in SENDER_REFS], "exactly 1 transform"),
])
def test_really_signed_but_not_docflow_layout(pki: Pki, references, fragment: str) -> None:
    data = sign_custom(build_envelope(sample_envelope()), pki.province, references)
    with pytest.raises(SignatureLayoutError, match=fragment):
        verify(data, pki.trust, now=pki.now)


def test_xpath_transform_is_refused(pki: Pki) -> None:
    # An XPath transform that leaves the Subject out of the signature: really signed.
    references = [(uri, (C14N,)) for uri in SENDER_REFS]
    data = sign_custom(build_envelope(sample_envelope()), pki.province, references, xpath=True)
    tampered = data.replace("Quyết định phê duyệt".encode(), "Quyết định bãi bỏ".encode(), 1)
    with pytest.raises(SignatureLayoutError, match="not allowed"):
        verify(tampered, pki.trust, now=pki.now)


def test_unknown_signature_method(pki: Pki, signed: bytes) -> None:
    data = signed.replace(b"xmldsig-more#rsa-sha256", b"xmldsig-more#rsa-sha512")
    with pytest.raises(SignatureLayoutError, match="signature method"):
        verify(data, pki.trust, now=pki.now)


def test_second_certificate_in_key_info(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    x509_data = _signature(root).find(f"{DS}KeyInfo/{DS}X509Data")
    x509_data.append(copy.deepcopy(x509_data[0]))
    with pytest.raises(SignatureLayoutError, match="exactly one ds:X509Certificate"):
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_object_in_signature(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    etree.SubElement(_signature(root), f"{DS}Object").text = "hello"
    with pytest.raises(SignatureLayoutError, match="exactly SignedInfo"):
        verify(etree.tostring(root), pki.trust, now=pki.now)


# ----------------------------------------------------------------------- wrapping

def _forge_header(root: etree._Element) -> tuple[etree._Element, etree._Element]:
    header = _header(root).find(f"{E}MessageHeader")
    forged = copy.deepcopy(header)
    forged.find(f"{E}Subject").text = "Quyết định bãi bỏ (giả mạo)"
    return header, forged


def test_signed_header_moved_and_forged_copy_with_same_id(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    header, forged = _forge_header(root)
    header.getparent().replace(header, forged)
    etree.SubElement(_signature(root), f"{DS}Object").append(header)
    with pytest.raises(DuplicateIdError):
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_signed_header_moved_and_forged_copy_without_id(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    header, forged = _forge_header(root)
    del forged.attrib["Id"]
    header.getparent().replace(header, forged)
    etree.SubElement(_signature(root), f"{DS}Object").append(header)
    with pytest.raises(SignatureWrappingError, match="must carry Id"):
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_signed_header_moved_into_key_info(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    header, forged = _forge_header(root)
    forged.set("Id", "forged")
    header.getparent().replace(header, forged)
    _signature(root).find(f"{DS}KeyInfo").append(header)
    with pytest.raises(SignatureWrappingError):
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_signature_nested_in_an_object(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    signature = _signature(root)
    etree.SubElement(signature, f"{DS}Object").append(copy.deepcopy(signature))
    with pytest.raises(SignatureWrappingError, match="never puts one"):
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_signature_moved_out_of_its_place(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    signature = _signature(root)
    holder = signature.getparent()
    root.find(f"{E}AttachmentEncoded").append(signature)
    holder.getparent().remove(holder)
    with pytest.raises(SchemaError):  # the schema leaves no room for it there
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_duplicate_id_inside_the_signature(pki: Pki, signed: bytes) -> None:
    root = _tree(signed)
    _signature(root).find(f"{DS}KeyInfo").set("Id", "edxml-body")
    with pytest.raises(DuplicateIdError, match="edxml-body"):
        verify(etree.tostring(root), pki.trust, now=pki.now)


# ----------------------------------------------------------------------- trace hops

def _hopped(pki: Pki, signed: bytes, *hubs: Credentials) -> bytes:
    for minutes, hub in enumerate(hubs, start=1):
        signed = sign_hop(signed, hub, when=pki.now.replace(minute=minutes))
    return signed


def test_hub_signed_hops_verify(pki: Pki, signed: bytes) -> None:
    data = _hopped(pki, signed, pki.hub, pki.district)
    verified = verify(data, pki.trust, now=pki.now)
    assert [hop.organ for hop in verified.hops] == [OrganCode("000.00.90.H41"),
                                                    OrganCode("000.00.01.H41")]
    assert [hop.organ_id for hop in verified.envelope.trace] == [hop.organ for hop in verified.hops]
    assert verified.envelope.info == sample_envelope().info


def test_unsigned_hop(pki: Pki, signed: bytes) -> None:
    from docflow.model import TraceHop

    data = add_trace_hop(signed, TraceHop(OrganCode("000.00.90.H41"), pki.now))
    with pytest.raises(TraceHopError, match="not signed"):
        verify(data, pki.trust, now=pki.now)


@pytest.mark.parametrize(("old", "new"), [
    (b"<edXML:OrganId>000.00.90.H41</edXML:OrganId><edXML:Timestamp>",
     b"<edXML:OrganId>000.00.91.H41</edXML:OrganId><edXML:Timestamp>"),
    (b"<edXML:Timestamp>2026/11/25 10:01:00", b"<edXML:Timestamp>2026/11/25 10:02:00"),
])
def test_forged_hop(pki: Pki, signed: bytes, old: bytes, new: bytes) -> None:
    data = _hopped(pki, signed, pki.hub)
    assert old in data
    with pytest.raises(TraceHopError):
        verify(data.replace(old, new, 1), pki.trust, now=pki.now)


def test_hop_transplanted_from_another_packet(pki: Pki, signed: bytes) -> None:
    other = sign(build_envelope(sample_envelope(number="4513")), pki.province)
    donor = _tree(_hopped(pki, other, pki.hub))
    root = _tree(signed)
    hop = donor.find(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}TraceHeaderList/{E}TraceHeader")
    _header(root).find(f"{E}TraceHeaderList/{E}Bussiness").addprevious(hop)
    with pytest.raises(TraceHopError, match="trace hop 1"):
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_hops_reordered_or_removed(pki: Pki, signed: bytes) -> None:
    root = _tree(_hopped(pki, signed, pki.hub, pki.district))
    first, second = _header(root).findall(f"{E}TraceHeaderList/{E}TraceHeader")
    first.addprevious(second)
    with pytest.raises(TraceHopError, match="Id="):
        verify(etree.tostring(root), pki.trust, now=pki.now)
    root = _tree(_hopped(pki, signed, pki.hub, pki.district))
    first = _header(root).find(f"{E}TraceHeaderList/{E}TraceHeader")
    first.getparent().remove(first)
    with pytest.raises(TraceHopError):
        verify(etree.tostring(root), pki.trust, now=pki.now)


def test_hop_signed_by_an_untrusted_hub(pki: Pki, signed: bytes) -> None:
    with pytest.raises(TraceHopError, match="trusted CA"):
        verify(_hopped(pki, signed, pki.rogue_province), pki.trust, now=pki.now)


def test_hop_needs_a_signed_document(pki: Pki) -> None:
    with pytest.raises(MissingSignatureError):
        sign_hop(build_envelope(sample_envelope()), pki.hub, when=pki.now)
    status = sign(build_status(sample_status(sample_envelope())), pki.district)
    with pytest.raises(TraceHopError, match="status"):
        sign_hop(status, pki.hub, when=pki.now)

