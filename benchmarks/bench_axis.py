"""Packets per second through the axis emulator: send -> list -> get -> acknowledge, with
1 and with 10 polling clients, next to the bare HTTP echo rate of the same server
(``POST /echo``, same process, same waitress settings, same client library) in the same
run.

The emulator runs in its own process (``docflow axis serve``, 4 threads, SQLite with
fsync). One sender queues 4 KB edXML packets for the receiving organs while each receiver
polls its queue, fetches each packet and acknowledges it ``done``; the rate is packets
fully acknowledged per second.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from benchmarks._harness import Row
from docflow.envelope import build_envelope
from docflow.model import OrganCode, OrganInfo
from docflow.samples import PROVINCE, sample_envelope
from docflow.transport import VxpClient
from tests.postgres import free_port

PACKETS = 300
RECEIVERS = [OrganInfo(OrganCode(f"000.00.{10 + i:02d}.H41"), f"UBND huyện {i}")
             for i in range(10)]


def _server(home: Path) -> tuple[subprocess.Popen[str], str]:
    lines = [f'[[systems]]\nsystem_id = "{PROVINCE.code}"\nsecret = "s"\n']
    lines += [f'[[systems]]\nsystem_id = "{organ.code}"\nsecret = "s"\n' for organ in RECEIVERS]
    (home / "systems.toml").write_text("".join(lines), encoding="utf-8")
    port = free_port()
    docflow = Path(sys.executable).with_name("docflow")
    process = subprocess.Popen(
        [str(docflow), "axis", "serve", "--systems", str(home / "systems.toml"),
         "--database", f"sqlite:///{home / 'axis.db'}", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.post(url + "echo", data=b"x", timeout=1).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the axis emulator did not start")


def _exchange(url: str, receivers: list[OrganInfo], batch: int) -> float:
    packets = {organ.code: [build_envelope(sample_envelope(
        number=str(n), recipients=(organ,), message_id=f"{batch}-{organ.code}-{n}"))
        for n in range(PACKETS // len(receivers))] for organ in receivers}
    done = [0]
    lock = threading.Lock()

    def send() -> None:
        client = VxpClient(url, str(PROVINCE.code), "s", timeout=30)
        for index in range(max(len(items) for items in packets.values())):
            for organ in receivers:
                if index < len(packets[organ.code]):
                    client.send_edoc(packets[organ.code][index], to=[organ.code])
        client.close()

    def receive(organ: OrganInfo) -> None:
        client = VxpClient(url, str(organ.code), "s", timeout=30)
        expected, got = len(packets[organ.code]), 0
        while got < expected:
            items = client.received(page_size=50)
            if not items:
                time.sleep(0.05)  # an empty queue: poll again shortly, as clients do
            for item in items:
                client.get_edoc(item.doc_id)
                client.update_status(item.doc_id, "done")
                got += 1
        with lock:
            done[0] += got
        client.close()

    threads = [threading.Thread(target=send)] + [
        threading.Thread(target=receive, args=(organ,)) for organ in receivers]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.perf_counter() - start)


def _echo(url: str, clients: int, body: bytes) -> float:
    count = PACKETS * 2 // clients

    def work() -> None:
        session = requests.Session()
        for _ in range(count):
            session.post(url + "echo", data=body, timeout=30)
        session.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count * clients / (time.perf_counter() - start)


def run() -> list[Row]:
    body = build_envelope(sample_envelope())
    rows = []
    with tempfile.TemporaryDirectory(prefix="docflow-axis-bench-") as scratch:
        process, url = _server(Path(scratch))
        try:
            for batch, clients in enumerate((1, 10)):
                ours = _exchange(url, RECEIVERS[:clients], batch)
                echo = _echo(url, clients, body)
                rows.append(Row("axis", f"send+list+get+ack, {clients} polling client(s)",
                                ours, "bare HTTP echo, same server", echo, unit="packets/s"))
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
    return rows
