"""Packets per second through each axis/LGSP emulator (``vdxp``, ``lgsp-token``,
``wso2``): send -> list -> get -> acknowledge, with 1 and with 10 polling clients, next
to the bare HTTP echo rate of the same server (``POST /echo``: same process, same
waitress settings, same client library) in the same run.

Each emulator runs in its own process (``docflow axis serve --dialect D``, 4 threads,
SQLite with fsync). One sender queues 4 KB edXML packets for the receiving organs while
each receiver polls its queue through docflow's client for that dialect, fetches each
packet and acknowledges it ``done``; the rate is packets fully acknowledged per second.
A receiver polls far harder than docflow's worker (which polls every ``deliver_every``,
2 s by default, draining up to ten pages a pass): it lists a page, fetches and
acknowledges what is on it, lists again at once only when the page was full, and
otherwise waits 50 ms before its next poll, doubling up to 200 ms while its queue stays
empty (the ``vdxp`` row "fixed 50 ms" never backs off: the harshest load). The goal:
10 polling clients move at least as many packets per second as one (rounds alternate,
best of each kept). Beside the rates, the CPU a packet costs with 10 clients and with 1:
the server's alone, and the server's and the clients' together (they share the machine).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from benchmarks._harness import Row, alternating, sized
from docflow.envelope import build_envelope
from docflow.model import OrganCode, OrganInfo
from docflow.samples import PROVINCE, sample_envelope
from docflow.transport import TokenLgspClient, VxpClient, Wso2Client
from tests.postgres import free_port

PACKETS = sized(300, 22)
ROUNDS = sized(2, 1)
_PAGE, _PAUSE, _MAX_PAUSE = 50, 0.05, 0.2  # a receiver's page and its waits between polls
RECEIVERS = [OrganInfo(OrganCode(f"000.00.{10 + i:02d}.H41"), f"UBND huyện {i}")
             for i in range(10)]
ORGANS = [PROVINCE, *RECEIVERS]
NOTES = ["axis: a receiver lists a page, takes it, and polls again after 50 ms (at once "
         "after a full page), doubling to 200 ms while its queue stays empty (\"fixed 50 "
         "ms\": never backing off); each emulator is a separate `docflow axis serve` "
         "process with 4 threads on SQLite with fsync; \"CPU per packet\": the server "
         "process's CPU time (from /proc) and this process's (the clients'), divided by the "
         "packets, averaged over the rounds"]


def _cpu_seconds(process: subprocess.Popen[str]) -> float:
    """CPU time (user + system) of the server process and its forked workers so far
    (Linux's /proc; NaN elsewhere)."""
    pids = [process.pid]
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
        pids += [int(pid) for pid in children.split()]
        ticks = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, ValueError):
        return float("nan")
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Cpu:
    """CPU spent per packet in the rounds of one workload: the server's, the clients'."""

    server: list[float]
    clients: list[float]

    @staticmethod
    def new() -> _Cpu:
        return _Cpu([], [])

    def ms(self, which: list[float]) -> float:
        return 1000 * sum(which) / len(which) if which else float("nan")


def _secret(organ: OrganInfo) -> str:
    return f"secret-{organ.code}"  # the WSO2 gateway knows its units by their secret


@dataclass(frozen=True)
class Dialect:
    name: str
    systems: str  # the extra tables of the systems file
    client: Callable[[str, OrganInfo], Any]


def _vdxp(url: str, organ: OrganInfo) -> VxpClient:
    return VxpClient(url, str(organ.code), _secret(organ), timeout=30)


def _token(url: str, organ: OrganInfo) -> TokenLgspClient:
    return TokenLgspClient(url, f"unit-{organ.code}", _secret(organ), username="bench",
                           password="bench-password",  # noqa: S106 - the emulator's test account
                           application_code="EOFFICE", timeout=30)


def _wso2(url: str, organ: OrganInfo) -> Wso2Client:
    return Wso2Client(url, "bench-key", "bench-consumer-secret", _secret(organ), timeout=30)


DIALECTS = [
    Dialect("vdxp", "", _vdxp),
    Dialect("lgsp-token", '[[accounts]]\nusername = "bench"\npassword = "bench-password"\n'
            'application_code = "EOFFICE"\n', _token),
    Dialect("wso2", '[[consumers]]\nkey = "bench-key"\nsecret = "bench-consumer-secret"\n',
            _wso2),
]


