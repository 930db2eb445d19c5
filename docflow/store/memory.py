"""A node's store in memory: the same rooms as :class:`~docflow.store.Store` (outbox,
inbox, lifecycle, queries, audit), the same decisions (each room loads rows, asks
:mod:`docflow.domain`, saves what it is told), no database.

For tests of the services (a node sending, receiving, acting, settling its outbox) that
need no SQL, and for a library user's own tests: ``Node(..., store=MemoryStore())``.
Everything is lost when the process ends, and a hub's relay and an emulated platform's
agencies are not kept here (they need :class:`~docflow.store.Store`). The rooms satisfy
the protocols of :mod:`docflow.store.protocols`, which a contract test runs against both
stores.

>>> from docflow.store.memory import MemoryStore
>>> with MemoryStore() as store:
...     store.audit.verify().ok, store.queries.outstanding()
(True, 0)
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable, Mapping, Sequence

from docflow import domain
from docflow.clock import Clock, system_clock
from docflow.domain import PdfCheck
from docflow.domain.deadlines import Deadline, breach_note, due_met
from docflow.domain.retry import RetryPolicy
from docflow.envelope import Envelope, Finding
from docflow.errors import NotFoundError
from docflow.lifecycle import (
    INCOMING,
    ChangeKind,
    DeliveryEvent,
    Direction,
    IncomingEvent,
    IncomingState,
    MessageKind,
    Step,
)
from docflow.model import OrganCode, StatusInfo
from docflow.security import AuditCheckpoint, TrustStore, Verdict
from docflow.spool import PacketData, as_bytes
from docflow.store._audit import checkpoints_of, walk_chain
from docflow.store._memory_outbox import MemoryOutbox, record
from docflow.store._memory_queries import MemoryQueries
from docflow.store._memory_rows import (
    MemoryDatabase,
    MemoryTransaction,
    SeenRow,
)
from docflow.store._rows import sha256
from docflow.store._views import (
    Answer,
    AuditReport,
    DeadlineView,
    DeliveryView,
    OutgoingRecord,
    ReceiveResult,
    Refusal,
    StoreHooks,
)
from docflow.store.protocols import NodeStore

__all__ = ["MemoryStore"]



class MemoryInbox:
    """What an organ receives, idempotently (as :class:`~docflow.store.Inbox`)."""

    def __init__(self, db: MemoryDatabase):
        self._db = db

    def receive(self, envelope: Envelope, packet: PacketData, *, organ: OrganCode,
                receipt: bytes | Callable[[], bytes], content_digest: str | None = None,
                change_answer: Answer | None = None, signature: str | None = None,
                findings: Sequence[Finding] = (), pdf_checks: Sequence[PdfCheck] = (),
                refusal: Refusal | None = None, deadlines: Sequence[Deadline] = (),
                arrival_year: int | None = None, now: dt.datetime | None = None
                ) -> ReceiveResult:
        """Store a verified incoming document for ``organ``, idempotently (the same
        decisions as :meth:`docflow.store.Inbox.receive`)."""
        digest = sha256(packet)
        identity = content_digest or digest
        sender = str(envelope.info.sender.code)
        holder = str(organ)
        key = (holder, sender, envelope.message_id)
        with self._db.transaction(holder, now) as tx:
            tables = tx.tables
            seen = tables.received.get(key)
            admission = domain.admit(
                None if seen is None else domain.Seen(seen.document_ref, seen.sha256,
                                                      seen.content_digest, seen.expires_at),
                digest=digest, identity=identity, derived=envelope.derived_id,
                message_id=envelope.message_id, now=tx.now)
            if admission is domain.Admission.REBUILT and seen is not None:
                tx.note(domain.rebuilt_note(int(seen.document_ref), envelope.message_id,
                                            digest))
            if admission in (domain.Admission.AGAIN, domain.Admission.REBUILT) \
                    and seen is not None:
                return ReceiveResult(seen.document_ref, seen.receipt, True)
            if admission is domain.Admission.FORGOTTEN:
                del tables.received[key]
            twins = sorted((d for d in tables.documents.values()
                            if d.organ == holder and d.direction == Direction.IN
                            and d.sender == sender
                            and d.document_id == envelope.info.document_id
                            and d.business_type == int(envelope.info.business.doc_type)),
                           key=lambda d: (d.signature != Verdict.VERIFIED, d.id))
            twin = twins[0] if twins else None
            relation = domain.twin_of(None if twin is None else twin.signature, signature,
                                      found=twin is not None)
            if relation is domain.Twin.FIRST_STANDS and twin is not None:
                tx.note(domain.unsigned_twin_note(int(twin.id), envelope.message_id, digest))
                first = next((r.receipt for r in tables.received.values()
                              if r.document_ref == twin.id), None)
                answer = first if first is not None else (
                    receipt() if callable(receipt) else receipt)
                return ReceiveResult(twin.id, answer, True)
            answer = receipt() if callable(receipt) else receipt
            info = envelope.info
            same_code = min((d.id for d in tables.documents.values()
                             if d.organ == holder and d.direction == Direction.IN
                             and d.sender == sender and d.number == info.code_number
                             and d.notation == info.code_notation
                             and d.document_id != info.document_id
                             and d.promulgation_date.year == info.promulgation_date.year),
                            default=None)
            step = INCOMING.apply(INCOMING.initial, IncomingEvent.RECEIVE)
            ref = tx.document_row(envelope, Direction.IN, step.state, signature=signature,
                                  findings=findings, pdf_checks=pdf_checks,
                                  duplicate_of=same_code)
            if same_code is not None:
                tx.note(domain.repeated_code_note(ref, same_code, info.code))
            tx.history_rows((domain.Entry.of(INCOMING, IncomingEvent.RECEIVE,
                                             INCOMING.initial, step),), ref)
            tx.deadline_rows(ref, deadlines)
            tx.register_rows(holder, "in", arrival_year or tx.now.year, [ref])
            tx.envelope(ref, MessageKind.DOCUMENT, Direction.IN, envelope.message_id,
                        as_bytes(packet))
            tx.checkpoint("after_envelope")
            tables.received[key] = SeenRow(ref, digest, identity, answer,
                                           tx.now + self._db.retention)
            tx.checkpoint("after_inbox")
            if change_answer is not None:
                tx.apply_incoming(change_answer.document_ref, change_answer.event,
                                  change_answer.reason, change_answer.status, None)
            supersedes = twin.id if relation is domain.Twin.SUPERSEDES \
                and twin is not None else None
            if supersedes is not None:
                tx.note(domain.superseded_note(supersedes, ref))
            tx.note(domain.received_note(
                ref, envelope.message_id, digest, sender,
                {check.name: check.mark for check in pdf_checks}, supersedes=supersedes))
            if refusal is not None:
                tx.apply_incoming(ref, IncomingEvent.REJECT, refusal.reason, refusal.status,
                                  None)
            return ReceiveResult(ref, answer, False)

    def expire(self, *, now: dt.datetime | None = None) -> int:
        """Forget received message ids older than the retention; returns how many."""
        with self._db.transaction("", now) as tx:
            old = [key for key, seen in tx.tables.received.items()
                   if seen.expires_at <= tx.now]
            for key in old:
                del tx.tables.received[key]
            if old:
                tx.audit("expire", "received_messages", {
                    "forgotten": len(old), "retention_days": self._db.retention.days})
            return len(old)

    def queue_receipt(self, document_ref: int, receipt: bytes, status: StatusInfo, *,
                      now: dt.datetime | None = None) -> int | None:
        """Queue this organ's receipt to the document's sender, once."""
        digest = sha256(receipt)
        with self._db.transaction("", now) as tx:
            doc = tx.tables.document(document_ref, Direction.IN)
            if tx.status_seen(document_ref, digest, digest, recipient=doc.sender):
                return None
            envelope_ref = tx.envelope(document_ref, MessageKind.STATUS, Direction.OUT,
                                       status.message_id, receipt)
            tx.status_event(document_ref, None, Direction.OUT, status, envelope_ref, digest)
            delivery_id = tx.queue(document_ref, MessageKind.STATUS, envelope_ref, doc.sender)
            tx.audit("receipt", f"document:{document_ref}", {"sha256": digest})
            return delivery_id

    def note_refusal(self, organ: OrganCode, source: str, reason: str, packet: bytes, *,
                     now: dt.datetime | None = None) -> None:
        """Record, in the audit chain, a packet this organ refused."""
        with self._db.transaction(str(organ), now) as tx:
            tx.audit("refused", source[:64], {"reason": reason, "sha256": sha256(packet),
                                              "size": len(packet)})


class MemoryLifecycles:
    """Lifecycle events, status packets and change requests (as
    :class:`~docflow.store.Lifecycles`)."""

    def __init__(self, db: MemoryDatabase):
        self._db = db

    def apply_incoming(self, document_ref: int, event: IncomingEvent, *,
                       reason: str | None = None,
                       status: Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]]
                       | None = None, expected_version: int | None = None,
                       now: dt.datetime | None = None) -> Step[IncomingState]:
        """Apply an act to an incoming document, with the status packet it emits."""
        with self._db.transaction("", now) as tx:
            return tx.apply_incoming(document_ref, event, reason, status, expected_version)

    def apply_status(self, status: StatusInfo, packet: bytes, *, organ: OrganCode,
                     content_digest: str | None = None, legacy_answers: bool = False,
                     now: dt.datetime | None = None) -> DeliveryView:
        """Fold a verified status packet into the copy it names, at the sender."""
        raw = sha256(packet)
        identity = content_digest or raw
        with self._db.transaction(str(organ), now) as tx:
            tables, origin = tx.tables, str(status.sender.code)
            copies = [d for d in tables.deliveries.values()
                      if d.kind == MessageKind.DOCUMENT and d.recipient == origin
                      and tables.documents[d.document_ref].organ == str(organ)
                      and tables.documents[d.document_ref].direction == Direction.OUT
                      and tables.documents[d.document_ref].document_id
                      == status.response_for.document_id]
            if not copies:
                raise NotFoundError(
                    f"status {status.code.value} for a document {organ} never sent to "
                    f"{status.sender.code}", where=status.response_for.document_id,
                    hint="a status packet must come from an organ the document went to")
            row = max(copies, key=lambda d: (d.document_ref, -d.id))
            if tx.status_seen(row.document_ref, identity, raw, direction=Direction.IN,
                              origin=origin):
                return row.view()
            before = row.copy_of()
            taken = domain.take_status(before, status.code, status.description,
                                       legacy_answers=legacy_answers)
            envelope_ref = tx.envelope(row.document_ref, MessageKind.STATUS, Direction.IN,
                                       status.message_id, packet)
            tx.status_event(row.document_ref, row.id, Direction.IN, status, envelope_ref,
                            identity)
            changed = tx.copy_columns(before, taken.copy)
            if taken.acknowledged:
                changed.update(claimed_by=None, claimed_until=None, receipt_ref=envelope_ref,
                               last_error=None)
            if changed:
                tx.set_delivery(row, row.version, **changed)
            tx.history_rows(taken.entries, row.document_ref, row.id)
            if taken.agreed is not None:
                self._settle_document(tx, row.document_ref, taken.agreed)
            tx.audit("status", f"delivery:{row.id}", {
                "code": status.code.value, "from": origin, "sha256": raw})
            # this copy handled now: the document's due date may be met
            if taken.copy.business != before.business and due_met([taken.copy.business]):
                tx.meet_sent_due(row.document_ref, str(organ))
            return row.view()

    @staticmethod
    def _settle_document(tx: MemoryTransaction, document_ref: int,
                         agreed: DeliveryEvent) -> None:
        doc = tx.tables.document(document_ref, Direction.OUT)
        copies = [d.copy_of().business for _, d in sorted(tx.tables.deliveries.items())
                  if d.document_ref == document_ref and d.kind == MessageKind.DOCUMENT]
        settled = domain.settle_document(doc.state, copies, agreed)
        if settled is None:
            return
        step, entry = settled
        before = doc.state
        doc.state, doc.version, doc.updated_at = step.state, doc.version + 1, tx.now
        tx.history_rows((entry,), document_ref)
        tx.audit(step.state, f"document:{document_ref}", {"from": before, "to": step.state},
                 actor=doc.organ)

    def request_change(self, document_ref: int, kind: ChangeKind, *,
                       packet: bytes | None = None, message_id: str | None = None,
                       now: dt.datetime | None = None) -> list[int]:
        """Ask every recipient still holding the document to recall, update or replace
        it; returns the deliveries asked."""
        with self._db.transaction("", now) as tx:
            return self._request_change(tx, document_ref, kind, packet, message_id)

    def record_change(self, document_ref: int, kind: ChangeKind, envelope: Envelope,
                      packet: bytes, *, now: dt.datetime | None = None) -> OutgoingRecord:
        """Send an update or a replacement, and ask it of every live copy."""
        with self._db.transaction(str(envelope.info.sender.code), now) as tx:
            result = record(tx, envelope, packet)
            self._request_change(tx, document_ref, kind, None, None)
            return result

    @staticmethod
    def _request_change(tx: MemoryTransaction, document_ref: int, kind: ChangeKind,
                        packet: bytes | None, message_id: str | None) -> list[int]:
        doc = tx.tables.document(document_ref, Direction.OUT)
        rows = [d for _, d in sorted(tx.tables.deliveries.items())
                if d.document_ref == document_ref and d.kind == MessageKind.DOCUMENT]
        asked = domain.ask_change(kind, document_ref, [row.copy_of() for row in rows],
                                  asking=packet is not None,
                                  state=doc.state)
        envelope_ref = None if packet is None else tx.envelope(
            document_ref, MessageKind.STATUS, Direction.OUT, message_id, packet)
        ids = []
        for index, step, entry in asked:
            row = rows[index]
            tx.set_delivery(row, row.version, change_state=step.state, change_kind=kind.value)
            tx.history_rows((entry,), document_ref, row.id)
            if envelope_ref is not None:
                tx.queue(document_ref, MessageKind.STATUS, envelope_ref, row.recipient)
            ids.append(row.id)
        tx.audit(f"request_{kind.value}", f"document:{document_ref}", {"deliveries": ids},
                 actor=doc.organ)
        return ids


class MemoryAuditLog:
    """The audit chain (as :class:`~docflow.store.AuditLog`): the same hashes."""

    def __init__(self, db: MemoryDatabase):
        self._db = db

    def head(self) -> tuple[int, str]:
        """How many entries, and the last one's hash."""
        return self._db.read().head

    def verify(self, checkpoints: Sequence[AuditCheckpoint] = (), *,
               trust: TrustStore | None = None, organ: str | None = None) -> AuditReport:
        """Recompute the chain, against signed checkpoints when given."""
        kept, skipped = checkpoints_of(checkpoints, trust, organ)
        tables = self._db.read()
        return walk_chain(tables.audit, tables.head, kept, skipped)

    def entries(self) -> Iterable[tuple[str, str, str, str]]:
        """(actor, action, subject, detail as JSON) of every entry, in order."""
        return [(row.organ, row.action, row.subject, row.detail)
                for row in self._db.read().audit]


