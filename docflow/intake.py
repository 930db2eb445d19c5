"""Taking in what waits for a node elsewhere: pulling from its hub, polling its national
axis or LGSP. Each packet is stored before it is acknowledged, and one that cannot be
fetched, read or acknowledged is set aside with its reason while the others go on (a
status a platform listed as a document used to stop the whole pass, pass after pass).
The node's own receive methods decide what is stored; this module only moves packets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from docflow.clock import Clock
from docflow.errors import DocflowError, ModelError, RoutingError, TransportError
from docflow.failure import Failure
from docflow.lifecycle import Outcome
from docflow.model import OrganCode
from docflow.routing import Directory
from docflow.security import Credentials, TrustPolicy, sign_request
from docflow.spool import PacketData
from docflow.store.protocols import NodeStore
from docflow.transport import AxisChannel, PullOperation, PullTransport, Transport

__all__ = ["PullReport", "Receiver", "hub_of", "poll", "pull"]


class Receiver(Protocol):
    """What pulling and polling need of a node (:class:`~docflow.node.Node` is one):
    who it is, how it signs and when, where it stores what it refuses, and how it takes
    a document or a status packet in."""

    directory: Directory | None
    transport: Transport
    credentials: Credentials
    clock: Clock
    store: NodeStore
    axis_trust: TrustPolicy

    @property
    def code(self) -> OrganCode: ...

    def receive_document(self, packet: PacketData, recipient: OrganCode | None = None, *,
                         trust_policy: TrustPolicy = TrustPolicy.REQUIRE) -> bytes: ...

    def receive_status(self, packet: PacketData, recipient: OrganCode | None = None, *,
                       trust_policy: TrustPolicy = TrustPolicy.REQUIRE) -> None: ...

    def receive_from_axis(self, packet: bytes) -> int: ...


@dataclass(frozen=True)
class PullReport:
    """What one pull from the hub did."""

    documents: int = 0
    statuses: int = 0
    refused: int = 0
    failures: tuple[Failure, ...] = ()

    @property
    def errors(self) -> tuple[str, ...]:
        """The failures as the lines an operator reads."""
        return tuple(str(failure) for failure in self.failures)


def hub_of(node: Receiver) -> OrganCode:
    """The hub ``node`` pulls from (its directory entry's); RoutingError without one."""
    hub = None if node.directory is None else node.directory.entry(node.code).hub
    if hub is None:
        raise RoutingError("this organ has no hub to pull from", where=str(node.code),
                           hint="give the node a directory that names its hub")
    return hub


def pull(node: Receiver, *, limit: int = 50,
         kinds: Sequence[str] = ("document", "status")) -> PullReport:
    """One pull from ``node``'s hub (see :meth:`Node.pull`)."""
    unknown = [kind for kind in kinds if kind not in ("document", "status")]
    if unknown:
        raise ModelError(f"unknown packet kind {unknown[0]!r} to pull",
                         where=str(node.code), hint="document or status")
    hub = hub_of(node)
    transport = node.transport
    if not isinstance(transport, PullTransport):
        raise RoutingError("this node's transport cannot pull", where=str(node.code))
    counts = {"document": 0, "status": 0}
    refused, failures = 0, []
    for kind in ("document", "status"):
        if kind not in kinds:
            continue
        token = sign_request(node.credentials, PullOperation.PENDING, kind, now=node.clock())
        for item in transport.pending(hub, token, kind, limit):
            receipt, error = None, None
            try:
                if item.kind == "document":
                    receipt = node.receive_document(item.packet)
                else:
                    node.receive_status(item.packet)
                counts[kind] += 1
            except DocflowError as exc:
                failure = Failure.of(exc, named=True)
                error = str(failure)
                refused += 1
                failures.append(failure)
            ack = sign_request(node.credentials, PullOperation.ACKNOWLEDGE, str(item.handle),
                               now=node.clock())
            try:
                transport.acknowledge(hub, ack, item.handle, receipt, error)
            except TransportError as exc:  # pulled again next time: idempotent
                failures.append(Failure.of(exc, f"handle {item.handle}: acknowledging"))
    return PullReport(counts["document"], counts["status"], refused, tuple(failures))


def poll(node: Receiver, axis: AxisChannel, *, limit: int = 50, pages: int = 10) -> PullReport:
    """One pass of the receive loop on ``axis`` (see :meth:`Node.poll_axis`)."""
    counts = {"edoc": 0, "status": 0}
    refused, failures = 0, []
    for message_type in ("edoc", "status"):
        for item in _listed(axis, message_type, limit, pages):
            try:
                packet = axis.get_edoc(item.doc_id)
            except TransportError as exc:  # fetched again next pass
                failures.append(Failure.of(exc, f"docId {item.doc_id}", named=True))
                continue
            try:
                if message_type == "edoc":
                    node.receive_from_axis(packet)
                else:
                    node.receive_status(packet, trust_policy=node.axis_trust)
            except DocflowError as exc:
                failure = Failure.of(exc, named=True)
                node.store.inbox.note_refusal(node.code, f"axis:{item.doc_id}",
                                              str(failure), packet, now=node.clock())
                refused += 1
                failures.append(failure)
                _acknowledge(axis, item.doc_id, Outcome.FAIL, failures)
                continue
            _acknowledge(axis, item.doc_id, Outcome.DONE, failures)
            counts[message_type] += 1
    return PullReport(counts["edoc"], counts["status"], refused, tuple(failures))


def _acknowledge(axis: AxisChannel, doc_id: str, status: Outcome,
                 failures: list[Failure]) -> None:
    """``updateStatus``; a platform that refuses it is said, not raised (the item is
    listed again and the next pass answers it again: storing is idempotent)."""
    try:
        axis.update_status(doc_id, status)
    except TransportError as exc:
        failures.append(Failure.of(exc, f"docId {doc_id}: acknowledging {status}"))


def _listed(axis: AxisChannel, message_type: str, limit: int, pages: int) -> Iterator[Any]:
    """What waits, page after page while pages come back full (each item once)."""
    seen: set[str] = set()
    for _ in range(max(1, pages)):
        page = axis.received(message_type=message_type, page_size=limit)
        fresh = [item for item in page if item.doc_id not in seen]
        for item in fresh:
            seen.add(item.doc_id)
            yield item
        if len(page) < limit or not fresh:
            return