def _server(home: Path, dialect: Dialect, *,
            processes: int = 1) -> tuple[subprocess.Popen[str], str]:
    lines = [f'[[systems]]\nsystem_id = "{"" if dialect.name == "vdxp" else "unit-"}'
             f'{organ.code}"\nsecret = "{_secret(organ)}"\norgans = ["{organ.code}"]\n'
             for organ in ORGANS]
    systems = home / f"systems-{dialect.name}-{processes}.toml"
    systems.write_text("".join(lines) + dialect.systems, encoding="utf-8")
    port = free_port()
    docflow = Path(sys.executable).with_name("docflow")
    # Its output goes to a file: a pipe nobody reads fills up with waitress's queue-depth
    # warnings and then blocks the server's threads on their next log line.
    log = (home / f"axis-{dialect.name}-{processes}.log").open("w", encoding="utf-8")
    process = subprocess.Popen(
        [str(docflow), "axis", "serve", "--dialect", dialect.name, "--systems", str(systems),
         "--database", f"sqlite:///{home / f'axis-{dialect.name}-{processes}.db'}",
         "--port", str(port), "--processes", str(processes)],
        stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.post(url + "echo", data=b"x", timeout=1).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the {dialect.name} emulator did not start")


def _exchange(url: str, dialect: Dialect, receivers: list[OrganInfo], batch: int, *,
              backoff: bool = True, server: subprocess.Popen[str] | None = None,
              cpu: _Cpu | None = None) -> float:
    packets = {organ.code: [build_envelope(sample_envelope(
        number=str(n), recipients=(organ,), message_id=f"{batch}-{organ.code}-{n}"))
        for n in range(PACKETS // len(receivers))] for organ in receivers}
    clients = {organ.code: dialect.client(url, organ) for organ in (PROVINCE, *receivers)}
    done = [0]
    lock = threading.Lock()

    def send() -> None:
        client = clients[PROVINCE.code]
        for index in range(max(len(items) for items in packets.values())):
            for organ in receivers:
                if index < len(packets[organ.code]):
                    if dialect.name == "vdxp":
                        client.send_edoc(packets[organ.code][index], to=[organ.code])
                    else:  # the LGSPs read the recipients from the packet
                        client.send_edoc(packets[organ.code][index])

    def receive(organ: OrganInfo) -> None:
        client = clients[organ.code]
        expected, got, pause = len(packets[organ.code]), 0, _PAUSE
        while got < expected:
            items = client.received(page_size=_PAGE)
            for item in items:
                client.get_edoc(item.doc_id)
                client.update_status(item.doc_id, "done")
                got += 1
            if len(items) == _PAGE:
                continue  # a full page: more may wait, list again at once
            if got < expected:  # drained: wait before the next poll, longer while idle
                time.sleep(pause)
            pause = _PAUSE if items or not backoff else min(_MAX_PAUSE, pause * 2)
        with lock:
            done[0] += got

    for client in clients.values():  # log in / fetch tokens before the clock starts
        client.received(page_size=1)
    threads = [threading.Thread(target=send)] + [
        threading.Thread(target=receive, args=(organ,)) for organ in receivers]
    server_start, own_start = (_cpu_seconds(server) if server else 0.0), _own_cpu()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if cpu is not None and server is not None:
        cpu.server.append((_cpu_seconds(server) - server_start) / done[0])
        cpu.clients.append((_own_cpu() - own_start) / done[0])
    for client in clients.values():
        client.close()
    return done[0] / elapsed


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


def _measure(url: str, dialect: Dialect, echo: float,
             server: subprocess.Popen[str]) -> list[Row]:
    batches = iter(range(1000))
    cpu_one, cpu_ten = _Cpu.new(), _Cpu.new()
    one, ten = alternating(
        lambda _: _exchange(url, dialect, RECEIVERS[:1], next(batches), server=server,
                            cpu=cpu_one),
        lambda _: _exchange(url, dialect, RECEIVERS, next(batches), server=server,
                            cpu=cpu_ten), rounds=ROUNDS)
    rows = [Row("axis", f"{dialect.name}: send+list+get+ack, 1 polling client", one,
                "bare HTTP echo, same server", echo, unit="packets/s"),
            Row("axis", f"{dialect.name}: 10 polling clients", ten,
                "1 polling client, same server", one, unit="packets/s", goal=1.0),
            # Where the difference goes: the CPU a packet costs, the server's alone and
            # the whole machine's (server + the clients' process), 10 clients against 1.
            Row("axis", f"{dialect.name}: server CPU per packet, 10 polling clients",
                cpu_ten.ms(cpu_ten.server), "1 polling client", cpu_one.ms(cpu_one.server),
                unit="ms", higher_is_better=False),
            Row("axis", f"{dialect.name}: server + clients CPU per packet, 10 polling "
                "clients", cpu_ten.ms(cpu_ten.server) + cpu_ten.ms(cpu_ten.clients),
                "1 polling client", cpu_one.ms(cpu_one.server) + cpu_one.ms(cpu_one.clients),
                unit="ms", higher_is_better=False)]
    if dialect.name == "vdxp":
        harsh = max(_exchange(url, dialect, RECEIVERS, next(batches), backoff=False)
                    for _ in range(ROUNDS))
        rows.append(Row("axis", "vdxp: 10 polling clients, fixed 50 ms", harsh,
                        "1 polling client, same server", one, unit="packets/s"))
    return rows


def _processes(url: str, dialect: Dialect) -> list[Row]:
    """1 and 10 polling clients against 2 server processes sharing the port and the
    database (``axis serve --processes 2``)."""
    batches = iter(range(2000, 3000))
    one, ten = alternating(
        lambda _: _exchange(url, dialect, RECEIVERS[:1], next(batches)),
        lambda _: _exchange(url, dialect, RECEIVERS, next(batches)), rounds=ROUNDS)
    return [Row("axis", f"{dialect.name}, 2 server processes: 10 polling clients", ten,
                "1 polling client, same 2 processes", one, unit="packets/s")]


def run() -> list[Row]:
    body = build_envelope(sample_envelope())
    rows = []
    with tempfile.TemporaryDirectory(prefix="docflow-axis-bench-") as scratch:
        for dialect in DIALECTS:
            process, url = _server(Path(scratch), dialect)
            try:
                rows += _measure(url, dialect, _echo(url, 10, body), process)
            finally:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=30)
        process, url = _server(Path(scratch), DIALECTS[1], processes=2)
        try:
            rows += _processes(url, DIALECTS[1])
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
    return rows
