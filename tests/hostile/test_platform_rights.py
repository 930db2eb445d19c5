"""The second attack run against the emulators' rights (issue 25, items 1-4, 11, 12), each
attack as the attacker sent it, over HTTP on 127.0.0.1, in every dialect it applies to:

1-2. a unit registering another unit's organ under itself (then listing, fetching and
     acknowledging its mail), or deleting it;
3.   a captured signed VDXP request replayed to another operation or again;
4.   a relaying LGSP sending packets "From" organs it does not serve;
11.  nested JSON and lone surrogates that were 500s with tracebacks;
12.  costs that grew with what a stranger registered (per-system limits, /health, sync).

Each refusal changes nothing: the victim still gets its mail, nothing is queued."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from docflow import agencies as agencies_list
from docflow.emulators import (
    AxisApp,
    AxisSystem,
    LgspAccount,
    TokenLgspApp,
    Wso2App,
    Wso2Consumer,
    sdk_timestamp,
)
from docflow.envelope import build_envelope
from docflow.model import OrganCode, OrganInfo
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.transport._vxp import sign_headers
from tests.conftest import Clock, Pki
from tests.integration.test_soap import Server

AXIS = "000.00.00.G22"
VICTIM, ATTACKER = TAM_KY, OrganInfo(OrganCode("000.00.05.H41"), "UBND huyện Đại Lộc")
DA_NANG_UNIT = OrganInfo(OrganCode("000.00.01.H43"), "Sở Nội vụ Đà Nẵng")
RELAY_H43 = "000.00.90.H43"
SECRETS = {"victim": "victim-secret", "attacker": "attacker-secret",
           "province": "province-secret", "relay": "relay-secret"}
SYSTEMS = [
    AxisSystem("victim", SECRETS["victim"], organs=(str(VICTIM.code),), register=True),
    AxisSystem("attacker", SECRETS["attacker"], organs=(str(ATTACKER.code),), register=True,
               max_agencies=3),
    AxisSystem("province", SECRETS["province"], organs=(str(PROVINCE.code),)),
    # Đà Nẵng's LGSP relays for Đà Nẵng's organs (and, as an attacker, tries Quảng Nam's).
    AxisSystem("relay", SECRETS["relay"], organs=(RELAY_H43,), relay=True,
               serves=("*.*.*.H43",), register=True),
]
ACCOUNT = LgspAccount("vanthu", "mat-khau", "EOFFICE")
CONSUMER = Wso2Consumer("key", "consumer-secret")


@dataclass
class Platform:
    dialect: str
    url: str
    app: Any
    clock: Clock

    # ---------------------------------------------------------------- each dialect's calls

    def vdxp(self, system: str, operation: str, params: dict[str, str], body: bytes = b"",
             *, headers: dict[str, str] | None = None) -> requests.Response:
        signed = headers or sign_headers(system, SECRETS[system], params, now=self.clock())
        return requests.post(self.url + operation, data=body, headers=signed, timeout=10)

    def token(self) -> str:
        login = requests.post(self.url + "v1/auth/login?allow_anonymous=true", json={
            "username": ACCOUNT.username, "password": ACCOUNT.password,
            "applicationCode": ACCOUNT.application_code}, timeout=10).json()
        return str(login["data"]["token"])

    def lgsp_headers(self, system: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}", "X-SystemId": system,
                "X-SecretKey": SECRETS[system]}

    def wso2_headers(self, system: str) -> dict[str, str]:
        granted = requests.post(self.url + "token", data={"grant_type": "client_credentials"},
                                auth=(CONSUMER.key, CONSUMER.secret), timeout=10).json()
        return {"Authorization": f"Bearer {granted['access_token']}",
                "secret": SECRETS[system]}

    def send(self, system: str, packet: bytes) -> requests.Response:
        """``system`` sends ``packet`` as its dialect's real client does."""
        if self.dialect == "vdxp":
            return self.vdxp(system, "sendEdoc", {
                "from": _sender(packet), "servicetype": "edoc", "messagetype": "edoc",
                "hash-file": hashlib.sha256(packet).hexdigest()}, packet)
        if self.dialect == "lgsp-token":
            return requests.post(self.url + "v1/sendEdoc", headers=self.lgsp_headers(system),
                                 files={"edocFile": ("a.edxml", packet, "application/xml")},
                                 data={"messageType": "edoc"}, timeout=10)
        return requests.post(self.url + "truclienthong/v1.0.0/vanbans",
                             headers=self.wso2_headers(system), timeout=10,
                             data={"base64": base64.b64encode(packet).decode(),
                                   "loaiVanBan": "edoc"})

    def waiting(self, system: str) -> list[str]:
        """What ``system`` lists as waiting for it (the recipients of the copies)."""
        if self.dialect == "vdxp":
            answer = self.vdxp(system, "getReceivedEdocList", {"messagetype": "edoc"}).json()
            return [item["to"] for item in answer["data"]]
        if self.dialect == "lgsp-token":
            answer = requests.get(self.url + "v1/syncReceivedEdocList", timeout=10,
                                  headers=self.lgsp_headers(system)).json()
            return [item["to"] for item in answer["data"]]
        answer = requests.get(self.url + "truclienthong/v1.0.0/vanbans", timeout=10,
                              headers=self.wso2_headers(system)).json()
        return [item["to"] for item in answer["data"]]

    def register(self, system: str, code: str, pcode: str) -> requests.Response:
        if self.dialect == "vdxp":
            return self.vdxp(system, "registerAgency", {"code": code, "pcode": pcode,
                                                        "name": "Chiếm quyền", "mail": ""})
        return requests.post(self.url + "truclienthong/v1.0.0/donvilienthongs",
                             headers=self.wso2_headers(system), timeout=10,
                             json={"code": code, "pcode": pcode, "name": "Chiếm quyền",
                                   "email": ""})

    def unregister(self, system: str, code: str) -> requests.Response:
        if self.dialect == "vdxp":
            return self.vdxp(system, "deleteAgency", {"AgencyCode": code})
        return requests.put(self.url + "truclienthong/v1.0.0/donvilienthongs",
                            headers=self.wso2_headers(system), params={"agencyCode": code},
                            timeout=10)

    def registered(self) -> dict[str, str]:
        """Each registered organ and the system holding it."""
        return {agency.code: agency.owner for agency in self.app.queue.agencies()}

    def queued(self) -> int:
        return int(self.app.store.queries.deliveries().total)


