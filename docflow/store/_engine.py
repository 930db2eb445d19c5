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
import fcntl
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from docflow.errors import ConfigError

__all__ = ["make_engine", "sqlite_url", "writer_lock"]

BUSY_TIMEOUT_MS = 30_000

_WRITERS_GUARD = threading.Lock()


class _Writers:
    """The writer slot of one SQLite file in this process: threads queue on a lock;
    with ``across`` (other processes write the file too), the outermost holder also
    takes an exclusive ``flock`` on ``<file>-writers.lock``, so that a process waiting for
    the slot wakes the moment it frees."""

    def __init__(self, path: str):
        self.path, self.across = path, False
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    def __enter__(self) -> _Writers:
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1 and self.across:
            if self._fd is None or self._pid != os.getpid():  # not one a fork carried
                self._fd = os.open(self.path + "-writers.lock",
                                   os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self.across and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()


_WRITERS: dict[str, _Writers] = {}


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


def writer_lock(engine: Engine, *, across_processes: bool = False
                ) -> contextlib.AbstractContextManager[Any]:
    """What a write transaction holds while it runs: for a SQLite file, one lock per file
    in this process, so that threads queue for the database's single writer slot here,
    woken the moment it frees, instead of in SQLite's busy handler, which sleeps up to
    100 ms between tries and, with ten threads writing, spends more time asleep than
    writing. Another process's writers meet the busy timeout, unless
    ``across_processes``: then the slot is also a file lock every such process queues on
    (processes of a simulation sharing a hub's database write it all the time; for a
    few writers now and then, as `axis serve --processes`, the busy handler measured
    better). PostgreSQL: none (row locks)."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    key = str(Path(engine.url.database or "").resolve())
    with _WRITERS_GUARD:
        writers = _WRITERS.setdefault(key, _Writers(key))
        writers.across = writers.across or across_processes
        return writers


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
