"""The queue model every axis and LGSP emulator shares, over a docflow store.

An axis keeps one queue per organ: a packet a system sends is checked (read as the real
axis reads: leniently, hostile input refused; optionally verified) and queued once per
recipient (a hub's relay: idempotent per sender and message id; a packet another system
rebuilt for a retry is the same document). A recipient lists what waits for it (its own
copies, and those of the organs registered with it as their parent, for an LGSP polling
its axis), fetches packets, and acknowledges each: a copy stays listed until ``done``
(a client that crashes between fetching and acknowledging gets it again), ``fail`` counts
as a failed attempt (retried, then dead-lettered), ``processing`` leases it. Organs
registered with the axis are rows of the store (audited; they outlive a restart).

The dialects (``docflow.emulators.vdxp``, ...) speak their own HTTP and JSON around it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from docflow.clock import Clock
from docflow.emulators._systems import AxisSystem, clean_text
from docflow.envelope import Envelope, ParseLimits, read_packet
from docflow.errors import DocflowError, NotFoundError, RoutingError
from docflow.failure import Failure
from docflow.lifecycle import WAITING, Outcome, TransportState
from docflow.model import OrganCode, OrganPattern, StatusInfo
from docflow.security import TrustStore, verify
from docflow.store import Agency, DeliveryView, DocumentView, Page, Registration, Store

if TYPE_CHECKING:
    from docflow.transport import VxpClient

__all__ = ["AxisQueue", "Queued", "RefusalError", "health_response"]

_LOG = logging.getLogger("docflow.axis")


class RefusalError(DocflowError):
    """A request an emulator refuses, with the dialect-neutral reason ``code`` (each
    dialect maps it to its own error code and HTTP status)."""

    fault_code = "docflow.emulator.refused"

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


def _sender(packet: Envelope | StatusInfo) -> str:
    return str(packet.info.sender.code if isinstance(packet, Envelope) else packet.sender.code)


@dataclass(frozen=True)
class Queued:
    """A packet waiting for one organ (one delivery of the axis's store)."""

    delivery: DeliveryView
    kind: str  #: "document" or "status"
    sender: str  #: the organ that sent it (a status packet's own sender)


class AxisQueue:
    """The store-backed queues of one axis (``code``: its own organ code)."""

    def __init__(self, code: str, store: Store, *, clock: Clock,
                 trust: TrustStore | None = None, max_body: int = 50 * 1024 * 1024,
                 has_parent: bool = False):
        self.code, self.store, self.clock = code, store, clock
        self.organ = OrganCode.parse(code)
        #: the organs registered here, and the copies held for them
        self.registry = store.agencies
        self.trust, self.max_body = trust, max_body
        #: organs not registered here go up to a parent axis (else they are refused)
        self.has_parent = has_parent
        #: seconds a health probe's counts are reused for
        self.health_ttl = 1.0
        self._health_lock = threading.Lock()
        self._health_cache: tuple[Any, float, bool, dict[str, Any]] | None = None
        self._generation = 0

    # ------------------------------------------------------------------ sending

    def accept(self, body: bytes, kind: str, sender: str | None, to: Sequence[str] | None,
               now: dt.datetime | None = None, *,
               allowed: Callable[[str], bool] | None = None) -> tuple[str, list[str]]:
        """Check a packet from ``sender`` and queue it for each organ of ``to`` (None:
        the packet's own recipients, as the official SDK sends without a ``to``);
        returns its id at the axis and the organs it was queued for. ``sender`` None:
        the packet's own sender, which ``allowed`` (if given) must accept (an LGSP unit
        may send for its organs only). The packet is read once."""
        when = now if now is not None else self.clock()
        packet = read_packet(body, limits=ParseLimits(max_bytes=self.max_body)).accepted()
        if sender is None:
            sender = _sender(packet)
            if allowed is not None and not allowed(sender):
                raise RefusalError("FROM_MISMATCH", f"the packet is from {sender}, not this unit")
        if kind == "document":
            if not isinstance(packet, Envelope):
                raise RefusalError("BAD_REQUEST", "an edoc message carrying a status packet")
            self._check_sender(str(packet.info.sender.code), sender, body)
            addressed = [str(organ.code) for organ in packet.info.recipients]
            targets = list(to) if to else addressed
            stray = [code for code in targets if code not in addressed]
            if stray:
                raise RefusalError("NOT_ADDRESSED", f"the document is not addressed to {stray}")
            self.check_known(targets)
            self._touch()
            refs = [self.store.relay.document(packet, body, hub=self.organ,
                                              recipient=OrganCode(code),
                                              forwarded=lambda: body, receipt=None,
                                              now=when).document_ref for code in targets]
            return str(refs[0]), targets
        if kind == "status":
            if not isinstance(packet, StatusInfo):
                raise RefusalError("BAD_REQUEST", "a status message carrying a document")
            self._check_sender(str(packet.sender.code), sender, body)
            targets = list(to) if to else [str(packet.response_for.organ_id)]
            self.check_known(targets)
            self._touch()
            ids = [self.store.relay.status(packet, body, hub=self.organ,
                                           recipient=OrganCode(code),
                                           now=when).delivery_id for code in targets]
            return str(ids[0]), targets
        raise RefusalError("BAD_REQUEST", f"unknown message type {kind!r}")

    def _check_sender(self, packet_sender: str, sender: str, body: bytes) -> None:
        if packet_sender != sender:
            raise RefusalError("FROM_MISMATCH", f"the packet is from {packet_sender}, not {sender}")
        if self.trust is not None:
            verify(body, self.trust, now=self.clock())

    def unknown(self, organs: Sequence[str]) -> list[str]:
        """The organs of ``organs`` not registered with this axis."""
        known = self.registry.registered(self.code, organs)
        return [code for code in organs if code not in known]

    @staticmethod
    def sender_of(packet: bytes) -> str:
        """The sending organ of a (stored) packet."""
        return _sender(read_packet(packet).accepted())

    # ------------------------------------------------------------------ receiving

    def waiting(self, organs: Sequence[str], kind: str, *,
                since: dt.datetime | None = None, until: dt.datetime | None = None,
                page: int = 1, page_size: int = 50) -> Page[Queued]:
        """What waits for ``organs`` (and the organs they serve), with each sender."""
        found = self.registry.queued_at(self.code, organs, kind=kind, transport_state=WAITING,
                                        since=since, until=until, page=page, page_size=page_size)
        return Page(tuple(Queued(delivery, delivery.kind, sender)
                          for delivery, sender in found.items),
                    found.total, found.page, found.page_size)

    def own(self, organs: Sequence[str], delivery_id: int) -> Queued:
        """The packet ``delivery_id`` if it waits (or waited) for one of ``organs``."""
        found = self.registry.queued_at(self.code, organs, delivery_id=delivery_id).items
        if not found:
            raise NotFoundError("no such packet for this organ", where=f"docId {delivery_id}")
        delivery, sender = found[0]
        return Queued(delivery, delivery.kind, sender)

    def packet(self, delivery: DeliveryView) -> bytes:
        """The bytes of a waiting packet."""
        return self.store.queries.delivery_packet(delivery.id)

    def settle(self, delivery: DeliveryView, status: Outcome | str, worker: str) -> None:
        """A recipient's acknowledgement: ``done``, ``fail`` or ``processing``."""
        if delivery.transport_state == TransportState.ACKNOWLEDGED:
            return  # done already: acknowledging twice is harmless
        if status not in tuple(Outcome):
            raise RefusalError("BAD_REQUEST", "status must be done, fail or processing")
        self._touch()
        # one commit
        self.store.outbox.settle(delivery.id, worker, Outcome(status), now=self.clock())

    def sent(self, sender: OrganCode) -> list[tuple[DocumentView, DeliveryView]]:
        """What ``sender`` sent through this axis, one row per copy."""
        rows = []
        queries = self.store.queries
        for document in queries.documents(organ=self.organ, direction="hop", sender=sender,
                                          page_size=1000).items:
            for delivery in queries.deliveries(document_ref=document.id, kind="document",
                                               page_size=1000).items:
                rows.append((document, delivery))
        return rows

    # ------------------------------------------------------------------ agencies

    def agencies(self) -> list[Agency]:
        """The organs registered with this axis."""
        return self.registry.list(self.code)

    def configure(self, system: AxisSystem) -> None:
        """Register the organs the systems file gives ``system`` (the operator's word:
        an organ some caller registered before moves to the system configured for it)."""
        for organ in system.organs:
            self.registry.register(self.code, organ, owner=system.system_id,
                                   name=system.name, operator=True, now=self.clock())

    def register(self, system: AxisSystem, code: str, *, parent: str, name: object,
                 mail: object, old_code: object = "") -> None:
        """``system`` registers ``code`` under ``parent`` ("" or an organ it holds).

        Refused unless the system has the right to register (``register`` in the
        systems file) and claims the organ (its own, a unit below one by code, or its
        ``serves`` patterns); an organ another system holds is refused (the operator
        moves it, in the systems file); a system holds at most ``max_agencies``.
        Registering one's own organ again replaces its details. ``old_code``: the code
        the organ had before (``oldCode``), one the system claims too (else a system
        could have importers close another's organ)."""
        self._may_register(system)
        try:
            organ = str(OrganCode.parse(code))
            texts = clean_text(name, "name"), clean_text(mail, "mail", limit=100)
            old = str(OrganCode.parse(str(old_code))) if old_code else ""
        except (DocflowError, ValueError) as exc:
            raise RefusalError("BAD_REQUEST", f"{code!r:.40}: {exc}") from exc
        if old and not system.claims(old):
            raise RefusalError("NOT_SERVED", f"oldCode {old} is not among the organs system "
                               f"{system.system_id} serves", 403)
        if not system.claims(organ):
            raise RefusalError("NOT_SERVED", f"{organ} is not among the organs system "
                               f"{system.system_id} serves (its organs, the units below "
                               "them, its serves patterns)", 403)
        if parent and not self._holds(system, parent):
            raise RefusalError("FROM_MISMATCH", f"pcode {parent!r:.40} is neither one of "
                               "the caller's organs nor one it registered", 403)
        self._touch()
        outcome = self.registry.register(self.code, organ, owner=system.system_id,
                                         parent=parent, name=texts[0], mail=texts[1],
                                         limit=system.max_agencies, old_code=old,
                                         now=self.clock())
        if outcome is Registration.HELD:
            raise RefusalError("ALREADY_REGISTERED", f"{organ} is registered by another "
                               "system; the platform operator can move it", 409)
        if outcome is Registration.FULL:
            raise RefusalError("TOO_MANY", f"system {system.system_id} holds "
                               f"{system.max_agencies} registrations, its limit", 403)

    def unregister(self, system: AxisSystem, code: str) -> None:
        """``system`` deletes ``code``'s registration: only one it holds."""
        self._may_register(system)
        self._touch()
        if not self.registry.delete(self.code, code, owner=system.system_id,
                                    now=self.clock()):
            raise RefusalError("NOT_OWNER", f"{code!r:.40} is registered by another system: "
                               "a system deletes only its own registrations", 403)

    @staticmethod
    def _may_register(system: AxisSystem) -> None:
        if not system.register:
            raise RefusalError("FORBIDDEN", f"system {system.system_id} may not register or "
                               "delete organs (the platform operator grants it: register = "
                               "true in the systems file)", 403)

    def _holds(self, system: AxisSystem, code: str) -> bool:
        """Whether ``code`` is one of ``system``'s organs or a registration it holds."""
        if code in system.organs:
            return True
        found = self.registry.get(self.code, code)
        return found is not None and found.owner == system.system_id

    def may_send_for(self, system: AxisSystem, sender: str) -> bool:
        """Whether ``system`` may send packets from ``sender``: one of its organs; for a
        relay also an organ its ``serves`` patterns name, or one registered under it (by
        it, under one of its organs, or under a platform registered under it)."""
        if sender in system.organs:
            return True
        if not system.relay:
            return False
        try:
            if any(OrganPattern(p).matches(OrganCode.parse(sender)) for p in system.serves):
                return True
        except DocflowError:
            return False
        code, seen = sender, set[str]()
        while code and code not in seen and len(seen) < 8:
            seen.add(code)
            found = self.registry.get(self.code, code)
            if found is None:
                return False
            if found.owner == system.system_id or found.parent in system.organs:
                return True
            code = found.parent
        return False

    # ------------------------------------------------------------------ health

    def health(self, dialect: str) -> tuple[bool, dict[str, Any]]:
        """What ``GET /health`` answers for this platform, and whether it is healthy (the
        database answers): the dialect, the organs registered, the packets waiting for
        their recipients (documents, statuses), the copies dead-lettered, and when the
        oldest waiting copy was due (queued, or retried). Counts only: no organ's
        packets, names or secrets.

        Unauthenticated, so its cost must not grow with what callers put in: the facts
        are counted at most once per ``health_ttl`` seconds (and again after this
        process changed something), whatever the rate of probes."""
        with self._health_lock:
            cached = self._health_cache
            if (cached is not None and cached[0] == (dialect, self._generation)
                    and time.monotonic() - cached[1] < self.health_ttl):
                return cached[2], dict(cached[3])
            healthy, facts = self._count_health(dialect)
            self._health_cache = ((dialect, self._generation), time.monotonic(), healthy,
                                  facts)
            return healthy, dict(facts)

    def _touch(self) -> None:
        """Something changed here: the next health probe counts again."""
        self._generation += 1

    def _count_health(self, dialect: str) -> tuple[bool, dict[str, Any]]:
        facts: dict[str, Any] = {"axis": self.code, "dialect": dialect,
                                 "time": self.clock().isoformat()}
        try:
            queries = self.store.queries
            waiting = {kind: queries.deliveries(organ=self.organ, kind=kind,
                                                transport_state=WAITING, page_size=1)
                       for kind in ("document", "status")}
            facts["waiting"] = {"documents": waiting["document"].total,
                                "statuses": waiting["status"].total}
            oldest = [page.items[0].next_attempt_at for page in waiting.values() if page.items]
            facts["oldest_due_at"] = min(oldest).isoformat() if oldest else None
            facts["dead_letters"] = self.store.outbox.dead_letters(page_size=1).total
            facts["agencies"] = self.registry.count(self.code)
            facts["database"] = "ok"
        except DocflowError as exc:
            facts["database"] = str(exc)
        healthy = facts["database"] == "ok"
        facts["status"] = "ok" if healthy else "unhealthy"
        return healthy, facts

    # ------------------------------------------------------------------ a parent axis

    def exchange(self, parent: VxpClient, *, limit: int = 100) -> int:
        """One exchange with the parent axis (an LGSP's national axis, where this
        platform is a relaying system): push up what waits here for organs not
        registered here (acknowledged here once the parent took it), and take in what
        waits at the parent for this platform's organs (acknowledged there once stored
        here; ``fail`` there when this platform refuses it). Returns how many packets
        moved."""
        moved, now = 0, self.clock()
        self._touch()
        for kind, message_type in (("document", "edoc"), ("status", "status")):
            waiting = self.store.queries.deliveries(organ=self.organ, kind=kind,
                                                    transport_state=(TransportState.QUEUED,
                                                                     TransportState.RETRYING),
                                                    page_size=limit).items
            unknown = set(self.unknown(sorted({d.recipient for d in waiting})))
            for delivery in waiting:
                if delivery.recipient not in unknown:
                    continue
                packet = self.store.queries.delivery_packet(delivery.id)
                self.store.outbox.hand_over(delivery.id, f"parent:{self.code}", now=now)
                try:
                    parent.send_edoc(packet, to=[delivery.recipient], message_type=message_type,
                                     sender=self.sender_of(packet))
                except DocflowError as exc:
                    self.store.outbox.fail(delivery.id, Failure.of(exc, "parent axis"), now=now)
                    continue
                self.store.outbox.acknowledge(delivery.id, transport_only=True, now=now)
                moved += 1
            for item in parent.received(message_type=message_type, page_size=limit):
                packet = parent.get_edoc(item.doc_id)
                try:
                    self.accept(packet, kind, None, [item.to], now)
                except DocflowError as exc:
                    _LOG.warning("refused a packet from the parent axis: %s", exc)
                    parent.update_status(item.doc_id, Outcome.FAIL)
                    continue
                parent.update_status(item.doc_id, Outcome.DONE)
                moved += 1
        return moved

    # ------------------------------------------------------------------ checks

    def check_known(self, organs: Sequence[str]) -> None:
        """Refuse organs not registered here, unless a parent axis takes them."""
        unknown = self.unknown(organs)
        if unknown and not self.has_parent:
            raise RefusalError("UNKNOWN_ORGAN", f"not registered with the axis: {unknown}")
        if not organs:
            raise RoutingError("the packet names no organ to queue it for")


def health_response(queue: AxisQueue, dialect: str) -> Response:
    """``GET /health`` in every dialect, unauthenticated as a probe is (it says counts
    only): 200 with :meth:`AxisQueue.health`'s facts, 503 when the database fails."""
    healthy, facts = queue.health(dialect)
    return json_response(facts, 200 if healthy else 503)


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON answer as every emulated platform writes it (UTF-8, Vietnamese unescaped)."""
    return Response(json.dumps(data, ensure_ascii=False), status=status,
                    content_type="application/json")


def agency_ids(agencies: Sequence[Agency]) -> dict[str, str]:
    """The ids a platform's agency list numbers its organs with (from 1, in the list's
    order), by organ code: what ``id`` and ``pid`` (the parent's) carry."""
    return {agency.code: str(index) for index, agency in enumerate(agencies, start=1)}

