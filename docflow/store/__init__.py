"""Persistence of documents, envelopes, deliveries, statuses and the audit chain.

Adapter around the core: SQLAlchemy 2.x on SQLite (default) or PostgreSQL, schema by
Alembic migrations shipped in the package.

>>> import tempfile, pathlib
>>> from docflow.store import Store, sqlite_url
>>> with tempfile.TemporaryDirectory() as home:
...     with Store.open(sqlite_url(pathlib.Path(home) / "node.db")) as store:
...         store.verify_audit().ok
True
"""

from docflow.store._engine import make_engine, sqlite_url
from docflow.store._store import (
    Agency,
    Answer,
    AuditReport,
    Claim,
    DeliveryView,
    DocumentView,
    HistoryEntry,
    OutgoingRecord,
    Page,
    ReceiveResult,
    RelayResult,
    RetryPolicy,
    StatusEvent,
    Store,
    StoreHooks,
)

__all__ = [
    "Agency",
    "Answer",
    "AuditReport",
    "Claim",
    "DeliveryView",
    "DocumentView",
    "HistoryEntry",
    "OutgoingRecord",
    "Page",
    "ReceiveResult",
    "RelayResult",
    "RetryPolicy",
    "StatusEvent",
    "Store",
    "StoreHooks",
    "make_engine",
    "sqlite_url",
]
