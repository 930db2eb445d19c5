"""The in-memory store's reading room (:class:`MemoryQueries`, as
:class:`~docflow.store.Queries`): every query over one committed snapshot of the tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TypeVar

from docflow.errors import NotFoundError, StoreError
from docflow.lifecycle import (
    INCOMING,
    OUTGOING,
    WAITING,
    Direction,
    MessageKind,
)
from docflow.model import OrganCode
from docflow.security import Verdict
from docflow.store._memory_rows import DeliveryRow, MemoryDatabase, Tables
from docflow.store._rows import organ_texts
from docflow.store._views import (
    AttachmentView,
    DeliveryView,
    DocumentView,
    HistoryEntry,
    Page,
    RegisterEntry,
    StatusEvent,
    Tombstone,
)

__all__ = ["MemoryQueries"]

_T = TypeVar("_T")


def _page(items: Sequence[_T], page: int, page_size: int) -> Page[_T]:
    if page < 1 or not 1 <= page_size <= 1000:
        raise StoreError("page must be >= 1 and page_size between 1 and 1000")
    start = (page - 1) * page_size
    return Page(tuple(items[start:start + page_size]), len(items), page, page_size)


def _matches(value: str, wanted: str | Sequence[str] | None) -> bool:
    if wanted is None:
        return True
    return value == wanted if isinstance(wanted, str) else value in wanted


class MemoryQueries:
    """What the store holds (as :class:`~docflow.store.Queries`)."""

    def __init__(self, db: MemoryDatabase):
        self._db = db

    def _tables(self) -> Tables:
        return self._db.read()

    def received(self, organ: OrganCode, sender: OrganCode, document_id: str
                 ) -> DocumentView | None:
        """The document ``organ`` received from ``sender`` under this DocumentId that a
        change applies to: the earliest verified copy, else the earliest."""
        copies = sorted((d for d in self._tables().documents.values()
                         if d.organ == str(organ) and d.direction == Direction.IN
                         and d.sender == str(sender) and d.document_id == document_id),
                        key=lambda d: (d.signature != Verdict.VERIFIED, d.id))
        return copies[0].view() if copies else None

    def document(self, document_ref: int) -> DocumentView:
        """One document."""
        return self._tables().document(document_ref).view()

    def packet(self, document_ref: int) -> bytes:
        """The signed bytes of a document, exactly as sent or received."""
        tables = self._tables()
        for envelope in tables.envelopes.values():
            if envelope.document_ref == document_ref and envelope.kind == MessageKind.DOCUMENT:
                return envelope.raw
        gone = tables.tombstones.get(document_ref)
        if gone is not None:
            raise NotFoundError(
                "the document's content was destroyed when its recall was agreed",
                where=f"document {document_ref}",
                hint=f"its tombstone keeps the packet's SHA-256 {gone.packet_sha256}")
        known = document_ref in tables.documents
        raise NotFoundError("no packet stored for this document" if known
                            else "no such document", where=f"document {document_ref}",
                            hint=None if known else "docflow inbox / outbox list them")

    def documents(self, *, direction: str | None = None, organ: OrganCode | None = None,
                  state: str | Sequence[str] | None = None, document_id: str | None = None,
                  sender: OrganCode | None = None, overdue_on: dt.date | None = None,
                  page: int = 1, page_size: int = 50) -> Page[DocumentView]:
        """Documents by direction, organ, state(s), DocumentId and sender, newest first;
        with ``overdue_on``, only those past their due date that day and not finished."""
        final = INCOMING.final | OUTGOING.final
        rows = [d.view() for d in sorted(self._tables().documents.values(),
                                         key=lambda d: -d.id)
                if all(value is None or getattr(d, name) == str(value) for name, value in (
                    ("direction", direction), ("organ", organ),
                    ("document_id", document_id), ("sender", sender)))
                and _matches(d.state, state)
                and (overdue_on is None or (d.due_date is not None
                                            and d.due_date < overdue_on
                                            and d.state not in final))]
        return _page(rows, page, page_size)

    def deliveries(self, *, document_ref: int | None = None,
                   recipient: OrganCode | Sequence[OrganCode] | None = None,
                   transport_state: str | Sequence[str] | None = None,
                   business_state: str | None = None, kind: str | None = None,
                   organ: OrganCode | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, page: int = 1,
                   page_size: int = 50) -> Page[DeliveryView]:
        """Deliveries by document, recipient(s), state(s), kind, the organ whose
        documents they carry and when they were queued, oldest first."""
        tables = self._tables()

        def keep(d: DeliveryRow) -> bool:
            queued = tables.envelopes[d.envelope_ref].created_at
            return ((document_ref is None or d.document_ref == document_ref)
                    and (business_state is None or d.business_state == business_state)
                    and (kind is None or d.kind == kind)
                    and _matches(d.recipient, organ_texts(recipient))
                    and _matches(d.transport_state, transport_state)
                    and (organ is None
                         or tables.documents[d.document_ref].organ == str(organ))
                    and (since is None or queued >= since)
                    and (until is None or queued <= until))
        rows = [d.view() for _, d in sorted(tables.deliveries.items()) if keep(d)]
        return _page(rows, page, page_size)

    def delivery(self, delivery_id: int) -> DeliveryView:
        """One delivery."""
        return self._tables().delivery(delivery_id).view()

    def delivery_packet(self, delivery_id: int) -> bytes:
        """The signed bytes a delivery carries."""
        tables = self._tables()
        return tables.envelopes[tables.delivery(delivery_id).envelope_ref].raw

    def register(self, organ: OrganCode, book: str, year: int) -> list[RegisterEntry]:
        """A văn thư register ("in" or "out") of a year, by number."""
        tables = self._tables()
        return [RegisterEntry(number, at, tables.documents[ref].view())
                for (o, b, y, number), (ref, at) in sorted(tables.register.items())
                if (o, b, y) == (str(organ), book, year)]

    def tombstone(self, document_ref: int) -> Tombstone | None:
        """What was destroyed of a document when its recall was agreed."""
        return self._tables().tombstones.get(document_ref)

    def attachments(self, document_ref: int) -> list[AttachmentView]:
        """A document's attachments, with a received PDF's verdict and report."""
        return list(self._tables().attachments.get(document_ref, ()))

    def history(self, document_ref: int) -> list[HistoryEntry]:
        """Every state change of a document and of its deliveries, in order."""
        return [entry for ref, entry in self._tables().history if ref == document_ref]

    def status_events(self, document_ref: int) -> list[StatusEvent]:
        """Every status packet recorded for a document."""
        return [event.view() for _, event in sorted(self._tables().status_events.items())
                if event.document_ref == document_ref]

    def outstanding(self, organ: OrganCode | None = None) -> int:
        """How many deliveries (of ``organ``'s documents, or of all) are on their way."""
        tables = self._tables()
        return sum(1 for d in tables.deliveries.values() if d.transport_state in WAITING
                   and (organ is None
                        or tables.documents[d.document_ref].organ == str(organ)))

    def has_sent(self, organ: OrganCode, document_id: str) -> bool:
        """Whether ``organ`` has sent a document with this DocumentId."""
        return any(d.organ == str(organ) and d.direction == Direction.OUT
                   and d.document_id == document_id
                   for d in self._tables().documents.values())

    def numbers_used(self, organ: OrganCode, year: int) -> list[str]:
        """The numbers ``organ``'s sent documents dated in ``year`` carry."""
        return [d.number for d in self._tables().documents.values()
                if d.organ == str(organ) and d.direction == Direction.OUT
                and d.promulgation_date.year == year]

    def sent_code(self, organ: OrganCode, year: int, number: str, notation: str
                  ) -> DocumentView | None:
        """The document ``organ`` sent in ``year`` under this number and notation."""
        found = sorted((d for d in self._tables().documents.values()
                        if d.organ == str(organ) and d.direction == Direction.OUT
                        and d.number == number and d.notation == notation
                        and d.promulgation_date.year == year), key=lambda d: d.id)
        return found[0].view() if found else None

    def waiting_for(self, recipients: Sequence[OrganCode]) -> dict[str, tuple[int, dt.datetime]]:
        """For each of ``recipients`` with deliveries on their way: how many, since when."""
        waiting: dict[str, tuple[int, dt.datetime]] = {}
        wanted = {str(code) for code in recipients}
        for d in self._tables().deliveries.values():
            if d.transport_state in WAITING and d.recipient in wanted:
                count, oldest = waiting.get(d.recipient, (0, d.next_attempt_at))
                waiting[d.recipient] = (count + 1, min(oldest, d.next_attempt_at))
        return waiting
