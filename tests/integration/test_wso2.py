"""Quảng Nam's WSO2 "Trục liên thông" over real HTTP on 127.0.0.1: docflow's client
(authlib's OAuth2 client credentials) against the emulator (authlib's authorization
server and bearer protector) end to end with two nodes, a token that expires, the
example client's calls (base64 packets, per-unit secrets, INITIAL/PROCESSING/DONE/FAIL,
units registered and unregistered), and refusals that store nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from docflow.emulators import AxisSystem, Wso2App, Wso2Consumer
from docflow.errors import TransportError
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.samples import PROVINCE, sample_envelope
from docflow.security import TrustPolicy, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import Wso2Client
from tests.conftest import Clock, Pki
from tests.integration.test_soap import Server

GATEWAY = "000.00.90.H41"
DUY_XUYEN = OrganInfo(OrganCode("000.00.10.H41"), "UBND huyện Duy Xuyên")
CONSUMER = Wso2Consumer("pLVt-docflow-test-key", "Z944-docflow-test-secret")
UNIT_SECRETS = {DUY_XUYEN.code: "ffc9f7158d72f32e", PROVINCE.code: "0a1b2c3d4e5f6789"}
BASE = "truclienthong/v1.0.0/"


@dataclass
class Net:
    url: str
    app: Wso2App
    clock: Clock
    duy_xuyen: Node
    province: Node
    clients: list[Wso2Client]


def client(url: str, organ: OrganCode) -> Wso2Client:
    return Wso2Client(url, CONSUMER.key, CONSUMER.secret, UNIT_SECRETS[organ], timeout=10)


@pytest.fixture
def net(pki: Pki, tmp_path: Path) -> Iterator[Net]:
    clock = Clock(pki.now)
    store = Store.open(sqlite_url(tmp_path / "wso2.db"), clock=clock)
    app = Wso2App(GATEWAY, store, [AxisSystem(f"unit-{code}", secret, organs=(str(code),),
                                              register=True)
                                   for code, secret in UNIT_SECRETS.items()], [CONSUMER],
                  clock=clock)
    server = Server(app)
    clients = [client(server.url, DUY_XUYEN.code), client(server.url, PROVINCE.code)]
    stores = [Store.open(sqlite_url(tmp_path / f"{n}.db"), clock=clock) for n in ("dx", "p")]
    credentials = issue_certificate(pki.ca, str(DUY_XUYEN.code), DUY_XUYEN.name, now=pki.now)
    duy_xuyen = Node(DUY_XUYEN, credentials, pki.trust, stores[0], clients[0], clock=clock)
    province = Node(PROVINCE, pki.province, pki.trust, stores[1], clients[1], clock=clock,
                    axis_trust=TrustPolicy.CHANNEL)
    yield Net(server.url, app, clock, duy_xuyen, province, clients)
    for item in clients:
        item.close()
    server.close()
    for opened in (*stores, store):
        opened.close()


def test_two_nodes_through_the_gateway(net: Net) -> None:
    envelope = sample_envelope(sender=DUY_XUYEN, recipients=(OrganInfo(PROVINCE.code,
                                                                       PROVINCE.name),))
    ref = net.duy_xuyen.send(envelope.info, envelope.attachments).document_ref
    assert net.duy_xuyen.deliver().delivered == 1
    report = net.province.poll_axis()
    assert (report.documents, report.refused) == (1, 0), report.errors
    (received,) = net.province.inbox().items
    net.province.reject(received.id, "không thuộc thẩm quyền")
    net.province.deliver()
    assert net.duy_xuyen.poll_axis().statuses == 2
    (copy,) = [d for d in net.duy_xuyen.store.queries.deliveries(document_ref=ref).items
               if d.kind == "document"]
    assert (copy.transport_state, copy.business_state) == ("acknowledged", "rejected")


def test_the_token_expires_and_a_new_one_is_fetched(net: Net) -> None:
    duy_xuyen = net.clients[0]
    assert duy_xuyen.received() == []
    first = duy_xuyen.session.token["access_token"]
    net.clock.advance(3601)  # the gateway's tokens live an hour
    duy_xuyen.session.token["expires_at"] = 0  # and the client's copy says so too
    assert duy_xuyen.received() == []
    assert duy_xuyen.session.token["access_token"] != first


def _token(url: str) -> str:
    answer = requests.post(url + "token", data={"grant_type": "client_credentials"},
                           auth=(CONSUMER.key, CONSUMER.secret), timeout=10).json()
    assert answer["token_type"].lower() == "bearer", answer
    return str(answer["access_token"])


def test_the_example_clients_calls(net: Net) -> None:
    """As the platform's example client calls it: a base64 packet with loaiVanBan=edoc,
    the list, the packet, DONE; units registered and unregistered."""
    token = _token(net.url)
    packet = sign_packet(net)
    auth = {"Authorization": f"Bearer {token}"}
    sent = requests.post(net.url + BASE + "vanbans", headers={
        **auth, "secret": UNIT_SECRETS[DUY_XUYEN.code]}, data={
        "base64": base64.b64encode(packet).decode(), "loaiVanBan": "edoc"}, timeout=10).json()
    assert (sent["status"], sent["errorCode"]) == ("OK", "0") and sent["docId"], sent
    mine = {**auth, "secret": UNIT_SECRETS[PROVINCE.code]}
    listed = requests.get(net.url + BASE + "vanbans", headers=mine, timeout=10).json()
    (item,) = listed["data"]
    assert {"serviceType", "messageType", "statusDesc", "docId", "from", "to", "status",
            "createdTime"} <= set(item) and item["status"] == "INITIAL"
    fetched = requests.get(net.url + BASE + f"vanbans/{item['docId']}", headers=mine,
                           timeout=10).json()
    assert base64.b64decode(fetched["data"]) == packet
    done = requests.put(net.url + BASE + f"vanbans/{item['docId']}", headers=mine,
                        params={"status": "DONE"}, timeout=10).json()
    assert done["status"] == "OK"
    assert requests.get(net.url + BASE + "vanbans", headers=mine,
                        timeout=10).json()["data"] == []
    new_unit = {"code": "000.05.10.H41", "pcode": str(DUY_XUYEN.code),
                "name": "UBND xã Duy Thành", "email": "", "fax": "", "mobile": ""}
    theirs = {**auth, "secret": UNIT_SECRETS[DUY_XUYEN.code]}  # a commune of Duy Xuyên
    assert requests.post(net.url + BASE + "donvilienthongs", headers=theirs, json=new_unit,
                         timeout=10).json()["status"] == "OK"
    province = requests.get(net.url + BASE + "donvilienthongs/qn", headers=mine,
                            timeout=10).json()["data"]
    assert "000.05.10.H41" in {unit["code"] for unit in province}
    assert requests.put(net.url + BASE + "donvilienthongs", headers=theirs,
                        params={"agencyCode": "000.05.10.H41"}, timeout=10).json()["status"] \
        == "OK"


def sign_packet(net: Net) -> bytes:
    envelope = sample_envelope(sender=DUY_XUYEN, recipients=(OrganInfo(PROVINCE.code,
                                                                       PROVINCE.name),))
    record = net.duy_xuyen.send(envelope.info, envelope.attachments)
    return net.duy_xuyen.store.queries.packet(record.document_ref)


def test_refusals_store_nothing(net: Net) -> None:
    bad = requests.post(net.url + "token", data={"grant_type": "client_credentials"},
                        auth=(CONSUMER.key, "wrong"), timeout=10)
    assert bad.status_code in (400, 401) and bad.json()["error"] == "invalid_client"
    packet = sign_packet(net)
    form = {"base64": base64.b64encode(packet).decode(), "loaiVanBan": "edoc"}
    token = _token(net.url)
    cases = {
        "no token": {"secret": UNIT_SECRETS[DUY_XUYEN.code]},
        "a made-up token": {"Authorization": "Bearer nope",
                            "secret": UNIT_SECRETS[DUY_XUYEN.code]},
        "an unknown unit": {"Authorization": f"Bearer {token}", "secret": "0000"},
        "another unit's packet": {"Authorization": f"Bearer {token}",
                                  "secret": UNIT_SECRETS[PROVINCE.code]},
    }
    for name, headers in cases.items():
        answer = requests.post(net.url + BASE + "vanbans", headers=headers, data=form,
                               timeout=10)
        assert answer.status_code in (400, 401), name
        assert answer.json()["status"] == "FAIL", name
    assert net.app.store.queries.deliveries().total == 0
    wrong = Wso2Client(net.url, CONSUMER.key, "wrong", UNIT_SECRETS[DUY_XUYEN.code], timeout=10)
    with pytest.raises(TransportError, match="no token"):
        wrong.received()
    wrong.close()


def test_a_profile_moves_parameters_and_both_sides_follow_it(pki: Pki, tmp_path: Path) -> None:
    """Where each parameter travels is the profile's: a gateway that wants the unit secret
    in the query and the status in the form works with a client given the same profile,
    and refuses one that still sends them where the default profile puts them."""
    from docflow.transport import Wso2Profile

    profile = Wso2Profile({**Wso2Profile().locations, "secret": "query", "status": "form"})
    store = Store.open(sqlite_url(tmp_path / "gw.db"), clock=lambda: pki.now)
    app = Wso2App(GATEWAY, store, [AxisSystem("unit", UNIT_SECRETS[PROVINCE.code],
                                              organs=(str(PROVINCE.code),))], [CONSUMER],
                  profile=profile, clock=lambda: pki.now)
    server = Server(app)
    moved = Wso2Client(server.url, CONSUMER.key, CONSUMER.secret,
                       UNIT_SECRETS[PROVINCE.code], profile=profile, timeout=10)
    default = Wso2Client(server.url, CONSUMER.key, CONSUMER.secret,
                         UNIT_SECRETS[PROVINCE.code], timeout=10)
    try:
        assert moved.received() == []
        listed = requests.get(server.url + BASE + "vanbans", timeout=10, params={
            "secret": UNIT_SECRETS[PROVINCE.code]}, headers={
            "Authorization": f"Bearer {_token(server.url)}"}).json()
        assert (listed["status"], listed["data"]) == ("OK", [])
        with pytest.raises(TransportError):
            default.received()
    finally:
        moved.close()
        default.close()
        server.close()
        store.close()
