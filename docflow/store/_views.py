"""What the store's rooms hand back: views of rows, pages, results, and the policies and
hooks a store is opened with. Plain frozen data, no database access."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Row

from docflow.envelope import Finding, findings_from_json
from docflow.lifecycle import INCOMING, OUTGOING, IncomingEvent, IncomingState, Step
from docflow.model import StatusCode, StatusInfo
from docflow.spool import PacketData

_T = TypeVar("_T")


class StoreHooks:
    """Extension points inside the store's transactions (tests kill the process here)."""

    def checkpoint(self, name: str) -> None:
        """Called between the steps of a transaction; does nothing by default."""


@dataclass(frozen=True)
class OutgoingRecord:
    """What :meth:`Outbox.record` created (and claimed, when asked to)."""

    document_ref: int
    deliveries: tuple[int, ...]
    #: the deliveries claimed in the same transaction (``record(claim_for=...)``)
    claims: tuple[Claim, ...] = ()


@dataclass(frozen=True)
class Claim:
    """A delivery a worker now owns until its lease runs out: send ``packet`` to
    ``recipient``."""

    delivery_id: int
    document_ref: int
    kind: str
    recipient: str
    message_id: str | None
    #: a large packet comes spooled (read from the database in chunks)
    packet: PacketData
    attempts: int
    #: the document's number and notation (``201/UBND-VP``), what logs name it by
    label: str = ""


@dataclass(frozen=True)
class ReceiveResult:
    """What :meth:`Inbox.receive` did: the document, the receipt to answer with, and
    whether the message had been received before (then nothing was written)."""

    document_ref: int
    receipt: bytes
    duplicate: bool


@dataclass(frozen=True)
class Answer:
    """An event to apply to an earlier incoming document in the same transaction as a
    new one is received (an update or replacement answered by the original's state)."""

    document_ref: int
    event: IncomingEvent
    reason: str | None
    status: Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]]


@dataclass(frozen=True)
class Refusal:
    """A document returned as it is received (status 02, with ``reason``), in the same
    transaction: what a node's ``[pdf] on_invalid = "reject"`` does with an invalid
    signed PDF. ``status`` builds and signs the 02 from the step."""

    reason: str
    status: Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]]


@dataclass(frozen=True)
class DeadlineView:
    """One deadline of a document: its kind, when it ends, when it was met (None:
    open) and whether it is breached (met late, or still open after it ended)."""

    document_ref: int
    code: str
    kind: str
    deadline: dt.datetime
    met_at: dt.datetime | None
    breached: bool


@dataclass(frozen=True)
class RegisterEntry:
    """A line of a văn thư register: its number in the register of the year, when it
    was registered, and the document."""

    number: int
    registered_at: dt.datetime
    document: DocumentView


@dataclass(frozen=True)
class Tombstone:
    """What a receiver destroyed when it agreed to a recall: when, why, and the digests
    (SHA-256) and sizes of the packet and each attachment it removed."""

    document_ref: int
    destroyed_at: dt.datetime
    reason: str | None
    packet_sha256: str
    packet_size: int
    attachments: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class AttachmentView:
    """An attachment of a document as stored: its place, name, type and size and, for a
    received PDF, its verdict and report (each signature's check)."""

    position: int
    name: str
    content_type: str
    size: int
    pdf_verdict: str | None = None
    pdf_report: dict[str, Any] | None = None
    #: the content's SHA-256 (hex)
    sha256: str = ""


@dataclass(frozen=True)
class RelayResult:
    """What a hub's :meth:`Relay.document` or :meth:`Relay.status` did: the relayed
    document, the recipient's delivery, the hub's receipt (documents only) and whether
    the copy was known already (then nothing was written)."""

    document_ref: int
    delivery_id: int
    receipt: bytes
    duplicate: bool


@dataclass(frozen=True)
class StatusEvent:
    """A status packet as recorded: which way it went, its code, who reported it."""

    direction: str
    code: StatusCode
    from_organ: str
    description: str
    timestamp: dt.datetime
    at: dt.datetime
    delivery_ref: int | None


@dataclass(frozen=True)
class DocumentView:
    """A document row, for lists and screens."""

    id: int
    organ: str
    direction: str
    message_id: str
    document_id: str
    sender: str
    code: str
    type_name: str
    subject: str
    promulgation_date: dt.date
    due_date: dt.date | None
    state: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    #: a received document's signature verdict (``verified``, ``unverifiable``,
    #: ``absent``); None for documents this organ sent or relayed
    signature: str | None = None
    #: how a received document deviated from the strict layout (lenient reading)
    findings: tuple[Finding, ...] = ()
    #: a received document's signed-PDF verdict, the worst of its PDF attachments'
    #: (valid, incomplete, invalid, unchecked); None: no PDF, or not received
    pdf: str | None = None
    #: a received document repeating the number and notation of another one its sender
    #: issued that year (another DocumentId): that one's id
    duplicate_of: int | None = None

    def overdue(self, today: dt.date) -> bool:
        """Past its due date and not finished."""
        finished = self.state in (INCOMING.final | OUTGOING.final)
        return self.due_date is not None and self.due_date < today and not finished


@dataclass(frozen=True)
class DeliveryView:
    """A delivery row: one copy to one recipient (or one status packet to its sender)."""

    id: int
    document_ref: int
    kind: str
    recipient: str
    transport_state: str
    business_state: str | None
    change_state: str | None
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    version: int


@dataclass(frozen=True)
class HistoryEntry:
    """One state change, in the append-only history."""

    at: dt.datetime
    machine: str
    event: str
    from_state: str
    to_state: str
    final: bool
    reason: str | None
    delivery_ref: int | None


@dataclass(frozen=True)
class Page(Generic[_T]):
    """One page of a query."""

    items: tuple[_T, ...]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class AuditReport:
    """The result of :meth:`AuditLog.verify`."""

    ok: bool
    entries: int
    broken_at: int | None = None
    reason: str | None = None
    #: checkpoints set aside: signed by another organ than the chain's (a folder of
    #: several organs' checkpoints is the usual keeping place)
    skipped: tuple[str, ...] = ()
    #: how many checkpoints the chain was checked against
    matched: int = 0


def document_view(row: Row[Any]) -> DocumentView:
    """A documents row as a :class:`DocumentView`."""
    return DocumentView(
        id=row.id, organ=row.organ, direction=row.direction, message_id=row.message_id,
        document_id=row.document_id, sender=row.sender, code=f"{row.number}/{row.notation}",
        type_name=row.type_name, subject=row.subject, promulgation_date=row.promulgation_date,
        due_date=row.due_date, state=row.state, version=row.version,
        created_at=row.created_at, updated_at=row.updated_at,
        signature=row.signature, findings=findings_from_json(row.findings), pdf=row.pdf,
        duplicate_of=row.duplicate_of,
    )


def delivery_view(row: Row[Any]) -> DeliveryView:
    """A deliveries row as a :class:`DeliveryView`."""
    return DeliveryView(
        id=row.id, document_ref=row.document_ref, kind=row.kind, recipient=row.recipient,
        transport_state=row.transport_state, business_state=row.business_state,
        change_state=row.change_state, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_error=row.last_error, version=row.version,
    )
