"""The organs registered with an axis or LGSP (``registerAgency``, ``getAgenciesList``)
and the copies it holds for them: the store's room for the emulated platforms (their
registrations in ``axis_agencies``; the copies are a hub's relayed deliveries). The hot
reads run on the driver's cursor (an axis answers many polls), their columns read by
name."""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from docflow.errors import NotFoundError, StoreError
from docflow.store import _schema as s
from docflow.store._unit import Database
from docflow.store._views import DeliveryView, Page

__all__ = ["Agencies", "Agency", "Registration"]


@dataclass(frozen=True)
class Agency:
    """An organ registered with an axis (the VDXP/LGSP ``registerAgency`` operation)."""

    code: str
    #: the system that serves it (its LGSP, ``pcode``), or "" when it calls the axis itself
    parent: str
    name: str
    mail: str
    registered_at: dt.datetime
    #: the system id that registered it ("" for the platform operator)
    owner: str = ""
    #: the code it had before it was given this one (the axis's ``oldCode``), or ""
    old_code: str = ""


class Registration(enum.Enum):
    """What :meth:`Agencies.register` did."""

    WRITTEN = "written"  #: a new registration, or its details replaced
    UNCHANGED = "unchanged"  #: the same registration was there already
    HELD = "held"  #: another system holds the organ: nothing written
    FULL = "full"  #: the system holds as many registrations as it may: nothing written


_QUEUED_FILTERS = {  # a condition of queued_at, and the statement's placeholders in it
    "kind": "d.kind = {}", "states": "d.transport_state IN ({})", "id": "d.id = {}",
    "since": "e.created_at >= {}", "until": "e.created_at <= {}",
}
_QUEUED = """
SELECT d.id, d.document_ref, d.kind, d.recipient, d.transport_state, d.business_state,
       d.change_state, d.attempts, d.next_attempt_at, d.last_error, d.version,
       COALESCE((SELECT se.from_organ FROM status_events se
                 WHERE se.document_ref = d.document_ref AND se.envelope_ref = d.envelope_ref
                 LIMIT 1), doc.sender) AS sender,
       COUNT(*) OVER () AS total
FROM deliveries d JOIN documents doc ON doc.id = d.document_ref
     JOIN envelopes e ON e.id = d.envelope_ref
WHERE doc.organ = {mark}
  AND (d.recipient IN ({organs}) OR d.recipient IN (
       SELECT code FROM axis_agencies WHERE axis = {mark} AND parent IN ({organs})))"""


@dataclass(frozen=True)
class _Dialect:
    """What queued_at's statement needs of a database: its placeholder and the
    conversions of the UTC timestamps it binds and reads (SQLAlchemy's own, for this
    dialect: a datetime is compared exactly as the store wrote it)."""

    mark: str
    bind_time: Callable[[Any], Any]
    read_time: Callable[[Any], Any]

    @staticmethod
    @functools.cache
    def of(dialect: Any, mark: str) -> _Dialect:
        utc = s.UTCDateTime().dialect_impl(dialect)
        bind = utc.bind_processor(dialect) or (lambda value: value)
        read = utc.result_processor(dialect, None) or (lambda value: value)
        return _Dialect(mark, bind, read)


@functools.lru_cache(maxsize=256)
def _queued_sql(mark: str, organs: int, filters: tuple[tuple[str, int], ...]) -> str:
    """queued_at's statement for ``organs`` organ codes and the conditions ``filters``
    names (keys of _QUEUED_FILTERS, with how many values each binds). Only this module's
    SQL and placeholders are formatted in; every value is bound."""
    conditions = "".join(" AND " + _QUEUED_FILTERS[name].format(", ".join([mark] * count))
                         for name, count in filters)
    return (_QUEUED.format(mark=mark, organs=", ".join([mark] * organs)) + conditions
            + f" ORDER BY d.id LIMIT {mark} OFFSET {mark}")


