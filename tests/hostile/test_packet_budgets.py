"""What a packet may cost its reader (issue 25, items 5 and 6): zipped attachments within
one budget for the whole packet, checked while inflating; findings aggregated per code
and place, bounded in number. Through the entry points that read outside packets: the
lenient and strict readers, `docflow conform`, the VDXP emulator's sendEdoc and a node
receiving from a channel. Memory is measured with tracemalloc (deterministic), not time."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from werkzeug.test import Client

from docflow.cli import cli
from docflow.emulators import AxisApp, AxisSystem
from docflow.envelope import (
    MAX_FINDINGS,
    ParseLimits,
    Severity,
    build_envelope,
    parse_packet,
    read_packet,
)
from docflow.errors import OversizeError
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.transport._vxp import sign_headers
from tests.hostile.catalogue import zipped_members

MiB = 1024 * 1024
VALID = build_envelope(sample_envelope())


def _peak(read: Callable[[], Any]) -> int:
    """The peak of Python allocations while ``read`` runs (the packet itself excluded)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with contextlib.suppress(OversizeError):
            read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------- 5: zipped members


@pytest.fixture(scope="module")
def twelve() -> bytes:
    """The attack: twelve zipped 48 MiB members in a packet of ~0.8 MiB."""
    return build_envelope(zipped_members(12, 48 * MiB))


def test_the_attack_packet_is_small(twelve: bytes) -> None:
    assert len(twelve) < MiB


@pytest.mark.parametrize("read", [read_packet, parse_packet], ids=["lenient", "strict"])
def test_a_zip_bomb_is_refused_before_it_inflates(twelve: bytes,
                                                  read: Callable[..., Any]) -> None:
    """Its members inflate ~1000 times: refused at the ratio, with little allocated (the
    attack peaked at 650-720 MiB)."""
    with pytest.raises(OversizeError, match="max_zip_ratio"):
        read(twelve)
    assert _peak(lambda: read(twelve)) < 16 * MiB


def test_the_packets_budget_is_checked_while_inflating(twelve: bytes) -> None:
    """With the ratio check lifted, the packet's decoded budget (64 MiB) stops the second
    member part way: the peak stays near the budget, not twelve members' worth."""
    limits = ParseLimits(max_zip_ratio=10_000)
    with pytest.raises(OversizeError, match="max_decoded_bytes"):
        read_packet(twelve, limits=limits)
    assert _peak(lambda: read_packet(twelve, limits=limits)) < 80 * MiB


def test_a_member_is_never_held_whole_before_the_check() -> None:
    """One 48 MiB member against a 4 MiB budget: refused after ~4 MiB were inflated."""
    packet = build_envelope(zipped_members(1, 48 * MiB))
    limits = ParseLimits(max_zip_ratio=10_000, max_decoded_bytes=4 * MiB)
    with pytest.raises(OversizeError, match="unzipped"):
        read_packet(packet, limits=limits)
    assert _peak(lambda: read_packet(packet, limits=limits)) < 12 * MiB


def test_members_within_the_budget_are_read() -> None:
    packet = build_envelope(zipped_members(3, 64 * 1024))
    envelope = read_packet(packet, limits=ParseLimits(max_zip_ratio=10_000)).accepted()
    assert [len(a.data) for a in envelope.attachments] == [64 * 1024] * 3  # type: ignore[union-attr]


def test_how_many_attachments_a_packet_carries_is_bounded() -> None:
    packet = build_envelope(zipped_members(6, 16))
    with pytest.raises(OversizeError, match="max_attachments"):
        read_packet(packet, limits=ParseLimits(max_attachments=5))


def test_conform_and_the_axis_refuse_the_attack(twelve: bytes, tmp_path: Path) -> None:
    path = tmp_path / "attack.edxml"
    path.write_bytes(twelve)
    result = CliRunner().invoke(cli, ["conform", str(path)])
    assert result.exit_code == 1 and "max_zip_ratio" in result.output, result.output
    store = Store.open(sqlite_url(tmp_path / "axis.db"))
    try:
        axis = Client(AxisApp("000.00.00.G22", store, [
            AxisSystem(str(PROVINCE.code), "p"), AxisSystem(str(TAM_KY.code), "t")]))
        headers = sign_headers(str(PROVINCE.code), "p", {
            "servicetype": "edoc", "messagetype": "edoc",
            "hash-file": hashlib.sha256(twelve).hexdigest()}, now=dt.datetime.now(dt.UTC))
        answer = axis.post("/sendEdoc", data=twelve, headers=headers)
        assert answer.status_code == 400 and b"max_zip_ratio" in answer.get_data()
        assert store.queries.deliveries().total == 0
    finally:
        store.close()


