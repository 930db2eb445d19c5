"""The audit chain: every change a node makes, hash-chained, verifiable later.

:func:`append` is the one place that writes the chain: each unit of work calls it with
the entries it gathered, just before it commits. :class:`AuditLog` reads it: its head
(what a signed checkpoint names) and a full verification.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from docflow.errors import StoreError
from docflow.security import AuditCheckpoint, TrustStore, verify_checkpoint
from docflow.store import _schema as s
from docflow.store._rows import INSERT
from docflow.store._views import AuditReport

if TYPE_CHECKING:
    from docflow.store._unit import Database, Transaction

__all__ = ["AuditLog", "append"]

_GENESIS = "0" * 64

_AUDIT_HEAD_UPDATE = (
    update(s.audit_head)
    .where(s.audit_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)

# Statements built once, with bound parameters: SQLAlchemy reuses their cache keys and
# compiled forms, where a statement built per call with its values in it costs a new
# cache key (~0.1-0.2 ms) on every execution.
_HEAD = select(s.audit_head.c.seq, s.audit_head.c.hash).where(s.audit_head.c.id == 1)

_HEAD_LOCKED = _HEAD.with_for_update()

_INSERT = INSERT["audit_log"]  # the statement the other rooms' inserts come from


def append(tx: Transaction, *, where: str) -> None:
    """Extend the chain with the transaction's entries: the head row is locked (on
    PostgreSQL; SQLite writers are serial anyway) so concurrent writers take turns."""
    locked = tx.conn.dialect.name == "postgresql"
    head = tx.driver.fetchone(_HEAD_LOCKED if locked else _HEAD, {})
    if head is None:
        raise StoreError("the audit chain has no head row", where=where,
                         hint="the database was not created by docflow; run "
                              "`docflow db upgrade`")
    seq, previous, rows = int(head[0]), str(head[1]), []
    for actor, action, subject, detail in tx.entries:
        seq += 1
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
        digest = _audit_hash(previous, seq, tx.now, actor, action, subject, text)
        rows.append({"seq": seq, "at": tx.now, "organ": actor, "action": action,
                     "subject": subject, "detail": text, "prev_hash": previous,
                     "hash": digest})
        previous = digest
    tx.driver.executemany(_INSERT, rows)
    tx.driver.execute(_AUDIT_HEAD_UPDATE, {"new_seq": seq, "new_hash": previous})


def _audit_hash(prev: str, seq: int, at: dt.datetime, organ: str, action: str, subject: str,
                detail: str) -> str:
    moment = at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    text = "\n".join((prev, str(seq), moment, organ, action, subject, detail))
    return hashlib.sha256(text.encode()).hexdigest()


class AuditLog:
    """Reading the audit chain of a store."""

    def __init__(self, db: Database):
        self._db = db

    def head(self) -> tuple[int, str]:
        """The audit chain's state: how many entries, and the last one's hash (what an
        :class:`~docflow.security.AuditCheckpoint` signs)."""
        with self._db.reader() as conn:
            head = conn.execute(select(s.audit_head).where(s.audit_head.c.id == 1)).one()
        return int(head.seq), str(head.hash)

    def verify(self, checkpoints: Sequence[AuditCheckpoint] = (), *,
               trust: TrustStore | None = None, organ: str | None = None) -> AuditReport:
        """Recompute the audit chain: the first entry edited, inserted or deleted behind
        docflow's back breaks it, and the report says where.

        ``checkpoints`` (signed heads kept outside the database, checked against
        ``trust`` first: a bad one raises its SecurityError) also catch a chain
        rewritten whole, every hash recomputed after the change: the entry at each
        checkpoint must still hash to what was signed. With ``organ`` (the chain's: the
        node's own), only that organ's checkpoints are checked; the others are set aside
        and named in the report (another organ's checkpoint says nothing of this chain:
        matched against it, it read as deleted entries)."""
        skipped = tuple(f"{c.organ} at entry {c.seq}" for c in checkpoints
                        if organ is not None and str(c.organ) != organ)
        if organ is not None:
            checkpoints = [c for c in checkpoints if str(c.organ) == organ]
        report = self._verify(checkpoints, trust)
        return dataclasses.replace(report, skipped=skipped, matched=len(checkpoints))

    def _verify(self, checkpoints: Sequence[AuditCheckpoint],
                trust: TrustStore | None) -> AuditReport:
        if checkpoints:
            if trust is None:
                raise StoreError("checking audit checkpoints needs the trust store that "
                                 "verifies their signatures",
                                 hint="pass trust=TrustStore(...)")
            for checkpoint in checkpoints:
                verify_checkpoint(checkpoint, trust)
        signed = {checkpoint.seq: checkpoint for checkpoint in checkpoints}
        with self._db.reader() as conn:
            head = conn.execute(select(s.audit_head).where(s.audit_head.c.id == 1)).one()
            # Streamed (a server-side cursor on PostgreSQL), closed even on early return.
            with conn.execution_options(yield_per=1000).execute(
                    select(s.audit_log).order_by(s.audit_log.c.seq)) as rows:
                report = self._walk_audit(rows, signed)
            if isinstance(report, AuditReport):
                return report
            count, previous = report
            beyond = [seq for seq in signed if seq > count]
            if beyond:
                return AuditReport(False, count, count + 1,
                                   f"the chain ends at entry {count}, but a checkpoint "
                                   f"signed entry {min(beyond)}: entries were deleted")
            if head.seq != count or head.hash != previous:
                return AuditReport(False, count, count + 1,
                                   "entries after the last one were deleted")
            return AuditReport(True, count)

    @staticmethod
    def _walk_audit(rows: Any, signed: Mapping[int, AuditCheckpoint]
                    ) -> AuditReport | tuple[int, str]:
        previous, expected_seq, count = _GENESIS, 1, 0
        if 0 in signed and signed[0].head != _GENESIS:
            return AuditReport(False, 0, 1, "a checkpoint of the empty chain names another "
                                            "start")
        for row in rows:
            count += 1
            if row.seq != expected_seq:
                return AuditReport(False, count, expected_seq, f"entry {expected_seq} is missing")
            if row.prev_hash != previous:
                return AuditReport(False, count, row.seq,
                                   "the link to the previous entry is broken")
            digest = _audit_hash(row.prev_hash, row.seq, row.at, row.organ, row.action,
                                 row.subject, row.detail)
            if digest != row.hash:
                return AuditReport(False, count, row.seq, "the entry was changed")
            checkpoint = signed.get(row.seq)
            if checkpoint is not None and checkpoint.head != row.hash:
                return AuditReport(
                    False, count, row.seq,
                    f"the chain up to this entry is not the one {checkpoint.organ} signed "
                    f"at {checkpoint.at:%Y-%m-%d %H:%M:%S} UTC (rewritten)")
            previous, expected_seq = row.hash, expected_seq + 1
        return count, previous
