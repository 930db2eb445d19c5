"""Engines for the store: SQLite files by default, PostgreSQL by URL.

SQLite: WAL journal, foreign keys on, a busy timeout, and ``BEGIN IMMEDIATE`` for every
write transaction (pysqlite's own transaction handling is switched off, as SQLAlchemy's
documentation recommends, so that the write lock is taken at BEGIN and two writers never
deadlock upgrading a read lock). PostgreSQL: ``postgresql+psycopg://``, a pool of
connections, READ COMMITTED; row locks with ``FOR UPDATE SKIP LOCKED`` where workers
compete.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from docflow.errors import ConfigError

__all__ = ["make_engine", "sqlite_url", "writer_lock"]

BUSY_TIMEOUT_MS = 30_000

_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()


def sqlite_url(path: Path | str) -> str:
    """The SQLAlchemy URL of a SQLite database file."""
    return f"sqlite:///{Path(path).resolve()}"


def make_engine(url: str, *, pool_size: int = 5, durable: bool = True) -> Engine:
    """An engine for ``url`` (``sqlite:///file`` or ``postgresql+psycopg://...``).

    ``durable=False`` lets SQLite skip fsync (``synchronous=OFF``): for simulations and
    benchmarks of many nodes on one machine, never for a node that acknowledges
    documents (a power loss could then undo an acknowledged commit)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with the reason
        raise ConfigError(f"not a database URL: {url!r} ({exc})") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(
                "docflow needs a SQLite file, not an in-memory database",
                hint="use sqlite:///path/to/docflow.db",
            )
        # A pool: opening a connection costs the pragmas, and closing the last one
        # checkpoints the WAL (~6 ms). Pooled connections move between threads, one at a
        # time (check_same_thread off, as SQLAlchemy's QueuePool for SQLite files does).
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                               connect_args={"timeout": BUSY_TIMEOUT_MS / 1000,
                                             "check_same_thread": False})
        _configure_sqlite(engine, "FULL" if durable else "OFF")
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ConfigError(
                f"unsupported PostgreSQL driver {parsed.get_driver_name()!r}",
                hint="use postgresql+psycopg://user@host:port/database",
            )
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                             pool_pre_ping=True)
    raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}",
                      hint="docflow runs on SQLite files and PostgreSQL")


def writer_lock(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    """What a write transaction holds while it runs: for a SQLite file, one lock per file
    in this process, so that threads queue for the database's single writer slot here,
    woken the moment it frees, instead of in SQLite's busy handler, which sleeps up to
    100 ms between tries and, with ten threads writing, spends more time asleep than
    writing (another process's writers still meet the busy timeout). PostgreSQL: none
    (row locks)."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    key = str(Path(engine.url.database or "").resolve())
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, threading.RLock())


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # FULL: a commit survives power loss too (NORMAL would only survive a killed
        # process); docflow must not lose a document it acknowledged.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = "DEFERRED" if connection.get_execution_options().get("docflow_read") else (
            "IMMEDIATE")
        # On the driver's connection: a statement through SQLAlchemy would cost ~0.1 ms
        # of execution machinery for every transaction.
        connection.connection.dbapi_connection.execute(f"BEGIN {mode}")
