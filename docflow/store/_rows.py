"""The rows every room writes: documents, envelopes, deliveries, history and status
events, each a function of the unit of work (``tx``) it is written in, and the
statements several rooms share.

Statements are built once, with bound parameters: SQLAlchemy reuses their cache keys
and compiled forms, where a statement built per call with its values in it costs a new
cache key (~0.1-0.2 ms) on every execution.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from docflow.domain import (
    Copy,
    Entry,
    PdfCheck,
    act,
    destroyed_note,
    destroys,
    document_mark,
    progress,
)
from docflow.domain.deadlines import Deadline, DeadlineKind, breach_note, due_met, met_by
from docflow.envelope import Envelope, Finding, findings_json
from docflow.errors import ConcurrencyError, NotFoundError, StoreError
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
from docflow.model import OrganCode, StatusCode, StatusInfo
from docflow.spool import PacketData, sha256_of
from docflow.store import _schema as s

if TYPE_CHECKING:
    from docflow.store._unit import Transaction

INSERT = {table.name: table.insert() for table in s.metadata.sorted_tables}
DELIVERY_BY_ID = select(s.deliveries).where(s.deliveries.c.id == bindparam("id"))

DOCUMENT_BY_ID = select(s.documents).where(s.documents.c.id == bindparam("id"))

OWN_DOCUMENT = DOCUMENT_BY_ID.where(s.documents.c.direction == bindparam("direction"))

SEEN = select(s.received_messages.c.document_ref, s.received_messages.c.sha256,
              s.received_messages.c.content_digest, s.received_messages.c.receipt,
              s.received_messages.c.expires_at).where(
    s.received_messages.c.organ == bindparam("organ"),
    s.received_messages.c.sender == bindparam("sender"),
    s.received_messages.c.message_id == bindparam("message_id"))

# A status packet recorded before: by its signed content (rows since 0004) or its bytes.
SAME_STATUS = or_(s.status_events.c.content_digest == bindparam("identity"),
                  s.envelopes.c.sha256 == bindparam("sha256"))

# (A receipt a hub relays to the sender at acknowledge has no status event of its own.)
RELAYED_STATUS = select(s.deliveries.c.id).join(
    s.envelopes, s.envelopes.c.id == s.deliveries.c.envelope_ref).outerjoin(
    # by document_ref too: its index, not a scan of every status event (the hub's grow)
    s.status_events, and_(s.status_events.c.document_ref == s.deliveries.c.document_ref,
                          s.status_events.c.envelope_ref == s.envelopes.c.id)).where(
    s.deliveries.c.document_ref == bindparam("document_ref"),
    s.deliveries.c.kind == MessageKind.STATUS,
    s.deliveries.c.recipient == bindparam("recipient"), SAME_STATUS).limit(1)


@functools.cache
def insert_ignore_statement(dialect: str, name: str) -> postgresql.Insert | sqlite.Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for a table, built once per dialect."""
    table = s.metadata.tables[name]
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


@functools.cache
def _update_delivery(columns: tuple[str, ...]) -> Any:
    """``UPDATE deliveries SET version, updated_at, <columns> WHERE id AND version``."""
    d = s.deliveries
    return (update(d)
            .where(d.c.id == bindparam("w_id"), d.c.version == bindparam("w_version"))
            .values({name: bindparam(f"v_{name}") for name in
                     ("version", "updated_at", *columns)}))


def organ_text(code: OrganCode | None) -> str | None:
    """An organ code as its column holds it."""
    return None if code is None else str(code)


def organ_texts(codes: OrganCode | Sequence[OrganCode] | None) -> str | list[str] | None:
    """One organ code or several, as their column holds them."""
    if codes is None:
        return None
    if isinstance(codes, (OrganCode, str)):  # a str: from an untyped caller
        return str(codes)
    return [str(code) for code in codes]


def batch_sender(items: Sequence[tuple[Envelope, PacketData]]) -> str:
    """The one sender of a batch of documents to record (``StoreError`` when several)."""
    organ = str(items[0][0].info.sender.code)
    if any(str(envelope.info.sender.code) != organ for envelope, _ in items):
        raise StoreError("a batch holds the documents of one sender",
                         hint="record each sender's documents in its own batch")
    return organ


