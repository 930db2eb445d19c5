"""A node's sending side (:class:`Sending`, one of :class:`~docflow.node.Node`'s halves):
sign a document and queue one delivery per recipient, deliver what is due and verify each
receipt, and change a sent document (recall, update, replacement)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from docflow.delivery import DeliveryReport, check_receipt, run_outbox
from docflow.domain.deadlines import sent_deadlines
from docflow.endpoint import Endpoint
from docflow.envelope import Envelope, parse_envelope
from docflow.errors import ClosedOrganError, ModelError, RoutingError
from docflow.lifecycle import ChangeKind, link_change
from docflow.model import (
    Attachment,
    DocumentInfo,
    OrganCode,
    OrganInfo,
    StatusCode,
    TraceHop,
)
from docflow.routing import Directory
from docflow.security import Verified, sign_envelope, sign_envelope_spooled, sign_status
from docflow.spool import SPOOL_FROM, PacketData
from docflow.store import Claim, OutgoingRecord
from docflow.store.protocols import NodeStore

__all__ = ["Sending", "SentNow"]


@dataclass(frozen=True)
class SentNow:
    """What :meth:`Sending.send_now` did: the document recorded, and the pass that
    delivered its copies."""

    record: OutgoingRecord
    report: DeliveryReport

_LOG = logging.getLogger("docflow.node")


class Sending(Endpoint[Directory | None, NodeStore]):
    """What a node does as a sender (see :class:`~docflow.node.Node`)."""

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
        return self._send(info, attachments, to, message_id, None)

    def send_now(self, info: DocumentInfo, attachments: Sequence[Attachment] = (), *,
                 to: Sequence[OrganCode | str] | None = None, message_id: str | None = None,
                 worker: str = "node", lease: dt.timedelta = dt.timedelta(minutes=5),
                 workers: int = 1) -> SentNow:
        """:meth:`send`, then deliver the new document's copies at once, as
        :meth:`deliver` would: the document is recorded and its deliveries claimed for
        ``worker`` in one transaction (one commit fewer than ``send`` then ``deliver``;
        the packet in hand is sent, not read back). What fails is retried by later
        passes of :meth:`deliver`, as any delivery: a process that dies before the
        answer leaves the copies to be claimed again once ``lease`` runs out."""
        record = self._send(info, attachments, to, message_id, (worker, lease))
        report = run_outbox(record.claims, self.store, self.transport, self.clock,
                            via=self._via, settle=self._settle, workers=workers)
        return SentNow(record, report)

    def _send(self, info: DocumentInfo, attachments: Sequence[Attachment],
              to: Sequence[OrganCode | str] | None, message_id: str | None,
              claim: tuple[str, dt.timedelta] | None) -> OutgoingRecord:
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
        now = self.clock()
        self._require_open(now)
        recipients = self._addressees(
            tuple(self._organ_info(OrganCode.parse(code)) for code in to)
            if to is not None else info.recipients, now)
        if any(organ.code == self.code for organ in recipients):
            # the axes and LGSPs route by recipient: a copy to oneself would go round the
            # network back to this node, which refuses a packet routed back to itself
            raise RoutingError("a document is not sent to its own organ",
                               where=f"{info.document_id} -> {self.code}",
                               hint="nothing was signed; leave this organ out of the "
                                    "recipients (a copy kept for the record is the sent one)")
        self._require_routes(organ.code for organ in recipients)
        info = dataclasses.replace(info, sender=self._with_contacts(info.sender),
                                   recipients=tuple(map(self._with_contacts, recipients)))
        envelope = Envelope(info, tuple(attachments), trace=(TraceHop(self.code, now),),
                            message_id=_message_id(message_id))
        # a large document is signed into a spool (its base64 made as it is written) and
        # stored from it chunk by chunk: never one more copy of it in memory
        packet = (sign_envelope_spooled(envelope, self.credentials)
                  if sum(len(att.data) for att in envelope.attachments) * 4 // 3 >= SPOOL_FROM
                  else sign_envelope(envelope, self.credentials))
        deadlines = sent_deadlines(info.due_date, self.zone)
        record = (self.store.outbox.record(envelope, packet, deadlines=deadlines, now=now)
                  if claim is None else
                  self.store.outbox.record(envelope, packet, deadlines=deadlines, now=now,
                                           claim_for=claim[0], lease=claim[1]))
        _LOG.info("signed document %d (%s, message %s) for %s", record.document_ref,
                  info.code, envelope.message_id,
                  ", ".join(str(organ.code) for organ in info.recipients))
        return record

    def next_number(self, year: int | None = None) -> str:
        """The next free number (số) of this organ's sent documents in ``year`` (this
        year in the node's zone): one more than the highest number used."""
        used = self.store.queries.numbers_used(self.code, year or self.today().year)
        return str(max((int(n) for n in used if n.isdigit()), default=0) + 1)

    def _require_open(self, now: dt.datetime) -> None:
        """A closed organ sends nothing new (its successor does); what it sent before
        still travels, and it may still recall or change it."""
        entry = None if self.directory is None else self.directory.entries.get(self.code)
        if entry is None or entry.organ.open_at(now):
            return
        successor = self.directory.successor(self.code, now) if self.directory else None
        raise ClosedOrganError(
            f"this organ ({self.code}) is closed" + (
                f" since {entry.organ.closed.astimezone(self.zone):%d/%m/%Y}"
                if entry.organ.closed is not None else "") + ": it sends nothing new",
            where=str(self.code),
            hint=(f"send from its successor {successor}'s node" if successor
                  else "send from the organ that took over its work"),
            successor=None if successor is None else str(successor))

    def _addressees(self, recipients: Sequence[OrganInfo], now: dt.datetime
                    ) -> tuple[OrganInfo, ...]:
        """The recipients as the directory has them open now: a closed organ is refused
        naming its successor, or (``closed_organs = "forward"``) replaced by it, once
        (two closed districts forwarding to one province make one copy)."""
        if self.directory is None:
            return tuple(recipients)
        out: dict[OrganCode, OrganInfo] = {}
        for organ in recipients:
            try:
                code = self.directory.addressee(organ.code, now)
            except ClosedOrganError as exc:
                raise ClosedOrganError(exc.message, where=exc.where,
                                       hint=f"nothing was signed; {exc.hint}",
                                       successor=exc.successor) from None
            if code != organ.code:
                if code == self.code:
                    raise ClosedOrganError(
                        f"{organ.code} is closed and this organ is its successor: its "
                        "work is this organ's already", where=str(organ.code),
                        hint="nothing was signed; leave it out of the recipients",
                        successor=str(code))
                _LOG.info("%s is closed: addressed to its successor %s", organ.code, code)
                organ = self._organ_info(code)
            out.setdefault(code, organ)
        return tuple(out.values())

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
        claims = self.store.outbox.claim_due(worker, limit=limit, now=self.clock(),
                                             organ=self.code, lease=lease)
        return run_outbox(claims, self.store, self.transport, self.clock, via=self._via,
                          settle=self._settle, workers=workers)

    def _settle(self, claim: Claim, recipient: OrganCode, via: OrganCode | None,
                receipt: bytes) -> None:
        """Verify a copy's receipt and record it (a bad one: the copy is retried)."""
        verified = self._check_receipt(receipt, recipient, via, claim.message_id,
                                       claim.packet)
        self.store.outbox.acknowledge(claim.delivery_id, receipt, verified.status,
                                      content_digest=verified.content_digest, now=self.clock())

    def _via(self, recipient: OrganCode) -> OrganCode | None:
        if self.directory is None:
            return None
        via = self.directory.next_hop(self.code, recipient)
        return None if via == recipient else via

    def _check_receipt(self, receipt: bytes, recipient: OrganCode, via: OrganCode | None,
                       message_id: str | None, packet: PacketData) -> Verified:
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
               attachments: Sequence[Attachment] = (), *, reason: str,
               message_id: str | None = None) -> OutgoingRecord:
        """Send an update (cập nhật) of a sent document: ``new`` (its own number and
        content) goes to the same recipients, linked to the original; each recipient still
        holding the original answers whether it takes the update (15) or not (16).
        ``message_id`` names the new packet (a random one when not given)."""
        return self._change(ChangeKind.UPDATE, document_ref, new, attachments, reason,
                            message_id)

    def replace(self, document_ref: int, new: DocumentInfo,
                attachments: Sequence[Attachment] = (), *, reason: str,
                message_id: str | None = None) -> OutgoingRecord:
        """Send a replacement (thay thế): the new document replaces the original at every
        recipient still holding it; those that agree mark the original replaced (15).
        ``message_id`` names the new packet (a random one when not given)."""
        return self._change(ChangeKind.REPLACE, document_ref, new, attachments, reason,
                            message_id)

    def _change(self, kind: ChangeKind, document_ref: int, new: DocumentInfo,
                attachments: Sequence[Attachment], reason: str,
                message_id: str | None) -> OutgoingRecord:
        if new.sender.code != self.code:
            raise ModelError(f"this node sends as {self.code}, not {new.sender.code}")
        original = parse_envelope(self.store.queries.packet(document_ref)).info
        linked = link_change(kind, original, reason=reason, new=new)
        now = self.clock()
        envelope = Envelope(linked, tuple(attachments), trace=(TraceHop(self.code, now),),
                            message_id=_message_id(message_id))
        packet = sign_envelope(envelope, self.credentials)
        return self.store.lifecycle.record_change(document_ref, kind, envelope, packet,
                                                  now=now)


#: what edXML's MessageId takes (the schema's pattern)
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def _message_id(given: str | None) -> str:
    """A caller's message id, checked before anything is signed; a random one if None."""
    if given is None or given == "":
        return uuid.uuid4().hex
    if not isinstance(given, str) or not _MESSAGE_ID.fullmatch(given):
        raise ModelError(f"not a message id: {str(given)[:40]!r}",
                         where="message_id",
                         hint="1 to 128 letters, digits and . _ : - (or leave it out: "
                              "a random one is drawn)")
    return given
