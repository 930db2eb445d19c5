"""The one exception hierarchy of docflow.

Every error docflow raises is a :class:`DocflowError`; errors of the libraries underneath
(lxml, xmlsec, transitions, SQLAlchemy, zeep, HTTP clients) are caught at the boundary and
re-raised as one of these, so a caller needs a single ``except DocflowError``. Each error
says *what* was wrong, *where* (element path and line, organ code, message id) and *what to
do*; ``fault_code`` is the stable code the SOAP layer puts in its faults.

The tree::

    DocflowError
    ├── ConfigError                 bad configuration or hierarchy/directory file
    ├── ModelError                  a value that breaks a domain rule
    │   └── OrganCodeError          not a valid ``VVV.ZZ.YY.Mxx`` organ identifier
    ├── EnvelopeError               a packet that cannot be built or read
    │   ├── XmlError                not well-formed XML (truncated, bad encoding...)
    │   ├── UnsafeXmlError          DOCTYPE, entities, or other hostile constructs
    │   ├── OversizeError           larger than the configured limit
    │   ├── SchemaError             well-formed but not valid against xsd/ (path, line)
    │   │   └── PacketRefusedError  the lenient reader's policy refuses the packet
    │   └── AttachmentError         undecodable attachment (base64, zip)
    ├── SecurityError               signatures, certificates, trust
    │   ├── CredentialsError        a key or certificate file cannot be used
    │   ├── MissingSignatureError   no sender signature where one is required
    │   ├── SignatureLayoutError    not docflow's signature layout (references,
    │   │   │                       transforms, algorithms, KeyInfo)
    │   │   ├── MultipleSignaturesError   more than one sender signature
    │   │   ├── DuplicateIdError          an Id value used twice
    │   │   └── SignatureWrappingError    a signature or signed part out of place
    │   ├── DigestMismatchError     a signed part changed after signing
    │   ├── SignatureValueError     the signature value does not verify
    │   ├── CertificateError        the signer's certificate is not acceptable
    │   │   ├── UntrustedCertificateError  not issued by a trusted CA
    │   │   ├── CertificateValidityError   expired or not yet valid
    │   │   └── CertificateRevokedError    listed in a CRL
    │   ├── SignerMismatchError     the certificate's organ is not the packet's sender
    │   ├── TraceHopError           a trace hop is unsigned, forged or out of order
    │   ├── ReplayError             a known message id arrives with different bytes
    │   └── PdfError                a PDF that cannot be read, or signed as asked
    ├── LifecycleError              an event not allowed in the current state
    ├── RoutingError                unknown organ, loop, hop limit
    │   └── ClosedOrganError        addressed to an organ closed when it was sent
    ├── StoreError                  persistence failures
    │   ├── SchemaVersionError      the database schema is older (or newer) than the code
    │   ├── ConcurrencyError        someone else changed the row first (optimistic lock)
    │   └── NotFoundError           no such document, delivery or message
    └── TransportError              the peer could not be reached or answered badly

This module must not import anything else from docflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AttachmentError",
    "CertificateError",
    "CertificateRevokedError",
    "CertificateValidityError",
    "ClosedOrganError",
    "ConcurrencyError",
    "ConfigError",
    "CredentialsError",
    "DigestMismatchError",
    "DocflowError",
    "DuplicateIdError",
    "EnvelopeError",
    "LifecycleError",
    "MissingSignatureError",
    "ModelError",
    "MultipleSignaturesError",
    "NotFoundError",
    "OrganCodeError",
    "OversizeError",
    "PacketRefusedError",
    "PdfError",
    "ReplayError",
    "RoutingError",
    "SchemaError",
    "SchemaVersionError",
    "SecurityError",
    "SignatureLayoutError",
    "SignatureValueError",
    "SignatureWrappingError",
    "SignerMismatchError",
    "StoreError",
    "TraceHopError",
    "TransportError",
    "UnsafeXmlError",
    "UntrustedCertificateError",
    "XmlError",
]

#: the hint a transport gives with a failed attempt (a dead letter's error drops it)
RETRY_HINT = "check that it runs and can be reached; a running worker tries again later"


class DocflowError(Exception):
    """Root of all docflow errors.

    Args:
        message: what was wrong, in one sentence.
        where: where it was found (element path, organ code, message id, file).
        hint: what the caller can do about it.

    >>> str(DocflowError("bad thing", where="/edXML/x", hint="fix it"))
    'bad thing (at /edXML/x). fix it'
    """

    fault_code = "docflow.error"
    #: whether the same attempt may succeed later on its own (a peer down, a timeout):
    #: a transport's failures are; a refusal of what was sent is not
    retryable = False

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.where:
            text += f" (at {self.where})"
        if self.hint:
            text += f". {self.hint}"
        return text


class ConfigError(DocflowError):
    """A configuration, hierarchy or directory file is missing or wrong."""

    fault_code = "docflow.config"


class ModelError(DocflowError):
    """A value breaks a rule of the domain model."""

    fault_code = "docflow.model"


class OrganCodeError(ModelError):
    """A string is not a valid organ identifier (mã định danh) ``VVV.ZZ.YY.Mxx``."""

    fault_code = "docflow.model.organ-code"


class EnvelopeError(DocflowError):
    """An edXML packet cannot be built or read."""

    fault_code = "docflow.envelope"


class XmlError(EnvelopeError):
    """The bytes are not well-formed XML."""

    fault_code = "docflow.envelope.xml"

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        where: str | None = None,
        hint: str | None = None,
    ):
        self.line = line
        if line is not None and where is None:
            where = f"line {line}"
        super().__init__(message, where=where, hint=hint)


class UnsafeXmlError(EnvelopeError):
    """The XML uses a construct docflow refuses outright (DOCTYPE, entities...)."""

    fault_code = "docflow.envelope.unsafe"


class OversizeError(EnvelopeError):
    """The input is larger than the configured limit."""

    fault_code = "docflow.envelope.oversize"

    def __init__(self, size: int, limit: int, *, where: str | None = None,
                 what: str = "input", hint: str | None = None):
        self.size = size
        self.limit = limit
        super().__init__(
            f"{what} of {size} bytes exceeds the limit of {limit} bytes",
            where=where,
            hint=hint or "send a smaller packet or raise the size limit "
            "(ParseLimits.max_bytes)",
        )


class SchemaError(EnvelopeError):
    """Well-formed XML that does not validate against docflow's schemas.

    ``path`` is the XPath of the offending element, ``line`` its line number.
    """

    fault_code = "docflow.envelope.schema"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ):
        self.path = path
        self.line = line
        where = None
        if path is not None or line is not None:
            where = ", ".join(
                part
                for part in (path, f"line {line}" if line is not None else None)
                if part is not None
            )
        super().__init__(message, where=where, hint=hint)


class PacketRefusedError(SchemaError):
    """A packet read leniently that its policy refuses. ``findings`` are the
    :class:`~docflow.envelope.Finding` values that refuse it (the first one is the
    message)."""

    fault_code = "docflow.envelope.refused"

    def __init__(self, findings: Sequence[Any]):
        self.findings = tuple(findings)
        first = self.findings[0] if self.findings else None
        more = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        super().__init__(
            f"refused: {first.code}: {first.message}{more}" if first is not None
            else "refused: the packet cannot be read",
            path=getattr(first, "path", None), line=getattr(first, "line", None),
            hint="docflow conform FILE lists every finding; a policy can accept some",
        )


class AttachmentError(EnvelopeError):
    """An attachment's encoded content cannot be decoded."""

    fault_code = "docflow.envelope.attachment"


