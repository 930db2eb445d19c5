"""docflow: electronic interconnection of official documents between government bodies.

Builds, validates and parses edXML packets (QCVN 102:2016/BTTTT) for the Vietnamese
"liên thông văn bản 4 cấp" (province, department, district, commune) network.

>>> import docflow
>>> from docflow.samples import sample_envelope
>>> data = docflow.build_envelope(sample_envelope())
>>> docflow.parse_envelope(data).info.code
'4512/QĐ-UBND'

The services load on first use (``import docflow`` stays light): ``docflow.Node``
(``Node.from_home(path)``, ``node.running()``), ``docflow.Hub``, ``docflow.Worker``,
``docflow.Store`` and ``docflow.load_config``.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from docflow.envelope import (
    DEFAULT_POLICY,
    Envelope,
    Finding,
    PacketKind,
    ParseLimits,
    Policy,
    Reading,
    Severity,
    add_trace_hop,
    build_envelope,
    build_status,
    parse_envelope,
    parse_packet,
    parse_status,
    read_packet,
    validate_packet,
)
from docflow.errors import (
    AttachmentError,
    CertificateError,
    CertificateRevokedError,
    CertificateValidityError,
    ClosedOrganError,
    ConcurrencyError,
    ConfigError,
    CredentialsError,
    DigestMismatchError,
    DocflowError,
    DuplicateIdError,
    EnvelopeError,
    LifecycleError,
    MissingSignatureError,
    ModelError,
    MultipleSignaturesError,
    NotFoundError,
    OrganCodeError,
    OversizeError,
    PacketRefusedError,
    PdfError,
    ReplayError,
    RoutingError,
    SchemaError,
    SchemaVersionError,
    SecurityError,
    SignatureLayoutError,
    SignatureValueError,
    SignatureWrappingError,
    SignerMismatchError,
    StoreError,
    TraceHopError,
    TransportError,
    UnsafeXmlError,
    UntrustedCertificateError,
    XmlError,
)
from docflow.model import (
    DEFAULT_TZ,
    DOCUMENT_TYPES,
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    DocumentInfo,
    DocumentType,
    Hierarchy,
    Level,
    Organ,
    OrganCode,
    OrganInfo,
    OrganPattern,
    Priority,
    ReplacementInfo,
    ResponseFor,
    Signer,
    StaffInfo,
    StatusCode,
    StatusInfo,
    TraceHop,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_TZ",
    "DOCUMENT_TYPES",
    "Attachment",
    "AttachmentError",
    "Business",
    "BusinessDocType",
    "BusinessDocumentInfo",
    "CertificateError",
    "CertificateRevokedError",
    "CertificateValidityError",
    "ClosedOrganError",
    "ConcurrencyError",
    "ConfigError",
    "Credentials",
    "CredentialsError",
    "DigestMismatchError",
    "DocflowError",
    "DocumentInfo",
    "DocumentType",
    "DuplicateIdError",
    "Envelope",
    "EnvelopeError",
    "Finding",
    "Hierarchy",
    "Hub",
    "Level",
    "LifecycleError",
    "MissingSignatureError",
    "ModelError",
    "MultipleSignaturesError",
    "Node",
    "NotFoundError",
    "Organ",
    "OrganCode",
    "OrganCodeError",
    "OrganInfo",
    "OrganPattern",
    "OversizeError",
    "PacketKind",
    "PacketRefusedError",
    "ParseLimits",
    "PdfError",
    "Policy",
    "Priority",
    "Reading",
    "ReplacementInfo",
    "ReplayError",
    "ResponseFor",
    "RoutingError",
    "SchemaError",
    "SchemaVersionError",
    "SecurityError",
    "Severity",
    "SignatureLayoutError",
    "SignatureValueError",
    "SignatureWrappingError",
    "Signer",
    "SignerMismatchError",
    "StaffInfo",
    "StatusArrival",
    "StatusCode",
    "StatusInfo",
    "Store",
    "StoreError",
    "TraceHop",
    "TraceHopError",
    "TransportError",
    "TrustStore",
    "UnsafeXmlError",
    "UntrustedCertificateError",
    "Verdict",
    "Worker",
    "XmlError",
    "__version__",
    "add_trace_hop",
    "build_envelope",
    "build_status",
    "load_config",
    "parse_envelope",
    "parse_packet",
    "parse_status",
    "read_packet",
    "sign",
    "sign_envelope",
    "sign_status",
    "validate_packet",
    "verify",
]

if _TYPE_CHECKING:  # what the lazy names are, for type checkers (nothing is imported)
    from docflow.config import load_config
    from docflow.hooks import StatusArrival
    from docflow.hub import Hub
    from docflow.node import Node
    from docflow.security import (
        Credentials,
        TrustStore,
        Verdict,
        sign,
        sign_envelope,
        sign_status,
        verify,
    )
    from docflow.store import Store
    from docflow.worker import Worker

#: the services and adapters ``docflow.X`` loads on first use, by the module holding them
_LAZY = {"Node": "docflow.node", "Hub": "docflow.hub", "Worker": "docflow.worker",
         "Store": "docflow.store", "load_config": "docflow.config",
         "StatusArrival": "docflow.hooks",
         # signing and verifying: xmlsec and cryptography load with the first use
         **dict.fromkeys(("Credentials", "TrustStore", "Verdict", "sign",  # not a state
                          "sign_envelope",
                          "sign_status", "verify"), "docflow.security")}


def __getattr__(name: str) -> _Any:
    """``docflow.Node`` and the other services, imported when first asked for."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'docflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What ``dir(docflow)`` lists: the public names, the lazily loaded services too."""
    return sorted({*__all__, *_LAZY})
