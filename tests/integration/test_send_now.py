"""``Node.send_now``: a document recorded and its deliveries claimed in one transaction,
then delivered at once (issue 31, item 3: one commit fewer per round trip), on SQLite
and in memory; what fails is retried by the outbox worker as any delivery."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import event

from docflow.model import Attachment
from docflow.node import Node
from docflow.samples import TAM_KY, sample_envelope
from docflow.security import sign_envelope
from docflow.store import Store
from tests.conftest import Clock, Pki, node_pair


def test_send_now_delivers_what_send_then_deliver_does(both_stores: tuple[Node, Node]
                                                       ) -> None:
    province, district = both_stores
    envelope = sample_envelope()
    sent = province.send_now(envelope.info, envelope.attachments)
    assert sent.report.delivered == 1 and not sent.report.errors
    (claim,) = sent.record.claims
    assert (claim.recipient, claim.attempts) == (str(TAM_KY.code), 1)
    (delivery,) = province.store.queries.deliveries(document_ref=sent.record.document_ref).items
    assert delivery.transport_state == "acknowledged"
    (received,) = district.inbox().items
    assert district.store.queries.packet(received.id) == province.store.queries.packet(
        sent.record.document_ref)
    # nothing is left for the worker, and the copy is not sent twice
    assert province.deliver().delivered == 0
    assert province.store.audit.verify().ok


def test_send_now_commits_once_before_the_answer_and_once_after(pki: Pki,
                                                                tmp_path: Path) -> None:
    """Counted on the province's SQLite connection: send then deliver commits three
    times (the document, the claim, the receipt), send_now twice."""
    province, _district = node_pair(pki, tmp_path)
    store = province.store
    assert isinstance(store, Store)
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: None if conn.get_execution_options(
        ).get("docflow_read") else commits.append(1))  # write transactions only
    first = sample_envelope()
    province.send(first.info, first.attachments)
    province.deliver()
    apart = len(commits)
    commits.clear()
    second = sample_envelope(number="4513")
    assert province.send_now(second.info, second.attachments).report.delivered == 1
    assert (apart, len(commits)) == (3, 2)


def test_what_send_now_cannot_deliver_is_retried_by_the_worker(pki: Pki,
                                                                 tmp_path: Path) -> None:
    clock = Clock(pki.now)
    province, district = node_pair(pki, tmp_path, clock=clock)
    transport = province.transport
    transport.unregister(TAM_KY.code)  # type: ignore[attr-defined]  # the district is down
    envelope = sample_envelope()
    sent = province.send_now(envelope.info, [Attachment("a.pdf", b"%PDF-1.7 x")])
    assert sent.report.delivered == 0 and sent.report.errors
    assert province.deliver().delivered == 0  # not due yet: the retry interval
    transport.register(TAM_KY.code, district)  # type: ignore[attr-defined]
    clock.advance(dt.timedelta(hours=1).total_seconds())
    assert province.deliver().delivered == 1
    assert district.inbox().total == 1


def test_a_claim_of_send_now_held_by_a_dead_process_is_taken_again(pki: Pki,
                                                                     tmp_path: Path) -> None:
    """The record and the claim commit together: a process that dies before sending
    leaves the copies claimed, and the worker takes them once the lease runs out."""
    clock = Clock(pki.now)
    province, district = node_pair(pki, tmp_path, clock=clock)
    envelope = sample_envelope()
    signed = sign_envelope(envelope, pki.province)  # recorded and claimed, never sent
    kept = province.store.outbox.record(envelope, signed, claim_for="dead",
                                        lease=dt.timedelta(minutes=5))
    assert len(kept.claims) == 1
    assert province.deliver().delivered == 0  # claimed by the dead process
    clock.advance(6 * 60)
    assert province.deliver().delivered == 1
    assert district.inbox().total == 1


@pytest.mark.parametrize("claim_for", [None, "w"])
def test_record_claims_only_when_asked(both_stores: tuple[Node, Node],
                                                 claim_for: str | None, pki: Pki) -> None:
    province, _ = both_stores
    envelope = sample_envelope()
    record = province.store.outbox.record(envelope, sign_envelope(envelope, pki.province),
                                          claim_for=claim_for)
    assert len(record.claims) == (0 if claim_for is None else 1)
    assert len(province.store.outbox.claim_due("other", now=pki.now)) == (
        1 if claim_for is None else 0)
