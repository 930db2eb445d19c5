"""docflow writes the official order; packets it wrote before in its earlier order
(tests/data/legacy/: a document with a hub's signed hop and a status, signed by docflow
before the change) still parse and verify, and are never written again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lxml import etree

from docflow.envelope import (
    EDXML_NS,
    PacketKind,
    build_envelope,
    build_status,
    load_tree,
    parse_packet,
    validate_tree,
)
from docflow.model import StatusCode
from docflow.samples import sample_envelope, sample_status
from docflow.security import TrustStore, load_certificates, verify

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy"
WHEN = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


def children(data: bytes, *path: str) -> list[str]:
    element = etree.fromstring(data)
    for step in ("edXMLEnvelope", "edXMLHeader", *path):
        element = element.find(f"{{{EDXML_NS}}}{step}")
    return [etree.QName(child).localname for child in element]


def test_documents_are_written_in_the_official_order() -> None:
    names = children(build_envelope(sample_envelope()), "MessageHeader")
    assert names[:3] == ["From", "To", "DocumentId"]
    assert names[-2:] == ["ToPlaces", "MessageId"]
    assert names.index("OtherInfo") < names.index("ToPlaces")
    assert children(build_envelope(sample_envelope()), "TraceHeaderList") == ["Bussiness"]


def test_statuses_are_written_in_the_official_order() -> None:
    packet = build_status(sample_status(sample_envelope(), StatusCode.ACCEPTED))
    assert children(packet, "MessageHeader") == [
        "From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp",
        "MessageId"]
    staff = etree.fromstring(packet).find(f".//{{{EDXML_NS}}}StaffInfo")
    assert [etree.QName(child).localname for child in staff] == ["Department", "Staff"]


def test_what_docflow_writes_is_strict_not_legacy() -> None:
    for packet, kind in ((build_envelope(sample_envelope()), PacketKind.DOCUMENT),
                         (build_status(sample_status(sample_envelope())), PacketKind.STATUS)):
        assert validate_tree(etree.fromstring(packet), kind, legacy=False) is False


def test_packets_of_the_earlier_layout_still_parse_and_verify() -> None:
    trust = TrustStore(load_certificates(LEGACY / "ca.crt"))
    document = (LEGACY / "document.edxml").read_bytes()
    root, kind = load_tree(document)
    assert kind is PacketKind.DOCUMENT
    assert validate_tree(root, kind) is True  # the legacy layout, accepted
    verified = verify(document, trust, now=WHEN)
    assert verified.envelope.info.code == "4512/QĐ-UBND"
    assert [str(hop.organ) for hop in verified.hops] == ["000.00.90.H41"]
    status = (LEGACY / "status.edxml").read_bytes()
    assert verify(status, trust, now=WHEN).status.code is StatusCode.ACCEPTED
    assert parse_packet(status) == verify(status, trust, now=WHEN).status
