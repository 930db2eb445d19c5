"""What an operator sees (issue 27, D8, D14, D19, M3, M4): health that says
``degraded`` with its reasons when something needs them (dead letters, a loop failing
pass after pass, a commune that stopped pulling from its hub), log lines that name the
document, the message and the organ, refused requests logged at the receiver, and
network errors said in words rather than urllib3's wrapping."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests
from werkzeug.test import Client

from docflow.errors import DocflowError
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import RetryPolicy, Store, sqlite_url
from docflow.transport import InMemoryTransport, SoapApp, SoapClient
from docflow.transport._http import network_reason
from docflow.worker import Worker
from tests.conftest import Clock, Pki
from tests.integration.test_hub import COMMUNE, LGSP, Province, pulling_directory, send
from tests.integration.test_hub import PROVINCE as QN_PROVINCE
from tests.postgres import free_port

pytest_plugins = ["tests.integration.test_hub"]


def _province(pki: Pki, tmp_path: Path, attempts: int) -> tuple[Node, Node, Clock]:
    clock = Clock(pki.now)
    transport = InMemoryTransport()
    policy = RetryPolicy(intervals=(1.0,), max_attempts=attempts, jitter=0)
    nodes = [Node(organ, credentials, pki.trust,
                  Store.open(sqlite_url(tmp_path / f"{organ.code}.db"), clock=clock,
                             retry=policy), transport, clock=clock)
             for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district))]
    transport.register(PROVINCE.code, nodes[0])  # the district is not there
    return nodes[0], nodes[1], clock


def test_a_dead_letter_makes_the_node_degraded_and_is_logged_with_its_names(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    province, district, clock = _province(pki, tmp_path, attempts=2)
    caplog.set_level(logging.DEBUG, logger="docflow")
    try:
        envelope = sample_envelope(number="201")
        ref = province.send(envelope.info, envelope.attachments).document_ref
        message_id = province.document(ref).message_id
        with Worker(province, every=3600) as worker:  # its thread sleeps; passes by hand
            for _ in range(3):
                worker.run_once()
                clock.advance(2)
            healthy, facts = worker.report()
        assert healthy, facts  # it serves: degraded, not unhealthy (200, not 503)
        assert facts["status"] == "degraded"
        assert facts["outbox"]["dead_letters"] == 1
        assert any("dead letter" in reason for reason in facts["reasons"]), facts["reasons"]
        gave_up = [r.getMessage() for r in caplog.records
                   if r.name == "docflow.outbox" and "gave up on" in r.getMessage()]
        assert len(gave_up) == 1 and "201/" in gave_up[0] and message_id in gave_up[0]
        assert str(TAM_KY.code) in gave_up[0] and "docflow resend" in gave_up[0]
        # A pass where every delivery failed is no delivery.
        assert facts["last_delivery_at"] is None
        assert facts["loops"]["outbox"]["last_success_at"] is None
    finally:
        province.store.close()
        district.store.close()


def test_deliveries_and_arrivals_are_logged_with_document_message_and_organ(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    province, district, _ = _province(pki, tmp_path, attempts=8)
    province.transport.register(TAM_KY.code, district)  # type: ignore[attr-defined]
    caplog.set_level(logging.INFO, logger="docflow")
    try:
        envelope = sample_envelope(number="201")
        ref = province.send(envelope.info, envelope.attachments).document_ref
        message_id = province.document(ref).message_id
        province.deliver()
        lines = [r.getMessage() for r in caplog.records]
        delivered = [line for line in lines if line.startswith("delivered document 201/")]
        assert len(delivered) == 1 and message_id in delivered[0] and str(TAM_KY.code) in (
            delivered[0])
        received = [line for line in lines if line.startswith("received document 201/")]
        assert len(received) == 1 and str(PROVINCE.code) in received[0]
        assert "signature verified" in received[0]
        ref = district.inbox().items[0].id
        district.act(ref, "accept")
        district.deliver()
        assert any(line.startswith("received status 03") and str(TAM_KY.code) in line
                   for line in (r.getMessage() for r in caplog.records))
    finally:
        province.store.close()
        district.store.close()


def test_a_loop_failing_pass_after_pass_is_degraded(pki: Pki, tmp_path: Path) -> None:
    """A commune whose only work is pulling, cut off from its hub: degraded, with the
    reason, not ``ok``."""

    hub_url = f"http://127.0.0.1:{free_port()}/"
    directory = pulling_directory(hub_url)  # Tam Kỳ pulls from a hub that is not there
    store = Store.open(sqlite_url(tmp_path / "district.db"))
    commune = Node(TAM_KY, pki.district, pki.trust, store,
                   SoapClient(directory.addresses()), directory=directory)
    try:
        with Worker(commune, every=3600, pull=True) as worker:
            worker.run_once()
            assert worker.report()[1]["status"] == "ok"  # one failed pass: not yet
            worker.run_once()
            healthy, facts = worker.report()
        assert healthy and facts["status"] == "degraded"
        (reason,) = facts["reasons"]
        assert reason.startswith("the pull loop fails (2 passes)")
        assert "connection refused" in reason and "HTTPConnectionPool" not in reason
        healthy, facts = worker.report()  # stopped: unhealthy, the reasons kept
        assert not healthy and facts["status"] == "unhealthy"
        assert facts["reasons"][0] == "the worker is stopped" and len(facts["reasons"]) == 2
    finally:
        store.close()


def test_a_hub_says_when_each_pulling_organ_last_pulled(qn: Province) -> None:
    """A commune that stops pulling: its packets wait at the hub; past ``stale_pull`` the
    hub's health says so, by organ; once it pulls the hub is ok again."""
    hub = qn.hub(LGSP)
    send(qn, QN_PROVINCE, (COMMUNE,))
    qn.node(QN_PROVINCE).deliver()
    worker = Worker(hub, every=3600, stale_pull=600)
    with worker:
        facts = worker.report()[1]
        watch = facts["pulls"][str(COMMUNE.code)]
        assert watch["last_pull"] is None and watch["waiting"] == 1
        assert facts["status"] == "ok"  # it has only just arrived
        qn.clock.advance(601)
        facts = worker.report()[1]
        assert facts["status"] == "degraded"
        assert any(reason.startswith(f"{COMMUNE.code} has not pulled its 1 packet(s)")
                   for reason in facts["reasons"]), facts["reasons"]
        qn.node(COMMUNE).pull()
        facts = worker.report()[1]
    assert facts["status"] == "ok", facts["reasons"]
    watch = facts["pulls"][str(COMMUNE.code)]
    assert watch["waiting"] == 0 and watch["last_pull"] == qn.clock().isoformat()


