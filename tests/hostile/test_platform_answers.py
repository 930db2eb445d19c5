"""docflow's axis and LGSP clients against a platform that answers hostile or broken JSON
(over real HTTP on 127.0.0.1): objects where lists belong and lists where objects do,
numbers for texts, items without ids or with ids that would change the next request's
path or query. Every call either returns or raises a TransportError naming the platform
(never an AttributeError or KeyError, which used to escape a node's receive loop), and an
unusable item is skipped with a warning while the good ones still arrive."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docflow.errors import TransportError
from docflow.transport import TokenLgspClient, VxpClient, Wso2Client
from tests.integration.test_soap import Server

TOKEN = b'{"access_token": "t", "token_type": "bearer", "expires_in": 3600}'
LOGIN = b'{"data": {"token": "a-token"}}'
SHAPES = [b"", b"null", b"[]", b"5", b'"x"', b"{}", b'{"data": 5}', b'{"data": [1, 2]}',
          b'{"data": [{}]}', b'{"data": "!!"}', b'{"data": {"token": 5}}',
          b'{"success": true, "status": "OK", "data": [7, "x", null]}',
          b'{"success": true, "status": "OK", "data": {"edxml": 5, "content": 5}}',
          b'{"success": true, "status": "OK", "data": [{"docId": {"a": 1}}]}',
          b'{"status": "OK", "ErrorCode": "0", "data": 5, "count": "many"}',
          b'{"status": "OK", "ErrorCode": "0", "count": true}',
          b'{"code": 200, "data": {"status": "OK", "docId": [1]}}']


class Platform:
    """A WSGI platform that answers every call with ``answer`` (its token and login
    endpoints with a valid token, so that the calls behind them are reached)."""

    def __init__(self) -> None:
        self.answer = b"{}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        path = environ["PATH_INFO"]
        if path.endswith("/token"):
            return [TOKEN]
        if path.endswith("auth/login"):
            return [LOGIN]
        return [self.answer]


@pytest.fixture
def platform() -> Iterator[tuple[Platform, str]]:
    app = Platform()
    server = Server(app)
    yield app, server.url
    server.close()


def _calls(url: str) -> dict[str, Callable[[], object]]:
    vxp = VxpClient(url, "000.00.00.H41", "secret", timeout=5, retries=0)
    token = TokenLgspClient(url, "unit", "secret", username="u", password="p",  # noqa: S106
                            application_code="E", timeout=5)
    wso2 = Wso2Client(url, "key", "secret", "unit-secret", timeout=5)
    return {
        "vdxp received": vxp.received, "vdxp get_edoc": lambda: vxp.get_edoc("1"),
        "vdxp sent": vxp.sent, "vdxp count_received": vxp.count_received,
        "vdxp agencies": vxp.agencies,
        "vdxp send_edoc": lambda: vxp.send_edoc(b"<x/>", to=["000.00.01.H41"]),
        "lgsp received": token.received, "lgsp get_edoc": lambda: token.get_edoc("1"),
        "lgsp update_status": lambda: token.update_status("1", "done"),
        "lgsp send_edoc": lambda: token.send_edoc(b"<x/>"), "lgsp agencies": token.agencies,
        "wso2 received": wso2.received, "wso2 get_edoc": lambda: wso2.get_edoc("1"),
        "wso2 update_status": lambda: wso2.update_status("1", "done"),
        "wso2 send_edoc": lambda: wso2.send_edoc(b"<x/>"), "wso2 agencies": wso2.agencies,
    }


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.decode() or "empty" for shape in SHAPES])
def test_every_call_returns_or_says_transport_error(platform: tuple[Platform, str],
                                                    shape: bytes) -> None:
    app, url = platform
    app.answer = shape
    for name, call in _calls(url).items():
        try:
            call()
        except TransportError:
            pass
        except Exception as exc:  # the failure this test exists to catch
            pytest.fail(f"{name} on {shape!r}: {type(exc).__name__}: {exc}")


def test_unusable_items_are_skipped_and_said(platform: tuple[Platform, str],
                                             caplog: pytest.LogCaptureFixture) -> None:
    app, url = platform
    good = {"docId": "42", "from": "000.00.00.H41", "to": "000.00.01.H41",
            "messageType": "edoc", "status": "initial", "created_time": "x"}
    app.answer = json.dumps({"success": True, "status": "OK", "ErrorCode": "0", "data": [
        {"docId": "1&docId=2"}, {"docId": "../../token"}, {"docId": None}, {"from": "x"},
        "not an object", {"docId": True}, good]}).encode()
    caplog.set_level(logging.WARNING, logger="docflow.transport")
    calls = _calls(url)
    for name in ("vdxp received", "lgsp received", "wso2 received"):
        caplog.clear()
        items = calls[name]()
        assert [item.doc_id for item in items] == ["42"], name  # type: ignore[attr-defined]
        assert len([r for r in caplog.records if "without a usable docId" in r.getMessage()]
                   ) == 6, name
