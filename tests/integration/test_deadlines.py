"""The văn thư deadlines on a node's received documents, on SQLite and in memory: written
with the document, met by the act that fulfils them (late ones recorded as breaches, in
the audit chain), the ones still open after they ended recorded by the worker's sweep
(once); urgent documents registered the same working day; a returned document's return
met at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from docflow.model import Priority
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.store.memory import MemoryStore
from docflow.store.protocols import NodeStore
from docflow.transport import InMemoryTransport
from tests.conftest import Clock, Pki

VN = dt.timezone(dt.timedelta(hours=7))
#: the last working day of 2026 (1 January 2027 is a holiday, then a weekend)
THURSDAY = dt.datetime(2026, 12, 31, 10, 0, tzinfo=VN)


@pytest.fixture(params=["sqlite", "memory"])
def pair(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = Clock(THURSDAY.astimezone(dt.UTC))
    transport = InMemoryTransport()
    nodes = []
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district)):
        store: NodeStore = Store.open(sqlite_url(tmp_path / f"{organ.code}.db"),
                                      clock=clock) \
            if request.param == "sqlite" else MemoryStore(clock=clock)
        node = Node(organ, credentials, pki.trust, store, transport, clock=clock)
        transport.register(organ.code, node)
        nodes.append(node)
    yield nodes[0], nodes[1], clock
    for node in nodes:
        node.close()


def send(province: Node, number: str, priority: Priority = Priority.NORMAL) -> None:
    info = dataclasses.replace(sample_envelope(number=number).info, priority=priority)
    province.send(info)


def deadlines(node: Node, document: int) -> dict[str, tuple[dt.datetime, bool, bool]]:
    return {d.kind: (d.deadline, d.met_at is not None, d.breached)
            for d in node.store.deadlines.list(node.code, now=node.clock())
            if d.document_ref == document}


def test_registration_by_the_next_working_day_across_the_year_end(pair) -> None:  # type: ignore[no-untyped-def]
    province, district, clock = pair
    for number in ("1", "2", "3"):
        send(province, number)
    send(province, "4", Priority.URGENT)
    assert province.deliver().delivered == 4
    on_time, late, never, urgent = sorted(d.id for d in district.inbox().items)
    found = deadlines(district, on_time)
    assert found["register"] == (dt.datetime(2027, 1, 5, tzinfo=VN), False, False)
    assert found["acknowledge"][1:] == (True, False)  # the receipt is immediate
    assert found["due"][0] == dt.datetime(2018, 10, 2, tzinfo=VN)  # the sample's DueDate
    assert deadlines(district, urgent)["register"][0] == dt.datetime(2027, 1, 1, tzinfo=VN)
    clock.now = dt.datetime(2027, 1, 4, 9, 0, tzinfo=VN).astimezone(dt.UTC)  # next working day
    district.accept(on_time)
    assert deadlines(district, on_time)["register"][1:] == (True, False)
    clock.now = dt.datetime(2027, 1, 6, 9, 0, tzinfo=VN).astimezone(dt.UTC)
    district.accept(late)
    assert deadlines(district, late)["register"][1:] == (True, True)  # met, but late
    assert deadlines(district, urgent)["register"][1:] == (False, True)
    # the sweep records each open breach once (the urgent one, the never accepted one,
    # and the sample's DueDate of 2018 on all four)
    swept = district.store.deadlines.sweep(now=district.clock())
    assert swept == 2 + 4  # two registrations still open, four due dates of 2018
    assert district.store.deadlines.sweep(now=district.clock()) == 0
    breached = {(d.document_ref, d.kind)
                for d in district.store.deadlines.list(district.code, breached_only=True)}
    assert {(late, "register"), (never, "register"), (urgent, "register")} <= breached
    assert (on_time, "register") not in breached
    assert district.store.audit.verify().ok


def test_a_sent_documents_due_date_is_met_when_every_copy_is_handled(pair) -> None:  # type: ignore[no-untyped-def]
    """Issue 30, part 2: a sent document's due date is stored with it and met at the
    sender when no copy is still waiting on its recipient (completed or returned); one
    still open after it is a breach at the sender too."""
    province, district, clock = pair
    due = dt.date(2027, 1, 8)
    refs = []
    for number in ("21", "22", "23", "24"):
        info = dataclasses.replace(sample_envelope(number=number, date=dt.date(2026, 12, 31)
                                                   ).info, due_date=due)
        refs.append(province.send(info).document_ref)
    undated = province.send(dataclasses.replace(
        sample_envelope(number="25", date=dt.date(2026, 12, 31)).info, due_date=None))
    assert province.deliver().delivered == 5
    done, returned, late, open_ = refs
    end = dt.datetime(2027, 1, 9, tzinfo=VN)
    assert deadlines(province, done) == {"due": (end, False, False)}
    assert deadlines(province, undated.document_ref) == {}  # no DueDate, no deadline
    received = {district.document(d.id).document_id: d.id for d in district.inbox().items}
    ids = [province.document(ref).document_id for ref in refs]

    def settle() -> None:
        district.deliver()
        province.deliver()

    clock.now = dt.datetime(2027, 1, 5, 9, 0, tzinfo=VN).astimezone(dt.UTC)
    for act in ("accept", "process"):
        getattr(district, act)(received[ids[0]])
        settle()
    assert deadlines(province, done)["due"][1:] == (False, False)  # still in hand
    district.complete(received[ids[0]])
    district.reject(received[ids[1]], "không thuộc thẩm quyền")
    settle()
    assert deadlines(province, done)["due"][1:] == (True, False)
    assert deadlines(province, returned)["due"][1:] == (True, False)
    clock.now = dt.datetime(2027, 1, 11, 9, 0, tzinfo=VN).astimezone(dt.UTC)
    for act in ("accept", "process", "complete"):
        getattr(district, act)(received[ids[2]])
    settle()
    assert deadlines(province, late)["due"][1:] == (True, True)  # met after it ended
    assert deadlines(province, open_)["due"][1:] == (False, True)
    assert province.store.deadlines.sweep(now=province.clock()) == 1  # 24, still open
    breached = {d.document_ref for d in province.store.deadlines.list(
        province.code, breached_only=True)}
    assert breached == {late, open_}
    assert province.store.audit.verify().ok


def test_the_deadlines_command(tmp_path: Path) -> None:
    """``docflow deadlines`` on a home that received a document: its receipt met, its
    registration open (JSON with the node's offset); ``--overdue`` lists none yet."""
    import json

    from click.testing import CliRunner

    from docflow.cli import cli
    from docflow.envelope import build_envelope
    from docflow.security import Credentials, sign

    runner = CliRunner()
    for args in (["pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca")],
                 ["pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", "000.00.00.H41",
                  "--name", "UBND tỉnh", "--out", str(tmp_path / "province")],
                 ["init", str(tmp_path / "home"), "--organ", "000.00.01.H41", "--name",
                  "UBND thành phố Tam Kỳ", "--ca", str(tmp_path / "ca")]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    province = Credentials.load(tmp_path / "province" / "organ.key",
                                tmp_path / "province" / "organ.crt")
    with Node.from_home(tmp_path / "home") as node:
        node.receive_document(sign(build_envelope(sample_envelope()), province))
    listed = runner.invoke(cli, ["deadlines", "--home", str(tmp_path / "home"), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["kind"]: row for row in json.loads(listed.output)}
    assert set(rows) == {"acknowledge", "register", "due"}
    assert rows["acknowledge"]["met_at"] is not None and rows["register"]["met_at"] is None
    assert rows["register"]["deadline"].endswith("+07:00")
    assert rows["due"]["breached"] is True  # the sample's due date is in 2018
    overdue = runner.invoke(cli, ["deadlines", "--home", str(tmp_path / "home"), "--overdue",
                                  "--json"])
    assert [row["kind"] for row in json.loads(overdue.output)] == ["due"]
    text = runner.invoke(cli, ["deadlines", "--home", str(tmp_path / "home")]).output
    assert "BREACHED" in text and "register" in text
