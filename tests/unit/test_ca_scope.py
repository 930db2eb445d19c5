"""Each trusted CA certifies only its own organs: name constraints written by docflow on
the CAs it creates, and the trust store's own CA -> organ patterns for CAs it did not
create. With two provinces' CAs in one trust store, a certificate from one for the
other's organ is refused."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from docflow.envelope import build_envelope
from docflow.errors import ConfigError, CredentialsError, OrganCodeError, UntrustedCertificateError
from docflow.model import OrganCode, OrganInfo, OrganPattern
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import (
    KeyType,
    TrustStore,
    create_ca,
    issue_certificate,
    organ_domain,
    organ_subtrees,
    sign,
    verify,
)
from tests.conftest import Pki

NOW = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
DA_NANG = OrganCode("000.00.00.H43")


def test_patterns() -> None:
    assert OrganPattern("*.*.*.H41").matches(OrganCode("000.46.05.H41"))
    assert not OrganPattern("*.*.*.H41").matches(DA_NANG)
    assert OrganPattern("*").matches(DA_NANG)
    assert OrganPattern("000.*.*.H41").matches(OrganCode("000.46.05.H41"))
    assert not OrganPattern("000.*.*.H41").matches(OrganCode("001.46.05.H41"))
    assert OrganPattern("*.*.05.H41").suffix == ("05", "H41")
    assert OrganPattern("*").suffix == ()
    assert OrganPattern("000.*.*.H41").suffix is None
    for bad in ("H41", "*.*.H41", "*.*.*.h41", "*.*.5.H41", "**.*.*.H41", ""):
        with pytest.raises(OrganCodeError, match="not an organ code pattern"):
            OrganPattern(bad)


def test_docflow_writes_name_constraints_on_the_ca() -> None:
    ca = create_ca("Quảng Nam", now=NOW, key_type=KeyType.ECDSA_P256,
                   organs=["*.*.*.H41", "*.*.05.H43"])
    constraints = ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert organ_subtrees(ca.certificate) == (("h41.organ.invalid", "05.h43.organ.invalid"), ())
    assert organ_domain(OrganCode("000.46.05.H43")) == "000.46.05.h43.organ.invalid"
    with pytest.raises(CredentialsError, match="cannot be written as a name constraint"):
        create_ca("x", now=NOW, key_type=KeyType.ECDSA_P256, organs=["000.*.*.H41"])
    assert organ_subtrees(create_ca("free", now=NOW, key_type=KeyType.ECDSA_P256)
                          .certificate) is None


def _signed_by(credentials, sender=PROVINCE):  # type: ignore[no-untyped-def]
    envelope = sample_envelope(sender=sender, recipients=(TAM_KY,))
    return sign(build_envelope(envelope), credentials)


def test_two_provinces_each_certify_only_their_own(pki: Pki) -> None:
    """The neighbour's CA is trusted, for its own organs (*.*.*.H43): its certificate for
    Quảng Nam's province committee is refused, its own organs verify."""
    with pytest.raises(UntrustedCertificateError, match=r"may not certify organ 000\.00\.00\.H41"):
        verify(_signed_by(pki.neighbour_forgery), pki.trust, now=pki.now)
    da_nang = issue_certificate(pki.neighbour_ca, str(DA_NANG), "UBND Đà Nẵng", now=pki.now,
                                key_type=KeyType.ECDSA_P256)
    sender = OrganInfo(DA_NANG, "UBND thành phố Đà Nẵng")
    assert verify(_signed_by(da_nang, sender), pki.trust, now=pki.now).signer == DA_NANG
    assert verify(_signed_by(pki.province), pki.trust, now=pki.now).signer == PROVINCE.code


def test_the_trust_store_maps_cas_it_did_not_create(pki: Pki) -> None:
    """The foreign CA carries no name constraints: the trust store's patterns bind it."""
    trust = TrustStore([pki.ca.certificate, pki.foreign_ca.certificate],
                       organs={pki.ca.certificate: ["*.*.*.H41"],
                               pki.foreign_ca.certificate: ["*.*.*.H44"]})
    with pytest.raises(UntrustedCertificateError, match=r"trust store \*\.\*\.\*\.H44"):
        verify(_signed_by(pki.rogue_province), trust, now=pki.now)
    assert verify(_signed_by(pki.province), trust, now=pki.now).signer == PROVINCE.code
    # Both apply when both exist: a constrained CA narrowed further by the store.
    narrowed = TrustStore([pki.neighbour_ca.certificate],
                          organs={pki.neighbour_ca.certificate: ["*.*.05.H43"]})
    with pytest.raises(UntrustedCertificateError, match="may not certify"):
        verify(_signed_by(issue_certificate(pki.neighbour_ca, str(DA_NANG), "x", now=pki.now),
                          OrganInfo(DA_NANG, "x")), narrowed, now=pki.now)


def test_a_store_of_several_cas_bound_to_nothing_is_refused(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="2 CAs and this one may certify any organ"):
        TrustStore([pki.ca.certificate, pki.foreign_ca.certificate])
    with pytest.raises(ConfigError, match="not a trusted CA"):
        TrustStore([pki.ca.certificate], organs={pki.foreign_ca.certificate: ["*"]})
    TrustStore([pki.ca.certificate])  # one CA alone: the province's own, nothing to confuse


def test_organs_toml_errors_name_the_entry(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(pki.ca.certificate_pem())
    (tmp_path / "organs.toml").write_text('[[ca]]\ncertificate = "ca.pem"\norgans = ["H41"]\n',
                                          encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not an organ code pattern") as error:
        TrustStore.from_paths(tmp_path)
    assert "organs.toml [[ca]] #1" in str(error.value)
    (tmp_path / "organs.toml").write_text('[[ca]]\ncertificate = "missing.pem"\norgans = []\n',
                                          encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        TrustStore.from_paths(tmp_path)


def test_openssl_accepts_what_a_constrained_ca_issues(pki: Pki, tmp_path: Path) -> None:
    """The constraint is standard X.509: other validators read it and still accept the
    organ certificates (their URN names are not dNSNames)."""
    ca, leaf = tmp_path / "ca.pem", tmp_path / "leaf.pem"
    ca.write_bytes(pki.neighbour_ca.certificate_pem())
    leaf.write_bytes(issue_certificate(pki.neighbour_ca, str(DA_NANG), "UBND Đà Nẵng",
                                       now=dt.datetime.now(dt.UTC)).certificate_pem())
    result = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(leaf)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
