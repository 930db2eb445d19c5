"""The hostile catalogue through every entry point that takes outside bytes: the parser,
verify(), a node (the store's import path), the SOAP endpoint, and the CLI's validate
and verify. For every case: the expected error, no row written in either node's store, no
file left behind, and the node still serving afterwards."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from werkzeug.test import Client

from docflow.cli import cli
from docflow.envelope import Reading, Severity, build_envelope, parse_packet, read_packet
from docflow.errors import DocflowError, OversizeError, SchemaError, UnsafeXmlError, XmlError
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import sign, verify
from docflow.store import Store, sqlite_url
from docflow.store._schema import envelopes, metadata
from docflow.transport import InMemoryTransport, SoapApp
from tests.conftest import Pki
from tests.hostile.catalogue import PACKET_CASES, SERVICE, SOAP, Case, soap_body

STAGES = ("parse", "verify", "node")


@dataclass
class Nodes:
    province: Node
    district: Node
    home: Path
    pki: Pki

    def target(self, case: Case) -> Node:
        return self.province if case.kind == "status" else self.district

    def counts(self) -> dict[str, int]:
        found = {}
        for node in (self.province, self.district):
            with node.store.engine.connect() as conn:
                for table in metadata.sorted_tables:
                    found[f"{node.code}.{table.name}"] = conn.execute(
                        select(func.count()).select_from(table)).scalar_one()
        return found

    def files(self) -> set[str]:
        return {path.name for path in self.home.iterdir()
                if not path.name.endswith(("-wal", "-shm"))}

    def prepare(self, step: str | None) -> None:
        if step == "receive_sample":
            self.district.receive_document(sign(build_envelope(sample_envelope()),
                                                self.pki.province))
        elif step == "send_sample":
            envelope = sample_envelope()
            self.province.send(envelope.info, envelope.attachments,
                               message_id=envelope.message_id)
            self.province.deliver()


@pytest.fixture
def nodes(pki: Pki, tmp_path: Path) -> Iterator[Nodes]:
    clock = lambda: pki.now  # noqa: E731
    home = tmp_path / "stores"
    home.mkdir()
    network = InMemoryTransport()
    made = {}
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district)):
        store = Store.open(sqlite_url(home / f"{organ.code}.db"), clock=clock)
        made[organ.code] = Node(organ, credentials, pki.trust, store, network, clock=clock)
        network.register(organ.code, made[organ.code])
    yield Nodes(made[PROVINCE.code], made[TAM_KY.code], home, pki)
    for node in made.values():
        node.store.close()


def trust_folder(pki: Pki, folder: Path) -> Path:
    """The CLI's trust store: the fixture's, as a folder (two CAs and organs.toml)."""
    folder.mkdir(exist_ok=True)
    (folder / "province.crt").write_bytes(pki.ca.certificate_pem())
    (folder / "neighbour.crt").write_bytes(pki.neighbour_ca.certificate_pem())
    (folder / "organs.toml").write_text(
        '[[ca]]\ncertificate = "province.crt"\norgans = ["*"]\n', encoding="utf-8")
    return folder


def _check(error: BaseException, case: Case, entry: str = "node") -> None:
    expected, fragment = case.expected(entry)
    assert isinstance(error, expected), f"{type(error).__name__}: {error}"
    assert fragment in str(error), str(error)


def _soap(app: SoapApp, operation: str, packet: bytes) -> tuple[int, str]:
    response = Client(app).post("/", data=soap_body(operation, packet=packet), headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{SERVICE}#{operation}"'})
    body = response.get_data()
    match = re.search(rb"<df:Code>([^<]+)</df:Code>", body)
    return response.status_code, match.group(1).decode() if match else ""


@pytest.mark.parametrize("case", PACKET_CASES, ids=[case.name for case in PACKET_CASES])
def test_every_entry_point_refuses_and_changes_nothing(case: Case, nodes: Nodes,
                                                       tmp_path: Path) -> None:
    pki = nodes.pki
    data = case.build(pki)
    nodes.prepare(case.prepare)
    before, files = nodes.counts(), nodes.files()
    stage = STAGES.index(case.stage)
    if stage <= STAGES.index("parse"):
        with pytest.raises(DocflowError) as parsed:
            parse_packet(data)
        _check(parsed.value, case, "parse")
    if stage <= STAGES.index("verify"):
        with pytest.raises(DocflowError) as verified:
            verify(data, pki.trust, now=pki.now)
        _check(verified.value, case)
    node = nodes.target(case)
    receive = node.receive_status if case.kind == "status" else node.receive_document
    with pytest.raises(DocflowError) as received:
        receive(data)
    _check(received.value, case)
    status, code = _soap(SoapApp(node), "SendStatus" if case.kind == "status"
                         else "SendDocument", data)
    assert status >= 400 and code == received.value.fault_code, (status, code)
    if stage <= STAGES.index("verify"):
        packet = tmp_path / "case.edxml"
        packet.write_bytes(data)
        trust = trust_folder(pki, tmp_path / "trust")
        checked = CliRunner().invoke(cli, ["verify", str(packet), "--trust", str(trust)])
        assert checked.exit_code == 1, checked.output
        assert f"NOT VERIFIED ({type(received.value).__name__})" in checked.output
        if stage == 0:
            validated = CliRunner().invoke(cli, ["validate", str(packet)])
            assert validated.exit_code == 1, validated.output
            assert f"INVALID ({type(parsed.value).__name__})" in validated.output
        packet.unlink()
    assert nodes.counts() == before
    assert nodes.files() == files


_HOSTILE = (UnsafeXmlError, OversizeError, XmlError)


def _lenient(data: bytes) -> Reading | DocflowError:
    try:
        return read_packet(data)
    except DocflowError as error:
        return error


@pytest.mark.parametrize("case", [case for case in PACKET_CASES if case.stage == "parse"],
                         ids=[case.name for case in PACKET_CASES if case.stage == "parse"])
def test_the_lenient_reader_refuses_or_reports_every_case(case: Case, pki: Pki) -> None:
    """Hostile input (DOCTYPE, entities, comments, oversize, broken XML) is refused by
    the lenient reader exactly as by the strict one; a packet that is merely invalid is
    read with its deviation reported, and refused when the deviation makes it unusable.
    Nothing passes silently."""
    data = case.build(pki)
    if issubclass(case.error, _HOSTILE):
        with pytest.raises(case.error) as refused:
            read_packet(data)
        assert case.fragment in str(refused.value)
        return
    reading = _lenient(data)
    if isinstance(reading, DocflowError):  # not an edXML packet at all (a wrong root)
        assert isinstance(reading, SchemaError), reading
        return
    assert reading.findings, "a deviation read without a finding"
    serious = [f for f in reading.findings if f.severity >= Severity.WARNING]
    assert serious or reading.refusing(), reading.findings


@pytest.mark.parametrize("case", SOAP, ids=[case.name for case in SOAP])
def test_soap_requests_refused_before_any_packet(case, nodes: Nodes) -> None:  # type: ignore[no-untyped-def]
    before = nodes.counts()
    response = Client(SoapApp(nodes.district)).post("/", data=case.body, headers=case.headers)
    assert response.status_code >= 400
    assert f"<df:Code>{case.fault}</df:Code>".encode() in response.get_data()
    assert b"Traceback" not in response.get_data()
    assert nodes.counts() == before


def test_the_node_keeps_serving_after_the_catalogue(nodes: Nodes) -> None:
    app = SoapApp(nodes.district)
    for case in PACKET_CASES[:10]:
        _soap(app, "SendDocument", case.build(nodes.pki))
    good = sign(build_envelope(sample_envelope()), nodes.pki.province)
    status, code = _soap(app, "SendDocument", good)
    assert (status, code) == (200, "")
    assert nodes.district.inbox().total == 1


def utf16(packet: bytes) -> bytes:
    """The same packet in UTF-16 with a byte order mark: the same signed content."""
    text = packet.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    return text.encode("utf-16")


def first_document(nodes: Nodes) -> bytes:
    packet = sign(build_envelope(sample_envelope()), nodes.pki.province)
    nodes.district.receive_document(packet)
    return packet


def first_status(nodes: Nodes) -> bytes:
    nodes.prepare("send_sample")
    (received,) = nodes.district.inbox().items
    nodes.district.accept(received.id)
    (status,) = [d for d in nodes.district.store.queries.deliveries(document_ref=received.id).items
                 if d.kind == "status"]
    packet = nodes.district.store.queries.delivery_packet(status.id)
    nodes.district.deliver()
    return packet


def first_receipt(nodes: Nodes) -> bytes:
    nodes.prepare("send_sample")
    with nodes.province.store.engine.connect() as conn:
        return bytes(conn.execute(select(envelopes.c.raw).where(
            envelopes.c.kind == "receipt")).scalar_one())


#: Packets that arrive again: accepted as what they are (the same message, the same
#: status), and nothing is written, through the node and the SOAP endpoint.
REPLAYS = [
    ("a document sent again", "document", first_document, bytes),
    ("the document again, re-encoded in UTF-16", "document", first_document, utf16),
    ("a status sent again", "status", first_status, bytes),
    ("the status again, re-encoded in UTF-16", "status", first_status, utf16),
    ("a receipt sent again as a status", "status", first_receipt, bytes),
    ("the receipt again as a status, re-encoded", "status", first_receipt, utf16),
]


@pytest.mark.parametrize(("name", "kind", "first", "again"), REPLAYS,
                         ids=[replay[0] for replay in REPLAYS])
def test_replays_write_nothing(nodes: Nodes, name: str, kind: str,
                               first: Callable[[Nodes], bytes],
                               again: Callable[[bytes], bytes]) -> None:
    packet = again(first(nodes))
    node = nodes.province if kind == "status" else nodes.district
    before = nodes.counts()
    if kind == "status":
        node.receive_status(packet)
    else:
        node.receive_document(packet)
    status, code = _soap(SoapApp(node), "SendStatus" if kind == "status" else "SendDocument",
                         packet)
    assert (status, code) == (200, ""), name
    assert nodes.counts() == before, name


def attempts() -> int:
    """How many (case, entry point) refusals the catalogue checks."""
    per_stage = {"parse": 6, "verify": 5, "node": 2}  # parse, verify, node, SOAP, CLI x2
    return sum(per_stage[case.stage] for case in PACKET_CASES) + len(SOAP)


def test_security_md_states_the_catalogue() -> None:
    text = (Path(__file__).resolve().parents[2] / "SECURITY.md").read_text(encoding="utf-8")
    cases = len(PACKET_CASES) + len(SOAP)
    assert (f"{cases} cases ({len(PACKET_CASES)} packets, {len(SOAP)} SOAP requests), "
            f"{attempts()} refusals checked across entry points, 0 state changes") in text
