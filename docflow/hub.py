"""A hub: the store-and-forward role of a province's LGSP or of the national axis.

A hub takes a signed document for one recipient, verifies it (signature, trust, schema),
checks the route (the recipient is among the document's ``To`` organs, the directory
knows a way on, no loop, hop limit), takes custody (its own signed receipt 01 for the
bytes it received) and appends its signed trace hop. Its outbox then pushes the packet to
the next stop, or holds it until a pulling organ fetches it. Receipts of the recipients
travel back to the sender as status packets, like every other status: a hub relays status
packets only between a document's sender and its recipients.

Pulling organs authenticate each request with a signed
:class:`~docflow.security.RequestToken`; a hub hands an organ only its own packets and
traces only documents the organ sent.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docflow import bootstrap
from docflow.clock import Clock, system_clock
from docflow.config import NodeConfig, load_config
from docflow.delivery import PassReport, check_receipt, run_outbox
from docflow.endpoint import Endpoint
from docflow.envelope import Envelope, parse_envelope
from docflow.errors import (
    ConfigError,
    DocflowError,
    ModelError,
    NotFoundError,
    RoutingError,
    SecurityError,
)
from docflow.model import (
    DEFAULT_TZ,
    OrganCode,
    OrganInfo,
    ResponseFor,
    StatusCode,
    StatusInfo,
)
from docflow.routing import ClosedPolicy, Directory, signed_at
from docflow.security import (
    Credentials,
    NonceCache,
    RequestToken,
    TrustStore,
    Verified,
    sign_hop,
    sign_status,
    verify,
    verify_request,
)
from docflow.spool import PacketData, Spool, sha256_of
from docflow.store import Claim, Store
from docflow.tracing import DocumentTrace, local_trace, stored_envelope
from docflow.transport import (
    CopyTrace,
    Pending,
    PullOperation,
    StatusTrace,
    TraceReport,
    Transport,
)

__all__ = ["RECENT", "Hub", "HubReport"]

#: how long a hub takes a document copy's bytes it verified as verified (the copies of a
#: broadcast come one per recipient, each the same packet); short, so that a revocation
#: or an expiry is seen as soon as it would be between two copies sent a minute apart
RECENT = dt.timedelta(seconds=60)



@dataclass(frozen=True)
class PullWatch:
    """How an organ that pulls from a hub stands (:meth:`Hub.pulls`)."""

    #: when it last asked for its packets (since this hub's process started; None: not yet)
    last_pull: dt.datetime | None
    #: packets waiting for it
    waiting: int
    #: since when the oldest of them is due (None: nothing waits)
    oldest_due_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601)."""
        return {"last_pull": self.last_pull.isoformat() if self.last_pull else None,
                "waiting": self.waiting,
                "oldest_due_at": self.oldest_due_at.isoformat() if self.oldest_due_at
                else None}


#: the report of a hub's outbox pass: the same type as a node's (``forwarded`` is its
#: ``delivered``)
HubReport = PassReport


