"""The province simulator on every core: :class:`PartitionedSimulation`.

The organs are split over worker processes (:func:`partition`: each district with its
communes in one process, the province's own organs spread between them). A process runs
its organs' nodes on a SQLite database of its own and an instance of every hub on the hubs'
database, which all processes share, as the processes of one LGSP share its database
(``docflow serve --processes``). **Transport**: inside a process, an in-memory network
with the configured faults between its nodes and its hub instances; between processes,
nothing but the hubs' shared database: a copy a hub took in one process is pushed on (or
pulled) in the process of its recipient.

The rounds go in lockstep. This process (the coordinator) sends each phase to every worker
and waits for all of them, so that no process reads what another writes in the same phase:

1. ``begin``: restarts, crashes and hub outages (each process draws the same, for every
   organ), the round's sends, the delayed packets arriving;
2. ``take``: each process's hub instances claim the copies due for its organs;
3. ``push``: they push them on, in the order of their message ids; every node makes its
   outbox pass;
4. ``documents``: the pulling organs pull their documents (an acknowledgement relays a
   receipt: a status, which nobody pulls in this phase);
5. ``statuses``: they pull their statuses (an acknowledgement writes nothing new);
6. ``act``: receivers work their inboxes, senders recall and replace; each process says
   whether it is still busy.

Randomness is drawn per thing decided (:func:`~docflow.harness.faults.keyed`), never from
a stream shared by what happens in some order: the same seed and number of processes give
the same report. When nothing moves, the coordinator opens every database and checks the
invariants exactly as the single-process :class:`~docflow.harness.simulator.Simulation`
does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import multiprocessing
import re
import shutil
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from docflow.errors import ConfigError, DocflowError
from docflow.harness.faults import FaultStats, keyed
from docflow.harness.report import SimulationReport
from docflow.harness.simulation_config import SimulationConfig
from docflow.harness.simulator import (
    START,
    Elsewhere,
    Member,
    Sent,
    Simulation,
    province_pki,
)
from docflow.harness.workload import Plan, plan_workload
from docflow.hub import Hub
from docflow.model import OrganCode
from docflow.routing import Directory
from docflow.security import Credentials
from docflow.spool import PacketData, as_bytes
from docflow.store import Claim, Store, sqlite_url
from docflow.store.protocols import NodeStore

__all__ = ["PartitionedSimulation", "partition", "workload_load"]

#: the organ a packet is from (the first OrganId: the From of a document or a status)
_ORIGIN = re.compile(rb"<(?:\w+:)?OrganId>([^<]*)<")
#: the phases of a round, in order
PHASES = ("begin", "take", "push", "documents", "statuses", "act")
#: the pull phases, and the kind of packet each pulls
_PULLS = {"documents": "document", "statuses": "status"}
_HUBS = -1  # the hubs' database, in the layout of the files
#: what every process counts alike (each draws the crashes and outages for all organs)
_EVERYWHERE = frozenset({"crashes", "hub_outages"})


def partition(directory: Directory, processes: int,
              load: Mapping[OrganCode, float] | None = None) -> dict[OrganCode, int]:
    """Which process runs each organ: the organs of a district (the district and every
    organ under it) stay together; the groups go, heaviest first, to the process with the
    least load so far (ties to the lowest number). An organ's load is ``load[code]`` (at
    least 1: each organ costs its passes), or 1 without it. Hubs are in every process."""
    if processes < 1:
        raise ConfigError(f"a simulation needs at least one process, not {processes}")
    groups: dict[OrganCode, list[OrganCode]] = {}
    for entry in directory:
        head, organ = entry.code, entry.organ
        while organ.level not in ("district", "province", "department") and organ.parent \
                and organ.parent in directory:
            head, organ = organ.parent, directory.entry(organ.parent).organ
        groups.setdefault(head, []).append(entry.code)
    def weight(codes: list[OrganCode]) -> float:
        return sum(max(1.0, (load or {}).get(code, 1.0)) for code in codes)

    loads = [0.0] * processes
    owners: dict[OrganCode, int] = {}
    for _, codes in sorted(groups.items(), key=lambda item: (-weight(item[1]), str(item[0]))):
        index = loads.index(min(loads))
        loads[index] += weight(codes)
        owners.update(dict.fromkeys(codes, index))
    return owners


def workload_load(plans: list[Plan]) -> dict[OrganCode, float]:
    """What each organ will handle in a planned workload: a sender the statuses of every
    copy it sends (about four each: received, accepted, processing, completed), a
    recipient the copy (a heavy broadcaster weighs as it will work)."""
    load: dict[OrganCode, float] = {}
    for plan in plans:
        load[plan.sender] = load.get(plan.sender, 0.0) + 4 * len(plan.recipients)
        for recipient in plan.recipients:
            load[recipient] = load.get(recipient, 0.0) + 4
    return load


def _origin(packet: PacketData) -> bytes:
    found = _ORIGIN.search(as_bytes(packet))
    return found.group(1) if found else b""


def _order(claims: list[Claim]) -> list[Claim]:
    """Claims in an order that does not depend on which process stored them first: by
    message id, kind, recipient and the organ the packet is from (one organ's packets
    about one message keep the order it sent them in)."""
    return sorted(claims, key=lambda c: (c.message_id or "", c.kind, c.recipient,
                                         _origin(c.packet)))


@dataclass(frozen=True)
class _Pki:
    """The province's CA and every member's key, as PEM (what crosses to a worker)."""

    ca: tuple[bytes, bytes]
    members: dict[str, tuple[bytes, bytes]]

    @classmethod
    def of(cls, ca: Credentials, members: dict[OrganCode, Credentials]) -> _Pki:
        def pem(credentials: Credentials) -> tuple[bytes, bytes]:
            return credentials.private_key_pem(), credentials.certificate_pem()
        return cls(pem(ca), {str(code): pem(c) for code, c in members.items()})

    def load(self) -> tuple[Credentials, dict[OrganCode, Credentials]]:
        return (Credentials.from_pem(*self.ca),
                {OrganCode.parse(code): Credentials.from_pem(*pems)
                 for code, pems in self.members.items()})


@dataclass(frozen=True)
class _Layout:
    """Where the rows are: the hubs' database, and one database per process."""

    home: Path
    owners: dict[OrganCode, int]

    def path(self, key: int) -> Path:
        return self.home / ("hubs.db" if key == _HUBS else f"part-{key}.db")

    def key(self, code: OrganCode, hub: bool) -> int:
        return _HUBS if hub else self.owners[code]


