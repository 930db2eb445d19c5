"""What a receiver trusts for signed PDFs (:class:`PdfTrust`): the CA certificates of the
PDF trust list (roots and intermediates: Vietnam's public CAs and the government's
specialised CA in real use), the CRLs at hand, and how strictly revocation is checked.
Separate from the edXML trust store: other CAs sign people's PDFs than organs' packets.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from docflow.errors import CredentialsError

__all__ = ["REVOCATION_MODES", "PdfTrust"]

#: How revocation is checked: ``require`` (the default: every certificate below a root
#: needs a CRL or an OCSP answer saying it is good, whether or not it names where to
#: find one), ``hard-fail`` (the certificates that name a CRL or OCSP responder need its
#: answer; one that names none passes) or ``soft-fail`` (what is at hand is used; a
#: certificate with no revocation information passes: pyHanko's default, never docflow's
#: unless asked).
REVOCATION_MODES = ("require", "hard-fail", "soft-fail")

_PEM_CERT = b"-----BEGIN CERTIFICATE-----"
_FETCH_LOCK = threading.Lock()
_PEM_CRL = b"-----BEGIN X509 CRL-----"


@dataclass(frozen=True)
class PdfTrust:
    """The PDF trust list: self-signed ``roots`` (trust anchors), ``intermediates``
    (CA certificates that chain to them), ``crls`` (DER or PEM), and the revocation
    mode (:data:`REVOCATION_MODES`). ``fetch`` lets the validator fetch CRLs and OCSP
    answers named in the certificates (each request bounded by ``fetch_timeout``); what
    it fetched is kept for ``fetch_cache`` seconds and shared by the documents checked
    meanwhile (then fetched again: a CRL's next update may have come)."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[bytes, ...] = ()
    revocation: str = "require"
    fetch: bool = False
    fetch_timeout: float = 10.0
    fetch_cache: float = 3600.0
    #: what is derived once per trust list: the asn1crypto forms, the shared fetchers
    _cache: dict[str, object] = field(default_factory=dict, init=False, repr=False,
                                     compare=False)

    def __post_init__(self) -> None:
        if self.revocation not in REVOCATION_MODES:
            raise CredentialsError(f"unknown revocation mode {self.revocation!r}",
                                   hint="one of " + ", ".join(REVOCATION_MODES))
        if not self.roots:
            raise CredentialsError("a PDF trust list needs at least one root certificate",
                                   hint="give the CAs whose signers you accept")

    @classmethod
    def of(cls, certificates: Iterable[x509.Certificate], *,
           crls: Iterable[bytes | x509.CertificateRevocationList] = (),
           revocation: str = "require", fetch: bool = False) -> PdfTrust:
        """A trust list from CA certificates (self-signed ones are the roots, the rest
        intermediates) and CRLs."""
        roots: list[x509.Certificate] = []
        intermediates: list[x509.Certificate] = []
        for certificate in certificates:
            (roots if certificate.issuer == certificate.subject else intermediates).append(
                certificate)
        return cls(tuple(roots), tuple(intermediates),
                   tuple(c.public_bytes(Encoding.DER) if isinstance(
                       c, x509.CertificateRevocationList) else _crl_der(c, "a CRL")
                       for c in crls), revocation=revocation, fetch=fetch)

    @classmethod
    def load(cls, trust: Path, *, crls: Path | None = None, revocation: str = "require",
             fetch: bool = False) -> PdfTrust:
        """A trust list from a file or a directory of CA certificates (PEM or DER) and,
        optionally, a file or directory of CRLs (PEM or DER)."""
        return cls.of(_certificates(trust), crls=_crls(crls) if crls is not None else (),
                      revocation=revocation, fetch=fetch)

    def context(self, *, moment: dt.datetime | None = None,
                extra: Sequence[x509.Certificate] = ()) -> ValidationContext:
        """A fresh validation context (one per document: pyHanko caches what it
        fetched and validated in it)."""
        if not self._cache:  # parsed once per trust list, shared read-only by contexts
            self._cache.update(roots=[_asn1(c) for c in self.roots],
                              others=[_asn1(c) for c in self.intermediates],
                              crls=[asn1_crl.CertificateList.load(d) for d in self.crls])
        roots = list(self._cache["roots"])  # type: ignore[call-overload]
        others = [*self._cache["others"], *(_asn1(c) for c in extra)]  # type: ignore[misc]
        crls = list(self._cache["crls"])  # type: ignore[call-overload]
        return ValidationContext(trust_roots=roots, other_certs=others, crls=crls,
                                 revocation_mode=self.revocation, moment=moment,
                                 allow_fetching=self.fetch, fetchers=self._fetchers())

    def _fetchers(self) -> Fetchers | None:
        """The fetchers shared by the contexts of the last ``fetch_cache`` seconds
        (requests: synchronous, each request bounded, no event loop of its own)."""
        if not self.fetch:
            return None
        with _FETCH_LOCK:
            kept = self._cache.get("fetchers")
            now = time.monotonic()
            if not isinstance(kept, tuple) or now - kept[0] > self.fetch_cache:
                backend = RequestsFetcherBackend(per_request_timeout=self.fetch_timeout)
                kept = (now, backend.get_fetchers())
                self._cache["fetchers"] = kept
            fetchers: Fetchers = kept[1]
            return fetchers


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if path.is_file():
        return [path]
    raise CredentialsError("no such file or directory", where=str(path),
                           hint="give a certificate (or CRL) file, or a directory of them")


def _blocks(data: bytes, marker: bytes) -> list[bytes]:
    """The DER of each PEM block with ``marker``, or the data itself when it is DER."""
    if marker not in data:
        return [data] if not data.lstrip().startswith(b"-----") else []
    text = data.decode("ascii", "replace")  # not a state: a codec error handler
    label = marker.decode()[len("-----BEGIN "):-len("-----")]
    blocks = []
    for part in text.split(f"-----BEGIN {label}-----")[1:]:
        body = part.split(f"-----END {label}-----")[0]
        blocks.append(base64.b64decode("".join(body.split())))
    return blocks


def _certificates(path: Path) -> list[x509.Certificate]:
    found = []
    for file in _files(path):
        for der in _blocks(file.read_bytes(), _PEM_CERT):
            try:
                found.append(x509.load_der_x509_certificate(der))
            except ValueError as exc:
                raise CredentialsError(f"not a certificate: {exc}", where=str(file),
                                       hint="PEM or DER X.509 certificates") from exc
    if not found:
        raise CredentialsError("no certificate found", where=str(path),
                               hint="PEM or DER X.509 certificates")
    return found


def _crl_der(der: bytes, where: str) -> bytes:
    try:
        x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise CredentialsError(f"not a CRL: {exc}", where=where,
                               hint="PEM or DER certificate revocation lists") from exc
    return der


def _crls(path: Path) -> list[bytes]:
    return [_crl_der(der, str(file)) for file in _files(path)
            for der in _blocks(file.read_bytes(), _PEM_CRL)]
