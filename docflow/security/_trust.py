"""The trust store: which CAs may issue organ certificates, for which organs, and which
certificates are revoked.

A signer's certificate is accepted when it was issued directly by a trusted CA (a
province CA), is a signing certificate (not a CA; KeyUsage digitalSignature or
nonRepudiation), names an organ (subjectAltName ``urn:vn:organ:<code>``) **that its CA
may certify**, is valid at the time of verification, and is not listed in a CRL of its
issuer. What a CA may certify comes from its own name constraints (docflow writes them,
see :func:`~docflow.security.create_ca`) and from the trust store's own mapping of CA
to organ-code patterns (for CAs docflow did not issue: ``organs=`` or the trust folder's
``organs.toml``); both apply when both exist. A trust store of several CAs refuses to be
built while one of them is bound to nothing: with two provinces' CAs, either could
otherwise certify the other's organs.

The time-independent part of that check (issuer signature, extensions, organ) is cached
by certificate fingerprint: it depends only on the certificate bytes and the CA set,
which is fixed for the life of a store. Validity dates and revocation are checked on
every call. No I/O here except the ``from_paths`` constructor.
"""

from __future__ import annotations

import datetime as dt
import threading
import tomllib
from collections.abc import Iterable, Mapping, Sequence
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
    DocflowError,
    UntrustedCertificateError,
)
from docflow.model import OrganCode, OrganPattern
from docflow.security._pki import (
    load_certificates,
    load_crls,
    organ_domain,
    organ_of,
    organ_subtrees,
    subtree_pattern,
)

__all__ = ["CONSTRAINTS_FILE", "CaScope", "TrustStore"]

#: The file of a trust folder that maps its CAs to the organs they may certify.
CONSTRAINTS_FILE = "organs.toml"


def _within(domain: str, subtree: str) -> bool:
    """RFC 5280 dNSName matching: the subtree itself or any name below it."""
    return domain == subtree or domain.endswith("." + subtree)