class _Part(Simulation):
    """The members of one process (``index``), or of all (``index`` None: the
    coordinator's check at the end), on the databases of the layout."""

    def __init__(self, directory: Directory, config: SimulationConfig, layout: _Layout,
                 pki: _Pki, index: int | None):
        self.layout, self.index, self._pki = layout, index, pki
        self._open: dict[int, Store] = {}
        self._claims: list[tuple[Hub, list[Claim]]] = []
        super().__init__(directory, layout.home, config)
        self.plans: list[Plan] = plan_workload(self.directory, config,
                                               keyed(config.seed, "draw:workload"))
        self.number, self.moved = 0, 0
        self._window = self._hub_window()
        #: this process's organs that are pushed to (the others pull)
        self._pushed_to = [code for code, member in self.members.items()
                           if self._local(code, member.hub) and not member.hub
                           and not member.pull]

    # -- where the members run, and on which database

    def _credentials(self, issued: dt.datetime
                     ) -> tuple[Credentials, dict[OrganCode, Credentials]]:
        return self._pki.load()

    def _files(self) -> Callable[[OrganCode], str]:
        hubs = set(self.directory.hubs)
        return lambda code: sqlite_url(self.layout.path(self.layout.key(code, code in hubs)))

    def _local(self, code: OrganCode, hub: bool) -> bool:
        return hub or self.index is None or self.layout.owners[code] == self.index

    def _store(self, member: Member, clock: Callable[[], dt.datetime]) -> Store:
        key = self.layout.key(member.code, member.hub)
        if key not in self._open:  # its retry jitter drawn from its own seed
            self._open[key] = Store(member.url, retry=self.config.retry,
                                    durable=self.config.durable, shared_writers=key == _HUBS,
                                    rnd=keyed(self.config.seed, "jitter", self.index, key).random)
        return self._open[key]

    def _start(self, member: Member) -> None:
        if not self._local(member.code, member.hub):
            member.service = Elsewhere()
            return
        super()._start(member)

    def _keeps(self, store: NodeStore) -> bool:
        return True  # every store is shared by the members of the process

    def close(self) -> None:
        super().close()
        for store in self._open.values():
            store.close()
        self._open.clear()

    # -- the phases of a round

    def begin(self, round_no: int) -> None:
        self._disrupt(round_no, self._window)
        while self.number < len(self.plans) and self.plans[self.number].at_round <= round_no:
            if not self._send(self.plans[self.number], self.number + 1):
                break  # its sender is down: it goes out in a later round
            self.number += 1
        self.moved = self.transport.flush_delayed()

    def take(self) -> None:
        self._claims = [(hub, _order(hub.claim(limit=1_000_000, recipients=self._pushed_to)))
                        for _, hub in self.hubs()]

    def push(self) -> None:
        for hub, claims in self._claims:
            self.moved += hub.forward(claims).forwarded
        self._claims = []
        for _, node in self.nodes():
            self.moved += node.deliver(limit=500).delivered

    def pull(self, kind: str) -> None:
        """The pulling organs pull their packets of one ``kind``."""
        for member, node in self.nodes():
            if not member.pull:
                continue
            try:
                report = node.pull(limit=100, kinds=(kind,))
            except DocflowError as exc:  # its hub is down: try next round
                self.counters.errors.append(f"{member.code} pull: {exc}")
                continue
            self.moved += report.documents + report.statuses
            if report.documents:
                self._active.add(member.code)

    def act(self, round_no: int) -> tuple[int, bool]:
        """Receivers and senders work; the clock moves on. Returns how many documents
        were sent so far and whether this process still has something to do."""
        self._active |= {code for code in self.transport.arrivals if code in self.members}
        self.transport.arrivals.clear()
        self.moved += self._act() + self._recall(round_no)
        self.clock.now += dt.timedelta(seconds=self.config.tick)
        busy = bool(self.moved or self.number < len(self.plans) or self.transport.delayed
                    or self._changes or self._pending()
                    or any(m.down_until >= round_no for m in self.members.values()))
        return self.number, busy

    def outcome(self) -> tuple[list[Sent], dict[str, Any], FaultStats]:
        """What this process sent and counted, for the coordinator's report."""
        return self.sent, dataclasses.asdict(self.counters), self.transport.stats


