"""Reading the store: documents, deliveries, packets, history and status events, one
by one or in pages. Every query is one read transaction; none writes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select, bindparam, case, func, select

from docflow.errors import NotFoundError, StoreError
from docflow.lifecycle import INCOMING, OUTGOING, WAITING, Direction, MessageKind
from docflow.model import OrganCode, StatusCode
from docflow.security import Verdict
from docflow.store import _rows
from docflow.store import _schema as s
from docflow.store._rows import organ_text, organ_texts
from docflow.store._unit import Database
from docflow.store._views import (
    AttachmentView,
    DeliveryView,
    DocumentView,
    HistoryEntry,
    Page,
    RegisterEntry,
    StatusEvent,
    Tombstone,
    delivery_view,
    document_view,
)

__all__ = ["Queries"]

_T = TypeVar("_T")
_DELIVERY_PACKET = select(s.envelopes.c.raw, s.envelopes.c.id).join(
    s.deliveries, s.deliveries.c.envelope_ref == s.envelopes.c.id).where(
    s.deliveries.c.id == bindparam("id"))

_PACKET = select(s.envelopes.c.raw, s.envelopes.c.id).where(
    s.envelopes.c.document_ref == bindparam("id"), s.envelopes.c.kind == MessageKind.DOCUMENT)
_PIECES = select(s.envelope_chunks.c.data).where(
    s.envelope_chunks.c.envelope_ref == bindparam("id")).order_by(s.envelope_chunks.c.seq)

_OUTSTANDING = select(func.count()).select_from(s.deliveries).where(
    s.deliveries.c.transport_state.in_(WAITING))

_OUTSTANDING_OF = _OUTSTANDING.join_from(
    s.deliveries, s.documents, s.documents.c.id == s.deliveries.c.document_ref).where(
    s.documents.c.organ == bindparam("organ"))


class Queries:
    """What a store holds, for lists, screens and traces."""

    def __init__(self, db: Database):
        self._db = db

    def received(self, organ: OrganCode, sender: OrganCode, document_id: str
                 ) -> DocumentView | None:
        """The document ``organ`` received from ``sender`` under this DocumentId that a
        change or a recall applies to: the earliest verified copy (a signed document wins
        over an unsigned twin that came first), else the earliest; None when none came.
        One ordered statement, however many copies there are."""
        d = s.documents.c
        query = (select(s.documents)
                 .where(d.organ == str(organ), d.direction == Direction.IN,
                        d.sender == str(sender),
                        d.document_id == document_id)
                 .order_by(case((d.signature == Verdict.VERIFIED, 0), else_=1), d.id)
                 .limit(1))
        with self._db.reader() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else document_view(row)

    def document(self, document_ref: int) -> DocumentView:
        """One document."""
        with self._db.reader() as conn:
            row = conn.execute(_rows.DOCUMENT_BY_ID, {"id": document_ref}).one_or_none()
        if row is None:
            raise NotFoundError("no such document", where=f"document {document_ref}")
        return document_view(row)

    def packet(self, document_ref: int) -> bytes:
        """The signed bytes of a document, exactly as sent or received."""
        with self._db.reader() as conn:
            row = conn.execute(_PACKET, {"id": document_ref}).one_or_none()
            raw = None if row is None else self._whole(conn, row)
        if raw is None:
            gone = self.tombstone(document_ref)
            if gone is not None:
                raise NotFoundError(
                    "the document's content was destroyed when its recall was agreed",
                    where=f"document {document_ref}",
                    hint=f"its tombstone keeps the packet's SHA-256 {gone.packet_sha256}")
            with self._db.reader() as conn:
                known = conn.execute(select(s.documents.c.id).where(
                    s.documents.c.id == document_ref)).first() is not None
            raise NotFoundError("no packet stored for this document" if known
                                else "no such document", where=f"document {document_ref}",
                                hint=None if known else "docflow inbox / outbox list them")
        return raw

    @staticmethod
    def _whole(conn: Connection, row: Row[Any]) -> bytes:
        """An envelope's bytes: its row's, or its pieces' (a large packet on PostgreSQL,
        whose row is then empty)."""
        if row.raw:
            return bytes(row.raw)
        return b"".join(bytes(piece) for piece in conn.execute(_PIECES, {"id": row.id}
                                                                ).scalars())

    def documents(
        self,
        *,
        direction: str | None = None,
        organ: OrganCode | None = None,
        state: str | Sequence[str] | None = None,
        document_id: str | None = None,
        sender: OrganCode | None = None,
        overdue_on: dt.date | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Page[DocumentView]:
        """Documents by direction ("in" = inbox, "out" = sent), organ, state (one, or any
        of several), edXML ``DocumentId`` and sender; with ``overdue_on``, only those past
        their due date on that day and not finished."""
        d = s.documents
        conditions = []
        for column, value in ((d.c.direction, direction), (d.c.organ, organ_text(organ)),
                              (d.c.document_id, document_id), (d.c.sender, organ_text(sender))):
            if value is not None:
                conditions.append(column == value)
        if isinstance(state, str):
            conditions.append(d.c.state == state)
        elif state is not None:
            conditions.append(d.c.state.in_(list(state)))
        if overdue_on is not None:
            conditions += [d.c.due_date < overdue_on,
                           d.c.state.not_in(sorted(INCOMING.final | OUTGOING.final))]
        return self.page_of(select(d).where(*conditions).order_by(d.c.id.desc()),
                            document_view, page, page_size)

    def deliveries(
        self,
        *,
        document_ref: int | None = None,
        recipient: OrganCode | Sequence[OrganCode] | None = None,
        transport_state: str | Sequence[str] | None = None,
        business_state: str | None = None,
        kind: str | None = None,
        organ: OrganCode | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Page[DeliveryView]:
        """Deliveries (the outbox) by document, recipient(s), state(s), kind, the organ
        whose documents they carry, and when they were queued (``since``/``until``)."""
        d = s.deliveries
        conditions: list[Any] = []
        for column, value in ((d.c.document_ref, document_ref),
                              (d.c.business_state, business_state), (d.c.kind, kind)):
            if value is not None:
                conditions.append(column == value)
        for column, values in ((d.c.recipient, organ_texts(recipient)),
                               (d.c.transport_state, transport_state)):
            if isinstance(values, str):
                conditions.append(column == values)
            elif values is not None:
                conditions.append(column.in_(list(values)))
        if organ is not None:
            conditions.append(select(s.documents.c.id).where(
                s.documents.c.id == d.c.document_ref, s.documents.c.organ == str(organ)).exists())
        if since is not None or until is not None:
            queued = select(s.envelopes.c.created_at).where(
                s.envelopes.c.id == d.c.envelope_ref).scalar_subquery()
            if since is not None:
                conditions.append(queued >= since)
            if until is not None:
                conditions.append(queued <= until)
        return self.page_of(select(d).where(*conditions).order_by(d.c.id),
                            delivery_view, page, page_size)

    def delivery(self, delivery_id: int) -> DeliveryView:
        """One delivery."""
        with self._db.reader() as conn:
            row = conn.execute(_rows.DELIVERY_BY_ID, {"id": delivery_id}).one_or_none()
        if row is None:
            raise NotFoundError("no such delivery", where=f"delivery {delivery_id}")
        return delivery_view(row)

    def delivery_packet(self, delivery_id: int) -> bytes:
        """The signed bytes a delivery carries (a document, or a status packet)."""
        with self._db.reader() as conn:
            row = conn.execute(_DELIVERY_PACKET, {"id": delivery_id}).one_or_none()
            if row is None:
                raise NotFoundError("no such delivery", where=f"delivery {delivery_id}")
            return self._whole(conn, row)

    def register(self, organ: OrganCode, book: str, year: int) -> list[RegisterEntry]:
        """``organ``'s register ``book`` ("in": arrivals, "out": sent) of ``year``, by
        number."""
        r = s.register_entries.c
        query = (select(s.documents, r.number.label("entry_number"),
                        r.registered_at.label("entry_at"))  # documents have a number too
                 .join(s.documents, s.documents.c.id == r.document_ref)
                 .where(r.organ == str(organ), r.register == book, r.year == year)
                 .order_by(r.number))
        with self._db.reader() as conn:
            rows = conn.execute(query).all()
        return [RegisterEntry(int(row.entry_number), row.entry_at, document_view(row))
                for row in rows]

    def tombstone(self, document_ref: int) -> Tombstone | None:
        """What was destroyed of a document when its recall was agreed (None: nothing)."""
        t = s.tombstones.c
        with self._db.reader() as conn:
            row = conn.execute(select(s.tombstones).where(t.document_ref == document_ref)
                               ).one_or_none()
        if row is None:
            return None
        return Tombstone(int(row.document_ref), row.destroyed_at, row.reason,
                         row.packet_sha256, int(row.packet_size),
                         tuple((a["name"], a["sha256"], int(a["size"]))
                               for a in json.loads(row.attachments)))

    def attachments(self, document_ref: int) -> list[AttachmentView]:
        """A document's attachments, in order, with a received PDF's verdict and report
        (the contents are in the packet: :meth:`packet`)."""
        links, files = s.document_attachments, s.attachments
        query = (select(links.c.position, links.c.name, links.c.content_type, files.c.size,
                        links.c.pdf_verdict, links.c.pdf_report, links.c.sha256)
                 .join(files, files.c.sha256 == links.c.sha256)
                 .where(links.c.document_ref == document_ref).order_by(links.c.position))
        with self._db.reader() as conn:
            rows = conn.execute(query).all()
        return [AttachmentView(int(row.position), row.name, row.content_type, int(row.size),
                               row.pdf_verdict,
                               json.loads(row.pdf_report) if row.pdf_report else None,
                               row.sha256)
                for row in rows]

    def history(self, document_ref: int) -> list[HistoryEntry]:
        """Every state change of a document and of all its deliveries, in order."""
        with self._db.reader() as conn:
            rows = conn.execute(select(s.history).where(s.history.c.document_ref == document_ref)
                                .order_by(s.history.c.id)).all()
        return [HistoryEntry(row.at, row.machine, row.event, row.from_state, row.to_state,
                             row.final, row.reason, row.delivery_ref) for row in rows]

    def status_events(self, document_ref: int) -> list[StatusEvent]:
        """Every status packet recorded for a document (sent, received or relayed)."""
        e = s.status_events
        with self._db.reader() as conn:
            rows = conn.execute(select(e).where(e.c.document_ref == document_ref)
                                .order_by(e.c.id)).all()
        return [StatusEvent(row.direction, StatusCode(row.code), row.from_organ,
                            row.description, row.timestamp, row.at, row.delivery_ref)
                for row in rows]

    def outstanding(self, organ: OrganCode | None = None) -> int:
        """How many deliveries (of ``organ``'s documents, or of all) are still on their
        way (queued, sending or waiting for a retry): zero when the outbox is settled."""
        with self._db.reader() as conn:
            if organ is None:
                return int(conn.execute(_OUTSTANDING).scalar_one())
            return int(conn.execute(_OUTSTANDING_OF, {"organ": str(organ)}).scalar_one())

    def has_sent(self, organ: OrganCode, document_id: str) -> bool:
        """Whether ``organ`` has sent a document with this edXML ``DocumentId``."""
        d = s.documents.c
        query = select(d.id).where(d.document_id == document_id, d.organ == str(organ),
                                   d.direction == Direction.OUT).limit(1)
        with self._db.reader() as conn:
            return conn.execute(query).first() is not None

    def numbers_used(self, organ: OrganCode, year: int) -> list[str]:
        """The numbers (số) ``organ``'s sent documents dated in ``year`` carry."""
        d = s.documents.c
        query = select(d.number).where(
            d.organ == str(organ), d.direction == Direction.OUT,
            d.promulgation_date >= dt.date(year, 1, 1),
            d.promulgation_date <= dt.date(year, 12, 31))
        with self._db.reader() as conn:
            return [str(row[0]) for row in conn.execute(query)]

    def sent_code(self, organ: OrganCode, year: int, number: str, notation: str
                  ) -> DocumentView | None:
        """The document ``organ`` sent in ``year`` under this number and notation (its
        register's; Phụ lục VI III.1.h), if any."""
        d = s.documents.c
        query = select(s.documents).where(
            d.organ == str(organ), d.direction == Direction.OUT, d.number == number,
            d.notation == notation, d.promulgation_date >= dt.date(year, 1, 1),
            d.promulgation_date <= dt.date(year, 12, 31)).order_by(d.id).limit(1)
        with self._db.reader() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else document_view(row)

    def waiting_for(self, recipients: Sequence[OrganCode]) -> dict[str, tuple[int, dt.datetime]]:
        """For each of ``recipients`` with deliveries still on their way to it: how many,
        and since when the oldest is due (a hub's packets held for an organ that pulls)."""
        if not recipients:
            return {}
        d = s.deliveries.c
        query = (select(d.recipient, func.count(), func.min(d.next_attempt_at))
                 .where(d.transport_state.in_(WAITING),
                        d.recipient.in_([str(r) for r in recipients]))
                 .group_by(d.recipient))
        with self._db.reader() as conn:
            return {str(row[0]): (int(row[1]), row[2]) for row in conn.execute(query)}

    def page_of(self, query: Select[Any], convert: Callable[[Row[Any]], _T], page: int,
                page_size: int) -> Page[_T]:
        if page < 1 or not 1 <= page_size <= 1000:
            raise StoreError("page must be >= 1 and page_size between 1 and 1000")
        with self._db.reader() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            rows = conn.execute(query.limit(page_size).offset((page - 1) * page_size)).all()
        return Page(tuple(convert(row) for row in rows), int(total), page, page_size)