class Hub(Endpoint[Directory, Store]):
    """The hub role of a node (an LGSP or the national axis).

    Args:
        organ: the hub as it appears in trace hops and receipts.
        credentials: its signing key and certificate.
        trust: the CAs whose organs it accepts packets from.
        store: its database (relayed documents, its outbox).
        transport: how it pushes packets on.
        directory: the organs and hubs, and the routes between them.
        clock: where "now" comes from.
    """

    def __init__(self, organ: OrganInfo, credentials: Credentials, trust: TrustStore,
                 store: Store, transport: Transport, directory: Directory, *,
                 clock: Clock = system_clock, zone: dt.tzinfo = DEFAULT_TZ):
        if not directory.is_hub(organ.code):
            raise RoutingError("the directory does not list this organ as a hub",
                               where=str(organ.code), hint="add it under [[hubs]]")
        super().__init__(organ, credentials, trust, store, transport, directory, clock,
                         zone)
        self.nonces = NonceCache()
        #: document copies verified lately, by the digest of their bytes
        self._recent: OrderedDict[str, tuple[Verified, dt.datetime]] = OrderedDict()
        self._recent_lock = threading.Lock()
        #: how long a pulled packet stays leased to its organ before it is offered again
        self.pull_lease = dt.timedelta(minutes=5)
        self._last_pull: dict[str, dt.datetime] = {}

    @classmethod
    def from_config(cls, config: NodeConfig, *, signing: bool = True) -> Hub:
        """The hub of a home with ``role = "hub"`` (its parts made by
        :func:`docflow.bootstrap.hub_parts`)."""
        parts = bootstrap.hub_parts(config, signing=signing)
        if parts.directory is None:  # hub_parts refuses a hub home without one
            parts.store.close()
            raise ConfigError("a hub home needs a directory", where=str(config.organ.code))
        try:
            return cls(parts.organ, parts.credentials, parts.trust, parts.store,
                       parts.transport, parts.directory, zone=parts.zone)
        except DocflowError:
            parts.store.close()
            raise

    @classmethod
    def from_home(cls, home: str | Path, *, signing: bool = True) -> Hub:
        """The hub of a home folder made by ``docflow init --hub``."""
        return cls.from_config(load_config(Path(home)), signing=signing)

    @property
    def pulling(self) -> list[OrganCode]:
        """The organs this hub holds packets for (they pull instead of being pushed to)."""
        return [entry.code for entry in self.directory.served_by(self.code) if entry.pull]

    def pulls(self) -> dict[str, PullWatch]:
        """For each organ that pulls from this hub: when it last asked for its packets
        (since this process started), how many wait for it and since when the oldest is
        due; what ``GET /health`` shows: nobody else notices a commune that stopped
        pulling."""
        waiting = self.store.queries.waiting_for(self.pulling)
        return {str(organ): PullWatch(self._last_pull.get(str(organ)),
                                      *waiting.get(str(organ), (0, None)))
                for organ in self.pulling}

    # ------------------------------------------------------------------ taking packets

    def _recipient(self, recipient: OrganCode | None) -> OrganCode:
        if recipient is None:
            raise RoutingError("a hub needs to know which recipient each copy is for",
                               where=str(self.code),
                               hint="send with the Recipient element (SOAP) / recipient=")
        self.directory.entry(recipient)
        return recipient

    def receive_document(self, packet: PacketData, recipient: OrganCode | None = None
                         ) -> bytes:
        """Verify a document, check its route, take custody for ``recipient``; answer
        with the hub's signed receipt. A copy received before changes nothing."""
        target = self._recipient(recipient)
        now = self.clock()
        verified = self._verify_copy(packet, now)
        envelope = verified.envelope
        info = envelope.info
        if target not in {organ.code for organ in info.recipients}:
            raise RoutingError("the copy's recipient is not among the document's To organs",
                               where=f"{info.document_id} -> {target}")
        self.directory.entry(info.sender.code)
        self.directory.next_hop(self.code, target, trace=[hop.organ for hop in verified.hops])
        # an organ closed when the document was signed is not delivered to: the sender
        # hears why, with the successor named (what was signed before still goes)
        self.directory.addressee(target, signed_at(envelope, now), policy=ClosedPolicy.REFUSE)

        def receipt() -> bytes:
            return sign_status(StatusInfo(
                response_for=ResponseFor(info.sender.code, info.code, info.promulgation_date,
                                         info.document_id),
                sender=self.organ, code=StatusCode.ARRIVED, timestamp=now,
                description=f"{StatusCode.ARRIVED.description} (hub {self.code})",
                message_id=envelope.message_id,
                received_sha256=verified.content_digest,
            ), self.credentials)

        return self.store.relay.document(
            envelope, packet, hub=self.code, recipient=target,
            forwarded=lambda: sign_hop(packet, self.credentials, when=now),
            receipt=receipt, content_digest=verified.content_digest, now=now,
        ).receipt

    def _verify_copy(self, packet: PacketData, now: dt.datetime) -> Verified:
        """Verify a document copy; the same bytes verified within ``RECENT`` before are
        not verified again (a broadcast comes as one copy per recipient, the same packet
        each time: 262 for a province's communes and districts). A spooled (large)
        packet is not kept: its verified model holds its attachments."""
        if isinstance(packet, Spool):
            return verify(packet, self.trust, now=now)
        key = sha256_of(packet)
        with self._recent_lock:
            seen = self._recent.get(key)
        if seen is not None and dt.timedelta(0) <= now - seen[1] <= RECENT:
            return seen[0]
        verified = verify(packet, self.trust, now=now)
        with self._recent_lock:
            self._recent[key] = (verified, now)
            self._recent.move_to_end(key)
            while len(self._recent) > 32:
                self._recent.popitem(last=False)
        return verified

    def receive_status(self, packet: PacketData, recipient: OrganCode | None = None
                       ) -> None:
        """Verify a status packet and queue it for ``recipient`` (only between a relayed
        document's sender and its recipients)."""
        target = self._recipient(recipient)
        now = self.clock()
        verified = verify(packet, self.trust, now=now)
        self.directory.next_hop(self.code, target)
        self.store.relay.status(verified.status, packet, hub=self.code, recipient=target,
                                content_digest=verified.content_digest, now=now)

    # ------------------------------------------------------------------ pushing on

    def deliver(self, *, worker: str = "hub", limit: int = 50,
                lease: dt.timedelta = dt.timedelta(minutes=5), workers: int = 1) -> HubReport:
        """One pass of the push worker: forward what is due to its next stop (the packets
        of pulling organs stay held). A recipient's own receipt is relayed back to the
        document's sender as a status packet. ``workers`` forwards that many at a time
        (see :func:`~docflow.delivery.run_outbox`)."""
        return self.forward(self.claim(worker=worker, limit=limit, lease=lease),
                            workers=workers)

    def claim(self, *, worker: str = "hub", limit: int = 50,
              lease: dt.timedelta = dt.timedelta(minutes=5),
              recipients: Sequence[OrganCode] | None = None) -> list[Claim]:
        """The first half of :meth:`deliver`: claim up to ``limit`` copies due to be pushed
        on (the pulling organs' stay held) for ``worker`` until ``lease`` runs out;
        ``recipients`` keeps only the copies for those organs (several processes of one
        hub, each pushing to its own organs)."""
        return self.store.outbox.claim_due(worker, limit=limit, now=self.clock(),
                                           exclude=self.pulling, organ=self.code,
                                           lease=lease, recipients=recipients)

    def forward(self, claims: Sequence[Claim], *, workers: int = 1) -> HubReport:
        """The second half of :meth:`deliver`: push each claimed copy to its next stop, in
        the order given, and settle it with the answer."""
        def settle(claim: Claim, recipient: OrganCode, via: OrganCode | None,
                   receipt: bytes) -> None:
            signers = (recipient,) if via is None else (recipient, via)
            self._settle(claim.delivery_id, claim.document_ref, recipient, claim.message_id,
                         claim.packet, receipt, signers)

        # Loops and the hop limit were checked when the packets came in.
        return run_outbox(claims, self.store, self.transport, self.clock,
                          via=lambda recipient: self.directory.next_hop(self.code, recipient),
                          settle=settle, workers=workers)

    def _settle(self, delivery_id: int, document_ref: int, recipient: OrganCode,
                message_id: str | None, packet: PacketData, receipt: bytes,
                signers: tuple[OrganCode, ...]) -> None:
        now = self.clock()
        verified = check_receipt(receipt, self.trust, now=now, signers=signers,
                                 message_id=message_id, packet=packet, recipient=recipient)
        status = verified.status
        # The recipient's own 01 goes on to the sender, in the same transaction.
        sender = (OrganCode(self.store.queries.document(document_ref).sender)
                  if status.sender.code == recipient else None)
        self.store.outbox.acknowledge(delivery_id, receipt, status, relay_to=sender,
                                      content_digest=verified.content_digest, now=now)

    # ------------------------------------------------------------------ pull side

    def stored(self, document_ref: int) -> Envelope:
        """A relayed document's packet as this hub holds it, read again (leniently)."""
        return stored_envelope(self.store, document_ref)

    def document_trace(self, document_ref: int) -> DocumentTrace:
        """What this hub knows of one document it relayed: each copy (with the pulling
        organs' still held), the state history, the statuses it relayed, the hops."""
        return local_trace(self.store, document_ref)

    def _caller(self, token: RequestToken, operation: str, subject: str = "") -> str:
        organ = verify_request(token, self.trust, operation=operation, subject=subject,
                               now=self.clock(), nonces=self.nonces)
        self.directory.entry(organ)
        return str(organ)

    def pending(self, token: RequestToken, kind: str, limit: int) -> list[Pending]:
        """Packets of ``kind`` held for the token's organ, leased to it."""
        if kind not in ("document", "status"):
            raise ModelError(f"unknown packet kind {kind!r}", hint="document or status")
        organ = self._caller(token, PullOperation.PENDING, kind)
        self._last_pull[organ] = self.clock()
        claims = self.store.outbox.claim_due(f"pull:{organ}", limit=max(1, min(limit, 100)),
                                             lease=self.pull_lease,
                                             now=self.clock(), recipients=[OrganCode(organ)],
                                             kind=kind, organ=self.code)
        return [Pending(claim.delivery_id, claim.kind, claim.packet) for claim in claims]

    def acknowledge(self, token: RequestToken, handle: int, receipt: bytes | None = None,
                    error: str | None = None) -> None:
        """Settle a packet the token's organ pulled: with its receipt (a document), with
        nothing (a status), or with the reason it refused the packet (retried, then
        dead-lettered)."""
        organ = self._caller(token, PullOperation.ACKNOWLEDGE, str(handle))
        delivery = self.store.queries.delivery(handle)
        if delivery.recipient != organ:
            raise NotFoundError("no such packet pending for this organ",
                                where=f"handle {handle}")
        if error is not None:
            self.store.outbox.fail(handle, f"refused by {organ}: {error}", now=self.clock())
            return
        if delivery.kind == "status":
            self.store.outbox.acknowledge(handle, now=self.clock())
            return
        if receipt is None:
            raise SecurityError("a pulled document is acknowledged with its receipt",
                                where=f"handle {handle}")
        document = self.store.queries.document(delivery.document_ref)
        self._settle(handle, delivery.document_ref, OrganCode(organ), document.message_id,
                     self.store.queries.packet(delivery.document_ref), receipt, (OrganCode(organ),))

    def trace(self, token: RequestToken, message_id: str) -> TraceReport:
        """What this hub knows of a document the token's organ sent."""
        organ = self._caller(token, PullOperation.TRACE, message_id)
        try:
            document = self.store.relay.relayed(self.code, message_id,
                                                sender=OrganCode(organ))
        except NotFoundError as exc:
            raise NotFoundError("this hub relayed no such message from this organ",
                                where=f"message {message_id}") from exc
        hops = parse_envelope(self.store.queries.packet(document.id)).trace
        copies = self.store.queries.deliveries(document_ref=document.id, page_size=1000).items
        return TraceReport(
            message_id=message_id, document_id=document.document_id, sender=document.sender,
            hops=tuple((str(hop.organ_id), hop.timestamp.astimezone(dt.UTC)) for hop in hops),
            copies=tuple(CopyTrace(c.recipient, c.transport_state, c.business_state,
                                   c.attempts, c.last_error)
                         for c in copies if c.kind == "document"),
            # A recipient's receipt is recorded twice (proof of the copy, then relayed).
            statuses=tuple(dict.fromkeys(
                StatusTrace(e.from_organ, e.code.value, e.description, e.timestamp)
                for e in self.store.queries.status_events(document.id))),
        )
