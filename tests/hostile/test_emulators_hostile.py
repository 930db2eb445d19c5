"""The hostile catalogue through the LGSP emulators' upload paths, over real HTTP: the
token LGSP's multipart `sendEdoc` (built as the vendor client builds it) and the WSO2
gateway's base64 `POST vanbans` (through docflow's client). A packet refused at parse or
verify is refused with a reason and queues nothing; nothing answers a 500 or leaks a
traceback; the emulator keeps serving a good packet afterwards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from docflow.emulators import AxisSystem, LgspAccount, TokenLgspApp, Wso2App, Wso2Consumer
from docflow.envelope import build_envelope
from docflow.errors import TransportError
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import sign
from docflow.store import Store, sqlite_url
from docflow.transport import Wso2Client
from tests.conftest import Clock, Pki
from tests.hostile.catalogue import PACKET_CASES, Case
from tests.integration.test_soap import Server

ACCOUNT = LgspAccount("vanthu", "mat-khau-thu", "EOFFICE")
CONSUMER = Wso2Consumer("consumer-key", "consumer-secret")
UNITS = [AxisSystem("H41.UBT.001", "ubt-secret", organs=(str(PROVINCE.code),)),
         AxisSystem("H41.TK.001", "tk-secret", organs=(str(TAM_KY.code),))]
REFUSED_BEFORE_QUEUEING = ("parse", "verify")


@dataclass
class Platform:
    url: str
    app: Any
    clock: Clock


@pytest.fixture(params=["lgsp-token", "wso2"])
def platform(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path) -> Iterator[Platform]:
    clock = Clock(pki.now)
    store = Store.open(sqlite_url(tmp_path / "platform.db"), clock=clock)
    app: Any
    if request.param == "lgsp-token":
        app = TokenLgspApp("000.00.00.G22", store, UNITS, [ACCOUNT], trust=pki.trust,
                           clock=clock)
    else:
        app = Wso2App("000.00.00.G22", store, UNITS, [CONSUMER], trust=pki.trust,
                      clock=clock)
    server = Server(app)
    yield Platform(server.url, app, clock)
    server.close()
    store.close()


def _upload(platform: Platform, packet: bytes, kind: str) -> tuple[int, str]:
    """Send ``packet`` as the real clients do; (HTTP status or 0 for a client-side
    refusal, what the platform said)."""
    if isinstance(platform.app, TokenLgspApp):
        login = requests.post(platform.url + "v1/auth/login?allow_anonymous=true", json={
            "username": ACCOUNT.username, "password": ACCOUNT.password,
            "applicationCode": ACCOUNT.application_code, "otp": None,
            "twoFactorProvider": None, "typeObjs": [0, 1]}, timeout=10).json()
        answer = requests.post(
            platform.url + "v1/sendEdoc", timeout=30,
            headers={"Authorization": f"Bearer {login['data']['token']}",
                     "X-SystemId": "H41.UBT.001", "X-SecretKey": "ubt-secret",
                     "Accept": "application/json"},
            files={"edocFile": ("112_UBND-VP.edxml", packet, "application/xml")},
            data={"messageType": "status" if kind == "status" else "edoc"})
        return answer.status_code, answer.text
    client = Wso2Client(platform.url, CONSUMER.key, CONSUMER.secret, "ubt-secret",
                        timeout=30)
    try:
        client.send_edoc(packet, message_type="status" if kind == "status" else "edoc")
        return 200, ""
    except TransportError as exc:
        return 0, str(exc)
    finally:
        client.close()


def _queued(platform: Platform) -> int:
    return int(platform.app.store.queries.deliveries().total)


@pytest.mark.parametrize("case", PACKET_CASES, ids=[case.name for case in PACKET_CASES])
def test_the_catalogue_through_the_upload_paths(case: Case, platform: Platform,
                                                pki: Pki) -> None:
    before = _queued(platform)
    status, said = _upload(platform, case.build(pki), case.kind)
    assert status != 500 and "Traceback" not in said and "internal error" not in said, said
    if case.stage in REFUSED_BEFORE_QUEUEING:
        assert status != 200, said
        assert _queued(platform) == before


def test_the_platform_keeps_serving_after_the_catalogue(platform: Platform,
                                                        pki: Pki) -> None:
    for case in PACKET_CASES[:12]:
        _upload(platform, case.build(pki), case.kind)
    platform.clock.advance(dt.timedelta(seconds=1).total_seconds())
    good = sign(build_envelope(sample_envelope(message_id="after-the-catalogue")),
                pki.province)
    before = _queued(platform)
    status, said = _upload(platform, good, "document")
    assert status == 200, said
    assert _queued(platform) == before + 1
