"""A node's receiving side (:class:`Receiving`, one of :class:`~docflow.node.Node`'s
halves): verify and store a document or a status packet, sign the receipt, check the
signed PDFs, answer a change request by the copy's state, and the acts on a received
document (accept, reject, assign, process, complete) with the status each emits."""

from __future__ import annotations

import logging
from collections.abc import Callable

from docflow.calendar import WorkingCalendar
from docflow.domain import refusal
from docflow.domain.deadlines import received_deadlines, return_deadline
from docflow.endpoint import Endpoint
from docflow.envelope import Envelope, Policy, parse_status
from docflow.errors import ModelError, NotFoundError, RoutingError
from docflow.hooks import Hooks, StatusArrival
from docflow.lifecycle import (
    INCOMING,
    ChangeKind,
    IncomingEvent,
    IncomingState,
    Step,
    answer_change,
)
from docflow.model import (
    BusinessDocType,
    OrganCode,
    ResponseFor,
    StatusCode,
    StatusInfo,
)
from docflow.pdf import PdfPolicy, check_attachments
from docflow.routing import ClosedPolicy, Directory, signed_at
from docflow.security import TrustPolicy, check_packet, sign_status
from docflow.spool import PacketData, as_bytes
from docflow.store import Answer, DocumentView, ReceiveResult, Refusal
from docflow.store.protocols import NodeStore

__all__ = ["Receiving"]

_LOG = logging.getLogger("docflow.node")

_CHANGES = {BusinessDocType.UPDATE: ChangeKind.UPDATE,
            BusinessDocType.REPLACE: ChangeKind.REPLACE}