def _work(directory: Directory, config: SimulationConfig, layout: _Layout, pki: _Pki,
          index: int, conn: Connection) -> None:
    """A worker process: build its part, then do what the coordinator says."""
    part = None
    try:
        part = _Part(directory, config, layout, pki, index)
        conn.send(("ready", None))
        while True:
            command, round_no = conn.recv()
            if command == "begin":
                part.begin(round_no)
            elif command == "take":
                part.take()
            elif command == "push":
                part.push()
            elif command in _PULLS:
                part.pull(_PULLS[command])
            elif command == "act":
                conn.send(("done", part.act(round_no)))
                continue
            elif command == "finish":
                conn.send(("done", part.outcome()))
                return
            conn.send(("done", None))
    except EOFError:  # the coordinator is gone (it stopped the run): nothing to report
        pass
    except BaseException:  # the coordinator reports it and stops the others
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
    finally:
        if part is not None:
            part.close()
        conn.close()


class PartitionedSimulation:
    """A province simulated by ``processes`` worker processes (see the module docstring).

    Args:
        directory: the organs and hubs.
        home: a folder for the databases (``hubs.db``, ``part-N.db``).
        config: the workload and faults (the reform scenario runs in one process only).
        processes: how many worker processes.
    """

    def __init__(self, directory: Directory, home: Path, config: SimulationConfig,
                 processes: int):
        if config.reform is not None:
            raise ConfigError("the reform scenario runs in one process",
                              hint="simulate it without --workers")
        self.directory, self.home, self.config = directory, Path(home), config
        plans = plan_workload(directory, config, keyed(config.seed, "draw:workload"))
        self.layout = _Layout(self.home, partition(directory, processes, workload_load(plans)))
        self.processes = processes

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimulationReport:
        """Run to the end (nothing left to move) and check the invariants from every
        database."""
        self.home.mkdir(parents=True, exist_ok=True)
        template = self.home / "template.db"
        Store.open(sqlite_url(template)).close()
        for key in (_HUBS, *range(self.processes)):
            shutil.copyfile(template, self.layout.path(key))
        template.unlink()
        issued = START - dt.timedelta(days=1)  # as Simulation issues them
        pki = _Pki.of(*province_pki(self.directory, issued))
        context = multiprocessing.get_context("spawn")
        pipes = [context.Pipe() for _ in range(self.processes)]
        workers = [context.Process(target=_work, daemon=True, args=(
            self.directory, self.config, self.layout, pki, index, child))
            for index, (_, child) in enumerate(pipes)]
        for worker in workers:
            worker.start()
        for _, child in pipes:
            child.close()  # the worker holds its end: its death is an EOF here
        conns = [parent for parent, _ in pipes]
        try:
            self._all(conns, None)
            started = time.perf_counter()
            rounds = self._rounds(conns, progress)
            wall = time.perf_counter() - started
            outcomes = self._all(conns, ("finish", 0))
        finally:
            for conn in conns:  # a worker still waiting for a phase reads the end
                conn.close()
            for worker in workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.kill()
        return self._report(pki, rounds, wall, outcomes)

    @staticmethod
    def _all(conns: list[Connection], command: tuple[str, int] | None) -> list[Any]:
        """Send ``command`` to every worker (None: only wait) and wait for every answer."""
        if command is not None:
            for conn in conns:
                conn.send(command)
        answers = []
        for index, conn in enumerate(conns):
            try:
                kind, value = conn.recv()
            except EOFError:
                raise ConfigError(f"simulation worker {index} died",
                                  hint="run it again with fewer documents or processes; "
                                       "its error is above") from None
            if kind == "error":
                raise ConfigError(f"simulation worker {index} failed:\n{value}")
            answers.append(value)
        return answers

    def _rounds(self, conns: list[Connection], progress: Callable[[int, int], None] | None
                ) -> int:
        quiet, round_no = 0, 0
        for round_no in range(self.config.max_rounds):
            for phase in PHASES[:-1]:
                self._all(conns, (phase, round_no))
            answers = self._all(conns, ("act", round_no))
            number = answers[0][0]
            if progress is not None:
                progress(number, self.config.documents)
            quiet = 0 if any(busy for _, busy in answers) else quiet + 1
            if quiet >= 2:
                break
        return round_no + 1

    def _report(self, pki: _Pki, rounds: int, wall: float,
                outcomes: list[tuple[list[Sent], dict[str, Any], FaultStats]]
                ) -> SimulationReport:
        checker = _Part(self.directory, self.config, self.layout, pki, None)
        try:
            checker.clock.now += dt.timedelta(seconds=rounds * self.config.tick)
            checker.sent = sorted((one for sent, _, _ in outcomes for one in sent),
                                  key=lambda s: (s.at, s.message_id))
            for index, (_, counters, _) in enumerate(outcomes):
                for name, value in counters.items():
                    if name == "errors":
                        checker.counters.errors.extend(value)
                    elif index == 0 or name not in _EVERYWHERE:
                        setattr(checker.counters, name, getattr(checker.counters, name) + value)
            checker.transport.stats = _merged([stats for _, _, stats in outcomes])
            report = checker.report(wall)
            return dataclasses.replace(report, rounds=rounds,
                                       simulated_seconds=rounds * self.config.tick)
        finally:
            checker.close()


def _merged(parts: list[FaultStats]) -> FaultStats:
    total = FaultStats()
    for stats in parts:
        for field in dataclasses.fields(FaultStats):
            if field.name == "refusals":
                for name, count in stats.refusals.items():
                    total.refusals[name] = total.refusals.get(name, 0) + count
            else:
                setattr(total, field.name, getattr(total, field.name) + getattr(stats, field.name))
    return total

