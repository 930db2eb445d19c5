"""A hub's store-and-forward: documents and status packets taken into its custody for
one recipient each, idempotently, and only between the two ends of a document it
relayed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import bindparam, select

from docflow import domain
from docflow.envelope import Envelope
from docflow.errors import NotFoundError
from docflow.lifecycle import Direction, MessageKind, RelayState, is_change_answer
from docflow.model import OrganCode, StatusInfo
from docflow.spool import PacketData
from docflow.store import _rows
from docflow.store import _schema as s
from docflow.store._unit import Database
from docflow.store._views import DocumentView, RelayResult, document_view

__all__ = ["Relay"]

_COPY = select(s.deliveries).where(
    s.deliveries.c.document_ref == bindparam("document_ref"),
    s.deliveries.c.kind == MessageKind.DOCUMENT,
    s.deliveries.c.recipient == bindparam("recipient"))

# A document a hub relayed, by DocumentId: scoped by its sender and by a copy to the
# other end of the status (so no other organ's document can shadow it).
_RELAYED_COPY = select(s.documents.c.id, s.documents.c.sender).join(
    s.deliveries, s.deliveries.c.document_ref == s.documents.c.id).where(
    s.documents.c.organ == bindparam("organ"), s.documents.c.direction == Direction.HOP,
    s.documents.c.document_id == bindparam("document_id"),
    s.documents.c.sender == bindparam("sender"),
    s.deliveries.c.kind == MessageKind.DOCUMENT,
    s.deliveries.c.recipient == bindparam("recipient"),
).order_by(s.documents.c.id.desc()).limit(1)

_PACKET_ID = select(s.envelopes.c.id).where(s.envelopes.c.document_ref == bindparam("id"),
                                            s.envelopes.c.kind == MessageKind.DOCUMENT)


class Relay:
    """A hub's custody of documents and status packets."""

    def __init__(self, db: Database):
        self._db = db

    def document(
        self,
        envelope: Envelope,
        packet: PacketData,
        *,
        hub: OrganCode,
        recipient: OrganCode,
        forwarded: Callable[[], PacketData],
        receipt: Callable[[], bytes] | None,
        content_digest: str | None = None,
        now: dt.datetime | None = None,
    ) -> RelayResult:
        """Take a verified document into a hub's custody, for one recipient, idempotently.

        The first copy of a message stores the packet as the hub forwards it
        (``forwarded()``: the sender's bytes plus the hub's signed trace hop) and the hub's
        receipt (``receipt()``: a 01 naming the bytes received; None for a platform that
        answers with its own id and signs nothing, an axis); each recipient gets one
        delivery in the hub's outbox. Another copy for a recipient already queued writes
        nothing; the same message id (of the same sender) with other signed content
        (``content_digest``; the bytes' SHA-256 when not given) is a
        :class:`~docflow.errors.ReplayError`. Returns the hub's receipt.
        """
        digest = _rows.sha256(packet)
        identity = content_digest or digest
        sender, holder, to = str(envelope.info.sender.code), str(hub), str(recipient)
        key = {"organ": holder, "sender": sender, "message_id": envelope.message_id}
        # The first copy's signatures (the hop, the receipt) are made before the write
        # transaction, not while it holds the database's writer slot; a later copy finds
        # the message seen and signs nothing.
        with self._db.reader() as conn:
            made = (None if conn.execute(_rows.SEEN, key).first() is not None
                    else (forwarded(), receipt() if receipt is not None else b""))
        with self._db.transaction(holder, now) as tx:
            seen = tx.conn.execute(_rows.SEEN, key).one_or_none()
            # a hub keeps what it relayed for as long as it keeps the packet: no expiry
            admission = domain.admit(
                None if seen is None else domain.Seen(int(seen.document_ref), seen.sha256,
                                                      seen.content_digest),
                digest=digest, identity=identity, derived=envelope.derived_id,
                message_id=envelope.message_id, now=tx.now,
                what="relayed")  # not a state: a verb
            if admission is domain.Admission.REBUILT and seen is not None:
                # Another system's retry (it rebuilds the packet): the same document.
                tx.audit("duplicate", f"document:{seen.document_ref}", {
                    "message_id": envelope.message_id, "sha256": digest,
                    "warning": "the same DocumentId again with other content"})
            if seen is None:
                document_ref = tx.driver.insert_ids(s.documents, [
                    _rows.document_values(tx, envelope, Direction.HOP, RelayState.RELAYED)])[0]
                tx.checkpoint("after_document")
                if made is None:  # another thread took it in, then it went (retention)
                    made = (forwarded(), receipt() if receipt is not None else b"")
                envelope_ref = _rows.envelope(tx, document_ref, MessageKind.DOCUMENT,
                                              Direction.OUT, envelope.message_id, made[0])
                tx.checkpoint("after_envelope")
                answer = made[1]
                tx.driver.execute(_rows.INSERT["received_messages"], {
                    "organ": holder, "sender": sender, "message_id": envelope.message_id,
                    "document_ref": document_ref, "sha256": digest,
                    "content_digest": identity, "receipt": answer, "received_at": tx.now,
                    "expires_at": tx.now + self._db.retention,
                })
                tx.audit("relay", f"document:{document_ref}", {
                    "message_id": envelope.message_id, "sha256": digest,
                    "from": str(envelope.info.sender.code)})
            else:
                document_ref, answer = int(seen.document_ref), bytes(seen.receipt)
                envelope_ref = tx.conn.execute(_PACKET_ID, {"id": document_ref}).scalar_one()
            queued = tx.conn.execute(_COPY, {"document_ref": document_ref,
                                             "recipient": to}).first()
            if queued is not None:
                return RelayResult(document_ref, int(queued.id), answer, True)
            delivery_id = _rows.queue(tx, document_ref, MessageKind.DOCUMENT, envelope_ref,
                                      to, str(hub))
            tx.checkpoint("after_deliveries")
            tx.audit("relay_to", f"delivery:{delivery_id}", {"to": to})
            return RelayResult(document_ref, delivery_id, answer, False)

    def status(
        self,
        status: StatusInfo,
        packet: PacketData,
        *,
        hub: OrganCode,
        recipient: OrganCode,
        content_digest: str | None = None,
        now: dt.datetime | None = None,
    ) -> RelayResult:
        """Take a verified status packet into a hub's custody for ``recipient``.

        Only between the two ends of a document this hub relayed: from a recipient of the
        document to its sender, or from its sender to a recipient (a recall request). The
        document is the one with the status's ``ResponseFor`` DocumentId *sent by* its
        ``ResponseFor`` organ *to* the other end: anything else is a
        :class:`~docflow.errors.NotFoundError` and writes nothing. The same status again
        (its signed content, ``content_digest``, or its bytes) writes nothing. A
        recipient's progress (01-06) is merged into the hub's view of that copy, for
        traces.
        """
        digest = _rows.sha256(packet)
        identity = content_digest or digest
        origin = str(status.sender.code)
        owner = str(status.response_for.organ_id)
        holder, to = str(hub), str(recipient)
        upward, downward = to == owner, origin == owner
        with self._db.transaction(holder, now) as tx:
            doc = None if upward == downward else tx.conn.execute(_RELAYED_COPY, {
                "organ": holder, "document_id": status.response_for.document_id,
                "sender": owner, "recipient": origin if upward else to}).first()
            if doc is None:
                raise NotFoundError(
                    f"status {status.code.value} from {origin} to {to} for a document "
                    "this hub never relayed between them",
                    where=status.response_for.document_id,
                    hint="status packets travel only between a document's sender and its "
                    "recipients",
                )
            document_ref = int(doc.id)
            known = tx.conn.execute(_rows.RELAYED_STATUS, {
                "document_ref": document_ref, "recipient": to, "identity": identity,
                "sha256": digest}).scalar_one_or_none()
            if known is not None:
                return RelayResult(document_ref, int(known), b"", True)
            envelope_ref = _rows.envelope(tx, document_ref, MessageKind.STATUS, Direction.OUT,
                                          status.message_id, packet)
            _rows.status_event(tx, document_ref, None, Direction.IN, status, envelope_ref,
                               identity)
            delivery_id = _rows.queue(tx, document_ref, MessageKind.STATUS, envelope_ref,
                                      to, str(hub))
            if upward and not is_change_answer(status.code):
                copy = tx.conn.execute(_COPY, {"document_ref": document_ref,
                                               "recipient": origin}).one()
                _rows.business(tx, copy, status.code, reason=status.description or None)
            tx.audit("relay_status", f"delivery:{delivery_id}", {
                "code": status.code.value, "from": origin, "to": to,
                "sha256": digest})
            return RelayResult(document_ref, delivery_id, b"", False)

    def relayed(self, hub: OrganCode, message_id: str, *, sender: OrganCode) -> DocumentView:
        """The document a hub relayed under ``sender``'s ``message_id`` (``NotFoundError``
        if none)."""
        d = s.documents
        with self._db.reader() as conn:
            row = conn.execute(select(d).where(
                d.c.organ == str(hub), d.c.direction == Direction.HOP,
                d.c.sender == str(sender),
                d.c.message_id == message_id)).one_or_none()
        if row is None:
            raise NotFoundError("this hub relayed no such message", where=f"message {message_id}")
        return document_view(row)
