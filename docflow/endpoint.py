"""What a node and a hub are alike (:class:`Endpoint`): an organ with its keys, the CAs
it trusts, its store, its transport, its directory, its clock and its operators' zone;
its code, today's date there, and closing it (a context manager)."""

from __future__ import annotations

import datetime as dt
from typing import Generic, Self, TypeVar

from docflow.clock import Clock
from docflow.errors import ModelError
from docflow.model import DEFAULT_TZ, OrganCode, OrganInfo, ResponseFor, StatusCode, StatusInfo
from docflow.routing import Directory
from docflow.security import Credentials, TrustStore
from docflow.store import DocumentView
from docflow.store.protocols import NodeStore
from docflow.transport import Transport

__all__ = ["Endpoint"]

D = TypeVar("D", Directory, Directory | None)
S = TypeVar("S", bound=NodeStore)


class Endpoint(Generic[D, S]):
    """An organ's end of the network: a :class:`~docflow.node.Node` or a
    :class:`~docflow.hub.Hub` (``directory`` is required for a hub, optional for a
    node)."""

    def __init__(self, organ: OrganInfo, credentials: Credentials, trust: TrustStore,
                 store: S, transport: Transport, directory: D, clock: Clock,
                 zone: dt.tzinfo = DEFAULT_TZ):
        if credentials.organ != organ.code:
            raise ModelError(
                f"the credentials are {credentials.organ}'s, not {organ.code}'s",
                hint="give each node and hub its own organ's key and certificate",
            )
        self.organ = organ
        self.credentials = credentials
        self.trust = trust
        self.store: S = store
        self.transport = transport
        self.directory: D = directory
        self.clock = clock
        #: the zone its operators read times in: issue dates, due dates and OVERDUE
        #: marks are its days
        self.zone = zone

    @property
    def code(self) -> OrganCode:
        """This organ's code."""
        return self.organ.code

    def today(self) -> dt.date:
        """Today's date in the zone (Vietnam's unless configured: at 06:00 there it is
        already tomorrow of the UTC date)."""
        return self.clock().astimezone(self.zone).date()

    def _status(self, document: DocumentView, code: StatusCode,
                reason: str | None) -> StatusInfo:
        """The status ``code`` this organ reports on ``document`` (unsigned)."""
        return self._answer(ResponseFor(OrganCode(document.sender), document.code,
                                        document.promulgation_date, document.document_id),
                            document.message_id, code, reason)

    def _answer(self, about: ResponseFor, message_id: str, code: StatusCode,
                reason: str | None) -> StatusInfo:
        return StatusInfo(response_for=about, sender=self.organ, code=code,
                          timestamp=self.clock().astimezone(dt.UTC),
                          description=reason or code.description, message_id=message_id)

    def close(self) -> None:
        """Close the store and the transport's connections (what ``with
        Node.from_home(...) as node:`` does on leaving the block). A worker still running
        should be stopped first."""
        closer = getattr(self.transport, "close", None)
        if callable(closer):
            closer()
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
