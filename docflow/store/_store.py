"""The store: documents, signed envelopes, deliveries (the outbox), status history,
attachments, the idempotent inbox and the audit chain, on SQLite or PostgreSQL.

:class:`Store` opens the database (migrating it with Alembic) and holds one room per
concept: :class:`~docflow.store.Outbox`, :class:`~docflow.store.Inbox`,
:class:`~docflow.store.Lifecycles`, :class:`~docflow.store.Relay`,
:class:`~docflow.store.AuditLog` and :class:`~docflow.store.Queries`, over one
:class:`~docflow.store.Database` that opens units of work. Every public method of a room
is one database transaction: it does everything or nothing. Lifecycle decisions come
from :mod:`docflow.lifecycle`; the store only persists them. Checkpoints
(``StoreHooks.checkpoint``) between the steps of a transaction let tests kill the process
at each of them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from docflow.clock import Clock, system_clock
from docflow.domain.retry import RetryPolicy
from docflow.errors import DocflowError, NotFoundError, SchemaVersionError, StoreError
from docflow.store import _audit
from docflow.store._agencies import Agencies
from docflow.store._audit import AuditLog
from docflow.store._deadlines import Deadlines
from docflow.store._engine import make_engine
from docflow.store._inbox import Inbox
from docflow.store._lifecycle import Lifecycles
from docflow.store._outbox import Outbox
from docflow.store._queries import Queries
from docflow.store._relay import Relay
from docflow.store._unit import Database
from docflow.store._views import StoreHooks
from docflow.store.protocols import NodeStore

__all__ = ["Store"]


def _require_existing(url: str) -> None:
    """Refuse a SQLite URL naming a file that does not exist (SQLite would create it):
    only :meth:`Store.open` and ``docflow db upgrade`` create databases."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return  # make_engine reports a malformed URL
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" \
            and not database.startswith("file:") and not Path(database).exists():
        raise NotFoundError(f"no database at {database}", where=database,
                         hint="check the path (nothing was created); `docflow init` or "
                              "`docflow db upgrade --database URL` creates a database")


