"""A node: the application service of one organ, gluing the core to its adapters.

One use case per method, each translating to core calls (build, sign, verify, lifecycle)
and one store transaction. A node owns its credentials, trust store, store and transport;
entry points (the CLI, a SOAP server) only translate and call these methods.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from docflow.clock import Clock, system_clock
from docflow.envelope import Envelope
from docflow.errors import (
    DocflowError,
    ModelError,
    NotFoundError,
    RoutingError,
    SecurityError,
)
from docflow.lifecycle import ChangeKind, Step, answer_change
from docflow.model import (
    Attachment,
    DocumentInfo,
    OrganCode,
    OrganInfo,
    ResponseFor,
    StatusCode,
    StatusInfo,
)
from docflow.security import Credentials, TrustStore, sign_envelope, sign_status, verify
from docflow.store import DocumentView, OutgoingRecord, Store
from docflow.transport import Transport

__all__ = ["DeliveryReport", "Node"]


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass of the outbox worker did."""

    delivered: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()


class Node:
    """One organ's docflow: send, deliver, receive, act on documents.

    Args:
        organ: this organ as it appears in packets (its code must be the credentials').
        credentials: its signing key and certificate.
        trust: the CAs whose organs it accepts packets from.
        store: its database.
        transport: how its packets travel.
        clock: where "now" comes from.
    """

    def __init__(self, organ: OrganInfo, credentials: Credentials, trust: TrustStore,
                 store: Store, transport: Transport, *, clock: Clock = system_clock):
        if credentials.organ != organ.code:
            raise ModelError(
                f"the credentials are {credentials.organ}'s, not {organ.code}'s",
                hint="give each node its own organ's key and certificate",
            )
        self.organ = organ
        self.credentials = credentials
        self.trust = trust
        self.store = store
        self.transport = transport
        self.clock = clock

    @property
    def code(self) -> OrganCode:
        """This node's organ code."""
        return self.organ.code

    # ------------------------------------------------------------------ sending

    def send(self, info: DocumentInfo, attachments: Sequence[Attachment] = (), *,
             message_id: str | None = None) -> OutgoingRecord:
        """Sign a document from this organ and put it in the outbox, one delivery per
        recipient (delivered by :meth:`deliver`)."""
        if info.sender.code != self.code:
            raise ModelError(f"this node sends as {self.code}, not {info.sender.code}")
        envelope = Envelope(info, tuple(attachments), message_id=message_id or uuid.uuid4().hex)
        packet = sign_envelope(envelope, self.credentials)
        return self.store.record_outgoing(envelope, packet, now=self.clock())

    def deliver(self, *, worker: str = "node", limit: int = 50) -> DeliveryReport:
        """One pass of the outbox worker: send what is due, verify each receipt, record
        the outcome. A missing, unsigned, wrongly signed or mismatching receipt counts as
        no receipt: the delivery is retried later."""
        delivered, failed, errors = 0, 0, []
        for claim in self.store.claim_due(worker, limit=limit, now=self.clock()):
            recipient = OrganCode(claim.recipient)
            try:
                if claim.kind == "status":
                    self.transport.send_status(recipient, claim.packet)
                    self.store.acknowledge(claim.delivery_id, now=self.clock())
                else:
                    receipt = self.transport.send_document(recipient, claim.packet)
                    status = self._check_receipt(receipt, recipient, claim.message_id,
                                                 claim.packet)
                    self.store.acknowledge(claim.delivery_id, receipt, status, now=self.clock())
                delivered += 1
            except DocflowError as exc:
                self.store.fail(claim.delivery_id, f"{type(exc).__name__}: {exc}",
                                now=self.clock())
                failed += 1
                errors.append(f"{claim.recipient}: {exc}")
        return DeliveryReport(delivered, failed, tuple(errors))

    def _check_receipt(self, receipt: bytes, recipient: OrganCode, message_id: str | None,
                       packet: bytes) -> StatusInfo:
        status = verify(receipt, self.trust, now=self.clock()).status
        expected = hashlib.sha256(packet).hexdigest()
        problems = []
        if status.code is not StatusCode.ARRIVED:
            problems.append(f"status {status.code.value} instead of 01")
        if status.sender.code != recipient:
            problems.append(f"signed by {status.sender.code}, not the recipient {recipient}")
        if status.message_id != message_id:
            problems.append(f"for message {status.message_id}, not {message_id}")
        if status.received_sha256 != expected:
            problems.append("for other bytes than were sent")
        if problems:
            raise SecurityError("the receipt does not prove this delivery: "
                                + "; ".join(problems), where=str(recipient))
        return status

    def recall(self, document_ref: int, reason: str) -> list[int]:
        """Ask every recipient still holding the document to give it back (status 13);
        their answers (15/16) settle each delivery."""
        document = self.store.document(document_ref)
        info = self._status(document, StatusCode.RECALL_REQUESTED, reason)
        packet = sign_status(info, self.credentials)
        return self.store.request_change(document_ref, ChangeKind.RECALL, packet=packet,
                                         message_id=info.message_id, now=self.clock())

    # ------------------------------------------------------------------ receiving

    def receive_document(self, packet: bytes) -> bytes:
        """Verify and store a document addressed to this organ; answer with the signed
        receipt (01 naming the message id and the SHA-256 of the bytes received). A
        duplicate gets the first receipt again and changes nothing."""
        now = self.clock()
        envelope = verify(packet, self.trust, now=now).envelope
        if self.code not in {organ.code for organ in envelope.info.recipients}:
            raise RoutingError(
                "the document is not addressed to this organ", where=str(self.code),
                hint="send it to an organ among its To recipients",
            )

        def receipt() -> bytes:
            info = envelope.info
            return sign_status(StatusInfo(
                response_for=ResponseFor(info.sender.code, info.code, info.promulgation_date,
                                         info.document_id),
                sender=self.organ,
                code=StatusCode.ARRIVED,
                timestamp=now,
                description=StatusCode.ARRIVED.description,
                message_id=envelope.message_id,
                received_sha256=hashlib.sha256(packet).hexdigest(),
            ), self.credentials)

        return self.store.receive(envelope, packet, organ=str(self.code), receipt=receipt,
                                  now=now).receipt

    def receive_status(self, packet: bytes) -> None:
        """Verify a status packet: a report on a document this organ sent (merged into
        its delivery), or a recall request for a document it received (answered by the
        document's state)."""
        now = self.clock()
        status = verify(packet, self.trust, now=now).status
        if status.code is StatusCode.RECALL_REQUESTED:
            self._answer_recall(status)
            return
        self.store.apply_status(status, packet, organ=str(self.code), now=now)

    def _answer_recall(self, request: StatusInfo) -> None:
        matches = self.store.documents(
            direction="in", organ=str(self.code),
            document_id=request.response_for.document_id, sender=str(request.sender.code),
        ).items
        if not matches:
            raise NotFoundError("a recall of a document this organ never received",
                                where=request.response_for.document_id)
        document = matches[0]
        event, reason = answer_change(ChangeKind.RECALL, document.state)
        self.act(document.id, event, reason)

    # ------------------------------------------------------------------ acting

    def act(self, document_ref: int, event: str, reason: str | None = None, *,
            expected_version: int | None = None) -> Step:
        """Apply a lifecycle event to a received document (accept, reject, assign,
        process, complete, or an answer to a change request); the status packet it emits
        is signed and queued for the sender in the same transaction."""
        document = self.store.document(document_ref)

        def status(step: Step) -> tuple[StatusInfo, bytes]:
            if step.emit is None:  # the store calls this only when a code is emitted
                raise ModelError(f"event {event!r} reports no status")
            info = self._status(document, step.emit, reason)
            return info, sign_status(info, self.credentials)

        return self.store.apply_incoming(document_ref, event, reason=reason, status=status,
                                         expected_version=expected_version, now=self.clock())

    def accept(self, document_ref: int) -> Step:
        """Tiếp nhận: register the document (03)."""
        return self.act(document_ref, "accept")

    def reject(self, document_ref: int, reason: str) -> Step:
        """Từ chối: refuse the document with a reason (02)."""
        return self.act(document_ref, "reject", reason)

    def assign(self, document_ref: int, reason: str | None = None) -> Step:
        """Phân công: a leader assigns it (04)."""
        return self.act(document_ref, "assign", reason)

    def process(self, document_ref: int) -> Step:
        """Đang xử lý (05)."""
        return self.act(document_ref, "process")

    def complete(self, document_ref: int) -> Step:
        """Hoàn thành (06)."""
        return self.act(document_ref, "complete")

    def _status(self, document: DocumentView, code: StatusCode,
                reason: str | None) -> StatusInfo:
        origin = OrganCode(document.sender)
        return StatusInfo(
            response_for=ResponseFor(origin, document.code, document.promulgation_date,
                                     document.document_id),
            sender=self.organ,
            code=code,
            timestamp=self.clock().astimezone(dt.UTC),
            description=reason or code.description,
            message_id=document.message_id,
        )
