"""Writing edXML packets: the model to bytes, strictly in the official order.

Every tree built here validates against the strict ``xsd/`` (never the legacy layout).
The wire format carries wall-clock times without an offset: they are written in ``tz``
(Asia/Ho_Chi_Minh unless told otherwise). No I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pybase64
from lxml import etree

from docflow.envelope._packet import MAX_DATE, MIN_DATE, SIGNED_IDS, Envelope
from docflow.envelope._schema import PacketKind, validate_tree
from docflow.envelope._xml import EDXML_NS, XLINK_NS, q
from docflow.errors import ModelError
from docflow.model import (
    DEFAULT_TZ,
    Business,
    DocumentInfo,
    OrganInfo,
    ResponseFor,
    StaffInfo,
    StatusInfo,
    TraceHop,
    require_bound,
)

__all__ = ["build_envelope", "build_status", "build_status_tree", "build_tree",
           "serialize", "trace_header"]

_TS_FMT = "%Y/%m/%d %H:%M:%S"

def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, q(tag))
    if text is not None:
        element.text = text
    return element


def _opt(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is not None:
        _sub(parent, tag, text)


def _date(value: dt.date, what: str) -> str:
    if not MIN_DATE <= value <= MAX_DATE:
        raise ModelError(f"{what} {value} is outside {MIN_DATE}..{MAX_DATE}")
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def _timestamp(value: dt.datetime, tz: ZoneInfo, what: str) -> str:
    local = value.astimezone(tz)
    _date(local.date(), what)
    return local.strftime(_TS_FMT)


def _organ(parent: etree._Element, tag: str, organ: OrganInfo) -> None:
    """``From`` or ``To`` as the official library writes it: every contact element, empty
    where unknown (a deployed provincial hub throws on a ``To`` without ``OrganAdd``)."""
    element = _sub(parent, tag)
    _sub(element, "OrganId", str(organ.code))
    _sub(element, "OrganizationInCharge", organ.organization_in_charge)
    _sub(element, "OrganName", organ.name)
    _sub(element, "OrganAdd", organ.address or "")
    _sub(element, "Email", organ.email or "")
    _sub(element, "Telephone", organ.telephone or "")
    _sub(element, "Fax", organ.fax or "")
    _sub(element, "Website", organ.website or "")


def _response_for(parent: etree._Element, response: ResponseFor) -> None:
    element = _sub(parent, "ResponseFor")
    _sub(element, "OrganId", str(response.organ_id))
    _sub(element, "Code", response.code)
    _sub(element, "PromulgationDate", _date(response.promulgation_date, "ResponseFor date"))
    _sub(element, "DocumentId", response.document_id)


def _staff(parent: etree._Element, staff: StaffInfo, *, mobile_first: bool) -> None:
    # The official library writes Email before Mobile in Bussiness, Mobile before Email
    # in status packets.
    element = _sub(parent, "StaffInfo")
    _sub(element, "Department", staff.department)
    _sub(element, "Staff", staff.staff)
    contacts = (("Mobile", staff.mobile), ("Email", staff.email))
    for tag, value in contacts if mobile_first else reversed(contacts):
        _opt(element, tag, value)


def _packet_root() -> tuple[etree._Element, etree._Element]:
    # Root with the default namespace; the envelope re-declares it with the "edXML"
    # prefix so that every element inside is written edXML:Name, as strict receivers want.
    root = etree.Element(q("edXML"), nsmap={None: EDXML_NS, "xlink": XLINK_NS})
    envelope = etree.SubElement(root, q("edXMLEnvelope"), nsmap={"edXML": EDXML_NS})
    return root, envelope


def serialize(root: etree._Element) -> bytes:
    """The bytes of a packet tree: UTF-8 with an XML declaration."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _message_header(parent: etree._Element, info: DocumentInfo, message_id: str) -> None:
    """MessageHeader in the official library's order; docflow's MessageId last."""
    header = _sub(parent, "MessageHeader")
    header.set("Id", SIGNED_IDS.header)
    _organ(header, "From", info.sender)
    for recipient in info.recipients:
        _organ(header, "To", recipient)
    _sub(header, "DocumentId", info.document_id)
    code = _sub(header, "Code")
    _sub(code, "CodeNumber", info.code_number)
    _sub(code, "CodeNotation", info.code_notation)
    promulgation = _sub(header, "PromulgationInfo")
    _sub(promulgation, "Place", info.promulgation_place)
    _sub(promulgation, "PromulgationDate", _date(info.promulgation_date, "PromulgationDate"))
    doc_type = _sub(header, "DocumentType")
    _sub(doc_type, "Type", str(info.document_type.type))
    if info.document_type.detail is not None:
        _sub(doc_type, "TypeDetail", str(info.document_type.detail))
    _sub(doc_type, "TypeName", info.document_type.name)
    _sub(header, "Subject", info.subject)
    _sub(header, "Content", info.content or "")  # present, as receivers expect
    signer = _sub(header, "SignerInfo")
    _sub(signer, "Competence", info.signer.competence)
    _sub(signer, "Position", info.signer.position)
    _sub(signer, "FullName", info.signer.full_name)
    if info.due_date is not None:
        _sub(header, "DueDate", _date(info.due_date, "DueDate"))
    other = _sub(header, "OtherInfo")
    _sub(other, "Priority", str(int(info.priority)))
    _sub(other, "SphereOfPromulgation", info.sphere_of_promulgation or "")
    _sub(other, "TyperNotation", info.typer_notation or "")
    if info.promulgation_amount is not None:
        _sub(other, "PromulgationAmount", str(info.promulgation_amount))
    if info.page_amount is not None:
        _sub(other, "PageAmount", str(info.page_amount))
    if info.direction is not None:
        _sub(other, "Direction", "true" if info.direction else "false")
    appendixes = _sub(other, "Appendixes")
    for appendix in info.appendixes:
        _sub(appendixes, "Appendix", appendix)
    for response in info.response_for:
        _response_for(header, response)
    if info.steering_type is not None:
        _sub(header, "SteeringType", str(info.steering_type))
    places = _sub(header, "ToPlaces")
    for place in info.to_places:
        _sub(places, "Place", place)
    _sub(header, "MessageId", message_id)


