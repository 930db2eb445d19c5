"""The background worker (`with node.running(): ...`): it delivers while the caller does
other things, stops cleanly, logs each distinct failure once and its recovery, and
reports its health (what `GET /health` answers)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.store._schema import audit_log, received_messages
from docflow.transport import InMemoryTransport, SoapApp, SoapClient, listen
from docflow.worker import Worker
from tests.conftest import Clock, Pki
from tests.integration.test_hub import pulling_directory
from tests.postgres import free_port


def _wait(condition, seconds: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _two_nodes(pki: Pki, tmp_path: Path) -> list[Node]:
    """The province and Tam Kỳ on one in-memory transport, each with its SQLite file."""
    clock = Clock(pki.now)
    transport = InMemoryTransport()
    nodes = []
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district)):
        store = Store.open(sqlite_url(tmp_path / f"{organ.code}.db"), clock=clock)
        node = Node(organ, credentials, pki.trust, store, transport, clock=clock)
        transport.register(organ.code, node)
        nodes.append(node)
    return nodes


def test_running_delivers_in_the_background_and_stops(pki: Pki, tmp_path: Path) -> None:
    nodes = _two_nodes(pki, tmp_path)
    province, district = nodes
    try:
        envelope = sample_envelope()
        with province.running(every=0.02) as worker:
            assert worker.running and set(worker.health) == {"outbox", "expire"}
            province.send(envelope.info, envelope.attachments)
            _wait(lambda: district.inbox().total == 1)
            _wait(lambda: worker.report()[1]["outbox"]["outstanding"] == 0)  # acknowledged
            # the pass records its delivery once it returns, just after the commit
            _wait(lambda: worker.report()[1]["last_delivery_at"] is not None)
            healthy, facts = worker.report()
        assert not worker.running  # stopped on leaving the block
        assert healthy and facts["database"] == "ok" and facts["worker"] == "running"
        assert facts["outbox"] == {"outstanding": 0, "dead_letters": 0}
        assert facts["last_delivery_at"] == pki.now.isoformat()
        assert worker.report()[0] is False  # a stopped worker is not healthy
        with pytest.raises(Exception, match="started already"):
            worker.start()
    finally:
        for node in nodes:
            node.store.close()


def test_a_failure_is_logged_once_while_it_lasts_then_its_recovery(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A commune pulling from a hub that is down: one error line for many passes (not
    the same line every pass), one line when the hub is back; the pull and the outbox
    are told apart by their loggers."""
    from docflow.hub import Hub
    from docflow.model import OrganCode, OrganInfo

    hub_port = free_port()
    hub_url = f"http://127.0.0.1:{hub_port}/"
    directory = pulling_directory(hub_url)  # the hub tests' directory, the hub served
    store = Store.open(sqlite_url(tmp_path / "district.db"))
    node = Node(TAM_KY, pki.district, pki.trust, store, SoapClient(directory.addresses()),
                directory=directory)
    hub_store = Store.open(sqlite_url(tmp_path / "hub.db"))
    hub = Hub(OrganInfo(OrganCode("000.00.90.H41"), "LGSP Quảng Nam"), pki.hub, pki.trust,
              hub_store, SoapClient(directory.addresses()), directory)
    caplog.set_level(logging.INFO, logger="docflow")
    try:
        worker = node.running(every=0.02)
        assert set(worker.health) == {"outbox", "pull", "expire"}
        with worker:
            _wait(lambda: worker.health["pull"].failures >= 5)
            failing = [r for r in caplog.records if r.name == "docflow.pull"
                       and r.levelno == logging.ERROR]
            assert len(failing) == 1, [r.getMessage() for r in failing]
            assert "pull pass failed" in failing[0].getMessage()
            server = listen(SoapApp(hub), port=hub_port)
            import threading

            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            try:
                _wait(lambda: worker.health["pull"].failing is None)
                assert requests.get(hub_url + "?wsdl", timeout=5).ok
            finally:
                server.close()
        recovered = [r.getMessage() for r in caplog.records if r.name == "docflow.pull"
                     and "recovered" in r.getMessage()]
        assert len(recovered) == 1 and "failed pass(es)" in recovered[0]
        assert not [r for r in caplog.records if r.name == "docflow.outbox"
                    and r.levelno >= logging.WARNING]
    finally:
        store.close()
        hub_store.close()


def test_a_worker_refuses_a_nonsense_interval(pki: Pki, tmp_path: Path) -> None:
    store = Store.open(sqlite_url(tmp_path / "p.db"))
    try:
        node = Node(PROVINCE, pki.province, pki.trust, store, InMemoryTransport())
        with pytest.raises(Exception, match="every must be a positive number"):
            Worker(node, every=0)
    finally:
        store.close()


