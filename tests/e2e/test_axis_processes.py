"""`docflow axis serve --processes N` (issue 18): forked workers share the port and the
database; a token one worker issued is taken by the others (signed, not stored); both
workers answer; SIGTERM stops them all; a port in use fails before anything forks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from docflow.envelope import build_envelope
from docflow.samples import sample_envelope
from docflow.transport import TokenLgspClient
from tests.postgres import free_port

DOCFLOW = Path(sys.executable).with_name("docflow")
SYSTEMS = """
[[systems]]
system_id = "H41.UBT.001"
secret = "ubt-secret"
organs = ["000.00.00.H41"]
[[systems]]
system_id = "H41.TK.001"
secret = "tk-secret"
organs = ["000.00.01.H41"]
[[accounts]]
username = "vanthu"
password = "mat-khau"
application_code = "EOFFICE"
"""
LOGIN = {"username": "vanthu", "password": "mat-khau", "applicationCode": "EOFFICE"}


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == parent:
                found.append(int(entry.name))
    return found


def _cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[11]) + int(stat[12])


def _client(url: str, system: str, secret: str) -> TokenLgspClient:
    return TokenLgspClient(url, system, secret, username="vanthu",
                           password="mat-khau",  # noqa: S106 - the test account
                           application_code="EOFFICE", timeout=30)


def test_several_processes_serve_one_platform(tmp_path: Path) -> None:
    systems = tmp_path / "systems.toml"
    systems.write_text(SYSTEMS, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [str(DOCFLOW), "axis", "serve", "--dialect", "lgsp-token", "--systems",
               str(systems), "--database", f"sqlite:///{tmp_path / 'lgsp.db'}", "--port",
               str(port), "--processes", "2"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.post(url + "echo", data=b"x", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        workers = _children(server.pid)
        assert len(workers) == 2, workers
        before = {pid: _cpu_ticks(pid) for pid in workers}
        # a token from one login works on every connection, whichever worker takes it
        token = requests.post(url + "v1/auth/login", json=LOGIN, timeout=10,
                              headers={"Connection": "close"}).json()["data"]["token"]
        headers = {"Authorization": f"Bearer {token}", "X-SystemId": "H41.TK.001",
                   "X-SecretKey": "tk-secret", "Connection": "close"}
        for _ in range(150):
            listed = requests.get(url + "v1/syncReceivedEdocList?messageType=edoc&fromDate="
                                  "2026/01/01&toDate=2026/12/31", headers=headers, timeout=10)
            assert listed.status_code == 200 and listed.json()["success"], listed.text
        assert all(_cpu_ticks(pid) > before[pid] for pid in workers)  # both answered
        # one database: what a worker queued, another hands out and settles
        sender, receiver = (_client(url, "H41.UBT.001", "ubt-secret"),
                            _client(url, "H41.TK.001", "tk-secret"))
        packet = build_envelope(sample_envelope(message_id="processes-1"))
        sender.send_edoc(packet)
        (item,) = receiver.received()
        assert receiver.get_edoc(item.doc_id) == packet
        receiver.update_status(item.doc_id, "done")
        assert receiver.received() == []
        sender.close()
        receiver.close()
        taken = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert taken.returncode == 6 and "cannot listen" in taken.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, out + err
    assert "2 processes" in out
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")
                and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
