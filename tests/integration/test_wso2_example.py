"""The WSO2 emulator as Quảng Nam's example client uses the platform
(all4u1089/truclienthong-example, `Main.java`; `../shared/EDXML.md`): an HTTPS gateway
(port 8247 there) whose certificate the client does not check, docIds the platform
issues as UUIDs, a province whose units' codes end in `.H47`, a unit registered under
another (`001.00.10.H47` under `001.00.00.H47`) and listed by `GET donvilienthongs/qn`.
Served over TLS on 127.0.0.1 by cheroot (`docflow.transport.listen(tls=...)`), and by
`docflow axis serve --tls-cert --tls-key --province H47`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docflow.emulators import AxisSystem, Wso2App, Wso2Consumer
from docflow.envelope import build_envelope
from docflow.errors import ConfigError, TransportError
from docflow.model import OrganCode, OrganInfo
from docflow.samples import sample_envelope
from docflow.store import Store, sqlite_url
from docflow.transport import Wso2Client, listen
from tests.conftest import Clock, Pki
from tests.postgres import free_port

GATEWAY = "000.00.90.H47"
DUY_XUYEN = OrganInfo(OrganCode("001.00.00.H47"), "UBND Huyện Duy Xuyen")
PROVINCE = OrganInfo(OrganCode("000.00.00.H47"), "UBND tỉnh")
CONSUMER = Wso2Consumer("pLVtjDmfnL1vy45fobBPfqQTfCEa", "Z944I37nNA3OiCDS0jAbM3DiYCsa")
SECRETS = {DUY_XUYEN.code: "ffc9f7158d72f32e0a0399ec3c2b359875870715c76993bb3d2ae4f1bdd35bb4",
           PROVINCE.code: "0a1b2c3d4e5f67890a1b2c3d4e5f6789"}
UNITS = [AxisSystem("unit-duy-xuyen", SECRETS[DUY_XUYEN.code], organs=(str(DUY_XUYEN.code),),
                    register=True, serves=("*.*.*.H47",)),
         AxisSystem("unit-province", SECRETS[PROVINCE.code], organs=(str(PROVINCE.code),))]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "gateway.crt", folder / "gateway.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Gateway:
    url: str
    app: Wso2App
    certificate: Path


@pytest.fixture
def gateway(pki: Pki, tmp_path: Path) -> Iterator[Gateway]:
    store = Store.open(sqlite_url(tmp_path / "gateway.db"), clock=Clock(pki.now))
    app = Wso2App(GATEWAY, store, UNITS, [CONSUMER], province="H47", clock=Clock(pki.now))
    certificate, key = make_certificate(tmp_path)
    server = listen(app, host="127.0.0.1", port=0, threads=4, tls=(certificate, key))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    port = server.effective_port  # type: ignore[attr-defined]
    yield Gateway(f"https://127.0.0.1:{port}/", app, certificate)
    server.close()
    thread.join(10)
    store.close()


def client(gateway: Gateway, organ: OrganCode, **tls: object) -> Wso2Client:
    return Wso2Client(gateway.url, CONSUMER.key, CONSUMER.secret, SECRETS[organ],
                      timeout=10, **tls)  # type: ignore[arg-type]


def test_the_example_clients_calls_over_https_with_uuid_doc_ids(
        gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="docflow"):
        sender = client(gateway, DUY_XUYEN.code, verify=False)  # setVerifyingSsl(false)
    assert "certificate checks are OFF" in caplog.text  # said, never silently
    receiver = client(gateway, PROVINCE.code, ca_bundle=gateway.certificate)
    try:
        packet = build_envelope(sample_envelope(sender=DUY_XUYEN, recipients=(PROVINCE,)))
        sent = sender.send_edoc(packet)
        assert uuid.UUID(sent)  # the platform's docIds are UUIDs
        (item,) = receiver.received()
        assert item.doc_id == sent and uuid.UUID(item.doc_id)
        assert receiver.get_edoc(item.doc_id) == packet
        receiver.update_status(item.doc_id, "DONE")
        assert receiver.received() == []
        # a docId of another platform, or a number, names nothing here
        for other in ("5b8209a7-f5f8-4ada-b766-27c30a2eaf8b", "1"):
            with pytest.raises(TransportError, match=r"no such packet|must be a UUID"):
                receiver.get_edoc(other)
        # register 001.00.10.H47 under 001.00.00.H47; the province list shows H47 codes
        sender.register_agency("001.00.10.H47", "UBND Huyện Duy Xuyen", parent=str(
            DUY_XUYEN.code))
        province = {row.code for row in sender.agencies(province_only=True)}
        assert {"001.00.10.H47", str(DUY_XUYEN.code), str(PROVINCE.code)} <= province
        sender.delete_agency("001.00.10.H47")
    finally:
        sender.close()
        receiver.close()


def test_an_unchecked_certificate_is_refused_by_default(gateway: Gateway) -> None:
    strict = client(gateway, PROVINCE.code)
    try:
        with pytest.raises(TransportError, match=r"cannot reach|certificate|SSL"):
            strict.received()
    finally:
        strict.close()
    with pytest.raises(ConfigError, match="together"):
        client(gateway, PROVINCE.code, verify=False, ca_bundle=gateway.certificate)


def test_axis_serve_speaks_https_for_a_province(tmp_path: Path) -> None:
    certificate, key = make_certificate(tmp_path)
    systems = tmp_path / "systems.toml"
    systems.write_text(
        f'[[systems]]\nsystem_id = "unit"\nsecret = "{SECRETS[PROVINCE.code]}"\n'
        f'organs = ["{PROVINCE.code}"]\n\n[[consumers]]\nkey = "{CONSUMER.key}"\n'
        f'secret = "{CONSUMER.secret}"\n', encoding="utf-8")
    port = free_port()
    docflow = Path(sys.executable).with_name("docflow")
    with subprocess.Popen(
            [str(docflow), "axis", "serve", "--dialect", "wso2", "--systems", str(systems),
             "--database", f"sqlite:///{tmp_path / 'gw.db'}", "--code", GATEWAY, "--port",
             str(port), "--province", "H47", "--tls-cert", str(certificate), "--tls-key",
             str(key)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"}) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            banner = process.stdout.readline()
            assert f"https://127.0.0.1:{port}/" in banner, banner + process.stderr.read()
            health = requests.get(f"https://127.0.0.1:{port}/health",
                                  verify=str(certificate), timeout=10).json()
            assert (health["dialect"], health["agencies"]) == ("wso2", 1)
        finally:
            process.terminate()
            process.wait(10)
