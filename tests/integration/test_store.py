"""The store on SQLite and PostgreSQL (each test runs on both, on a fresh database)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from docflow.emulators import Registration
from docflow.envelope import Envelope, build_envelope, build_status
from docflow.errors import (
    RETRY_HINT,
    ConcurrencyError,
    LifecycleError,
    NotFoundError,
    ReplayError,
    SchemaVersionError,
    StoreError,
    TransportError,
)
from docflow.failure import Failure
from docflow.lifecycle import ChangeKind
from docflow.model import OrganCode, OrganInfo, StatusCode, StatusInfo
from docflow.samples import PROVINCE, TAM_KY, sample_envelope, sample_status
from docflow.spool import Spool, spool_if_large
from docflow.store import DeliveryView, RetryPolicy, Store, _rows
from docflow.store import _schema as schema
from tests.conftest import Pki

T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)
DAI_LOC = OrganInfo(OrganCode("000.00.05.H41"), "UBND huyện Đại Lộc")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url, clock=lambda: T0, rnd=lambda: 0.5,
                    retry=RetryPolicy(intervals=(10, 60), max_attempts=3)) as opened:
        yield opened


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in schema.metadata.sorted_tables}


def letter(number: str = "4512", recipients=(TAM_KY, DAI_LOC), **kw) -> Envelope:
    return sample_envelope(number=number, recipients=recipients, message_id=f"m-{number}", **kw)


def status(envelope: Envelope, code: StatusCode, reporter: OrganInfo = TAM_KY,
           minute: int = 5) -> StatusInfo:
    return sample_status(envelope, code, reporter=reporter, now=T0 + dt.timedelta(minutes=minute))


# --------------------------------------------------------------------------- schema

def test_schema_is_created_at_head_and_matches_the_code(store: Store) -> None:
    assert store.schema_revision() == schema.SCHEMA_REVISION
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diffs == []


def test_upgrade_from_the_first_revision_keeps_everything(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """0002 rebuilds SQLite's envelopes table (packet bytes last): a database written at
    0001 keeps its documents, packets, deliveries and audit chain, foreign keys hold,
    and the foreign keys are back on for the store's connections afterwards."""
    from alembic import command

    early = Store(store_url, check_schema=False, clock=lambda: T0)
    config = early._alembic_config()
    with early.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    envelope = letter()
    # written by this code into the schema of 0001, which had no registers (0012) and no
    # delivery owners (0015): the upgrade numbers the document and fills the owner
    from docflow.store import _rows

    values = _rows.delivery_values

    def without_owner(*args: object, **kwargs: object) -> dict[str, object]:
        row = values(*args, **kwargs)  # type: ignore[arg-type]
        row.pop("organ")
        return row

    from docflow.store import _sent

    one_statement = _sent._OUTGOING_PG  # PostgreSQL's single-document statement, likewise
    earlier = text(one_statement.text.replace(", updated_at, organ)", ", updated_at)")
                   .replace("1, :now, :organ", "1, :now")
                   ).bindparams(*one_statement._bindparams.values())

    with monkeypatch.context() as patched:
        patched.setattr("docflow.store._rows.register", lambda *args, **kwargs: None)
        patched.setattr("docflow.store._rows.delivery_values", without_owner)
        patched.setattr("docflow.store._sent._OUTGOING_PG", earlier)
        record = early.outbox.record(envelope, build_envelope(envelope))
    (claim,) = early.outbox.claim_due("w", limit=1)
    early.close()
    with Store.open(store_url, clock=lambda: T0) as store:
        assert store.schema_revision() == schema.SCHEMA_REVISION
        assert store.queries.packet(record.document_ref) == build_envelope(envelope)
        assert len(store.queries.deliveries(document_ref=record.document_ref).items) == 2
        assert [e.document.id for e in store.queries.register(
            envelope.info.sender.code, "out", envelope.info.promulgation_date.year)] == [
            record.document_ref]  # numbered by the upgrade
        assert store.audit.verify().ok
        owners = {delivery.recipient: delivery for delivery in store.queries.deliveries(
            document_ref=record.document_ref).items}
        assert len(owners) == 2
        # the owner filled by 0015: the sender's pass claims the copies, another's none
        assert store.outbox.claim_due("w", organ=TAM_KY.code, now=T0) == []
        with store.engine.connect() as conn:
            assert {row[0] for row in conn.execute(
                text("SELECT organ FROM deliveries"))} == {str(envelope.info.sender.code)}
            if conn.dialect.name == "sqlite":
                columns = [row[1] for row in conn.exec_driver_sql(
                    "PRAGMA table_info(envelopes)")]
                assert columns[-1] == "raw"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # A reference to no envelope is still refused.
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(schema.deliveries.update().where(
                schema.deliveries.c.id == claim.delivery_id).values(envelope_ref=999))