def _sender(packet: bytes) -> str:
    start = packet.index(b"<edXML:OrganId>") + len(b"<edXML:OrganId>")
    return packet[start:packet.index(b"<", start)].decode()


def _packet(sender: OrganInfo, number: str = "4512") -> bytes:
    return build_envelope(sample_envelope(sender=sender, recipients=(PROVINCE,), number=number,
                                          message_id=f"m-{sender.code}-{number}"))


@contextlib.contextmanager
def _platform(dialect: str, pki: Pki, tmp_path: Path) -> Iterator[Platform]:
    clock = Clock(pki.now)
    store = Store.open(sqlite_url(tmp_path / f"{dialect}.db"), clock=clock)
    app: Any
    if dialect == "vdxp":
        app = AxisApp(AXIS, store, SYSTEMS, clock=clock)
    elif dialect == "lgsp-token":
        app = TokenLgspApp(AXIS, store, SYSTEMS, [ACCOUNT], clock=clock)
    else:
        app = Wso2App(AXIS, store, SYSTEMS, [CONSUMER], clock=clock)
    server = Server(app)
    yield Platform(dialect, server.url, app, clock)
    server.close()
    store.close()


@pytest.fixture(params=["vdxp", "lgsp-token", "wso2"])
def platform(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path) -> Iterator[Platform]:
    with _platform(request.param, pki, tmp_path) as made:
        yield made


@pytest.fixture(params=["vdxp", "wso2"])
def registering(request: pytest.FixtureRequest, pki: Pki,
                tmp_path: Path) -> Iterator[Platform]:
    """The dialects with registration calls."""
    with _platform(request.param, pki, tmp_path) as made:
        yield made


