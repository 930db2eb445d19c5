"""docflow: electronic interconnection of official documents between government bodies.

Builds, validates and parses edXML packets (QCVN 102:2016/BTTTT) for the Vietnamese
"liên thông văn bản 4 cấp" (province, department, district, commune) network.

>>> import docflow
>>> from docflow.samples import sample_envelope
>>> data = docflow.build_envelope(sample_envelope())
>>> docflow.parse_envelope(data).info.code
'4512/QĐ-UBND'
"""

from docflow.envelope import (
    Envelope,
    PacketKind,
    ParseLimits,
    add_trace_hop,
    build_envelope,
    build_status,
    parse_envelope,
    parse_packet,
    parse_status,
    validate_packet,
)
from docflow.errors import (
    AttachmentError,
    ConfigError,
    DocflowError,
    EnvelopeError,
    LifecycleError,
    ModelError,
    OrganCodeError,
    OversizeError,
    RoutingError,
    SchemaError,
    SecurityError,
    StoreError,
    TransportError,
    UnsafeXmlError,
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
    "DEFAULT_TZ",
    "DOCUMENT_TYPES",
    "Attachment",
    "AttachmentError",
    "Business",
    "BusinessDocType",
    "BusinessDocumentInfo",
    "ConfigError",
    "DocflowError",
    "DocumentInfo",
    "DocumentType",
    "Envelope",
    "EnvelopeError",
    "Hierarchy",
    "Level",
    "LifecycleError",
    "ModelError",
    "Organ",
    "OrganCode",
    "OrganCodeError",
    "OrganInfo",
    "OversizeError",
    "PacketKind",
    "ParseLimits",
    "Priority",
    "ReplacementInfo",
    "ResponseFor",
    "RoutingError",
    "SchemaError",
    "SecurityError",
    "Signer",
    "StaffInfo",
    "StatusCode",
    "StatusInfo",
    "StoreError",
    "TraceHop",
    "TransportError",
    "UnsafeXmlError",
    "XmlError",
    "__version__",
    "add_trace_hop",
    "build_envelope",
    "build_status",
    "parse_envelope",
    "parse_packet",
    "parse_status",
    "validate_packet",
]
