"""The tables of :class:`~docflow.store.memory.MemoryStore`: plain rows in dictionaries,
a unit of work that commits a changed copy of them or nothing, and the row writers its
rooms share (the in-memory counterparts of :mod:`docflow.store._rows`).

The rows hold what the SQL tables hold, under the same names, so the rooms can load,
ask :mod:`docflow.domain` and save exactly as the SQL rooms do.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from docflow.clock import Clock, system_clock
from docflow.domain import (
    Copy,
    Entry,
    Note,
    PdfCheck,
    act,
    destroyed_note,
    destroys,
    document_mark,
    progress,
)
from docflow.domain.deadlines import Deadline, DeadlineKind, breach_note, due_met, met_by
from docflow.domain.retry import RetryPolicy
from docflow.envelope import Envelope, Finding
from docflow.errors import ConcurrencyError, NotFoundError
from docflow.lifecycle import (
    CHANGE,
    DELIVERY,
    INCOMING,
    TRANSPORT,
    Direction,
    IncomingEvent,
    IncomingState,
    MessageKind,
    Step,
    TransportEvent,
    TransportState,
)
from docflow.model import StatusCode, StatusInfo
from docflow.store._audit import chain_rows
from docflow.store._rows import sha256
from docflow.store._views import (
    AttachmentView,
    DeliveryView,
    DocumentView,
    HistoryEntry,
    StatusEvent,
    StoreHooks,
    Tombstone,
)

__all__ = ["MemoryDatabase", "MemoryTransaction", "Tables"]


@dataclass
class DocumentRow:
    """A ``documents`` row."""

    id: int
    organ: str
    direction: str
    message_id: str
    document_id: str
    sender: str
    number: str
    notation: str
    type_name: str
    subject: str
    promulgation_date: dt.date
    due_date: dt.date | None
    business_type: int
    state: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    signature: str | None = None
    findings: tuple[Finding, ...] = ()
    pdf: str | None = None
    duplicate_of: int | None = None

    def view(self) -> DocumentView:
        """The row as the rooms hand it out."""
        return DocumentView(
            id=self.id, organ=self.organ, direction=self.direction,
            message_id=self.message_id, document_id=self.document_id, sender=self.sender,
            code=f"{self.number}/{self.notation}", type_name=self.type_name,
            subject=self.subject, promulgation_date=self.promulgation_date,
            due_date=self.due_date, state=self.state, version=self.version,
            created_at=self.created_at, updated_at=self.updated_at,
            signature=self.signature, findings=self.findings, pdf=self.pdf,
            duplicate_of=self.duplicate_of)


@dataclass
class EnvelopeRow:
    """An ``envelopes`` row: signed bytes kept with a document."""

    id: int
    document_ref: int
    kind: str
    direction: str
    message_id: str | None
    sha256: str
    raw: bytes
    created_at: dt.datetime


@dataclass
class DeliveryRow:
    """A ``deliveries`` row: one copy to one recipient, or one status packet."""

    id: int
    document_ref: int
    kind: str
    envelope_ref: int
    recipient: str
    transport_state: str
    business_state: str | None
    change_state: str | None
    attempts: int
    next_attempt_at: dt.datetime
    version: int
    updated_at: dt.datetime
    change_kind: str | None = None
    last_error: str | None = None
    claimed_by: str | None = None
    claimed_until: dt.datetime | None = None
    receipt_ref: int | None = None

    def view(self) -> DeliveryView:
        """The row as the rooms hand it out."""
        return DeliveryView(
            id=self.id, document_ref=self.document_ref, kind=self.kind,
            recipient=self.recipient, transport_state=self.transport_state,
            business_state=self.business_state, change_state=self.change_state,
            attempts=self.attempts, next_attempt_at=self.next_attempt_at,
            last_error=self.last_error, version=self.version)

    def copy_of(self) -> Copy:
        """The copy the domain reasons about."""
        return Copy.of(self.transport_state, self.business_state, self.change_state,
                       self.change_kind)


@dataclass
class StatusRow:
    """A ``status_events`` row."""

    id: int
    document_ref: int
    delivery_ref: int | None
    direction: str
    status: StatusInfo
    envelope_ref: int
    at: dt.datetime
    content_digest: str | None

    def view(self) -> StatusEvent:
        """The row as the rooms hand it out."""
        return StatusEvent(self.direction, StatusCode(self.status.code),
                           str(self.status.sender.code), self.status.description,
                           self.status.timestamp, self.at, self.delivery_ref)


@dataclass
class SeenRow:
    """A ``received_messages`` row: a message id remembered with its receipt."""

    document_ref: int
    sha256: str
    content_digest: str
    receipt: bytes
    expires_at: dt.datetime


@dataclass
class AuditRow:
    """An ``audit_log`` row."""

    seq: int
    at: dt.datetime
    organ: str
    action: str
    subject: str
    detail: str
    prev_hash: str
    hash: str


@dataclass
class Tables:
    """Every table of one in-memory store."""

    documents: dict[int, DocumentRow] = field(default_factory=dict)
    envelopes: dict[int, EnvelopeRow] = field(default_factory=dict)
    deliveries: dict[int, DeliveryRow] = field(default_factory=dict)
    history: list[tuple[int, HistoryEntry]] = field(default_factory=list)
    status_events: dict[int, StatusRow] = field(default_factory=dict)
    #: (organ, sender, message id) -> what was kept of it
    received: dict[tuple[str, str, str], SeenRow] = field(default_factory=dict)
    #: delivery id -> (reason, at, resolved at)
    dead_letters: dict[int, tuple[str, dt.datetime, dt.datetime | None]] = \
        field(default_factory=dict)
    audit: list[AuditRow] = field(default_factory=list)
    #: document id -> its attachments (never changed once written)
    attachments: dict[int, tuple[AttachmentView, ...]] = field(default_factory=dict)
    #: (organ, register, year, number) -> (document id, registered at)
    register: dict[tuple[str, str, int, int], tuple[int, dt.datetime]] = \
        field(default_factory=dict)
    #: document id -> what was destroyed of it when its recall was agreed
    tombstones: dict[int, Tombstone] = field(default_factory=dict)
    #: (document id, kind) -> [deadline, met at, breached at]
    deadlines: dict[tuple[int, str], tuple[dt.datetime, dt.datetime | None,
                                           dt.datetime | None]] = field(default_factory=dict)
    head: tuple[int, str] = (0, "0" * 64)
    #: the last id given, per table (ids count from 1 in each, as the SQL tables')
    last_ids: dict[str, int] = field(default_factory=dict)

    def clone(self) -> Tables:
        """A copy a unit of work may change: each mutable row copied, the immutable
        ones (history, audit, packets' bytes) shared."""
        return Tables(
            documents={k: copy.copy(v) for k, v in self.documents.items()},
            envelopes=dict(self.envelopes),
            deliveries={k: copy.copy(v) for k, v in self.deliveries.items()},
            history=list(self.history), status_events=dict(self.status_events),
            received=dict(self.received), dead_letters=dict(self.dead_letters),
            audit=list(self.audit), attachments=dict(self.attachments),
            deadlines=dict(self.deadlines), tombstones=dict(self.tombstones),
            register=dict(self.register), head=self.head,
            last_ids=dict(self.last_ids))

    def new_id(self, table: str) -> int:
        """The next row id of ``table``."""
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]

    def document(self, document_ref: int, direction: Direction | None = None
                 ) -> DocumentRow:
        """A document (that goes ``direction``, when given); NotFoundError if none."""
        doc = self.documents.get(document_ref)
        if doc is None or (direction is not None and doc.direction != direction):
            kind = {Direction.OUT: "outgoing ", Direction.IN: "incoming "}.get(
                direction, "") if direction is not None else ""
            raise NotFoundError(f"no such {kind}document", where=f"document {document_ref}")
        return doc

    def delivery(self, delivery_id: int) -> DeliveryRow:
        """A delivery; NotFoundError if none."""
        row = self.deliveries.get(delivery_id)
        if row is None:
            raise NotFoundError("no such delivery", where=f"delivery {delivery_id}")
        return row


