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
    │   └── AttachmentError         undecodable attachment (base64, zip)
    ├── SecurityError               signatures, certificates, trust
    ├── LifecycleError              an event not allowed in the current state
    ├── RoutingError                unknown organ, loop, hop limit
    ├── StoreError                  persistence failures
    └── TransportError              the peer could not be reached or answered badly

This module must not import anything else from docflow.
"""

from __future__ import annotations

__all__ = [
    "AttachmentError",
    "ConfigError",
    "DocflowError",
    "EnvelopeError",
    "LifecycleError",
    "ModelError",
    "OrganCodeError",
    "OversizeError",
    "RoutingError",
    "SchemaError",
    "SecurityError",
    "StoreError",
    "TransportError",
    "UnsafeXmlError",
    "XmlError",
]


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

    def __init__(self, size: int, limit: int, *, where: str | None = None):
        self.size = size
        self.limit = limit
        super().__init__(
            f"input of {size} bytes exceeds the limit of {limit} bytes",
            where=where,
            hint="send a smaller packet or raise the size limit (ParseLimits.max_bytes)",
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


class AttachmentError(EnvelopeError):
    """An attachment's encoded content cannot be decoded."""

    fault_code = "docflow.envelope.attachment"


class SecurityError(DocflowError):
    """A signature, certificate or trust decision failed."""

    fault_code = "docflow.security"


class LifecycleError(DocflowError):
    """An event is not allowed in the current state of a document or delivery."""

    fault_code = "docflow.lifecycle"


class RoutingError(DocflowError):
    """A message cannot be routed (unknown organ, loop, hop limit)."""

    fault_code = "docflow.routing"


class StoreError(DocflowError):
    """The store could not read or write."""

    fault_code = "docflow.store"


class TransportError(DocflowError):
    """A peer could not be reached or answered with an error."""

    fault_code = "docflow.transport"