# --------------------------------------------------------------- 6: findings, linear


def _with_siblings(count: int, *, same_name: bool) -> bytes:
    """The valid sample with ``count`` unknown elements in MessageHeader."""
    junk = "".join(f"<edXML:X{'' if same_name else n}/>" for n in range(count))
    return VALID.replace(b"<edXML:Subject>", junk.encode() + b"<edXML:Subject>", 1)


def test_sixty_thousand_unknown_siblings_are_counted_not_listed() -> None:
    """60,000 unknown siblings (766 KiB): each distinct place is one finding, the first
    200 kept and the rest counted in one finding; the same name repeated is one finding
    with its count."""
    distinct = read_packet(_with_siblings(60_000, same_name=False))
    assert len(distinct.findings) <= MAX_FINDINGS + 2
    (rest,) = [f for f in distinct.findings if f.code == "M.edXML.findings"]
    assert rest.severity is Severity.WARNING and "more finding(s)" in rest.message
    assert distinct.accepted() is not None  # warnings only: the document is still usable
    same = read_packet(_with_siblings(60_000, same_name=True))
    (counted,) = [f for f in same.findings if f.code == "M.MessageHeader.X"]
    assert "60000 times here" in counted.message and counted.path is not None


def test_three_hundred_thousand_stray_attributes_peak_low() -> None:
    """300,000 stray attributes (3 MiB) peaked at 620 MiB; one finding now."""
    attributes = " ".join(f"a{n}=\"\"" for n in range(300_000))
    packet = VALID.replace(b"<edXML:Subject>", f"<edXML:Subject {attributes}>".encode(), 1)
    readings: list[Any] = []
    assert _peak(lambda: readings.append(read_packet(packet))) < 200 * MiB
    (stray,) = [f for f in readings[0].findings if f.code == "M.MessageHeader.Subject"]
    assert "300000 times here" in stray.message


def test_an_error_past_the_kept_findings_still_refuses() -> None:
    """The findings beyond the first 200 places are counted at their worst severity: an
    error among them refuses the packet as it would have."""
    junk = "".join(f"<edXML:X{n}/>" for n in range(300)).encode()
    packet = VALID.replace(b"<edXML:Subject>", junk + b"<edXML:Subject>", 1)
    packet = packet.replace(b"<edXML:CodeNumber>4512</edXML:CodeNumber>",
                            b"<edXML:CodeNumber></edXML:CodeNumber>", 1)
    reading = read_packet(packet)
    assert any(f.severity is Severity.ERROR for f in reading.findings)
    assert reading.refusing()


def test_sixty_thousand_siblings_through_conform_and_the_axis(tmp_path: Path) -> None:
    """The findings attack through the entry points that read leniently: `docflow
    conform` lists the counted finding (exit 10: accepted with findings), the VDXP
    emulator's sendEdoc takes the packet (its sender is the caller) and queues it once."""
    packet = _with_siblings(60_000, same_name=False)
    path = tmp_path / "siblings.edxml"
    path.write_bytes(packet)
    result = CliRunner().invoke(cli, ["conform", str(path), "--json"])
    assert result.exit_code == 10, result.output
    assert "M.edXML.findings" in result.output
    store = Store.open(sqlite_url(tmp_path / "axis.db"))
    try:
        axis = Client(AxisApp("000.00.00.G22", store, [
            AxisSystem(str(PROVINCE.code), "p"), AxisSystem(str(TAM_KY.code), "t")]))
        headers = sign_headers(str(PROVINCE.code), "p", {
            "servicetype": "edoc", "messagetype": "edoc",
            "hash-file": hashlib.sha256(packet).hexdigest()}, now=dt.datetime.now(dt.UTC))
        answer = axis.post("/sendEdoc", data=packet, headers=headers)
        assert answer.status_code == 200, answer.get_data()[:300]
        assert store.queries.deliveries().total == 1
    finally:
        store.close()