def test_upgrade_to_sender_scoped_message_ids_keeps_the_inbox(store_url: str) -> None:
    """0004 scopes message ids by their sender: a message received at 0003 keeps its
    row (its sender taken from its document), a resend of its very bytes is still a
    duplicate, and another organ's document with the same message id is its own."""
    from alembic import command

    early = Store(store_url, check_schema=False, clock=lambda: T0)
    config = early._alembic_config()
    envelope = letter()
    packet = build_envelope(envelope)
    with early.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        ref = conn.execute(text(
            "INSERT INTO documents (organ, direction, message_id, document_id, sender, "
            "number, notation, type_name, subject, promulgation_date, business_type, state, "
            "version, created_at, updated_at) VALUES (:organ, 'in', :mid, :did, :sender, "
            "'4512', 'QĐ-UBND', 'Quyết định', 's', :day, 0, 'received', 1, :at, :at) "
            "RETURNING id"), {"organ": str(TAM_KY.code), "mid": envelope.message_id,
                              "did": envelope.info.document_id, "sender": str(PROVINCE.code),
                              "day": envelope.info.promulgation_date,
                              "at": T0.replace(tzinfo=None)}).scalar_one()
        conn.execute(text(
            "INSERT INTO received_messages (organ, message_id, document_ref, sha256, receipt, "
            "received_at, expires_at) VALUES (:organ, :mid, :ref, :sha, :receipt, :at, :until)"),
            {"organ": str(TAM_KY.code), "mid": envelope.message_id, "ref": ref,
             "sha": hashlib.sha256(packet).hexdigest(), "receipt": b"first receipt",
             "at": T0.replace(tzinfo=None),
             "until": (T0 + dt.timedelta(days=90)).replace(tzinfo=None)})
    early.close()
    with Store.open(store_url, clock=lambda: T0) as store:
        with store.engine.connect() as conn:
            assert conn.execute(select(schema.received_messages.c.sender)).scalar_one() == str(
                PROVINCE.code)
            diffs = compare_metadata(MigrationContext.configure(conn), schema.metadata)
        assert diffs == []
        again = store.inbox.receive(envelope, packet, organ=str(TAM_KY.code), receipt=b"new")
        assert (again.duplicate, again.receipt) == (True, b"first receipt")
        stranger = sample_envelope(sender=DAI_LOC, recipients=(TAM_KY,),
                                   message_id=envelope.message_id)
        theirs = store.inbox.receive(stranger, build_envelope(stranger), organ=str(TAM_KY.code),
                                     receipt=b"theirs")
        assert (theirs.duplicate, theirs.receipt) == (False, b"theirs")
        assert store.audit.verify().ok


def test_store_refuses_an_empty_or_older_database(store_url: str) -> None:
    if store_url.startswith("sqlite:///"):
        Path(store_url.removeprefix("sqlite:///")).touch()  # an empty database file
    with pytest.raises(SchemaVersionError, match="none") as info:
        Store(store_url)
    assert "docflow db upgrade" in str(info.value)
    Store.open(store_url).close()
    Store(store_url).close()  # at head now: fine
    with Store(store_url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(SchemaVersionError, match="0000"):
        Store(store_url)


def test_opening_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    """Issue 20, item 7: only Store.open (and `docflow db upgrade`) create a database; a
    typo in a path is an error, not a new empty file."""
    missing = tmp_path / "typo.db"
    with pytest.raises(StoreError, match="no database at") as info:
        Store(f"sqlite:///{missing}")
    assert "nothing was created" in str(info.value)
    assert not missing.exists()
    Store.open(f"sqlite:///{missing}").close()
    Store(f"sqlite:///{missing}").close()


# --------------------------------------------------------------------------- outbox

def test_record_outgoing_is_one_transaction_with_a_delivery_per_recipient(store: Store) -> None:
    envelope = letter()
    packet = build_envelope(envelope)
    record = store.outbox.record(envelope, packet)
    assert len(record.deliveries) == 2
    document = store.queries.document(record.document_ref)
    assert (document.direction, document.state, document.code) == ("out", "sent", "4512/QĐ-UBND")
    assert store.queries.packet(record.document_ref) == packet
    deliveries = store.queries.deliveries(document_ref=record.document_ref).items
    assert [(d.recipient, d.transport_state, d.business_state) for d in deliveries] == [
        ("000.00.01.H41", "queued", "pending"), ("000.00.05.H41", "queued", "pending")]
    # The same attachment in a second document is stored once.
    second = replace(letter("4513"), attachments=envelope.attachments)
    store.outbox.record(second, build_envelope(second))
    assert counts(store)["attachments"] == 1
    assert store.audit.verify().entries == 2


def test_one_document_is_stored_as_a_batch_stores_it(store: Store) -> None:
    """A single document is written by its own path on PostgreSQL (one statement): the
    rows are those of the batch path, value for value (ids aside), attachments once."""
    from sqlalchemy import Table

    two_files = (*letter().attachments, replace(letter().attachments[0], name="phu-luc.pdf",
                                                data=b"%PDF-1.4 phu luc", content_id="c2"))
    alone = replace(letter("1"), attachments=two_files)
    batched = [replace(letter(number), attachments=two_files) for number in ("2", "3")]
    one = store.outbox.record(alone, build_envelope(alone))
    other, _ = store.outbox.record_batch([(item, build_envelope(item)) for item in batched])

    def rows(table: Table, key: str, ref: int) -> list[tuple[object, ...]]:
        skip = {"id", "document_ref", "envelope_ref", "message_id", "number",
                "document_id", "raw", "sha256", "size"}
        columns = [c for c in table.columns if c.name not in skip]
        with store.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(
                select(*columns).where(table.c[key] == ref).order_by(*table.primary_key))]

    for table in (schema.history, schema.envelopes, schema.deliveries,
                  schema.document_attachments):
        assert rows(table, "document_ref", one.document_ref) == rows(
            table, "document_ref", other.document_ref), table.name
    assert rows(schema.documents, "id", one.document_ref) == rows(
        schema.documents, "id", other.document_ref)
    assert len(one.deliveries) == len(other.deliveries) == 2
    assert counts(store)["attachments"] == 2  # shared by both documents, stored once
    assert [h.event for h in store.queries.history(one.document_ref)] == ["sign", "send"]
    assert store.audit.verify().entries == 3