class SecurityError(DocflowError):
    """A signature, certificate or trust decision failed."""

    fault_code = "docflow.security"


class CredentialsError(SecurityError):
    """A private key or certificate cannot be read or used (bad PEM, wrong passphrase,
    no organ in the certificate)."""

    fault_code = "docflow.security.credentials"


class MissingSignatureError(SecurityError):
    """The packet carries no sender signature."""

    fault_code = "docflow.security.missing-signature"


class SignatureLayoutError(SecurityError):
    """The signature is not laid out as docflow signs: other references, transforms,
    algorithms or key information than SECURITY.md defines."""

    fault_code = "docflow.security.layout"


class MultipleSignaturesError(SignatureLayoutError):
    """More than one sender signature."""

    fault_code = "docflow.security.multiple-signatures"


class DuplicateIdError(SignatureLayoutError):
    """An ``Id`` value appears on more than one element."""

    fault_code = "docflow.security.duplicate-id"


class SignatureWrappingError(SignatureLayoutError):
    """A signature or a signed part is not where docflow puts it (signature wrapping)."""

    fault_code = "docflow.security.wrapping"


class DigestMismatchError(SecurityError):
    """A signed part (``part``) was changed after it was signed."""

    fault_code = "docflow.security.digest"

    def __init__(self, part: str, *, where: str | None = None):
        self.part = part
        super().__init__(
            f"the signed {part} was changed after signing (digest mismatch)",
            where=where,
            hint="the packet was altered in transit; ask the sender to send it again",
        )


