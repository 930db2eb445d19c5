"""Persistence of documents, envelopes, deliveries, statuses and the audit chain.

Adapter around the core: SQLAlchemy 2.x on SQLite (default) or PostgreSQL, schema by
Alembic migrations shipped in the package. A :class:`Store` holds one room per concept,
each in its own module: ``store.outbox`` (:class:`Outbox`), ``store.inbox``
(:class:`Inbox`), ``store.lifecycle`` (:class:`Lifecycles`), ``store.relay``
(:class:`Relay`), ``store.audit`` (:class:`AuditLog`), ``store.queries``
(:class:`Queries`) and, for an emulated platform, ``store.agencies``
(:class:`Agencies`), sharing one database that opens units of work;
:class:`MemoryStore` keeps a node's rooms in memory (:class:`NodeStore`, the protocol
both meet). The rooms load and
save: what a packet or an act changes is decided by :mod:`docflow.domain`. The schema,
the engine and the unit of work stay inside the package.

>>> import tempfile, pathlib
>>> from docflow.store import Store, sqlite_url
>>> with tempfile.TemporaryDirectory() as home:
...     with Store.open(sqlite_url(pathlib.Path(home) / "node.db")) as store:
...         store.audit.verify().ok
True
"""

from docflow.domain.retry import RetryPolicy
from docflow.store._agencies import Agencies, Agency, Registration
from docflow.store._audit import AuditLog
from docflow.store._engine import sqlite_url
from docflow.store._inbox import Inbox
from docflow.store._lifecycle import Lifecycles
from docflow.store._outbox import Outbox
from docflow.store._queries import Queries
from docflow.store._relay import Relay
from docflow.store._store import Store
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
    RelayResult,
    StatusEvent,
    StoreHooks,
    Tombstone,
)
from docflow.store.memory import MemoryStore
from docflow.store.protocols import NodeStore

__all__ = [
    "Agencies",
    "Agency",
    "Answer",
    "AttachmentView",
    "AuditLog",
    "AuditReport",
    "Claim",
    "DeadlineView",
    "DeliveryView",
    "DocumentView",
    "HistoryEntry",
    "Inbox",
    "Lifecycles",
    "MemoryStore",
    "NodeStore",
    "Outbox",
    "OutgoingRecord",
    "Page",
    "Queries",
    "ReceiveResult",
    "Refusal",
    "RegisterEntry",
    "Registration",
    "Relay",
    "RelayResult",
    "RetryPolicy",
    "StatusEvent",
    "Store",
    "StoreHooks",
    "Tombstone",
    "sqlite_url",
]
