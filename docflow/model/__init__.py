"""Pure data of the domain: organ codes, organs, hierarchies, documents, statuses.

Every code list of edXML (QCVN 102:2016/BTTTT) lives here as data, so that a corrected
list is a one-line change: business document types, status codes, priorities, common
document types. One module per concept (``_organs``, ``_documents``); the package does
no I/O except :meth:`Hierarchy.from_toml`, which reads TOML text it is handed (or a file
path, for convenience) and nothing else.
"""

from docflow.model._documents import (
    DOCUMENT_TYPES,
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    DocumentInfo,
    DocumentType,
    Priority,
    ReplacementInfo,
    ResponseFor,
    Signer,
    StaffInfo,
    StatusCode,
    StatusInfo,
    TraceHop,
    document_id_bound,
    document_id_for,
    require_bound,
)
from docflow.model._organs import (
    DEFAULT_TZ,
    FOUR_LEVELS,
    Hierarchy,
    Level,
    Organ,
    OrganCode,
    OrganInfo,
    OrganPattern,
    organ_codes,
)

__all__ = [
    "DEFAULT_TZ",
    "DOCUMENT_TYPES",
    "FOUR_LEVELS",
    "Attachment",
    "Business",
    "BusinessDocType",
    "BusinessDocumentInfo",
    "DocumentInfo",
    "DocumentType",
    "Hierarchy",
    "Level",
    "Organ",
    "OrganCode",
    "OrganInfo",
    "OrganPattern",
    "Priority",
    "ReplacementInfo",
    "ResponseFor",
    "Signer",
    "StaffInfo",
    "StatusCode",
    "StatusInfo",
    "TraceHop",
    "document_id_bound",
    "document_id_for",
    "organ_codes",
    "require_bound",
]