def test_values_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    """The hot writes bypass SQLAlchemy's execution but not its bind processing: a
    timestamp is stored in the dialect's own format (on SQLite, text with microseconds,
    which queries compare as text), read back equal, and found by time queries."""
    record = store.outbox.record(letter(), build_envelope(letter()))
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT created_at FROM documents")).scalar_one()
        through_core = conn.execute(select(func.count()).select_from(schema.documents).where(
            schema.documents.c.created_at == T0)).scalar_one()
    if store.engine.dialect.name == "sqlite":
        assert stored == "2026-11-25 01:00:00.000000"
    assert through_core == 1
    assert store.queries.document(record.document_ref).created_at == T0
    assert len(store.outbox.claim_due("w", now=T0)) == 2  # due at exactly T0


def test_large_documents_are_stored_and_read_back_exactly(store: Store) -> None:
    """Past 1 MiB, SQLite values go through incremental blob I/O (written into a
    zeroblob, read from the blob): the same bytes must come back, and a known
    attachment is still stored once."""
    big = letter("7000", attachment_bytes=3 * 1024 * 1024 + 17)
    packet = build_envelope(big)
    assert len(packet) > 4 * 1024 * 1024
    record = store.outbox.record(big, packet)
    again = replace(letter("7001"), attachments=big.attachments)
    store.outbox.record(again, build_envelope(again))
    assert store.queries.packet(record.document_ref) == packet
    claims = {claim.message_id: claim.packet for claim in store.outbox.claim_due("w", limit=10)}
    assert claims["m-7000"] == packet and claims["m-7001"] == build_envelope(again)
    with store.engine.connect() as conn:
        contents = conn.execute(select(schema.attachments.c.content)).scalars().all()
    assert [bytes(content) for content in contents] == [big.attachments[0].data]
    received = letter("7002", attachment_bytes=2 * 1024 * 1024)
    raw = build_envelope(received)
    first = store.inbox.receive(received, raw, organ=str(TAM_KY.code), receipt=b"<r/>")
    assert store.inbox.receive(received, raw, organ=str(TAM_KY.code), receipt=b"<r/>").duplicate
    assert store.queries.packet(first.document_ref) == raw
    assert store.audit.verify().ok


def test_claims_are_exclusive_until_the_lease_runs_out(store: Store) -> None:
    store.outbox.record(letter(), build_envelope(letter()))
    first = store.outbox.claim_due("w1", limit=1)
    second = store.outbox.claim_due("w2", limit=5)
    assert len(first) == 1 and len(second) == 1
    assert first[0].delivery_id != second[0].delivery_id
    assert first[0].packet == build_envelope(letter()) and first[0].message_id == "m-4512"
    assert store.outbox.claim_due("w3") == []
    later = T0 + dt.timedelta(minutes=6)  # the default lease is five minutes
    again = store.outbox.claim_due("w3", now=later)
    assert sorted(c.delivery_id for c in again) == sorted(
        c.delivery_id for c in first + second)
    assert all(c.attempts == 2 for c in again)


def test_retry_schedule_then_dead_letter_then_resend(store: Store) -> None:
    record = store.outbox.record(letter(recipients=(TAM_KY,)), build_envelope(letter()))
    (delivery,) = record.deliveries
    now = T0
    for attempt, wait in ((1, 10), (2, 60)):
        (claim,) = store.outbox.claim_due("w", now=now)
        assert claim.attempts == attempt
        assert store.outbox.fail(delivery, "connection refused", now=now) == "retrying"
        view = store.queries.deliveries(document_ref=record.document_ref).items[0]
        assert view.next_attempt_at == now + dt.timedelta(seconds=wait)  # rnd 0.5: no jitter
        assert store.outbox.claim_due("w", now=now + dt.timedelta(seconds=wait - 1)) == []
        now += dt.timedelta(seconds=wait)
    store.outbox.claim_due("w", now=now)
    # The transport's error promises a retry; a dead letter's must not (issue 20, item 8):
    # the failure travels as an object, its hint apart (issue 28: no str.replace).
    failure = Failure.of(TransportError("HTTP 503", where=str(TAM_KY.code), hint=RETRY_HINT))
    assert store.outbox.fail(delivery, failure, now=now) == "failed"
    (dead,) = store.outbox.dead_letters().items
    assert (dead.id, dead.attempts) == (delivery, 3)
    assert dead.last_error == (f"TransportError: HTTP 503 (at {TAM_KY.code}); gave up after "
                               f"3 attempt(s): dead-lettered (`docflow resend {delivery}` "
                               "queues it again)")
    assert "tries again later" not in dead.last_error
    assert store.outbox.claim_due("w", now=now + dt.timedelta(days=1)) == []
    store.outbox.resend(delivery, now=now)
    (claim,) = store.outbox.claim_due("w", now=now)
    assert claim.message_id == "m-4512" and claim.attempts == 1
    assert store.outbox.dead_letters().total == 0