@pytest.mark.parametrize("options", [{"workers": 0}, {"every": "fast"}, {"lease": -1},
                                     {"workers": True}, {"stale_pull": 0}])
def test_a_worker_refuses_nonsense_options(pki: Pki, tmp_path: Path,
                                           options: dict[str, object]) -> None:
    store = Store.open(sqlite_url(tmp_path / "p.db"))
    try:
        node = Node(PROVINCE, pki.province, pki.trust, store, InMemoryTransport())
        with pytest.raises(DocflowError, match=next(iter(options))):
            Worker(node, **options)  # type: ignore[arg-type]
        assert Worker(node, name="mine").name == "mine"
    finally:
        store.close()


def test_a_refused_request_is_logged_at_the_receiver(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store.open(sqlite_url(tmp_path / "d.db"))
    caplog.set_level(logging.INFO, logger="docflow")
    try:
        node = Node(TAM_KY, pki.district, pki.trust, store, InMemoryTransport())
        answer = Client(SoapApp(node)).post("/", data=b"garbage\nline two",
                                            content_type="text/xml")
        assert answer.status_code >= 400
        (line,) = [r for r in caplog.records if r.name == "docflow.soap"]
        assert line.levelno == logging.WARNING
        assert line.getMessage().startswith("refused a request from ")
        assert "\n" not in line.getMessage()
    finally:
        store.close()


def test_network_errors_are_said_in_words() -> None:
    port = free_port()
    with pytest.raises(requests.RequestException) as refused:
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert network_reason(refused.value) == "connection refused (nothing listens)"
    assert network_reason(requests.exceptions.ReadTimeout("x")) == (
        "no answer within the timeout")
    assert network_reason(requests.exceptions.SSLError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
        "certificate (_ssl.c:1006)")) == (
        "TLS failed: the certificate does not verify (self-signed certificate)")
    assert network_reason(OSError("boom\nsecond line")) == "OSError: boom"