def sha256(data: PacketData) -> str:
    """The SHA-256 of ``data``, in hex (read in chunks when spooled)."""
    return sha256_of(data)


def entries(tx: Transaction, changes: Sequence[Entry], document_ref: int,
            delivery_ref: int | None = None) -> None:
    """Append the domain's history entries, in order."""
    if changes:
        tx.driver.executemany(INSERT["history"], [{
            "document_ref": document_ref, "delivery_ref": delivery_ref,
            "machine": entry.machine, "event": entry.event, "from_state": entry.before,
            "to_state": entry.after, "final": entry.final, "reason": entry.reason,
            "at": tx.now} for entry in changes])


def copy_columns(before: Copy, after: Copy) -> dict[str, Any]:
    """The delivery columns that differ between a copy and what it became."""
    columns = {"transport_state": (before.transport, after.transport),
               "business_state": (before.business, after.business),
               "change_state": (before.change, after.change)}
    return {name: new for name, (old, new) in columns.items() if new != old}


def apply_incoming(tx: Transaction, document_ref: int, event: IncomingEvent,
                   reason: str | None,
                   status: Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]] | None,
                   expected_version: int | None) -> Step[IncomingState]:
    """An act on a received document (:func:`docflow.domain.act` decides it): the state
    at the next version, the history row, the status packet it emits queued for the
    sender (``status`` builds and signs it), the audit entry."""
    doc = own_document(tx, document_ref, Direction.IN)
    step = act(doc.state, doc.version, event, reason, expected_version=expected_version,
               document_ref=document_ref)
    result = tx.conn.execute(
        update(s.documents)
        .where(s.documents.c.id == document_ref, s.documents.c.version == doc.version)
        .values(state=step.state, version=doc.version + 1, updated_at=tx.now))
    if result.rowcount != 1:
        raise ConcurrencyError("the document was changed by someone else meanwhile",
                               where=f"document {document_ref}")
    entries(tx, (Entry.of(INCOMING, event, IncomingState(doc.state), step, reason),),
            document_ref)
    meet_deadlines(tx, document_ref, event, doc.organ)
    if destroys(doc.state, step):
        destroy(tx, document_ref, reason, doc.organ)
    tx.checkpoint("after_state")
    if step.emit is not None and status is not None:
        info, packet = status(step)
        envelope_ref = envelope(tx, document_ref, MessageKind.STATUS, Direction.OUT,
                                info.message_id, packet)
        status_event(tx, document_ref, None, Direction.OUT, info, envelope_ref)
        queue(tx, document_ref, MessageKind.STATUS, envelope_ref, doc.sender, doc.organ)
    tx.audit(event, f"document:{document_ref}", {
        "from": doc.state, "to": step.state, "reason": reason}, actor=doc.organ)
    return step


def deadline_rows(tx: Transaction, document_ref: int, deadlines: Sequence[Deadline]) -> None:
    """A document's deadlines (as the domain computed them), met ones with their time."""
    if deadlines:
        tx.driver.executemany(INSERT["deadlines"], [{
            "document_ref": document_ref, "kind": d.kind, "deadline": d.deadline,
            "met_at": d.met_at, "breached_at": d.met_at if d.breached(tx.now) else None}
            for d in deadlines])


def meet_deadlines(tx: Transaction, document_ref: int, event: IncomingEvent,
                   actor: str) -> None:
    """The deadlines ``event`` meets (:func:`docflow.domain.deadlines.met_by`), met now:
    a late one is recorded breached and audited."""
    meet(tx, document_ref, met_by(event), actor)


_COPY_STATES = select(s.deliveries.c.business_state).where(
    s.deliveries.c.document_ref == bindparam("document_ref"),
    s.deliveries.c.kind == MessageKind.DOCUMENT)
_OPEN_DEADLINES = select(s.deadlines.c.kind, s.deadlines.c.deadline).where(
    s.deadlines.c.document_ref == bindparam("document_ref"),
    s.deadlines.c.kind.in_(bindparam("kinds", expanding=True)),
    s.deadlines.c.met_at.is_(None))