def _business(parent: etree._Element, business: Business) -> None:
    element = _sub(parent, "Bussiness")
    element.set("Id", SIGNED_IDS.business)
    _opt(element, "DocumentId", business.document_id)
    _sub(element, "BussinessDocType", str(int(business.doc_type)))
    _opt(element, "BussinessDocReason", business.reason)
    if business.document_info is not None:
        info = business.document_info
        doc_info = _sub(element, "BussinessDocumentInfo")
        _sub(doc_info, "DocumentInfo", "1" if info.document_info_changed else "0")
        _sub(doc_info, "DocumentReceiver", "1" if info.receivers_changed else "0")
        receivers = _sub(doc_info, "ReceiverList")
        for code in info.receivers:
            _sub(receivers, "OrganId", str(code))
    _sub(element, "Paper", "1" if business.paper else "0")
    if business.replacements:
        replacements = _sub(element, "ReplacementInfoList")
        for item in business.replacements:
            replacement = _sub(replacements, "ReplacementInfo")
            _sub(replacement, "DocumentId", item.document_id)
            organs = _sub(replacement, "OrganIdList")
            for code in item.organ_ids:
                _sub(organs, "OrganId", str(code))
    if business.staff is not None:
        _staff(element, business.staff, mobile_first=False)


def trace_header(hop: TraceHop, tz: ZoneInfo) -> etree._Element:
    """A ``TraceHeader`` element for ``hop``."""
    element = etree.Element(q("TraceHeader"))
    _sub(element, "OrganId", str(hop.organ_id))
    _sub(element, "Timestamp", _timestamp(hop.timestamp, tz, "TraceHeader timestamp"))
    return element


def build_envelope(envelope: Envelope, *, tz: ZoneInfo = DEFAULT_TZ) -> bytes:
    """Serialize an :class:`Envelope` to edXML bytes (validated against ``edxml.xsd``).

    >>> from docflow.samples import sample_envelope
    >>> build_envelope(sample_envelope()).startswith(b"<?xml")
    True
    """
    return serialize(build_tree(envelope, tz=tz))