class SignatureValueError(SecurityError):
    """The signature value does not verify with the signer's public key."""

    fault_code = "docflow.security.signature-value"


class CertificateError(SecurityError):
    """The signer's certificate is not acceptable."""

    fault_code = "docflow.security.certificate"


class UntrustedCertificateError(CertificateError):
    """The certificate was not issued by a CA of the trust store."""

    fault_code = "docflow.security.untrusted"


class CertificateValidityError(CertificateError):
    """The certificate is expired or not yet valid at the time of verification."""

    fault_code = "docflow.security.validity"


class CertificateRevokedError(CertificateError):
    """The certificate is listed in a CRL of its issuer."""

    fault_code = "docflow.security.revoked"


class SignerMismatchError(SecurityError):
    """The organ named in the certificate is not the organ the packet claims to be from."""

    fault_code = "docflow.security.signer-mismatch"


class TraceHopError(SecurityError):
    """A trace hop is unsigned, forged, or not in its place."""

    fault_code = "docflow.security.trace-hop"


class ReplayError(SecurityError):
    """A message id already received arrives again with different bytes."""

    fault_code = "docflow.security.replay"


class PdfError(SecurityError):
    """A PDF that cannot be read, or cannot be signed as asked (not a PDF, an organ's
    signature on a document its official has not validly signed, a certificate of the
    wrong kind for the role)."""

    fault_code = "docflow.security.pdf"


class LifecycleError(DocflowError):
    """An event is not allowed in the current state of a document or delivery;
    ``state`` and ``allowed`` (the events that are) when a machine refused it."""

    fault_code = "docflow.lifecycle"

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None,
                 state: str | None = None, allowed: tuple[str, ...] = ()):
        super().__init__(message, where=where, hint=hint)
        self.state, self.allowed = state, allowed


class RoutingError(DocflowError):
    """A message cannot be routed (unknown organ, loop, hop limit)."""

    fault_code = "docflow.routing"


class ClosedOrganError(RoutingError):
    """A document addressed to an organ that is closed (or not yet established) at the
    time it is sent: ``successor`` is the organ that took over its work, if any."""

    fault_code = "docflow.routing.closed"

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None,
                 successor: str | None = None):
        super().__init__(message, where=where, hint=hint)
        self.successor = successor


class StoreError(DocflowError):
    """The store could not read or write."""

    fault_code = "docflow.store"


class SchemaVersionError(StoreError):
    """The database's schema revision is not the one this docflow expects."""

    fault_code = "docflow.store.schema-version"


class ConcurrencyError(StoreError):
    """Another worker changed the row between read and write (version mismatch)."""

    fault_code = "docflow.store.concurrency"


class NotFoundError(StoreError):
    """No such document, delivery or message in the store."""

    fault_code = "docflow.store.not-found"


class TransportError(DocflowError):
    """A peer could not be reached or answered with an error."""

    fault_code = "docflow.transport"
    retryable = True
