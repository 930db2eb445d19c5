"""The province simulator: every organ and hub of a directory as a node in one process,
each with its own keys and SQLite store, over a faulty in-memory network.

The run goes in rounds of simulated time (``tick`` seconds): documents are sent on a
workload schedule, hubs and nodes run their outbox workers, pulling organs pull,
receivers work through their inboxes (accept or reject, then process and complete),
senders recall some documents; faults are injected as configured. When nothing is left
to move, the invariants are checked from the stores themselves (not from the simulator's
own bookkeeping) and a :class:`~docflow.harness.report.SimulationReport` is returned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from docflow import __version__
from docflow.envelope import Envelope, parse_envelope
from docflow.errors import ConfigError, DocflowError, LifecycleError
from docflow.harness.faults import FaultyTransport, keyed
from docflow.harness.reorganisation import Reorganisation
from docflow.harness.report import Latency, SimulationReport
from docflow.harness.simulation_config import SimulationConfig
from docflow.harness.workload import Plan, plan_workload
from docflow.hub import Hub
from docflow.lifecycle import (
    DeliveryState,
    IncomingState,
    OutgoingState,
    TransportState,
)
from docflow.model import (
    DOCUMENT_TYPES,
    Attachment,
    DocumentInfo,
    OrganCode,
    OrganInfo,
    Signer,
)
from docflow.node import Node
from docflow.routing import Directory
from docflow.security import Credentials, KeyType, TrustStore, create_ca, issue_certificate
from docflow.store import DocumentView, Page, Store, sqlite_url
from docflow.store.protocols import NodeStore
from docflow.transport import InMemoryTransport

__all__ = ["START", "Elsewhere", "Member", "Sent", "Simulation", "SimulationConfig",
           "province_pki"]

def _version() -> str:
    return __version__


#: Receiver state -> the sender's view of that copy when both agree.
_SENDER_VIEW: dict[str, str] = {IncomingState.RECEIVED: DeliveryState.ARRIVED}
_ACTIVE = (IncomingState.RECEIVED, IncomingState.ACCEPTED, IncomingState.PROCESSING)


class _Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


class _Skewed:
    def __init__(self, base: _Clock, offset: float):
        self.base, self.offset = base, dt.timedelta(seconds=offset)

    def __call__(self) -> dt.datetime:
        return self.base.now + self.offset


@dataclass
class Sent:
    """A document the simulation sent (checked at the end)."""

    sender: OrganCode
    document_ref: int
    message_id: str
    recipients: tuple[OrganCode, ...]
    at: dt.datetime
    changed: bool = False  # recalled or replaced once (the simulation changes each once)


#: when a simulated run starts (its certificates are issued a day before)
START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


class Elsewhere:
    """The service of a member another process runs (it is up)."""


def province_pki(directory: Directory, issued: dt.datetime
                 ) -> tuple[Credentials, dict[OrganCode, Credentials]]:
    """A CA for a simulated province and a certificate for each of its hubs and organs
    (ECDSA P-256), valid from ``issued``."""
    ca = create_ca("Simulated province CA", now=issued, key_type=KeyType.ECDSA_P256)
    members = [(hub.code, hub.name) for hub in directory.hubs.values()]
    members += [(entry.code, entry.organ.name) for entry in directory]
    return ca, {code: issue_certificate(ca, code, name, now=issued,
                                        key_type=KeyType.ECDSA_P256)
                for code, name in members}


@dataclass
class Member:
    """One node or hub of the simulated network, and what it needs to restart."""

    code: OrganCode
    info: OrganInfo
    credentials: Credentials
    url: str
    offset: float
    level: str
    hub: bool
    pull: bool = False
    service: Node | Hub | Elsewhere | None = None
    down_until: int = -1


@dataclass
class _Counters:
    crashes: int = 0
    hub_outages: int = 0
    recalls: int = 0
    replacements: int = 0
    rejects: int = 0
    errors: list[str] = field(default_factory=list)


class Simulation:
    """A whole directory as nodes in one process (see the module docstring).

    Args:
        directory: the organs and hubs.
        home: a folder for the stores (one SQLite file per node).
        config: the workload and faults.
    """

    def __init__(self, directory: Directory, home: Path, config: SimulationConfig):
        self.directory = directory
        self.home = Path(home)
        self.config = config
        self.rng = random.Random(config.seed)
        self.clock = _Clock(START)
        self.network = InMemoryTransport(record=False)
        self.transport = FaultyTransport(self.network, config.faults, config.seed + 1)
        self.members: dict[OrganCode, Member] = {}
        self.sent: list[Sent] = []
        self.counters = _Counters()
        #: sent documents decided on for a recall or replacement, by the round it is due
        self._changes: dict[int, list[Sent]] = {}
        self._decided = 0  # how many of ``sent`` were considered for a change
        self._active: set[OrganCode] = set()
        self._shared: Store | None = None
        #: the reform scenario, when the configuration has one
        self.reorganisation = (None if config.reform is None else
                               Reorganisation(config.reform, config.send_rounds // 2,
                                              directory))
        self._build()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        issued = self.clock() - dt.timedelta(days=1)
        #: the simulated province's CA (it also issues officials' certificates)
        self.ca, credentials = self._credentials(issued)
        self.trust = TrustStore([self.ca.certificate], clock=self.clock)
        urls = self._files()
        skew = self.config.faults.skew
        organs = [(hub.code, hub.name, "hub", True, False)
                  for hub in self.directory.hubs.values()]
        organs += [(e.code, e.organ.name, e.organ.level, False, e.pull)
                   for e in self.directory]
        for code, name, level, is_hub, pull in organs:
            member = Member(
                code=code, info=OrganInfo(code, name), credentials=credentials[code],
                url=urls(code), offset=self.rng.uniform(-skew, skew) if skew else 0.0,
                level=level, hub=is_hub, pull=pull,
            )
            self.members[code] = member
            self._start(member)

    def _credentials(self, issued: dt.datetime
                     ) -> tuple[Credentials, dict[OrganCode, Credentials]]:
        """The CA and every member's signing identity."""
        return province_pki(self.directory, issued)

    def _files(self) -> Callable[[OrganCode], str]:
        """Make the databases (migrated once, copied); where each member keeps its rows."""
        template = self.home / "template.db"
        Store.open(sqlite_url(template)).close()  # migrate once, copy for every node
        codes = [*self.directory.hubs, *(e.code for e in self.directory)]
        paths = ({code: self.home / "network.db" for code in codes} if self.config.shared_store
                 else {code: self.home / f"{code}.db" for code in codes})
        for path in set(paths.values()):
            shutil.copyfile(template, path)
        template.unlink()
        return lambda code: sqlite_url(paths[code])

    def _store(self, member: Member, clock: Callable[[], dt.datetime]) -> Store:
        """The store a member (re)starts on: the shared one, or its own."""
        if not self.config.shared_store:
            return Store(member.url, clock=clock, retry=self.config.retry,
                         rnd=random.Random(self.rng.random()).random,
                         durable=self.config.durable)
        if self._shared is None:
            self._shared = Store(member.url, retry=self.config.retry,
                                 rnd=random.Random(self.rng.random()).random,
                                 durable=self.config.durable)
        return self._shared

    def _start(self, member: Member) -> None:
        clock = _Skewed(self.clock, member.offset)
        store = self._store(member, clock)
        if member.hub:
            member.service = Hub(member.info, member.credentials, self.trust, store,
                                 self.transport, self.directory, clock=clock)
        else:
            member.service = Node(member.info, member.credentials, self.trust, store,
                                  self.transport, directory=self.directory, clock=clock)
        self.network.register(member.code, member.service)

    def _stop(self, member: Member) -> None:
        """Take a member off the network, dropping its in-memory state (a crash); its own
        store is closed, a shared one stays open for the others."""
        self.network.unregister(member.code)
        if isinstance(member.service, Node | Hub) and not self._keeps(member.service.store):
            member.service.store.close()
        member.service = None

    def _keeps(self, store: NodeStore) -> bool:
        """Whether ``store`` stays open when a member on it stops (others share it)."""
        return store is self._shared

    def close(self) -> None:
        """Close every store."""
        for member in self.members.values():
            self._stop(member)
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def stores(self) -> list[NodeStore]:
        """Each distinct store of the running members."""
        found: dict[int, NodeStore] = {}
        for member in self.members.values():
            if isinstance(member.service, Node | Hub):
                found.setdefault(id(member.service.store), member.service.store)
        return list(found.values())

    def nodes(self) -> Iterator[tuple[Member, Node]]:
        """The organs' nodes that are up."""
        for member in self.members.values():
            if isinstance(member.service, Node):
                yield member, member.service

    def hubs(self) -> Iterator[tuple[Member, Hub]]:
        """The hubs that are up."""
        for member in self.members.values():
            if isinstance(member.service, Hub):
                yield member, member.service

    # ------------------------------------------------------------------ workload

    def _document(self, sender: Member, recipients: tuple[OrganCode, ...], number: int,
                  kind: str) -> tuple[DocumentInfo, tuple[Attachment, ...]]:
        today = self.clock().astimezone(dt.UTC).date()
        info = DocumentInfo(
            sender=sender.info,
            recipients=tuple(self.members[code].info for code in recipients),
            code_number=str(number),
            code_notation="VP",
            promulgation_place="Quảng Nam",
            promulgation_date=today,
            document_type=DOCUMENT_TYPES["letter"],
            subject=f"Văn bản mô phỏng số {number} ({kind})",
            signer=Signer("Người ký mô phỏng", "Chánh Văn phòng", "KT. Chủ tịch"),
            due_date=today + dt.timedelta(days=7),
        )
        body = keyed(self.config.seed, "draw:body", sender.code, number).randbytes(2048)
        return info, (Attachment(name=f"vb-{number}.pdf", data=body,
                                 content_type="application/pdf"),)

    # ------------------------------------------------------------------ running

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimulationReport:
        """Run to the end (nothing left to move) and check the invariants."""
        started = time.perf_counter()
        plans = plan_workload(self.directory, self.config,
                              keyed(self.config.seed, "draw:workload"))
        config = self.config
        hub_window = self._hub_window()
        number, round_no, quiet = 0, 0, 0
        for round_no in range(config.max_rounds):
            self._disrupt(round_no, hub_window)
            if self.reorganisation is not None and round_no == self.reorganisation.at_round:
                self._reorganise(self.reorganisation)
            while number < len(plans) and plans[number].at_round <= round_no:
                if not self._send(plans[number], number + 1):
                    break  # its sender is down: it goes out in a later round
                number += 1
            moved = self._move()
            moved += self._act()
            moved += self._recall(round_no)
            if progress is not None:
                progress(number, len(plans))
            self.clock.now += dt.timedelta(seconds=config.tick)
            busy = bool(moved or number < len(plans) or self.transport.delayed or self._changes
                        or any(m.down_until >= round_no for m in self.members.values()))
            quiet = 0 if (busy or self._pending()) else quiet + 1
            if quiet >= 2:
                break
        wall = time.perf_counter() - started
        for member in self.members.values():  # restart what is down, to check it
            if member.service is None:
                self._start(member)
        return self._report(round_no + 1, wall)

    def _hub_window(self) -> tuple[int, int]:
        length = self.config.faults.hub_down
        start = self.config.send_rounds // 2
        return (start, start + length) if length else (-1, -1)

    def _disrupt(self, round_no: int, hub_window: tuple[int, int]) -> None:
        faults = self.config.faults
        for member in self.members.values():
            if member.service is None and member.down_until < round_no:
                self._start(member)
        province_hubs = [m for m in self.members.values() if m.hub and m.code.root != "G22"]
        if hub_window[0] == round_no and province_hubs:
            victim = province_hubs[0]
            self._stop(victim)
            victim.down_until = hub_window[1] - 1
            self.counters.hub_outages += 1
        if faults.crash and self.rng.random() < faults.crash:
            candidates = [m for m in self.members.values() if not m.hub and m.service]
            if candidates:
                victim = self.rng.choice(candidates)
                self._stop(victim)
                victim.down_until = round_no + self.rng.randint(2, 10)
                self.counters.crashes += 1

    def _send(self, plan: Plan, number: int) -> bool:
        reform = self.reorganisation
        sender = plan.sender if reform is None else reform.sender(plan.sender, self.clock())
        if isinstance(self.members[sender].service, Elsewhere):
            return True  # another process runs this sender: it sends it
        if not isinstance(self.members[sender].service, Node):
            # The sender is down this round: a clerk would send it when it is back.
            plan.at_round += 1
            return False
        if reform is None:
            self.send(sender, plan.recipients, number=number, kind=plan.kind)
        else:  # a recipient closed by the reform: readdressed as its refusal says
            sent, _ = reform.send(sender, plan.recipients, lambda to: self.send(
                sender, to, number=number, kind=plan.kind))
            if sent is not None and sender != plan.sender:
                reform.took_over()
        return True

    def _reorganise(self, reform: Reorganisation) -> None:
        """The reform takes effect now: every node and hub reads the new directory."""
        self.directory = reform.apply(self.directory, self.clock())
        for member in self.members.values():
            if isinstance(member.service, Node | Hub):
                member.service.directory = self.directory

    # ------------------------------------------------------------------ scripting

    def node(self, code: OrganCode | str) -> Node:
        """The running node of an organ."""
        return self._service(self.members[OrganCode.parse(code)])

    def send(self, sender: OrganCode, recipients: tuple[OrganCode, ...], *,
             number: int | None = None, kind: str = "letter",
             subject: str | None = None) -> Sent:
        """Have ``sender`` send a (generated) document; it is checked at the end."""
        member = self.members[sender]
        number = number if number is not None else len(self.sent) + 1
        info, attachments = self._document(member, recipients, number, kind)
        if subject is not None:
            info = dataclasses.replace(info, subject=subject)
        message_id = f"sim-{self.config.seed}-{number}"
        record = self.node(sender).send(info, attachments, message_id=message_id)
        sent = Sent(sender, record.document_ref, message_id, recipients, self.clock())
        self.sent.append(sent)
        return sent

    def step(self, *, act: bool = True) -> int:
        """One round: move packets (and, with ``act``, let receivers work); the clock
        advances one tick. Returns how much moved."""
        moved = self._move() + (self._act() if act else 0)
        self.clock.now += dt.timedelta(seconds=self.config.tick)
        return moved

    def settle(self, *, act: bool = True, max_rounds: int = 100) -> int:
        """Step until nothing moves and no delivery is outstanding; returns the rounds."""
        for rounds in range(1, max_rounds + 1):
            if not self.step(act=act) and not self._pending():
                return rounds
        return max_rounds

    def report(self, wall: float = 0.0) -> SimulationReport:
        """Check the invariants now (every member restarted first)."""
        for member in self.members.values():
            if member.service is None:
                self._start(member)
        return self._report(0, wall)

    def _move(self) -> int:
        moved = self.transport.flush_delayed()
        for _, hub in self.hubs():
            moved += hub.deliver(limit=500).forwarded
        for member, node in self.nodes():
            moved += node.deliver(limit=500).delivered
            if member.pull:
                try:
                    report = node.pull(limit=100)
                except DocflowError as exc:  # its hub is down: try next round
                    self.counters.errors.append(f"{member.code} pull: {exc}")
                    continue
                moved += report.documents + report.statuses
                if report.documents:
                    self._active.add(member.code)
        self._active |= {code for code in self.transport.arrivals if code in self.members}
        self.transport.arrivals.clear()
        return moved

    def _act(self) -> int:
        acted = 0
        for code in list(self._active):
            node = self.members[code].service
            if not isinstance(node, Node):
                continue
            documents = node.inbox(state=_ACTIVE, page_size=1000).items
            if not documents:
                self._active.discard(code)
            # in the order of their message ids, each decided by its own draw: the same
            # whatever order the copies arrived in
            for document in sorted(documents, key=lambda d: (d.message_id, d.id)):
                try:
                    if document.state == IncomingState.RECEIVED:
                        if keyed(self.config.seed, "draw:reject", code, document.message_id
                                 ).random() < self.config.reject_rate:
                            node.reject(document.id, "không thuộc thẩm quyền (mô phỏng)")
                            self.counters.rejects += 1
                        else:
                            node.accept(document.id)
                    elif document.state == IncomingState.ACCEPTED:
                        node.process(document.id)
                    else:
                        node.complete(document.id)
                    acted += 1
                except DocflowError as exc:
                    self.counters.errors.append(f"{code} act: {exc}")
        return acted

    def _recall(self, round_no: int) -> int:
        """Recalls and replacements: each document sent is considered once (as it goes
        out) and, at ``recall_rate``, recalled or replaced (half and half) one to four
        rounds later, while its copies are on their way or being handled; so a run of N
        documents exercises about N × recall_rate of them."""
        for sent in self.sent[self._decided:]:
            draw = keyed(self.config.seed, "draw:change", sent.message_id)
            if not sent.changed and draw.random() < self.config.recall_rate:
                sent.changed = True
                self._changes.setdefault(round_no + draw.randint(1, 4), []).append(sent)
        self._decided = len(self.sent)
        changed = 0
        for sent in self._changes.pop(round_no, []):
            node = self.members[sent.sender].service
            if not isinstance(node, Node):  # its sender is down: when it is back
                self._changes.setdefault(round_no + 1, []).append(sent)
                continue
            if node.document(sent.document_ref).state != OutgoingState.SENT:
                continue
            try:
                if keyed(self.config.seed, "draw:recall", sent.message_id).random() < 0.5 or (
                        # a replacement would go to a closed organ
                        self.reorganisation is not None and self.reorganisation
                        .still_with_closed(sent.recipients, self.clock())):
                    node.recall(sent.document_ref, "ban hành nhầm (mô phỏng)")
                    self.counters.recalls += 1
                else:
                    self._replace(node, sent)
                changed += 1
            except LifecycleError:
                pass  # nobody holds it any more (every copy rejected): nothing to change
            except DocflowError as exc:
                self.counters.errors.append(f"{sent.sender} recall/replace: {exc}")
        return changed

    def _replace(self, node: Node, sent: Sent) -> None:
        """Replace a sent document by a new one (thay thế), checked like any other."""
        number = len(self.sent) + 100_000
        info, attachments = self._document(self.members[sent.sender], sent.recipients,
                                           number, "replacement")
        record = node.replace(sent.document_ref, info, attachments,
                              reason="thay thế (mô phỏng)",
                              message_id=f"{sent.message_id}-thay-the")
        self.sent.append(Sent(sent.sender, record.document_ref,
                              node.document(record.document_ref).message_id,
                              sent.recipients, self.clock(), changed=True))
        self.counters.replacements += 1

    def _pending(self) -> bool:
        if any(member.service is None for member in self.members.values()):
            return True
        return any(store.queries.outstanding() for store in self.stores())

    # ------------------------------------------------------------------ checking

    def _report(self, rounds: int, wall: float) -> SimulationReport:
        inboxes: dict[OrganCode, dict[str, list[tuple[str, dt.datetime, int]]]] = {}
        for member, node in self.nodes():
            held_by = inboxes.setdefault(member.code, {})
            for d in _inbox(node):  # a message id held twice would be a duplicate
                held_by.setdefault(d.message_id, []).append((d.state, d.created_at, d.id))
        copies = lost = duplicated = dead = diverged = mismatched = 0
        retries = 0
        latencies: dict[str, list[float]] = {}
        problems: list[str] = []
        for sent in self.sent:
            node = self._service(self.members[sent.sender])
            original = parse_envelope(node.store.queries.packet(sent.document_ref))
            deliveries = {d.recipient: d for d in node.store.queries.deliveries(
                document_ref=sent.document_ref, page_size=1000).items if d.kind == "document"}
            for recipient in sent.recipients:
                copies += 1
                delivery = deliveries[str(recipient)]
                retries += max(0, delivery.attempts - 1)
                held_copies = inboxes[recipient].get(sent.message_id, [])
                duplicated += max(0, len(held_copies) - 1)
                held = held_copies[0] if held_copies else None
                if delivery.transport_state == TransportState.FAILED:
                    dead += 1
                    if not delivery.last_error:
                        problems.append(f"{sent.message_id} -> {recipient}: dead letter "
                                        "without a reason")
                    continue
                if held is None:
                    lost += 1
                    problems.append(f"{sent.message_id} -> {recipient}: lost "
                                    f"({delivery.transport_state}/{delivery.business_state})")
                    continue
                state, created_at, ref = held
                receiver = self.members[recipient]
                if not self._same_content(receiver, ref, original):
                    mismatched += 1
                    problems.append(f"{sent.message_id} -> {recipient}: content differs")
                expected = _SENDER_VIEW.get(state, state)
                if delivery.business_state != expected:
                    diverged += 1
                    problems.append(f"{sent.message_id} -> {recipient}: sender sees "
                                    f"{delivery.business_state}, receiver is {state}")
                arrival = created_at - dt.timedelta(seconds=receiver.offset)
                latencies.setdefault(receiver.level, []).append(
                    (arrival - sent.at).total_seconds())
        audits_broken = [store.url for store in self.stores()
                         if not store.audit.verify().ok]
        breaches: dict[str, dict[str, int]] = {}
        for member, node in self.nodes():
            for late in node.store.deadlines.list(member.code, breached_only=True,
                                                  now=self.clock()):
                kinds = breaches.setdefault(member.level, {})
                kinds[late.kind] = kinds.get(late.kind, 0) + 1
        reform = None if self.reorganisation is None else self.reorganisation.check(
            self.sent, self.clock(), self._traced)
        stats = self.transport.stats
        return SimulationReport(
            organs=sum(1 for m in self.members.values() if not m.hub),
            hubs=sum(1 for m in self.members.values() if m.hub),
            documents=len(self.sent) - self.counters.replacements, copies=copies,
            packets=stats.packets,
            rounds=rounds, simulated_seconds=rounds * self.config.tick, wall_seconds=wall,
            lost=lost, duplicated=duplicated, dead_lettered=dead, diverged=diverged,
            content_mismatches=mismatched, tampered=stats.tampered,
            tampered_rejected=stats.tampered_rejected,
            tampered_accepted=stats.tampered_accepted,
            duplicate_mismatches=stats.duplicate_mismatches, dropped=stats.dropped,
            replies_lost=stats.replies_lost, duplicates_sent=stats.duplicated,
            delayed=stats.delayed, crashes=self.counters.crashes,
            hub_outages=self.counters.hub_outages, recalls=self.counters.recalls,
            replacements=self.counters.replacements,
            rejects=self.counters.rejects, retries=retries,
            audits_broken=tuple(audits_broken),
            latency={level: Latency.of(values) for level, values in sorted(latencies.items())},
            refusals=dict(stats.refusals), deadline_breaches=breaches, reform=reform,
            faults=self.config.faults.describe(),
            problems=tuple(problems[:50]), seed=self.config.seed,
            mix=self.config.mix(), version=_version(),
        )

    def _traced(self, sent: Sent) -> bool:
        """Whether a sent document's story reads back at its sender's node."""
        try:
            self._service(self.members[sent.sender]).trace(sent.document_ref, ask_hub=False)
        except DocflowError:
            return False
        return True

    @staticmethod
    def _service(member: Member) -> Node:
        if not isinstance(member.service, Node):
            raise ConfigError("the organ's node is not running", where=str(member.code))
        return member.service

    def _same_content(self, receiver: Member, ref: int, original: Envelope) -> bool:
        queries = self._service(receiver).store.queries
        if queries.tombstone(ref) is not None:
            return True  # destroyed when its recall was agreed: the tombstone is the proof
        received = parse_envelope(queries.packet(ref))
        return (received.info, received.attachments, received.message_id) == (
            original.info, original.attachments, original.message_id)


def _inbox(node: Node) -> Iterator[DocumentView]:
    page = 1
    while True:
        result: Page[DocumentView] = node.store.queries.documents(
            direction="in", organ=node.code, page=page, page_size=1000)
        yield from result.items
        if page * 1000 >= result.total:
            return
        page += 1
