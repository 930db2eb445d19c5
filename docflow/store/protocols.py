"""The rooms a node's services use, as protocols: what :class:`~docflow.store.Store` (SQL)
and :class:`~docflow.store.memory.MemoryStore` (in memory) both provide, and all a
:class:`~docflow.node.Node`, its worker and its delivery passes rely on.

Each method is one unit of work (everything or nothing); the decisions inside are
:mod:`docflow.domain`'s. A contract test runs the same scenarios on both stores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Protocol

from docflow.domain import PdfCheck
from docflow.domain.deadlines import Deadline
from docflow.envelope import Envelope, Finding
from docflow.failure import Failure
from docflow.lifecycle import (
    ChangeKind,
    IncomingEvent,
    IncomingState,
    Outcome,
    Step,
    TransportState,
)
from docflow.model import OrganCode, StatusInfo
from docflow.security import AuditCheckpoint, TrustStore
from docflow.spool import PacketData
from docflow.store._views import (
    Answer,
    AttachmentView,
    AuditReport,
    Claim,
    DeadlineView,
    DeliveryView,
    DocumentView,
    HistoryEntry,
    OutgoingRecord,
    Page,
    ReceiveResult,
    Refusal,
    RegisterEntry,
    StatusEvent,
    StoreHooks,
    Tombstone,
)

__all__ = ["AuditRoom", "DeadlineRoom", "InboxRoom", "LifecycleRoom", "NodeStore",
           "OutboxRoom", "QueryRoom"]


class QueryRoom(Protocol):
    """Reading documents, deliveries, packets, history and status events."""

    def received(self, organ: OrganCode, sender: OrganCode, document_id: str
                 ) -> DocumentView | None:
        """The received document a change or recall under this DocumentId applies to."""

    def document(self, document_ref: int) -> DocumentView:
        """One document."""

    def packet(self, document_ref: int) -> bytes:
        """A document's signed bytes."""

    def documents(self, *, direction: str | None = None, organ: OrganCode | None = None,
                  state: str | Sequence[str] | None = None, document_id: str | None = None,
                  sender: OrganCode | None = None, overdue_on: dt.date | None = None,
                  page: int = 1, page_size: int = 50) -> Page[DocumentView]:
        """Documents, newest first."""

    def deliveries(self, *, document_ref: int | None = None,
                   recipient: OrganCode | Sequence[OrganCode] | None = None,
                   transport_state: str | Sequence[str] | None = None,
                   business_state: str | None = None, kind: str | None = None,
                   organ: OrganCode | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, page: int = 1,
                   page_size: int = 50) -> Page[DeliveryView]:
        """Deliveries, oldest first."""

    def delivery(self, delivery_id: int) -> DeliveryView:
        """One delivery."""

    def delivery_packet(self, delivery_id: int) -> bytes:
        """The signed bytes a delivery carries."""

    def register(self, organ: OrganCode, book: str, year: int) -> list[RegisterEntry]:
        """A văn thư register ("in" or "out") of a year, by number."""

    def tombstone(self, document_ref: int) -> Tombstone | None:
        """What was destroyed of a document when its recall was agreed."""

    def attachments(self, document_ref: int) -> list[AttachmentView]:
        """A document's attachments, with a received PDF's verdict."""

    def history(self, document_ref: int) -> list[HistoryEntry]:
        """A document's state changes, in order."""

    def status_events(self, document_ref: int) -> list[StatusEvent]:
        """A document's status packets, in order."""

    def outstanding(self, organ: OrganCode | None = None) -> int:
        """How many deliveries are still on their way."""

    def has_sent(self, organ: OrganCode, document_id: str) -> bool:
        """Whether ``organ`` sent a document with this DocumentId."""

    def numbers_used(self, organ: OrganCode, year: int) -> list[str]:
        """The numbers ``organ``'s sent documents of ``year`` carry."""

    def sent_code(self, organ: OrganCode, year: int, number: str, notation: str
                  ) -> DocumentView | None:
        """The document ``organ`` sent in ``year`` under this number and notation."""

    def waiting_for(self, recipients: Sequence[OrganCode]) -> dict[str, tuple[int, dt.datetime]]:
        """Per recipient: how many deliveries wait, and since when."""


