"""A PKI that is not docflow's, for signed PDFs: certomancer builds it from a dict (a
root, an intermediate, an official, an organ, a revoked signer and a time-stamping
authority, with Vietnamese names and no docflow subjectAltNames; and an "evil" root
whose signer has the official's name), and its WSGI animator serves the CRLs and the TSA
on 127.0.0.1 from a thread. Keys are made here with ``cryptography``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import (
    ArchLabel,
    CertLabel,
    CertomancerConfig,
    KeyLabel,
    PKIArchitecture,
    ServiceLabel,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server

from docflow.security import Credentials

VALID = {"valid-from": "2026-01-01T00:00:00+0000", "valid-to": "2028-01-01T00:00:00+0000"}
SIGNER_USAGE = {"id": "key_usage", "critical": True,
                "smart-value": {"schema": "key-usage",
                                "params": ["digital_signature", "non_repudiation"]}}


def _ca(issuer: str, crl_repo: str | None, *, root: bool = False) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {"id": "basic_constraints", "critical": True, "value": {"ca": True}},
        {"id": "key_usage", "critical": True, "smart-value": {
            "schema": "key-usage", "params": ["digital_signature", "key_cert_sign",
                                              "crl_sign"]}}]
    if crl_repo:
        extensions.append({"id": "crl_distribution_points", "smart-value": {
            "schema": "crl-dist-url", "params": {"crl-repo-names": [crl_repo]}}})
    spec: dict[str, Any] = {"issuer": issuer, "validity": {
        "valid-from": "2025-01-01T00:00:00+0000", "valid-to": "2035-01-01T00:00:00+0000"},
        "extensions": extensions}
    if root:
        spec.update({"subject": issuer, "subject-key": issuer, "authority-key": issuer})
    return spec


def _signer(issuer: str, repo: str, **extra: Any) -> dict[str, Any]:
    return {"issuer": issuer, "validity": VALID, "extensions": [
        SIGNER_USAGE, {"id": "crl_distribution_points", "smart-value": {
            "schema": "crl-dist-url", "params": {"crl-repo-names": [repo]}}}], **extra}


def _config(url: str, keys: Path) -> CertomancerConfig:
    names = ["root", "interm", "official", "organ", "revoked", "tsa", "evil-root",
             "evil-official"]
    for name in names:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (keys / f"{name}.key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    keyset = {"keys": {name: {"path": f"{name}.key.pem"} for name in names}}
    organization = "Ủy ban nhân dân tỉnh Thử Nghiệm"
    vn = {
        "keyset": "vn", "entity-defaults": {"country-name": "VN"},
        "entities": {
            "root": {"common-name": "Cơ quan chứng thực thử nghiệm"},
            "interm": {"common-name": "CA chuyên dùng thử nghiệm"},
            "official": {"common-name": "Nguyễn Văn An", "title": "Chủ tịch",
                         "organization-name": organization},
            "organ": {"common-name": organization, "organization-name": organization},
            "revoked": {"common-name": "Trần Thị Bình", "organization-name": organization},
            "tsa": {"common-name": "Dịch vụ cấp dấu thời gian thử nghiệm"}},
        "certs": {
            "root": _ca("root", None, root=True), "interm": _ca("root", "root"),
            "official": _signer("interm", "interm"), "organ": _signer("interm", "interm"),
            "revoked": _signer("interm", "interm", revocation={
                "revoked-since": "2026-06-01T00:00:00+0000", "reason": "key_compromise"}),
            "tsa": {"issuer": "root", "validity": VALID, "extensions": [
                {"id": "key_usage", "critical": True, "smart-value": {
                    "schema": "key-usage", "params": ["digital_signature"]}},
                {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]},
                {"id": "crl_distribution_points", "smart-value": {
                    "schema": "crl-dist-url", "params": {"crl-repo-names": ["root"]}}}]}},
        "services": {
            "crl-repo": {"root": {"for-issuer": "root", "signing-key": "root",
                                  "simulated-update-schedule": "P90D"},
                         "interm": {"for-issuer": "interm", "signing-key": "interm",
                                    "simulated-update-schedule": "P30D"}},
            "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"}}}}
    evil = {
        "keyset": "vn", "entity-defaults": {"country-name": "VN"},
        "entities": {"evil-root": {"common-name": "Cơ quan chứng thực giả"},
                     "evil-official": {"common-name": "Nguyễn Văn An",
                                       "organization-name": organization}},
        "certs": {"evil-root": _ca("evil-root", None, root=True),
                  "evil-official": {**_signer("evil-root", "evil-root"),
                                    "subject": "evil-official"}},
        "services": {"crl-repo": {"evil-root": {"for-issuer": "evil-root",
                                                "signing-key": "evil-root",
                                                "simulated-update-schedule": "P30D"}}}}
    return CertomancerConfig({"external-url-prefix": url, "keysets": {"vn": keyset},
                              "pki-architectures": {"vn": vn, "evil": evil}},
                             key_search_dir=str(keys))


@dataclass
class OutsidePki:
    """The built architectures and where the animator serves them."""

    vn: PKIArchitecture
    evil: PKIArchitecture
    url: str
    #: the paths asked of the animator (CRLs, the TSA), in order
    asked: list[str]

    def certificate(self, label: str, arch: str = "vn") -> x509.Certificate:
        pki = self.vn if arch == "vn" else self.evil
        return x509.load_der_x509_certificate(pki.get_cert(CertLabel(label)).dump())

    def credentials(self, label: str, arch: str = "vn") -> Credentials:
        pki = self.vn if arch == "vn" else self.evil
        key = serialization.load_der_private_key(
            pki.key_set.get_private_key(KeyLabel(label)).dump(), password=None)
        return Credentials(key, self.certificate(label, arch))  # type: ignore[arg-type]

    def crl(self, repo: str, arch: str = "vn") -> bytes:
        pki = self.vn if arch == "vn" else self.evil
        return bytes(pki.service_registry.get_crl(ServiceLabel(repo)).dump())

    @property
    def tsa_url(self) -> str:
        return f"{self.url}/vn/tsa/tsa"


@contextmanager
def outside_pki(keys: Path) -> Iterator[OutsidePki]:
    """Build the PKI and serve its CRLs and TSA on 127.0.0.1 until the block ends."""
    server = make_server("127.0.0.1", 0, lambda env, start: [], threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    config = _config(url, keys)
    vn, evil = config.get_pki_arch(ArchLabel("vn")), config.get_pki_arch(ArchLabel("evil"))
    animator = Animator(AnimatorArchStore({ArchLabel("vn"): vn, ArchLabel("evil"): evil}),
                        with_web_ui=False)
    asked: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        asked.append(str(environ.get("PATH_INFO", "")))
        return animator(environ, start_response)

    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OutsidePki(vn, evil, url, asked)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