class Receiving(Endpoint[Directory | None, NodeStore]):
    """What a node does as a receiver (see :class:`~docflow.node.Node`, which sets the
    attributes below)."""

    axis_trust: TrustPolicy
    interop: Policy
    pdf: PdfPolicy
    calendar: WorkingCalendar
    document_hooks: Hooks[DocumentView]
    status_hooks: Hooks[StatusArrival]

    def _addressed(self, recipient: OrganCode | None) -> None:
        if recipient is not None and recipient != self.code:
            raise RoutingError(f"a copy for {recipient} reached this organ's node",
                               where=str(self.code),
                               hint="send it to that organ's node or to its hub")

    def receive_document(self, packet: PacketData, recipient: OrganCode | None = None, *,
                         trust_policy: TrustPolicy = TrustPolicy.REQUIRE) -> bytes:
        """Verify (or, under ``CHANNEL``, read leniently) and store a document addressed
        to this organ; answer with the signed receipt (01 naming the message id and the
        content received). A duplicate (the same signed content, in whatever encoding or
        with whatever hops) gets the first receipt again and changes nothing."""
        return self._receive(packet, recipient, trust_policy)[0].receipt

    def receive_from_axis(self, packet: bytes) -> int:
        """Store a document polled from an axis or LGSP (read under the node's
        ``axis_trust``) and queue its signed receipt back to its sender as a status
        packet (the platform gives no synchronous receipt); returns the document's id.
        A duplicate gets its first receipt queued once, never twice."""
        result, status = self._receive(packet, None, self.axis_trust)
        if result.duplicate:  # the receipt given then, and the status it signs
            status = parse_status(result.receipt)
        self.store.inbox.queue_receipt(result.document_ref, result.receipt, status,
                                       now=self.clock())
        return result.document_ref

    def _receive(self, packet: PacketData, recipient: OrganCode | None,
                 trust_policy: TrustPolicy) -> tuple[ReceiveResult, StatusInfo]:
        """Verify, store and sign the receipt of a document: what the store did, and the
        status the receipt signs."""
        self._addressed(recipient)
        now = self.clock()
        received = check_packet(packet, self.trust, now=now, trust_policy=trust_policy,
                                policy=self.interop)
        envelope = received.envelope
        if self.code not in {organ.code for organ in envelope.info.recipients}:
            raise RoutingError(
                "the document is not addressed to this organ", where=str(self.code),
                hint="send it to an organ among its To recipients",
            )
        if self.directory is not None:  # a closed organ takes what was sent before it closed
            self.directory.addressee(self.code, signed_at(envelope, now),
                                     policy=ClosedPolicy.REFUSE)

        # Signed before the transaction, not inside it: the database's write lock is not
        # held for the ~1 ms of a signature (a duplicate gets the first receipt instead).
        info = envelope.info
        arrived = StatusInfo(
            response_for=ResponseFor(info.sender.code, info.code, info.promulgation_date,
                                     info.document_id),
            sender=self.organ,
            code=StatusCode.ARRIVED,
            timestamp=now,
            description=StatusCode.ARRIVED.description,
            message_id=envelope.message_id,
            received_sha256=received.content_digest,
        )
        receipt = sign_status(arrived, self.credentials)
        # The signed PDFs checked before the transaction too (Art. 21.2: before receiving)
        checks = check_attachments(envelope.attachments, self.pdf, signer=info.signer,
                                   at=now)
        reason = refusal(checks, self.pdf.on_invalid)
        deadlines = received_deadlines(now, info.priority, info.due_date, self.calendar,
                                       self.zone) + ((return_deadline(now, self.zone),)
                                                     if reason is not None else ())
        result = self.store.inbox.receive(envelope, packet, organ=self.code,
                                          receipt=receipt,
                                          content_digest=received.content_digest,
                                          change_answer=self._change_answer(envelope),
                                          signature=str(received.verdict),
                                          findings=received.findings, pdf_checks=checks,
                                          refusal=None if reason is None else Refusal(
                                              reason, self._returned(envelope, reason)),
                                          deadlines=deadlines,
                                          arrival_year=now.astimezone(self.zone).year,
                                          now=now)
        _LOG.info("%s document %s/%s (message %s) from %s as document %d; signature %s%s",
                  "received again" if result.duplicate else "received",  # not a state: a log word
                  info.code_number,
                  info.code_notation, envelope.message_id, info.sender.code,
                  result.document_ref, received.verdict,
                  f", {len(received.findings)} finding(s)" if received.findings else "")
        if not result.duplicate and self.document_hooks:
            self.document_hooks.fire(self.store.queries.document(result.document_ref))
        return result, arrived

    def _returned(self, envelope: Envelope, reason: str
                  ) -> Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]]:
        """Builds and signs the 02 that returns a document as it is received."""
        info = envelope.info

        def status(step: Step[IncomingState]) -> tuple[StatusInfo, bytes]:
            returned = self._answer(ResponseFor(info.sender.code, info.code,
                                                info.promulgation_date, info.document_id),
                                    envelope.message_id, StatusCode.REJECTED, reason)
            return returned, sign_status(returned, self.credentials)

        return status

    def _change_answer(self, envelope: Envelope) -> Answer | None:
        """For an update or a replacement, how the original copy answers (by its state),
        applied in the same transaction as the new document is stored."""
        business = envelope.info.business
        if business.doc_type not in _CHANGES:
            return None
        kind = _CHANGES[business.doc_type]
        original_id = (business.document_id if kind is ChangeKind.UPDATE
                       else next(iter(r.document_id for r in business.replacements), None))
        original = None if not original_id else self.store.queries.received(
            self.code, envelope.info.sender.code, original_id)
        if original is None:
            return None  # an update of a document that never arrived stands alone
        event, reason = answer_change(kind, original.state)
        return Answer(original.id, event, reason, self._status_builder(original, event,
                                                                        reason))

    def receive_status(self, packet: PacketData, recipient: OrganCode | None = None, *,
                       trust_policy: TrustPolicy = TrustPolicy.REQUIRE) -> None:
        """Verify (or, under ``CHANNEL``, read leniently) a status packet: a report on a
        document this organ sent (merged into its delivery), or a recall request for a
        document it received (answered by the document's state)."""
        self._addressed(recipient)
        now = self.clock()
        packet = as_bytes(packet)  # a status packet is small
        verified = check_packet(packet, self.trust, now=now, trust_policy=trust_policy,
                                policy=self.interop)
        status = verified.status
        _LOG.info("received status %s (%s) from %s for %s", status.code.value,
                  status.code.description, status.sender.code,
                  status.response_for.document_id)
        if status.code is StatusCode.RECALL_REQUESTED:
            document_ref = self._answer_recall(status)
        else:
            document_ref = self.store.lifecycle.apply_status(
                status, packet, organ=self.code, content_digest=verified.content_digest,
                now=now).document_ref
        # the document the store named, never one found again by position in a list
        self.status_hooks.fire(StatusArrival(status, document_ref))

    def _answer_recall(self, request: StatusInfo) -> int:
        """Answer a recall by the document's state (agree: 15, refuse with the reason:
        16); returns the document answered."""
        document = self.store.queries.received(
            self.code, request.sender.code, request.response_for.document_id)
        if document is None:
            raise NotFoundError("a recall of a document this organ never received",
                                where=request.response_for.document_id)
        event, reason = answer_change(ChangeKind.RECALL, document.state)
        # agreed: the recall's own reason goes with the 15 and the destroyed copy's tombstone
        self.act(document.id, event, reason or request.description or None)
        return document.id

    # ------------------------------------------------------------------ acting

    def act(self, document_ref: int, event: IncomingEvent | str, reason: str | None = None,
            *, expected_version: int | None = None) -> Step[IncomingState]:
        """Apply a lifecycle event to a received document (accept, reject, assign,
        process, complete, or an answer to a change request: an ``IncomingEvent`` or its
        name); the status packet it emits is signed and queued for the sender in the same
        transaction. An unknown event is a ``LifecycleError`` naming the events."""
        act = INCOMING.event(event)
        document = self.store.queries.document(document_ref)
        return self.store.lifecycle.apply_incoming(
            document_ref, act, reason=reason,
            status=self._status_builder(document, act, reason),
            expected_version=expected_version, now=self.clock())

    def _status_builder(self, document: DocumentView, event: IncomingEvent,
                        reason: str | None
                        ) -> Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]]:
        """Builds and signs the status an event on ``document`` emits (the store calls
        it inside its transaction, only when the step emits a code)."""
        def status(step: Step[IncomingState]) -> tuple[StatusInfo, bytes]:
            if step.emit is None:
                raise ModelError(f"event {event!r} reports no status")
            info = self._status(document, step.emit, reason)
            return info, sign_status(info, self.credentials)

        return status

    def accept(self, document_ref: int) -> Step[IncomingState]:
        """Tiếp nhận: register the document (03)."""
        return self.act(document_ref, IncomingEvent.ACCEPT)

    def reject(self, document_ref: int, reason: str) -> Step[IncomingState]:
        """Từ chối: refuse the document with a reason (02)."""
        return self.act(document_ref, IncomingEvent.REJECT, reason)

    def assign(self, document_ref: int, reason: str | None = None) -> Step[IncomingState]:
        """Phân công: a leader assigns it (04)."""
        return self.act(document_ref, IncomingEvent.ASSIGN, reason)

    def process(self, document_ref: int) -> Step[IncomingState]:
        """Đang xử lý (05)."""
        return self.act(document_ref, IncomingEvent.PROCESS)

    def complete(self, document_ref: int) -> Step[IncomingState]:
        """Hoàn thành (06)."""
        return self.act(document_ref, IncomingEvent.COMPLETE)