class MemoryDeadlines:
    """The văn thư deadlines (as :class:`~docflow.store.Deadlines`)."""

    def __init__(self, db: MemoryDatabase):
        self._db = db

    def list(self, organ: OrganCode | None = None, *, breached_only: bool = False,
             now: dt.datetime | None = None) -> list[DeadlineView]:
        """The deadlines of ``organ``'s documents (or all), by deadline."""
        moment = now if now is not None else self._db.clock()
        tables = self._db.read()
        views = []
        for (ref, kind), (deadline, met, breached) in tables.deadlines.items():
            doc = tables.documents[ref]
            if organ is not None and doc.organ != str(organ):
                continue
            views.append(DeadlineView(ref, f"{doc.number}/{doc.notation}", kind, deadline,
                                      met, breached is not None or (
                                          met > deadline if met is not None
                                          else moment > deadline)))
        views.sort(key=lambda v: (v.deadline, v.document_ref))
        return [v for v in views if v.breached] if breached_only else views

    def sweep(self, *, now: dt.datetime | None = None) -> int:
        """Record the breach of every deadline still open after it ended."""
        with self._db.transaction("", now) as tx:
            late = sorted(key for key, (deadline, met, breached) in tx.tables.deadlines.items()
                          if met is None and breached is None and deadline < tx.now)
            for ref, kind in late:
                deadline = tx.tables.deadlines[(ref, kind)][0]
                tx.tables.deadlines[(ref, kind)] = (deadline, None, tx.now)
                tx.note(breach_note(ref, kind, deadline, met=False))
            return len(late)


