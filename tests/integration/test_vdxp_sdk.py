"""The VDXP emulator against requests built byte for byte as the axis's official Java SDK
builds them (EDXML.md, "What the official Java SDK really sends"): a system id that is
not an organ code, prefixed keys in the signed JSON, the SDK's local-time timestamp fixed
when its object was built, an unpadded hash-file over the packet with CRLF appended, no
`to` header, unsigned extra headers, agency calls with JSON bodies. Over real HTTP on
127.0.0.1; a docflow node then polls the packet as a channel and stores it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from docflow.emulators import AxisApp, AxisSystem, sdk_timestamp
from docflow.errors import TransportError
from docflow.node import Node
from docflow.samples import PROVINCE
from docflow.security import TrustPolicy
from docflow.store import Store, sqlite_url
from docflow.transport import VxpClient
from tests.conftest import Pki
from tests.integration.test_soap import Server

AXIS = "000.00.00.G22"
SECRETS = {"vxp.saas.03": "sdk-s3cret", str(PROVINCE.code): "province-s3cret"}
SDK_SYSTEM, SDK_ORGAN = "vxp.saas.03", "000.00.07.H41"
SDK_SECRET, PROVINCE_SECRET = SECRETS[SDK_SYSTEM], SECRETS[str(PROVINCE.code)]
INTEROP = Path(__file__).resolve().parents[1] / "data" / "interop"


@dataclass
class Sdk:
    """What an SDK object holds: its system, secret, and the timestamp it was built at."""

    url: str
    system: str
    secret: str
    built: dt.datetime

    def headers(self, params: dict[str, str], content_type: str | None = None) -> dict[str, str]:
        signed = {"systemid": self.system, "timestamp": sdk_timestamp(self.built), **params}
        keys = list(signed)
        document = {f"XroadVnpt-{key}": value for key, value in signed.items()}
        if content_type is not None:
            keys.append("Content-Type")
            document["Content-Type"] = content_type
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        headers = {f"XroadVnpt-{key}": value for key, value in signed.items()}
        headers.update({
            "XroadVnpt-sign-header-key": ";".join(keys),
            "XroadVnpt-sign-header": text,
            "XroadVnpt-hash-header": hmac.new(self.secret.encode(), text.encode(),
                                              hashlib.sha256).hexdigest(),
            "XroadVnpt-version": "3.0.201608",  # unsigned, as the SDK sends it
            "User-Agent": "JAVASDKAgent/1.0.0 XRoad/VPCP",
        })
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers

    def post(self, operation: str, params: dict[str, str], body: bytes = b"", *,
             content_type: str | None = None, extra: dict[str, str] | None = None
             ) -> requests.Response:
        headers = self.headers(params, content_type)
        headers.update(extra or {})
        return requests.post(self.url + operation, data=body, headers=headers, timeout=10)


def unpadded(data: bytes) -> str:
    """The SDK's hex: each byte without its leading zero."""
    return "".join(format(byte, "x") for byte in hashlib.sha256(data).digest())


@dataclass
class Net:
    url: str
    axis: AxisApp
    province: Node
    sdk: Sdk


@pytest.fixture
def net(pki: Pki, tmp_path: Path) -> Iterator[Net]:
    clock = lambda: pki.now  # noqa: E731
    store = Store.open(sqlite_url(tmp_path / "axis.db"), clock=clock)
    axis = AxisApp(AXIS, store, [
        AxisSystem(SDK_SYSTEM, SDK_SECRET, name="Hội An (SaaS 03)", organs=(SDK_ORGAN,),
                   register=True),
        AxisSystem(str(PROVINCE.code), PROVINCE_SECRET)], clock=clock)
    server = Server(axis)
    node_store = Store.open(sqlite_url(tmp_path / "province.db"), clock=clock)
    client = VxpClient(server.url, str(PROVINCE.code), PROVINCE_SECRET, timeout=10,
                       clock=clock)
    province = Node(PROVINCE, pki.province, pki.trust, node_store, client, clock=clock,
                    axis_trust=TrustPolicy.CHANNEL)
    # The SDK object was built two hours ago: its timestamp has not moved since.
    sdk = Sdk(server.url, SDK_SYSTEM, SDK_SECRET, pki.now - dt.timedelta(hours=2))
    yield Net(server.url, axis, province, sdk)
    client.close()
    server.close()
    node_store.close()
    store.close()


def send_params(packet: bytes) -> dict[str, str]:
    return {"from": SDK_ORGAN, "servicetype": "edoc", "messagetype": "edoc",
            "hash-file": unpadded(packet)}


def test_the_sdk_sends_a_packet_and_a_channel_node_receives_it(net: Net) -> None:
    packet = (INTEROP / "new.edxml").read_bytes()
    answer = net.sdk.post("sendEdoc", send_params(packet), packet + b"\r\n",
                          content_type="application/octet-stream")
    body = answer.json()
    assert (answer.status_code, body["status"], body["ErrorCode"]) == (200, "OK", "0"), body
    assert body["DocId"]  # the SDK reads it from every answer
    report = net.province.poll_axis()
    assert (report.documents, report.refused) == (1, 0), report.errors
    (document,) = net.province.inbox().items
    assert (document.sender, document.signature) == (SDK_ORGAN, "unverifiable")
    # The SDK rebuilds the packet for a retry: the same document, not a replay.
    again = packet.replace(b"2026/11/20 08:30:00", b"2026/11/20 08:31:07")
    retry = net.sdk.post("sendEdoc", send_params(again), again + b"\r\n",
                         content_type="application/octet-stream").json()
    assert retry["status"] == "OK", retry
    assert net.province.poll_axis().refused == 0
    assert net.province.inbox().total == 1


