"""The edXML document packet as a value: its document, attachments, trace hops and
message id, and the Ids docflow's signatures reference. Pure data."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field, replace

from docflow.errors import ModelError
from docflow.model import Attachment, BusinessDocType, DocumentInfo, TraceHop

__all__ = ["MAX_DATE", "MIN_DATE", "SIGNED_IDS", "Envelope", "SignedIds",
           "derived_message_id"]

#: Dates outside this range are refused on both sides (typos such as year 20224).
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2999, 12, 31)



@dataclass(frozen=True)
class SignedIds:
    """The ``Id`` values docflow writes on the parts a sender's signature covers (and
    that docflow.security requires at exactly these places)."""

    header: str = "edxml-header"
    #: the sender's own TraceHeader (the first one), written at send time
    origin: str = "edxml-origin"
    business: str = "edxml-business"
    body: str = "edxml-body"
    attachments: str = "edxml-attachments"


SIGNED_IDS = SignedIds()


def _new_message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Envelope:
    """One edXML document packet: the document, its attachments, and the hops so far.

    ``message_id`` identifies the packet (not the document) and stays the same across
    resends; it travels in the docflow extension element ``MessageHeader/MessageId``.
    Packets from systems that do not write it get a stable id derived from the
    ``DocumentId`` and the business type (see :func:`derived_message_id`).
    """

    info: DocumentInfo
    attachments: tuple[Attachment, ...] = ()
    trace: tuple[TraceHop, ...] = ()
    message_id: str = field(default_factory=_new_message_id)
    #: the packet carried no MessageId: ``message_id`` was derived from its DocumentId
    #: (a sender that rebuilds the packet on each retry keeps it; see the store's inbox)
    derived_id: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        fixed = tuple(
            att if att.content_id else replace(att, content_id=f"att{index}")
            for index, att in enumerate(self.attachments, start=1)
        )
        ids = [att.content_id for att in fixed]
        if len(set(ids)) != len(ids):
            raise ModelError(f"attachment content ids must be unique, got {ids}")
        object.__setattr__(self, "attachments", fixed)


def derived_message_id(document_id: str, business: BusinessDocType) -> str:
    """Message id for a packet that carries none: stable across resends of that packet."""
    digest = hashlib.sha256(f"{document_id}\x00{int(business)}".encode()).hexdigest()
    return f"edxml-{digest[:32]}"
