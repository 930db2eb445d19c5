"""A province as real processes: every organ and hub a ``docflow serve`` process with its
own home (keys, node.toml, SQLite database), talking SOAP over 127.0.0.1; processes are
killed with SIGKILL at random moments and restarted, and the invariants are then checked
from the databases. Given network faults, every request also crosses a
:class:`~docflow.harness.proxy.FaultyProxy` that loses, duplicates, delays and tampers.

This is the crash-safety harness: a SIGKILL can land anywhere (inside a store
transaction, between a send and its acknowledgement, between a pull and its
acknowledgement), and after restarts every copy must still be delivered exactly once,
with the sender's view equal to the receiver's state and every audit chain intact.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from docflow import __version__
from docflow.config import load_config, write_config
from docflow.envelope import parse_envelope
from docflow.errors import ConfigError
from docflow.harness.faults import Faults
from docflow.harness.proxy import FaultyProxy, ProxyStats
from docflow.harness.report import audit_invariant, copy_invariants
from docflow.lifecycle import DeliveryState, TransportState
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.routing import Directory
from docflow.samples import sample_envelope
from docflow.security import Credentials, KeyType, create_ca, issue_certificate
from docflow.store import Store

__all__ = ["CrashReport", "ProcessNetwork"]

_Sent = tuple[str, int, str, tuple[str, ...]]  # sender, document ref, message id, to


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports of 127.0.0.1 (all held open while they are chosen:
    one at a time, the system may hand out the same port twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class CrashReport:
    """What a process run did and found."""

    documents: int
    copies: int
    kills: int
    delivered: int
    lost: int
    duplicated: int
    diverged: int
    audits_broken: list[str]
    wall_seconds: float
    problems: list[str] = field(default_factory=list)
    #: copies whose content (metadata, attachments, message id) is not what was signed
    content_mismatches: int = 0
    #: what the faulty network did (None: no network faults)
    network: ProxyStats | None = None
    #: what reproduces the run (as the in-process report says it)
    seed: int = 0
    faults: str = ""
    directory: str = ""
    version: str = ""

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing duplicated, views agree, every copy holds what was
        signed, no tampered request accepted, audit chains intact."""
        tampered = self.network is not None and self.network.tampered_accepted > 0
        return not (self.lost or self.duplicated or self.diverged or self.content_mismatches
                    or tampered or self.audits_broken)

    def to_json(self) -> str:
        """The report as JSON, with ``ok``: the fields the in-process report names alike
        (documents, copies, lost, duplicated, diverged, content_mismatches,
        audits_broken, wall_seconds, seed, faults, directory, version) carry the same
        names."""
        return json.dumps({**asdict(self), "ok": self.ok}, ensure_ascii=False, indent=2)

    def invariants(self) -> list[tuple[str, str, bool]]:
        """Each invariant by name, with its count, and whether it holds."""
        tampered = self.network.tampered_accepted if self.network is not None else 0
        return [
            *copy_invariants(self.delivered, self.copies, self.lost, self.duplicated,
                             self.diverged, self.content_mismatches),
            ("no tampered request accepted", f"{tampered} accepted", not tampered),
            audit_invariant(self.audits_broken),
        ]

    def summary(self) -> str:
        """A readable summary."""
        lines = [f"{'ALL INVARIANTS HOLD' if self.ok else 'INVARIANTS VIOLATED'}",
                 f"run         seed {self.seed}, directory {self.directory or '?'}, faults "
                 f"{self.faults or 'none'}, docflow {self.version or '?'}",
                 f"workload    {self.documents} documents, {self.copies} copies, {self.kills} "
                 f"processes killed with SIGKILL ({self.wall_seconds:.0f} s)"]
        if self.network is not None:
            n = self.network
            lines.append(f"network     {n.requests} requests; dropped {n.dropped}, replies "
                         f"lost {n.replies_lost}, duplicated {n.duplicated}, delayed "
                         f"{n.delayed}, tampered {n.tampered_requests} requests (accepted "
                         f"{n.tampered_accepted}) and {n.tampered_replies} replies")
        lines.append("invariants")
        lines += [f"  {'ok  ' if holds else 'FAIL'} {name}: {counts}"
                  for name, counts, holds in self.invariants()]
        lines += [f"problem     {problem}" for problem in self.problems[:10]]
        return "\n".join(lines)


