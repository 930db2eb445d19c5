"""The inbox: documents an organ receives, idempotently (a message seen before within
the retention gets the receipt given then), with the receipts it owes their senders and
the packets it refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import bindparam, case, select

from docflow import domain
from docflow.domain import PdfCheck
from docflow.domain.deadlines import Deadline
from docflow.envelope import Envelope, Finding
from docflow.lifecycle import INCOMING, Direction, IncomingEvent, MessageKind
from docflow.model import OrganCode, StatusInfo
from docflow.security import Verdict
from docflow.spool import PacketData
from docflow.store import _rows
from docflow.store import _schema as s
from docflow.store._unit import Database
from docflow.store._views import Answer, ReceiveResult, Refusal

__all__ = ["Inbox"]

# A document this organ received before from the same sender under the same DocumentId
# and business type: the verified one first, then the earliest.
_d = s.documents
_TWIN = select(_d.c.id, _d.c.signature).where(
    _d.c.organ == bindparam("organ"), _d.c.direction == Direction.IN,
    _d.c.sender == bindparam("sender"), _d.c.document_id == bindparam("document_id"),
    _d.c.business_type == bindparam("business_type"),
).order_by(case((_d.c.signature == Verdict.VERIFIED, 0), else_=1), _d.c.id).limit(1)
# Another document of the same sender, the same year, with this number and notation
# under another DocumentId (Phụ lục VI III.1.h's duplicate warning).
_SAME_CODE = select(_d.c.id).where(
    _d.c.organ == bindparam("organ"), _d.c.direction == Direction.IN,
    _d.c.sender == bindparam("sender"), _d.c.number == bindparam("number"),
    _d.c.notation == bindparam("notation"), _d.c.document_id != bindparam("document_id"),
    _d.c.promulgation_date >= bindparam("first_day"),
    _d.c.promulgation_date <= bindparam("last_day")).order_by(_d.c.id).limit(1)
_RECEIPT_OF = select(s.received_messages.c.receipt).where(
    s.received_messages.c.document_ref == bindparam("document_ref")).limit(1)


class Inbox:
    """Receiving documents, expiring remembered message ids, queueing receipts, noting
    refusals."""

    def __init__(self, db: Database):
        self._db = db

    def receive(
        self,
        envelope: Envelope,
        packet: PacketData,
        *,
        organ: OrganCode,
        receipt: bytes | Callable[[], bytes],
        content_digest: str | None = None,
        change_answer: Answer | None = None,
        signature: str | None = None,
        findings: Sequence[Finding] = (),
        pdf_checks: Sequence[PdfCheck] = (),
        refusal: Refusal | None = None,
        deadlines: Sequence[Deadline] = (),
        arrival_year: int | None = None,
        now: dt.datetime | None = None,
    ) -> ReceiveResult:
        """Store a verified incoming document for ``organ``, idempotently.

        Keyed on the sender and the envelope's message id: a message received before
        (within the retention) with the same signed content (``content_digest``, see
        :attr:`docflow.security.Verified.content_digest`; the bytes' SHA-256 when not
        given) returns the receipt given then and writes nothing, whatever its encoding
        or trace hops; the same id with other content is a
        :class:`~docflow.errors.ReplayError`. ``receipt`` (or the callable that signs it,
        called only for a new message) is stored with the document, in the same
        transaction, and so is ``change_answer``: the event an update or a replacement
        causes on the original document (its 15/16 queued for the sender). ``signature``
        (the verdict), ``findings`` and the PDF attachments' ``pdf_checks`` are kept with
        the document, and so are its ``deadlines`` (docflow.domain.deadlines) and its
        arrival number in the register of ``arrival_year`` (default: the UTC year); a
        ``refusal`` returns it at once (rejected, its 02 queued for the sender) in the same
        transaction.

        A packet that carried no MessageId (its id derived from the DocumentId: other
        systems, which rebuild the packet on each retry) and arrives again with other
        content is the same document again: it gets the first receipt, nothing else is
        written but a ``duplicate`` audit entry (Nghị định 30 asks for the warning).
        """
        digest = _rows.sha256(packet)
        identity = content_digest or digest
        sender, holder = str(envelope.info.sender.code), str(organ)
        with self._db.transaction(holder, now) as tx:
            r = s.received_messages
            seen = tx.conn.execute(_rows.SEEN, {"organ": holder, "sender": sender,
                                                "message_id": envelope.message_id}).one_or_none()
            admission = domain.admit(
                None if seen is None else domain.Seen(
                    int(seen.document_ref), seen.sha256, seen.content_digest, seen.expires_at),
                digest=digest, identity=identity, derived=envelope.derived_id,
                message_id=envelope.message_id, now=tx.now)
            if admission is domain.Admission.REBUILT and seen is not None:
                tx.note(domain.rebuilt_note(int(seen.document_ref), envelope.message_id,
                                            digest))
            if admission in (domain.Admission.AGAIN, domain.Admission.REBUILT) \
                    and seen is not None:
                return ReceiveResult(int(seen.document_ref), bytes(seen.receipt), True)
            if admission is domain.Admission.FORGOTTEN:  # the retention ran out
                tx.conn.execute(r.delete().where(r.c.organ == holder, r.c.sender == sender,
                                                 r.c.message_id == envelope.message_id))
            twin = tx.conn.execute(_TWIN, {
                "organ": holder, "sender": sender, "document_id": envelope.info.document_id,
                "business_type": int(envelope.info.business.doc_type)}).first()
            relation = domain.twin_of(None if twin is None else twin.signature, signature,
                                      found=twin is not None)
            if relation is domain.Twin.FIRST_STANDS and twin is not None:
                # A DocumentId names one document per sender: an unsigned packet with the
                # DocumentId (and business type) of a document received before is that
                # document again, whatever its message id, and never shadows it.
                tx.note(domain.unsigned_twin_note(int(twin.id), envelope.message_id, digest))
                first = tx.conn.execute(_RECEIPT_OF, {"document_ref": twin.id}).first()
                answer = bytes(first.receipt) if first is not None else (
                    receipt() if callable(receipt) else receipt)
                return ReceiveResult(int(twin.id), answer, True)
            answer = receipt() if callable(receipt) else receipt
            info = envelope.info
            year = info.promulgation_date.year
            same_code = tx.conn.execute(_SAME_CODE, {
                "organ": holder, "sender": sender, "number": info.code_number,
                "notation": info.code_notation, "document_id": info.document_id,
                "first_day": dt.date(year, 1, 1), "last_day": dt.date(year, 12, 31)}).first()
            step = INCOMING.apply(INCOMING.initial, IncomingEvent.RECEIVE)
            document_ref = _rows.document_row(tx, envelope, Direction.IN, step.state,
                                              signature=signature, findings=findings,
                                              pdf_checks=pdf_checks,
                                              duplicate_of=None if same_code is None
                                              else int(same_code.id))
            if same_code is not None:
                tx.note(domain.repeated_code_note(document_ref, int(same_code.id), info.code))
            _rows.entries(tx, (domain.Entry.of(INCOMING, IncomingEvent.RECEIVE,
                                               INCOMING.initial, step),), document_ref)
            _rows.deadline_rows(tx, document_ref, deadlines)
            # its arrival number (số đến), in the year of receipt in the office's zone
            _rows.register(tx, holder, "in", arrival_year or tx.now.year, [document_ref])
            _rows.envelope(tx, document_ref, MessageKind.DOCUMENT, Direction.IN,
                           envelope.message_id, packet)
            tx.checkpoint("after_envelope")
            tx.driver.execute(_rows.INSERT["received_messages"], {
                "organ": holder, "sender": sender, "message_id": envelope.message_id,
                "document_ref": document_ref, "sha256": digest, "content_digest": identity,
                "receipt": answer, "received_at": tx.now,
                "expires_at": tx.now + self._db.retention,
            })
            tx.checkpoint("after_inbox")
            if change_answer is not None:
                _rows.apply_incoming(tx, change_answer.document_ref, change_answer.event,
                                     change_answer.reason, change_answer.status, None)
            supersedes = int(twin.id) if relation is domain.Twin.SUPERSEDES \
                and twin is not None else None
            if supersedes is not None:
                # The signed document arrives after an unsigned twin: it wins (lookups by
                # DocumentId take the verified copy); the twin is named as superseded.
                tx.note(domain.superseded_note(supersedes, document_ref))
            tx.note(domain.received_note(
                document_ref, envelope.message_id, digest, sender,
                {check.name: check.mark for check in pdf_checks}, supersedes=supersedes))
            if refusal is not None:
                _rows.apply_incoming(tx, document_ref, IncomingEvent.REJECT, refusal.reason,
                                     refusal.status, None)
            return ReceiveResult(document_ref, answer, False)

    def expire(self, *, now: dt.datetime | None = None) -> int:
        """Forget received message ids older than the retention (audited when any are);
        returns how many. The worker of a running node calls it every hour."""
        with self._db.transaction("", now) as tx:
            result = tx.conn.execute(s.received_messages.delete()
                                     .where(s.received_messages.c.expires_at <= tx.now))
            forgotten = int(result.rowcount)
            if forgotten:
                tx.audit("expire", "received_messages", {
                    "forgotten": forgotten, "retention_days": self._db.retention.days})
            return forgotten

    def queue_receipt(self, document_ref: int, receipt: bytes, status: StatusInfo, *,
                      now: dt.datetime | None = None) -> int | None:
        """Queue this organ's receipt for a received document to its sender, as a status
        packet (transports without synchronous receipts: an axis). Queued once: the
        same receipt again returns None and writes nothing."""
        digest = _rows.sha256(receipt)
        with self._db.transaction("", now) as tx:
            doc = _rows.own_document(tx, document_ref, Direction.IN)
            if tx.conn.execute(_rows.RELAYED_STATUS, {"document_ref": document_ref,
                                                      "recipient": doc.sender, "identity": digest,
                                                      "sha256": digest}).first() is not None:
                return None
            envelope_ref = _rows.envelope(tx, document_ref, MessageKind.STATUS, Direction.OUT,
                                          status.message_id, receipt)
            _rows.status_event(tx, document_ref, None, Direction.OUT, status, envelope_ref,
                               digest)
            delivery_id = _rows.queue(tx, document_ref, MessageKind.STATUS, envelope_ref,
                                      doc.sender, doc.organ)
            tx.audit("receipt", f"document:{document_ref}", {"sha256": digest})
            return delivery_id

    def note_refusal(self, organ: OrganCode, source: str, reason: str, packet: bytes, *,
                     now: dt.datetime | None = None) -> None:
        """Record, in the audit chain, a packet this organ refused (nothing else is
        written): an axis's packet that failed verification is never dropped silently."""
        with self._db.transaction(str(organ), now) as tx:
            tx.audit("refused", source[:64], {"reason": reason,
                                              "sha256": _rows.sha256(packet),
                                              "size": len(packet)})
