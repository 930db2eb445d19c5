"""The deadlines room: the văn thư deadlines of documents (``store.deadlines``), listed
with whether each is breached, and the sweep that records the breaches of deadlines
still open after they ended (the worker runs it). They are written with the document
(:meth:`~docflow.store.Inbox.receive`) and met by the acts that fulfil them, in those
transactions (:func:`docflow.store._rows.meet_deadlines`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from docflow.domain.deadlines import breach_note
from docflow.model import OrganCode
from docflow.store import _schema as s
from docflow.store._unit import Database
from docflow.store._views import DeadlineView

__all__ = ["Deadlines"]


class Deadlines:
    """Listing the deadlines, recording breaches."""

    def __init__(self, db: Database):
        self._db = db

    def list(self, organ: OrganCode | None = None, *, breached_only: bool = False,
             now: dt.datetime | None = None) -> list[DeadlineView]:
        """The deadlines of ``organ``'s documents (or all), by deadline; with
        ``breached_only``, those met late or still open after they ended (as of
        ``now``)."""
        moment = now if now is not None else self._db.clock()
        k, d = s.deadlines.c, s.documents.c
        query = (select(k.document_ref, k.kind, k.deadline, k.met_at, k.breached_at,
                        d.number, d.notation)
                 .join(s.documents, d.id == k.document_ref)
                 .order_by(k.deadline, k.document_ref))
        if organ is not None:
            query = query.where(d.organ == str(organ))
        with self._db.reader() as conn:
            rows = conn.execute(query).all()
        views = [DeadlineView(int(row.document_ref), f"{row.number}/{row.notation}", row.kind,
                              row.deadline, row.met_at,
                              row.breached_at is not None or (
                                  row.met_at > row.deadline if row.met_at is not None
                                  else moment > row.deadline))
                 for row in rows]
        return [view for view in views if view.breached] if breached_only else views

    def sweep(self, *, now: dt.datetime | None = None) -> int:
        """Record the breach of every deadline still open after it ended (once each,
        audited per document); returns how many."""
        k = s.deadlines.c
        with self._db.transaction("", now) as tx:
            rows = tx.conn.execute(select(k.document_ref, k.kind, k.deadline).where(
                k.met_at.is_(None), k.breached_at.is_(None), k.deadline < tx.now)
                .order_by(k.document_ref, k.kind)).all()
            for row in rows:
                tx.conn.execute(update(s.deadlines).where(
                    k.document_ref == row.document_ref, k.kind == row.kind).values(
                    breached_at=tx.now))
                tx.note(breach_note(int(row.document_ref), row.kind, row.deadline, met=False))
            return len(rows)
