"""The SOAP envelope's own rules: one Body (a second Body is refused, never served from
the first), and header blocks the node must understand (it understands none) give the
SOAP MustUnderstand fault in SOAP 1.1 and 1.2; blocks for other roles, or that may be
ignored, are ignored."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from werkzeug.test import Client

from docflow.envelope import build_envelope
from docflow.node import Node
from docflow.samples import TAM_KY, sample_envelope
from docflow.security import sign
from docflow.store import Store, sqlite_url
from docflow.transport import InMemoryTransport, SoapApp
from docflow.transport._soap_server import SERVICE_NS, SOAP11_NS, SOAP12_NS
from tests.conftest import Pki


@pytest.fixture
def app(pki: Pki, tmp_path: Path) -> Iterator[SoapApp]:
    store = Store.open(sqlite_url(tmp_path / "node.db"), clock=lambda: pki.now)
    yield SoapApp(Node(TAM_KY, pki.district, pki.trust, store, InMemoryTransport(),
                       clock=lambda: pki.now))
    store.close()


def request(pki: Pki, ns: str, header: str = "", bodies: int = 1) -> bytes:
    """SendDocument of the province's sample decision, signed."""
    packet = base64.b64encode(sign(build_envelope(sample_envelope()), pki.province)).decode()
    body = (f"<e:Body><df:SendDocument><df:Packet>{packet}</df:Packet></df:SendDocument>"
            "</e:Body>")
    return (f'<e:Envelope xmlns:e="{ns}" xmlns:df="{SERVICE_NS}">'
            + (f"<e:Header>{header}</e:Header>" if header else "") + body * bodies
            + "</e:Envelope>").encode()


HEADERS = {SOAP11_NS: {"Content-Type": "text/xml; charset=utf-8"},
           SOAP12_NS: {"Content-Type": "application/soap+xml; charset=utf-8"}}


def post(app: SoapApp, ns: str, data: bytes) -> tuple[int, etree._Element]:
    response = Client(app).post("/", data=data, headers=HEADERS[ns])
    return response.status_code, etree.fromstring(response.get_data())


@pytest.mark.parametrize("ns", [SOAP11_NS, SOAP12_NS])
def test_two_bodies_are_refused(app: SoapApp, pki: Pki, ns: str) -> None:
    status, answer = post(app, ns, request(pki, ns, bodies=2))
    assert status >= 400
    assert answer.findtext(f".//{{{SERVICE_NS}}}Code") == "docflow.transport.envelope"
    assert app.endpoint.inbox().total == 0  # type: ignore[attr-defined]


def test_must_understand_soap11(app: SoapApp, pki: Pki) -> None:
    header = '<x:Security xmlns:x="urn:x" e:mustUnderstand="1"/>'
    status, answer = post(app, SOAP11_NS, request(pki, SOAP11_NS, header))
    assert status == 500
    assert answer.findtext(f".//{{{SOAP11_NS}}}Fault/faultcode") == "soap:MustUnderstand"
    assert "{urn:x}Security" in (answer.findtext(f".//{{{SOAP11_NS}}}Fault/faultstring") or "")
    assert app.endpoint.inbox().total == 0  # type: ignore[attr-defined]


def test_must_understand_soap12_names_the_blocks(app: SoapApp, pki: Pki) -> None:
    header = ('<x:Security xmlns:x="urn:x" e:mustUnderstand="true"/>'
              '<y:Trace xmlns:y="urn:y" e:mustUnderstand="1" '
              'e:role="http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"/>')
    status, answer = post(app, SOAP12_NS, request(pki, SOAP12_NS, header))
    assert status == 500
    value = answer.findtext(f".//{{{SOAP12_NS}}}Fault/{{{SOAP12_NS}}}Code/{{{SOAP12_NS}}}Value")
    assert value == "soap:MustUnderstand"
    named = []
    for block in answer.iterfind(f"{{{SOAP12_NS}}}Header/{{{SOAP12_NS}}}NotUnderstood"):
        prefix, local = block.get("qname").split(":")
        named.append(f"{{{block.nsmap[prefix]}}}{local}")
    assert named == ["{urn:x}Security", "{urn:y}Trace"]


@pytest.mark.parametrize(("ns", "header"), [
    (SOAP11_NS, '<x:Note xmlns:x="urn:x" e:mustUnderstand="0"/>'),
    (SOAP11_NS, '<x:Note xmlns:x="urn:x"/>'),
    (SOAP11_NS, '<x:Note xmlns:x="urn:x" e:mustUnderstand="1" e:actor="urn:some-proxy"/>'),
    (SOAP12_NS, '<x:Note xmlns:x="urn:x" e:mustUnderstand="false"/>'),
    (SOAP12_NS, '<x:Note xmlns:x="urn:x" e:mustUnderstand="true" '
                'e:role="http://www.w3.org/2003/05/soap-envelope/role/none"/>'),
])
def test_blocks_that_may_be_ignored_are(app: SoapApp, pki: Pki, ns: str, header: str) -> None:
    status, answer = post(app, ns, request(pki, ns, header))
    assert status == 200, etree.tostring(answer)
    assert answer.find(f".//{{{SERVICE_NS}}}Receipt") is not None
