"""The trust store: which CAs may issue organ certificates, and which are revoked.

A signer's certificate is accepted when it was issued directly by a trusted CA (a
province CA), is a signing certificate (not a CA; KeyUsage digitalSignature or
nonRepudiation), names an organ (subjectAltName ``urn:vn:organ:<code>``), is valid at the
time of verification, and is not listed in a CRL of its issuer.

The time-independent part of that check (issuer signature, extensions, organ) is cached
by certificate fingerprint: it depends only on the certificate bytes and the CA set,
which is fixed for the life of a store. Validity dates and revocation are checked on
every call. No I/O here except the ``from_paths`` constructor.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from docflow.clock import Clock, system_clock
from docflow.errors import (
    CertificateRevokedError,
    CertificateValidityError,
    ConfigError,
    UntrustedCertificateError,
)
from docflow.model import OrganCode
from docflow.security._pki import load_certificates, load_crls, organ_of

__all__ = ["TrustStore"]


@dataclass(frozen=True)
class _Static:
    """The cached, time-independent verdict on one certificate."""

    organ: OrganCode
    issuer: x509.Certificate
    issuer_fingerprint: bytes


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and usage.key_cert_sign


class TrustStore:
    """Trusted CA certificates and their CRLs.

    Args:
        cas: the trusted CA certificates.
        crls: revocation lists; each must be signed by one of ``cas``.
        clock: where "now" comes from when a caller does not pass it.

    >>> import datetime as dt
    >>> from docflow.security import KeyType, create_ca, issue_certificate
    >>> now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> ca = create_ca("test CA", now=now, key_type=KeyType.ECDSA_P256)
    >>> organ = issue_certificate(ca, "000.00.00.H41", "UBND", now=now,
    ...                           key_type=KeyType.ECDSA_P256)
    >>> str(TrustStore([ca.certificate]).check(organ.certificate, now=now))
    '000.00.00.H41'
    """

    def __init__(
        self,
        cas: Iterable[x509.Certificate],
        crls: Iterable[x509.CertificateRevocationList] = (),
        *,
        clock: Clock = system_clock,
    ):
        self._cas: dict[x509.Name, list[x509.Certificate]] = {}
        count = 0
        for ca in cas:
            if not _is_ca(ca):
                raise ConfigError(
                    "a trust store certificate is not a CA certificate",
                    where=ca.subject.rfc4514_string(),
                    hint="trust only CA certificates (basicConstraints CA:true, keyCertSign)",
                )
            self._cas.setdefault(ca.subject, []).append(ca)
            count += 1
        if not count:
            raise ConfigError("a trust store needs at least one CA certificate")
        self._revoked: set[tuple[bytes, int]] = set()
        for crl in crls:
            issuer = self._crl_issuer(crl)
            for entry in crl:
                self._revoked.add((_fingerprint(issuer), entry.serial_number))
        self.clock = clock
        # Keyed by the certificate itself: hashing its DER is cheaper than a fingerprint.
        self._static: dict[x509.Certificate, _Static] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_paths(
        cls, cas: Path, crls: Path | None = None, *, clock: Clock = system_clock
    ) -> TrustStore:
        """Load CA certificates (a PEM file or a directory of them) and optional CRLs."""
        return cls(load_certificates(cas), load_crls(crls) if crls else (), clock=clock)

    @property
    def cas(self) -> list[x509.Certificate]:
        """The trusted CA certificates."""
        return [ca for group in self._cas.values() for ca in group]

    def _crl_issuer(self, crl: x509.CertificateRevocationList) -> x509.Certificate:
        for ca in self._cas.get(crl.issuer, ()):
            if crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
                return ca
        raise ConfigError(
            "a CRL is not signed by any trusted CA", where=crl.issuer.rfc4514_string()
        )

    def check(self, cert: x509.Certificate, *, now: dt.datetime | None = None) -> OrganCode:
        """Accept ``cert`` as an organ's signing certificate at ``now``; return its organ.

        Raises :class:`~docflow.errors.UntrustedCertificateError`,
        :class:`~docflow.errors.CertificateValidityError` or
        :class:`~docflow.errors.CertificateRevokedError`.
        """
        when = now if now is not None else self.clock()
        static = self._static.get(cert)
        if static is None:
            static = self._check_static(cert)
            with self._lock:
                if len(self._static) >= 65536:  # bounded: attackers cannot grow it
                    self._static.clear()
                self._static[cert] = static
        subject = cert.subject.rfc4514_string()
        for item, label in ((cert, "certificate"), (static.issuer, "issuing CA certificate")):
            if when < item.not_valid_before_utc:
                raise CertificateValidityError(
                    f"the {label} is not valid yet "
                    f"(from {item.not_valid_before_utc:%Y-%m-%d %H:%M} UTC)", where=subject,
                    hint="check the clocks of both sides, or wait until it is valid",
                )
            if when > item.not_valid_after_utc:
                raise CertificateValidityError(
                    f"the {label} expired on {item.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                    where=subject,
                    hint="the signer needs a new certificate from its CA",
                )
        if (static.issuer_fingerprint, cert.serial_number) in self._revoked:
            raise CertificateRevokedError(
                f"the certificate (serial {cert.serial_number:x}) is revoked by its CA",
                where=subject,
                hint="do not accept packets signed with it; the signer needs a new certificate",
            )
        return static.organ

    def _check_static(self, cert: x509.Certificate) -> _Static:
        subject = cert.subject.rfc4514_string()
        issuer = None
        for ca in self._cas.get(cert.issuer, ()):
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            issuer = ca
            break
        if issuer is None:
            raise UntrustedCertificateError(
                "the certificate was not issued by a trusted CA "
                f"(issuer: {cert.issuer.rfc4514_string()})",
                where=subject,
                hint="add the issuing province CA to the trust store, or reject the packet",
            )
        if _is_ca(cert):
            raise UntrustedCertificateError(
                "a CA certificate cannot sign packets", where=subject
            )
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            signing = usage.digital_signature or usage.content_commitment
        except x509.ExtensionNotFound:
            signing = False
        if not signing:
            raise UntrustedCertificateError(
                "the certificate is not a signing certificate "
                "(KeyUsage digitalSignature or nonRepudiation missing)",
                where=subject,
            )
        organ = organ_of(cert)
        if organ is None:
            raise UntrustedCertificateError(
                "the certificate does not name an organ "
                "(subjectAltName URI urn:vn:organ:<code> missing)",
                where=subject,
            )
        return _Static(organ=organ, issuer=issuer, issuer_fingerprint=_fingerprint(issuer))