def test_jitter_spreads_retries() -> None:
    policy = RetryPolicy(base=100, factor=2, jitter=0.2)
    assert policy.delay(1, 0.0) == dt.timedelta(seconds=80)
    assert policy.delay(1, 1.0) == dt.timedelta(seconds=120)
    assert policy.delay(3, 0.5) == dt.timedelta(seconds=400)
    assert RetryPolicy(base=100, max_delay=150, jitter=0).delay(5, 0.5) == dt.timedelta(
        seconds=150)


def test_acknowledge_stores_proof_and_moves_business_state(store: Store) -> None:
    envelope = letter(recipients=(TAM_KY,))
    record = store.outbox.record(envelope, build_envelope(envelope))
    (claim,) = store.outbox.claim_due("w")
    receipt = status(envelope, StatusCode.ARRIVED)
    store.outbox.acknowledge(claim.delivery_id, b"<signed receipt/>", receipt)
    (view,) = store.queries.deliveries(document_ref=record.document_ref).items
    assert (view.transport_state, view.business_state) == ("acknowledged", "arrived")
    history = store.queries.history(record.document_ref)
    assert [(h.machine, h.to_state) for h in history][-3:] == [
        ("transport", "sending"), ("transport", "acknowledged"), ("delivery", "arrived")]
    assert history[-2].final


def apply(store: Store, info: StatusInfo, **options: object) -> DeliveryView:
    """A status packet applied at the sender, with the (unsigned) bytes of that packet."""
    return store.lifecycle.apply_status(info, build_status(info), **options)  # type: ignore[arg-type]


def test_status_packets_merge_in_any_order(store: Store) -> None:
    envelope = letter(recipients=(TAM_KY,))
    record = store.outbox.record(envelope, build_envelope(envelope))
    for minute, code in enumerate((StatusCode.PROCESSING, StatusCode.ARRIVED,
                                   StatusCode.ACCEPTED, StatusCode.PROCESSING), start=1):
        view = apply(store, status(envelope, code, minute=minute),
                                  organ=str(PROVINCE.code))
    assert view.business_state == "processing"
    assert counts(store)["status_events"] == 4  # every packet is kept
    assert apply(store, status(envelope, StatusCode.COMPLETED),
                              organ=str(PROVINCE.code)).business_state == "completed"
    assert store.queries.document(record.document_ref).state == "sent"


def test_status_for_unknown_document_or_from_a_stranger_changes_nothing(store: Store) -> None:
    envelope = letter(recipients=(TAM_KY,))
    store.outbox.record(envelope, build_envelope(envelope))
    before = counts(store)
    with pytest.raises(NotFoundError, match="never sent"):
        apply(store, status(envelope, StatusCode.ACCEPTED, reporter=DAI_LOC),
                           organ=str(PROVINCE.code))
    other = letter("9999", recipients=(TAM_KY,))
    with pytest.raises(NotFoundError):
        apply(store, status(other, StatusCode.ACCEPTED),
                           organ=str(PROVINCE.code))
    assert counts(store) == before


def test_recall_request_and_answer(store: Store) -> None:
    envelope = letter()
    record = store.outbox.record(envelope, build_envelope(envelope))
    apply(store, status(envelope, StatusCode.PROCESSING), organ=str(PROVINCE.code))
    apply(store, status(envelope, StatusCode.COMPLETED, reporter=DAI_LOC),
                       organ=str(PROVINCE.code))
    asked = store.lifecycle.request_change(record.document_ref, ChangeKind.RECALL, packet=b"<13/>")
    assert len(asked) == 1  # the completed copy cannot be recalled any more
    view = apply(store, status(envelope, StatusCode.AGREED, minute=9),
                              organ=str(PROVINCE.code))
    assert (view.business_state, view.change_state) == ("recalled", "agreed")
    queued = store.queries.deliveries(document_ref=record.document_ref,
                                      recipient="000.00.01.H41").items
    assert [d.kind for d in queued] == ["document", "status"]  # the 13 went into the outbox


# --------------------------------------------------------------------------- inbox

def test_receive_is_idempotent_and_replays_are_refused(store: Store) -> None:
    envelope = letter()
    packet = build_envelope(envelope)
    organ = str(TAM_KY.code)
    calls = []

    def receipt() -> bytes:
        calls.append(1)
        return b"<receipt 01/>"

    first = store.inbox.receive(envelope, packet, organ=organ, receipt=receipt)
    assert not first.duplicate and first.receipt == b"<receipt 01/>"
    before = counts(store)
    again = store.inbox.receive(envelope, packet, organ=organ, receipt=receipt)
    assert again == replace(first, duplicate=True)
    assert len(calls) == 1 and counts(store) == before  # nothing written, nothing signed
    tampered = packet.replace("phê duyệt".encode(), "bãi bỏ".encode())
    with pytest.raises(ReplayError):
        store.inbox.receive(envelope, tampered, organ=organ, receipt=receipt)
    assert counts(store) == before
    # Another organ (a hub stores for several) receives the same message on its own.
    assert not store.inbox.receive(envelope, packet, organ="000.00.05.H41",
                                   receipt=receipt).duplicate