class OutboxRoom(Protocol):
    """Recording, claiming, acknowledging, failing and resending deliveries."""

    def record(self, envelope: Envelope, packet: PacketData, *,
               deadlines: Sequence[Deadline] = (), now: dt.datetime | None = None,
               claim_for: str | None = None, lease: dt.timedelta = ...
               ) -> OutgoingRecord:
        """A signed document to send, one delivery queued per recipient, with its
        deadlines (claimed for ``claim_for`` in the same transaction when given)."""

    def record_batch(self, items: Sequence[tuple[Envelope, PacketData]], *,
                     deadlines: Sequence[Sequence[Deadline]] | None = None,
                     now: dt.datetime | None = None) -> list[OutgoingRecord]:
        """Many documents of one sender, all or none."""

    def claim_due(self, worker: str, *, limit: int = 10,
                  lease: dt.timedelta = dt.timedelta(minutes=5),
                  now: dt.datetime | None = None, recipients: Sequence[OrganCode] | None = None,
                  exclude: Sequence[OrganCode] = (), kind: str | None = None,
                  organ: OrganCode | None = None) -> list[Claim]:
        """Due deliveries, leased to ``worker``."""

    def mark_sent(self, delivery_id: int, *, now: dt.datetime | None = None) -> None:
        """The packet went out; its receipt comes later."""

    def acknowledge(self, delivery_id: int, receipt: bytes | None = None,
                    status: StatusInfo | None = None, *, transport_only: bool = False,
                    relay_to: OrganCode | None = None, content_digest: str | None = None,
                    now: dt.datetime | None = None) -> None:
        """A delivery's transport ended (with the receipt as proof)."""

    def fail(self, delivery_id: int, error: Failure | str, *,
             now: dt.datetime | None = None) -> TransportState:
        """A failed attempt: a retry, or a dead letter."""

    def settle(self, delivery_id: int, worker: str, outcome: Outcome, *,
               lease: dt.timedelta = dt.timedelta(minutes=5),
               now: dt.datetime | None = None) -> None:
        """A platform client's word on a delivery it fetched."""

    def resend(self, delivery_id: int, *, now: dt.datetime | None = None) -> None:
        """A dead letter queued again."""

    def dead_letter_ids(self, *, recipients: Sequence[OrganCode] | None = None) -> list[int]:
        """The dead letters not resent."""

    def retry_now(self, *, recipients: Sequence[OrganCode] | None = None,
                  now: dt.datetime | None = None) -> list[int]:
        """Deliveries waiting for a retry made due now."""

    def hand_over(self, delivery_id: int, worker: str, *,
                  lease: dt.timedelta = dt.timedelta(minutes=5),
                  now: dt.datetime | None = None) -> None:
        """One delivery leased to ``worker``."""

    def dead_letters(self, *, page: int = 1, page_size: int = 50) -> Page[DeliveryView]:
        """Deliveries that failed for good."""


class InboxRoom(Protocol):
    """Receiving documents idempotently, receipts owed, refusals noted."""

    def receive(self, envelope: Envelope, packet: PacketData, *, organ: OrganCode,
                receipt: bytes | Callable[[], bytes], content_digest: str | None = None,
                change_answer: Answer | None = None, signature: str | None = None,
                findings: Sequence[Finding] = (), pdf_checks: Sequence[PdfCheck] = (),
                refusal: Refusal | None = None, deadlines: Sequence[Deadline] = (),
                arrival_year: int | None = None, now: dt.datetime | None = None
                ) -> ReceiveResult:
        """A verified document stored, once."""

    def expire(self, *, now: dt.datetime | None = None) -> int:
        """Message ids past the retention forgotten."""

    def queue_receipt(self, document_ref: int, receipt: bytes, status: StatusInfo, *,
                      now: dt.datetime | None = None) -> int | None:
        """A receipt queued to the document's sender, once."""

    def note_refusal(self, organ: OrganCode, source: str, reason: str, packet: bytes, *,
                     now: dt.datetime | None = None) -> None:
        """A refused packet, in the audit chain."""


class LifecycleRoom(Protocol):
    """Acts on received documents, status packets, change requests."""

    def apply_incoming(self, document_ref: int, event: IncomingEvent, *,
                       reason: str | None = None,
                       status: Callable[[Step[IncomingState]], tuple[StatusInfo, bytes]]
                       | None = None, expected_version: int | None = None,
                       now: dt.datetime | None = None) -> Step[IncomingState]:
        """An act on a received document."""

    def apply_status(self, status: StatusInfo, packet: bytes, *, organ: OrganCode,
                     content_digest: str | None = None, legacy_answers: bool = False,
                     now: dt.datetime | None = None) -> DeliveryView:
        """A status packet folded into the copy it names."""

    def request_change(self, document_ref: int, kind: ChangeKind, *,
                       packet: bytes | None = None, message_id: str | None = None,
                       now: dt.datetime | None = None) -> list[int]:
        """A recall, update or replacement asked of every live copy."""

    def record_change(self, document_ref: int, kind: ChangeKind, envelope: Envelope,
                      packet: bytes, *, now: dt.datetime | None = None) -> OutgoingRecord:
        """An update or replacement sent, and asked of every live copy."""


class AuditRoom(Protocol):
    """The audit chain."""

    def head(self) -> tuple[int, str]:
        """How many entries, and the last hash."""

    def verify(self, checkpoints: Sequence[AuditCheckpoint] = (), *,
               trust: TrustStore | None = None, organ: str | None = None) -> AuditReport:
        """The chain recomputed."""


class DeadlineRoom(Protocol):
    """The văn thư deadlines of documents."""

    def list(self, organ: OrganCode | None = None, *, breached_only: bool = False,
             now: dt.datetime | None = None) -> list[DeadlineView]:
        """The deadlines, by deadline (only the breached ones, if asked)."""

    def sweep(self, *, now: dt.datetime | None = None) -> int:
        """The breaches of deadlines still open after they ended, recorded."""


class NodeStore(Protocol):
    """A node's store: its rooms, its checkpoints, and closing it."""

    @property
    def url(self) -> str:
        """Where it is (a database URL; ``memory:`` in memory)."""

    @property
    def queries(self) -> QueryRoom:
        """Reading."""

    @property
    def outbox(self) -> OutboxRoom:
        """What the organ sends."""

    @property
    def inbox(self) -> InboxRoom:
        """What the organ receives."""

    @property
    def lifecycle(self) -> LifecycleRoom:
        """Acts, statuses, changes."""

    @property
    def audit(self) -> AuditRoom:
        """The audit chain."""

    @property
    def deadlines(self) -> DeadlineRoom:
        """The văn thư deadlines."""

    @property
    def hooks(self) -> StoreHooks:
        """The checkpoints inside units of work."""

    def close(self) -> None:
        """Release what the store holds."""
