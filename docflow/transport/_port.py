"""The transport port, and the in-memory adapter that calls the receiving node directly.

A transport moves signed bytes and nothing else: it never parses, verifies or stores.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from docflow.errors import TransportError
from docflow.model import OrganCode

__all__ = ["Endpoint", "InMemoryTransport", "Transport"]


@runtime_checkable
class Endpoint(Protocol):
    """What receives packets at the far end (a node, or a hub acting for its organs)."""

    def receive_document(self, packet: bytes) -> bytes:
        """Take a signed document; answer with the signed receipt (status 01)."""
        ...

    def receive_status(self, packet: bytes) -> None:
        """Take a signed status packet."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Sends signed packets to an organ.

    ``send_document`` returns the receiver's signed receipt, which the sender verifies
    itself; any failure to deliver raises :class:`~docflow.errors.TransportError`.
    """

    def send_document(self, recipient: OrganCode, packet: bytes) -> bytes:
        """Deliver a signed document; return the receiver's signed receipt."""
        ...

    def send_status(self, recipient: OrganCode, packet: bytes) -> None:
        """Deliver a signed status packet."""
        ...


class InMemoryTransport:
    """Calls the recipient's :class:`Endpoint` in-process (tests and the simulator).

    >>> transport = InMemoryTransport()
    >>> transport.send_status(OrganCode("000.00.01.H41"), b"<x/>")
    Traceback (most recent call last):
    ...
    docflow.errors.TransportError: no route to organ (at 000.00.01.H41). register its endpoint ...
    """

    def __init__(self) -> None:
        self._endpoints: dict[OrganCode, Endpoint] = {}
        self.sent: list[tuple[str, OrganCode, bytes]] = []

    def register(self, organ: OrganCode | str, endpoint: Endpoint) -> None:
        """Route packets for ``organ`` to ``endpoint``."""
        self._endpoints[OrganCode.parse(organ)] = endpoint

    def unregister(self, organ: OrganCode | str) -> None:
        """Take ``organ`` off the network (its packets now fail, as a node that is down)."""
        self._endpoints.pop(OrganCode.parse(organ), None)

    def _endpoint(self, recipient: OrganCode) -> Endpoint:
        endpoint = self._endpoints.get(recipient)
        if endpoint is None:
            raise TransportError(
                "no route to organ", where=str(recipient),
                hint="register its endpoint with InMemoryTransport.register (or it is down)",
            )
        return endpoint

    def send_document(self, recipient: OrganCode, packet: bytes) -> bytes:
        endpoint = self._endpoint(recipient)
        self.sent.append(("document", recipient, packet))
        return endpoint.receive_document(packet)

    def send_status(self, recipient: OrganCode, packet: bytes) -> None:
        endpoint = self._endpoint(recipient)
        self.sent.append(("status", recipient, packet))
        endpoint.receive_status(packet)
