"""No parser of docflow's loads anything: an external parameter entity pointing at a FIFO,
in every encoding (with and without a byte order mark) and behind every prolog (none, a
20 KiB comment, a 20 KiB processing instruction, a 70 KiB prolog on the streamed path),
through every entry point that takes outside bytes: the parse functions, verify(), the
SOAP endpoint (small and streamed requests, and a UTF-16 packet inside ``Packet``), the
axis emulator and the CLI. libxml2 opening the FIFO blocks until a writer comes: a test
that hangs past its deadline is a parser that loaded the file (the test then writes to
the FIFO itself to free the thread, and fails)."""

from __future__ import annotations

import codecs
import errno
import hashlib
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xmlsec
from click.testing import CliRunner
from lxml import etree
from werkzeug.test import Client

from docflow.cli import cli
from docflow.emulators import AxisApp, AxisSystem
from docflow.envelope import parse_envelope, parse_packet, parse_xml, parse_xml_stream, scan
from docflow.errors import DocflowError, UnsafeXmlError
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import sign, verify
from docflow.spool import SPOOL_FROM, Spool
from docflow.store import Store, sqlite_url
from docflow.transport import InMemoryTransport, SoapApp, sign_headers
from tests.conftest import Pki
from tests.hostile.catalogue import SERVICE, soap_body

ENCODINGS = {
    "utf-8": ("utf-8", b""),
    "utf-8 BOM": ("utf-8", codecs.BOM_UTF8),
    "utf-16-le": ("utf-16-le", b""),
    "utf-16-be": ("utf-16-be", b""),
    "utf-32-le": ("utf-32-le", b""),
    "utf-32-be": ("utf-32-be", b""),
    "utf-16 BOM": ("utf-16-le", codecs.BOM_UTF16_LE),
}
PROLOGS = {
    "none": "",
    "20 KiB comment": "<!--" + "c" * 20 * 1024 + "-->",
    "20 KiB PI": "<?pad " + "p" * 20 * 1024 + "?>",
    "70 KiB prolog": "<!--" + "c" * 35 * 1024 + "-->\n<?pad " + "p" * 35 * 1024 + "?>",
}
DEADLINE = 5.0


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "entity.fifo"
    os.mkfifo(path)
    return path


def hostile(fifo: Path, encoding: str, prolog: str, body: str = "<edXML>1</edXML>") -> bytes:
    name, bom = ENCODINGS[encoding]
    declared = name[:6].upper()  # UTF-8, UTF-16 or UTF-32: the byte order is sniffed
    text = (f'<?xml version="1.0" encoding="{declared}"?>{PROLOGS[prolog]}'
            f'<!DOCTYPE edXML [<!ENTITY % x SYSTEM "file://{fifo}">%x;]>{body}')
    return bom + text.encode(name)


def never_opens(fifo: Path, call: Callable[..., object], *args: object,
                **kwargs: object) -> BaseException | object:
    """Run ``call(*args, **kwargs)`` and return what it returned or raised; fail if it
    opened the FIFO."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call(*args, **kwargs))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # frees the blocked open()
        os.close(fd)
        thread.join(DEADLINE)
        pytest.fail("a parser opened the FIFO named by the external entity")
    # Opening a FIFO to write without blocking fails with ENXIO when nobody reads it.
    with pytest.raises(OSError, match=os.strerror(errno.ENXIO)):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    return outcome[0]


def refused(outcome: object) -> DocflowError:
    assert isinstance(outcome, DocflowError), repr(outcome)
    return outcome


CASES = [(encoding, prolog) for encoding in ENCODINGS for prolog in PROLOGS]


@pytest.mark.parametrize(("encoding", "prolog"), CASES)
def test_the_parse_functions_load_nothing(fifo: Path, encoding: str, prolog: str) -> None:
    data = hostile(fifo, encoding, prolog)
    for call in (lambda: parse_xml(data), lambda: parse_packet(data),
                 lambda: parse_envelope(data),
                 lambda: parse_xml_stream(io.BytesIO(data).read, len(data))):
        error = refused(never_opens(fifo, call))
        assert isinstance(error, UnsafeXmlError), error
        assert "DOCTYPE" in error.message


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_streamed_request_behind_a_long_prolog_loads_nothing(fifo: Path,
                                                               encoding: str) -> None:
    """More than 1 MiB: the SOAP endpoint parses it as it is read."""
    data = hostile(fifo, encoding, "70 KiB prolog",
                   body="<edXML>" + "a" * (1 << 20) + "</edXML>")
    error = refused(never_opens(fifo, lambda: parse_xml_stream(io.BytesIO(data).read,
                                                               len(data))))
    assert isinstance(error, UnsafeXmlError)


@pytest.mark.parametrize(("encoding", "prolog"), CASES)
def test_the_scan_of_a_spooled_packet_loads_nothing(fifo: Path, encoding: str,
                                                    prolog: str) -> None:
    """The streaming path's expat pass (docflow.envelope.scan) refuses a UTF-8 packet at
    its DOCTYPE before expat reads a declaration; another encoding is not scanned but
    parsed whole, with the parsers' refusals."""
    spool = Spool.from_chunks([hostile(fifo, encoding, prolog)])
    calls = [lambda: parse_packet(spool)]
    if encoding.startswith("utf-8"):
        calls.append(lambda: scan(spool))
    for call in calls:
        error = refused(never_opens(fifo, call))
        assert isinstance(error, UnsafeXmlError), error
        assert "DOCTYPE" in error.message


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_spooled_request_loads_nothing(fifo: Path, served: Served, encoding: str) -> None:
    """8 MiB and more: the SOAP endpoint spools the request and scans it."""
    client = Client(SoapApp(served.node))
    request = hostile(fifo, encoding, "none", body=soap_body("SendDocument").decode().replace(
        "<soap:Body>", "<soap:Body>" + " " * SPOOL_FROM, 1))
    response = never_opens(fifo, client.post, "/", data=request, headers=_SOAP)
    assert b"docflow.envelope.unsafe" in _fault(response), encoding
    assert served.node.inbox().total == 0


