"""Keys and certificates: a province CA, organ certificates, PEM files, CRLs.

An organ certificate binds its organ code in a subjectAltName URI
``urn:vn:organ:<code>`` (e.g. ``urn:vn:organ:000.00.00.H41``); the common name is the
organ's name, for people. A CA created for some organs only carries X.509 name
constraints: permitted dNSName subtrees over the organ code read as a domain name
(``000.46.05.H41`` is ``000.46.05.h41.organ.invalid``, so the subtree
``h41.organ.invalid`` is every organ of H41); docflow's trust store applies them to the
organ code. RSA-2048 by default, ECDSA P-256 on request. Pure functions of their inputs:
pass ``now``; file access only in :meth:`Credentials.save` / ``load``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from docflow.errors import CredentialsError, ModelError, SignatureValueError
from docflow.model import OrganCode, OrganPattern

__all__ = [
    "OFFICIAL_URI_PREFIX",
    "ORGAN_DOMAIN",
    "ORGAN_URI_PREFIX",
    "Credentials",
    "KeyType",
    "PrivateKey",
    "create_ca",
    "create_crl",
    "issue_certificate",
    "issue_official_certificate",
    "key_is_encrypted",
    "load_certificates",
    "load_crls",
    "official_of",
    "organ_domain",
    "organ_of",
    "organ_subtrees",
    "sign_data",
    "verify_data",
]

#: The subjectAltName URI prefix that binds a certificate to an organ code.
ORGAN_URI_PREFIX = "urn:vn:organ:"
#: The subjectAltName URI prefix binding an official's (a person's) certificate to the
#: organ the person signs for.
OFFICIAL_URI_PREFIX = "urn:vn:official:"
#: The domain under which name constraints read organ codes (``.invalid`` is reserved,
#: RFC 2606: no real host is ever named by it).
ORGAN_DOMAIN = "organ.invalid"


def organ_domain(code: OrganCode) -> str:
    """An organ code read as a domain name, what name constraints are matched against.

    >>> organ_domain(OrganCode("000.46.05.H41"))
    '000.46.05.h41.organ.invalid'
    """
    return f"{str(code).lower()}.{ORGAN_DOMAIN}"


def _subtree(pattern: OrganPattern) -> x509.DNSName:
    suffix = pattern.suffix
    if suffix is None:
        raise CredentialsError(
            f"the pattern {pattern} cannot be written as a name constraint",
            hint="name constraints fix the right-hand parts of a code (*.*.05.H41); "
            "give other patterns in the trust store's organs.toml instead")
    return x509.DNSName(".".join([*(part.lower() for part in suffix), ORGAN_DOMAIN]))


def subtree_pattern(domain: str) -> str:
    """An organ subtree of a name constraint as the organ pattern it stands for, what a
    person reads (``05.h41.organ.invalid`` is ``*.*.05.H41``).

    >>> subtree_pattern("h41.organ.invalid")
    '*.*.*.H41'
    """
    parts = [part.upper() if len(part) == 3 and part[0].isalpha() else part
             for part in domain.removesuffix(ORGAN_DOMAIN).rstrip(".").split(".") if part]
    return ".".join(["*"] * (4 - len(parts)) + parts) if parts else "*"


def check_issuable(ca: x509.Certificate, organ: OrganCode) -> None:
    """Refuse to certify ``organ`` with a CA whose name constraints exclude it: every
    packet the organ signed would be refused by its receivers."""
    scope = organ_subtrees(ca)
    if scope is None:
        return
    permitted, excluded = scope
    domain = organ_domain(organ)

    def within(subtree: str) -> bool:
        return domain == subtree or domain.endswith("." + subtree)

    if (permitted and not any(map(within, permitted))) or any(map(within, excluded)):
        allowed = ", ".join(map(subtree_pattern, permitted)) or "any organ"
        refused = f" (not {', '.join(map(subtree_pattern, excluded))})" if excluded else ""
        raise CredentialsError(
            f"this CA may certify {allowed}{refused}, not {organ}",
            hint="every packet the organ signed would be refused: use the CA of its "
            "province (or create one with --organs naming it)")


def organ_subtrees(ca: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The permitted and excluded organ subtrees (domains under :data:`ORGAN_DOMAIN`) of
    a CA certificate's name constraints, or None when they say nothing of organs."""
    try:
        constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None

    def organ_names(subtrees: Iterable[x509.GeneralName] | None) -> tuple[str, ...]:
        names = [str(name.value).lower().lstrip(".") for name in subtrees or ()
                 if isinstance(name, x509.DNSName)]
        return tuple(name for name in names
                     if name == ORGAN_DOMAIN or name.endswith("." + ORGAN_DOMAIN))

    permitted = organ_names(constraints.permitted_subtrees)
    excluded = organ_names(constraints.excluded_subtrees)
    if not permitted and not excluded:
        return None
    return permitted, excluded

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class KeyType(enum.Enum):
    """Key algorithms docflow issues and signs with."""

    RSA2048 = "rsa2048"
    ECDSA_P256 = "ecdsa-p256"

    def generate(self) -> PrivateKey:
        """A fresh private key of this type."""
        if self is KeyType.RSA2048:
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return ec.generate_private_key(ec.SECP256R1())


