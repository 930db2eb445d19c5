"""Lifecycle changes as the store persists them: events on received documents (accept,
reject, assign, ...), status packets folded into the copies they name, and the change
requests (recall, update, replacement) on sent documents. The decisions are
:mod:`docflow.lifecycle`'s; this room writes them, with their history rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import bindparam, select, update

from docflow.envelope import Envelope
from docflow.errors import ConcurrencyError, NotFoundError
from docflow.lifecycle import (
    AGREED_CHANGE,
    CHANGE,
    DELIVERY,
    INCOMING,
    OUTGOING,
    TRANSPORT,
    ChangeEvent,
    ChangeKind,
    ChangeState,
    DeliveryEvent,
    Direction,
    IncomingEvent,
    IncomingState,
    MessageKind,
    OutgoingEvent,
    Step,
    TransportEvent,
    change_event,
    is_change_answer,
    merge_change,
    nothing_to_change,
)
from docflow.model import StatusCode, StatusInfo
from docflow.store import _rows
from docflow.store import _schema as s
from docflow.store._outbox import Outbox
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


class Lifecycles:
    """Applying lifecycle events and status packets; asking for recalls, updates and
    replacements."""

    def __init__(self, db: Database, outbox: Outbox):
        self._db, self._outbox = db, outbox

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
            return self.apply_in(tx, document_ref, event, reason, status,
                                 expected_version)

    def apply_in(self, tx: Transaction, document_ref: int, event: IncomingEvent,
                 reason: str | None,
                 status: Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]] | None,
                 expected_version: int | None) -> Step[IncomingState]:
        doc = _rows.own_document(tx, document_ref, Direction.IN)
        if expected_version is not None and expected_version != doc.version:
            raise ConcurrencyError(
                f"the document is at version {doc.version}, not {expected_version}",
                where=f"document {document_ref}", hint="read it again and retry",
            )
        step = INCOMING.apply(doc.state, event, reason)
        result = tx.conn.execute(
            update(s.documents)
            .where(s.documents.c.id == document_ref, s.documents.c.version == doc.version)
            .values(state=step.state, version=doc.version + 1, updated_at=tx.now)
        )
        if result.rowcount != 1:
            raise ConcurrencyError("the document was changed by someone else meanwhile",
                                   where=f"document {document_ref}")
        _rows.history(tx, INCOMING, event, doc.state, step, document_ref, reason=reason)
        tx.checkpoint("after_state")
        if step.emit is not None and status is not None:
            info, packet = status(step)
            envelope_ref = _rows.envelope(tx, document_ref, MessageKind.STATUS, Direction.OUT,
                                          info.message_id, packet)
            _rows.status_event(tx, document_ref, None, Direction.OUT, info, envelope_ref)
            _rows.queue(tx, document_ref, MessageKind.STATUS, envelope_ref, doc.sender)
        tx.audit(event, f"document:{document_ref}", {
            "from": doc.state, "to": step.state, "reason": reason})
        return step

    @staticmethod
    def _settle_document(tx: Transaction, document_ref: int, copies: DeliveryEvent,
                         event: OutgoingEvent) -> None:
        """The sender's document becomes ``recalled`` (``replaced``) once every copy of it
        is: every recipient agreed to give it back (or to take the replacement). While
        one copy stands (refused, not asked), the document stays ``sent``."""
        states = tx.conn.execute(select(s.deliveries.c.business_state).where(
            s.deliveries.c.document_ref == document_ref,
            s.deliveries.c.kind == MessageKind.DOCUMENT)).scalars().all()
        if not states or any(state != copies for state in states):
            return
        doc = _rows.own_document(tx, document_ref, Direction.OUT)
        if not OUTGOING.can(doc.state, event):
            return
        step = OUTGOING.apply(doc.state, event)
        tx.conn.execute(update(s.documents).where(s.documents.c.id == document_ref)
                        .values(state=step.state, version=doc.version + 1,
                                updated_at=tx.now))
        _rows.history(tx, OUTGOING, event, doc.state, step, document_ref)
        tx.audit(step.state, f"document:{document_ref}", {"from": doc.state,
                                                          "to": step.state})

    def apply_status(
        self,
        status: StatusInfo,
        packet: bytes,
        *,
        organ: str,
        content_digest: str | None = None,
        legacy_answers: bool = False,
        now: dt.datetime | None = None,
    ) -> DeliveryView:
        """Fold a verified status packet from a recipient into the delivery of the document
        it names (at the sender ``organ``): progress reports merge monotonically, answers
        to a pending recall/update/replacement settle it. Refused with
        :class:`~docflow.errors.NotFoundError` when ``organ`` never sent that document to
        the status packet's sender. The same status again (the same signed content,
        ``content_digest``, or the same bytes) writes nothing."""
        raw = _rows.sha256(packet)
        identity = content_digest or raw
        with self._db.transaction(organ, now) as tx:
            origin = str(status.sender.code)
            row = tx.conn.execute(_SENT_COPY, {
                "organ": organ, "document_id": status.response_for.document_id,
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
            envelope_ref = _rows.envelope(tx, row.document_ref, MessageKind.STATUS,
                                          Direction.IN, status.message_id, packet)
            _rows.status_event(tx, row.document_ref, row.id, Direction.IN, status,
                               envelope_ref, identity)
            if row.change_state == ChangeState.REQUESTED and is_change_answer(
                    status.code, legacy_answers=legacy_answers):
                step = merge_change(row.change_state, status.code, status.description,
                                    legacy_answers=legacy_answers)
                _rows.set_delivery(tx, row.id, row.version, change_state=step.state)
                _rows.history(tx, CHANGE, change_event(status.code,
                                                       legacy_answers=legacy_answers),
                              row.change_state, step, row.document_ref, row.id,
                              reason=status.description)
                row = _rows.delivery(tx, row.id)
                outcome = AGREED_CHANGE[ChangeKind(row.change_kind)] \
                    if step.state is ChangeState.AGREED and row.change_kind else None
                if outcome is not None:
                    copy_event, document_event = outcome
                    done = DELIVERY.apply(row.business_state, copy_event)
                    _rows.set_delivery(tx, row.id, row.version, business_state=done.state)
                    _rows.history(tx, DELIVERY, copy_event, row.business_state, done,
                                  row.document_ref, row.id)
                    self._settle_document(tx, row.document_ref, copy_event, document_event)
            elif not is_change_answer(status.code):
                _rows.business(tx, row, status.code, reason=status.description or None)
            if status.code is StatusCode.ARRIVED and TRANSPORT.can(
                    row.transport_state, TransportEvent.ACKNOWLEDGE):
                # A receipt that travelled as a status packet (an axis, a late receipt):
                # it ends the copy's transport and is kept as its proof.
                row = _rows.delivery(tx, row.id)
                _rows.transport(tx, row, TransportEvent.ACKNOWLEDGE, claimed_by=None,
                                claimed_until=None, receipt_ref=envelope_ref,
                                last_error=None)
            tx.audit("status", f"delivery:{row.id}", {
                "code": status.code.value, "from": str(status.sender.code),
                "sha256": raw})
            return delivery_view(_rows.delivery(tx, row.id))

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
            (record,) = self._outbox.record_in(tx, [(envelope, packet)])
            self._request_change(tx, document_ref, kind, None, None)
            return record

    def _request_change(self, tx: Transaction, document_ref: int, kind: ChangeKind,
                        packet: bytes | None, message_id: str | None) -> list[int]:
        _rows.own_document(tx, document_ref, Direction.OUT)
        copies = tx.conn.execute(select(s.deliveries).where(
            s.deliveries.c.document_ref == document_ref,
            s.deliveries.c.kind == MessageKind.DOCUMENT)).all()
        rows = [row for row in copies if row.business_state not in DELIVERY.final
                and CHANGE.can(row.change_state, ChangeEvent.REQUEST)]
        if not rows and packet is not None:  # a recall asks somebody, or is refused
            raise nothing_to_change(kind, document_ref,
                                    [(row.business_state, row.change_state) for row in copies])
        envelope_ref = None if packet is None else _rows.envelope(
            tx, document_ref, MessageKind.STATUS, Direction.OUT, message_id, packet)
        asked = []
        for row in rows:
            step = CHANGE.apply(row.change_state, ChangeEvent.REQUEST)
            _rows.set_delivery(tx, row.id, row.version, change_state=step.state,
                               change_kind=kind.value)
            _rows.history(tx, CHANGE, ChangeEvent.REQUEST, row.change_state, step, document_ref,
                          row.id, reason=kind.value)
            if envelope_ref is not None:
                _rows.queue(tx, document_ref, MessageKind.STATUS, envelope_ref, row.recipient)
            asked.append(int(row.id))
        tx.audit(f"request_{kind.value}", f"document:{document_ref}",
                 {"deliveries": asked})
        return asked