def test_verify_loads_nothing(fifo: Path, pki: Pki) -> None:
    for encoding, prolog in CASES:
        data = hostile(fifo, encoding, prolog)
        refused(never_opens(fifo, verify, data, pki.trust, now=pki.now))


def test_libxmlsec1_itself_cannot_open_a_reference(fifo: Path, pki: Pki) -> None:
    """Defence in depth under docflow's layout check: a signature whose reference names
    the FIFO, given straight to libxmlsec1, fails without opening it (docflow removed
    libxmlsec1's input callbacks)."""
    signed = etree.fromstring(sign(parse_packet_bytes(), pki.province))
    reference = signed.find(".//{http://www.w3.org/2000/09/xmldsig#}Reference")
    reference.set("URI", f"file://{fifo}")
    signature = reference.getparent().getparent()

    def check() -> None:
        ctx = xmlsec.SignatureContext()
        ctx.key = xmlsec.Key.from_memory(pki.province.certificate_pem(),
                                         xmlsec.constants.KeyDataFormatCertPem)
        ctx.verify(signature)

    outcome = never_opens(fifo, check)
    assert isinstance(outcome, xmlsec.Error), repr(outcome)


def parse_packet_bytes() -> bytes:
    from docflow.envelope import build_envelope
    return build_envelope(sample_envelope())


@dataclass
class Served:
    node: Node
    axis: AxisApp


@pytest.fixture
def served(pki: Pki, tmp_path: Path) -> Iterator[Served]:
    clock = lambda: pki.now  # noqa: E731
    store = Store.open(sqlite_url(tmp_path / "node.db"), clock=clock)
    axis_store = Store.open(sqlite_url(tmp_path / "axis.db"), clock=clock)
    node = Node(TAM_KY, pki.district, pki.trust, store, InMemoryTransport(), clock=clock)
    axis = AxisApp("000.00.00.G22", axis_store,
                   [AxisSystem(str(PROVINCE.code), "secret"),
                    AxisSystem(str(TAM_KY.code), "secret")], clock=clock)
    yield Served(node, axis)
    store.close()
    axis_store.close()


_SOAP = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{SERVICE}#SendDocument"'}


def _fault(response: object) -> bytes:
    body = response.get_data()  # type: ignore[attr-defined]
    assert response.status_code >= 400, body  # type: ignore[attr-defined]
    return body


def test_the_soap_endpoint_loads_nothing(fifo: Path, served: Served) -> None:
    client = Client(SoapApp(served.node))
    for encoding, prolog in CASES:
        # The SOAP envelope itself carries the DOCTYPE (small and streamed requests).
        for size in (0, 1 << 20):
            request = hostile(fifo, encoding, prolog,
                              body=soap_body("SendDocument").decode().replace(
                                  "<soap:Body>", "<soap:Body>" + " " * size, 1))
            response = never_opens(fifo, client.post, "/", data=request, headers=_SOAP)
            assert b"docflow.envelope.unsafe" in _fault(response), (encoding, prolog, size)
        # The edXML packet inside Packet carries it.
        packet = hostile(fifo, encoding, prolog)
        response = never_opens(fifo, client.post, "/",
                               data=soap_body("SendDocument", packet=packet), headers=_SOAP)
        assert b"docflow.envelope.unsafe" in _fault(response), (encoding, prolog)
    assert served.node.inbox().total == 0


def test_the_axis_emulator_loads_nothing(fifo: Path, served: Served, pki: Pki) -> None:
    client = Client(served.axis)
    for encoding, prolog in CASES:
        packet = hostile(fifo, encoding, prolog)
        headers = sign_headers(str(PROVINCE.code), "secret", {
            "from": str(PROVINCE.code), "to": json.dumps([str(TAM_KY.code)]),
            "servicetype": "edoc", "messagetype": "edoc",
            "hash-file": hashlib.sha256(packet).hexdigest()}, now=pki.now)
        response = never_opens(fifo, client.post, "/sendEdoc", data=packet, headers=headers,
                               content_type="application/octet-stream")
        answer = json.loads(_fault(response))
        assert answer["status"] == "FAIL" and "DOCTYPE" in answer["ErrorDesc"], answer


@pytest.mark.parametrize("command", ["validate", "verify"])
def test_the_cli_loads_nothing(fifo: Path, tmp_path: Path, pki: Pki, command: str) -> None:
    trust = tmp_path / "ca.crt"
    trust.write_bytes(pki.ca.certificate_pem())
    packet = tmp_path / "hostile.edxml"
    for encoding, prolog in CASES:
        packet.write_bytes(hostile(fifo, encoding, prolog))
        args = [command, str(packet)] + (["--trust", str(trust)] if command == "verify" else [])
        result = never_opens(fifo, CliRunner().invoke, cli, args)
        assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
        assert "UnsafeXmlError" in result.output  # type: ignore[attr-defined]


def test_a_valid_packet_in_every_encoding_still_parses() -> None:
    """The hardening refuses what loads, not what is merely encoded differently."""
    data = parse_packet_bytes()
    text = data.decode("utf-8").replace('encoding="UTF-8"', 'encoding="{}"')
    expected = parse_envelope(data)
    for name in ("UTF-16", "UTF-32"):
        encoded = text.format(name).encode(name.lower())  # with its byte order mark
        assert parse_envelope(encoded).info == expected.info