@pytest.fixture
def vdxp(pki: Pki, tmp_path: Path) -> Iterator[Platform]:
    with _platform("vdxp", pki, tmp_path) as made:
        yield made


# ------------------------------------------------------------------- 1-2: registrations


def test_a_unit_cannot_take_over_another_units_organ(registering: Platform) -> None:
    """The attacker registers the victim's organ under itself: refused; the victim's mail
    still waits for the victim alone."""
    before = registering.registered()
    answer = registering.register("attacker", str(VICTIM.code), str(ATTACKER.code))
    assert answer.status_code == 403 and "NOT_SERVED" in answer.text, answer.text
    # A relay whose patterns cover the organ still cannot take it from its holder.
    widened = dataclasses.replace(SYSTEMS[3], serves=("*.*.*.H41",))
    systems = (registering.app.systems if registering.dialect == "vdxp"
               else registering.app.units)
    key = "relay" if registering.dialect == "vdxp" else SECRETS["relay"]
    systems[key] = widened
    taken = registering.register("relay", str(VICTIM.code), RELAY_H43)
    assert taken.status_code == 409 and "ALREADY_REGISTERED" in taken.text, taken.text
    assert registering.registered() == before
    packet = build_envelope(sample_envelope(recipients=(VICTIM,), message_id="to-the-victim"))
    assert registering.send("province", packet).status_code == 200
    assert registering.waiting("attacker") == [] and registering.waiting("relay") == []
    assert registering.waiting("victim") == [str(VICTIM.code)]


def test_a_unit_cannot_delete_another_units_organ(registering: Platform) -> None:
    before = registering.registered()
    answer = registering.unregister("attacker", str(VICTIM.code))
    assert answer.status_code == 403 and "NOT_OWNER" in answer.text, answer.text
    assert registering.registered() == before
    packet = build_envelope(sample_envelope(recipients=(VICTIM,), message_id="still-known"))
    assert registering.send("province", packet).status_code == 200  # not UNKNOWN_ORGAN
    assert registering.waiting("victim") == [str(VICTIM.code)]


def test_registering_needs_the_operators_grant(registering: Platform) -> None:
    """The province has no ``register`` right: it may not register even its own units."""
    answer = registering.register("province", "000.00.31.H41", str(PROVINCE.code))
    assert answer.status_code == 403 and "FORBIDDEN" in answer.text, answer.text
    assert "000.00.31.H41" not in registering.registered()


def test_a_unit_registers_and_deletes_its_own(registering: Platform) -> None:
    ward = "000.07.05.H41"  # below the attacker's district by code
    assert registering.register("attacker", ward, str(ATTACKER.code)).status_code == 200
    assert registering.registered()[ward] == "attacker"
    assert registering.unregister("victim", ward).status_code == 403
    assert registering.unregister("attacker", ward).status_code == 200
    assert ward not in registering.registered()


# ------------------------------------------------------------------------ 3: replays


def test_a_captured_count_request_replayed_to_delete_agency(vdxp: Platform) -> None:
    """The victim's signed countReceiveEdoc (only systemid and timestamp signed), sent to
    /deleteAgency with a JSON body naming the victim: refused, the victim stays."""
    captured = sign_headers("victim", SECRETS["victim"], {}, now=vdxp.clock())
    assert requests.get(vdxp.url + "countReceiveEdoc", headers=captured,
                        timeout=10).json()["status"] == "OK"
    body = json.dumps({"AgencyCode": str(VICTIM.code)}).encode()
    replayed = requests.post(vdxp.url + "deleteAgency", data=body, timeout=10,
                             headers={**captured, "Content-Type": "application/json"})
    assert replayed.status_code == 401 and "AUTH_OPERATION" in replayed.text, replayed.text
    again = requests.post(vdxp.url + "registerAgency", data=json.dumps(
        {"code": "000.09.01.H41", "pcode": str(VICTIM.code)}).encode(), timeout=10,
        headers={**captured, "Content-Type": "application/json"})
    assert again.status_code == 401 and "AUTH_OPERATION" in again.text, again.text
    assert str(VICTIM.code) in vdxp.registered() and "000.09.01.H41" not in vdxp.registered()


