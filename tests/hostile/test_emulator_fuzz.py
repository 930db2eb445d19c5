"""Every route of every dialect with parameters and bodies drawn by hypothesis (texts of
any script, numbers past 64 bits, JSON of any shape, broken multipart), from an
authenticated caller: no answer is a 500, and none is a traceback. In process, through
the WSGI application (over HTTP the same values are in tests/hostile/
test_emulator_params.py)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from docflow.emulators import (
    AxisApp,
    AxisSystem,
    LgspAccount,
    TokenLgspApp,
    Wso2App,
    Wso2Consumer,
)
from docflow.envelope import build_envelope
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.transport._vxp import sign_headers

UNITS = [AxisSystem("H41.UBT.001", "ubt-secret", organs=(str(PROVINCE.code),), register=True),
         AxisSystem(str(TAM_KY.code), "tk-secret", register=True)]
PACKET = build_envelope(sample_envelope())
WSO2_BASE = "/truclienthong/v1.0.0/"

texts = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(["", "0", "-1", "9" * 40, "1e309", "NaN", "\u0663\u0664", "1_0", " 7 ",
                     "2026/12/02", "9999/12/31", "0001/01/01", "edoc", "status", "done",
                     str(PROVINCE.code), "000.00.00.G22", "../x", "' OR 1=1 --"]),
    st.integers(-(10 ** 30), 10 ** 30).map(str))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10 ** 30), 10 ** 30),
              st.floats(allow_nan=False, allow_infinity=False), texts),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8)
bodies = st.one_of(st.just(b""), st.just(PACKET), st.binary(max_size=200),
                   json_values.map(lambda value: json.dumps(value).encode()))


def _ok(answer: Any) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.get_data()[:300])
    assert b"Traceback" not in answer.get_data()


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    logging.getLogger("docflow.axis").disabled = True  # refusals are logged; not here
    root: Path = tmp_path_factory.mktemp("fuzz")
    stores = [Store.open(sqlite_url(root / f"{name}.db")) for name in ("v", "t", "w")]
    vdxp = AxisApp("000.00.00.G22", stores[0], [
        UNITS[1], AxisSystem(str(PROVINCE.code), "pv", register=True)])
    token = TokenLgspApp("000.00.00.G22", stores[1], UNITS, [LgspAccount("u", "p", "E")])
    wso2 = Wso2App("000.00.00.G22", stores[2], UNITS, [Wso2Consumer("k", "s")])
    clients = {"vdxp": Client(vdxp), "token": Client(token), "wso2": Client(wso2)}
    login = json.loads(clients["token"].post("/v1/auth/login", json={
        "username": "u", "password": "p", "applicationCode": "E"}).get_data())
    granted = json.loads(clients["wso2"].post("/token", data={
        "grant_type": "client_credentials"}, headers={
        "Authorization": "Basic " + base64.b64encode(b"k:s").decode()}).get_data())
    yield {**clients, "token_headers": {"Authorization": f"Bearer {login['data']['token']}",
                                        "X-SystemId": "H41.UBT.001", "X-SecretKey": "ubt-secret"},
           "wso2_headers": {"Authorization": f"Bearer {granted['access_token']}",
                            "secret": "ubt-secret"}}
    logging.getLogger("docflow.axis").disabled = False
    for store in stores:
        store.close()


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(operation=st.sampled_from([
    "sendEdoc", "getReceivedEdocList", "getEdoc", "downloadEdoc", "updateStatus",
    "getSentEdocList", "countReceiveEdoc", "getAgenciesList", "registerAgency",
    "deleteAgency"]),
       values=st.dictionaries(st.sampled_from([
           "docId", "status", "from", "to", "messagetype", "pageSize", "pageIndex",
           "fromDate", "toDate", "hash-file", "AgencyCode"]), texts, max_size=5),
       body=bodies)
@example(operation="getEdoc", values={"docId": "9" * 40}, body=b"")
@example(operation="getReceivedEdocList", values={"pageIndex": "9" * 40, "fromDate": "9999/12/31"},
         body=b"")
def test_vdxp_routes(apps: dict[str, Any], operation: str, values: dict[str, str],
                     body: bytes) -> None:
    headers = sign_headers(str(PROVINCE.code), "pv", values, now=dt.datetime.now(dt.UTC))
    _ok(apps["vdxp"].post("/" + operation, data=body, headers=headers))


@FUZZ
@given(route=st.sampled_from([("POST", "/v1/sendEdoc"), ("GET", "/v1/syncReceivedEdocList"),
                              ("GET", "/v1/getEdoc"), ("POST", "/v1/updateStatus"),
                              ("POST", "/v1/auth/login"), ("GET", "/v1/getAgenciesList")]),
       query=st.dictionaries(st.sampled_from(["docId", "fromDate", "toDate", "messageType"]),
                             texts, max_size=3),
       form=st.one_of(st.none(), json_values, st.tuples(texts, bodies)),
       authorised=st.booleans())
@example(route=("GET", "/v1/getEdoc"), query={"docId": "9" * 40}, form=None, authorised=True)
@example(route=("POST", "/v1/updateStatus"), query={}, form={"docId": 10 ** 30, "status": "done"},
         authorised=True)
@example(route=("GET", "/v1/syncReceivedEdocList"), query={"toDate": "9999/12/31"}, form=None,
         authorised=True)
def test_token_lgsp_routes(apps: dict[str, Any], route: tuple[str, str],
                           query: dict[str, str], form: Any, authorised: bool) -> None:
    method, path = route
    headers = apps["token_headers"] if authorised else {"Authorization": "Bearer x.y"}
    if isinstance(form, tuple):  # a multipart upload as the vendor client sends one
        kind, packet = form
        answer = apps["token"].open(path, method=method, query_string=query, headers=headers,
                                    data={"messageType": kind,
                                          "edocFile": (io.BytesIO(packet), "a.edxml")})
    else:
        answer = apps["token"].open(path, method=method, query_string=query, headers=headers,
                                    json=form)
    _ok(answer)


@FUZZ
@given(route=st.sampled_from([("GET", "vanbans"), ("POST", "vanbans"), ("GET", "vanbans/{}"),
                              ("PUT", "vanbans/{}"), ("GET", "donvilienthongs"),
                              ("POST", "donvilienthongs"), ("PUT", "donvilienthongs")]),
       segment=texts,
       query=st.dictionaries(st.sampled_from(["status", "agencyCode", "loaiVanBan"]), texts,
                             max_size=3),
       form=st.dictionaries(st.sampled_from(["base64", "loaiVanBan", "code", "name", "pcode"]),
                            texts, max_size=4))
@example(route=("GET", "vanbans/{}"), segment="9" * 40, query={}, form={})
@example(route=("PUT", "vanbans/{}"), segment="9" * 40, query={"status": "DONE"}, form={})
def test_wso2_routes(apps: dict[str, Any], route: tuple[str, str], segment: str,
                     query: dict[str, str], form: dict[str, str]) -> None:
    from urllib.parse import quote

    method, path = route
    url = WSO2_BASE + path.replace("{}", quote(segment, safe="") or "0")
    _ok(apps["wso2"].open(url, method=method, query_string=query,
                          headers=apps["wso2_headers"], data=form))