class Store:
    """The persistence of one docflow node (or hub): rooms by concept over one database,
    and the unit of work they share.

    ``store.outbox``, ``store.inbox``, ``store.lifecycle``, ``store.relay``,
    ``store.audit`` and ``store.queries`` are the rooms (each public method one
    transaction: one unit of work, everything or nothing). The same rooms in memory:
    :class:`~docflow.store.memory.MemoryStore`; what a node needs of either:
    :class:`~docflow.store.protocols.NodeStore`.

    Args:
        url: ``sqlite:///path`` (default kind) or ``postgresql+psycopg://...``.
        clock: where "now" comes from when a method is not given ``now``.
        retry: the default :class:`RetryPolicy`; ``retry_per_organ`` overrides it by
            recipient organ code.
        retention: how long a received message id is remembered for duplicate detection.
        hooks: checkpoints inside transactions (tests).
        rnd: the random source of retry jitter (tests pass a fixed one).
        durable: False skips SQLite's fsync (simulations only; see :func:`make_engine`).
        shared_writers: other processes write this SQLite file all the time (a
            simulation's hub database): writers queue on a file lock, woken the moment the
            writer slot frees, instead of sleeping in SQLite's busy handler.

    The database must be at this code's schema revision: :meth:`upgrade` (or
    ``Store.open(url)``, which upgrades first) brings it there; otherwise the store refuses
    to run with :class:`~docflow.errors.SchemaVersionError`.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = system_clock,
        retry: RetryPolicy | None = None,
        retry_per_organ: Mapping[str, RetryPolicy] | None = None,
        retention: dt.timedelta = dt.timedelta(days=365),
        hooks: StoreHooks | None = None,
        rnd: Callable[[], float] = random.random,
        check_schema: bool = True,
        durable: bool = True,
        shared_writers: bool = False,
    ):
        self.url = url
        if check_schema:
            _require_existing(url)  # opening a database must not create one
        self.engine = make_engine(url, durable=durable)
        self.database = Database(self.engine, clock=clock, retry=retry or RetryPolicy(),
                                 retry_per_organ=dict(retry_per_organ or {}),
                                 retention=retention, hooks=hooks or StoreHooks(), rnd=rnd,
                                 on_commit=_audit.append, shared_writers=shared_writers)
        db = self.database
        #: what is queried (documents, deliveries, packets, history, status events)
        self.queries = Queries(db)
        #: what this organ sends: deliveries, their claims, receipts, retries, dead letters
        self.outbox = Outbox(db, self.queries)
        #: events on received documents, status packets, recalls/updates/replacements
        self.lifecycle = Lifecycles(db)
        #: what this organ receives, idempotently
        self.inbox = Inbox(db)
        #: a hub's store-and-forward
        self.relay = Relay(db)
        #: an emulated axis's registrations and the copies it holds for them
        self.agencies = Agencies(db)
        #: the hash-chained audit log (head, verification)
        self.audit = AuditLog(db)
        #: the văn thư deadlines of documents, and their breaches
        self.deadlines = Deadlines(db)
        if check_schema:
            try:
                self._check_schema()
            except DocflowError:
                self.engine.dispose()  # do not leave pooled connections to the GC
                raise

    @property
    def hooks(self) -> StoreHooks:
        """The checkpoints inside transactions (tests replace them to crash at one)."""
        return self.database.hooks

    @hooks.setter
    def hooks(self, hooks: StoreHooks) -> None:
        self.database.hooks = hooks

    @classmethod
    def open(cls, url: str, *, create: bool = True, **options: Any) -> Store:
        """Create or upgrade the database at ``url`` to the current schema, then open it.

        ``create=False`` (a node's own database, which ``docflow init`` made): a missing
        SQLite file, or a database without docflow's schema, is a
        :class:`~docflow.errors.NotFoundError` naming it and nothing is created (a typo
        in ``database =`` or a volume not mounted must not start a node with no history);
        an existing one is upgraded."""
        if not create:
            _require_existing(url)
        store = cls(url, check_schema=False, **options)
        try:
            if not create and not store._has_schema():
                raise NotFoundError(
                    f"no docflow database at {store._where()}: it has no docflow schema",
                    where=store._where(), hint="check the URL (nothing was created); "
                    "`docflow db upgrade --database URL` creates the schema")
            store.upgrade()
            store._check_schema()
        except DocflowError:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def _has_schema(self) -> bool:
        """Whether the database holds docflow's schema (Alembic's version table)."""
        try:
            with self.engine.connect() as conn:
                return bool(inspect(conn).has_table("alembic_version"))
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc}", where=self._where()) from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _alembic_config() -> Config:
        config = Config()
        config.set_main_option("script_location", str(resources.files("docflow.store.migrations")))
        return config

    def upgrade(self) -> None:
        """Create the schema, or migrate it to this code's revision (Alembic)."""
        config = self._alembic_config()
        try:
            with self.engine.connect() as conn:
                # SQLite rebuilds a table to change it (copy, drop, rename): foreign keys
                # are switched off around the transaction, as SQLite's documentation
                # prescribes, and checked before it commits.
                sqlite = conn.dialect.name == "sqlite"
                if sqlite:
                    self._sqlite_foreign_keys(conn, on=False)
                try:
                    with conn.begin():
                        config.attributes["connection"] = conn
                        command.upgrade(config, "head")
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all() \
                            if sqlite else []
                        if broken:
                            raise StoreError(
                                f"the upgrade would break {len(broken)} foreign key(s), "
                                f"first in table {broken[0][0]}", where=self._where(),
                                hint="nothing was changed; report this database's state")
                finally:
                    if sqlite:
                        self._sqlite_foreign_keys(conn, on=True)
        except SQLAlchemyError as exc:
            raise StoreError(f"database upgrade failed: {exc}", where=self._where()) from exc

    @staticmethod
    def _sqlite_foreign_keys(conn: Connection, *, on: bool) -> None:
        """Outside any transaction (SQLite ignores the pragma inside one)."""
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None:
            dbapi.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")

    def schema_revision(self) -> str | None:
        """The database's Alembic revision (None for an empty database)."""
        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the schema revision: {exc}", where=self._where()) \
                from exc

    def _check_schema(self) -> None:
        current = self.schema_revision()
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        if current != head:
            raise SchemaVersionError(
                f"the database schema is at revision {current or 'none (empty)'}, "
                f"this docflow needs {head}",
                where=self._where(),
                hint="run `docflow db upgrade` (or Store.open, which upgrades) first",
            )

    def _where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)


def _conforms(store: Store) -> NodeStore:
    """mypy holds the SQL store to the protocol a node needs (never called)."""
    return store
