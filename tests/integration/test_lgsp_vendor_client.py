"""The token-login LGSP emulator against its real vendor client, request for request as
that client builds them and each answer read as its source reads it (its response types
`LoginResponse`, `SendEdocResponse`, `ReceivedEdocsResponse`, `GetEdocResponse`,
`OrgListResponse` are the contract; `../shared/EDXML.md`, "Provincial LGSP dialects").

Two generations of the client: the current one (`/api/lgspedoc/...`: the token, system
id and secret key in a JSON body or the query, the packet as text) and the documented
`/v1/` API (`Authorization: Bearer`, `X-SystemId`, `X-SecretKey`, multipart upload). Each
reader below is the client's own test of an answer, written out in Python: a send it
reads as failed, or an organisation list it reads as empty, fails the test."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from docflow.emulators import AxisSystem, LgspAccount, TokenLgspApp
from docflow.envelope import build_envelope
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.transport import TokenLgspClient
from tests.conftest import Clock, Pki
from tests.integration.test_soap import Server

UNITS = [AxisSystem("LS.UBND.01", "ls-secret-key", "UBND tỉnh", organs=(str(PROVINCE.code),)),
         AxisSystem("LS.TK.01", "tk-secret-key", "UBND Tam Kỳ", organs=(str(TAM_KY.code),))]
# LGSP_USERNAME / LGSP_PASSWORD / LGSP_APPLICATION_CODE of the two ends' deployments
SENDER = LgspAccount("vanthu.ubnd", "p@ss-ubnd", "EOFFICE", system_id="LS.UBND.01")
RECEIVER = LgspAccount("vanthu.tamky", "p@ss-tk", "EOFFICE", system_id="LS.TK.01")


@dataclass
class Lgsp:
    endpoint: str  # LGSP_ENDPOINT, without the trailing slash (the client strips it)
    app: TokenLgspApp
    clock: Clock


@pytest.fixture
def lgsp(pki: Pki, tmp_path: Path) -> Iterator[Lgsp]:
    clock = Clock(pki.now)
    store = Store.open(sqlite_url(tmp_path / "lgsp.db"), clock=clock)
    app = TokenLgspApp("000.00.90.H41", store, UNITS, [SENDER, RECEIVER], clock=clock)
    server = Server(app)
    yield Lgsp(server.url.rstrip("/"), app, clock)
    server.close()
    store.close()


def _fetch_json(url: str, **init: Any) -> dict[str, Any]:
    """`fetchJson`: throws on !res.ok, then `JSON.parse(text)`."""
    response = requests.request(init.pop("method", "GET"), url, timeout=30, **init)
    assert response.ok, f"LGSP HTTP {response.status_code}: {response.text[:300]}"
    parsed: dict[str, Any] = json.loads(response.text)
    return parsed


# ----------------------------------------------------------- the current client


def _get_token(lgsp: Lgsp, account: LgspAccount) -> str:
    """`getToken`: POST {username, password, applicationCode}; `!res.success ||
    !res.token` is a failed login."""
    res = _fetch_json(f"{lgsp.endpoint}/api/lgspedoc/login", method="POST",
                      headers={"Content-Type": "application/json"},
                      data=json.dumps({"username": account.username,
                                       "password": account.password,
                                       "applicationCode": account.application_code}))
    assert res["success"] and res["token"], f"LGSP login failed: {res.get('message')}"
    return str(res["token"])


def _send_document(lgsp: Lgsp, account: LgspAccount, edxml: str,
                   dest: str) -> dict[str, Any]:
    """`sendDocument`: its LgspSendResult (success, lgsp_doc_id, message)."""
    token = _get_token(lgsp, account)
    unit = next(u for u in UNITS if u.system_id == account.system_id)
    res = _fetch_json(f"{lgsp.endpoint}/api/lgspedoc/send-edoc", method="POST",
                      headers={"Content-Type": "application/json"},
                      data=json.dumps({"token": token, "edocContent": edxml,
                                       "messageType": "edoc", "systemId": unit.system_id,
                                       "secretKey": unit.secret, "destOrgCode": dest},
                                      ensure_ascii=False).encode())
    return {"success": bool(res.get("success")),
            "lgsp_doc_id": res.get("docId") or (res.get("data") or {}).get("docId") or "",
            "message": res.get("message") or (res.get("data") or {}).get("errorDesc")
            or "unknown"}


def _receive_documents(lgsp: Lgsp, account: LgspAccount) -> list[dict[str, Any]]:
    """`receiveDocuments`: the last 7 days (UTC dates, `toISOString().slice(0, 10)`),
    the items whose status is 'initial', each fetched with `getDocumentDetail`."""
    token = _get_token(lgsp, account)
    unit = next(u for u in UNITS if u.system_id == account.system_id)
    today = lgsp.clock().astimezone(dt.UTC)
    from_date = (today - dt.timedelta(days=7)).strftime("%Y-%m-%d")
    url = (f"{lgsp.endpoint}/api/lgspedoc/received-edocs?token={quote(token, safe='')}"
           f"&messageType=edoc&fromDate={from_date}&toDate={today:%Y-%m-%d}"
           f"&systemId={quote(unit.system_id, safe='')}&secretKey={quote(unit.secret, safe='')}")
    res = _fetch_json(url)
    if not res.get("success") or not isinstance(res.get("data"), list):
        return []
    initial = [d for d in res["data"] if d["status"] == "initial"]
    detailed = [_get_document_detail(lgsp, token, d["docId"]) for d in initial]
    return [d for d in detailed if d is not None]


def _get_document_detail(lgsp: Lgsp, token: str, doc_id: str) -> dict[str, Any] | None:
    url = (f"{lgsp.endpoint}/api/lgspedoc/get-edoc?token={quote(token, safe='')}"
           f"&docId={quote(doc_id, safe='')}")
    try:
        res = _fetch_json(url)
    except AssertionError:
        return None  # the client's catch
    if not res.get("success") or not res.get("data"):
        return None
    data = res["data"]
    return {"lgsp_doc_id": data["docId"], "doc_code": data.get("edocCode") or "",
            "doc_abstract": data.get("edocAbstract") or "",
            "sender_org_code": data.get("from") or "", "edxml_content": data.get("edxml") or ""}


def _sync_organizations(lgsp: Lgsp, account: LgspAccount) -> list[dict[str, Any]]:
    token = _get_token(lgsp, account)
    res = _fetch_json(f"{lgsp.endpoint}/api/lgspedoc/organizations?token="
                      f"{quote(token, safe='')}")
    if not res.get("success") or not isinstance(res.get("data"), list):
        return []
    return [{"org_code": o["orgCode"], "org_name": o["orgName"],
             "parent_code": o.get("parentCode") or None, "email": o.get("email") or None}
            for o in res["data"]]


def test_the_current_client_sends_receives_and_syncs(lgsp: Lgsp) -> None:
    edxml = build_envelope(sample_envelope()).decode("utf-8")
    sent = _send_document(lgsp, SENDER, edxml, str(TAM_KY.code))
    assert sent["success"] is True and sent["lgsp_doc_id"], sent  # not "every send failed"
    (received,) = _receive_documents(lgsp, RECEIVER)
    assert received["edxml_content"] == edxml
    assert (received["sender_org_code"], received["lgsp_doc_id"]) == (
        str(PROVINCE.code), sent["lgsp_doc_id"])
    assert received["doc_code"] == "4512/QĐ-UBND" and received["doc_abstract"]
    organisations = {o["org_code"]: o for o in _sync_organizations(lgsp, SENDER)}
    assert set(organisations) == {str(PROVINCE.code), str(TAM_KY.code)}  # not "none"
    assert organisations[str(TAM_KY.code)]["org_name"] == "UBND Tam Kỳ"
    assert _receive_documents(lgsp, SENDER) == []  # nothing for the sender


def test_the_current_client_reads_refusals_as_failures(lgsp: Lgsp) -> None:
    """A wrong secret key: HTTP 401, which the client's fetchJson throws on; a packet not
    from the unit: the same; nothing queued."""
    edxml = build_envelope(sample_envelope(sender=TAM_KY, recipients=(PROVINCE,)))
    with pytest.raises(AssertionError, match="LGSP HTTP 4"):
        _send_document(lgsp, SENDER, edxml.decode(), str(PROVINCE.code))
    assert lgsp.app.store.queries.deliveries().total == 0
    wrong = requests.post(f"{lgsp.endpoint}/api/lgspedoc/login", timeout=10, json={
        "username": SENDER.username, "password": "wrong", "applicationCode": "EOFFICE"})
    assert wrong.status_code == 401 and wrong.json()["success"] is False


# -------------------------------------------------------- the documented /v1/ API


def test_the_v1_answers_carry_what_the_client_reads(lgsp: Lgsp) -> None:
    """Login: `data.token` or a root `token`; sendEdoc: `success` and `docId` at the root
    or in `data`; getAgenciesList: `data` as a list of `{orgCode, orgName, parentCode,
    address, email, phone}`."""
    login = _fetch_json(f"{lgsp.endpoint}/v1/auth/login?allow_anonymous=true", method="POST",
                        json={"username": SENDER.username, "password": SENDER.password,
                              "applicationCode": SENDER.application_code, "otp": None,
                              "twoFactorProvider": None, "typeObjs": [0, 1]})
    assert login["success"] is True and login["token"] == login["data"]["token"]
    headers = {"Authorization": f"Bearer {login['token']}", "X-SystemId": "LS.UBND.01",
               "X-SecretKey": "ls-secret-key"}
    packet = build_envelope(sample_envelope())
    sent = _fetch_json(f"{lgsp.endpoint}/v1/sendEdoc", method="POST", headers=headers,
                       files={"edocFile": ("4512.edxml", packet, "application/xml")},
                       data={"messageType": "edoc"})
    assert sent["success"] is True and (sent.get("docId") or sent["data"]["docId"])
    organisations = _fetch_json(f"{lgsp.endpoint}/v1/getAgenciesList",
                                headers={"Authorization": headers["Authorization"]})
    assert organisations["success"] is True and isinstance(organisations["data"], list)
    assert {"orgCode", "orgName", "parentCode", "address", "email", "phone"} <= set(
        organisations["data"][0])


def test_docflows_client_reads_both_shapes(lgsp: Lgsp) -> None:
    client = TokenLgspClient(lgsp.endpoint, "LS.UBND.01", "ls-secret-key",
                             username=SENDER.username, password=SENDER.password,
                             application_code=SENDER.application_code, timeout=10,
                             clock=lgsp.clock)
    try:
        assert client.send_edoc(build_envelope(sample_envelope()))
        codes = {row.code: row for row in client.agencies()}
        assert codes[str(TAM_KY.code)].name == "UBND Tam Kỳ"
    finally:
        client.close()