def build_tree(envelope: Envelope, *, tz: ZoneInfo = DEFAULT_TZ,
               placeholders: Sequence[str] | None = None) -> etree._Element:
    """The validated element tree of an envelope (what :func:`build_envelope` serializes),
    for code that works on the tree before serializing it (signing).

    ``placeholders`` (one per attachment, each itself valid base64) stand in the tree for
    the attachments' base64: a signer splices the real text into the bytes afterwards, so
    that a 20 MB file is never copied into the tree and out of it again."""
    if placeholders is not None and len(placeholders) != len(envelope.attachments):
        raise ValueError("one placeholder per attachment")
    info = envelope.info
    _check_bound(info)
    root, env = _packet_root()
    header = _sub(env, "edXMLHeader")
    _message_header(header, info, envelope.message_id)
    trace_list = _sub(header, "TraceHeaderList")
    for hop in envelope.trace:
        trace_list.append(trace_header(hop, tz))
    _business(trace_list, info.business)
    body = _sub(env, "edXMLBody")
    body.set("Id", SIGNED_IDS.body)
    manifest = _sub(body, "edXMLManifest")
    manifest.set("version", "1.0")
    encoded = _sub(root, "AttachmentEncoded")
    encoded.set("Id", SIGNED_IDS.attachments)
    for position, att in enumerate(envelope.attachments):
        reference = _sub(manifest, "Reference")
        reference.set(f"{{{XLINK_NS}}}href", "cid:" + quote(att.content_id, safe=""))
        _opt(reference, "Description", att.description)
        _sub(reference, "AttachmentName", att.name)
        _sub(reference, "ContentType", att.content_type)
        _sub(reference, "ContentId", att.content_id)
        item = _sub(encoded, "Attachment")
        _sub(item, "ContentType", att.content_type)
        _sub(item, "ContentId", att.content_id)
        _opt(item, "Description", att.description)
        _sub(item, "AttachmentName", att.name)
        # ASCII bytes go into libxml2 as they are; a str would be re-encoded first.
        etree.SubElement(item, q("ContentTransferEncoded")).text = (
            pybase64.b64encode(att.data) if placeholders is None
            else placeholders[position])
    validate_tree(root, PacketKind.DOCUMENT, legacy=False)
    return root


def _check_bound(info: DocumentInfo) -> None:
    """What docflow writes names documents by ids bound to their organs."""
    sender = info.sender.code
    require_bound(info.document_id, sender, "MessageHeader")
    if info.business.document_id is not None:
        require_bound(info.business.document_id, sender, "Bussiness")
    for item in info.business.replacements:
        require_bound(item.document_id, sender, "ReplacementInfo")
    for response in info.response_for:
        require_bound(response.document_id, response.organ_id, "ResponseFor")


def build_status(status: StatusInfo, *, tz: ZoneInfo = DEFAULT_TZ) -> bytes:
    """Serialize a :class:`StatusInfo` to an edXML status packet (validated)."""
    return serialize(build_status_tree(status, tz=tz))


def build_status_tree(status: StatusInfo, *, tz: ZoneInfo = DEFAULT_TZ) -> etree._Element:
    """The validated element tree of a status packet."""
    require_bound(status.response_for.document_id, status.response_for.organ_id,
                  "ResponseFor")
    root, env = _packet_root()
    header = _sub(_sub(env, "edXMLHeader"), "MessageHeader")
    header.set("Id", SIGNED_IDS.header)
    _organ(header, "From", status.sender)
    _response_for(header, status.response_for)
    if status.staff is not None:
        _staff(header, status.staff, mobile_first=True)
    _sub(header, "StatusCode", status.code.value)
    _sub(header, "Description", status.description)
    _sub(header, "Timestamp", _timestamp(status.timestamp, tz, "status timestamp"))
    _opt(header, "MessageId", status.message_id)
    _opt(header, "ReceivedDigest", status.received_sha256)
    validate_tree(root, PacketKind.STATUS, legacy=False)
    return root
