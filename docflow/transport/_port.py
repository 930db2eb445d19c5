"""The transport ports, the values they carry, and the in-memory adapter.

A transport moves signed bytes and nothing else: it never parses, verifies or stores.
:class:`Transport` pushes packets to the next node on a route; :class:`PullTransport`
lets an organ behind NAT fetch what its hub holds for it (:class:`Mailbox` is the hub's
side of that).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from docflow.errors import TransportError
from docflow.model import OrganCode
from docflow.security import RequestToken
from docflow.spool import PacketData

__all__ = [
    "AxisChannel",
    "ChannelItem",
    "CopyTrace",
    "Endpoint",
    "InMemoryTransport",
    "Mailbox",
    "Pending",
    "PullOperation",
    "PullTransport",
    "StatusTrace",
    "TraceReport",
    "Transport",
]


class PullOperation(enum.StrEnum):
    """What a pulling organ signs its request token for (the hub checks the token names
    the operation it is used for)."""

    PENDING = "pending"  #: list the packets held for it
    ACKNOWLEDGE = "acknowledge"  #: settle one it took
    TRACE = "trace"  #: ask what the hub saw of a document


@dataclass(frozen=True)
class Pending:
    """A packet a hub holds for a pulling organ; ``handle`` acknowledges it."""

    handle: int
    kind: str
    #: a large packet comes spooled
    packet: PacketData


@dataclass(frozen=True)
class CopyTrace:
    """A hub's view of one copy of a document: transport and last reported state."""

    recipient: str
    transport_state: str
    business_state: str | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class StatusTrace:
    """A status packet that went through the hub."""

    from_organ: str
    code: str
    description: str
    timestamp: dt.datetime


@dataclass(frozen=True)
class TraceReport:
    """What a hub knows about a document it relayed: the hubs it went through (with
    times), each copy's state, and the status packets that came back."""

    message_id: str
    document_id: str
    sender: str
    hops: tuple[tuple[str, dt.datetime], ...]
    copies: tuple[CopyTrace, ...]
    statuses: tuple[StatusTrace, ...]


@runtime_checkable
class Endpoint(Protocol):
    """What receives packets at the far end (a node, or a hub acting for its organs).

    ``recipient`` is the organ the copy is for (a hub needs it; a node checks it is
    itself), None when the caller did not say.
    """

    def receive_document(self, packet: PacketData, recipient: OrganCode | None = None
                         ) -> bytes:
        """Take a signed document; answer with the signed receipt (status 01)."""
        ...

    def receive_status(self, packet: PacketData, recipient: OrganCode | None = None
                       ) -> None:
        """Take a signed status packet."""
        ...


@runtime_checkable
class Mailbox(Protocol):
    """A hub's pull side: packets held for organs that fetch them (authenticated by a
    signed :class:`~docflow.security.RequestToken`)."""

    def pending(self, token: RequestToken, kind: str, limit: int) -> list[Pending]:
        """Up to ``limit`` packets of ``kind`` ("document" or "status") held for the
        token's organ, leased to it until acknowledged (or the lease runs out)."""
        ...

    def acknowledge(self, token: RequestToken, handle: int, receipt: bytes | None = None,
                    error: str | None = None) -> None:
        """Settle a pending packet: its receipt (documents), nothing (statuses), or the
        reason the organ refused it."""
        ...

    def trace(self, token: RequestToken, message_id: str) -> TraceReport:
        """What the hub knows of a document the token's organ sent."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Sends signed packets towards an organ.

    ``via`` is the next stop on the route (a hub), when it is not the recipient itself.
    ``send_document`` returns the signed receipt of whoever took the packet (the
    recipient, or the hub that took custody), which the sender verifies itself, or None
    when the transport only queued it (a national axis: the recipient's signed 01 comes
    back later as a status packet); any failure to deliver raises
    :class:`~docflow.errors.TransportError`.
    """

    def send_document(self, recipient: OrganCode, packet: PacketData, *,
                      via: OrganCode | None = None) -> bytes | None:
        """Deliver a signed document; return the signed receipt (None: it comes later)."""
        ...

    def send_status(self, recipient: OrganCode, packet: PacketData, *,
                    via: OrganCode | None = None) -> None:
        """Deliver a signed status packet."""
        ...


class ChannelItem(Protocol):
    """A packet waiting at an axis or LGSP, as its list says."""

    @property
    def doc_id(self) -> str:
        """The axis's id of the packet (what ``get_edoc``/``update_status`` take)."""
        ...


