"""docflow's axis, LGSP and hub (SOAP pull) clients against a platform that answers
hostile or broken content (over real HTTP on 127.0.0.1): objects where lists belong and
lists where objects do, numbers for texts, items without ids or with ids that would
change the next request's path or query, pull answers outside the contract. Every call
either returns or raises a TransportError naming the platform (never an AttributeError,
KeyError or ValueError, which used to escape a node's receive loop), and an unusable
item is skipped with a warning while the good ones still arrive."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docflow.errors import TransportError
from docflow.model import OrganCode
from docflow.security import sign_request
from docflow.transport import SoapClient, TokenLgspClient, VxpClient, Wso2Client
from docflow.transport._soap_server import SERVICE_NS
from tests.conftest import Pki
from tests.integration.test_soap import Server

HUB = "000.00.90.H41"

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


HUB_ANSWERS = [
    "<df:Item><df:Handle>abc</df:Handle><df:Packet>AAAA</df:Packet></df:Item>",
    "<df:Item><df:Handle>99999999999999999999999</df:Handle><df:Packet>AAAA</df:Packet>"
    "</df:Item>",
    "<df:Item><df:Handle>1</df:Handle></df:Item>",
    "<df:Item><df:Handle>1</df:Handle><df:Packet>!!not base64!!</df:Packet></df:Item>",
    "<df:Nonsense/>",
]


@pytest.mark.parametrize("items", HUB_ANSWERS)
def test_a_hub_answering_a_broken_pull_is_a_transport_error(pki: Pki, items: str) -> None:
    """A hub's GetPendingDocuments answer that does not fit the contract (a handle that
    is no number, a missing or broken packet) is a TransportError, not a ValueError out
    of zeep or a TypeError out of the client."""
    body = (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:df="{SERVICE_NS}"><s:Body><df:GetPendingDocumentsResponse>{items}'
            "</df:GetPendingDocumentsResponse></s:Body></s:Envelope>").encode()

    def hub(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [body]

    server = Server(hub)
    client = SoapClient({HUB: server.url})
    try:
        token = sign_request(pki.district, "pending", "document", now=pki.now)
        try:
            found = client.pending(OrganCode(HUB), token, "document", 10)
        except TransportError:
            return
        assert all(isinstance(item.handle, int) and isinstance(item.packet, bytes)
                   for item in found), found
    finally:
        client.close()
        server.close()