def test_a_changing_request_is_taken_once(vdxp: Platform) -> None:
    """A signed deleteAgency, registerAgency or updateStatus fail sent again within the
    window: the second is refused (409 REPLAYED) and changes nothing."""
    ward = "000.07.05.H41"
    register = sign_headers("attacker", SECRETS["attacker"], {"code": ward, "pcode": ""},
                            now=vdxp.clock())
    assert vdxp.vdxp("attacker", "registerAgency", {}, headers=register).status_code == 200
    delete = sign_headers("attacker", SECRETS["attacker"], {"AgencyCode": ward},
                          now=vdxp.clock() + dt.timedelta(milliseconds=1))
    assert vdxp.vdxp("attacker", "deleteAgency", {}, headers=delete).status_code == 200
    replayed = vdxp.vdxp("attacker", "registerAgency", {}, headers=register)
    assert replayed.status_code == 409 and "REPLAYED" in replayed.text
    assert ward not in vdxp.registered()
    # A fail counted twice would dead-letter a copy: the replay is refused.
    packet = build_envelope(sample_envelope(recipients=(VICTIM,), message_id="to-fail"))
    assert vdxp.send("province", packet).status_code == 200
    doc_id = vdxp.vdxp("victim", "getReceivedEdocList", {"messagetype": "edoc"}).json()[
        "data"][0]["docId"]
    fail = sign_headers("victim", SECRETS["victim"], {"docId": doc_id, "status": "fail"},
                        now=vdxp.clock())
    assert vdxp.vdxp("victim", "updateStatus", {}, headers=fail).status_code == 200
    assert vdxp.vdxp("victim", "updateStatus", {}, headers=fail).status_code == 409
    (copy,) = vdxp.app.store.queries.deliveries(kind="document").items
    assert copy.attempts == 1


def test_the_sdks_fixed_timestamp_is_bound_to_operation_and_body(vdxp: Platform,
                                                                 pki: Pki) -> None:
    """The SDK's timestamp is fixed when its object is built, so its headers repeat: a
    registerAgency with the same signed headers and another body is a new request (the
    SDK does not sign the body: what it registers is bounded by the caller's rights), the
    same body again is a replay."""
    built = sdk_timestamp(pki.now - dt.timedelta(hours=1))

    def sdk(params: dict[str, str]) -> dict[str, str]:
        signed = {"systemid": "attacker", "timestamp": built, **params}
        document = {f"XroadVnpt-{k}": v for k, v in signed.items()}
        document["Content-Type"] = "application/json"
        text = json.dumps(document, separators=(",", ":"))
        return {**{f"XroadVnpt-{k}": v for k, v in signed.items()},
                "XroadVnpt-sign-header-key": ";".join([*signed, "Content-Type"]),
                "XroadVnpt-sign-header": text, "Content-Type": "application/json",
                "XroadVnpt-hash-header": hmac.new(SECRETS["attacker"].encode(), text.encode(),
                                                  hashlib.sha256).hexdigest()}

    headers = sdk({})
    for ward in ("000.07.05.H41", "000.08.05.H41"):
        body = json.dumps({"code": ward, "pcode": str(ATTACKER.code)}).encode()
        assert vdxp.vdxp("attacker", "registerAgency", {}, body,
                         headers=headers).json()["status"] == "OK"
    again = vdxp.vdxp("attacker", "registerAgency", {}, json.dumps(
        {"code": "000.08.05.H41", "pcode": str(ATTACKER.code)}).encode(), headers=headers)
    assert again.status_code == 409
    outside = vdxp.vdxp("attacker", "registerAgency", {}, json.dumps(
        {"code": str(VICTIM.code), "pcode": str(ATTACKER.code)}).encode(), headers=headers)
    assert outside.status_code == 403  # within its rights only
    assert vdxp.registered()[str(VICTIM.code)] == "victim"