class Agencies:
    """An axis's registrations, and the copies it holds for the organs registered."""

    def __init__(self, db: Database):
        self._db = db

    def list(self, axis: str, *, codes: Sequence[str] | None = None,
             parent: str | None = None) -> builtins.list[Agency]:
        """The organs registered with ``axis``, by code; only ``codes`` or only those
        served by ``parent`` when given."""
        query = select(s.axis_agencies).where(s.axis_agencies.c.axis == axis)
        if codes is not None:
            query = query.where(s.axis_agencies.c.code.in_(list(codes)))
        if parent is not None:
            query = query.where(s.axis_agencies.c.parent == parent)
        with self._db.reader() as conn:
            rows = conn.execute(query.order_by(s.axis_agencies.c.code)).all()
        return [Agency(row.code, row.parent, row.name, row.mail, row.registered_at, row.owner,
                       row.old_code) for row in rows]

    def get(self, axis: str, code: str) -> Agency | None:
        """``code``'s registration with ``axis``, if any."""
        found = self.list(axis, codes=[code])
        return found[0] if found else None

    def count(self, axis: str) -> int:
        """How many organs are registered with ``axis`` (one counting statement)."""
        with self._db.reader() as conn:
            return int(conn.execute(select(func.count()).select_from(s.axis_agencies).where(
                s.axis_agencies.c.axis == axis)).scalar_one())

    def queued_at(self, axis: str, organs: Sequence[str], *, kind: str | None = None,
                  transport_state: Sequence[str] | None = None,
                  delivery_id: int | None = None, since: dt.datetime | None = None,
                  until: dt.datetime | None = None, page: int = 1,
                  page_size: int = 50) -> Page[tuple[DeliveryView, str]]:
        """The copies ``axis`` holds for ``organs`` and for the organs registered there
        with one of them as their parent, each with the organ that sent it (a status
        packet's own sender, not the document's): by kind, transport states, one
        delivery id, when they were queued. One indexed statement, the total counted
        with the page, run on the driver's cursor: an axis answers many polls, most of
        them empty, and SQLAlchemy's execution of a statement with lists to expand costs
        several times the query (measured: ~0.3 ms a poll against ~0.05 ms)."""
        if not 1 <= page <= 1_000_000 or not 1 <= page_size <= 1000:
            raise StoreError("page must be between 1 and 1,000,000 and page_size between 1 "
                             "and 1000")
        if delivery_id is not None and not 0 < delivery_id < 1 << 63:
            return Page((), 0, page, page_size)  # no row has such an id
        if not organs or (transport_state is not None and not transport_state):
            return Page((), 0, page, page_size)
        organs = list(organs)
        filters: list[tuple[str, int]] = []
        values: list[Any] = []
        conditions: tuple[tuple[str, Sequence[Any] | None], ...] = (
            ("kind", None if kind is None else [kind]),
            ("states", None if transport_state is None else list(transport_state)),
            ("id", None if delivery_id is None else [delivery_id]),
            ("since", None if since is None else [since]),
            ("until", None if until is None else [until]))
        for name, bound in conditions:
            if bound is not None:
                filters.append((name, len(bound)))
                values += bound
        dialect = _Dialect.of(self._db.engine.dialect, self._db.placeholder)
        values = [dialect.bind_time(value) if isinstance(value, dt.datetime) else value
                  for value in values]
        sql = _queued_sql(dialect.mark, len(organs), tuple(filters))
        head = [axis, *organs, axis, *organs, *values]
        with self._db.driver_reader() as (connection, _):
            cursor = connection.cursor()
            try:
                cursor.execute(sql, [*head, page_size, (page - 1) * page_size])
                rows = _named(cursor, cursor.fetchall())
                total = int(rows[0]["total"]) if rows else 0
                if not rows and page > 1:  # past the end: the first row carries the count
                    cursor.execute(sql, [*head, 1, 0])
                    first = _named(cursor, cursor.fetchmany(1))
                    total = int(first[0]["total"]) if first else 0
            finally:
                cursor.close()
        read = dialect.read_time
        return Page(tuple((DeliveryView(
            id=int(row["id"]), document_ref=int(row["document_ref"]), kind=row["kind"],
            recipient=row["recipient"], transport_state=row["transport_state"],
            business_state=row["business_state"], change_state=row["change_state"],
            attempts=int(row["attempts"]), next_attempt_at=read(row["next_attempt_at"]),
            last_error=row["last_error"], version=int(row["version"])), str(row["sender"]))
            for row in rows), total, page, page_size)

    def registered(self, axis: str, codes: Sequence[str]) -> set[str]:
        """Which of ``codes`` are registered with ``axis`` (a check on every packet an
        axis takes: one text statement)."""
        if not codes:
            return set()
        with self._db.driver_reader() as (connection, mark):
            sql = (f"SELECT code FROM axis_agencies WHERE axis = {mark} "  # noqa: S608
                   f"AND code IN ({', '.join([mark] * len(codes))})")  # placeholders only
            cursor = connection.cursor()
            try:
                cursor.execute(sql, [axis, *codes])
                return {str(row["code"]) for row in _named(cursor, cursor.fetchall())}
            finally:
                cursor.close()

    def register(self, axis: str, code: str, *, owner: str, parent: str = "",
                 name: str = "", mail: str = "", operator: bool = False,
                 limit: int | None = None, old_code: str = "",
                 now: dt.datetime | None = None) -> Registration:
        """Register ``code`` with ``axis`` for the system ``owner``, in one transaction
        (audited). A registration belongs to its owner: another system's is left alone
        (HELD), unless ``operator`` (the systems file, the platform operator's word: the
        organ moves to ``owner``, its details kept). Registering again replaces the
        details (not for ``operator``: an existing registration of the owner's stays as
        it is). ``limit``: how many registrations ``owner`` may hold (FULL beyond);
        ``old_code``: the code the organ had before (listed as ``oldCode``)."""
        table = s.axis_agencies
        key = and_(table.c.axis == axis, table.c.code == code)
        values = {"parent": parent, "name": name, "mail": mail, "old_code": old_code}
        with self._db.transaction(axis, now) as tx:
            found = tx.conn.execute(select(table.c.parent, table.c.name, table.c.mail,
                                           table.c.old_code, table.c.owner)
                                    .where(key).with_for_update()).one_or_none()
            if found is not None and found.owner != owner:
                if not operator:
                    return Registration.HELD
                tx.conn.execute(update(table).where(key).values(owner=owner))
                tx.audit("agency_reassigned", f"agency:{code}",
                         {"from": found.owner, "to": owner})
                return Registration.WRITTEN
            if found is not None and (operator or tuple(found)[:4] == tuple(values.values())):
                return Registration.UNCHANGED
            if found is None and limit is not None:
                held = tx.conn.execute(select(func.count()).select_from(table).where(
                    table.c.axis == axis, table.c.owner == owner)).scalar_one()
                if held >= limit:
                    return Registration.FULL
            if found is None:
                tx.conn.execute(table.insert().values(axis=axis, code=code, owner=owner,
                                                      registered_at=tx.now, **values))
            else:
                tx.conn.execute(update(table).where(key).values(registered_at=tx.now,
                                                                **values))
            tx.audit("agency_registered", f"agency:{code}", {**values, "owner": owner})
        return Registration.WRITTEN

    def delete(self, axis: str, code: str, *, owner: str,
               now: dt.datetime | None = None) -> bool:
        """Remove ``code``'s registration with ``axis`` if ``owner`` holds it (audited):
        False when another system does; NotFoundError if there is none. Packets already
        queued for it stay queued."""
        table = s.axis_agencies
        with self._db.transaction(axis, now) as tx:
            found = tx.conn.execute(select(table.c.owner).where(
                table.c.axis == axis, table.c.code == code).with_for_update()).one_or_none()
            if found is None:
                raise NotFoundError("unknown agency", where=f"{code} at axis {axis}",
                                    hint="getAgenciesList shows the registered organs")
            if found.owner != owner:
                return False
            tx.conn.execute(delete(table).where(table.c.axis == axis, table.c.code == code))
            tx.audit("agency_deleted", f"agency:{code}", {"owner": owner})
        return True

    def first_seen(self, axis: str, key: str, *, now: dt.datetime,
                   keep: dt.timedelta) -> bool:
        """Record the signed request ``key`` (a hex SHA-256) as seen by ``axis`` at
        ``now``; False if it was seen before (a replay). Keys older than ``keep`` are
        forgotten (their timestamps are stale by then: the axis refuses them anyway).
        Shared by every process serving the axis (a row, not memory)."""
        table = s.axis_seen_requests
        try:
            with self._db.transaction(axis, now) as tx:
                tx.conn.execute(delete(table).where(table.c.axis == axis,
                                                    table.c.seen_at < now - keep))
                tx.conn.execute(table.insert().values(axis=axis, key=key, seen_at=now))
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True


def _named(cursor: Any, rows: Sequence[Sequence[Any]]) -> builtins.list[dict[str, Any]]:
    """A driver cursor's rows by column name (its ``description``), never by position:
    a column added to the statement cannot shift what is read."""
    names = [column[0] for column in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in rows]
