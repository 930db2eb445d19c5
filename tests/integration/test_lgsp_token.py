"""The token-login REST LGSP dialect over real HTTP on 127.0.0.1: docflow's client against
the emulator end to end (two nodes, signed documents and statuses, a token that
expires), and the emulator against requests built as the real vendor client builds them
(JSON login with otp/twoFactorProvider/typeObjs, multipart edocFile, yyyy/MM/dd dates,
QĐ 28 status codes in updateStatus)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from docflow.emulators import AxisSystem, LgspAccount, TokenLgspApp
from docflow.errors import TransportError
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.samples import PROVINCE, sample_envelope
from docflow.security import TrustPolicy, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import TokenLgspClient
from tests.conftest import Clock, Pki
from tests.integration.test_soap import Server

LGSP = "000.00.90.H20"
HOI_AN = OrganInfo(OrganCode("000.00.07.H41"), "UBND thành phố Hội An")
UNITS = {"H41.HA.001": ("ha-secret", HOI_AN.code), "H41.UBT.001": ("ubt-secret", PROVINCE.code)}
ACCOUNT = LgspAccount("vanthu.admin", "p4ssword", "EOFFICE")
INTEROP = Path(__file__).resolve().parents[1] / "data" / "interop"


@dataclass
class Net:
    url: str
    app: TokenLgspApp
    clock: Clock
    hoi_an: Node
    province: Node
    clients: list[TokenLgspClient]


def client(url: str, system: str, clock: Clock) -> TokenLgspClient:
    return TokenLgspClient(url, system, UNITS[system][0], username=ACCOUNT.username,
                           password=ACCOUNT.password, application_code=ACCOUNT.application_code,
                           timeout=10, clock=clock)


@pytest.fixture
def net(pki: Pki, tmp_path: Path) -> Iterator[Net]:
    clock = Clock(pki.now)
    store = Store.open(sqlite_url(tmp_path / "lgsp.db"), clock=clock)
    app = TokenLgspApp(LGSP, store, [AxisSystem(system, secret, organs=(str(code),))
                                     for system, (secret, code) in UNITS.items()],
                       [ACCOUNT], clock=clock)
    server = Server(app)
    clients = [client(server.url, "H41.HA.001", clock), client(server.url, "H41.UBT.001", clock)]
    hoi_an_credentials = issue_certificate(pki.ca, str(HOI_AN.code), HOI_AN.name, now=pki.now)
    stores = [Store.open(sqlite_url(tmp_path / f"{n}.db"), clock=clock) for n in ("ha", "p")]
    hoi_an = Node(HOI_AN, hoi_an_credentials, pki.trust, stores[0], clients[0], clock=clock)
    province = Node(PROVINCE, pki.province, pki.trust, stores[1], clients[1], clock=clock,
                    axis_trust=TrustPolicy.CHANNEL)
    yield Net(server.url, app, clock, hoi_an, province, clients)
    for item in clients:
        item.close()
    server.close()
    for opened in (*stores, store):
        opened.close()


def test_two_nodes_through_the_lgsp(net: Net) -> None:
    """A signed document up and its signed receipt and 03 back, each through the
    platform; the province's receive loop acknowledges only after storing."""
    envelope = sample_envelope(sender=HOI_AN, recipients=(OrganInfo(PROVINCE.code,
                                                                    PROVINCE.name),))
    ref = net.hoi_an.send(envelope.info, envelope.attachments).document_ref
    assert net.hoi_an.deliver().delivered == 1
    report = net.province.poll_axis()
    assert (report.documents, report.refused) == (1, 0), report.errors
    (received,) = net.province.inbox().items
    assert received.signature == "verified"  # a docflow peer's packet, through a channel
    net.province.accept(received.id)
    net.province.deliver()
    assert net.hoi_an.poll_axis().statuses == 2  # the receipt 01 and the 03
    (copy,) = [d for d in net.hoi_an.store.queries.deliveries(document_ref=ref).items
               if d.kind == "document"]
    assert (copy.transport_state, copy.business_state) == ("acknowledged", "accepted")


def test_the_token_expires_and_the_client_logs_in_again(net: Net) -> None:
    hoi_an = net.clients[0]
    first = hoi_an.token()
    assert hoi_an.received() == []
    net.clock.advance(31 * 60)  # past the platform's 30 minutes and the client's 29
    assert hoi_an.received() == []
    assert hoi_an.token() != first


def _vendor_login(url: str) -> str:
    answer = requests.post(url + "v1/auth/login?allow_anonymous=true", json={
        "username": ACCOUNT.username, "password": ACCOUNT.password,
        "applicationCode": ACCOUNT.application_code, "otp": None,
        "twoFactorProvider": None, "typeObjs": [0, 1]}, timeout=10).json()
    assert answer["code"] == 200, answer
    return str(answer["data"]["token"])


