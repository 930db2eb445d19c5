"""Real processes against the store: killed mid-transaction (kill -9 at each checkpoint:
nothing or everything is there afterwards), and competing workers (never the same
delivery twice). Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import func, select

from docflow.envelope import build_envelope
from docflow.samples import TAM_KY, sample_envelope
from docflow.store import Store
from docflow.store import _schema as schema

CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from docflow.envelope import build_envelope
    from docflow.samples import TAM_KY, sample_envelope
    from docflow.store import Store, StoreHooks

    class KillAt(StoreHooks):
        def __init__(self, at):
            self.at = at
        def checkpoint(self, name):
            if name == self.at:
                os.kill(os.getpid(), signal.SIGKILL)

    url, operation, at = sys.argv[1:4]
    store = Store(url, hooks=KillAt(at))
    envelope = sample_envelope(recipients=(TAM_KY,), message_id="crash-1")
    packet = build_envelope(envelope)
    if operation == "receive":
        store.inbox.receive(envelope, packet, organ="000.00.01.H41", receipt=b"<r/>")
    elif operation == "send":
        store.outbox.record(envelope, packet)
    else:
        store.lifecycle.apply_incoming(int(operation), "accept")
    print("committed")
    """
)


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in schema.metadata.sorted_tables}


def run_crash(url: str, operation: str, at: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CRASH, url, operation, at],
                          capture_output=True, text=True, timeout=60)


POINTS = {
    "receive": ["after_document", "after_attachments", "after_envelope", "after_inbox",
                "before_commit"],
    "send": ["after_document", "after_attachments", "after_envelope", "after_deliveries",
             "before_commit"],
}


@pytest.mark.parametrize("operation", sorted(POINTS))
def test_kill_at_any_point_leaves_nothing_then_a_retry_succeeds(store_url: str,
                                                                 operation: str) -> None:
    store = Store.open(store_url)
    empty = counts(store)
    for point in POINTS[operation]:
        result = run_crash(store_url, operation, point)
        assert result.returncode == -9, (point, result.stdout, result.stderr)
        assert counts(store) == empty, f"killed at {point}: partial rows left"
        assert store.audit.verify().ok
    result = run_crash(store_url, operation, "never")
    assert result.returncode == 0 and "committed" in result.stdout, result.stderr
    after = counts(store)
    assert after["documents"] == 1 and after["envelopes"] == 1 and after["audit_log"] == 1
    assert after["deliveries"] == (1 if operation == "send" else 0)
    assert store.audit.verify().ok
    store.close()


def test_kill_during_a_lifecycle_event_keeps_the_old_state(store_url: str) -> None:
    store = Store.open(store_url)
    envelope = sample_envelope(recipients=(TAM_KY,))
    ref = store.inbox.receive(envelope, build_envelope(envelope), organ="000.00.01.H41",
                              receipt=b"<r/>").document_ref
    for point in ("after_state", "before_commit"):
        assert run_crash(store_url, str(ref), point).returncode == -9
        assert store.queries.document(ref).state == "received"
    assert run_crash(store_url, str(ref), "never").returncode == 0
    assert store.queries.document(ref).state == "accepted"
    assert store.audit.verify().ok
    store.close()


WORKER = textwrap.dedent(
    """
    import json, sys
    from docflow.store import Store
    url, name = sys.argv[1:3]
    store = Store(url)
    claimed, empty = [], 0
    while empty < 3:
        claims = store.outbox.claim_due(name, limit=3)
        if not claims:
            empty += 1
            continue
        empty = 0
        for claim in claims:
            claimed.append(claim.delivery_id)
            store.outbox.mark_sent(claim.delivery_id)
    print(json.dumps(claimed))
    """
)


def test_competing_worker_processes_never_claim_a_delivery_twice(store_url: str) -> None:
    store = Store.open(store_url)
    expected = []
    for number in range(60):
        envelope = sample_envelope(number=str(number), recipients=(TAM_KY,),
                                   message_id=f"w-{number}", attachment_bytes=64)
        expected += store.outbox.record(envelope, build_envelope(envelope)).deliveries
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, store_url, f"worker-{i}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(4)]
    claimed: list[int] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        claimed += json.loads(out)
    assert sorted(claimed) == sorted(expected)  # each exactly once
    assert {d.transport_state for d in store.queries.deliveries(page_size=100).items} == {
        "awaiting_receipt"}
    store.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from docflow.envelope import build_envelope
    from docflow.samples import TAM_KY, sample_envelope
    from docflow.store import Store

    url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store(url, shared_writers=True, durable=False)
    for number in range(count):
        envelope = sample_envelope(recipients=(TAM_KY,), number=f"{name}{number}",
                                   message_id=f"{name}-{number}")
        store.outbox.record(envelope, build_envelope(envelope))
    store.close()
    print("done")
    """
)


def test_processes_sharing_a_sqlite_file_queue_on_its_writer_lock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Three processes write one SQLite file at once with ``shared_writers``: every
    document of every process is there, the audit chain intact (each write took the
    file's writer lock in turn), and the lock file sits beside the database."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    Store.open(url).close()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, name, "40"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("1", "2", "3")]
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0 and out.strip() == "done", err
    with Store(url) as store:
        assert counts(store)["documents"] == 120
        assert store.audit.verify().ok
    assert (tmp_path / "shared.db-writers.lock").exists()