@runtime_checkable
class AxisChannel(Protocol):
    """The receive loop's view of an axis or an LGSP, whatever its dialect: what waits
    for this organ, one packet's bytes, the transport acknowledgement (``done``,
    ``fail``). :meth:`docflow.node.Node.poll_axis` runs over it."""

    def received(self, *, message_type: str = "edoc",
                 page_size: int = 50) -> Sequence[ChannelItem]:
        """Packets of ``message_type`` (``edoc`` or ``status``) waiting for this organ."""
        ...

    def get_edoc(self, doc_id: str) -> bytes:
        """A waiting packet's bytes."""
        ...

    def update_status(self, doc_id: str, status: str) -> None:
        """Acknowledge a packet: ``done`` (stored) or ``fail`` (refused)."""
        ...


@runtime_checkable
class PullTransport(Protocol):
    """Fetches packets a hub holds for this organ (the client side of :class:`Mailbox`)."""

    def pending(self, hub: OrganCode, token: RequestToken, kind: str,
                limit: int) -> list[Pending]:
        """Ask ``hub`` for held packets."""
        ...

    def acknowledge(self, hub: OrganCode, token: RequestToken, handle: int,
                    receipt: bytes | None = None, error: str | None = None) -> None:
        """Settle a held packet at ``hub``."""
        ...

    def trace(self, hub: OrganCode, token: RequestToken, message_id: str) -> TraceReport:
        """Ask ``hub`` what became of a document."""
        ...


class InMemoryTransport:
    """Calls the next node's :class:`Endpoint` (or hub's :class:`Mailbox`) in-process:
    tests and the simulator.

    >>> transport = InMemoryTransport()
    >>> transport.send_status(OrganCode("000.00.01.H41"), b"<x/>")
    Traceback (most recent call last):
    ...
    docflow.errors.TransportError: no route to organ (at 000.00.01.H41). register its endpoint ...
    """

    def __init__(self, *, record: bool = True) -> None:
        self._endpoints: dict[OrganCode, Endpoint] = {}
        #: every packet sent, in order, when ``record`` (tests look at it; a long
        #: simulation turns it off, or it would hold every packet in memory)
        self.sent: list[tuple[str, OrganCode, PacketData]] = []
        self.record = record

    def register(self, organ: OrganCode | str, endpoint: Endpoint) -> None:
        """Route packets for ``organ`` to ``endpoint``."""
        self._endpoints[OrganCode.parse(organ)] = endpoint

    def unregister(self, organ: OrganCode | str) -> None:
        """Take ``organ`` off the network (its packets now fail, as a node that is down)."""
        self._endpoints.pop(OrganCode.parse(organ), None)

    def _endpoint(self, organ: OrganCode) -> Endpoint:
        endpoint = self._endpoints.get(organ)
        if endpoint is None:
            raise TransportError(
                "no route to organ", where=str(organ),
                hint="register its endpoint with InMemoryTransport.register (or it is down)",
            )
        return endpoint

    def _mailbox(self, hub: OrganCode) -> Mailbox:
        endpoint = self._endpoint(hub)
        if not isinstance(endpoint, Mailbox):
            raise TransportError("this organ holds no packets for pulling", where=str(hub),
                                 hint="pull from a hub")
        return endpoint

    def send_document(self, recipient: OrganCode, packet: PacketData, *,
                      via: OrganCode | None = None) -> bytes:
        endpoint = self._endpoint(via or recipient)
        if self.record:
            self.sent.append(("document", recipient, packet))
        return endpoint.receive_document(packet, recipient)

    def send_status(self, recipient: OrganCode, packet: PacketData, *,
                    via: OrganCode | None = None) -> None:
        endpoint = self._endpoint(via or recipient)
        if self.record:
            self.sent.append(("status", recipient, packet))
        endpoint.receive_status(packet, recipient)

    def pending(self, hub: OrganCode, token: RequestToken, kind: str,
                limit: int) -> list[Pending]:
        return self._mailbox(hub).pending(token, kind, limit)

    def acknowledge(self, hub: OrganCode, token: RequestToken, handle: int,
                    receipt: bytes | None = None, error: str | None = None) -> None:
        self._mailbox(hub).acknowledge(token, handle, receipt, error)

    def trace(self, hub: OrganCode, token: RequestToken, message_id: str) -> TraceReport:
        return self._mailbox(hub).trace(token, message_id)