# ----------------------------------------------------------------------- 4: relays


def test_a_relay_sends_only_for_organs_it_serves(platform: Platform) -> None:
    """Đà Nẵng's relaying LGSP sends a packet "From" a Quảng Nam organ: refused in every
    dialect, nothing queued; "From" a Đà Nẵng organ it serves: queued."""
    forged = _packet(TAM_KY)
    answer = platform.send("relay", forged)
    assert answer.status_code in (400, 403) and "FROM_MISMATCH" in answer.text, answer.text
    assert platform.queued() == 0
    assert platform.send("relay", _packet(DA_NANG_UNIT)).status_code == 200
    assert platform.queued() == 1


def test_a_relay_sends_for_organs_registered_under_it(vdxp: Platform) -> None:
    """Without a pattern, an organ the relay registered under itself is its to send for;
    an organ someone else registered is not."""
    narrowed = dataclasses.replace(SYSTEMS[3], serves=())
    vdxp.app.systems["relay"] = narrowed
    assert vdxp.send("relay", _packet(DA_NANG_UNIT)).status_code == 403
    unit = OrganInfo(OrganCode("000.01.90.H43"), "Phường dưới LGSP")  # below it by code
    assert vdxp.register("relay", str(unit.code), RELAY_H43).status_code == 200
    assert vdxp.send("relay", _packet(unit)).status_code == 200


# ------------------------------------------------------------- 11: hostile JSON bodies


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.ERROR):
        yield
    assert not [r for r in caplog.records if r.name.startswith("docflow")], caplog.text


NESTED = b"[" * 100_000 + b"]" * 100_000
DEEP_BUT_SMALL = b'{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}"


@pytest.mark.usefixtures("no_tracebacks")
def test_nested_json_and_lone_surrogates_are_4xx(pki: Pki, tmp_path: Path) -> None:
    """Each was a 500 with a traceback in the log; each is a 4xx in the dialect's shape,
    and nothing is written."""
    with contextlib.ExitStack() as stack:
        token, wso2, axis = (stack.enter_context(_platform(dialect, pki, tmp_path))
                             for dialect in ("lgsp-token", "wso2", "vdxp"))
        _hostile_bodies(token, wso2, axis)


