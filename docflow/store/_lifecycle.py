"""Lifecycle changes as the store persists them: events on received documents (accept,
reject, assign, ...), status packets folded into the copies they name, and the change
requests (recall, update, replacement) on sent documents. The decisions are
:mod:`docflow.domain`'s (over :mod:`docflow.lifecycle`'s tables); this room loads the
rows, asks, and writes what it is told, with the history rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import bindparam, select, update

from docflow import domain
from docflow.domain.deadlines import due_met
from docflow.envelope import Envelope
from docflow.errors import NotFoundError
from docflow.lifecycle import (
    ChangeKind,
    DeliveryEvent,
    Direction,
    IncomingEvent,
    IncomingState,
    MessageKind,
    Step,
)
from docflow.model import OrganCode, StatusInfo
from docflow.store import _rows, _sent
from docflow.store import _schema as s
from docflow.store._unit import Database, Transaction
from docflow.store._views import DeliveryView, OutgoingRecord, delivery_view

__all__ = ["Lifecycles"]

# A sent document's copy to one recipient, by DocumentId: scoped by the organ that sent
# it and the recipient the status comes from (another organ's document cannot shadow it).
_SENT_COPY = select(s.deliveries).join(
    s.documents, s.documents.c.id == s.deliveries.c.document_ref).where(
    s.documents.c.organ == bindparam("organ"), s.documents.c.direction == Direction.OUT,
    s.documents.c.document_id == bindparam("document_id"),
    s.deliveries.c.kind == MessageKind.DOCUMENT,
    s.deliveries.c.recipient == bindparam("recipient"),
).order_by(s.documents.c.id.desc()).limit(1)

_STATUS_SEEN = select(s.status_events.c.id).join(
    s.envelopes, s.envelopes.c.id == s.status_events.c.envelope_ref).where(
    s.status_events.c.document_ref == bindparam("document_ref"),
    s.status_events.c.direction == Direction.IN,
    s.status_events.c.from_organ == bindparam("origin"),
    _rows.SAME_STATUS).limit(1)

_COPIES = select(s.deliveries).where(s.deliveries.c.document_ref == bindparam("document_ref"),
                                     s.deliveries.c.kind == MessageKind.DOCUMENT)


class Lifecycles:
    """Applying lifecycle events and status packets; asking for recalls, updates and
    replacements."""

    def __init__(self, db: Database):
        self._db = db

    def apply_incoming(
        self,
        document_ref: int,
        event: IncomingEvent,
        *,
        reason: str | None = None,
        status: Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]] | None = None,
        expected_version: int | None = None,
        now: dt.datetime | None = None,
    ) -> Step[IncomingState]:
        """Apply a lifecycle event to an incoming document (accept, reject, assign, ...),
        in one transaction: the state change (optimistic version check), the history row,
        the status packet it emits queued for the sender (``status`` builds and signs it
        from the step), and the audit entry. An illegal event changes nothing."""
        with self._db.transaction("", now) as tx:
            return _rows.apply_incoming(tx, document_ref, event, reason, status,
                                        expected_version)

    def apply_status(
        self,
        status: StatusInfo,
        packet: bytes,
        *,
        organ: OrganCode,
        content_digest: str | None = None,
        legacy_answers: bool = False,
        now: dt.datetime | None = None,
    ) -> DeliveryView:
        """Fold a verified status packet from a recipient into the delivery of the document
        it names (at the sender ``organ``): progress reports merge monotonically, answers
        to a pending recall/update/replacement settle it (:func:`docflow.domain.take_status`).
        Refused with :class:`~docflow.errors.NotFoundError` when ``organ`` never sent that
        document to the status packet's sender. The same status again (the same signed
        content, ``content_digest``, or the same bytes) writes nothing."""
        raw = _rows.sha256(packet)
        identity = content_digest or raw
        with self._db.transaction(str(organ), now) as tx:
            origin = str(status.sender.code)
            row = tx.conn.execute(_SENT_COPY, {
                "organ": str(organ), "document_id": status.response_for.document_id,
                "recipient": origin}).one_or_none()
            if row is None:
                raise NotFoundError(
                    f"status {status.code.value} for a document {organ} never sent to "
                    f"{status.sender.code}",
                    where=status.response_for.document_id,
                    hint="a status packet must come from an organ the document went to",
                )
            if tx.conn.execute(_STATUS_SEEN, {
                    "document_ref": row.document_ref, "origin": origin, "identity": identity,
                    "sha256": raw}).first() is not None:
                return delivery_view(row)  # a replay: nothing to write
            before = domain.Copy.of(row.transport_state, row.business_state, row.change_state,
                                    row.change_kind)
            taken = domain.take_status(before, status.code, status.description,
                                       legacy_answers=legacy_answers)
            envelope_ref = _rows.envelope(tx, row.document_ref, MessageKind.STATUS,
                                          Direction.IN, status.message_id, packet)
            _rows.status_event(tx, row.document_ref, row.id, Direction.IN, status,
                               envelope_ref, identity)
            changed = _rows.copy_columns(before, taken.copy)
            if taken.acknowledged:
                # a receipt that travelled as a status packet: kept as the copy's proof
                changed.update(claimed_by=None, claimed_until=None, receipt_ref=envelope_ref,
                               last_error=None)
            if changed:
                _rows.set_delivery(tx, row.id, row.version, **changed)
            _rows.entries(tx, taken.entries, row.document_ref, row.id)
            if taken.agreed is not None:
                self._settle_document(tx, row.document_ref, taken.agreed)
            tx.audit("status", f"delivery:{row.id}", {
                "code": status.code.value, "from": str(status.sender.code),
                "sha256": raw})
            # this copy handled now: the document's due date may be met
            if taken.copy.business != before.business and due_met([taken.copy.business]):
                _rows.meet_sent_due(tx, row.document_ref, str(organ))
            return delivery_view(_rows.delivery(tx, row.id))

    @staticmethod
    def _settle_document(tx: Transaction, document_ref: int,
                         agreed: DeliveryEvent) -> None:
        doc = _rows.own_document(tx, document_ref, Direction.OUT)
        copies = [row.business_state for row in tx.conn.execute(
            _COPIES, {"document_ref": document_ref})]
        settled = domain.settle_document(doc.state, copies, agreed)
        if settled is None:
            return
        step, entry = settled
        tx.conn.execute(update(s.documents).where(s.documents.c.id == document_ref)
                        .values(state=step.state, version=doc.version + 1,
                                updated_at=tx.now))
        _rows.entries(tx, (entry,), document_ref)
        tx.audit(step.state, f"document:{document_ref}", {"from": doc.state,
                                                          "to": step.state},
                 actor=doc.organ)

    def request_change(
        self,
        document_ref: int,
        kind: ChangeKind,
        *,
        packet: bytes | None = None,
        message_id: str | None = None,
        now: dt.datetime | None = None,
    ) -> list[int]:
        """Ask every recipient that still holds the document to recall, update or replace
        it: each live delivery's change state becomes "requested", and ``packet`` (the
        signed request: a status 13 for a recall) is queued to each of them. An update or
        replacement document goes with :meth:`record_change`. Returns the deliveries
        asked."""
        with self._db.transaction("", now) as tx:
            return self._request_change(tx, document_ref, kind, packet, message_id)

    def record_change(
        self,
        document_ref: int,
        kind: ChangeKind,
        envelope: Envelope,
        packet: bytes,
        *,
        now: dt.datetime | None = None,
    ) -> OutgoingRecord:
        """Send an update or a replacement of a sent document, in one transaction: the
        new signed document and its deliveries (as :meth:`Outbox.record`), and the
        change request on every live copy of the original (as :meth:`request_change`)."""
        with self._db.transaction(str(envelope.info.sender.code), now) as tx:
            (record,) = _sent.record(tx, [(envelope, packet)], where=self._db.where)
            self._request_change(tx, document_ref, kind, None, None)
            return record

    def _request_change(self, tx: Transaction, document_ref: int, kind: ChangeKind,
                        packet: bytes | None, message_id: str | None) -> list[int]:
        doc = _rows.own_document(tx, document_ref, Direction.OUT)
        rows = tx.conn.execute(_COPIES, {"document_ref": document_ref}).all()
        asked = domain.ask_change(kind, document_ref, [
            domain.Copy.of(row.transport_state, row.business_state, row.change_state,
                           row.change_kind) for row in rows], asking=packet is not None,
                                  state=doc.state)
        envelope_ref = None if packet is None else _rows.envelope(
            tx, document_ref, MessageKind.STATUS, Direction.OUT, message_id, packet)
        ids = []
        for index, step, entry in asked:
            row = rows[index]
            _rows.set_delivery(tx, row.id, row.version, change_state=step.state,
                               change_kind=kind.value)
            _rows.entries(tx, (entry,), document_ref, row.id)
            if envelope_ref is not None:
                _rows.queue(tx, document_ref, MessageKind.STATUS, envelope_ref, row.recipient,
                            doc.organ)
            ids.append(int(row.id))
        tx.audit(f"request_{kind.value}", f"document:{document_ref}", {"deliveries": ids},
                 actor=doc.organ)
        return ids
