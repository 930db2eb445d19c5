"""`GET /health` in every dialect and `docflow axis status`: what a province's operator
(or a monitoring probe) asks a running emulator: its database, the organs registered,
what waits (documents, statuses) and since when, the dead letters; 503 and exit status 7
when the database fails, 7 when nothing answers. Over real HTTP on 127.0.0.1; the CLI
against a real `docflow axis serve` process."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from docflow.cli import cli
from docflow.emulators import (
    AxisApp,
    AxisSystem,
    LgspAccount,
    TokenLgspApp,
    Wso2App,
    Wso2Consumer,
)
from docflow.envelope import build_envelope
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.transport import VxpClient
from tests.integration.test_soap import Server
from tests.postgres import free_port

DOCFLOW = Path(sys.executable).with_name("docflow")
UNITS = [AxisSystem(str(PROVINCE.code), "province-secret"),
         AxisSystem(str(TAM_KY.code), "tam-ky-secret")]


@pytest.fixture(params=["vdxp", "lgsp-token", "wso2"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    store = Store.open(sqlite_url(tmp_path / "platform.db"))
    app: Any
    if request.param == "vdxp":
        app = AxisApp("000.00.00.G22", store, UNITS)
    elif request.param == "lgsp-token":
        app = TokenLgspApp("000.00.00.G22", store, UNITS, [LgspAccount("u", "p", "E")])
    else:
        app = Wso2App("000.00.00.G22", store, UNITS, [Wso2Consumer("k", "s")])
    server = Server(app)
    yield server.url, app
    server.close()
    store.close()


def test_health_counts_what_waits(served: tuple[str, Any]) -> None:
    url, app = served
    answer = requests.get(url + "health", timeout=10)
    facts = answer.json()
    assert answer.status_code == 200 and facts["status"] == "ok" and facts["database"] == "ok"
    assert facts["axis"] == "000.00.00.G22" and facts["agencies"] == 2
    assert facts["waiting"] == {"documents": 0, "statuses": 0}
    assert facts["dead_letters"] == 0 and facts["oldest_due_at"] is None
    packet = build_envelope(sample_envelope(recipients=(TAM_KY,)))
    app.queue.accept(packet, "document", None, None)  # as each dialect's sendEdoc does
    facts = requests.get(url + "health", timeout=10).json()
    assert facts["waiting"] == {"documents": 1, "statuses": 0}
    due = dt.datetime.fromisoformat(facts["oldest_due_at"])
    assert abs(dt.datetime.now(dt.UTC) - due) < dt.timedelta(minutes=1)
    assert "secret" not in json.dumps(facts) and str(TAM_KY.code) not in json.dumps(facts)


def test_health_says_the_database_fails(served: tuple[str, Any]) -> None:
    url, app = served
    with app.store.engine.begin() as conn:  # a real failure: the table is gone
        conn.exec_driver_sql("DROP TABLE axis_agencies")
    answer = requests.get(url + "health", timeout=10)
    assert answer.status_code == 503, answer.text
    facts = answer.json()
    assert facts["status"] == "unhealthy" and "axis_agencies" in facts["database"]


def test_axis_status_against_a_running_emulator(tmp_path: Path) -> None:
    systems = tmp_path / "systems.toml"
    systems.write_text("".join(f'[[systems]]\nsystem_id = "{unit.system_id}"\n'
                               f'secret = "{unit.secret}"\n' for unit in UNITS),
                       encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen(
        [str(DOCFLOW), "axis", "serve", "--systems", str(systems), "--database",
         f"sqlite:///{tmp_path / 'axis.db'}", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        client = VxpClient(url, str(PROVINCE.code), "province-secret", timeout=10)
        client.send_edoc(build_envelope(sample_envelope(recipients=(TAM_KY,))),
                         to=[str(TAM_KY.code)])
        client.close()
        said = CliRunner().invoke(cli, ["axis", "status", "--url", url])
        assert said.exit_code == 0, said.output
        assert "000.00.00.G22 (vdxp): ok" in said.output
        assert "1 document(s), 0 status(es)" in said.output and "2 organ(s)" in said.output
        as_json = CliRunner().invoke(cli, ["axis", "status", "--url", url, "--json"])
        assert json.loads(as_json.output)["waiting"]["documents"] == 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    gone = CliRunner().invoke(cli, ["axis", "status", "--url", url])
    assert gone.exit_code == 7 and "nothing answers" in gone.output
    assert "axis serve" in gone.output


@pytest.mark.parametrize("answer", [b'{"waiting": [1], "status": 5, "oldest_due_at": 7}',
                                    b'{"waiting": "x", "oldest_due_at": "not a time"}',
                                    b"[1, 2]", b'"text"', b"not json", b"{}"])
def test_status_reads_a_strange_answer_without_a_traceback(answer: bytes) -> None:
    """Another program on the port, or a broken one: `axis status` and `status` say what
    they got or that nothing usable answers (exit 7), never a traceback."""
    def other(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer]

    server = Server(other)
    try:
        said = CliRunner().invoke(cli, ["axis", "status", "--url", server.url])
        assert said.exit_code in (0, 7), said.output
        assert said.exception is None or isinstance(said.exception, SystemExit), said.output
    finally:
        server.close()