def _hostile_bodies(token: Platform, wso2: Platform, axis: Platform) -> None:
    login = token.url + "v1/auth/login?allow_anonymous=true"
    for body in (NESTED, DEEP_BUT_SMALL):
        answer = requests.post(login, data=body, timeout=10,
                               headers={"Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500 and answer.json()["success"] is False
    surrogate = b'{"username": "vanthu", "password": "\\ud800", "applicationCode": "EOFFICE"}'
    answer = requests.post(login, data=surrogate, timeout=10,
                           headers={"Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    update = requests.post(token.url + "v1/updateStatus", data=DEEP_BUT_SMALL, timeout=10,
                           headers={**token.lgsp_headers("victim"),
                                    "Content-Type": "application/json"})
    assert update.status_code == 400 and update.json()["success"] is False
    posted = requests.post(wso2.url + "truclienthong/v1.0.0/donvilienthongs", timeout=10,
                           data=DEEP_BUT_SMALL, headers={**wso2.wso2_headers("attacker"),
                                                         "Content-Type": "application/json"})
    assert posted.status_code == 400 and posted.json()["status"] == "FAIL"
    before = axis.registered()
    signed = sign_headers("attacker", SECRETS["attacker"], {"Content-Type": "application/json"},
                          now=axis.clock())
    nested = axis.vdxp("attacker", "registerAgency", {}, DEEP_BUT_SMALL,
                       headers={**signed, "Content-Type": "application/json"})
    assert nested.status_code == 400 and nested.json()["DocId"] == ""
    lone = axis.vdxp("attacker", "registerAgency", {"code": "000.07.05.H41", "pcode": "",
                                                    "name": "\ud800 Phường", "mail": ""})
    assert lone.status_code == 400 and "surrogate" in lone.text, lone.text
    assert axis.registered() == before


# -------------------------------------------------------------- 12: costs and limits


def test_a_system_holds_at_most_its_limit(vdxp: Platform) -> None:
    """The attacker may hold 3 registrations (its own organ among them)."""
    codes = [f"000.{n:02d}.05.H41" for n in range(1, 5)]
    answers = [vdxp.register("attacker", code, str(ATTACKER.code)) for code in codes]
    assert [a.status_code for a in answers] == [200, 200, 403, 403]
    assert "TOO_MANY" in answers[2].text
    assert sum(owner == "attacker" for owner in vdxp.registered().values()) == 3


def test_a_flood_of_health_probes_counts_once(platform: Platform,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """/health is unauthenticated: its facts are counted at most once a second, and again
    after a change, however many probes come."""
    calls = []
    count = platform.app.queue.registry.count
    monkeypatch.setattr(platform.app.queue.registry, "count",
                        lambda axis: calls.append(axis) or count(axis))
    platform.app.queue.health_ttl = 3600.0
    for _ in range(50):
        assert requests.get(platform.url + "health", timeout=10).json()["status"] == "ok"
    assert len(calls) == 1
    assert platform.send("province", _packet(PROVINCE, "77")).status_code in (200, 400, 403)
    facts = requests.get(platform.url + "health", timeout=10).json()
    assert facts["agencies"] == len(platform.registered())


def test_syncing_a_long_agency_list_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """`docflow axis agencies --sync` of 2,000 organs asks each organ's ancestors once
    (it asked every pair: ~51 s for 4,000)."""
    calls = []
    ancestors = agencies_list._ancestors
    monkeypatch.setattr(agencies_list, "_ancestors",
                        lambda code: calls.append(code) or ancestors(code))
    agencies = [agencies_list.Agency(f"{v:03d}.{z:02d}.{y:02d}.H41", f"Cơ quan {v}-{z}-{y}", "")
                for y in range(1, 11) for z in range(20) for v in range(10)]
    text = '[[organs]]\ncode = "000.00.00.H41"\nname = "UBND tỉnh"\nlevel = "province"\n'
    result = agencies_list.import_agencies(text, agencies)
    assert len(result.added) == 2000
    assert len(calls) <= 2 * len(agencies)


def test_a_hostile_agency_list_cannot_close_what_it_should_not() -> None:
    """Issue 30, part 6, against an untrusted list: `oldCode` never closes the home's own
    organ or a hub, renamings that lead back are skipped, a malformed or huge oldCode is
    skipped, and whatever is written loads."""
    text = ('[[hubs]]\ncode = "000.00.00.G22"\nname = "Trục"\n\n'
            '[[organs]]\ncode = "000.00.00.H41"\nname = "UBND tỉnh"\nlevel = "province"\n\n'
            '[[organs]]\ncode = "000.00.31.H41"\nname = "Sở Nội vụ"\nlevel = "department"\n')
    at = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    row = agencies_list.Agency
    result = agencies_list.import_agencies(text, [
        row("000.00.00.H99", "Takeover", old_code="000.00.00.H41"),  # the home's own
        row("000.00.00.G99", "Fake axis", old_code="000.00.00.G22"),  # a hub
        row("000.00.32.H41", "A", old_code="000.00.33.H41"),  # A <-> B: a loop
        row("000.00.33.H41", "B", old_code="000.00.32.H41"),
        row("000.00.34.H41", "C", old_code="x" * 100_000),
        row("000.00.35.H41", "D", old_code="000.00.31.H41\u0000"),
    ], at=at, keep=[OrganCode("000.00.00.H41")])
    directory = agencies_list.Directory.from_toml_text(result.text)
    assert directory.entry("000.00.00.H41").organ.closed is None
    assert directory.entry("000.00.31.H41").organ.closed is None
    assert result.closed == ()
    whys = " | ".join(why for _, why in result.skipped)
    assert "this home's own organ or a hub" in whys and "lead back" in whys
    assert "oldCode is not an organ code" in whys
    assert max(len(why) for _, why in result.skipped) < 400  # no 100,000-character echo
