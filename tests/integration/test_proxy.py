"""The faulty proxy of the process harness over real HTTP on 127.0.0.1: each fault does
what it says to a real backend, tampering keeps the SOAP message well formed and only
the signature can tell, and a backend that accepts a tampered packet is caught."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from lxml import etree

from docflow.errors import EnvelopeError, SecurityError
from docflow.harness import Faults
from docflow.harness.proxy import FaultyProxy, _tampered
from docflow.samples import sample_envelope
from docflow.security import sign_envelope, verify
from tests.conftest import Pki
from tests.integration.test_soap import Server
from tests.postgres import free_port


def soap(packet: bytes, element: str = "Packet") -> bytes:
    return (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            b'<soap:Body><d:SendDocument xmlns:d="urn:docflow:node:1"><d:' +
            element.encode() + b">" + base64.b64encode(packet) + b"</d:" +
            element.encode() + b"></d:SendDocument></soap:Body></soap:Envelope>")


def test_tampering_keeps_the_message_well_formed_and_breaks_the_signature(pki: Pki) -> None:
    import random

    packet = sign_envelope(sample_envelope(), pki.province)
    for element in ("Packet", "Receipt"):
        for seed in range(20):
            changed = _tampered(soap(packet, element), random.Random(seed))
            assert changed is not None
            text = etree.fromstring(changed).findtext(f".//{{urn:docflow:node:1}}{element}")
            assert text is not None
            forged = base64.b64decode(text)
            assert len(forged) == len(packet)
            flipped = [a ^ b for a, b in zip(forged, packet, strict=True) if a != b]
            assert len(flipped) == 1 and bin(flipped[0]).count("1") == 1
            # Refused: a digest mismatch, or a bit that broke the XML or the schema.
            with pytest.raises((SecurityError, EnvelopeError)):
                verify(forged, pki.trust, now=pki.now)
    assert _tampered(b"<soap:Envelope><soap:Body/></soap:Envelope>", random.Random(1)) is None


class Backend:
    """A node stand-in that accepts every POST (even a tampered packet) and counts."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self.lock:
            self.bodies.append(body)
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [body]  # the "answer" carries the packet back (a receipt stand-in)


@pytest.fixture
def backend() -> Iterator[tuple[Backend, str]]:
    app = Backend()
    server = Server(app)
    yield app, server.url
    server.close()


def through(faults: str, target: str, seed: int = 1) -> tuple[FaultyProxy, str]:
    port = free_port()
    proxy = FaultyProxy({port: target}, Faults.parse(faults), seed=seed, timeout=10)
    proxy.serve(threads=4)
    return proxy, f"http://127.0.0.1:{port}/"


def post(url: str, body: bytes) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "text/xml"}, timeout=10)


def test_each_fault_reaches_the_backend_as_it_says(backend: tuple[Backend, str],
                                                    pki: Pki) -> None:
    app, target = backend
    message = soap(sign_envelope(sample_envelope(), pki.province))

    proxy, url = through("drop=1", target)
    answers = [post(url, message).status_code for _ in range(20)]
    proxy.close()
    assert answers == [502] * 20
    stats = proxy.stats
    assert stats.dropped + stats.replies_lost == 20 and stats.dropped and stats.replies_lost
    assert len(app.bodies) == stats.replies_lost  # the node acted, the answer was lost

    app.bodies.clear()
    proxy, url = through("duplicate=1", target)
    assert post(url, message).status_code == 200
    proxy.close()
    assert app.bodies == [message, message] and proxy.stats.duplicated == 1

    app.bodies.clear()
    proxy, url = through("delay=1", target)
    assert post(url, message).status_code == 504
    assert app.bodies == []  # the caller is told before the request lands...
    proxy.close()  # ...and the request lands later (close waits for it)
    assert app.bodies == [message] and proxy.stats.delayed == 1

    app.bodies.clear()
    proxy, url = through("tamper=1", target, seed=3)
    answers = [post(url, message) for _ in range(10)]
    proxy.close()
    stats = proxy.stats
    assert stats.tampered_requests and stats.tampered_replies
    assert stats.tampered_requests + stats.tampered_replies == 10
    # This backend accepts anything: every tampered request it answered 200 is caught.
    assert stats.tampered_accepted == stats.tampered_requests
    changed = [body for body in app.bodies if body != message]
    assert len(changed) == stats.tampered_requests
    assert sum(answer.content != body for answer, body in zip(
        answers, app.bodies, strict=True)) == stats.tampered_replies


def test_reads_pass_untouched_and_unknown_ports_are_refused(backend: tuple[Backend, str]
                                                             ) -> None:
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    app, target = backend
    proxy, url = through("drop=1", target)
    try:
        assert requests.get(url + "?wsdl", timeout=10).status_code == 200
        stray = Request(EnvironBuilder(method="POST", data=b"<x/>").get_environ())
        assert proxy.handle(stray, 1).status_code == 404
    finally:
        proxy.close()
    assert proxy.stats.requests == 0 and app.bodies == [b""]  # reads draw no fault
