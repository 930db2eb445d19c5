"""What docflow reads is exactly what the signatures cover.

Exclusive C14N drops comments, so a comment inserted into signed text leaves every digest
intact while ``element.text`` stops at it ("Đồng ý chủ trương<!---->, trừ ..." would be
read as "Đồng ý chủ trương"). docflow refuses comments and processing instructions
anywhere inside a packet's document element. Checked here on every text of every packet
kind (a document with every field, a status, a receipt, a document with a hub's signed
hop), through the strict and the lenient reader and verify(), after showing that the
digests really are unchanged by the comment (so the refusal, not the signature, is what
stops it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import pytest
from lxml import etree

from docflow.envelope import (
    DSIG_NS,
    EDXML_NS,
    Envelope,
    build_envelope,
    parse_packet,
    read_packet,
)
from docflow.errors import UnsafeXmlError
from docflow.model import (
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    ReplacementInfo,
    ResponseFor,
    StaffInfo,
    StatusCode,
    document_id_for,
)
from docflow.samples import PROVINCE, TAM_KY, sample_envelope, sample_status
from docflow.security import sign, sign_hop, sign_status, verify
from tests.conftest import Pki

WHEN = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


def full_document() -> Envelope:
    """The sample decision with every optional field of the header and business info."""
    envelope = sample_envelope()
    earlier = document_id_for(PROVINCE.code, dt.date(2018, 9, 1), "4400", "QĐ-UBND")
    info = replace(
        envelope.info, direction=True, appendixes=("Phụ lục I", "Phụ lục II"),
        steering_type=1,
        response_for=(ResponseFor(PROVINCE.code, "4400/QĐ-UBND", dt.date(2018, 9, 1),
                                  earlier),),
        business=Business(
            doc_type=BusinessDocType.UPDATE, reason="Sửa Điều 2", document_id=earlier,
            document_info=BusinessDocumentInfo(True, True, (TAM_KY.code,)),
            replacements=(ReplacementInfo(earlier, (TAM_KY.code,)),),
            staff=StaffInfo("Văn phòng", "Nguyễn Văn A", "0905000000", "a@qn.gov.vn"),
            paper=True))
    return replace(envelope, info=info)


def packets(pki: Pki) -> dict[str, bytes]:
    document = sign(build_envelope(full_document()), pki.province)
    status = replace(sample_status(sample_envelope(), StatusCode.ACCEPTED), timestamp=WHEN)
    receipt = replace(sample_status(sample_envelope()), timestamp=WHEN,
                      received_sha256="ab" * 32)
    return {
        "document": document,
        "status": sign_status(status, pki.district),
        "receipt": sign_status(receipt, pki.district),
        "hop": sign_hop(document, pki.hub, when=WHEN),
    }


def texts(data: bytes) -> Iterator[tuple[int, str]]:
    """Every element with text of its own (signatures included): its position in
    document order and its local name."""
    for position, element in enumerate(etree.fromstring(data).iter()):
        if element.text and element.text.strip():
            yield position, etree.QName(element).localname


def split(data: bytes, position: int, node: etree._Element) -> bytes:
    """``data`` with ``node`` (a comment or a PI) in the middle of the text of the
    element at ``position``."""
    root = etree.fromstring(data)
    element = list(root.iter())[position]
    text = element.text
    cut = max(1, len(text) // 2)
    element.text = text[:cut]
    node.tail = text[cut:]
    element.insert(0, node)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def canonical(data: bytes, part: str) -> bytes:
    root = etree.fromstring(data)
    element = root.find(f".//{{{EDXML_NS}}}{part}")
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


@pytest.mark.parametrize("kind", ["document", "status", "receipt", "hop"])
def test_a_comment_in_any_signed_text_is_refused(pki: Pki, kind: str) -> None:
    data = packets(pki)[kind]
    paths = list(texts(data))
    assert len(paths) >= (40 if kind in ("document", "hop") else 12)
    # The attack is real: the comment leaves the signed header's canonical form as it was.
    subject = next(position for position, name in paths if name in ("Subject", "StatusCode"))
    assert canonical(split(data, subject, etree.Comment("")), "MessageHeader") == canonical(
        data, "MessageHeader")
    for position, _ in paths:
        for node in (etree.Comment(""), etree.ProcessingInstruction("x")):
            altered = split(data, position, node)
            with pytest.raises(UnsafeXmlError, match="inside the text of an element") as error:
                parse_packet(altered)
            assert error.value.where is not None and error.value.where.startswith("/")
            with pytest.raises(UnsafeXmlError):
                verify(altered, pki.trust, now=pki.now)
            with pytest.raises(UnsafeXmlError):  # the lenient reader refuses it as strictly
                read_packet(altered)


def test_a_comment_between_elements_is_dropped(pki: Pki) -> None:
    """A comment between elements (white space only around it) splits no text: it is
    dropped before anything is read, and the packet is the same message (the same signed
    content, read to the same model), as with other unsigned white space."""
    data = packets(pki)["document"]
    altered = data.replace(b"<edXML:Subject>", b"<!-- x --><edXML:Subject>", 1)
    assert altered != data
    first, second = verify(data, pki.trust, now=pki.now), verify(altered, pki.trust,
                                                                 now=pki.now)
    assert (second.envelope, second.content_digest) == (first.envelope, first.content_digest)


def test_comments_outside_the_document_element_are_harmless(pki: Pki) -> None:
    data = packets(pki)["document"]
    head, rest = data.split(b"?>", 1)
    framed = head + b"?><!-- exported by a vendor -->" + rest + b"<!-- end -->"
    assert verify(framed, pki.trust, now=pki.now).envelope == verify(
        data, pki.trust, now=pki.now).envelope


def test_every_field_reads_back_as_signed(pki: Pki) -> None:
    """The control: without the comment every field of the full document is read."""
    verified = verify(packets(pki)["hop"], pki.trust, now=pki.now)
    assert verified.envelope.info == full_document().info
    assert [str(hop.organ) for hop in verified.hops] == [str(pki.hub.organ)]
    assert DSIG_NS in packets(pki)["hop"].decode()