class ProcessNetwork:
    """Homes and ``docflow serve`` processes for every organ and hub of ``directory``.

    Args:
        directory_toml: the directory (endpoints are filled in with free ports).
        home: where the homes go.
        deliver_every: seconds between each process's outbox passes.
        faults: network faults (drop, duplicate, delay, tamper) between the processes,
            through a proxy in front of each; crashes are :meth:`run`'s ``kills``.
    """

    def __init__(self, directory_toml: str, home: Path, *, deliver_every: float = 0.2,
                 faults: Faults | None = None):
        faults = faults or Faults()
        if faults.crash or faults.hub_down or faults.skew:
            raise ConfigError(
                "the process network injects drop, duplicate, delay and tamper only",
                where=faults.describe(),
                hint="crashes are real SIGKILLs here: run(kills=N), or --kills N")
        self.faults = faults
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        plain = Directory.from_toml_text(directory_toml)
        codes = [str(code) for code in [*plain.hubs, *plain.entries]]
        ports = _free_ports(2 * len(codes) if self._faulty else len(codes))
        #: where each process listens
        self.ports = dict(zip(codes, ports, strict=False))
        #: the endpoint the directory gives (a proxy's port when the network is faulty)
        self.public = (dict(zip(codes, ports[len(codes):], strict=True)) if self._faulty
                       else dict(self.ports))
        self.proxy: FaultyProxy | None = None
        self.directory_file = self.home / "directory.toml"
        self.directory_file.write_text(self._with_endpoints(directory_toml), encoding="utf-8")
        self.directory = Directory.from_toml(self.directory_file)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._docflow = Path(sys.executable).with_name("docflow")
        self._make_homes(deliver_every)

    def _with_endpoints(self, text: str) -> str:
        lines = []
        for line in text.splitlines():
            lines.append(line)
            stripped = line.strip()
            if stripped.startswith("code = "):
                code = stripped.split("=", 1)[1].strip().strip('"')
                if code in self.public:
                    lines.append(f'endpoint = "http://127.0.0.1:{self.public[code]}/"')
        return "\n".join(lines) + "\n"

    def _make_homes(self, deliver_every: float) -> None:
        now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        ca = create_ca("Process network CA", now=now, key_type=KeyType.ECDSA_P256)
        (self.home / "ca.crt").write_bytes(ca.certificate_pem())
        organs = [(code, hub.name, True) for code, hub in self.directory.hubs.items()]
        organs += [(entry.code, entry.organ.name, False) for entry in self.directory]
        for code, name, is_hub in organs:
            home = self.home / str(code)
            (home / "keys").mkdir(parents=True, exist_ok=True)
            (home / "trust").mkdir(exist_ok=True)
            (home / "trust" / "ca.crt").write_bytes(ca.certificate_pem())
            credentials: Credentials = issue_certificate(ca, code, name, now=now,
                                                         key_type=KeyType.ECDSA_P256)
            credentials.save(home / "keys" / "organ.key", home / "keys" / "organ.crt")
            (home / "directory.toml").write_bytes(self.directory_file.read_bytes())
            write_config(home, OrganInfo(code, name), port=self.ports[str(code)],
                         directory="directory.toml", role="hub" if is_hub else "node")
            # Quick workers and short leases: a killed worker's claims return in seconds.
            config = home / "node.toml"
            config.write_text(config.read_text(encoding="utf-8").replace(
                "[peers]", f"deliver_every = {deliver_every}\nlease = 3.0\n"
                "retry_intervals = [0.5, 1.0, 2.0]\nmax_attempts = 1000\n\n[peers]"),
                encoding="utf-8")
            Store.open(load_config(home).database).close()

    @property
    def _faulty(self) -> bool:
        f = self.faults
        return bool(f.drop or f.duplicate or f.delay or f.tamper)

    # ------------------------------------------------------------------ processes

    def start(self, code: str) -> None:
        """Start (or restart) the process of one organ or hub."""
        self.processes[code] = subprocess.Popen(  # noqa: S603 - our own entry point
            [str(self._docflow), "serve", "--home", str(self.home / code)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"})

    def start_all(self, timeout: float = 60.0) -> None:
        """Start every process and wait until each answers."""
        for code in self.ports:
            self.start(code)
        for code in self.ports:
            self.wait_up(code, timeout)

    def wait_up(self, code: str, timeout: float = 60.0) -> None:
        """Wait until ``code``'s endpoint accepts connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.ports[code]), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise ConfigError(f"{code} did not start", where=str(self.home / code))

    def kill(self, code: str) -> None:
        """SIGKILL a process: no cleanup, wherever it is."""
        process = self.processes.get(code)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        """SIGTERM every process and wait for it."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    # ------------------------------------------------------------------ the run

    def run(self, documents: int, *, kills: int, seed: int = 1, timeout: float = 120.0,
            progress: Callable[[str], None] | None = None) -> CrashReport:
        """Send ``documents`` letters between random organs while ``kills`` random
        processes (senders, hubs, receivers) are SIGKILLed and restarted; wait until
        every copy is settled; check the invariants."""
        rng = random.Random(seed)
        started = time.monotonic()
        sent: list[_Sent] = []
        if self._faulty:
            self.proxy = FaultyProxy(
                {self.public[code]: f"http://127.0.0.1:{self.ports[code]}/"
                 for code in self.ports}, self.faults, seed=seed)
            self.proxy.serve()
        try:
            killed = self._send_and_kill(documents, kills, seed, rng, sent, progress)
            deadline = time.monotonic() + timeout
            while not (settled := self._settled(sent)) and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            if self.proxy is not None:
                self.proxy.close()  # late (delayed) requests land before the nodes stop
            self.stop_all()
        report = self._report(sent, killed, time.monotonic() - started, seed)
        if not settled:
            report.problems.insert(0, f"not every copy had arrived after {timeout:.0f} s")
        return report

    def _send_and_kill(self, documents: int, kills: int, seed: int, rng: random.Random,
                       sent: list[_Sent], progress: Callable[[str], None] | None) -> int:
        """Start every process, send the letters (``sent`` grows as they go), kill and
        restart processes on the way; returns how many were killed."""
        organs = [str(entry.code) for entry in self.directory]
        if len(organs) < 3:
            raise ConfigError(
                f"the directory is too small to simulate: it needs at least 3 organs (it has "
                f"{len(organs)})", where="simulation directory",
                hint="each letter goes from one organ to one or two others; add organs "
                     "under [[organs]]")
        kill_at = sorted(rng.sample(range(documents), min(kills, documents)))
        killed = 0
        self.start_all()
        for number in range(documents):
            sender = rng.choice(organs)
            recipients = tuple(rng.sample([o for o in organs if o != sender],
                                          rng.randint(1, 2)))
            config = load_config(self.home / sender)
            node = Node.from_config(config)
            try:
                envelope = sample_envelope(
                    number=str(number + 1), sender=node.organ,
                    recipients=tuple(self.directory.entry(r).organ.info() for r in recipients),
                    date=dt.datetime.now(dt.UTC).date(), message_id=f"proc-{seed}-{number}")
                record = node.send(envelope.info, envelope.attachments,
                                   message_id=envelope.message_id)
            finally:
                node.store.close()
            sent.append((sender, record.document_ref, envelope.message_id, recipients))
            while kill_at and kill_at[0] == number:
                kill_at.pop(0)
                # The province hub first (every packet crosses it), then anyone.
                busiest = max(self.directory.hubs,
                              key=lambda hub: len(self.directory.served_by(hub)))
                victim = str(busiest) if killed == 0 else rng.choice(list(self.ports))
                time.sleep(rng.uniform(0.0, 0.4))  # land somewhere in its work
                self.kill(victim)
                killed += 1
                if progress:
                    progress(f"killed {victim}")
                time.sleep(rng.uniform(0.1, 0.5))
                self.start(victim)
        return killed

    def _settled(self, sent: list[_Sent]) -> bool:
        for sender, ref, _, _ in sent:
            with Store(load_config(self.home / sender).database) as store:
                copies = [d for d in store.queries.deliveries(document_ref=ref).items
                          if d.kind == "document"]
                if any(d.business_state != DeliveryState.ARRIVED for d in copies):
                    return False
        return True

    def _report(self, sent: list[_Sent], kills: int, seconds: float, seed: int) -> CrashReport:
        copies = delivered = lost = duplicated = diverged = mismatched = 0
        problems: list[str] = []
        for sender, ref, message_id, recipients in sent:
            with Store(load_config(self.home / sender).database) as store:
                views = {d.recipient: d for d in store.queries.deliveries(document_ref=ref).items
                         if d.kind == "document"}
                signed = parse_envelope(store.queries.packet(ref))
            for recipient in recipients:
                copies += 1
                with Store(load_config(self.home / recipient).database) as store:
                    held = [d for d in store.queries.documents(direction="in",
                                                               organ=OrganCode(recipient),
                                                               page_size=1000).items
                            if d.message_id == message_id]
                    received = [parse_envelope(store.queries.packet(d.id)) for d in held
                                if store.queries.tombstone(d.id) is None]  # not destroyed
                if any((copy.info, copy.attachments) != (signed.info, signed.attachments)
                       for copy in received):
                    mismatched += 1
                    problems.append(f"{message_id} -> {recipient}: content differs")
                if not held:
                    lost += 1
                    problems.append(f"{message_id} -> {recipient}: lost")
                    continue
                delivered += 1
                duplicated += len(held) - 1
                view = views[recipient]
                if (view.transport_state, view.business_state) != (TransportState.ACKNOWLEDGED,
                                                                   DeliveryState.ARRIVED):
                    diverged += 1
                    problems.append(f"{message_id} -> {recipient}: sender sees "
                                    f"{view.transport_state}/{view.business_state}")
        broken = []
        for code in self.ports:
            with Store(load_config(self.home / code).database) as store:
                if not store.audit.verify().ok:
                    broken.append(code)
        return CrashReport(len(sent), copies, kills, delivered, lost, duplicated, diverged,
                           broken, seconds, problems, mismatched,
                           self.proxy.stats if self.proxy is not None else None,
                           seed=seed, faults=self.faults.describe() if self.faults else "",
                           version=__version__)
