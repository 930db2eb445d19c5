"""A province hub behind SOAP over real HTTP on 127.0.0.1: nodes push through it, a
commune behind NAT pulls from it (GetPendingDocuments/Statuses, Acknowledge), the sender
asks it for a trace (GetTrace); pull requests with bad tokens are faults."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from docflow.errors import TransportError
from docflow.hub import Hub
from docflow.node import Node
from docflow.routing import Directory
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import issue_certificate, sign_request
from docflow.store import Store, sqlite_url
from docflow.transport import SoapApp, SoapClient
from tests.conftest import Pki
from tests.integration.test_hub import COMMUNE, DIRECTORY, LGSP
from tests.integration.test_soap import Server


@dataclass
class Net:
    province: Node
    district: Node
    commune: Node
    hub: Hub
    client: SoapClient


class Late:
    """A server's endpoint, bound once the node exists (its port is the node's address)."""

    def __init__(self) -> None:
        self.target: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


class LateHub(Late):
    # Mailbox is a runtime-checkable protocol: it looks for these methods on the class.
    def pending(self, *args: Any) -> Any:
        return self.target.pending(*args)

    def acknowledge(self, *args: Any) -> Any:
        return self.target.acknowledge(*args)

    def trace(self, *args: Any) -> Any:
        return self.target.trace(*args)

    def receive_document(self, *args: Any) -> Any:
        return self.target.receive_document(*args)

    def receive_status(self, *args: Any) -> Any:
        return self.target.receive_status(*args)


class LateNode(Late):
    def receive_document(self, *args: Any) -> Any:
        return self.target.receive_document(*args)

    def receive_status(self, *args: Any) -> Any:
        return self.target.receive_status(*args)


@pytest.fixture(params=["1.1", "1.2"])
def net(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path) -> Iterator[Net]:
    clock = lambda: pki.now  # noqa: E731
    directory = Directory.from_toml_text(DIRECTORY)
    commune_credentials = issue_certificate(pki.ca, str(COMMUNE.code), COMMUNE.name,
                                            now=pki.now)
    late = {"province": LateNode(), "district": LateNode(), "hub": LateHub()}
    servers = {name: Server(SoapApp(endpoint)) for name, endpoint in late.items()}
    client = SoapClient({PROVINCE.code: servers["province"].url,
                         TAM_KY.code: servers["district"].url,
                         LGSP.code: servers["hub"].url}, soap_version=request.param,
                        timeout=10)
    stores = [Store.open(sqlite_url(tmp_path / f"{n}.db"), clock=clock)
              for n in ("p", "d", "c", "h")]
    nodes = [Node(organ, credentials, pki.trust, store, client, directory=directory,
                  clock=clock)
             for organ, credentials, store in ((PROVINCE, pki.province, stores[0]),
                                               (TAM_KY, pki.district, stores[1]),
                                               (COMMUNE, commune_credentials, stores[2]))]
    hub = Hub(LGSP, pki.hub, pki.trust, stores[3], client, directory, clock=clock)
    late["province"].target, late["district"].target, late["hub"].target = (
        nodes[0], nodes[1], hub)
    yield Net(nodes[0], nodes[1], nodes[2], hub, client)
    client.close()
    for server in servers.values():
        server.close()
    for store in stores:
        store.close()


def test_push_pull_and_trace_over_soap(net: Net) -> None:
    envelope = sample_envelope(recipients=(TAM_KY, COMMUNE))
    ref = net.province.send(envelope.info, envelope.attachments).document_ref
    assert net.province.deliver().delivered == 2
    assert net.hub.deliver().forwarded == 1  # the district is pushed to; the commune pulls
    report = net.commune.pull()
    assert (report.documents, report.refused) == (1, 0), report.errors
    assert net.hub.deliver().forwarded == 2  # both recipients' receipts go back
    assert net.province.deliver().delivered == 0
    states = {d.recipient: d.business_state
              for d in net.province.store.queries.deliveries(document_ref=ref).items}
    assert states == {str(TAM_KY.code): "arrived", str(COMMUNE.code): "arrived"}
    (document,) = net.commune.inbox().items
    net.commune.accept(document.id)
    assert net.commune.deliver().delivered == 1
    assert net.hub.deliver().forwarded == 1
    trace = net.province.trace(ref)
    assert trace.hub is not None
    assert [organ for organ, _ in trace.hub.hops] == [str(PROVINCE.code), str(LGSP.code)]
    assert {(c.recipient, c.business_state) for c in trace.hub.copies} == {
        (str(TAM_KY.code), "arrived"), (str(COMMUNE.code), "accepted")}
    assert sorted(s.code for s in trace.hub.statuses) == ["01", "01", "03"]


def test_pull_faults_carry_codes(net: Net, pki: Pki) -> None:
    token = sign_request(pki.district, "pending", "document", now=pki.now)
    assert net.client.pending(LGSP.code, token, "document", 5) == []
    with pytest.raises(TransportError, match="used before") as replay:
        net.client.pending(LGSP.code, token, "document", 5)
    assert "docflow.security.replay" in (replay.value.hint or "")
    with pytest.raises(TransportError, match="holds no packets"):
        net.client.pending(TAM_KY.code, sign_request(pki.district, "pending", "document",
                                                     now=pki.now), "document", 5)
    with pytest.raises(TransportError, match="another request"):
        net.client.acknowledge(LGSP.code, sign_request(pki.district, "acknowledge", "7",
                                                       now=pki.now), 8, error="x")
    with pytest.raises(TransportError, match="relayed no such message"):
        net.client.trace(LGSP.code, sign_request(pki.district, "trace", "nope", now=pki.now),
                         "nope")