class MemoryStore:
    """A node's store in memory (see the module's text): ``outbox``, ``inbox``,
    ``lifecycle``, ``queries`` and ``audit``, as :class:`~docflow.store.Store` has
    them, with the same arguments for the clock and the policies."""

    url = "memory:"

    def __init__(self, *, clock: Clock = system_clock, retry: RetryPolicy | None = None,
                 retry_per_organ: Mapping[str, RetryPolicy] | None = None,
                 retention: dt.timedelta = dt.timedelta(days=365),
                 hooks: StoreHooks | None = None,
                 rnd: Callable[[], float] = random.random):
        self.database = MemoryDatabase(clock=clock, retry=retry or RetryPolicy(),
                                       retry_per_organ=dict(retry_per_organ or {}),
                                       retention=retention, hooks=hooks or StoreHooks(),
                                       rnd=rnd)
        self.queries = MemoryQueries(self.database)
        self.outbox = MemoryOutbox(self.database, self.queries)
        self.inbox = MemoryInbox(self.database)
        self.lifecycle = MemoryLifecycles(self.database)
        self.audit = MemoryAuditLog(self.database)
        self.deadlines = MemoryDeadlines(self.database)

    @property
    def hooks(self) -> StoreHooks:
        """The checkpoints inside units of work."""
        return self.database.hooks

    @hooks.setter
    def hooks(self, hooks: StoreHooks) -> None:
        self.database.hooks = hooks

    def close(self) -> None:
        """Nothing to release (the tables live as long as the object)."""

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _conforms(store: MemoryStore) -> NodeStore:
    """mypy holds the in-memory store to the protocol a node needs (never called)."""
    return store
