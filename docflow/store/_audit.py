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
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from docflow.errors import StoreError
from docflow.security import AuditCheckpoint, TrustStore, verify_checkpoint
from docflow.store import _schema as s
from docflow.store._rows import INSERT
from docflow.store._views import AuditReport

if TYPE_CHECKING:
    from docflow.store._unit import Database, Transaction

__all__ = ["AuditLog", "append", "chain_rows", "checkpoints_of", "walk_chain"]

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
    rows = chain_rows(tx.entries, int(head[0]), str(head[1]), tx.now)
    seq, previous = (rows[-1]["seq"], rows[-1]["hash"]) if rows else (int(head[0]), str(head[1]))
    tx.driver.executemany(_INSERT, rows)
    tx.driver.execute(_AUDIT_HEAD_UPDATE, {"new_seq": seq, "new_hash": previous})


def chain_rows(entries: Sequence[tuple[str, str, str, Mapping[str, Any]]], seq: int,
               previous: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The audit rows that extend a chain at (``seq``, ``previous``) with ``entries``
    (actor, action, subject, detail), each hashed over the one before it."""
    rows = []
    for actor, action, subject, detail in entries:
        seq += 1
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
        digest = _audit_hash(previous, seq, now, actor, action, subject, text)
        rows.append({"seq": seq, "at": now, "organ": actor, "action": action,
                     "subject": subject, "detail": text, "prev_hash": previous,
                     "hash": digest})
        previous = digest
    return rows


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
        kept, skipped = checkpoints_of(checkpoints, trust, organ)
        with self._db.reader() as conn:
            head = conn.execute(select(s.audit_head).where(s.audit_head.c.id == 1)).one()
            # Streamed (a server-side cursor on PostgreSQL), closed even on early return.
            with conn.execution_options(yield_per=1000).execute(
                    select(s.audit_log).order_by(s.audit_log.c.seq)) as rows:
                return walk_chain(rows, (int(head.seq), str(head.hash)), kept, skipped)


def checkpoints_of(checkpoints: Sequence[AuditCheckpoint], trust: TrustStore | None,
                   organ: str | None) -> tuple[dict[int, AuditCheckpoint], tuple[str, ...]]:
    """The signed checkpoints a chain is checked against (by entry), each signature
    verified against ``trust`` first, and those set aside (another organ's)."""
    skipped = tuple(f"{c.organ} at entry {c.seq}" for c in checkpoints
                    if organ is not None and str(c.organ) != organ)
    if organ is not None:
        checkpoints = [c for c in checkpoints if str(c.organ) == organ]
    if checkpoints:
        if trust is None:
            raise StoreError("checking audit checkpoints needs the trust store that "
                             "verifies their signatures",
                             hint="pass trust=TrustStore(...)")
        for checkpoint in checkpoints:
            verify_checkpoint(checkpoint, trust)
    return {checkpoint.seq: checkpoint for checkpoint in checkpoints}, skipped


def walk_chain(rows: Iterable[Any], head: tuple[int, str],
               signed: Mapping[int, AuditCheckpoint], skipped: tuple[str, ...] = ()
               ) -> AuditReport:
    """Recompute a chain's ``rows`` (in order; each with seq, at, organ, action,
    subject, detail, prev_hash, hash) against its ``head`` row and the ``signed``
    checkpoints: the first entry edited, inserted or deleted is where it breaks."""
    report = _walk(rows, signed)
    if isinstance(report, AuditReport):
        return dataclasses.replace(report, skipped=skipped, matched=len(signed))
    count, previous = report
    beyond = [seq for seq in signed if seq > count]
    if beyond:
        result = AuditReport(False, count, count + 1,
                             f"the chain ends at entry {count}, but a checkpoint "
                             f"signed entry {min(beyond)}: entries were deleted")
    elif head != (count, previous):
        result = AuditReport(False, count, count + 1,
                             "entries after the last one were deleted")
    else:
        result = AuditReport(True, count)
    return dataclasses.replace(result, skipped=skipped, matched=len(signed))


def _walk(rows: Iterable[Any], signed: Mapping[int, AuditCheckpoint]
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
