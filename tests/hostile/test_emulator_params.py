"""Hostile request parameters through every dialect, over real HTTP on 127.0.0.1, in the
shapes the real clients send them (the VDXP SDK's signed headers, the token LGSP's query
and JSON body, the WSO2 gateway's path): ids past 64 bits, signs, exponents, Unicode
digits, underscores, padding; pages past any offset; days at the ends of the calendar.
Each is a 400 naming the parameter (never a 500), changes nothing, and the platform
answers a good request afterwards. (A 30-digit ``docId`` used to reach SQLite's driver
as an OverflowError: a 500.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from docflow.emulators import (
    AxisApp,
    AxisSystem,
    LgspAccount,
    RefusalError,
    TokenLgspApp,
    Wso2App,
    Wso2Consumer,
)
from docflow.emulators import _params as params
from docflow.model import DEFAULT_TZ
from docflow.samples import PROVINCE
from docflow.store import Store, sqlite_url
from docflow.transport._vxp import sign_headers
from tests.conftest import Pki
from tests.integration.test_soap import Server
from tests.integration.test_vdxp_sdk import Sdk

BAD_IDS = ["99999999999999999999999", "9" * 19, "-1", "-99999999999999999999999", "1e5",
           "0x10", "\u0663", "\uff11", "1_000", " 12 ", "12 ", "1.0", "", "NaN", "١٢"]
BAD_DAYS = ["9999/12/31", "0001/01/01", "1899/12/31", "2026/02/30", "2026/1/1x",
            "99999/01/01", "\u0662\u0660\u0662\u0666/01/01"]
ACCOUNT = LgspAccount("vanthu", "mat-khau-thu", "EOFFICE")
CONSUMER = Wso2Consumer("consumer-key", "consumer-secret")
UNIT, SECRET = "H41.UBT.001", "ubt-secret"
BASE = "truclienthong/v1.0.0/"


@dataclass
class Platform:
    name: str
    store: Store
    #: (operation, docId) -> the HTTP answer, as that dialect's real client asks
    fetch: Callable[[str], requests.Response]
    ack: Callable[[object], requests.Response]
    #: (parameter, value) -> the list call with that parameter
    listing: Callable[[str, str], requests.Response]
    list_params: tuple[str, ...]


def _vdxp(sdk: Sdk, operation: str, values: dict[str, str]) -> requests.Response:
    """A signed call: as the SDK signs it for ASCII values, as docflow's client does for
    the others (Latin-1 headers: JSON escapes on the wire, an ASCII signed JSON)."""
    if all(value.isascii() for value in values.values()):
        headers = sdk.headers(values)
    else:
        headers = sign_headers(sdk.system, sdk.secret, values, now=sdk.built)
    return requests.post(sdk.url + operation, headers=headers, timeout=10)


def _token_login(url: str) -> str:
    answer = requests.post(url + "v1/auth/login?allow_anonymous=true", json={
        "username": ACCOUNT.username, "password": ACCOUNT.password,
        "applicationCode": ACCOUNT.application_code}, timeout=10).json()
    return str(answer["data"]["token"])


@pytest.fixture(params=["vdxp", "lgsp-token", "wso2"])
def platform(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path) -> Iterator[Platform]:
    store = Store.open(sqlite_url(tmp_path / "platform.db"), clock=lambda: pki.now)
    units = [AxisSystem(UNIT, SECRET, organs=(str(PROVINCE.code),))]
    name = request.param
    if name == "vdxp":
        server = Server(AxisApp("000.00.00.G22", store, units, clock=lambda: pki.now))
        sdk = Sdk(server.url, UNIT, SECRET, pki.now)
        found = Platform(
            name, store, lambda doc: _vdxp(sdk, "getEdoc", {"docId": doc}),
            lambda doc: _vdxp(sdk, "updateStatus", {"docId": str(doc), "status": "done"}),
            lambda key, value: _vdxp(sdk, "getReceivedEdocList", {key: value}),
            ("pageIndex", "pageSize", "fromDate", "toDate"))
    elif name == "lgsp-token":
        server = Server(TokenLgspApp("000.00.00.G22", store, units, [ACCOUNT],
                                     clock=lambda: pki.now))
        headers = {"Authorization": f"Bearer {_token_login(server.url)}",
                   "X-SystemId": UNIT, "X-SecretKey": SECRET}
        found = Platform(
            name, store,
            lambda doc: requests.get(server.url + "v1/getEdoc", params={"docId": doc},
                                     headers=headers, timeout=10),
            lambda doc: requests.post(server.url + "v1/updateStatus", headers=headers,
                                      json={"docId": doc, "status": "done"}, timeout=10),
            lambda key, value: requests.get(server.url + "v1/syncReceivedEdocList",
                                            params={key: value}, headers=headers, timeout=10),
            ("fromDate", "toDate"))
    else:
        server = Server(Wso2App("000.00.00.G22", store, units, [CONSUMER],
                                clock=lambda: pki.now))
        token = requests.post(server.url + "token", data={"grant_type": "client_credentials"},
                              auth=(CONSUMER.key, CONSUMER.secret), timeout=10).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "secret": SECRET}
        found = Platform(
            name, store,
            lambda doc: requests.get(server.url + BASE + f"vanbans/{doc}", headers=headers,
                                     timeout=10),
            lambda doc: requests.put(server.url + BASE + f"vanbans/{doc}", headers=headers,
                                     params={"status": "DONE"}, timeout=10),
            lambda key, value: requests.get(server.url + BASE + "vanbans", headers=headers,
                                            params={key: value}, timeout=10),
            ())
    yield found
    server.close()
    store.close()


def _refused(answer: requests.Response) -> None:
    # 400; 401 where a header the SDK signs arrives changed (trailing blanks dropped on
    # the way): refused either way, never a 500
    assert answer.status_code in (400, 401), (answer.status_code, answer.text)
    assert "Traceback" not in answer.text and "internal error" not in answer.text


@pytest.mark.parametrize("doc", BAD_IDS, ids=[repr(value) for value in BAD_IDS])
def test_a_hostile_doc_id_is_a_400(platform: Platform, doc: str) -> None:
    if doc.strip() != doc and platform.name != "lgsp-token":
        pytest.skip("a path segment or a header: a padded id cannot be sent as such")
    if doc == "" and platform.name == "wso2":
        pytest.skip("a path segment: an empty id is another route")
    before = platform.store.audit.verify().entries
    _refused(platform.fetch(doc))
    _refused(platform.ack(doc))
    assert platform.store.audit.verify().entries == before  # nothing written


def test_a_json_number_id_too_large_is_a_400(platform: Platform) -> None:
    if platform.name != "lgsp-token":
        pytest.skip("only the token LGSP takes the docId in a JSON body")
    for doc in (10 ** 30, -5, True, 4.0, None, [1], {"id": 1}):
        _refused(platform.ack(doc))


@pytest.mark.parametrize("value", [*BAD_DAYS, "99999999999999999999", "-1", "1e9"])
def test_hostile_paging_and_days_are_400s(platform: Platform, value: str) -> None:
    """Every hostile value through every paging and day parameter of the dialect's list
    (none is a page number or a day the platform can take)."""
    if not platform.list_params:
        pytest.skip("the WSO2 gateway's list takes no paging or day parameter")
    for key in platform.list_params:
        _refused(platform.listing(key, value))


def test_the_platform_answers_after_hostile_parameters(platform: Platform) -> None:
    for doc in BAD_IDS[:6]:
        platform.fetch(doc)
    # a well-formed id of no packet: a plain 404 (the WSO2 gateway's ids are UUIDs)
    well_formed = "5b8209a7-f5f8-4ada-b766-27c30a2eaf8b" if platform.name == "wso2" \
        else "123456"
    answer = platform.fetch(well_formed)
    assert answer.status_code == 404, answer.text


def test_the_parsers_take_what_real_clients_send() -> None:
    assert params.doc_id("42") == 42 and params.doc_id(42) == 42
    assert params.doc_id("9" * 18) == int("9" * 18)
    assert params.count(None, "pageSize", default=50, low=1, high=1000) == 50
    assert params.count("5000", "pageSize", default=50, low=1, high=1000) == 1000
    assert params.count("0", "pageIndex", default=1, low=1, high=10) == 1
    day = params.day("2026/12/02", "%Y/%m/%d", DEFAULT_TZ, "fromDate")
    assert day == dt.datetime(2026, 12, 2, tzinfo=DEFAULT_TZ)
    with pytest.raises(RefusalError, match="docId"):
        params.doc_id(4.0)
