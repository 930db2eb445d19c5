"""A platform that lists one bad item ahead of good ones (issue 26, item 6): a status
packet listed as a document, in each dialect's list, before a good document. The node's
poll used to stop at it (a TypeError out of `Received.envelope`): nothing after it was
stored or acknowledged, pass after pass. Now the bad item is refused with its reason,
acknowledged `fail`, and the good one behind it is stored and acknowledged `done`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from docflow.emulators import AxisSystem, LgspAccount, TokenLgspApp, Wso2App, Wso2Consumer
from docflow.model import StatusCode
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope, sample_status
from docflow.security import TrustPolicy, sign_envelope, sign_status
from docflow.store import Store, sqlite_url
from docflow.store._schema import deliveries
from docflow.transport import TokenLgspClient, VxpClient, Wso2Client
from tests.conftest import Clock, Pki
from tests.integration.test_soap import Server

UNITS = [AxisSystem("unit-province", "p-secret", organs=(str(PROVINCE.code),)),
         AxisSystem("unit-district", "d-secret", organs=(str(TAM_KY.code),))]
ACCOUNT = LgspAccount("vanthu", "mk", "EOFFICE")
CONSUMER = Wso2Consumer("key", "consumer-secret")


def _app(dialect: str, store: Store, clock: Clock) -> Any:
    from docflow.emulators import AxisApp

    if dialect == "vdxp":
        return AxisApp("000.00.00.G22", store, [
            AxisSystem(str(PROVINCE.code), "p-secret"), AxisSystem(str(TAM_KY.code),
                                                                   "d-secret")], clock=clock)
    if dialect == "lgsp-token":
        return TokenLgspApp("000.00.00.G22", store, UNITS, [ACCOUNT], clock=clock)
    return Wso2App("000.00.00.G22", store, UNITS, [CONSUMER], clock=clock)


def _client(dialect: str, url: str, secret: str, organ: str, clock: Clock) -> Any:
    if dialect == "vdxp":
        return VxpClient(url, organ, secret, timeout=10, clock=clock)
    if dialect == "lgsp-token":
        unit = "unit-province" if organ == str(PROVINCE.code) else "unit-district"
        return TokenLgspClient(url, unit, secret, username=ACCOUNT.username,
                               password=ACCOUNT.password,
                               application_code=ACCOUNT.application_code, timeout=10,
                               clock=clock)
    return Wso2Client(url, CONSUMER.key, CONSUMER.secret, secret, timeout=10)


@pytest.fixture(params=["vdxp", "lgsp-token", "wso2"])
def setup(request: pytest.FixtureRequest, pki: Pki,
          tmp_path: Path) -> Iterator[tuple[Any, Any, Node]]:
    clock = Clock(pki.now)
    store = Store.open(sqlite_url(tmp_path / "platform.db"), clock=clock)
    app = _app(request.param, store, clock)
    server = Server(app)
    sender = _client(request.param, server.url, "p-secret", str(PROVINCE.code), clock)
    receiver = _client(request.param, server.url, "d-secret", str(TAM_KY.code), clock)
    node_store = Store.open(sqlite_url(tmp_path / "district.db"), clock=clock)
    district = Node(TAM_KY, pki.district, pki.trust, node_store, receiver, clock=clock,
                    axis_trust=TrustPolicy.CHANNEL)
    yield app, sender, district
    for client in (sender, receiver):
        client.close()
    server.close()
    node_store.close()
    store.close()


def test_a_misfiled_item_ahead_of_a_good_one(setup: tuple[Any, Any, Node],
                                             pki: Pki) -> None:
    app, sender, district = setup
    # The district sent the province a document; the province's status about it is
    # queued for the district ...
    about = sample_envelope(sender=TAM_KY, recipients=(PROVINCE,), number="77")
    district.transport.send_edoc(sign_envelope(about, pki.district), **(  # type: ignore[attr-defined]
        {"to": [PROVINCE.code]} if isinstance(sender, VxpClient) else {}))
    status = sign_status(dataclasses.replace(
        sample_status(about, StatusCode.ACCEPTED, reporter=PROVINCE), timestamp=pki.now),
        pki.province)
    sender.send_edoc(status, **({"to": [TAM_KY.code]} if isinstance(sender, VxpClient)
                                else {}), message_type="status")
    # ... and the platform lists it as a document (a misfiled item), ahead of a document.
    with app.store.engine.begin() as conn:
        conn.execute(update(deliveries).where(deliveries.c.kind == "status")
                     .values(kind="document"))
    good = sign_envelope(sample_envelope(), pki.province)
    sender.send_edoc(good, **({"to": [TAM_KY.code]} if isinstance(sender, VxpClient)
                              else {}))
    report = district.poll_axis()
    assert (report.documents, report.refused) == (1, 1), report.errors
    assert "not a document" in report.errors[0]
    (stored,) = district.inbox().items
    assert stored.document_id == sample_envelope().info.document_id
    states = {d.recipient + str(d.id): d.transport_state for d in
              app.store.queries.deliveries(kind="document").items
              if d.recipient == str(TAM_KY.code)}
    assert sorted(states.values()) == ["acknowledged", "retrying"]  # done / fail