_MEET = update(s.deadlines).where(
    s.deadlines.c.document_ref == bindparam("deadline_document"),
    s.deadlines.c.kind == bindparam("deadline_kind")).values(
    met_at=bindparam("met"), breached_at=bindparam("breached"))


def meet_sent_due(tx: Transaction, document_ref: int, actor: str) -> None:
    """A sent document's due date, met now when its copies say so
    (:func:`docflow.domain.deadlines.due_met`)."""
    states = tx.conn.execute(_COPY_STATES, {"document_ref": document_ref}).scalars().all()
    if due_met(states):
        meet(tx, document_ref, (DeadlineKind.DUE,), actor)


def meet(tx: Transaction, document_ref: int, kinds: Sequence[str], actor: str) -> None:
    """The open deadlines of ``kinds``, met now: a late one recorded breached, audited.
    (Precompiled statements: this runs with every act and every status.)"""
    if not kinds:
        return
    rows = tx.conn.execute(_OPEN_DEADLINES, {"document_ref": document_ref,
                                             "kinds": list(kinds)}).all()
    for row in rows:
        late = tx.now > row.deadline
        tx.conn.execute(_MEET, {"deadline_document": document_ref, "deadline_kind": row.kind,
                                "met": tx.now, "breached": tx.now if late else None})
        if late:
            tx.note(breach_note(document_ref, row.kind, row.deadline, met=True), actor=actor)


def register(tx: Transaction, organ: str, book: str, year: int, refs: Sequence[int]) -> None:
    """Number ``refs`` (in order) in ``organ``'s register ``book`` ("in" or "out") of
    ``year``, after its last number: in this transaction, so a crash leaves no gap and
    no number twice (PostgreSQL serialises the register's writers with a transaction
    lock; SQLite's writers are serial anyway)."""
    if not refs:
        return
    r = s.register_entries.c
    if tx.conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"{organ}/{book}/{year}".encode()).digest()[:8],
                             "big", signed=True)
        tx.conn.execute(select(func.pg_advisory_xact_lock(key)))
    last = tx.conn.execute(select(func.max(r.number)).where(
        r.organ == organ, r.register == book, r.year == year)).scalar_one_or_none() or 0
    tx.driver.executemany(INSERT["register_entries"], [
        {"organ": organ, "register": book, "year": year, "number": last + index,
         "document_ref": ref, "registered_at": tx.now}
        for index, ref in enumerate(refs, start=1)])


def destroy(tx: Transaction, document_ref: int, reason: str | None, actor: str) -> None:
    """Destroy a received copy (a recall agreed): its packet and its attachments leave
    the store (an attachment's content stays only while another document links it); a
    tombstone keeps their digests and the reason; audited."""
    e, links, files = s.envelopes.c, s.document_attachments.c, s.attachments.c
    packets = tx.conn.execute(select(e.id, e.sha256, e.size).where(
        e.document_ref == document_ref, e.kind == MessageKind.DOCUMENT)).all()
    attached = tx.conn.execute(select(links.name, links.sha256, files.size).join(
        s.attachments, files.sha256 == links.sha256).where(
        links.document_ref == document_ref).order_by(links.position)).all()
    tx.conn.execute(s.document_attachments.delete().where(links.document_ref == document_ref))
    for digest in {row.sha256 for row in attached}:
        if tx.conn.execute(select(links.document_ref).where(links.sha256 == digest).limit(1)
                           ).first() is None:
            tx.conn.execute(s.attachments.delete().where(files.sha256 == digest))
    gone = [row.id for row in packets]
    tx.conn.execute(s.envelope_chunks.delete().where(s.envelope_chunks.c.envelope_ref.in_(gone)))
    tx.conn.execute(s.envelopes.delete().where(e.id.in_(gone)))
    packet_sha256 = packets[0].sha256 if packets else ""
    packet_size = int(packets[0].size) if packets else 0
    removed = [(str(row.name), str(row.sha256), int(row.size)) for row in attached]
    tx.driver.execute(INSERT["tombstones"], {
        "document_ref": document_ref, "destroyed_at": tx.now, "reason": reason,
        "packet_sha256": packet_sha256, "packet_size": packet_size,
        "attachments": json.dumps([{"name": n, "sha256": d, "size": z}
                                   for n, d, z in removed], ensure_ascii=False)})
    tx.note(destroyed_note(document_ref, reason, packet_sha256, packet_size, removed),
            actor=actor)


