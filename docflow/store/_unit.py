"""The unit of work: one database transaction that the store's rooms (outbox, inbox,
lifecycle, relay, audit, queries) write in together, all or nothing.

A :class:`Transaction` carries the connection, the moment every row of it is stamped
with, the organ acting (the audit's actor) and the audit entries it gathers; when the
block ends they are handed to the database's ``on_commit`` step (the store registers
the audit chain's :func:`docflow.store._audit.append`, the only place that writes it),
then the transaction commits. A room's public method is
one unit of work; the ``*_in(tx, ...)`` methods are the same steps inside a unit of work
that someone else opened.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from docflow.clock import Clock, system_clock
from docflow.domain.admission import Note
from docflow.domain.retry import RetryPolicy
from docflow.errors import DocflowError, StoreError
from docflow.store._driver import DriverCursor
from docflow.store._engine import writer_lock
from docflow.store._views import StoreHooks

__all__ = ["Database", "Transaction"]


@dataclass
class Transaction:
    """One unit of work in progress (``with store.transaction(organ) as tx:``)."""

    conn: Connection
    #: the moment every row written in this transaction carries
    now: dt.datetime
    #: the organ acting: the audit entries' actor unless an entry names its own
    organ: str
    driver: DriverCursor
    hooks: StoreHooks
    #: the audit entries to append on commit: (actor, action, subject, detail)
    entries: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def audit(self, action: str, subject: str, detail: dict[str, Any], *,
              actor: str | None = None) -> None:
        """Add an entry to the audit chain when this transaction commits; ``actor``:
        the organ acting, when not the transaction's (a document's owner)."""
        self.entries.append((self.organ if actor is None else actor, action, subject, detail))

    def note(self, note: Note, *, actor: str | None = None) -> None:
        """Add an entry the domain asked for (:class:`docflow.domain.Note`)."""
        self.audit(note.action, note.subject, note.detail, actor=actor)

    def checkpoint(self, name: str) -> None:
        """A point between two steps (tests kill the process here)."""
        self.hooks.checkpoint(name)


@dataclass
class Database:
    """What every room shares: the engine, the writer lock, the clock, the policies; it
    opens units of work (:meth:`transaction`) and read-only snapshots (:meth:`reader`)."""

    engine: Engine
    clock: Clock = system_clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    retry_per_organ: Mapping[str, RetryPolicy] = field(default_factory=dict)
    retention: dt.timedelta = dt.timedelta(days=365)
    hooks: StoreHooks = field(default_factory=StoreHooks)
    rnd: Callable[[], float] = random.random
    #: what a unit of work with audit entries runs before it commits (the store makes it
    #: append them to the hash chain): ``on_commit(tx, where=...)``
    on_commit: Callable[..., None] | None = None
    #: other processes write this SQLite file all the time: queue on a file lock
    #: (see :func:`~docflow.store._engine.writer_lock`)
    shared_writers: bool = False

    def __post_init__(self) -> None:
        self._writer = writer_lock(self.engine, across_processes=self.shared_writers)

    @property
    def where(self) -> str:
        """The database's URL without its password (for error messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self, organ: str = "", now: dt.datetime | None = None
                    ) -> Iterator[Transaction]:
        """One unit of work for ``organ`` at ``now`` (default: the clock's): everything
        written inside commits together, with its audit entries, or nothing does."""
        when = now if now is not None else self.clock()
        try:
            with self._writer, self.engine.begin() as conn:
                tx = Transaction(conn, when, organ, DriverCursor(conn), self.hooks)
                try:
                    yield tx
                    if tx.entries:
                        if self.on_commit is None:
                            raise StoreError("audit entries but no chain to append them to",
                                             where=self.where)
                        self.on_commit(tx, where=self.where)
                finally:
                    tx.driver.close()
                self.hooks.checkpoint("before_commit")
        except DocflowError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc.__class__.__name__}: {exc}",
                             where=self.where,
                             hint="nothing was written; retry, or check the database") from exc

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A read-only snapshot (one read transaction)."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(docflow_read=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc}", where=self.where) from exc

    @property
    def placeholder(self) -> str:
        """The driver's parameter mark: ``?`` (sqlite3) or ``%s`` (psycopg)."""
        return "?" if self.engine.dialect.paramstyle == "qmark" else "%s"

    @contextmanager
    def driver_reader(self) -> Iterator[tuple[Any, str]]:
        """A pooled connection of the database driver itself, and its placeholder
        (``?`` or ``%s``), for a hot read of one or two plain statements (an axis's
        polls): none of SQLAlchemy's connection, transaction and result machinery, which
        costs several times such a query. Each statement reads a consistent snapshot
        (SQLite's autocommit; PostgreSQL's transaction, rolled back when the connection
        returns to the pool). Driver errors become a :class:`StoreError`."""
        dbapi = self.engine.dialect.loaded_dbapi
        mark = self.placeholder
        try:
            connection = self.engine.raw_connection()
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc}", where=self.where) from exc
        try:
            yield connection, mark
        except dbapi.Error as exc:
            raise StoreError(f"database error: {exc}", where=self.where) from exc
        finally:
            connection.close()  # back to the pool