def test_a_failed_attempt_does_not_make_the_next_one_a_duplicate(store: Store) -> None:
    envelope = letter()
    packet = build_envelope(envelope)

    def broken() -> bytes:
        raise StoreError("the signing key is not available")

    with pytest.raises(StoreError):
        store.inbox.receive(envelope, packet, organ="000.00.01.H41", receipt=broken)
    assert counts(store)["documents"] == 0
    result = store.inbox.receive(envelope, packet, organ="000.00.01.H41", receipt=b"<r/>")
    assert not result.duplicate


def test_duplicate_index_is_bounded_by_retention(store: Store) -> None:
    envelope = letter()
    store.inbox.receive(envelope, build_envelope(envelope), organ="000.00.01.H41", receipt=b"<r/>")
    assert store.inbox.expire(now=T0 + dt.timedelta(days=364)) == 0
    assert store.inbox.expire(now=T0 + dt.timedelta(days=366)) == 1
    assert counts(store)["received_messages"] == 0


# --------------------------------------------------------------------------- lifecycle

def test_lifecycle_events_queue_status_packets_for_the_sender(store: Store) -> None:
    envelope = letter()
    document_ref = store.inbox.receive(envelope, build_envelope(envelope), organ="000.00.01.H41",
                                       receipt=b"<r/>").document_ref

    def sign(step):  # type: ignore[no-untyped-def]
        info = status(envelope, step.emit)
        return info, f"<status {step.emit.value}/>".encode()

    assert store.lifecycle.apply_incoming(document_ref, "accept", status=sign).state == "accepted"
    (queued,) = store.queries.deliveries(document_ref=document_ref).items
    assert (queued.kind, queued.recipient, queued.transport_state) == (
        "status", "000.00.00.H41", "queued")
    before = counts(store)
    with pytest.raises(LifecycleError, match="allowed events"):
        store.lifecycle.apply_incoming(document_ref, "complete", status=sign)
    assert counts(store) == before
    with pytest.raises(ConcurrencyError):
        store.lifecycle.apply_incoming(document_ref, "assign", expected_version=1, status=sign)
    assert store.lifecycle.apply_incoming(document_ref, "assign", expected_version=2,
                                          status=sign).state == "assigned"
    history = store.queries.history(document_ref)
    assert [h.to_state for h in history if h.machine == "incoming"] == [
        "received", "accepted", "assigned"]


def test_two_stores_cannot_apply_conflicting_events(store_url: str) -> None:
    first = Store.open(store_url, clock=lambda: T0)
    second = Store(store_url, clock=lambda: T0)
    envelope = letter()
    ref = first.inbox.receive(envelope, build_envelope(envelope), organ="000.00.01.H41",
                              receipt=b"<r/>").document_ref
    version = first.queries.document(ref).version
    first.lifecycle.apply_incoming(ref, "accept", expected_version=version)
    with pytest.raises(ConcurrencyError):
        second.lifecycle.apply_incoming(ref, "reject", reason="sai", expected_version=version)
    assert second.queries.document(ref).state == "accepted"
    first.close()
    second.close()


# --------------------------------------------------------------------------- audit

def _fill(store: Store) -> None:
    for number in ("1", "2", "3"):
        envelope = letter(number)
        store.outbox.record(envelope, build_envelope(envelope))


def test_audit_chain_detects_edits_and_deletions(store: Store) -> None:
    _fill(store)
    assert store.audit.verify().ok and store.audit.verify().entries == 3
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET detail = '{}' WHERE seq = 2"))
    report = store.audit.verify()
    assert (report.ok, report.broken_at, report.reason) == (False, 2, "the entry was changed")