def test_transport_serve_stops_when_told() -> None:
    import threading

    from docflow.transport import serve

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=serve, args=(app,), kwargs={"port": port, "stop": stop})
    thread.start()
    _wait(lambda: _answers(f"http://127.0.0.1:{port}/"))
    # A client holding a keep-alive connection does not keep the server going (it did:
    # only the listener was closed, and waitress looped on the open channel).
    with requests.Session() as session:
        assert session.get(f"http://127.0.0.1:{port}/", timeout=5).ok
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert not _answers(f"http://127.0.0.1:{port}/")  # the port is free again
    listen(app, port=port).close()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


def test_the_same_delivery_error_is_said_once_until_deliveries_go_through(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A peer down with two copies waiting, retried pass after pass: one WARNING line,
    not one per copy and retry; once it is back, one INFO line says so."""
    from docflow.store import RetryPolicy

    clock = Clock(pki.now)
    transport = InMemoryTransport()
    stores = [Store.open(sqlite_url(tmp_path / f"{name}.db"), clock=clock,
                         retry=RetryPolicy(intervals=(1.0,), max_attempts=100, jitter=0))
              for name in ("province", "district")]
    province = Node(PROVINCE, pki.province, pki.trust, stores[0], transport, clock=clock)
    district = Node(TAM_KY, pki.district, pki.trust, stores[1], transport, clock=clock)
    caplog.set_level(logging.DEBUG, logger="docflow")
    try:
        for number in ("1", "2"):
            envelope = sample_envelope(number=number, message_id=f"m-{number}")
            province.send(envelope.info, envelope.attachments)
        worker = Worker(province, every=1)
        for _ in range(4):  # the district is not there: every pass fails both copies
            worker.run_once()
            clock.advance(2)
        outbox = [r for r in caplog.records if r.name == "docflow.outbox"]
        warnings = [r.getMessage() for r in outbox if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and str(TAM_KY.code) in warnings[0], warnings
        assert sum("again" in r.getMessage() for r in outbox if r.levelno == logging.DEBUG) == 7
        transport.register(TAM_KY.code, district)
        worker.run_once()
        assert district.inbox().total == 2
        assert any("deliveries go through again (8 failure(s) seen, 1 distinct)"
                   in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    finally:
        for store in stores:
            store.close()


def test_a_pass_that_fails_unexpectedly_does_not_stop_the_worker(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A loop step that raises something other than a DocflowError (here the operator's
    checkpoint callable; elsewhere a defect, or a peer's answer no check foresaw) is said
    once with its traceback and counted as a failure; the thread lives on and the other
    loops keep delivering."""
    nodes = _two_nodes(pki, tmp_path)
    province, district = nodes
    caplog.set_level(logging.INFO, logger="docflow")

    def checkpoint() -> object:
        raise ZeroDivisionError("the operator's checkpoint hook divided by zero")

    try:
        with Worker(province, every=0.02, checkpoint=checkpoint) as worker:
            _wait(lambda: worker.health["checkpoint"].failures >= 5)
            assert worker.running
            envelope = sample_envelope()
            province.send(envelope.info, envelope.attachments)
            _wait(lambda: district.inbox().total == 1)  # the outbox loop still delivers
        said = [r for r in caplog.records if r.name == "docflow.checkpoint"
                and r.levelno == logging.ERROR]
        assert len(said) == 1 and said[0].exc_info is not None
        assert "ZeroDivisionError" in said[0].getMessage()
        assert worker.health["checkpoint"].failing == (
            "ZeroDivisionError: the operator's checkpoint hook divided by zero")
    finally:
        for node in nodes:
            node.store.close()


def test_the_worker_forgets_message_ids_past_their_retention(pki: Pki,
                                                             tmp_path: Path) -> None:
    """Received message ids are kept for the retention ([node] keep_message_ids) and
    forgotten by the worker after it (audited), not kept forever."""
    clock = Clock(pki.now)
    transport = InMemoryTransport()
    nodes = []
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district)):
        store = Store.open(sqlite_url(tmp_path / f"{organ.code}.db"), clock=clock,
                           retention=dt.timedelta(days=30))
        node = Node(organ, credentials, pki.trust, store, transport, clock=clock)
        transport.register(organ.code, node)
        nodes.append(node)
    province, district = nodes
    try:
        envelope = sample_envelope()
        province.send(envelope.info, envelope.attachments)
        province.deliver()
        worker = Worker(district, every=60, expire_every=3600)

        def remembered() -> int:
            with district.store.engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(
                    received_messages)).scalar_one())

        worker.run_once()
        assert remembered() == 1  # within the retention
        clock.advance(dt.timedelta(days=31).total_seconds())
        worker.run_once()
        assert remembered() == 0
        with district.store.engine.connect() as conn:
            actions = [row.action for row in conn.execute(
                select(audit_log.c.action).order_by(audit_log.c.seq))]
        # the same hourly step records the deadlines found open after they ended (the
        # registration, the sample's due date) after it forgets the ids
        assert actions.index("expire") < len(actions) - 1
        assert set(actions[actions.index("expire") + 1:]) == {"deadline_breached"}
        worker.run_once()  # within the hour: not asked again
        assert worker.health["expire"].passes == 3
    finally:
        for node in nodes:
            node.store.close()
