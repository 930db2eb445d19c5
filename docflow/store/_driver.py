"""Write statements run on the database driver's own cursor.

The store's hot writes (a document, its envelope, deliveries, history rows, the audit
chain) are constant SQLAlchemy Core statements. Executed through ``Connection.execute``
each costs ~0.1-0.2 ms of Python around a ~0.01 ms driver call: the cache-key lookup,
the execution context, events and the result object. Here each statement is compiled
once per dialect and parameter shape by SQLAlchemy itself (same SQL, same bind
processors: a datetime is stored exactly as SQLAlchemy stores it), then executed on the
DBAPI cursor of the very connection that holds the transaction. Driver errors are
wrapped into SQLAlchemy's exception classes, so callers see one kind of error.

Only writes go this way (and the packets an outbox claims): other reads keep
SQLAlchemy's result processing.

Large values on SQLite (1 MiB and more: a packet with a 20 MB attachment) are written and
read with SQLite's incremental blob I/O: bound as a parameter, a blob is copied whole by
SQLite, copied again into the row record, and the copy stays bound to the cached
statement until its next use; the row gets a ``zeroblob`` of the right length instead,
filled in chunks.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, LargeBinary, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable

from docflow.spool import PacketData, Spool, SpoolWriter, as_bytes, chunks_of

__all__ = ["DriverCursor"]

_Processor = Callable[[Any], Any] | None
LARGE = 1 << 20  # bytes from which SQLite blobs go through incremental I/O
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[_Processor, ...]
    positional: bool
    fixed: Mapping[str, Any]  # values written in the statement itself (``id == 1``)
    table: str | None  # the table an INSERT writes (None for other statements)
    blobs: tuple[int, ...] = ()  # positions of binary parameters

    def __post_init__(self) -> None:
        # A list of the values in parameter order, taken in one C call; then only the
        # positions with a processor are converted (most columns have none).
        getter = operator.itemgetter(*self.names) if self.names else None
        object.__setattr__(self, "_get", getter)
        object.__setattr__(self, "_converting", tuple(
            (position, processor) for position, processor in enumerate(self.processors)
            if processor is not None))

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        if self.fixed:
            values = {**self.fixed, **values}
        getter = self._get  # type: ignore[attr-defined]
        if getter is None:
            taken: list[Any] = []
        elif len(self.names) == 1:
            taken = [getter(values)]
        else:
            taken = list(getter(values))
        for position, processor in self._converting:  # type: ignore[attr-defined]
            value = taken[position]
            if not isinstance(value, Spool):  # a spool is written by _run, in chunks
                taken[position] = processor(value)
        if self.positional:
            return taken
        return dict(zip(self.names, taken, strict=True))

    def large(self, params: Sequence[Any]) -> tuple[int, ...]:
        """Positions of the binary values of 1 MiB and more among ``params``."""
        return tuple(position for position in self.blobs
                     if params[position] is not None and len(params[position]) >= LARGE)


def _remembering(processor: _Processor) -> _Processor:
    """``processor`` answering again at once for the object it saw last: a transaction
    writes its one ``now`` into many columns (one (input, output) pair, replaced whole,
    so threads sharing a statement never see a torn pair)."""
    if processor is None:
        return None
    last: list[tuple[Any, Any]] = [(object(), None)]

    def process(value: Any) -> Any:
        seen, answer = last[0]
        if seen is value:
            return answer
        answer = processor(value)
        last[0] = (value, answer)
        return answer

    return process


_PROCESSORS: dict[tuple[str, str], _Processor] = {}


def _processor(type_: Any, dialect: Any) -> _Processor:
    """One bind processor per dialect and type (as ``repr`` spells it, with its
    arguments); for dates and datetimes a remembering one: every datetime column of a
    transaction shares the conversion of its ``now``."""
    key = (dialect.name, repr(type_))
    if key not in _PROCESSORS:
        # The dialect's own form of the type (SQLite's DATETIME writes SQLAlchemy's text
        # format; the generic DateTime would leave the value to the driver's adapter).
        processor = type_.dialect_impl(dialect).bind_processor(dialect)
        # Only small immutable values: remembering a 20 MB blob would keep it alive.
        # (A TypeDecorator does not say its Python type; its implementation does.)
        base = getattr(type_, "impl_instance", type_)
        try:
            timely = issubclass(base.python_type, dt.date)
        except NotImplementedError:
            timely = False
        _PROCESSORS[key] = _remembering(processor) if timely else processor
    return _PROCESSORS[key]


_CACHE: dict[tuple[int, str, tuple[str, ...], bool], tuple[Executable, _Compiled]] = {}


def _compile(connection: Connection, statement: Executable, keys: tuple[str, ...],
             returning_id: bool) -> _Compiled:
    dialect = connection.dialect
    cache_key = (id(statement), dialect.name, keys, returning_id)
    hit = _CACHE.get(cache_key)
    if hit is not None and hit[0] is statement:
        return hit[1]
    target: Any = statement
    if returning_id:
        table = statement.table  # type: ignore[attr-defined]
        target = statement.returning(table.c.id)  # type: ignore[attr-defined]
    compiled = target.compile(dialect=dialect, column_keys=list(keys))
    if compiled.positional:
        names = tuple(compiled.positiontup or ())
    else:
        names = tuple(compiled.bind_names[bind] for bind in compiled.binds.values())
    processors = tuple(_processor(compiled.binds[name].type, dialect) for name in names)
    fixed = {name: compiled.binds[name].effective_value for name in names
             if name not in keys and compiled.binds[name].value is not None}
    table = statement.table.name if getattr(statement, "is_insert", False) else None  # type: ignore[attr-defined]
    blobs = tuple(position for position, name in enumerate(names)
                  if isinstance(compiled.binds[name].type, LargeBinary))
    result = _Compiled(compiled.string, names, processors, bool(compiled.positional), fixed,
                       table, blobs)
    _CACHE[cache_key] = (statement, result)
    return result


class DriverCursor:
    """The transaction's DBAPI cursor, running precompiled Core write statements."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._dialect = connection.dialect
        self._sqlite = connection.dialect.name == "sqlite"
        self._cursor: Any = None

    def _raw(self) -> Any:
        if self._cursor is None:
            self._cursor = self._connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        return self._cursor

    def _wrap(self, exc: Exception, sql: str, params: Any) -> Exception:
        dbapi = self._dialect.loaded_dbapi
        if isinstance(exc, dbapi.Error):
            return DBAPIError.instance(sql, params, exc, dbapi.Error)
        return exc

    def _run(self, compiled: _Compiled, params: Any) -> Any:
        """Execute one statement (SQLite inserts: large blobs by incremental I/O, a
        spooled one read from its file chunk by chunk)."""
        cursor = self._raw()
        large = compiled.large(params) if self._sqlite and compiled.table else ()
        try:
            if not large:
                if compiled.blobs:  # only a binary value may be a spool
                    params = _plain(params)
                cursor.execute(compiled.sql, params)
                return cursor
            cursor.execute(_zeroblobs(compiled.sql, large), _plain([
                len(value) if position in large else value
                for position, value in enumerate(params)]))
            if cursor.rowcount == 1:  # not an INSERT ... ON CONFLICT DO NOTHING that skipped
                connection = self._connection.connection.dbapi_connection
                for position in large:
                    with connection.blobopen(  # type: ignore[union-attr]
                            compiled.table, compiled.names[position], cursor.lastrowid) as blob:
                        for chunk in chunks_of(params[position], size=_CHUNK):
                            blob.write(chunk)
            return cursor
        except Exception as exc:
            raise self._wrap(exc, compiled.sql, params) from exc

    def execute(self, statement: Executable, values: Mapping[str, Any]) -> int:
        """Run ``statement`` with ``values``; the number of rows it touched."""
        compiled = _compile(self._connection, statement, tuple(values), False)
        return int(self._run(compiled, compiled.params(values)).rowcount)

    def fetchone(self, statement: Executable, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a query whose columns need no conversion (ids, text)."""
        compiled = _compile(self._connection, statement, tuple(values), False)
        params = compiled.params(values)
        cursor = self._raw()
        try:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        except Exception as exc:
            raise self._wrap(exc, compiled.sql, params) from exc
        return None if row is None else tuple(row)

    def executemany(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run ``statement`` once per row (one driver call)."""
        if not rows:
            return
        compiled = _compile(self._connection, statement, tuple(rows[0]), False)
        params = [compiled.params(row) for row in rows]
        if self._sqlite and compiled.table and compiled.blobs and any(
                compiled.large(row) for row in params if not isinstance(row, dict)):
            for row in params:
                self._run(compiled, row)
            return
        if compiled.blobs:
            params = [_plain(row) for row in params]
        try:
            self._raw().executemany(compiled.sql, params)
        except Exception as exc:
            raise self._wrap(exc, compiled.sql, params) from exc

    def insert_ids(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert ``rows`` into ``table``; their new ids, in the order of ``rows``."""
        if not rows:
            return []
        statement = _INSERTS.get(table.name)
        if statement is None:
            statement = _INSERTS[table.name] = table.insert()
        keys = tuple(rows[0])
        if self._sqlite:
            # One statement per row: in SQLite, a row's id is the cursor's lastrowid.
            compiled = _compile(self._connection, statement, keys, False)
            return [int(self._run(compiled, compiled.params(row)).lastrowid) for row in rows]
        spooled = {index: row["raw"] for index, row in enumerate(rows)
                   if table.name == "envelopes" and isinstance(row.get("raw"), Spool)}
        if spooled:  # the row gets no bytes; its pieces follow, one row each
            rows = [{**row, "raw": b""} if index in spooled else row
                    for index, row in enumerate(rows)]
        compiled = _compile(self._connection, statement, keys, True)
        params = [compiled.params(row) for row in rows]
        if compiled.blobs:
            params = [_plain(row) for row in params]
        if spooled:
            ids = self._insert_returning(compiled, params)
            pieces = table.metadata.tables["envelope_chunks"].insert()
            for index, spool in spooled.items():
                for seq, chunk in enumerate(spool.chunks(size=_CHUNK)):
                    self.execute(pieces, {"envelope_ref": ids[index], "seq": seq,
                                          "data": chunk})
            return ids
        return self._insert_returning(compiled, params)

    def _insert_returning(self, compiled: _Compiled, params: list[Any]) -> list[int]:
        cursor = self._raw()
        try:
            if len(params) == 1:
                cursor.execute(compiled.sql, params[0])
                return [int(cursor.fetchone()[0])]
            # psycopg: one pipelined executemany, one result set per row, in order.
            cursor.executemany(compiled.sql, params, returning=True)
            ids = []
            while True:
                ids.append(int(cursor.fetchone()[0]))
                if not cursor.nextset():
                    return ids
        except Exception as exc:
            raise self._wrap(exc, compiled.sql, params) from exc

    def packets(self, ids: Sequence[int]) -> dict[int, PacketData]:
        """The raw bytes of envelopes by id (large ones on SQLite by incremental I/O,
        chunk by chunk into a :class:`~docflow.spool.Spool`, where a SELECT makes SQLite
        assemble the value and Python copy it)."""
        if not ids:
            return {}
        # Only placeholders are formatted into the SQL; the ids are bound parameters.
        marks = ", ".join("?" if self._sqlite else "%s" for _ in ids)
        if not self._sqlite:
            cursor = self._raw()
            cursor.execute(f"SELECT id, raw FROM envelopes WHERE id IN ({marks})",  # noqa: S608
                           list(ids))
            return {int(ident): bytes(raw) if raw else self._pieces(int(ident))
                    for ident, raw in cursor.fetchall()}
        sql = (f"SELECT id, length(raw), CASE WHEN length(raw) < {LARGE} THEN raw END "  # noqa: S608
               f"FROM envelopes WHERE id IN ({marks})")
        cursor = self._raw()
        try:
            cursor.execute(sql, list(ids))
            found: dict[int, PacketData] = {}
            connection = self._connection.connection.dbapi_connection
            for ident, _size, raw in cursor.fetchall():
                if raw is None:
                    with connection.blobopen(  # type: ignore[union-attr]
                            "envelopes", "raw", ident, readonly=True) as blob, \
                            SpoolWriter() as writer:
                        while chunk := blob.read(_CHUNK):
                            writer.write(chunk)
                        found[int(ident)] = writer.finish()
                else:
                    found[int(ident)] = bytes(raw)
            return found
        except Exception as exc:
            raise self._wrap(exc, sql, list(ids)) from exc

    def _pieces(self, envelope_id: int) -> Spool:
        """A large packet written in pieces (PostgreSQL), read back one piece at a time
        into a spool (a query for them all would fetch them all at once)."""
        cursor = self._raw()
        with SpoolWriter() as writer:
            seq = 0
            while True:
                cursor.execute("SELECT data FROM envelope_chunks WHERE envelope_ref = %s "
                               "AND seq = %s", (envelope_id, seq))
                row = cursor.fetchone()
                if row is None:
                    return writer.finish()
                writer.write(row[0])
                seq += 1

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None


_INSERTS: dict[str, Executable] = {}


def _plain(params: Any) -> Any:
    """``params`` with each spooled value read whole (a driver binds bytes only)."""
    if isinstance(params, dict):
        if any(isinstance(value, Spool) for value in params.values()):
            return {key: as_bytes(value) if isinstance(value, Spool) else value
                    for key, value in params.items()}
        return params
    if any(isinstance(value, Spool) for value in params):
        return [as_bytes(value) if isinstance(value, Spool) else value for value in params]
    return params


def _zeroblobs(sql: str, positions: tuple[int, ...]) -> str:
    """``sql`` with the parameters at ``positions`` (their ``?``) as ``zeroblob(?)``."""
    pieces = sql.split("?")
    return "".join(piece + ("" if index == len(pieces) - 1 else
                            "zeroblob(?)" if index in positions else "?")
                   for index, piece in enumerate(pieces))