def test_audit_chain_detects_a_deleted_entry(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    report = store.audit.verify()
    assert (report.ok, report.broken_at) == (False, 2)
    assert "missing" in (report.reason or "")


def test_audit_chain_detects_a_truncated_tail(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    report = store.audit.verify()
    assert (report.ok, report.broken_at) == (False, 3)


def _rewrite_chain_from(store: Store, seq: int, detail: str) -> None:
    """What someone with write access to the database can do: change entry ``seq`` and
    recompute every hash after it, and the head, so that the chain verifies again."""
    from docflow.store._audit import _audit_hash

    with store.engine.begin() as conn:
        conn.execute(schema.audit_log.update().where(schema.audit_log.c.seq == seq)
                     .values(detail=detail))
        rows = conn.execute(select(schema.audit_log).order_by(schema.audit_log.c.seq)).all()
        previous = "0" * 64
        for row in rows:
            digest = _audit_hash(previous, row.seq, row.at, row.organ, row.action,
                                 row.subject, row.detail)
            conn.execute(schema.audit_log.update().where(schema.audit_log.c.seq == row.seq)
                         .values(prev_hash=previous, hash=digest))
            previous = digest
        conn.execute(schema.audit_head.update().values(seq=len(rows), hash=previous))


def test_signed_checkpoints_catch_a_chain_rewritten_whole(store: Store, pki: Pki) -> None:
    from docflow.security import sign_checkpoint

    _fill(store)
    checkpoint = sign_checkpoint(pki.province, *store.audit.head(), now=pki.now)
    assert checkpoint.seq == 3
    envelope = letter("4")  # the chain goes on after the checkpoint
    store.outbox.record(envelope, build_envelope(envelope))
    assert store.audit.verify([checkpoint], trust=pki.trust).ok
    with pytest.raises(StoreError, match="trust store"):
        store.audit.verify([checkpoint])

    _rewrite_chain_from(store, 2, '{"rewritten": true}')
    assert store.audit.verify().ok  # the hashes alone cannot tell...
    report = store.audit.verify([checkpoint], trust=pki.trust)
    assert (report.ok, report.broken_at) == (False, 3)  # ...the signed head can
    assert "not the one 000.00.00.H41 signed" in (report.reason or "")


def test_signed_checkpoints_catch_entries_deleted_below_them(store: Store, pki: Pki) -> None:
    from docflow.security import sign_checkpoint

    _fill(store)
    checkpoint = sign_checkpoint(pki.province, *store.audit.head(), now=pki.now)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    _rewrite_chain_from(store, 1, '{"tidied": true}')
    assert store.audit.verify().ok
    report = store.audit.verify([checkpoint], trust=pki.trust)
    assert (report.ok, report.broken_at) == (False, 3)
    assert "entries were deleted" in (report.reason or "")


# --------------------------------------------------------------------------- axis registrations

AXIS = "000.00.00.G22"


def test_axis_registrations_are_rows_and_audited(store: Store) -> None:
    agencies = store.agencies
    lgsp = "000.00.90.H41"
    written, unchanged = Registration.WRITTEN, Registration.UNCHANGED
    assert agencies.register(AXIS, str(PROVINCE.code), owner="lgsp.qnam", parent=lgsp,
                             name=PROVINCE.name) is written
    assert agencies.register(AXIS, lgsp, owner="lgsp.qnam", name="LGSP Quảng Nam") is written
    assert agencies.register("000.00.90.H43", lgsp, owner="x") is written  # another axis
    assert [a.code for a in agencies.list(AXIS)] == [str(PROVINCE.code), lgsp]
    (province,) = agencies.list(AXIS, parent=lgsp)
    assert (province.code, province.name, province.registered_at, province.owner) == (
        str(PROVINCE.code), PROVINCE.name, T0, "lgsp.qnam")
    assert [a.code for a in agencies.list(AXIS, codes=[lgsp, "000.00.77.H41"])] == [lgsp]
    assert agencies.count(AXIS) == 2
    # The same details again write nothing; the operator's registration keeps them.
    assert agencies.register(AXIS, lgsp, owner="lgsp.qnam", name="LGSP Quảng Nam") is unchanged
    assert agencies.register(AXIS, lgsp, owner="lgsp.qnam", name="renamed",
                             operator=True) is unchanged
    later = T0 + dt.timedelta(hours=1)
    assert agencies.register(AXIS, lgsp, owner="lgsp.qnam", name="renamed",
                             mail="lgsp@quangnam.gov.vn", now=later) is written
    (renamed,) = agencies.list(AXIS, codes=[lgsp])
    assert (renamed.name, renamed.mail, renamed.registered_at) == (
        "renamed", "lgsp@quangnam.gov.vn", later)
    # Another system cannot take it over, nor delete it; a system at its limit adds none.
    before = counts(store)
    assert agencies.register(AXIS, lgsp, owner="intruder", name="mine now") is (
        Registration.HELD)
    assert not agencies.delete(AXIS, lgsp, owner="intruder")
    assert agencies.register(AXIS, "000.00.31.H41", owner="lgsp.qnam",
                             limit=2) is Registration.FULL
    assert counts(store) == before
    agencies.delete(AXIS, str(PROVINCE.code), owner="lgsp.qnam")
    assert [a.code for a in agencies.list(AXIS)] == [lgsp]
    before = counts(store)
    with pytest.raises(NotFoundError, match="unknown agency"):
        agencies.delete(AXIS, str(PROVINCE.code), owner="lgsp.qnam")
    assert counts(store) == before  # a refusal writes nothing, not even an audit entry
    # The operator (the systems file) moves an organ to the system it names.
    assert agencies.register(AXIS, lgsp, owner="lgsp.new", operator=True) is written
    assert agencies.get(AXIS, lgsp).owner == "lgsp.new"  # type: ignore[union-attr]
    with store.engine.connect() as conn:
        actions = conn.execute(select(schema.audit_log.c.action, schema.audit_log.c.subject)
                               .order_by(schema.audit_log.c.seq)).all()
    assert [tuple(row) for row in actions] == [
        ("agency_registered", f"agency:{PROVINCE.code}"),
        ("agency_registered", f"agency:{lgsp}"),
        ("agency_registered", f"agency:{lgsp}"),
        ("agency_registered", f"agency:{lgsp}"),
        ("agency_deleted", f"agency:{PROVINCE.code}"),
        ("agency_reassigned", f"agency:{lgsp}"),
    ]
    assert store.audit.verify().ok


def test_the_replay_cache_takes_a_key_once_and_forgets_it_when_stale(store: Store) -> None:
    agencies = store.agencies
    keep = dt.timedelta(minutes=10)
    assert agencies.first_seen(AXIS, "a" * 64, now=T0, keep=keep)
    assert not agencies.first_seen(AXIS, "a" * 64, now=T0 + dt.timedelta(minutes=1), keep=keep)
    assert agencies.first_seen("000.00.90.H43", "a" * 64, now=T0, keep=keep)  # per axis
    assert agencies.first_seen(AXIS, "a" * 64, now=T0 + dt.timedelta(minutes=11), keep=keep)


def _relayed(store: Store, envelope: Envelope, recipient: OrganInfo, *,
             now: dt.datetime = T0) -> int:
    body = build_envelope(envelope)
    return store.relay.document(envelope, body, hub=AXIS, recipient=str(recipient.code),
                                forwarded=lambda: body, receipt=None,
                                now=now).delivery_id


def test_what_an_axis_holds_for_an_organ_and_those_it_serves(store: Store) -> None:
    """queued_at: the copies for an organ and for the organs registered under it, each
    with its sender (a status packet's own), filtered, paged, one delivery by id."""
    agencies = store.agencies
    lgsp = "000.00.90.H41"
    agencies.register(AXIS, str(DAI_LOC.code), owner="lgsp", parent=lgsp)
    first = letter("1", recipients=(TAM_KY, DAI_LOC))
    to_tam_ky = _relayed(store, first, TAM_KY)
    to_dai_loc = _relayed(store, first, DAI_LOC, now=T0 + dt.timedelta(minutes=1))
    later = _relayed(store, letter("2", recipients=(TAM_KY,)), TAM_KY,
                     now=T0 + dt.timedelta(hours=2))
    receipt = status(first, StatusCode.ARRIVED, reporter=TAM_KY)
    store.relay.status(receipt, build_status(receipt), hub=AXIS, recipient=str(PROVINCE.code),
                       now=T0 + dt.timedelta(minutes=3))
    waiting = ("queued", "retrying", "sending")

    def ids(organs: list[str], **filters: object) -> list[int]:
        page = agencies.queued_at(AXIS, organs, **filters)  # type: ignore[arg-type]
        return [delivery.id for delivery, _ in page.items]

    assert ids([str(TAM_KY.code)], kind="document") == [to_tam_ky, later]
    assert ids([lgsp], kind="document") == [to_dai_loc]  # served by the LGSP
    assert ids([str(TAM_KY.code), lgsp], kind="document", transport_state=waiting,
               until=T0 + dt.timedelta(minutes=30)) == [to_tam_ky, to_dai_loc]
    assert ids([str(TAM_KY.code)], kind="document",
               since=T0 + dt.timedelta(hours=1)) == [later]
    ((status_copy, sender),) = agencies.queued_at(AXIS, [str(PROVINCE.code)], kind="status").items
    assert (status_copy.recipient, sender) == (str(PROVINCE.code), str(TAM_KY.code))
    page = agencies.queued_at(AXIS, [str(TAM_KY.code), lgsp], kind="document", page=2,
                              page_size=2)
    assert (page.total, [d.id for d, _ in page.items]) == (3, [later])
    assert agencies.queued_at(AXIS, [str(TAM_KY.code)], page=9, page_size=2).total == 2
    ((one, sender),) = agencies.queued_at(AXIS, [lgsp], delivery_id=to_dai_loc).items
    assert (one.id, one.recipient, sender) == (to_dai_loc, str(DAI_LOC.code), str(PROVINCE.code))
    assert agencies.queued_at(AXIS, [str(TAM_KY.code)], delivery_id=to_dai_loc).items == ()
    assert agencies.queued_at("000.00.90.H43", [str(TAM_KY.code)]).total == 0  # another axis
    assert agencies.queued_at(AXIS, []).total == 0
    assert agencies.registered(AXIS, [str(DAI_LOC.code), str(TAM_KY.code)]) == {str(DAI_LOC.code)}
    with pytest.raises(StoreError, match="page_size"):
        agencies.queued_at(AXIS, [lgsp], page_size=0)


def test_settle_leases_and_acknowledges_in_one_transaction(store: Store) -> None:
    delivery = _relayed(store, letter("7", recipients=(TAM_KY,)), TAM_KY)
    store.outbox.settle(delivery, "tamky", "processing")
    assert store.queries.delivery(delivery).transport_state == "sending"
    store.outbox.settle(delivery, "tamky", "fail")
    assert (store.queries.delivery(delivery).transport_state,
            store.queries.delivery(delivery).last_error) == ("retrying", "tamky reported fail")
    store.outbox.settle(delivery, "tamky", "done")
    done = store.queries.delivery(delivery)
    assert (done.transport_state, done.attempts) == ("acknowledged", 3)
    before = counts(store)
    store.outbox.settle(delivery, "tamky", "done")  # again: nothing to write
    store.outbox.settle(delivery, "tamky", "fail")
    assert counts(store) == before
    with pytest.raises(StoreError, match="unknown outcome"):
        store.outbox.settle(delivery, "tamky", "03")
    assert store.audit.verify().ok


# --------------------------------------------------------------------------- queries

def test_queries_inbox_overdue_and_pages(store: Store) -> None:
    for number in range(1, 8):
        envelope = letter(str(number), date=dt.date(2026, 11, number))
        store.inbox.receive(envelope, build_envelope(envelope), organ="000.00.01.H41", receipt=b"r")
    page = store.queries.documents(direction="in", organ="000.00.01.H41", page=2, page_size=3)
    assert (page.total, len(page.items), page.page) == (7, 3, 2)
    # Due 21 days after promulgation: on Nov 26 the documents of Nov 1..4 are late.
    late = store.queries.documents(direction="in", overdue_on=dt.date(2026, 11, 26))
    assert late.total == 4
    assert all(doc.overdue(dt.date(2026, 11, 26)) for doc in late.items)
    assert store.queries.documents(direction="out").total == 0
    with pytest.raises(StoreError, match="page"):
        store.queries.documents(page=0)
    with pytest.raises(NotFoundError):
        store.queries.document(10_000)


def test_writers_of_one_sqlite_file_share_one_lock(tmp_path, store_url: str) -> None:  # type: ignore[no-untyped-def]
    """Threads of this process queue for a SQLite file's writer slot on one lock (woken
    at once, not by SQLite's sleeping busy handler); PostgreSQL needs none."""
    import threading

    from docflow.store import sqlite_url
    from docflow.store._engine import writer_lock

    if not store_url.startswith("sqlite"):
        with Store.open(store_url) as other:
            lock = writer_lock(other.engine)
            assert not isinstance(lock, type(threading.RLock()))
        return
    url = sqlite_url(tmp_path / "shared.db")
    with Store.open(url) as first, Store.open(url) as second, Store.open(
            sqlite_url(tmp_path / "other.db")) as elsewhere:
        assert writer_lock(first.engine) is writer_lock(second.engine)
        assert writer_lock(first.engine) is not writer_lock(elsewhere.engine)
        lgsp = "000.00.90.H41"
        errors: list[BaseException] = []

        def register(target: Store, start: int) -> None:
            try:
                for n in range(start, start + 40):
                    target.agencies.register(AXIS, f"000.00.{n:02d}.H41", owner="lgsp",
                                                       parent=lgsp)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=register, args=(target, start))
                   for target, start in ((first, 10), (second, 50))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and len(first.agencies.list(AXIS)) == 80
        assert first.audit.verify().ok


def test_the_received_copy_a_change_applies_to(store: Store) -> None:
    """queries.received: of the copies of a DocumentId from one sender, the earliest
    verified one (an unsigned twin that came first does not win), by one ordered
    statement: never the copy that happens to sit at some position of a page."""
    import dataclasses

    original = letter("77")
    organ = str(TAM_KY.code)
    assert store.queries.received(organ, str(PROVINCE.code), original.info.document_id) \
        is None
    unsigned = store.inbox.receive(original, build_envelope(original), organ=organ,
                                   receipt=b"<r1/>", signature="absent").document_ref
    signed_copy = dataclasses.replace(original, message_id="m-77-signed")
    signed = store.inbox.receive(signed_copy, build_envelope(signed_copy), organ=organ,
                                 receipt=b"<r2/>", signature="verified").document_ref
    assert signed != unsigned
    found = store.queries.received(organ, str(PROVINCE.code), original.info.document_id)
    assert found is not None and found.id == signed
    # another sender's document under the same DocumentId is not this one
    assert store.queries.received(organ, str(DAI_LOC.code), original.info.document_id) \
        is None


def test_spooled_packets_are_stored_in_pieces_and_read_back_exactly(store: Store) -> None:
    """A packet handed over as a Spool (the streaming path) is written without being
    read whole: on SQLite into its row by incremental blob I/O, on PostgreSQL as 1 MiB
    pieces after an empty row (its driver binds a value whole); an outbox claim gives it
    back as a spool, the queries as bytes; a destroyed copy takes its pieces along."""
    big = letter("7100", attachment_bytes=3 * 1024 * 1024 + 5)
    packet = build_envelope(big)
    record = store.outbox.record(big, spool_if_large(packet, threshold=1))
    assert store.queries.packet(record.document_ref) == packet
    claims = store.outbox.claim_due("w", now=T0)
    assert claims and all(isinstance(claim.packet, Spool) and bytes(claim.packet) == packet
                          for claim in claims)
    assert store.queries.delivery_packet(claims[0].delivery_id) == packet
    received = letter("7101", attachment_bytes=2 * 1024 * 1024)
    raw = build_envelope(received)
    first = store.inbox.receive(received, spool_if_large(raw, threshold=1),
                                organ=str(TAM_KY.code), receipt=b"<r/>")
    assert store.inbox.receive(received, raw, organ=str(TAM_KY.code),
                               receipt=b"<r/>").duplicate  # the same bytes, in memory
    assert store.queries.packet(first.document_ref) == raw
    with store.engine.connect() as conn:
        pieces = conn.execute(select(func.count()).select_from(schema.envelope_chunks)
                              ).scalar_one()
        empty = conn.execute(select(func.count()).select_from(schema.envelopes).where(
            func.length(schema.envelopes.c.raw) == 0)).scalar_one()
    postgres = store.engine.dialect.name == "postgresql"
    expected = -(-len(packet) // (1 << 20)) + -(-len(raw) // (1 << 20))
    assert (pieces, empty) == ((expected, 2) if postgres else (0, 0))
    with store.database.transaction(str(TAM_KY.code)) as tx:
        _rows.destroy(tx, first.document_ref, "thu hồi", actor="test")
    with store.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(schema.envelope_chunks)
                            ).scalar_one()
    assert left == (-(-len(packet) // (1 << 20)) if postgres else 0)
    assert store.audit.verify().ok
