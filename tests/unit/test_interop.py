"""The lenient reader on packets in the shape real senders write (tests/data/interop/:
written by hand after the public samples of the axis's official library, vendor software
and the axis itself; one file per quirk of EDXML.md), and its properties: any order of
children reads to the same model, what docflow writes is strict and reads back equal,
and every quirk file rewritten by docflow comes out strict."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from docflow.envelope import (
    DEFAULT_POLICY,
    Envelope,
    PacketKind,
    Severity,
    build_envelope,
    build_status,
    parse_packet,
    read_packet,
    validate_tree,
)
from docflow.errors import PacketRefusedError
from docflow.model import BusinessDocType, OrganCode, StatusCode, StatusInfo
from docflow.samples import sample_envelope
from tests.strategies import envelopes, statuses

INTEROP = Path(__file__).resolve().parents[1] / "data" / "interop"
HOI_AN = OrganCode("000.00.07.H41")
PROVINCE = OrganCode("000.00.00.H41")
ALIASES = DEFAULT_POLICY.clone(aliases={"vxp.saas.03": str(HOI_AN)})

#: file -> (findings of warning or error severity that must be there, refused by default)
QUIRKS: dict[str, tuple[set[str], bool]] = {
    "new.edxml": (set(), False),
    "recall.edxml": (set(), False),
    "update.edxml": (set(), False),
    "replacement.edxml": (set(), False),
    "quirk-stray-bytes.edxml": ({"M.edXML.prolog"}, False),
    "quirk-bom.edxml": (set(), False),
    "quirk-direction-numeric.edxml": (set(), False),
    "quirk-cid-one-side.edxml": (set(), False),
    "quirk-cid-reversed.edxml": (set(), False),
    "quirk-transfer-unprefixed.edxml": (set(), False),
    "quirk-zipped-uuid.edxml": (set(), False),
    "quirk-doc-holding-edxml.edxml": ({"M.Attachment.AttachmentName"}, False),
    "quirk-malformed-organ.edxml": ({"M.To.OrganId"}, False),
    "quirk-code-number.edxml": ({"M.Code.CodeNumber"}, False),
    "quirk-repeated-to.edxml": ({"M.MessageHeader.To"}, False),
    "quirk-system-id.edxml": ({"M.From.OrganId"}, True),
    "quirk-trace-odd.edxml": ({"M.TraceHeader.OrganId", "N.TraceHeader.OrganId",
                               "M.TraceHeaderList.TraceHeader"}, False),
    "quirk-business-first.edxml": (set(), False),
    "quirk-any-order.edxml": (set(), False),
    "quirk-empty-signature.edxml": (set(), False),
    # the SDK's resources/edoc.edxml: comments between elements, an undeclared edXML:
    # prefix outside the envelope, empty ResponseFor elements
    "quirk-sdk-sample.edxml": ({"M.edXML.xlink", "M.edXML.prefix"}, False),
    "quirk-digital-signature.edxml": (set(), False),
    "quirk-no-signature.edxml": (set(), False),
    "quirk-overlong.edxml": ({"R.MessageHeader.Subject"}, False),
    "quirk-docid-other-organ.edxml": ({"M.MessageHeader.DocumentId"}, True),
    "quirk-undeclared-xlink.edxml": ({"M.edXML.xlink"}, False),
    "quirk-status-ddmmyyyy.edxml": (set(), False),
    "quirk-soap-status.xml": ({"M.Envelope.Status"}, False),
    "quirk-axis-delivered.edxml": ({"M.From.OrganId", "N.From.OrganName",
                                    "M.TraceHeader.OrganId"}, True),
    **{f"status-{code}.edxml": (set(), False)
       for code in ("01", "02", "03", "04", "05", "06", "13", "15", "16")},
}
#: the informational findings each quirk file is about
INFOS = {
    "quirk-bom.edxml": "M.edXML.prolog",
    "quirk-direction-numeric.edxml": "T.OtherInfo.Direction",
    "quirk-cid-reversed.edxml": "M.Attachment.ContentId",
    "quirk-cid-one-side.edxml": "M.Reference.ContentId",
    "quirk-zipped-uuid.edxml": "M.Attachment.ContentTransferEncoded",
    "quirk-business-first.edxml": "M.TraceHeaderList.order",
    "quirk-any-order.edxml": "M.MessageHeader.order",
    "quirk-trace-odd.edxml": "T.edXML.Timestamp",
    "quirk-status-ddmmyyyy.edxml": "T.MessageHeader.Timestamp",
    "new.edxml": "M.Attachment.ContentTransferEncoded",
}


def test_every_fixture_is_in_the_table() -> None:
    assert {path.name for path in INTEROP.iterdir()} == set(QUIRKS)


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_each_quirk_reads_with_its_findings(name: str) -> None:
    reading = read_packet((INTEROP / name).read_bytes())
    expected, refused = QUIRKS[name]
    serious = {f.code for f in reading.findings if f.severity >= Severity.WARNING}
    assert expected <= serious, reading.findings
    assert bool(reading.refusing()) is refused, reading.refusing()
    if name in INFOS:
        assert INFOS[name] in {f.code for f in reading.findings}
    for finding in reading.findings:
        assert finding.code[0] in "NRMT" and finding.code.count(".") >= 2, finding
        assert finding.message
    # Only another system's layout has its zone-less timestamps read in a guessed zone.
    if "T.edXML.Timestamp" in {f.code for f in reading.findings}:
        assert reading.layout == "lenient"
    if refused:
        with pytest.raises(PacketRefusedError, match="refused"):
            reading.accepted()
        return
    packet = reading.accepted()
    if name.startswith(("status", "quirk-status", "quirk-soap")):
        assert isinstance(packet, StatusInfo)
        assert packet.response_for.organ_id == HOI_AN
        return
    assert isinstance(packet, Envelope)
    info = packet.info
    assert info.sender.code == HOI_AN
    assert PROVINCE in {organ.code for organ in info.recipients}
    assert info.subject.startswith(("V/v", "Văn bản"))
    assert packet.derived_id  # no docflow MessageId: derived from the DocumentId


def test_the_new_document_reads_every_field() -> None:
    packet = read_packet((INTEROP / "new.edxml").read_bytes()).accepted()
    assert isinstance(packet, Envelope)
    info = packet.info
    assert (info.code, info.document_id) == (
        "112/UBND-VP", "000.00.07.H41,2026/11/20,112/UBND-VP")
    assert info.promulgation_date == dt.date(2026, 11, 20)
    assert (info.document_type.type, info.document_type.name) == (1, "Công văn")
    assert info.direction is False and info.priority == 1 and info.page_amount == 2
    assert info.signer.full_name == "Lê Văn Bình" and info.due_date == dt.date(2026, 12, 15)
    assert info.to_places == ("Như trên", "Lưu: VT")
    assert info.business.staff is not None and info.business.staff.mobile == "0905111222"
    (hop,) = packet.trace
    assert hop.timestamp == dt.datetime(2026, 11, 20, 8, 30, tzinfo=DEFAULT_POLICY.tz)
    (attachment,) = packet.attachments
    assert attachment.data.startswith(b"%PDF-") and attachment.content_id == "att-112"
    assert read_packet((INTEROP / "new.edxml").read_bytes()).signature == "official"


def test_business_kinds_and_status_codes() -> None:
    kinds = {name: read_packet((INTEROP / name).read_bytes()).accepted()
             for name in ("recall.edxml", "update.edxml", "replacement.edxml")}
    assert [packet.info.business.doc_type for packet in kinds.values()] == [  # type: ignore[union-attr]
        BusinessDocType.RECALL, BusinessDocType.UPDATE, BusinessDocType.REPLACE]
    update = kinds["update.edxml"]
    assert isinstance(update, Envelope)
    assert update.info.business.document_id == "000.00.07.H41,2026/11/10,98/UBND-VP"
    assert update.info.response_for[0].code == "98/UBND-VP"
    for code in ("01", "02", "03", "04", "05", "06", "13", "15", "16"):
        status = read_packet((INTEROP / f"status-{code}.edxml").read_bytes()).accepted()
        assert isinstance(status, StatusInfo) and status.code is StatusCode(code)
        assert status.staff is not None and status.staff.staff == "Phạm Văn Nam"


def test_attachments_as_the_official_library_writes_them() -> None:
    zipped = read_packet((INTEROP / "quirk-zipped-uuid.edxml").read_bytes()).accepted()
    assert isinstance(zipped, Envelope)
    (attachment,) = zipped.attachments
    assert attachment.name == "Danh-sach.xlsx.pdf"  # named as the manifest says
    assert attachment.data.startswith(b"%PDF-")  # the member, not the zip
    assert attachment.content_type == "application/pdf"
    inner = read_packet((INTEROP / "quirk-doc-holding-edxml.edxml").read_bytes()).accepted()
    assert isinstance(inner, Envelope)
    (packet,) = inner.attachments
    assert read_packet(packet.data).accepted().info.subject == "Văn bản đính kèm"  # type: ignore[union-attr]


def test_a_system_id_reads_through_the_policys_aliases() -> None:
    reading = read_packet((INTEROP / "quirk-system-id.edxml").read_bytes(), policy=ALIASES)
    packet = reading.accepted(ALIASES)
    assert isinstance(packet, Envelope) and packet.info.sender.code == HOI_AN


def test_what_the_axis_really_delivers_reads_under_a_channel_policy() -> None:
    """A system id for a sender, a UUID for a DocumentId, no Bussiness, odd hops, a zipped
    PDF: refused by default; a channel's policy (the system id's organ, DocumentIds of
    other forms accepted) takes it, every deviation still recorded."""
    data = (INTEROP / "quirk-axis-delivered.edxml").read_bytes()
    assert read_packet(data).refusing()
    channel = DEFAULT_POLICY.clone(aliases={"vxp.saas.07": str(HOI_AN)},
                                   accept=("M.MessageHeader.DocumentId",))
    reading = read_packet(data, policy=channel)
    packet = reading.accepted(channel)
    assert isinstance(packet, Envelope)
    assert packet.info.document_id == "7c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5"
    assert packet.trace == () and packet.attachments[0].data.startswith(b"%PDF-")
    codes = {finding.code for finding in reading.findings}
    assert {"M.MessageHeader.DocumentId", "N.TraceHeaderList.Bussiness"} <= codes


def test_a_policy_decides() -> None:
    reading = read_packet((INTEROP / "quirk-docid-other-organ.edxml").read_bytes())
    assert reading.refusing()
    lenient = DEFAULT_POLICY.clone(accept=("M.MessageHeader.DocumentId",))
    assert reading.accepted(lenient).info.document_id.startswith("000.00.00.G22")  # type: ignore[union-attr]
    strict = DEFAULT_POLICY.clone(refuse=("R.*",))
    overlong = read_packet((INTEROP / "quirk-overlong.edxml").read_bytes())
    assert not overlong.refusing() and overlong.refusing(strict)


def _rewritten(name: str) -> bytes:
    packet = read_packet((INTEROP / name).read_bytes()).accepted()
    if isinstance(packet, StatusInfo):
        return build_status(packet)
    return build_envelope(packet)


@pytest.mark.parametrize("name", sorted(name for name, (_, refused) in QUIRKS.items()
                                        if not refused))
def test_every_quirk_rewritten_by_docflow_comes_out_strict(name: str) -> None:
    data = _rewritten(name)
    root = etree.fromstring(data)
    kind = PacketKind.STATUS if name.startswith(("status", "quirk-status", "quirk-soap")) \
        else PacketKind.DOCUMENT
    assert validate_tree(root, kind, legacy=False) is False  # the strict layout
    again = read_packet(data)
    assert again.layout == "strict"
    # What is left is in the values, which docflow keeps as they were written.
    assert {f.code for f in again.findings if f.severity >= Severity.WARNING} <= {
        "R.MessageHeader.Subject", "M.Attachment.AttachmentName", "M.Code.CodeNumber"}
    original = read_packet((INTEROP / name).read_bytes()).accepted()
    assert parse_packet(data) == (original if isinstance(original, StatusInfo)
                                  else _same_id(original, parse_packet(data)))


def _same_id(original: Envelope | StatusInfo, rewritten: Envelope | StatusInfo
             ) -> Envelope | StatusInfo:
    """The original with the rewritten packet's message id (docflow writes one)."""
    assert isinstance(original, Envelope) and isinstance(rewritten, Envelope)
    return Envelope(original.info, original.attachments, original.trace,
                    message_id=rewritten.message_id)