def sign_data(key: PrivateKey, data: bytes) -> bytes:
    """A plain signature of ``data`` (SHA-256; RSA PKCS#1 v1.5 or DER-encoded ECDSA): the
    short signed statements that are not XML (request tokens, audit checkpoints)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise CredentialsError(f"cannot sign with a {type(key).__name__}")


def verify_data(certificate: x509.Certificate, signature: bytes, data: bytes, *,
                where: str | None = None) -> None:
    """Check a :func:`sign_data` signature with the certificate's key
    (:class:`~docflow.errors.SignatureValueError` if it does not verify)."""
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise SignatureValueError("unsupported key type in the certificate", where=where)
    except InvalidSignature as exc:
        raise SignatureValueError("the signature does not verify with the certificate's key",
                                  where=where) from exc


@dataclass(frozen=True)
class Credentials:
    """A private key and its certificate: an organ's (or a CA's) signing identity.

    The xmlsec form of the key is built once, on first use, and shared read-only. A
    key left locked (``private_key`` None: :meth:`load` with ``need_key=False`` and no
    passphrase for an encrypted key) still names the organ; signing with it is a
    :class:`~docflow.errors.CredentialsError` saying why (``locked``).
    """

    private_key: PrivateKey | None
    certificate: x509.Certificate
    #: why ``private_key`` is None (what to set to unlock it)
    locked: str = ""
    # Per-credentials memo of derived forms (xmlsec key, signature templates), owned by
    # docflow.security: built once, then only read.
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def organ(self) -> OrganCode:
        """The organ code bound in the certificate (``CredentialsError`` if none)."""
        code = organ_of(self.certificate)
        if code is None:
            raise CredentialsError(
                "the certificate names no organ",
                where=self.certificate.subject.rfc4514_string(),
                hint=f"issue it with a subjectAltName URI {ORGAN_URI_PREFIX}<organ code>",
            )
        return code

    def signing_key(self) -> PrivateKey:
        """The private key, to sign with (a locked key is a ``CredentialsError``)."""
        if self.private_key is None:
            raise CredentialsError(self.locked or "these credentials hold no private key",
                                   where=str(organ_of(self.certificate) or ""),
                                   hint="signing needs the key's passphrase")
        return self.private_key

    @cached_property
    def certificate_der(self) -> bytes:
        """The certificate in DER form (what ``X509Certificate`` carries, base64)."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def private_key_pem(self, passphrase: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when a passphrase is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self.signing_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def certificate_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def save(self, key_path: Path, cert_path: Path, *,
             passphrase: str | bytes | None = None) -> None:
        """Write the key (mode 0600; encrypted with ``passphrase`` when given) and the
        certificate as PEM files."""
        if isinstance(passphrase, str):
            passphrase = passphrase.encode()
        key_path.write_bytes(self.private_key_pem(passphrase))
        key_path.chmod(0o600)
        cert_path.write_bytes(self.certificate_pem())

    @classmethod
    def load(
        cls, key_path: str | Path, cert_path: str | Path, *,
        passphrase: str | bytes | None = None, need_key: bool = True,
        locked: str = "the key is encrypted and no passphrase was given"
    ) -> Credentials:
        """Read credentials written by :meth:`save` (or any PEM key + certificate);
        paths as ``str`` or ``Path``, the passphrase as ``str`` (UTF-8) or ``bytes``.
        ``need_key=False``: an encrypted key without its passphrase is left locked (the
        certificate still names the organ; signing says ``locked``) instead of an error:
        for what only reads."""
        try:
            key_pem = Path(key_path).read_bytes()
            cert_pem = Path(cert_path).read_bytes()
        except OSError as exc:
            raise CredentialsError(f"cannot read key or certificate: {exc}") from exc
        if not need_key and passphrase is None and key_is_encrypted(key_pem):
            try:
                return cls(None, x509.load_pem_x509_certificate(cert_pem), locked=locked)
            except ValueError as exc:
                raise CredentialsError(f"cannot load the certificate: {exc}",
                                       where=str(cert_path)) from exc
        return cls.from_pem(key_pem, cert_pem, passphrase=passphrase, where=str(key_path))

    @classmethod
    def from_pem(
        cls,
        key_pem: bytes,
        cert_pem: bytes,
        *,
        passphrase: str | bytes | None = None,
        where: str | None = None,
    ) -> Credentials:
        """Credentials from PEM bytes; the key must match the certificate."""
        if isinstance(passphrase, str):
            passphrase = passphrase.encode()
        try:
            key = serialization.load_pem_private_key(key_pem, password=passphrase)
        except TypeError as exc:  # a passphrase missing or given for an unencrypted key
            if passphrase is not None:
                raise CredentialsError(
                    "cannot load the private key: a passphrase was given but the key is not "
                    "encrypted", where=where,
                    hint="give no passphrase for this key (unset the variable that holds "
                         "it, e.g. DOCFLOW_KEY_PASSPHRASE)") from exc
            raise CredentialsError("cannot load the private key: it is encrypted and no "
                                   "passphrase was given", where=where,
                                   hint="give the key's passphrase") from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CredentialsError(
                "cannot load the private key (wrong passphrase or not a PEM key)", where=where
            ) from exc
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise CredentialsError(
                f"unsupported key type {type(key).__name__}", where=where,
                hint="docflow signs with RSA or ECDSA P-256 keys",
            )
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise CredentialsError(f"cannot load the certificate: {exc}", where=where) from exc
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if cert.public_key().public_bytes(serialization.Encoding.DER, spki) != key.public_key(
        ).public_bytes(serialization.Encoding.DER, spki):
            raise CredentialsError("the private key does not match the certificate", where=where)
        return cls(key, cert)