@dataclass(frozen=True)
class CaScope:
    """Which organs one trusted CA may certify: its name constraints (``permitted`` and
    ``excluded`` organ subtrees, None without them) and the trust store's patterns for it
    (``patterns``, None without them)."""

    permitted: tuple[str, ...] | None = None
    excluded: tuple[str, ...] = ()
    patterns: tuple[OrganPattern, ...] | None = None

    @property
    def bound(self) -> bool:
        """Whether anything limits the CA at all."""
        return self.permitted is not None or bool(self.excluded) or self.patterns is not None

    def allows(self, organ: OrganCode) -> bool:
        """Whether the CA may certify ``organ``."""
        domain = organ_domain(organ)
        if self.permitted and not any(
                _within(domain, subtree) for subtree in self.permitted):
            return False
        if any(_within(domain, subtree) for subtree in self.excluded):
            return False
        return self.patterns is None or any(p.matches(organ) for p in self.patterns)

    def describe(self) -> str:
        """The scope in words, for error messages."""
        parts = []
        if self.permitted:
            parts.append("name constraints "
                         + ", ".join(map(subtree_pattern, self.permitted)))
        if self.excluded:
            parts.append("excluding " + ", ".join(map(subtree_pattern, self.excluded)))
        if self.patterns is not None:
            parts.append("trust store " + ", ".join(map(str, self.patterns)))
        return "; ".join(parts) or "any organ"


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
        organs: for some of ``cas``, the organ-code patterns each may certify (beside
            any name constraints the CA carries). With more than one CA, each must be
            bound by one or the other (give ``["*"]`` to trust a CA for every organ).
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
        organs: Mapping[x509.Certificate, Sequence[OrganPattern | str]] | None = None,
        clock: Clock = system_clock,
    ):
        self._cas: dict[x509.Name, list[x509.Certificate]] = {}
        self._scopes: dict[x509.Certificate, CaScope] = {}
        mapped = {ca: tuple(OrganPattern(str(p)) for p in patterns)
                  for ca, patterns in (organs or {}).items()}
        count = 0
        for ca in cas:
            if not _is_ca(ca):
                raise ConfigError(
                    "a trust store certificate is not a CA certificate",
                    where=ca.subject.rfc4514_string(),
                    hint="trust only CA certificates (basicConstraints CA:true, keyCertSign)",
                )
            self._cas.setdefault(ca.subject, []).append(ca)
            subtrees = organ_subtrees(ca)
            self._scopes[ca] = CaScope(
                permitted=None if subtrees is None else subtrees[0],
                excluded=() if subtrees is None else subtrees[1],
                patterns=mapped.pop(ca, None))
            count += 1
        if not count:
            raise ConfigError("a trust store needs at least one CA certificate")
        if mapped:
            raise ConfigError(
                "organ patterns were given for a certificate that is not a trusted CA",
                where=next(iter(mapped)).subject.rfc4514_string())
        unbound = [ca for ca, scope in self._scopes.items() if not scope.bound]
        if count > 1 and unbound:
            raise ConfigError(
                f"the trust store holds {count} CAs and this one may certify any organ",
                where=unbound[0].subject.rfc4514_string(),
                hint=f"bind each CA to its organs: name constraints on the CA (docflow pki "
                f"ca create --organs), or its patterns in {CONSTRAINTS_FILE} (\"*\" to "
                "allow every organ explicitly)")
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
        cls, cas: str | Path, crls: str | Path | None = None, *,
        organs: str | Path | None = None, clock: Clock = system_clock
    ) -> TrustStore:
        """Load CA certificates (a PEM file or a directory of them), optional CRLs, and
        the CA -> organ patterns of ``organs`` (default: ``organs.toml`` in the ``cas``
        directory, when there is one); paths as ``str`` or ``Path``::

            [[ca]]
            certificate = "da-nang-ca.crt"   # a file beside organs.toml
            organs = ["*.*.*.H43"]
        """
        cas = Path(cas)
        if organs is None and cas.is_dir() and (cas / CONSTRAINTS_FILE).is_file():
            organs = cas / CONSTRAINTS_FILE
        return cls(load_certificates(cas), load_crls(Path(crls)) if crls else (),
                   organs=_load_organs(Path(organs)) if organs is not None else None,
                   clock=clock)

    def scope(self, ca: x509.Certificate) -> CaScope:
        """Which organs the trusted CA ``ca`` may certify."""
        try:
            return self._scopes[ca]
        except KeyError:
            raise ConfigError("not a CA of this trust store",
                              where=ca.subject.rfc4514_string()) from None

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
        scope = self._scopes[issuer]
        if not scope.allows(organ):
            raise UntrustedCertificateError(
                f"the CA {issuer.subject.rfc4514_string()} may not certify organ {organ} "
                f"(it may certify: {scope.describe()})",
                where=subject,
                hint="a CA certifies only its own organs; a certificate for another "
                "province's organ comes from that province's CA")
        return _Static(organ=organ, issuer=issuer, issuer_fingerprint=_fingerprint(issuer))


def _load_organs(path: Path) -> dict[x509.Certificate, list[OrganPattern | str]]:
    """The CA -> patterns mapping of an ``organs.toml``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the trust store's organ patterns: {exc}",
                          where=str(path)) from exc
    mapping: dict[x509.Certificate, list[OrganPattern | str]] = {}
    for index, entry in enumerate(data.get("ca", [])):
        where = f"{path} [[ca]] #{index + 1}"
        certificate, patterns = entry.get("certificate"), entry.get("organs")
        if not isinstance(certificate, str) or not isinstance(patterns, list) or not all(
                isinstance(p, str) for p in patterns):
            raise ConfigError("each [[ca]] needs certificate = \"file\" and organs = [...]",
                              where=where)
        try:
            certs = load_certificates(path.parent / certificate)
            parsed: list[OrganPattern | str] = [OrganPattern(p) for p in patterns]
        except DocflowError as exc:
            raise ConfigError(exc.message, where=where, hint=exc.hint) from exc
        for cert in certs:
            mapping[cert] = parsed
    return mapping