# ------------------------------------------------------------------ properties

def _shuffle(root: etree._Element, rnd: random.Random) -> None:
    """Every container's children in another order; elements of one name keep their
    order among themselves (To, Place, TraceHeader... are lists)."""
    for element in list(root.iter()):
        children = list(element)
        if len(children) < 2:
            continue
        groups: dict[str, list[etree._Element]] = {}
        for child in children:
            groups.setdefault(str(child.tag), []).append(child)
        order = list(groups)
        rnd.shuffle(order)
        for child in children:
            element.remove(child)
        for tag in order:
            for child in groups[tag]:
                element.append(child)


@settings(max_examples=40)
@given(envelopes, st.randoms(use_true_random=False))
def test_any_order_of_children_reads_to_the_same_model(envelope: Envelope,
                                                       rnd: random.Random) -> None:
    data = build_envelope(envelope)
    root = etree.fromstring(data)
    assert validate_tree(root, PacketKind.DOCUMENT, legacy=False) is False
    _shuffle(root, rnd)
    reading = read_packet(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert reading.packet == envelope, reading.findings


@settings(max_examples=40)
@given(statuses, st.randoms(use_true_random=False))
def test_any_order_of_a_status_reads_to_the_same_model(status: StatusInfo,
                                                       rnd: random.Random) -> None:
    root = etree.fromstring(build_status(status))
    _shuffle(root, rnd)
    reading = read_packet(etree.tostring(root))
    assert reading.packet == status, reading.findings


@settings(max_examples=40)
@given(envelopes)
def test_what_docflow_writes_reads_back_equal_in_both_modes(envelope: Envelope) -> None:
    data = build_envelope(envelope)
    reading = read_packet(data)
    assert reading.layout == "strict"
    assert reading.packet == parse_packet(data) == envelope


def test_attributes_the_layout_has_and_others() -> None:
    """xlink:href/role/type on Reference and docflow's Ids are the layout; any other
    attribute is reported and ignored."""
    assert not any("attribute" in f.message
                   for f in read_packet((INTEROP / "new.edxml").read_bytes()).findings)
    data = (INTEROP / "new.edxml").read_bytes().replace(
        b"<edXML:Subject>", b'<edXML:Subject lang="vi">')
    (finding,) = [f for f in read_packet(data).findings if "attribute" in f.message]
    assert finding.code == "M.MessageHeader.Subject" and "'lang'" in finding.message


def test_comments_between_elements_are_dropped_and_text_comments_refused() -> None:
    """A comment between elements splits no text: dropped, recorded (lenient), and a
    signed packet carrying one still verifies; one that touches text is refused."""
    from docflow.errors import UnsafeXmlError

    packet = build_envelope(sample_envelope())
    between = packet.replace(b"<edXML:Subject>", b"<!-- XML 102 --><edXML:Subject>", 1)
    assert parse_packet(between) == parse_packet(packet)
    reading = read_packet(between)
    assert [f.code for f in reading.findings if f.code == "M.edXML.comment"] == [
        "M.edXML.comment"]
    inside = packet.replace(b"<edXML:Subject>Q", b"<edXML:Subject>Q<!--x-->", 1)
    for read in (parse_packet, read_packet):
        with pytest.raises(UnsafeXmlError, match="inside the text"):
            read(inside)


def test_an_empty_response_for_is_none() -> None:
    packet = build_envelope(sample_envelope()).replace(
        b"<edXML:SteeringType>", b"<edXML:ResponseFor/><edXML:SteeringType>", 1)
    if b"<edXML:SteeringType>" not in packet:  # the sample writes no SteeringType
        packet = build_envelope(sample_envelope()).replace(
            b"<edXML:ToPlaces>", b"<edXML:ResponseFor/><edXML:ToPlaces>", 1)
    envelope = read_packet(packet).accepted()
    assert envelope.info.response_for == ()  # type: ignore[union-attr]