def key_is_encrypted(key_pem: bytes) -> bool:
    """Whether a PEM private key is passphrase-protected (``ENCRYPTED PRIVATE KEY``, or
    a legacy key's ``Proc-Type: 4,ENCRYPTED``)."""
    return b"ENCRYPTED" in key_pem[:128]


def organ_of(certificate: x509.Certificate) -> OrganCode | None:
    """The organ code bound in a certificate's subjectAltName, or None."""
    return _bound(certificate, ORGAN_URI_PREFIX)


def official_of(certificate: x509.Certificate) -> OrganCode | None:
    """The organ an official's (a person's) certificate is bound to, or None (see
    :func:`issue_official_certificate`)."""
    return _bound(certificate, OFFICIAL_URI_PREFIX)


def _bound(certificate: x509.Certificate, prefix: str) -> OrganCode | None:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    for uri in san.value.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(prefix):
            try:
                return OrganCode(uri[len(prefix):])
            except ModelError:
                return None
    return None


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def _serial() -> int:
    return x509.random_serial_number()


def create_ca(
    name: str,
    *,
    now: dt.datetime,
    key_type: KeyType = KeyType.RSA2048,
    days: int = 3650,
    organs: Iterable[OrganPattern | str] | None = None,
) -> Credentials:
    """A self-signed CA (e.g. a province's) that issues organ certificates.

    ``organs`` (patterns whose ``*`` parts are on the left, e.g. ``*.*.*.H41``) binds the
    CA to those organs with X.509 name constraints (critical): a trust store refuses
    any certificate it issues for another organ. Without it the CA is unconstrained.

    >>> import datetime as dt
    >>> ca = create_ca("Quảng Nam test CA", now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    ...                key_type=KeyType.ECDSA_P256, organs=["*.*.*.H41"])
    >>> ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    True
    >>> organ_subtrees(ca.certificate)
    (('h41.organ.invalid',), ())
    """
    key = key_type.generate()
    subject = _name(name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if organs is not None:
        patterns = [OrganPattern(str(item)) for item in organs]
        if not patterns:
            raise CredentialsError("a CA bound to organs needs at least one pattern")
        builder = builder.add_extension(x509.NameConstraints(
            permitted_subtrees=[_subtree(pattern) for pattern in patterns],
            excluded_subtrees=None), critical=True)
    return Credentials(key, builder.sign(key, hashes.SHA256()))


def issue_certificate(
    ca: Credentials,
    organ: OrganCode | str,
    name: str,
    *,
    now: dt.datetime,
    key_type: KeyType = KeyType.RSA2048,
    days: int = 730,
    not_before: dt.datetime | None = None,
    check_scope: bool = True,
) -> Credentials:
    """A new key and a certificate for ``organ``, issued by ``ca``.

    ``not_before`` defaults to ``now`` minus five minutes (clock skew). A CA whose name
    constraints leave ``organ`` out refuses (:class:`~docflow.errors.CredentialsError`):
    receivers would refuse every packet the organ signs (``check_scope=False`` makes
    such a certificate all the same: tests of that very refusal).
    """
    code = OrganCode.parse(organ)
    if check_scope:
        check_issuable(ca.certificate, code)
    return _issue(ca, _name(name), f"{ORGAN_URI_PREFIX}{code}", now=now, key_type=key_type,
                  days=days, not_before=not_before)


def issue_official_certificate(
    ca: Credentials,
    organ: OrganCode | str,
    person: str,
    *,
    now: dt.datetime,
    title: str | None = None,
    organization: str | None = None,
    key_type: KeyType = KeyType.RSA2048,
    days: int = 730,
    not_before: dt.datetime | None = None,
) -> Credentials:
    """A new key and a certificate for an official (người có thẩm quyền ký) of ``organ``:
    the person's name as the subject's common name (with ``title``, ``organization``
    when given), bound to the organ by a subjectAltName URI
    ``urn:vn:official:<organ code>`` (:func:`official_of` reads it), with the key usage
    PAdES validators ask of a signer (digital signature and non-repudiation). What
    signs a PDF as the official, before the organ's văn thư signs it as the organ
    (Nghị định 30/2020, Art. 5); never an organ's packet signature."""
    code = OrganCode.parse(organ)
    check_issuable(ca.certificate, code)
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if title:
        attributes.append(x509.NameAttribute(NameOID.TITLE, title))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, person))
    return _issue(ca, x509.Name(attributes), f"{OFFICIAL_URI_PREFIX}{code}", now=now,
                  key_type=key_type, days=days, not_before=not_before)