def test_docflow_sends_under_a_system_id_that_is_not_an_organ_code(net: Net, pki: Pki) -> None:
    """A SaaS system id (``vxp.saas.03``) authenticates; ``from`` is the organ's code."""
    packet = (INTEROP / "new.edxml").read_bytes()
    anonymous = VxpClient(net.url, SDK_SYSTEM, SDK_SECRET, timeout=10)
    assert anonymous.organ is None
    with pytest.raises(TransportError, match="not an organ code") as refused:
        anonymous.send_edoc(packet, to=[PROVINCE.code])
    assert "organ=" in str(refused.value)
    anonymous.close()
    assert net.province.poll_axis().documents == 0  # nothing reached the axis
    client = VxpClient(net.url, SDK_SYSTEM, SDK_SECRET, timeout=10, organ=SDK_ORGAN,
                       clock=lambda: pki.now)
    try:
        assert client.send_edoc(packet, to=[PROVINCE.code])
        (sent,) = client.sent()
        assert sent.to == str(PROVINCE.code)
    finally:
        client.close()
    assert net.province.poll_axis().documents == 1
    (document,) = net.province.inbox().items
    assert document.sender == SDK_ORGAN
    with pytest.raises(TransportError, match="printable ASCII"):
        VxpClient(net.url, "vxp saas\n03", SDK_SECRET)


def test_lists_and_fetches_as_the_sdk_reads_them(net: Net) -> None:
    """The province's documents and agency list, with the fields the SDK reads."""
    packet = (INTEROP / "new.edxml").read_bytes()
    assert net.sdk.post("sendEdoc", send_params(packet), packet + b"\r\n",
                        content_type="application/octet-stream").json()["status"] == "OK"
    province = Sdk(net.url, str(PROVINCE.code), PROVINCE_SECRET, net.sdk.built)
    listed = province.post("getReceivedEdocList", {"messagetype": "edoc"}).json()
    (item,) = listed["data"]
    assert {"docId", "from", "to", "serviceType", "updated_time", "status_desc",
            "created_time", "messageType", "status"} <= set(item)
    fetched = province.post("getEdoc", {"docId": item["docId"]},
                            extra={"filePath": "D:/VanBan/inbox/x.edxml"}).json()
    assert fetched["status"] == "OK" and fetched["DocId"] == item["docId"]
    raw = requests.get(net.url + "downloadEdoc", headers=province.headers(
        {"docId": item["docId"]}), timeout=10)
    assert raw.status_code == 200 and raw.content == packet
    sent = net.sdk.post("getSentEdocList", {}).json()["data"]
    assert {"serviceType", "title", "messageType", "notation", "receivedTime", "sentTime",
            "sendStatusDesc", "fromCode", "receiveStatusDesc"} <= set(sent[0])
    for operation in ("getAgenciesList", "getAgenciesListQD20", "getSynchronizeUnit"):
        agencies = net.sdk.post(operation, {}).json()["data"]
        codes = {agency["code"]: agency for agency in agencies}
        assert SDK_ORGAN in codes and {"id", "pid", "code", "name", "mail", "oldCode"} <= set(
            codes[SDK_ORGAN])


def test_agencies_from_json_bodies(net: Net) -> None:
    ward = {"code": "000.05.07.H41", "pcode": SDK_ORGAN, "name": "UBND phường Minh An",
            "mail": "minhan@hoian.example.vn"}
    body = json.dumps(ward, ensure_ascii=False).encode()
    registered = net.sdk.post("registerAgency", {}, body, content_type="application/json")
    assert registered.json()["status"] == "OK", registered.json()
    agencies = {a["code"]: a for a in net.sdk.post("getAgenciesList", {}).json()["data"]}
    assert agencies["000.05.07.H41"]["pid"] == agencies[SDK_ORGAN]["id"]
    deleted = net.sdk.post("deleteAgency", {"AgencyCode": "000.05.07.H41"})
    assert deleted.json()["status"] == "OK", deleted.json()
    assert "000.05.07.H41" not in {a["code"] for a in net.sdk.post(
        "getAgenciesList", {}).json()["data"]}


def test_strict_where_the_real_axis_is(net: Net) -> None:
    """Wrong secret, unknown system, a hash of other bytes, a stale timestamp: the
    axis's error (with a DocId, empty), nothing queued."""
    packet = (INTEROP / "new.edxml").read_bytes()
    cases = {
        "AUTH_BAD_SIGNATURE": Sdk(net.url, SDK_SYSTEM, "wrong", net.sdk.built),
        "AUTH_UNKNOWN_SYSTEM": Sdk(net.url, "vxp.saas.99", SDK_SECRET, net.sdk.built),
        "AUTH_STALE": Sdk(net.url, SDK_SYSTEM, SDK_SECRET,
                          net.sdk.built - dt.timedelta(days=2)),
    }
    for code, sdk in cases.items():
        answer = sdk.post("sendEdoc", send_params(packet), packet + b"\r\n",
                          content_type="application/octet-stream").json()
        assert (answer["status"], answer["ErrorCode"], answer["DocId"]) == ("FAIL", code, "")
    other = net.sdk.post("sendEdoc", send_params(b"other bytes"), packet + b"\r\n",
                         content_type="application/octet-stream").json()
    assert (other["ErrorCode"], other["DocId"]) == ("HASH_MISMATCH", "")
    assert net.axis.store.queries.deliveries().total == 0
