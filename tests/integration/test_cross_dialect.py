"""Across dialects, over real HTTP on 127.0.0.1: two provincial LGSPs of different
dialects (Quảng Nam's WSO2 gateway, a token-login REST platform) hang under the national
axis (VDXP) as relaying systems; a node behind one sends, a node behind the other
receives, and the statuses come back the same way. A packet the official SDK posts to the
axis (vendor shape, unsigned) reaches a node behind the WSO2 gateway, read leniently and
stored on ``channel`` trust with its findings."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docflow.emulators import (
    AxisApp,
    AxisSystem,
    LgspAccount,
    TokenLgspApp,
    Wso2App,
    Wso2Consumer,
)
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.samples import PROVINCE, sample_envelope
from docflow.security import TrustPolicy, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import TokenLgspClient, VxpClient, Wso2Client
from tests.conftest import Clock, Pki
from tests.integration.test_soap import Server
from tests.integration.test_vdxp_sdk import Sdk, unpadded

AXIS = "000.00.00.G22"
QN_GATEWAY, FAR_LGSP = "000.00.90.H41", "000.00.90.H20"
DUY_XUYEN = OrganInfo(OrganCode("000.00.10.H41"), "UBND huyện Duy Xuyên")
FAR = OrganInfo(OrganCode("000.00.00.H20"), "Văn phòng UBND tỉnh (LGSP token)")
HOI_AN = "000.00.07.H41"
AXIS_SECRETS = {"lgsp.qnam": "qn-axis-secret", "lgsp.far": "far-axis-secret",
                "vxp.saas.03": "sdk-s3cret"}
CONSUMER = Wso2Consumer("pLVt-docflow-test-key", "Z944-docflow-test-secret")
UNIT_SECRETS = {DUY_XUYEN.code: "ffc9f7158d72f32e", PROVINCE.code: "0a1b2c3d4e5f6789"}
ACCOUNT = LgspAccount("vanthu.admin", "p4ssword", "EOFFICE")
INTEROP = Path(__file__).resolve().parents[1] / "data" / "interop"


@dataclass
class Net:
    axis_url: str
    axis: AxisApp
    gateway: Wso2App
    far_lgsp: TokenLgspApp
    duy_xuyen: Node
    province: Node
    far: Node

    def exchange(self) -> int:
        """One round of both LGSPs with the axis (their forwarding loops)."""
        return self.gateway.forward() + self.far_lgsp.forward()


@pytest.fixture
def net(pki: Pki, tmp_path: Path) -> Iterator[Net]:
    clock = Clock(pki.now)
    opened: list[Store] = []
    closing: list[object] = []

    def store(name: str) -> Store:
        opened.append(Store.open(sqlite_url(tmp_path / f"{name}.db"), clock=clock))
        return opened[-1]

    def vxp(system: str, organ: str, url: str) -> VxpClient:
        closing.append(VxpClient(url, system, AXIS_SECRETS[system], timeout=10, clock=clock,
                                 organ=organ))
        return closing[-1]  # type: ignore[return-value]

    axis = AxisApp(AXIS, store("axis"), [
        AxisSystem("lgsp.qnam", AXIS_SECRETS["lgsp.qnam"], "LGSP Quảng Nam", relay=True,
                   organs=(QN_GATEWAY,), serves=("*.*.*.H41",), register=True),
        AxisSystem("lgsp.far", AXIS_SECRETS["lgsp.far"], "LGSP (token)", relay=True,
                   organs=(FAR_LGSP,), serves=("*.*.*.H20",), register=True),
        AxisSystem("vxp.saas.03", AXIS_SECRETS["vxp.saas.03"], "Hội An (SaaS 03)",
                   organs=(HOI_AN,))], clock=clock)
    axis_server = Server(axis)
    up_qn = vxp("lgsp.qnam", QN_GATEWAY, axis_server.url)
    up_far = vxp("lgsp.far", FAR_LGSP, axis_server.url)
    gateway = Wso2App(QN_GATEWAY, store("gateway"), [
        AxisSystem(f"unit-{code}", secret, organs=(str(code),))
        for code, secret in UNIT_SECRETS.items()], [CONSUMER], clock=clock, parent=up_qn)
    far_lgsp = TokenLgspApp(FAR_LGSP, store("far-lgsp"), [
        AxisSystem("H20.VP.001", "far-unit-secret", organs=(str(FAR.code),))], [ACCOUNT],
        clock=clock, parent=up_far)
    servers = [axis_server, Server(gateway), Server(far_lgsp)]
    # Each LGSP makes its organs known to the axis, under itself.
    for code in UNIT_SECRETS:
        up_qn.register_agency(code, str(code), parent=QN_GATEWAY)
    up_far.register_agency(FAR.code, FAR.name, parent=FAR_LGSP)

    def wso2(organ: OrganCode) -> Wso2Client:
        closing.append(Wso2Client(servers[1].url, CONSUMER.key, CONSUMER.secret,
                                  UNIT_SECRETS[organ], timeout=10))
        return closing[-1]  # type: ignore[return-value]

    token = TokenLgspClient(servers[2].url, "H20.VP.001", "far-unit-secret",
                            username=ACCOUNT.username, password=ACCOUNT.password,
                            application_code=ACCOUNT.application_code, timeout=10, clock=clock)
    closing.append(token)
    duy_xuyen = Node(DUY_XUYEN, issue_certificate(pki.ca, str(DUY_XUYEN.code), DUY_XUYEN.name,
                                                  now=pki.now),
                     pki.trust, store("duy-xuyen"), wso2(DUY_XUYEN.code), clock=clock)
    province = Node(PROVINCE, pki.province, pki.trust, store("province"), wso2(PROVINCE.code),
                    clock=clock, axis_trust=TrustPolicy.CHANNEL)
    far = Node(FAR, issue_certificate(pki.ca, str(FAR.code), FAR.name, now=pki.now),
               pki.trust, store("far"), token, clock=clock, axis_trust=TrustPolicy.CHANNEL)
    yield Net(axis_server.url, axis, gateway, far_lgsp, duy_xuyen, province, far)
    for client in closing:
        client.close()  # type: ignore[attr-defined]
    for server in servers:
        server.close()
    for each in opened:
        each.close()


def test_a_document_crosses_from_wso2_to_the_token_lgsp_and_its_statuses_return(
        net: Net) -> None:
    envelope = sample_envelope(sender=DUY_XUYEN, recipients=(FAR,))
    ref = net.duy_xuyen.send(envelope.info, envelope.attachments).document_ref
    assert net.duy_xuyen.deliver().delivered == 1  # queued at the Quảng Nam gateway
    assert net.far.poll_axis().documents == 0  # not yet relayed
    assert net.gateway.forward() == 1  # up to the axis
    assert net.far_lgsp.forward() == 1  # down to the token LGSP
    report = net.far.poll_axis()
    assert (report.documents, report.refused) == (1, 0), report.errors
    (received,) = net.far.inbox().items
    assert (received.sender, received.signature) == (str(DUY_XUYEN.code), "verified")
    net.far.accept(received.id)
    net.far.deliver()  # the signed receipt 01 and the 03, queued at the token LGSP
    assert net.far_lgsp.forward() == 2 and net.gateway.forward() == 2
    assert net.duy_xuyen.poll_axis().statuses == 2
    (copy,) = [d for d in net.duy_xuyen.store.queries.deliveries(document_ref=ref).items
               if d.kind == "document"]
    assert (copy.transport_state, copy.business_state) == ("acknowledged", "accepted")
    # Every hop acknowledged what it handed on: nothing is left waiting anywhere.
    assert net.exchange() == 0
    for app in (net.axis, net.gateway, net.far_lgsp):
        waiting = app.store.queries.deliveries(transport_state=("queued", "retrying", "sending"))
        assert waiting.total == 0, app.code


def test_the_sdks_unsigned_packet_reaches_a_channel_node_behind_the_gateway(
        net: Net, pki: Pki) -> None:
    packet = (INTEROP / "new.edxml").read_bytes()  # Hội An to the province, vendor shape
    sdk = Sdk(net.axis_url, "vxp.saas.03", AXIS_SECRETS["vxp.saas.03"], pki.now)
    answer = sdk.post("sendEdoc", {"from": HOI_AN, "servicetype": "edoc", "messagetype": "edoc",
                                   "hash-file": unpadded(packet)}, packet + b"\r\n",
                      content_type="application/octet-stream").json()
    assert answer["status"] == "OK", answer
    assert net.exchange() == 1
    report = net.province.poll_axis()
    assert (report.documents, report.refused) == (1, 0), report.errors
    (document,) = net.province.inbox().items
    assert (document.sender, document.signature) == (HOI_AN, "unverifiable")
    # The bytes the SDK hashed are the bytes stored, two hops later (its CRLF dropped).
    stored = net.province.store.queries.packet(document.id)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(packet).hexdigest()
    assert net.province.stored(document.id).info.sender.code == OrganCode(HOI_AN)
    assert document.findings  # what the lenient reading noticed, kept with the document
    # A relayed copy is acknowledged at the axis only once the gateway stored it.
    assert net.axis.store.queries.deliveries(transport_state=("queued", "retrying")).total == 0


def test_signed_pdfs_are_checked_behind_every_dialect(net: Net, pki: Pki) -> None:
    """A document with a validly signed PDF and two with hostile ones cross WSO2, the
    axis and the token LGSP; the receiving node checks each PDF inside its receive step:
    the valid one marked valid, the others invalid (and returned under ``reject``)."""
    import datetime as dt

    from docflow.domain import OnInvalid
    from docflow.model import Attachment
    from docflow.pdf import PdfPolicy, PdfTrust, sign_official, sign_organ
    from docflow.pdf.samples import sample_pdf
    from docflow.security import create_crl, issue_official_certificate
    from tests.hostile.pdf_catalogue import inflate_bomb, later_overlay

    at = pki.now + dt.timedelta(minutes=10)
    official = issue_official_certificate(pki.ca, str(DUY_XUYEN.code), "Trần Văn Tân",
                                          now=pki.now)
    signed = sign_organ(sign_official(sample_pdf(), official, signed_at=at),
                        net.duy_xuyen.credentials, signed_at=at)
    net.far.pdf = PdfPolicy(PdfTrust.of([pki.ca.certificate], crls=[create_crl(
        pki.ca, [], now=pki.now - dt.timedelta(days=1))]), OnInvalid.REJECT)
    for number, data in (("7001", signed), ("7002", later_overlay(signed)),
                         ("7003", inflate_bomb(signed))):
        envelope = sample_envelope(sender=DUY_XUYEN, recipients=(FAR,), number=number)
        net.duy_xuyen.send(envelope.info, (Attachment(f"{number}.pdf", data,
                                                      "application/pdf"),))
    assert net.duy_xuyen.deliver().delivered == 3
    assert net.gateway.forward() == 3 and net.far_lgsp.forward() == 3
    report = net.far.poll_axis()
    assert (report.documents, report.refused) == (3, 0), report.errors
    marks = {d.code.split("/")[0]: (d.pdf, d.state) for d in net.far.inbox().items}
    assert marks == {"7001": ("valid", "received"), "7002": ("invalid", "rejected"),
                     "7003": ("invalid", "rejected")}
