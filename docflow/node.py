"""A node: the application service of one organ, gluing the core to its adapters.
Its sending side is :mod:`docflow.sending`, its receiving side :mod:`docflow.receiving`;
this module joins them with pulling, polling and reading.

One use case per method, each translating to core calls (build, sign, verify, lifecycle)
and one store transaction. A node owns its credentials, trust store, store and transport;
entry points (the CLI, a SOAP server) only translate and call these methods.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from docflow import bootstrap, intake
from docflow.calendar import WorkingCalendar
from docflow.clock import Clock, system_clock
from docflow.config import NodeConfig, load_config
from docflow.delivery import DeliveryReport, check_receipt, run_outbox
from docflow.envelope import DEFAULT_POLICY, Envelope, Policy
from docflow.errors import RoutingError
from docflow.hooks import Hooks, StatusArrival
from docflow.intake import PullReport
from docflow.lifecycle import Direction
from docflow.model import DEFAULT_TZ, OrganInfo
from docflow.pdf import PdfPolicy
from docflow.receiving import Receiving
from docflow.routing import Directory
from docflow.security import (
    AuditCheckpoint,
    Credentials,
    TrustPolicy,
    TrustStore,
    sign_checkpoint,
    sign_request,
    verify,
)
from docflow.sending import Sending
from docflow.store import DocumentView, Page
from docflow.store.protocols import NodeStore
from docflow.tracing import DocumentTrace, local_trace, stored_envelope
from docflow.transport import AxisChannel, PullOperation, PullTransport, Transport
from docflow.worker import Worker

__all__ = ["DeliveryReport", "DocumentTrace", "Node", "PullReport", "check_receipt",
           "run_outbox"]


class Node(Sending, Receiving):
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

    # ------------------------------------------------------------------ pulling

    def pull(self, *, limit: int = 50,
             kinds: Sequence[str] = ("document", "status")) -> PullReport:
        """Fetch what this organ's hub holds for it (documents, then status packets; or
        only the ``kinds`` named), store each, and acknowledge each only after it is
        stored: with the receipt, or with the reason a packet was refused (never dropped
        silently). One packet that cannot be stored or acknowledged is set aside with its
        reason; the rest go on."""
        return intake.pull(self, limit=limit, kinds=kinds)

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
