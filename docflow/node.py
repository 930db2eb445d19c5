"""A node: the application service of one organ, gluing the core to its adapters.

One use case per method, each translating to core calls (build, sign, verify, lifecycle)
and one store transaction. A node owns its credentials, trust store, store and transport;
entry points (the CLI, a SOAP server) only translate and call these methods.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from docflow import bootstrap, intake
from docflow.calendar import WorkingCalendar
from docflow.clock import Clock, system_clock
from docflow.config import NodeConfig, load_config
from docflow.delivery import DeliveryReport, check_receipt, run_outbox
from docflow.domain import refusal
from docflow.domain.deadlines import received_deadlines, return_deadline
from docflow.endpoint import Endpoint
from docflow.envelope import DEFAULT_POLICY, Envelope, Policy, parse_envelope, parse_status
from docflow.errors import (
    ModelError,
    NotFoundError,
    RoutingError,
)
from docflow.hooks import Hooks, StatusArrival
from docflow.intake import PullReport
from docflow.lifecycle import (
    INCOMING,
    ChangeKind,
    Direction,
    IncomingEvent,
    IncomingState,
    Step,
    answer_change,
    link_change,
)
from docflow.model import (
    DEFAULT_TZ,
    Attachment,
    BusinessDocType,
    DocumentInfo,
    OrganCode,
    OrganInfo,
    ResponseFor,
    StatusCode,
    StatusInfo,
    TraceHop,
)
from docflow.pdf import PdfPolicy, check_attachments
from docflow.routing import Directory
from docflow.security import (
    AuditCheckpoint,
    Credentials,
    TrustPolicy,
    TrustStore,
    Verified,
    check_packet,
    sign_checkpoint,
    sign_envelope,
    sign_request,
    sign_status,
    verify,
)
from docflow.store import (
    Answer,
    Claim,
    DocumentView,
    OutgoingRecord,
    Page,
    ReceiveResult,
    Refusal,
)
from docflow.store.protocols import NodeStore
from docflow.tracing import DocumentTrace, local_trace, stored_envelope
from docflow.transport import AxisChannel, PullOperation, PullTransport, Transport
from docflow.worker import Worker

_LOG = logging.getLogger("docflow.node")

__all__ = ["DeliveryReport", "DocumentTrace", "Node", "PullReport", "check_receipt",
           "run_outbox"]


_CHANGES = {BusinessDocType.UPDATE: ChangeKind.UPDATE,
            BusinessDocType.REPLACE: ChangeKind.REPLACE}


class Node(Endpoint[Directory | None, NodeStore]):
    """One organ's docflow: send, deliver, receive, act on documents.

    Args:
        organ: this organ as it appears in packets (its code must be the credentials').
        credentials: its signing key and certificate.
        trust: the CAs whose organs it accepts packets from.
        store: its database.
        transport: how its packets travel.
        directory: the routes (through the organ's hub, across provinces); without one,
            packets go straight to their recipients.
        clock: where "now" comes from.
        axis_trust: what packets fetched from an axis or LGSP (:meth:`poll_axis`) need:
            ``REQUIRE`` a verified docflow signature (the default), ``CHANNEL`` the
            authenticated channel is enough for packets other systems wrote (read
            leniently under ``interop``; their verdict and findings are stored).
        interop: the lenient reader's policy for those packets.
        pdf: how the signed PDFs of received documents are checked (``[pdf]``: the PDF
            trust list; ``on_invalid`` record or reject). Without a trust list each PDF
            is marked ``unchecked``.
        calendar: the working days the văn thư deadlines are counted in.
    """

    def __init__(self, organ: OrganInfo, credentials: Credentials, trust: TrustStore,
                 store: NodeStore, transport: Transport, *, directory: Directory | None = None,
                 clock: Clock = system_clock, axis_trust: TrustPolicy = TrustPolicy.REQUIRE,
                 interop: Policy = DEFAULT_POLICY, zone: dt.tzinfo = DEFAULT_TZ,
                 pdf: PdfPolicy | None = None, calendar: WorkingCalendar | None = None):
        super().__init__(organ, credentials, trust, store, transport, directory, clock,
                         zone)
        self.axis_trust = axis_trust
        self.interop = interop
        self.pdf = pdf if pdf is not None else PdfPolicy()
        self.calendar = calendar if calendar is not None else WorkingCalendar()
        #: callbacks told of each document received (a :class:`DocumentView`, after the
        #: store committed it; a copy received again is not told twice)
        self.document_hooks: Hooks[DocumentView] = Hooks("document")
        #: callbacks told of each status packet received (a :class:`StatusArrival`)
        self.status_hooks: Hooks[StatusArrival] = Hooks("status")

    def on_document(self, callback: Callable[[DocumentView], object]
                    ) -> Callable[[DocumentView], object]:
        """Call ``callback(document)`` for every document this node receives (pushed,
        pulled or polled), once it is stored; usable as a decorator. The document's
        packet: ``node.stored(document.id)``. See :mod:`docflow.hooks`."""
        return self.document_hooks.add(callback)

    def on_status(self, callback: Callable[[StatusArrival], object]
                  ) -> Callable[[StatusArrival], object]:
        """Call ``callback(arrival)`` for every status packet this node receives
        (03 accepted, 02 rejected, 15/16 answers, a 13 recall request...), once applied;
        usable as a decorator. See :mod:`docflow.hooks`."""
        return self.status_hooks.add(callback)

    def running(self, **options: Any) -> Worker:
        """The node's background loops as a context (``with node.running(): ...``):
        outbox passes, pulls when its directory entry says ``pull``, polls when its
        transport is an axis or LGSP client. ``options``: see :class:`~docflow.worker.Worker`."""

        entry = (self.directory.entries.get(self.code) if self.directory is not None
                 else None)
        options.setdefault("pull", entry is not None and entry.pull)
        options.setdefault("poll", isinstance(self.transport, AxisChannel))
        return Worker(self, **options)

    @classmethod
    def from_home(cls, home: str | Path, *, signing: bool = True) -> Node:
        """The node of a home folder made by ``docflow init`` (its ``node.toml``):
        store opened, keys loaded (a passphrase from ``DOCFLOW_KEY_PASSPHRASE``)."""
        return cls.from_config(load_config(Path(home)), signing=signing)

    @classmethod
    def from_config(cls, config: NodeConfig, *, signing: bool = True) -> Node:
        """The node a loaded configuration describes (its parts made by
        :func:`docflow.bootstrap.node_parts`). ``signing=False`` opens it for reading
        only: an encrypted key needs no passphrase then (signing would say so)."""
        parts = bootstrap.node_parts(config, signing=signing)
        return cls(parts.organ, parts.credentials, parts.trust, parts.store, parts.transport,
                   directory=parts.directory, axis_trust=parts.axis_trust,
                   interop=parts.interop, zone=parts.zone, pdf=parts.pdf,
                   calendar=parts.calendar)

    # ------------------------------------------------------------------ sending

    def send(self, info: DocumentInfo, attachments: Sequence[Attachment] = (), *,
             to: Sequence[OrganCode | str] | None = None,
             message_id: str | None = None) -> OutgoingRecord:
        """Sign a document from this organ and put it in the outbox, one delivery per
        recipient (delivered by :meth:`deliver`). ``to`` sets the recipients by organ
        code (their names from the directory), instead of ``info.recipients``.

        Written as the official library and real packets write it: ``From`` and every
        ``To`` with their contact elements (from the directory where ``info`` leaves them
        out), and the sender's own ``TraceHeader`` (this organ, now) first in
        ``TraceHeaderList``, covered by the signature."""
        if isinstance(info, Envelope):
            raise ModelError("Node.send takes a DocumentInfo, not an Envelope",
                             where="Node.send(info)",
                             hint="node.send(envelope.info, envelope.attachments)")
        if not isinstance(info, DocumentInfo):
            raise ModelError(f"Node.send takes a DocumentInfo, not {type(info).__name__}",
                             where="Node.send(info)")
        if isinstance(attachments, Attachment | bytes | str):
            raise ModelError("attachments must be a sequence of Attachment",
                             where="Node.send(attachments)",
                             hint='(Attachment("a.pdf", data),), even for one file')
        for index, attachment in enumerate(attachments):
            if not isinstance(attachment, Attachment):
                raise ModelError(f"attachments[{index}] must be an Attachment, not "
                                 f"{type(attachment).__name__}",
                                 where=f"Node.send(attachments[{index}])",
                                 hint='Attachment("quyet-dinh.pdf", data): a name and bytes')
        if info.sender.code != self.code:
            raise ModelError(f"this node sends as {self.code}, not {info.sender.code}")
        if info.due_date is not None and info.due_date < info.promulgation_date:
            raise ModelError(f"the due date {info.due_date:%d/%m/%Y} is before the issue "
                             f"date {info.promulgation_date:%d/%m/%Y}",
                             where=f"{info.document_id}: DueDate",
                             hint="a due date (hạn xử lý) comes on or after the issue date")
        if self.store.queries.has_sent(self.code, info.document_id):
            # Vendor systems and the axes take a DocumentId seen before as the same
            # document again: a second one would be dropped outside docflow.
            raise ModelError(
                f"this organ has sent a document {info.code} of "
                f"{info.promulgation_date:%d/%m/%Y} already", where=info.document_id,
                hint=f"give it the next number ({self.next_number(info.promulgation_date.year)}"
                "), or change the sent one with node.update / node.replace")
        year = info.promulgation_date.year
        taken = self.store.queries.sent_code(self.code, year, info.code_number,
                                             info.code_notation)
        if taken is not None:  # a register's number is unique in its year (Phụ lục VI)
            raise ModelError(
                f"this organ sent {info.code} on {taken.promulgation_date:%d/%m/%Y} "
                f"already (document {taken.id}): a number and notation are used once a year",
                where=info.document_id,
                hint=f"give it the next number ({self.next_number(year)})")
        recipients = (tuple(self._organ_info(OrganCode.parse(code)) for code in to)
                      if to is not None else info.recipients)
        self._require_routes(organ.code for organ in recipients)
        info = dataclasses.replace(info, sender=self._with_contacts(info.sender),
                                   recipients=tuple(map(self._with_contacts, recipients)))
        now = self.clock()
        envelope = Envelope(info, tuple(attachments), trace=(TraceHop(self.code, now),),
                            message_id=message_id or uuid.uuid4().hex)
        packet = sign_envelope(envelope, self.credentials)
        record = self.store.outbox.record(envelope, packet, now=now)
        _LOG.info("signed document %d (%s, message %s) for %s", record.document_ref,
                  info.code, envelope.message_id,
                  ", ".join(str(organ.code) for organ in info.recipients))
        return record

    def next_number(self, year: int | None = None) -> str:
        """The next free number (số) of this organ's sent documents in ``year`` (this
        year in the node's zone): one more than the highest number used."""
        used = self.store.queries.numbers_used(self.code, year or self.today().year)
        return str(max((int(n) for n in used if n.isdigit()), default=0) + 1)

    def _require_routes(self, codes: Iterable[OrganCode]) -> None:
        """Refuse, before anything is signed, a recipient this node has no way to reach:
        its transport (one that can tell: the SOAP client) has no address for it or for
        the hub the directory sends it through. (An axis or LGSP reaches every organ it
        knows; it says so itself when a packet goes.)"""
        reaches = getattr(self.transport, "reaches", None)
        if reaches is None:
            return
        unknown = []
        for code in codes:
            try:
                hop = self._via(code) or code
            except RoutingError:  # not in the directory: maybe under [peers]
                hop = code
            if not reaches(hop):
                unknown.append(str(code))
        if unknown:
            raise RoutingError(
                f"no route to {', '.join(unknown)}: neither the directory nor [peers] give "
                "its endpoint (or its hub's)", where=", ".join(unknown),
                hint="nothing was signed; add the organ's endpoint under [peers] in "
                "node.toml, a directory that lists it, or an [axis]")

    def _organ_info(self, code: OrganCode) -> OrganInfo:
        if self.directory is not None and code in self.directory.entries:
            return self.directory.entry(code).organ.info()
        return OrganInfo(code, str(code))

    def _with_contacts(self, organ: OrganInfo) -> OrganInfo:
        """``organ`` with what it leaves out (the unit in charge, address, mail, phone,
        fax, website) from the directory, when the directory knows it."""
        if self.directory is None or organ.code not in self.directory.entries:
            return organ
        known = self.directory.entry(organ.code).organ.info()
        return dataclasses.replace(organ, **{
            name: getattr(known, name) for name in (
                "organization_in_charge", "address", "email", "telephone", "fax", "website")
            if not getattr(organ, name) and getattr(known, name)})

    def deliver(self, *, worker: str = "node", limit: int = 50,
                lease: dt.timedelta = dt.timedelta(minutes=5),
                workers: int = 1) -> DeliveryReport:
        """One pass of the outbox worker: send what is due, verify each receipt, record
        the outcome. A missing, unsigned, wrongly signed or mismatching receipt counts as
        no receipt: the delivery is retried later. ``workers`` sends that many at a time
        (see :func:`run_outbox`)."""
        def settle(claim: Claim, recipient: OrganCode, via: OrganCode | None,
                   receipt: bytes) -> None:
            verified = self._check_receipt(receipt, recipient, via, claim.message_id,
                                           claim.packet)
            self.store.outbox.acknowledge(claim.delivery_id, receipt, verified.status,
                                          content_digest=verified.content_digest, now=self.clock())

        claims = self.store.outbox.claim_due(worker, limit=limit, now=self.clock(),
                                             organ=self.code, lease=lease)
        return run_outbox(claims, self.store, self.transport, self.clock, via=self._via,
                          settle=settle, workers=workers)

    def _via(self, recipient: OrganCode) -> OrganCode | None:
        if self.directory is None:
            return None
        via = self.directory.next_hop(self.code, recipient)
        return None if via == recipient else via

    def _check_receipt(self, receipt: bytes, recipient: OrganCode, via: OrganCode | None,
                       message_id: str | None, packet: bytes) -> Verified:
        signers = (recipient,) if via is None else (recipient, via)
        return check_receipt(receipt, self.trust, now=self.clock(), signers=signers,
                             message_id=message_id, packet=packet, recipient=recipient)

    def recall(self, document_ref: int, reason: str) -> list[int]:
        """Ask every recipient still holding the document to give it back (status 13);
        their answers (15/16) settle each delivery."""
        document = self.store.queries.document(document_ref)
        info = self._status(document, StatusCode.RECALL_REQUESTED, reason)
        packet = sign_status(info, self.credentials)
        return self.store.lifecycle.request_change(document_ref, ChangeKind.RECALL, packet=packet,
                                                   message_id=info.message_id, now=self.clock())

    def update(self, document_ref: int, new: DocumentInfo,
               attachments: Sequence[Attachment] = (), *, reason: str) -> OutgoingRecord:
        """Send an update (cập nhật) of a sent document: ``new`` (its own number and
        content) goes to the same recipients, linked to the original; each recipient still
        holding the original answers whether it takes the update (15) or not (16)."""
        return self._change(ChangeKind.UPDATE, document_ref, new, attachments, reason)

    def replace(self, document_ref: int, new: DocumentInfo,
                attachments: Sequence[Attachment] = (), *, reason: str) -> OutgoingRecord:
        """Send a replacement (thay thế): the new document replaces the original at every
        recipient still holding it; those that agree mark the original replaced (15)."""
        return self._change(ChangeKind.REPLACE, document_ref, new, attachments, reason)

    def _change(self, kind: ChangeKind, document_ref: int, new: DocumentInfo,
                attachments: Sequence[Attachment], reason: str) -> OutgoingRecord:
        if new.sender.code != self.code:
            raise ModelError(f"this node sends as {self.code}, not {new.sender.code}")
        original = parse_envelope(self.store.queries.packet(document_ref)).info
        linked = link_change(kind, original, reason=reason, new=new)
        envelope = Envelope(linked, tuple(attachments), message_id=uuid.uuid4().hex)
        packet = sign_envelope(envelope, self.credentials)
        return self.store.lifecycle.record_change(document_ref, kind, envelope, packet,
                                                  now=self.clock())

    # ------------------------------------------------------------------ receiving

    def _addressed(self, recipient: OrganCode | None) -> None:
        if recipient is not None and recipient != self.code:
            raise RoutingError(f"a copy for {recipient} reached this organ's node",
                               where=str(self.code),
                               hint="send it to that organ's node or to its hub")

    def receive_document(self, packet: bytes, recipient: OrganCode | None = None, *,
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

    def _receive(self, packet: bytes, recipient: OrganCode | None,
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

    def receive_status(self, packet: bytes, recipient: OrganCode | None = None, *,
                       trust_policy: TrustPolicy = TrustPolicy.REQUIRE) -> None:
        """Verify (or, under ``CHANNEL``, read leniently) a status packet: a report on a
        document this organ sent (merged into its delivery), or a recall request for a
        document it received (answered by the document's state)."""
        self._addressed(recipient)
        now = self.clock()
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

    # ------------------------------------------------------------------ pulling

    def pull(self, *, limit: int = 50) -> PullReport:
        """Fetch what this organ's hub holds for it (documents, then status packets),
        store each, and acknowledge each only after it is stored: with the receipt, or
        with the reason a packet was refused (never dropped silently). One packet that
        cannot be stored or acknowledged is set aside with its reason; the rest go on."""
        return intake.pull(self, limit=limit)

    def poll_axis(self, axis: AxisChannel | None = None, *, limit: int = 50,
                  pages: int = 10) -> PullReport:
        """The receive loop on a national axis / LGSP: list what waits, fetch each
        packet, verify and store it, queue the signed receipt of a document back to its
        sender, and only then acknowledge ``done``. A packet this node refuses is
        acknowledged ``fail`` (the axis retries, then dead-letters it) and the refusal is
        recorded in the audit chain: never dropped silently. One item that cannot be
        fetched, read or acknowledged is set aside with its reason and the pass goes on.
        ``axis`` defaults to the node's transport. A full page of ``limit`` is listed
        again at once, up to ``pages`` pages per message type in one pass (a backlog
        drains at the network's pace, not one page per pass); a packet is taken once per
        pass."""
        if axis is None:
            if not isinstance(self.transport, AxisChannel):
                raise RoutingError("this node's transport is not an axis or LGSP client",
                                   where=str(self.code), hint="pass the client to poll")
            axis = self.transport
        return intake.poll(self, axis, limit=limit, pages=pages)

    def queue_axis_receipt(self, receipt: bytes) -> None:
        """Queue this node's signed receipt of a document received from an axis back to
        its sender, as a status packet (the axis gives no synchronous receipt)."""
        status = verify(receipt, self.trust, now=self.clock()).status
        document = self.store.queries.received(self.code,
                                               status.response_for.organ_id,
                                               status.response_for.document_id)
        if document is not None:
            self.store.inbox.queue_receipt(document.id, receipt, status, now=self.clock())

    # ------------------------------------------------------------------ reading

    def inbox(self, *, state: str | Sequence[str] | None = None, page: int = 1,
              page_size: int = 50) -> Page[DocumentView]:
        """Documents this organ received (newest first)."""
        return self.store.queries.documents(direction=Direction.IN, organ=self.code,
                                            state=state,
                                            page=page, page_size=page_size)

    def outbox(self, *, state: str | Sequence[str] | None = None, page: int = 1,
               page_size: int = 50) -> Page[DocumentView]:
        """Documents this organ sent (newest first)."""
        return self.store.queries.documents(direction=Direction.OUT, organ=self.code,
                                            state=state,
                                            page=page, page_size=page_size)

    def document(self, document_ref: int) -> DocumentView:
        """One document of this node."""
        return self.store.queries.document(document_ref)

    def stored(self, document_ref: int) -> Envelope:
        """A document's packet as stored, read again (leniently: a received document may
        have come from a system that writes another layout; it was accepted then)."""
        return stored_envelope(self.store, document_ref, self.interop)

    def audit_checkpoint(self) -> AuditCheckpoint:
        """Sign the store's audit chain as it stands (entries, last hash) with this
        organ's key: keep the result outside the database (``to_json``) and give it to
        :meth:`docflow.store.AuditLog.verify` later, which then also catches a chain
        rewritten whole."""
        seq, head = self.store.audit.head()
        return sign_checkpoint(self.credentials, seq, head, now=self.clock())

    def trace(self, document_ref: int, *, ask_hub: bool = True) -> DocumentTrace:
        """A document's whole story: copies, history, statuses, hops, and (for a sent
        document routed through a hub, when ``ask_hub``) what the hub saw."""
        story = local_trace(self.store, document_ref, self.interop)
        document = story.document
        if (ask_hub and document.direction == Direction.OUT and self.directory is not None
                and self.directory.entry(self.code).hub is not None
                and isinstance(self.transport, PullTransport)):
            token = sign_request(self.credentials, PullOperation.TRACE, document.message_id,
                                 now=self.clock())
            return dataclasses.replace(story, hub=self.transport.trace(
                intake.hub_of(self), token, document.message_id))
        return story

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

    def _status(self, document: DocumentView, code: StatusCode,
                reason: str | None) -> StatusInfo:
        return self._answer(ResponseFor(OrganCode(document.sender), document.code,
                                        document.promulgation_date, document.document_id),
                            document.message_id, code, reason)

    def _answer(self, about: ResponseFor, message_id: str, code: StatusCode,
                reason: str | None) -> StatusInfo:
        return StatusInfo(response_for=about, sender=self.organ, code=code,
                          timestamp=self.clock().astimezone(dt.UTC),
                          description=reason or code.description, message_id=message_id)