def envelope(tx: Transaction, document_ref: int, kind: MessageKind, direction: Direction,
             message_id: str | None, raw: PacketData) -> int:
    """Store signed bytes as an envelope of ``document_ref``; returns its id."""
    return tx.driver.insert_ids(s.envelopes, [{
        "document_ref": document_ref, "kind": kind, "direction": direction,
        "message_id": message_id, "sha256": sha256(raw), "size": len(raw), "raw": raw,
        "created_at": tx.now,
    }])[0]


def document_values(tx: Transaction, envelope: Envelope, direction: Direction,
                    state: enum.StrEnum) -> dict[str, Any]:
    """A documents row for ``envelope`` as ``tx.organ`` holds it."""
    info = envelope.info
    return {
        "organ": tx.organ, "direction": direction, "message_id": envelope.message_id,
        "document_id": info.document_id, "sender": str(info.sender.code),
        "number": info.code_number, "notation": info.code_notation,
        "type_name": info.document_type.name, "subject": info.subject,
        "promulgation_date": info.promulgation_date, "due_date": info.due_date,
        "business_type": int(info.business.doc_type), "state": state, "version": 1,
        "created_at": tx.now, "updated_at": tx.now,
    }


def attachment_rows(tx: Transaction, documents: list[tuple[int, Envelope]],
                    checks: Sequence[PdfCheck] = ()) -> None:
    """The documents' attachments (each content once, by digest) and their links, with
    a received document's PDF ``checks`` (by position)."""
    checked = {check.position: check for check in checks}
    # Each attachment hashed once: its row is keyed by the digest its links name.
    hashed = [(ref, position, att, sha256(att.data)) for ref, envelope in documents
              for position, att in enumerate(envelope.attachments)]
    contents = {digest: att.data for _, _, att, digest in hashed}
    insert_ignore(tx, s.attachments, [
        {"sha256": digest, "size": len(data), "content": data}
        for digest, data in contents.items()])
    links = [
        {"document_ref": ref, "position": position, "sha256": digest,
         "name": att.name, "content_type": att.content_type,
         "content_id": att.content_id, "description": att.description}
        for ref, position, att, digest in hashed
    ]
    if checks:  # a received document's (sent ones' links name only what they carry)
        for link, (_, position, _, _) in zip(links, hashed, strict=True):
            check = checked.get(position)
            link.update(pdf_verdict=check.mark if check else None,
                        pdf_report=check.report if check else None)
    tx.driver.executemany(INSERT["document_attachments"], links)


def document_row(tx: Transaction, envelope: Envelope, direction: Direction,
                 state: enum.StrEnum, *,
                 signature: str | None = None, findings: Sequence[Finding] = (),
                 pdf_checks: Sequence[PdfCheck] = (), duplicate_of: int | None = None) -> int:
    """Insert a document and its attachments (a received one with its verdicts);
    returns the document's id."""
    values = document_values(tx, envelope, direction, state)
    values.update(signature=signature, findings=findings_json(findings) if findings
                  else None, pdf=document_mark(pdf_checks), duplicate_of=duplicate_of)
    document_ref = tx.driver.insert_ids(s.documents, [values])[0]
    tx.checkpoint("after_document")
    attachment_rows(tx, [(document_ref, envelope)], pdf_checks)
    tx.checkpoint("after_attachments")
    return document_ref


