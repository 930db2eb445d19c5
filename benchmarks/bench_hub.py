"""A hub scaled out: ``docflow serve --processes N`` of one LGSP hub home on one
PostgreSQL database, taking signed documents over SOAP from a province's node that sends
eight at a time (each verified, stored for a commune that pulls, answered with the hub's
signed receipt, whose signature the sender verifies). Documents per second with 2
processes next to 1, side by side in one run; client and server share this machine's
cores, as in the soap rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import Row, sized, wait_until_served
from docflow.config import load_config
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.samples import sample_envelope

DOCUMENTS = sized(400, 12)
SENDERS = 8
HUB, PROVINCE, COMMUNE = "000.00.90.H41", "000.00.00.H41", "000.01.03.H41"
DOCFLOW = Path(sys.executable).with_name("docflow")
NOTES: list[str] = []


def _directory(hub_url: str) -> str:
    return f"""
[[hubs]]
code = "{HUB}"
name = "LGSP Quảng Nam"
endpoint = "{hub_url}"
[[organs]]
code = "{PROVINCE}"
name = "UBND tỉnh Quảng Nam"
level = "province"
hub = "{HUB}"
[[organs]]
code = "000.00.03.H41"
name = "UBND thị xã Điện Bàn"
level = "district"
hub = "{HUB}"
[[organs]]
code = "{COMMUNE}"
name = "UBND phường Vĩnh Điện"
level = "commune"
hub = "{HUB}"
pull = true
"""


def _docflow(*args: str) -> None:
    done = subprocess.run([str(DOCFLOW), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    if done.returncode:
        raise RuntimeError(f"docflow {args[0]} failed: {done.stderr}")


def _serve(home: Path, processes: int, url: str) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([str(DOCFLOW), "serve", "--home", str(home), "--processes",
                               str(processes), "--threads", "4", "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_served(url, server, "hub")
    return server


def _rate(base: Path, database: str, processes: int, port: int) -> float:
    """Documents per second through ``processes`` hub processes on ``database``."""
    hub_home = base / f"hub-{processes}"
    toml = hub_home / "node.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        'database = "sqlite:///node.db"', f'database = "{database}"'), encoding="utf-8")
    _docflow("db", "upgrade", "--database", database)
    server = _serve(hub_home, processes, f"http://127.0.0.1:{port}/")
    try:
        province = Node.from_config(load_config(base / f"province-{processes}"))
        try:
            for number in range(1, DOCUMENTS + 1):  # signed and recorded before the clock
                letter = sample_envelope(number=str(number), recipients=(
                    OrganInfo(OrganCode(COMMUNE), "UBND phường Vĩnh Điện"),))
                province.send(letter.info, letter.attachments)
            start = time.perf_counter()
            report = province.deliver(limit=DOCUMENTS, workers=SENDERS)
            elapsed = time.perf_counter() - start
            if report.delivered != DOCUMENTS:
                raise RuntimeError(f"only {report.delivered} of {DOCUMENTS} went: "
                                   f"{report.errors[:3]}")
        finally:
            province.store.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    return DOCUMENTS / elapsed


def run() -> list[Row]:
    try:
        from tests.postgres import free_port, missing_binaries, start_cluster
    except ImportError:  # benchmarks run from a checkout, where tests/ is present
        return []
    if missing_binaries():
        return []
    cluster = start_cluster(durable=True)
    rates: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="docflow-bench-hub-") as scratch:
            base = Path(scratch)
            _docflow("pki", "ca", "create", "--name", "bench CA", "--out", str(base / "ca"))
            for processes in (1, 2):
                port = free_port()
                directory = base / f"directory-{processes}.toml"
                directory.write_text(_directory(f"http://127.0.0.1:{port}/"), encoding="utf-8")
                for name, code, extra in ((f"hub-{processes}", HUB, ["--hub"]),
                                          (f"province-{processes}", PROVINCE, [])):
                    _docflow("init", str(base / name), "--organ", code, "--ca",
                             str(base / "ca"), "--port", str(port), "--directory",
                             str(directory), *extra)
                with cluster.database() as database:
                    rates[processes] = _rate(base, database, processes, port)
    finally:
        cluster.stop()
    NOTES.append(
        f"hub: {DOCUMENTS} documents of 4 KB sent {SENDERS} at a time by a province's node "
        "to `docflow serve --processes N` of an LGSP hub home on PostgreSQL (fsync on), "
        "held for a commune that pulls; each is verified, stored with its hop signature and "
        "answered with the hub's signed receipt, which the sender verifies and records. The "
        "sending node, the hub processes and PostgreSQL share the machine's cores.")
    return [Row("hub", f"docflow serve --processes 2 (PostgreSQL), {SENDERS} senders",
                rates[2], "--processes 1, the same", rates[1], unit="docs/s")]