@dataclass
class MemoryTransaction:
    """One unit of work on a copy of the tables: committed whole, or dropped."""

    tables: Tables
    now: dt.datetime
    organ: str
    hooks: StoreHooks
    entries: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def audit(self, action: str, subject: str, detail: dict[str, Any], *,
              actor: str | None = None) -> None:
        """Add an entry to the audit chain when this unit of work commits."""
        self.entries.append((self.organ if actor is None else actor, action, subject, detail))

    def note(self, note: Note, *, actor: str | None = None) -> None:
        """Add an entry the domain asked for (:class:`docflow.domain.Note`)."""
        self.audit(note.action, note.subject, note.detail, actor=actor)

    def checkpoint(self, name: str) -> None:
        """A point between two steps (tests stop here)."""
        self.hooks.checkpoint(name)

    # -- the rows every room writes ---------------------------------------------------

    def history_rows(self, changes: Sequence[Entry], document_ref: int,
                     delivery_ref: int | None = None) -> None:
        """Append the domain's history entries, in order."""
        self.tables.history.extend(
            (document_ref, HistoryEntry(self.now, entry.machine, entry.event, entry.before,
                                        entry.after, entry.final, entry.reason,
                                        delivery_ref)) for entry in changes)

    def document_row(self, envelope: Envelope, direction: Direction, state: str, *,
                     signature: str | None = None, findings: Sequence[Finding] = (),
                     pdf_checks: Sequence[PdfCheck] = (), duplicate_of: int | None = None
                     ) -> int:
        """A new document as ``self.organ`` holds it, with its attachments (a received
        one's PDF verdicts); returns its id."""
        info = envelope.info
        ref = self.tables.new_id("documents")
        self.tables.documents[ref] = DocumentRow(
            id=ref, organ=self.organ, direction=direction, message_id=envelope.message_id,
            document_id=info.document_id, sender=str(info.sender.code),
            number=info.code_number, notation=info.code_notation,
            type_name=info.document_type.name, subject=info.subject,
            promulgation_date=info.promulgation_date, due_date=info.due_date,
            business_type=int(info.business.doc_type), state=state, version=1,
            created_at=self.now, updated_at=self.now, signature=signature,
            findings=tuple(findings), pdf=document_mark(pdf_checks),
            duplicate_of=duplicate_of)
        self.checkpoint("after_document")
        checked = {check.position: check for check in pdf_checks}
        self.tables.attachments[ref] = tuple(
            AttachmentView(position, att.name, att.content_type, len(att.data),
                           checked[position].mark if position in checked else None,
                           json.loads(checked[position].report) if position in checked
                           else None, sha256(att.data))
            for position, att in enumerate(envelope.attachments))
        self.checkpoint("after_attachments")
        return ref

    def deadline_rows(self, document_ref: int, deadlines: Sequence[Deadline]) -> None:
        """A document's deadlines (as the domain computed them)."""
        for d in deadlines:
            self.tables.deadlines[(document_ref, d.kind)] = (
                d.deadline, d.met_at, d.met_at if d.breached(self.now) else None)

    def meet_deadlines(self, document_ref: int, event: IncomingEvent, actor: str) -> None:
        """The deadlines ``event`` meets, met now; a late one recorded and audited."""
        self.meet(document_ref, met_by(event), actor)

    def meet_sent_due(self, document_ref: int, actor: str) -> None:
        """A sent document's due date, met now when its copies say so."""
        if due_met(d.business_state or "" for d in self.tables.deliveries.values()
                   if d.document_ref == document_ref and d.kind == MessageKind.DOCUMENT):
            self.meet(document_ref, (DeadlineKind.DUE,), actor)

    def meet(self, document_ref: int, kinds: Sequence[str], actor: str) -> None:
        """The open deadlines of ``kinds``, met now; a late one recorded and audited."""
        for kind in kinds:
            row = self.tables.deadlines.get((document_ref, kind))
            if row is None or row[1] is not None:
                continue
            late = self.now > row[0]
            self.tables.deadlines[(document_ref, kind)] = (row[0], self.now,
                                                           self.now if late else None)
            if late:
                self.note(breach_note(document_ref, kind, row[0], met=True), actor=actor)

    def register_rows(self, organ: str, book: str, year: int, refs: Sequence[int]) -> None:
        """Number ``refs`` in ``organ``'s register ``book`` of ``year``, after its last."""
        last = max((number for (o, b, y, number) in self.tables.register
                    if (o, b, y) == (organ, book, year)), default=0)
        for index, ref in enumerate(refs, start=1):
            self.tables.register[(organ, book, year, last + index)] = (ref, self.now)

    def destroy(self, document_ref: int, reason: str | None, actor: str) -> None:
        """Destroy a received copy (a recall agreed): its packet and attachments go, a
        tombstone keeps their digests and the reason."""
        packets = [e for _, e in sorted(self.tables.envelopes.items())
                   if e.document_ref == document_ref and e.kind == MessageKind.DOCUMENT]
        for packet in packets:
            del self.tables.envelopes[packet.id]
        removed = tuple((a.name, a.sha256, a.size)
                        for a in self.tables.attachments.pop(document_ref, ()))
        first = packets[0] if packets else None
        tombstone = Tombstone(document_ref, self.now, reason,
                              first.sha256 if first else "", len(first.raw) if first else 0,
                              removed)
        self.tables.tombstones[document_ref] = tombstone
        self.note(destroyed_note(document_ref, reason, tombstone.packet_sha256,
                                 tombstone.packet_size, removed), actor=actor)

    def envelope(self, document_ref: int, kind: MessageKind, direction: Direction,
                 message_id: str | None, raw: bytes) -> int:
        """Keep signed bytes with a document; returns the envelope's id."""
        ref = self.tables.new_id("envelopes")
        self.tables.envelopes[ref] = EnvelopeRow(ref, document_ref, kind, direction,
                                                 message_id, sha256(raw), raw, self.now)
        return ref

    def queue(self, document_ref: int, kind: MessageKind, envelope_ref: int,
              recipient: str) -> int:
        """Queue one delivery of an envelope to ``recipient``, due now; returns its id."""
        ref = self.tables.new_id("deliveries")
        document = kind is MessageKind.DOCUMENT
        self.tables.deliveries[ref] = DeliveryRow(
            id=ref, document_ref=document_ref, kind=kind, envelope_ref=envelope_ref,
            recipient=recipient, transport_state=TRANSPORT.initial,
            business_state=DELIVERY.initial if document else None,
            change_state=CHANGE.initial if document else None, attempts=0,
            next_attempt_at=self.now, version=1, updated_at=self.now)
        return ref

    def status_event(self, document_ref: int, delivery_ref: int | None,
                     direction: Direction, status: StatusInfo, envelope_ref: int,
                     identity: str | None = None) -> None:
        """Record a status packet sent, received or relayed."""
        ref = self.tables.new_id("status_events")
        self.tables.status_events[ref] = StatusRow(ref, document_ref, delivery_ref,
                                                   direction, status, envelope_ref,
                                                   self.now, identity)

    def set_delivery(self, row: DeliveryRow, version: int, **values: Any) -> DeliveryRow:
        """Update a delivery read at ``version`` (optimistic, as the SQL store's)."""
        if row.version != version:
            raise ConcurrencyError("the delivery was changed by someone else meanwhile",
                                   where=f"delivery {row.id}", hint="read it again and retry")
        for name, value in values.items():
            if not hasattr(row, name):
                raise AttributeError(name)
            setattr(row, name, value)
        row.version, row.updated_at = version + 1, self.now
        return row

    def transport(self, row: DeliveryRow, event: TransportEvent, reason: str | None = None,
                  **values: Any) -> Step[TransportState]:
        """Apply a transport event to a delivery, with its history row."""
        before = TRANSPORT.state(row.transport_state)
        step = TRANSPORT.apply(before, event)
        self.set_delivery(row, row.version, transport_state=step.state, **values)
        self.history_rows((Entry.of(TRANSPORT, event, before, step, reason),),
                          row.document_ref, row.id)
        return step

    def business(self, row: DeliveryRow, code: StatusCode, reason: str | None = None
                 ) -> None:
        """A progress report merged into a copy (:func:`docflow.domain.progress`)."""
        after, changes = progress(row.copy_of(), code, reason)
        if changes:
            self.set_delivery(row, row.version, business_state=after.business)
            self.history_rows(changes, row.document_ref, row.id)

    def copy_columns(self, before: Copy, after: Copy) -> dict[str, Any]:
        """The delivery columns that differ between a copy and what it became."""
        columns = {"transport_state": (before.transport, after.transport),
                   "business_state": (before.business, after.business),
                   "change_state": (before.change, after.change)}
        return {name: new for name, (old, new) in columns.items() if new != old}

    def apply_incoming(self, document_ref: int, event: IncomingEvent, reason: str | None,
                       status: Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]]
                       | None, expected_version: int | None) -> Step[IncomingState]:
        """An act on a received document (:func:`docflow.domain.act` decides it)."""
        doc = self.tables.document(document_ref, Direction.IN)
        step = act(doc.state, doc.version, event, reason, expected_version=expected_version,
                   document_ref=document_ref)
        before = IncomingState(doc.state)
        doc.state, doc.version, doc.updated_at = step.state, doc.version + 1, self.now
        self.history_rows((Entry.of(INCOMING, event, before, step, reason),), document_ref)
        self.meet_deadlines(document_ref, event, doc.organ)
        if destroys(before, step):
            self.destroy(document_ref, reason, doc.organ)
        self.checkpoint("after_state")
        if step.emit is not None and status is not None:
            info, packet = status(step)
            envelope_ref = self.envelope(document_ref, MessageKind.STATUS, Direction.OUT,
                                         info.message_id, packet)
            self.status_event(document_ref, None, Direction.OUT, info, envelope_ref)
            self.queue(document_ref, MessageKind.STATUS, envelope_ref, doc.sender)
        self.audit(event, f"document:{document_ref}", {
            "from": before, "to": step.state, "reason": reason}, actor=doc.organ)
        return step

    def status_seen(self, document_ref: int, identity: str, raw: str, *,
                    direction: Direction | None = None, origin: str | None = None,
                    delivery_kind: bool = False, recipient: str | None = None) -> bool:
        """Whether a status packet with this signed content (or these bytes) was
        recorded for the document: received from ``origin``, or (``recipient``) queued
        to it as a delivery."""
        def same(envelope_ref: int, digest: str | None) -> bool:
            envelope = self.tables.envelopes[envelope_ref]
            return digest == identity or envelope.sha256 == raw
        if recipient is not None:
            statuses = {e.envelope_ref: e.content_digest
                        for e in self.tables.status_events.values()
                        if e.document_ref == document_ref}
            return any(same(d.envelope_ref, statuses.get(d.envelope_ref))
                       for d in self.tables.deliveries.values()
                       if d.document_ref == document_ref and d.kind == MessageKind.STATUS
                       and d.recipient == recipient)
        return any(same(e.envelope_ref, e.content_digest)
                   for e in self.tables.status_events.values()
                   if e.document_ref == document_ref and e.direction == direction
                   and str(e.status.sender.code) == origin)


