"""What a node or hub knows of one document, read from its store: the row, each copy,
the state history, the status packets and the hubs its packet went through."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from docflow.envelope import DEFAULT_POLICY, Envelope, Policy, read_packet
from docflow.errors import NotFoundError
from docflow.store import DeliveryView, DocumentView, HistoryEntry, StatusEvent
from docflow.store.protocols import NodeStore
from docflow.transport import TraceReport

__all__ = ["DocumentTrace", "local_trace", "stored_envelope"]


@dataclass(frozen=True)
class DocumentTrace:
    """Everything a node knows of one document: the row, each copy (sent documents),
    the state history, the status packets, the hubs it went through (received
    documents) and, for a document sent through a hub that answers traces, the hub's
    view."""

    document: DocumentView
    deliveries: tuple[DeliveryView, ...]
    history: tuple[HistoryEntry, ...]
    statuses: tuple[StatusEvent, ...]
    hops: tuple[tuple[str, dt.datetime], ...]
    hub: TraceReport | None = None


def stored_envelope(store: NodeStore, document_ref: int,
                    policy: Policy = DEFAULT_POLICY) -> Envelope:
    """A document's packet as ``store`` holds it, read again leniently with ``policy``
    (a node's or a hub's)."""
    reading = read_packet(store.queries.packet(document_ref), policy=policy)
    if not isinstance(reading.packet, Envelope):
        raise NotFoundError("the stored packet of this document cannot be read",
                            where=f"document {document_ref}")
    return reading.packet


def local_trace(store: NodeStore, document_ref: int,
                policy: Policy = DEFAULT_POLICY) -> DocumentTrace:
    """What ``store`` knows of one document: its row, each copy, the state history, the
    status packets and the hubs its packet names (no hub asked; none for a copy
    destroyed after its recall: its tombstone is all that remains of the packet)."""
    destroyed = store.queries.tombstone(document_ref) is not None
    return DocumentTrace(
        document=store.queries.document(document_ref),
        deliveries=store.queries.deliveries(document_ref=document_ref, page_size=1000).items,
        history=tuple(store.queries.history(document_ref)),
        statuses=tuple(store.queries.status_events(document_ref)),
        hops=() if destroyed else tuple(
            (str(hop.organ_id), hop.timestamp.astimezone(dt.UTC))
            for hop in stored_envelope(store, document_ref, policy).trace))