def _issue(ca: Credentials, subject: x509.Name, uri: str, *, now: dt.datetime,
           key_type: KeyType, days: int, not_before: dt.datetime | None) -> Credentials:
    key = key_type.generate()
    start = not_before if not_before is not None else now - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing=True), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]),
                       critical=False)
    )
    try:
        ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value),
            critical=False,
        )
    except x509.ExtensionNotFound:
        pass  # a CA without a key identifier: the issuer name alone links them
    return Credentials(key, builder.sign(ca.signing_key(), hashes.SHA256()))


def create_crl(
    ca: Credentials,
    revoked: Iterable[x509.Certificate],
    *,
    now: dt.datetime,
    days: int = 7,
) -> x509.CertificateRevocationList:
    """A CRL signed by ``ca`` that revokes ``revoked`` as of ``now``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=days))
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now)
            .build()
        )
    return builder.sign(ca.signing_key(), hashes.SHA256())


def _pem_blocks(path: Path, marker: bytes) -> list[bytes]:
    paths = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    blocks: list[bytes] = []
    for item in paths:
        try:
            data = item.read_bytes()
        except OSError as exc:
            raise CredentialsError(f"cannot read {item}: {exc}") from exc
        begin = b"-----BEGIN " + marker + b"-----"
        end = b"-----END " + marker + b"-----"
        start = data.find(begin)
        while start >= 0:
            stop = data.find(end, start)
            if stop < 0:
                raise CredentialsError("unterminated PEM block", where=str(item))
            blocks.append(data[start : stop + len(end)])
            start = data.find(begin, stop)
    return blocks


def load_certificates(path: Path) -> list[x509.Certificate]:
    """All PEM certificates in a file, or in the files of a directory."""
    try:
        return [x509.load_pem_x509_certificate(b) for b in _pem_blocks(path, b"CERTIFICATE")]
    except ValueError as exc:
        raise CredentialsError(f"bad certificate: {exc}", where=str(path)) from exc


def load_crls(path: Path) -> list[x509.CertificateRevocationList]:
    """All PEM CRLs in a file, or in the files of a directory."""
    try:
        return [x509.load_pem_x509_crl(b) for b in _pem_blocks(path, b"X509 CRL")]
    except ValueError as exc:
        raise CredentialsError(f"bad CRL: {exc}", where=str(path)) from exc