@dataclass
class MemoryDatabase:
    """What the in-memory rooms share: the tables, a lock that serialises units of
    work (as SQLite's writer does), the clock and the policies."""

    clock: Clock = system_clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    retry_per_organ: Mapping[str, RetryPolicy] = field(default_factory=dict)
    retention: dt.timedelta = dt.timedelta(days=365)
    hooks: StoreHooks = field(default_factory=StoreHooks)
    rnd: Callable[[], float] = field(default=lambda: 0.5)
    tables: Tables = field(default_factory=Tables)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self, organ: str = "", now: dt.datetime | None = None
                    ) -> Iterator[MemoryTransaction]:
        """One unit of work on a copy of the tables: the copy, with the audit entries
        chained, replaces the tables when the block ends; an exception drops it."""
        when = now if now is not None else self.clock()
        with self._lock:
            tx = MemoryTransaction(self.tables.clone(), when, organ, self.hooks)
            yield tx
            if tx.entries:
                seq, previous = tx.tables.head
                rows = chain_rows(tx.entries, seq, previous, tx.now)
                tx.tables.audit.extend(AuditRow(**row) for row in rows)
                tx.tables.head = (rows[-1]["seq"], rows[-1]["hash"])
            self.hooks.checkpoint("before_commit")
            self.tables = tx.tables

    def read(self) -> Tables:
        """The committed tables (a consistent snapshot: commits replace them whole)."""
        return self.tables