def _vendor_headers(token: str, system: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-SystemId": system,
            "X-SecretKey": UNITS[system][0], "Accept": "application/json"}


def test_requests_as_the_vendor_client_builds_them(net: Net) -> None:
    packet = (INTEROP / "new.edxml").read_bytes()
    token = _vendor_login(net.url)
    sent = requests.post(net.url + "v1/sendEdoc", headers=_vendor_headers(token, "H41.HA.001"),
                         files={"edocFile": ("112_UBND-VP.edxml", packet, "application/xml")},
                         data={"messageType": "edoc"}, timeout=10).json()
    assert sent["success"] is True and sent["data"]["status"] == "OK", sent
    today = net.clock().astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    listed = requests.get(
        net.url + f"v1/syncReceivedEdocList?messageType=edoc&fromDate="
        f"{today - dt.timedelta(days=7):%Y/%m/%d}&toDate={today:%Y/%m/%d}",
        headers=_vendor_headers(token, "H41.UBT.001"), timeout=10).json()
    assert listed["success"] and listed["count"] == 1
    (item,) = listed["data"]
    assert {"serviceType", "createdTime", "updatedTime", "messageType", "docId", "from", "to",
            "status", "statusDesc"} <= set(item)
    assert (item["from"], item["to"]) == (str(HOI_AN.code), str(PROVINCE.code))
    fetched = requests.get(net.url + f"v1/getEdoc?docId={item['docId']}",
                           headers=_vendor_headers(token, "H41.UBT.001"), timeout=10).json()
    assert fetched["success"] and fetched["data"]["edxml"].encode() == packet
    done = requests.post(net.url + "v1/updateStatus",
                         headers={**_vendor_headers(token, "H41.UBT.001"),
                                  "Content-Type": "application/json"},
                         json={"docId": item["docId"], "status": "03"}, timeout=10).json()
    assert done == {"success": True, "message": "OK"}
    agencies = requests.get(net.url + "v1/getAgenciesList",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert agencies["success"] is True  # OrgListResponse: data is the list itself
    assert {row["orgCode"] for row in agencies["data"]} == {
        str(HOI_AN.code), str(PROVINCE.code)}


def test_refusals_store_nothing(net: Net) -> None:
    packet = (INTEROP / "new.edxml").read_bytes()
    token = _vendor_login(net.url)
    cases = {
        "no token": {"X-SystemId": "H41.HA.001", "X-SecretKey": "ha-secret"},
        "wrong secret key": {**_vendor_headers(token, "H41.HA.001"), "X-SecretKey": "nope"},
        "unknown unit": {**_vendor_headers(token, "H41.HA.001"), "X-SystemId": "H41.XX.999"},
        "another unit's packet": _vendor_headers(token, "H41.UBT.001"),
    }
    for name, headers in cases.items():
        answer = requests.post(net.url + "v1/sendEdoc", headers=headers,
                               files={"edocFile": ("x.edxml", packet, "application/xml")},
                               data={"messageType": "edoc"}, timeout=10)
        assert answer.status_code in (400, 401), name
        assert answer.json()["data"]["status"] == "FAIL", name
    uploads = {  # bodies no vendor client sends: refused with a reason, nothing queued
        "no edocFile": {"files": {"other": ("x.edxml", packet, "application/xml")}},
        "not multipart": {"data": packet, "headers": {"Content-Type": "application/xml"}},
        "a broken multipart body": {"data": b"--zz\r\nContent-Disposition: form-data; "
                                    b"name=\"edocFile\"\r\n\r\nabc\r\n--y",
                                    "headers": {"Content-Type": "multipart/form-data; "
                                                "boundary=zz"}},
    }
    for name, request in uploads.items():
        headers = {**_vendor_headers(token, "H41.HA.001"), **request.pop("headers", {})}
        answer = requests.post(net.url + "v1/sendEdoc", headers=headers, timeout=10,
                               **request)
        assert answer.status_code == 400, name
        assert answer.json()["data"]["errorCode"] == "BAD_REQUEST", name
    bad = requests.post(net.url + "v1/auth/login?allow_anonymous=true",
                        json={"username": ACCOUNT.username, "password": "guess",
                              "applicationCode": ACCOUNT.application_code}, timeout=10)
    assert bad.status_code == 401
    assert net.app.store.queries.deliveries().total == 0
    broken = client(net.url, "H41.HA.001", net.clock)
    broken._login.update(password=ACCOUNT.password[::-1])  # a misconfigured node is told
    with pytest.raises(TransportError, match="LGSP"):
        broken.received()
    broken.close()
