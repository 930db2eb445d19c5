"""Storing signed envelopes next to raw SQLAlchemy Core inserts of the same bytes, on
SQLite and PostgreSQL (fsync on), one per transaction and batched; and RSS while 100k
documents are stored.

The raw reference inserts each packet's bytes into a one-column table through the same
engine (same pragmas, same pool), in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table

from benchmarks._harness import Row, alternating, sized
from docflow.envelope import Envelope
from docflow.samples import TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url

ROUNDS, PER_ROUND = sized(6, 1), sized(50, 4)  # one document per transaction
BATCH, BATCHES_PER_ROUND = sized(100, 10), sized(2, 1)  # batched

_raw_metadata = MetaData()
raw_table = Table("bench_raw", _raw_metadata,
                  Column("id", Integer, primary_key=True, autoincrement=True),
                  Column("raw", LargeBinary, nullable=False))


def _packets(count: int, offset: int) -> list[tuple[Envelope, bytes]]:
    from docflow.envelope import build_envelope

    items = []
    for number in range(offset, offset + count):
        envelope = sample_envelope(number=str(number), recipients=(TAM_KY,),
                                   message_id=f"b-{number}")
        items.append((envelope, build_envelope(envelope)))
    return items


def _timed(count: int, work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def _measure(label: str, url: str) -> list[Row]:
    store = Store.open(url)
    _raw_metadata.create_all(store.engine)
    engine = store.engine
    single = [_packets(PER_ROUND, i * PER_ROUND) for i in range(ROUNDS)]
    batches = [[_packets(BATCH, 100_000 + (i * BATCHES_PER_ROUND + j) * BATCH)
                for j in range(BATCHES_PER_ROUND)] for i in range(ROUNDS)]

    def ours_single(number: int) -> float:
        def work() -> None:
            for envelope, packet in single[number]:
                store.outbox.record(envelope, packet)
        return _timed(PER_ROUND, work)

    def raw_single(number: int) -> float:
        def work() -> None:
            for _, packet in single[number]:
                with engine.begin() as conn:
                    conn.execute(raw_table.insert().values(raw=packet))
        return _timed(PER_ROUND, work)

    def ours_batched(number: int) -> float:
        def work() -> None:
            for batch in batches[number]:
                store.outbox.record_batch(batch)
        return _timed(BATCH * BATCHES_PER_ROUND, work)

    def raw_batched(number: int) -> float:
        def work() -> None:
            for batch in batches[number]:
                with engine.begin() as conn:
                    conn.execute(raw_table.insert(), [{"raw": packet} for _, packet in batch])
        return _timed(BATCH * BATCHES_PER_ROUND, work)

    ours, raw = alternating(ours_single, raw_single, rounds=ROUNDS)
    ours_b, raw_b = alternating(ours_batched, raw_batched, rounds=ROUNDS)
    rows = [
        Row("store", f"{label}: signed envelopes, one per transaction", ours,
            "raw Core insert of the same bytes", raw, unit="docs/s", goal=0.5),
        Row("store", f"{label}: signed envelopes, {BATCH} per transaction", ours_b,
            "raw Core executemany of the same bytes", raw_b, unit="docs/s", goal=0.5),
    ]
    store.close()
    return rows


RSS = textwrap.dedent(
    """
    import json, sys
    from docflow.envelope import build_envelope
    from docflow.samples import TAM_KY, sample_envelope
    from docflow.store import Store
    from tests.proc import status

    store = Store.open(sys.argv[1])
    total, samples = int(sys.argv[2]), {}
    batch = min(500, total // 10)
    for start in range(0, total, batch):
        items = []
        for number in range(start, start + batch):
            envelope = sample_envelope(number=str(number), recipients=(TAM_KY,),
                                       message_id=f"r-{number}")
            items.append((envelope, build_envelope(envelope)))
        store.outbox.record_batch(items)
        done = start + batch
        if done in (total // 10, total):
            samples[done] = status("VmRSS")
    print(json.dumps(samples))
    """
)


def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as home:
        rows += _measure("SQLite", sqlite_url(Path(home) / "bench.db"))
        total = sized(100_000, 1000)
        out = subprocess.run([sys.executable, "-c", RSS, sqlite_url(Path(home) / "rss.db"),
                              str(total)], check=True, capture_output=True, text=True).stdout
        samples = {int(k): v for k, v in json.loads(out).items()}
        early, late = samples[total // 10], samples[total]
        rows.append(Row("store", f"RSS after {total:,} documents (SQLite, batches of 500)",
                        late / 1e6, f"RSS after {total // 10:,} documents", early / 1e6,
                        unit="MB", goal=1.2, higher_is_better=False))
    try:
        from tests.postgres import missing_binaries, start_cluster
    except ImportError:  # benchmarks run from a checkout, where tests/ is present
        return rows
    if missing_binaries():
        return rows
    cluster = start_cluster(durable=True)
    try:
        with cluster.database() as url:
            rows += _measure("PostgreSQL", url)
    finally:
        cluster.stop()
    return rows


NOTES = [
    "store: one document = document row, attachment (stored once by hash), envelope bytes, "
    "a delivery per recipient, two history rows and an audit-chain entry, all in one "
    "transaction; the reference is a single INSERT of the same bytes. SQLite runs with WAL "
    "and synchronous=FULL, PostgreSQL with fsync on, for both sides; the two sides run in "
    "alternating rounds (best round of each). The hot writes run on the driver's cursor "
    "with SQLAlchemy's compiled SQL and bind processors (docflow/store/_driver.py).",
    "store: what is left of the single-document gap is mostly the commit: a document "
    "dirties ~21 B-tree pages (six tables, eleven index entries, the audit head) where the "
    "reference dirties ~3, and each page costs ~25 us of WAL write and fsync here "
    "(synchronous=OFF, the CPU-only ratio is ~0.6). The batched goal is bounded by rows: "
    "a batch writes ~8 rows per document in six tables where the reference writes one row "
    "with one executemany.",
    "store: on PostgreSQL the single-document gap is the client's CPU per statement "
    "(psycopg ~70-90 us each, measured with process_time), not waiting: psycopg's pipeline "
    "mode measured no faster. A single document is therefore written by one statement of "
    "data-modifying CTEs (document, attachments, links, history, envelope, deliveries), "
    "then the audit append: 0.36 -> 0.41 of the reference side by side; folding the audit "
    "entry and head update into one statement measured no further gain. What is left is "
    "per transaction: the pool's ping, BEGIN/COMMIT and the audit head lock.",
]