def insert_ignore(tx: Transaction, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows, skipping those whose key exists already."""
    tx.driver.executemany(insert_ignore_statement(tx.conn.dialect.name, table.name), rows)


def insert_ids(tx: Transaction, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows; returns their ids in the rows' order."""
    return tx.driver.insert_ids(table, rows)


def queue(tx: Transaction, document_ref: int, kind: MessageKind, envelope_ref: int,
          recipient: str, organ: str) -> int:
    """Queue one delivery of an envelope to ``recipient``, of ``organ``'s document (its
    ``documents.organ``, which every caller holds); returns its id."""
    values = delivery_values(tx, document_ref, kind, envelope_ref, recipient, organ)
    return tx.driver.insert_ids(s.deliveries, [values])[0]


def delivery_values(tx: Transaction, document_ref: int, kind: MessageKind, envelope_ref: int,
                    recipient: str, organ: str | None) -> dict[str, Any]:
    """A new deliveries row, queued and due now, of ``organ``'s document."""
    return {
        "document_ref": document_ref, "organ": organ, "kind": kind,
        "envelope_ref": envelope_ref,
        "recipient": recipient, "transport_state": TRANSPORT.initial,
        "business_state": DELIVERY.initial if kind is MessageKind.DOCUMENT else None,
        "change_state": CHANGE.initial if kind is MessageKind.DOCUMENT else None,
        "change_kind": None, "attempts": 0, "next_attempt_at": tx.now, "version": 1,
        "updated_at": tx.now, "last_error": None, "claimed_by": None,
        "claimed_until": None, "receipt_ref": None,
    }


def own_document(tx: Transaction, document_ref: int, direction: Direction) -> Row[Any]:
    """The document, which must go that way (its ``organ`` is the actor of what is
    audited about it)."""
    doc = tx.conn.execute(OWN_DOCUMENT, {"id": document_ref, "direction": direction}
                          ).one_or_none()
    if doc is None:
        kind = "outgoing" if direction is Direction.OUT else "incoming"
        raise NotFoundError(f"no such {kind} document", where=f"document {document_ref}")
    return doc


def set_delivery(tx: Transaction, delivery_id: int, version: int, **values: Any) -> None:
    """Update a delivery at ``version`` (optimistic: a concurrent change raises)."""
    params = {f"v_{name}": value for name, value in values.items()}
    params.update(w_id=delivery_id, w_version=version, v_version=version + 1,
                  v_updated_at=tx.now)
    if tx.driver.execute(_update_delivery(tuple(sorted(values))), params) != 1:
        raise ConcurrencyError(
            "the delivery was changed by someone else meanwhile",
            where=f"delivery {delivery_id}", hint="read it again and retry",
        )


def delivery(tx: Transaction, delivery_id: int) -> Row[Any]:
    """One delivery row (``NotFoundError`` if none)."""
    row = tx.conn.execute(DELIVERY_BY_ID, {"id": delivery_id}).one_or_none()
    if row is None:
        raise NotFoundError("no such delivery", where=f"delivery {delivery_id}")
    return row


def transport(tx: Transaction, row: Row[Any], event: TransportEvent, reason: str | None = None,
              **values: Any) -> Step[TransportState]:
    """Apply a transport event to a delivery row, with its history row."""
    before = TRANSPORT.state(row.transport_state)
    step = TRANSPORT.apply(before, event)
    set_delivery(tx, row.id, row.version, transport_state=step.state, **values)
    entries(tx, (Entry.of(TRANSPORT, event, before, step, reason),), row.document_ref, row.id)
    return step


def status_event(tx: Transaction, document_ref: int, delivery_ref: int | None,
                 direction: Direction, status: StatusInfo, envelope_ref: int,
                 identity: str | None = None) -> None:
    """Record a status packet sent, received or relayed."""
    tx.driver.execute(INSERT["status_events"], {
        "document_ref": document_ref, "delivery_ref": delivery_ref,
        "direction": direction, "code": status.code.value,
        "from_organ": str(status.sender.code), "description": status.description,
        "timestamp": status.timestamp, "envelope_ref": envelope_ref, "at": tx.now,
        "content_digest": identity,
    })


def business(tx: Transaction, row: Row[Any], code: StatusCode,
             reason: str | None = None) -> str:
    """A progress report merged into a copy's business state
    (:func:`docflow.domain.progress`), with its history row."""
    before = Copy.of(row.transport_state, row.business_state, row.change_state,
                     row.change_kind)
    after, changes = progress(before, code, reason)
    if changes:
        set_delivery(tx, row.id, row.version, business_state=after.business)
        entries(tx, changes, row.document_ref, row.id)
    return str(after.business)
