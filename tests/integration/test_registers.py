"""The văn thư registers (Nghị định 30/2020, Phụ lục VI), on SQLite and in memory: every
received document gets its arrival number in order of receipt, every sent one its number
in the outgoing register, per organ and year; a copy received again or a refused packet
takes no number; numbers stay without gaps when the process is killed mid-transaction
(kill -9, SQLite and PostgreSQL); the CLI exports the decree's columns as JSON, CSV and
xlsx."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docflow.errors import ReplayError
from docflow.node import Node
from docflow.samples import sample_envelope
from docflow.security import sign_envelope
from docflow.store import Store
from tests.conftest import Pki


def test_numbers_in_order_without_gaps_per_register_and_year(
        both_stores: tuple[Node, Node], pki: Pki) -> None:
    province, district = both_stores
    refs = [province.send(sample_envelope(number=str(n), date=dt.date(2026, 3, n)).info
                          ).document_ref for n in (1, 2, 3)]
    province.send(sample_envelope(number="1", date=dt.date(2027, 1, 4)).info)
    out_2026 = province.store.queries.register(province.code, "out", 2026)
    assert [(e.number, e.document.id) for e in out_2026] == list(zip((1, 2, 3), refs,
                                                                     strict=True))
    assert [e.number for e in province.store.queries.register(province.code, "out", 2027)
            ] == [1]
    assert province.deliver().delivered == 4
    arrivals = district.store.queries.register(district.code, "in", 2026)  # received now
    assert [e.number for e in arrivals] == [1, 2, 3, 4]
    assert [e.document.code for e in arrivals] == ["1/QĐ-UBND", "2/QĐ-UBND", "3/QĐ-UBND",
                                                   "1/QĐ-UBND"]
    # a copy received again, and a replay with other content, take no number
    packet = province.store.queries.packet(refs[0])
    district.receive_document(packet)
    forged = sign_envelope(sample_envelope(number="9", message_id=arrivals[0].document.message_id),
                           pki.province)
    with pytest.raises(ReplayError):
        district.receive_document(forged)
    assert len(district.store.queries.register(district.code, "in", 2026)) == 4


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from docflow.envelope import build_envelope
    from docflow.samples import TAM_KY, sample_envelope
    from docflow.store import Store, StoreHooks

    class KillAt(StoreHooks):
        def __init__(self, at, nth):
            self.at, self.nth, self.seen = at, nth, 0
        def checkpoint(self, name):
            if name == self.at:
                self.seen += 1
                if self.seen == self.nth:
                    os.kill(os.getpid(), signal.SIGKILL)

    url, first, last, at, nth = sys.argv[1:6]
    store = Store(url, hooks=KillAt(at, int(nth)))
    for n in range(int(first), int(last) + 1):
        envelope = sample_envelope(recipients=(TAM_KY,), number=str(n),
                                   message_id=f"m-{n}")
        store.inbox.receive(envelope, build_envelope(envelope), organ="000.00.01.H41",
                            receipt=b"<r/>", arrival_year=2026)
        print(n, flush=True)
    """
)


@pytest.mark.parametrize("at", ["after_envelope", "after_inbox", "before_commit"])
def test_kill_9_leaves_no_gap_in_the_arrivals(store_url: str, at: str) -> None:
    store = Store.open(store_url)
    killed = subprocess.run([sys.executable, "-c", CRASH, store_url, "1", "6", at, "3"],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    done = [int(line) for line in killed.stdout.split()]
    assert done == [1, 2]  # the third died inside its transaction
    rest = subprocess.run([sys.executable, "-c", CRASH, store_url, "3", "6", "never", "0"],
                          capture_output=True, text=True, timeout=120)
    assert rest.returncode == 0, rest.stderr
    entries = store.queries.register("000.00.01.H41", "in", 2026)  # type: ignore[arg-type]
    assert [e.number for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e.document.code.split("/")[0] for e in entries] == ["1", "2", "3", "4", "5",
                                                               "6"]
    store.close()


def test_the_register_command_exports_the_decrees_columns(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from openpyxl import load_workbook

    from docflow.cli import cli
    from docflow.envelope import build_envelope
    from docflow.security import Credentials, sign

    runner = CliRunner()
    for args in (["pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca")],
                 ["pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", "000.00.00.H41",
                  "--name", "UBND tỉnh", "--out", str(tmp_path / "province")],
                 ["init", str(tmp_path / "home"), "--organ", "000.00.01.H41", "--name",
                  "UBND thành phố Tam Kỳ", "--ca", str(tmp_path / "ca")]):
        assert runner.invoke(cli, args).exit_code == 0
    province = Credentials.load(tmp_path / "province" / "organ.key",
                                tmp_path / "province" / "organ.crt")
    with Node.from_home(tmp_path / "home") as node:
        for n in (1, 2):
            node.receive_document(sign(build_envelope(sample_envelope(
                number=str(n), message_id=f"m-{n}")), province))
        year = node.clock().astimezone(node.zone).year
    home = ["--home", str(tmp_path / "home"), "--year", str(year)]
    rows = json.loads(runner.invoke(cli, ["register", "in", *home]).output)
    assert [(r["number"], r["code"], r["organ"]) for r in rows] == [
        (1, "1/QĐ-UBND", "000.00.00.H41"), (2, "2/QĐ-UBND", "000.00.00.H41")]
    assert set(rows[0]) >= {"number", "document_id", "code", "date", "subject", "organ"}
    table = list(csv.reader(io.StringIO(runner.invoke(
        cli, ["register", "in", *home, "--format", "csv"]).output)))
    assert table[0][:4] == ["Số đến", "Ngày đến", "Tác giả", "Số, ký hiệu"]
    assert [line[0] for line in table[1:]] == ["1", "2"]
    workbook = tmp_path / "so-den.xlsx"
    done = runner.invoke(cli, ["register", "in", *home, "--format", "xlsx", "-o",
                               str(workbook)])
    assert done.exit_code == 0 and "2 line(s)" in done.output
    sheet = load_workbook(workbook).worksheets[0]
    assert sheet.cell(1, 1).value == "Số đến" and sheet.cell(3, 1).value == 2
    refused = runner.invoke(cli, ["register", "in", *home, "--format", "xlsx"])
    assert refused.exit_code == 2 and "goes to a file" in refused.output
