"""What docflow writes against the checks of a provincial hub in use (Bkav's
edoc-integrator; `tests/interop_bkav.py` has them with the Java semantics that decide):
a document a node sends carries every contact element in `From` and `To` (from the
directory, empty where unknown, as the official library writes them) and the sender's
own `TraceHeader`, covered by its signature, so neither check reports an error or
throws. docflow's own reader and the strict schema keep taking both forms."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from docflow.envelope import build_envelope, parse_envelope, parse_packet
from docflow.errors import DocflowError
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.routing import Directory
from docflow.samples import sample_envelope
from docflow.security import issue_certificate, verify
from docflow.store import Store, sqlite_url
from docflow.transport import InMemoryTransport
from tests.conftest import Pki
from tests.interop_bkav import Thrown, accepts

DIRECTORY = """
[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
level = "province"
organization_in_charge = "Văn phòng UBND tỉnh"
address = "62 Hùng Vương, Tam Kỳ, Quảng Nam"
email = "vpubnd@quangnam.gov.vn"
telephone = "0235 3852 547"
fax = "0235 3852 540"
website = "https://quangnam.gov.vn"

[[organs]]
code = "000.00.01.H41"
name = "UBND thành phố Tam Kỳ"
level = "district"
"""
PROVINCE = OrganInfo(OrganCode("000.00.00.H41"), "UBND tỉnh Quảng Nam")
TAM_KY = OrganCode("000.00.01.H41")


@pytest.fixture
def province(pki: Pki, tmp_path: Path) -> Iterator[Node]:
    store = Store.open(sqlite_url(tmp_path / "p.db"), clock=lambda: pki.now)
    node = Node(PROVINCE, pki.province, pki.trust, store, InMemoryTransport(),
                clock=lambda: pki.now, directory=Directory.from_toml_text(DIRECTORY))
    yield node
    store.close()


def _sent(node: Node, pki: Pki) -> bytes:
    info = dataclasses.replace(sample_envelope().info, sender=PROVINCE)
    record = node.send(info, (), to=[TAM_KY])
    return node.store.queries.packet(record.document_ref)


def test_the_hub_takes_what_a_node_sends(province: Node, pki: Pki) -> None:
    packet = _sent(province, pki)
    report = accepts(packet, today=pki.now.date())
    assert report.success, report.errors
    envelope = verify(packet, pki.trust, now=pki.now).packet
    sender, (recipient,) = envelope.info.sender, envelope.info.recipients  # type: ignore[union-attr]
    assert (sender.address, sender.fax, sender.website) == (
        "62 Hùng Vương, Tam Kỳ, Quảng Nam", "0235 3852 540", "quangnam.gov.vn")
    assert recipient.address is None  # unknown: written as an empty element
    assert b"<edXML:OrganAdd></edXML:OrganAdd>" in packet or b"<edXML:OrganAdd/>" in packet
    (origin,) = envelope.trace  # type: ignore[union-attr]
    assert (origin.organ_id, origin.timestamp) == (PROVINCE.code, pki.now)


def test_the_senders_trace_header_is_signed(province: Node, pki: Pki) -> None:
    """Removed, stripped of its Id or with another time, the sender's TraceHeader fails
    verification: the sender's signature covers it."""
    packet = _sent(province, pki)
    start = packet.index(b'<edXML:TraceHeader Id="edxml-origin">')
    end = packet.index(b"</edXML:TraceHeader>", start) + len(b"</edXML:TraceHeader>")
    origin = packet[start:end]
    stamp = origin[origin.index(b"<edXML:Timestamp>"):origin.index(b"</edXML:Timestamp>")]
    forgeries = {
        "removed": packet[:start] + packet[end:],
        "its Id stripped": packet.replace(b' Id="edxml-origin"', b"", 1),
        "another time": packet[:start] + origin.replace(stamp, stamp[:-2] + b"59") + packet[end:],
    }
    for name, forged in forgeries.items():
        assert forged != packet, name
        with pytest.raises(DocflowError):
            verify(forged, pki.trust, now=pki.now)


def test_the_hub_throws_on_what_docflow_wrote_before(pki: Pki) -> None:
    """The old form: a To without its contact elements and no TraceHeader. The checks
    throw, as the deployed hub does (it refused every document docflow wrote)."""
    old = build_envelope(sample_envelope()).replace(
        b"<edXML:OrganAdd></edXML:OrganAdd>", b"").replace(b"<edXML:OrganAdd/>", b"")
    with pytest.raises(Thrown):
        accepts(old, today=pki.now.date())


def test_docflow_reads_both_forms(province: Node, pki: Pki) -> None:
    new = _sent(province, pki)
    old = build_envelope(sample_envelope())  # no sender's TraceHeader
    for packet in (new, old):
        assert parse_packet(packet) is not None
    assert parse_envelope(old).trace == ()
    unsigned_new = build_envelope(dataclasses.replace(parse_envelope(new), message_id="x"))
    assert parse_envelope(unsigned_new).trace == parse_envelope(new).trace


def test_another_organ_writes_the_same_form(pki: Pki, tmp_path: Path) -> None:
    """The district (no contacts in the directory: every element empty) too; the
    signature template is cached per set of parts."""
    district = issue_certificate(pki.ca, str(TAM_KY), "UBND Tam Kỳ", now=pki.now)
    store = Store.open(sqlite_url(tmp_path / "d.db"), clock=lambda: pki.now)
    try:
        node = Node(OrganInfo(TAM_KY, "UBND Tam Kỳ"), district, pki.trust, store,
                    InMemoryTransport(), clock=lambda: pki.now,
                    directory=Directory.from_toml_text(DIRECTORY))
        info = sample_envelope(sender=OrganInfo(TAM_KY, "Tam Kỳ"),
                               recipients=(PROVINCE,)).info
        record = node.send(info, (), to=[PROVINCE.code])
        packet = store.queries.packet(record.document_ref)
        assert verify(packet, pki.trust, now=pki.now).signer == TAM_KY
        assert accepts(packet, today=pki.now.date()).success
    finally:
        store.close()
