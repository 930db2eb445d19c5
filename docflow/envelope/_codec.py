"""edXML document and status packets: build bytes from the model, parse bytes into it.

Built packets always validate against ``xsd/``; parsed packets are validated before any
field is read. The wire format carries wall-clock times without an offset: they are
written and read in ``tz`` (Asia/Ho_Chi_Minh unless told otherwise). This module does no
I/O: bytes in, objects out.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import io
import uuid
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pybase64
from lxml import etree

from docflow.envelope._schema import PacketKind, validate_tree
from docflow.envelope._xml import (
    DEFAULT_LIMITS,
    EDXML_NS,
    XLINK_NS,
    ParseLimits,
    parse_xml,
    q,
)
from docflow.errors import AttachmentError, ModelError, OversizeError, SchemaError
from docflow.model import (
    DEFAULT_TZ,
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    DocumentInfo,
    DocumentType,
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
    document_id_bound,
)

__all__ = [
    "SIGNED_IDS",
    "Envelope",
    "add_trace_hop",
    "build_envelope",
    "build_status",
    "build_status_tree",
    "build_tree",
    "insert_trace_header",
    "load_tree",
    "parse_envelope",
    "parse_packet",
    "parse_status",
    "read_tree",
    "serialize",
    "validate_packet",
]

#: Dates outside this range are refused on both sides (typos such as year 20224).
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2999, 12, 31)

_TS_FMT = "%Y/%m/%d %H:%M:%S"
_ZIP_MAGIC = b"PK\x03\x04"
_T = TypeVar("_T")


@dataclass(frozen=True)
class SignedIds:
    """The ``Id`` values docflow writes on the parts a sender's signature covers (and
    that docflow.security requires at exactly these places)."""

    header: str = "edxml-header"
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


# --------------------------------------------------------------------------- writing

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
    element = _sub(parent, tag)
    _sub(element, "OrganId", str(organ.code))
    _sub(element, "OrganizationInCharge", organ.organization_in_charge)
    _sub(element, "OrganName", organ.name)
    _opt(element, "OrganAdd", organ.address)
    _opt(element, "Email", organ.email)
    _opt(element, "Telephone", organ.telephone)
    _opt(element, "Fax", organ.fax)
    _opt(element, "Website", organ.website)


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
    _opt(header, "Content", info.content)
    signer = _sub(header, "SignerInfo")
    _sub(signer, "Competence", info.signer.competence)
    _sub(signer, "Position", info.signer.position)
    _sub(signer, "FullName", info.signer.full_name)
    if info.due_date is not None:
        _sub(header, "DueDate", _date(info.due_date, "DueDate"))
    other = _sub(header, "OtherInfo")
    _sub(other, "Priority", str(int(info.priority)))
    _opt(other, "SphereOfPromulgation", info.sphere_of_promulgation)
    _opt(other, "TyperNotation", info.typer_notation)
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


def _trace_header(hop: TraceHop, tz: ZoneInfo) -> etree._Element:
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
    root, env = _packet_root()
    header = _sub(env, "edXMLHeader")
    _message_header(header, info, envelope.message_id)
    trace_list = _sub(header, "TraceHeaderList")
    for hop in envelope.trace:
        trace_list.append(_trace_header(hop, tz))
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


def build_status(status: StatusInfo, *, tz: ZoneInfo = DEFAULT_TZ) -> bytes:
    """Serialize a :class:`StatusInfo` to an edXML status packet (validated)."""
    return serialize(build_status_tree(status, tz=tz))


def build_status_tree(status: StatusInfo, *, tz: ZoneInfo = DEFAULT_TZ) -> etree._Element:
    """The validated element tree of a status packet."""
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


# --------------------------------------------------------------------------- reading

_PREFIX = f"{{{EDXML_NS}}}"


_Kids = dict[object, etree._Element]


def _kids(parent: etree._Element) -> _Kids:
    """The children of a validated element by Clark name: one pass instead of an
    ElementPath ``find`` per field (the schema guarantees single fields are single)."""
    return {child.tag: child for child in parent}


def _flag(text: str) -> bool:
    """xs:boolean: true/false (the official library's Direction) or 1/0."""
    value = text.strip()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise ValueError("not a flag (1/0, true/false)")


def _date_of(text: str) -> dt.date:
    # The schema fixed the shape (yyyy/MM/dd); the calendar check is date()'s.
    return dt.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))


class _Reader:
    """Field access on a validated tree, with errors that name the element path."""

    def __init__(self, root: etree._Element, tz: ZoneInfo):
        self.tree = root.getroottree()
        self.tz = tz

    def fail(self, element: etree._Element, message: str) -> SchemaError:
        return SchemaError(message, path=self.tree.getpath(element), line=element.sourceline)

    @staticmethod
    def need(kids: _Kids, tag: str) -> etree._Element:
        element = kids.get(_PREFIX + tag)
        if element is None:  # the schema makes this unreachable for required elements
            raise SchemaError(f"missing element edXML:{tag}")
        return element

    def text(self, kids: _Kids, tag: str) -> str:
        return self.need(kids, tag).text or ""

    @staticmethod
    def opt_text(kids: _Kids, tag: str) -> str | None:
        element = kids.get(_PREFIX + tag)
        return None if element is None else element.text or ""

    @staticmethod
    def texts(parent: etree._Element | None, tag: str) -> tuple[str, ...]:
        if parent is None:
            return ()
        return tuple(element.text or "" for element in parent.iterchildren(q(tag)))

    def convert(self, element: etree._Element, func: Callable[[str], _T]) -> _T:
        try:
            return func(element.text or "")
        except (ValueError, ModelError) as exc:
            message = exc.message if isinstance(exc, ModelError) else str(exc)
            raise self.fail(element, f"invalid value {element.text!r}: {message}") from exc

    def date(self, element: etree._Element) -> dt.date:
        value = self.convert(element, _date_of)
        if not MIN_DATE <= value <= MAX_DATE:
            raise self.fail(element, f"date {value} is outside {MIN_DATE}..{MAX_DATE}")
        return value

    def opt_date(self, kids: _Kids, tag: str) -> dt.date | None:
        element = kids.get(_PREFIX + tag)
        return None if element is None else self.date(element)

    def timestamp(self, element: etree._Element) -> dt.datetime:
        def parse(text: str) -> dt.datetime:
            day = _date_of(text)
            return dt.datetime(day.year, day.month, day.day, int(text[11:13]),
                               int(text[14:16]), int(text[17:19]), tzinfo=self.tz)

        value = self.convert(element, parse)
        if not MIN_DATE <= value.date() <= MAX_DATE:
            raise self.fail(element, f"timestamp {value} is outside {MIN_DATE}..{MAX_DATE}")
        return value

    def integer(self, kids: _Kids, tag: str) -> int | None:
        element = kids.get(_PREFIX + tag)
        return None if element is None else self.convert(element, int)

    def flag(self, kids: _Kids, tag: str) -> bool | None:
        element = kids.get(_PREFIX + tag)
        return None if element is None else self.convert(element, _flag)

    def organ_code(self, element: etree._Element) -> OrganCode:
        return self.convert(element, OrganCode)

    def organ(self, element: etree._Element) -> OrganInfo:
        kids = _kids(element)
        return OrganInfo(
            code=self.organ_code(self.need(kids, "OrganId")),
            name=self.text(kids, "OrganName"),
            organization_in_charge=self.opt_text(kids, "OrganizationInCharge") or "",
            address=self.opt_text(kids, "OrganAdd"),
            email=self.opt_text(kids, "Email"),
            telephone=self.opt_text(kids, "Telephone"),
            fax=self.opt_text(kids, "Fax"),
            website=self.opt_text(kids, "Website"),
        )

    def response_for(self, element: etree._Element) -> ResponseFor:
        kids = _kids(element)
        organ = self.organ_code(self.need(kids, "OrganId"))
        return ResponseFor(
            organ_id=organ,
            code=self.text(kids, "Code"),
            promulgation_date=self.date(self.need(kids, "PromulgationDate")),
            document_id=self.bound(self.need(kids, "DocumentId"), organ),
        )

    def bound(self, element: etree._Element, organ: OrganCode) -> str:
        """The text of a DocumentId element, refused unless it names a document of
        ``organ`` (no organ can name, and so shadow, another organ's document)."""
        value = element.text or ""
        if not document_id_bound(value, organ):
            parent = element.getparent()
            owner = "" if parent is None else etree.QName(parent).localname + "."
            raise self.fail(
                element, f"M.{owner}DocumentId: {value!r} does not begin with {organ}, "
                "the organ whose document it names")
        return value

    def opt_bound(self, kids: _Kids, tag: str, organ: OrganCode) -> str | None:
        element = kids.get(_PREFIX + tag)
        return None if element is None else self.bound(element, organ)

    def staff(self, element: etree._Element | None) -> StaffInfo | None:
        if element is None:
            return None
        kids = _kids(element)
        return StaffInfo(
            department=self.opt_text(kids, "Department") or "",
            staff=self.opt_text(kids, "Staff") or "",
            mobile=self.opt_text(kids, "Mobile"),
            email=self.opt_text(kids, "Email"),
        )

    def organ_codes(self, parent: etree._Element | None) -> tuple[OrganCode, ...]:
        if parent is None:
            return ()
        return tuple(self.organ_code(element) for element in parent.iterchildren(q("OrganId")))


def _load(data: bytes, kind: PacketKind | None, limits: ParseLimits) -> etree._Element:
    """Parse, check the root, and validate against ``kind`` (guessed when None)."""
    return _load_kind(data, kind, limits)[0]


def _load_kind(
    data: bytes, kind: PacketKind | None, limits: ParseLimits
) -> tuple[etree._Element, PacketKind]:
    root = parse_xml(data, limits)
    if root.tag != q("edXML"):
        tag = str(root.tag)
        raise SchemaError(
            f"root element is {tag}, expected edXML:edXML",
            path="/" + tag,
            line=root.sourceline,
            hint=f"edXML packets use the namespace {EDXML_NS}",
        )
    if kind is None:
        kind = PacketKind.STATUS if _is_status(root) else PacketKind.DOCUMENT
    validate_tree(root, kind)
    return root, kind


def _is_status(root: etree._Element) -> bool:
    header = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('MessageHeader')}")
    return header is not None and header.find(q("StatusCode")) is not None


def load_tree(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS
) -> tuple[etree._Element, PacketKind]:
    """Parse and schema-validate a packet; return its tree and kind.

    For code that must look at the tree itself (signature verification) and then read the
    model from the very same nodes with :func:`read_tree`.
    """
    return _load_kind(data, None, limits)


def read_tree(
    root: etree._Element,
    kind: PacketKind,
    *,
    limits: ParseLimits = DEFAULT_LIMITS,
    tz: ZoneInfo = DEFAULT_TZ,
) -> Envelope | StatusInfo:
    """Read the model from a tree that :func:`load_tree` returned."""
    reader = _Reader(root, tz)
    if kind is PacketKind.STATUS:
        return _read_status(reader, root)
    return _read_envelope(reader, root, limits)


def parse_packet(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS, tz: ZoneInfo = DEFAULT_TZ
) -> Envelope | StatusInfo:
    """Parse either kind of packet: a document (:class:`Envelope`) or a status."""
    root, kind = load_tree(data, limits=limits)
    return read_tree(root, kind, limits=limits, tz=tz)


def validate_packet(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS, tz: ZoneInfo = DEFAULT_TZ
) -> PacketKind:
    """Fully check a document or status packet (schema, dates, codes, attachments) and
    return its kind; raise the same errors as :func:`parse_packet`."""
    packet = parse_packet(data, limits=limits, tz=tz)
    return PacketKind.STATUS if isinstance(packet, StatusInfo) else PacketKind.DOCUMENT


def parse_envelope(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS, tz: ZoneInfo = DEFAULT_TZ
) -> Envelope:
    """Parse and validate an edXML document packet.

    Raises :class:`~docflow.errors.SchemaError` (with element path and line) for invalid
    packets, :class:`~docflow.errors.UnsafeXmlError`, :class:`~docflow.errors.XmlError` or
    :class:`~docflow.errors.OversizeError` for hostile or broken input.
    """
    root = _load(data, PacketKind.DOCUMENT, limits)
    return _read_envelope(_Reader(root, tz), root, limits)


def parse_status(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS, tz: ZoneInfo = DEFAULT_TZ
) -> StatusInfo:
    """Parse and validate an edXML status packet."""
    root = _load(data, PacketKind.STATUS, limits)
    return _read_status(_Reader(root, tz), root)


def _read_envelope(reader: _Reader, root: etree._Element, limits: ParseLimits) -> Envelope:
    top = _kids(root)
    env = _kids(reader.need(top, "edXMLEnvelope"))
    header = _kids(reader.need(env, "edXMLHeader"))
    message_el = reader.need(header, "MessageHeader")
    message = _kids(message_el)
    trace_list = reader.need(header, "TraceHeaderList")
    code = _kids(reader.need(message, "Code"))
    promulgation = _kids(reader.need(message, "PromulgationInfo"))
    doc_type = _kids(reader.need(message, "DocumentType"))
    signer = _kids(reader.need(message, "SignerInfo"))
    other_el = message.get(_PREFIX + "OtherInfo")
    other = _kids(other_el) if other_el is not None else None
    sender = reader.organ(reader.need(message, "From"))
    business_el = _kids(trace_list).get(_PREFIX + "Bussiness")
    business = (Business() if business_el is None
                else _read_business(reader, business_el, sender.code))
    priority = None if other is None else reader.integer(other, "Priority")
    info = DocumentInfo(
        sender=sender,
        recipients=tuple(reader.organ(element) for element in message_el.iterchildren(q("To"))),
        code_number=reader.text(code, "CodeNumber"),
        code_notation=reader.text(code, "CodeNotation"),
        promulgation_place=reader.text(promulgation, "Place"),
        promulgation_date=reader.date(reader.need(promulgation, "PromulgationDate")),
        document_type=DocumentType(
            type=reader.integer(doc_type, "Type") or 0,
            name=reader.text(doc_type, "TypeName"),
            detail=reader.integer(doc_type, "TypeDetail"),
        ),
        subject=reader.text(message, "Subject"),
        content=reader.opt_text(message, "Content"),
        signer=Signer(
            full_name=reader.text(signer, "FullName"),
            position=reader.opt_text(signer, "Position") or "",
            competence=reader.opt_text(signer, "Competence") or "",
        ),
        due_date=reader.opt_date(message, "DueDate"),
        to_places=reader.texts(message.get(_PREFIX + "ToPlaces"), "Place"),
        priority=Priority(priority) if priority is not None else Priority.NORMAL,
        sphere_of_promulgation=None
        if other is None
        else reader.opt_text(other, "SphereOfPromulgation"),
        typer_notation=None if other is None else reader.opt_text(other, "TyperNotation"),
        promulgation_amount=None if other is None else reader.integer(other, "PromulgationAmount"),
        page_amount=None if other is None else reader.integer(other, "PageAmount"),
        direction=None if other is None else reader.flag(other, "Direction"),
        appendixes=()
        if other is None
        else reader.texts(other.get(_PREFIX + "Appendixes"), "Appendix"),
        steering_type=reader.integer(message, "SteeringType"),
        response_for=tuple(
            reader.response_for(element) for element in message_el.iterchildren(q("ResponseFor"))
        ),
        business=business,
        document_id=reader.opt_bound(message, "DocumentId", sender.code) or "",
    )
    trace = tuple(
        _read_hop(reader, element) for element in trace_list.iterchildren(q("TraceHeader"))
    )
    message_id = reader.opt_text(message, "MessageId") or derived_message_id(
        info.document_id, business.doc_type
    )
    body = env.get(_PREFIX + "edXMLBody")
    manifest = None if body is None else _kids(body).get(_PREFIX + "edXMLManifest")
    encoded = top.get(_PREFIX + "AttachmentEncoded")
    attachments = _read_attachments(reader, encoded, manifest, limits)
    return Envelope(info=info, attachments=attachments, trace=trace, message_id=message_id)


def _read_hop(reader: _Reader, element: etree._Element) -> TraceHop:
    kids = _kids(element)
    return TraceHop(
        organ_id=reader.organ_code(reader.need(kids, "OrganId")),
        timestamp=reader.timestamp(reader.need(kids, "Timestamp")),
    )


def _read_business(reader: _Reader, element: etree._Element, sender: OrganCode) -> Business:
    kids = _kids(element)
    doc_info_el = kids.get(_PREFIX + "BussinessDocumentInfo")
    doc_info = None
    if doc_info_el is not None:
        doc_kids = _kids(doc_info_el)
        doc_info = BusinessDocumentInfo(
            document_info_changed=bool(reader.flag(doc_kids, "DocumentInfo")),
            receivers_changed=bool(reader.flag(doc_kids, "DocumentReceiver")),
            receivers=reader.organ_codes(doc_kids.get(_PREFIX + "ReceiverList")),
        )
    replacements_el = kids.get(_PREFIX + "ReplacementInfoList")
    replacements: tuple[ReplacementInfo, ...] = ()
    if replacements_el is not None:
        replacements = tuple(
            ReplacementInfo(
                document_id=reader.bound(reader.need(item_kids, "DocumentId"), sender),
                organ_ids=reader.organ_codes(item_kids.get(_PREFIX + "OrganIdList")),
            )
            for item_kids in map(_kids, replacements_el.iterchildren(q("ReplacementInfo")))
        )
    return Business(
        doc_type=BusinessDocType(reader.integer(kids, "BussinessDocType") or 0),
        reason=reader.opt_text(kids, "BussinessDocReason"),
        document_id=reader.opt_bound(kids, "DocumentId", sender),
        document_info=doc_info,
        replacements=replacements,
        staff=reader.staff(kids.get(_PREFIX + "StaffInfo")),
        paper=bool(reader.flag(kids, "Paper")),
    )


def _read_attachments(
    reader: _Reader,
    encoded: etree._Element | None,
    manifest: etree._Element | None,
    limits: ParseLimits,
) -> tuple[Attachment, ...]:
    if encoded is None:
        return ()
    referenced: set[str] = set()
    if manifest is not None:
        referenced = {
            reader.opt_text(_kids(reference), "ContentId") or ""
            for reference in manifest.iterchildren(q("Reference"))
        }
    out = []
    for item in encoded.iterchildren(q("Attachment")):
        kids = _kids(item)
        content_id = reader.opt_text(kids, "ContentId") or ""
        if content_id and content_id not in referenced:
            raise reader.fail(item, f"attachment {content_id!r} has no Reference in edXMLManifest")
        name = reader.text(kids, "AttachmentName")
        data = _decode_attachment(reader, reader.need(kids, "ContentTransferEncoded"), name, limits)
        out.append(
            Attachment(
                name=name,
                data=data,
                content_type=reader.text(kids, "ContentType"),
                description=reader.opt_text(kids, "Description"),
                content_id=content_id,
            )
        )
    return tuple(out)


def _decode_attachment(
    reader: _Reader, element: etree._Element, name: str, limits: ParseLimits
) -> bytes:
    text = element.text or ""
    # Free libxml2's copy of the base64 text before decoding: with the caller's bytes and
    # the Python string that is the third copy, and it would stay for the whole decode.
    element.text = None
    # pybase64 (SIMD) decodes ~25x faster than binascii; validate=True refuses anything
    # outside the base64 alphabet instead of skipping it.
    try:
        data = pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        # MIME-style base64 (line breaks every 76 characters) is common: retry without
        # white space, still strictly.
        try:
            compact = text.encode("ascii").translate(None, b" \t\r\n")
            data = pybase64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise AttachmentError(
                f"attachment content is not valid base64: {exc}",
                where=reader.tree.getpath(element),
                hint="ContentTransferEncoded must hold the file in base64",
            ) from exc
    if len(data) > limits.max_attachment_bytes:
        raise OversizeError(
            len(data), limits.max_attachment_bytes, where=reader.tree.getpath(element)
        )
    if data.startswith(_ZIP_MAGIC):
        data = _maybe_unzip(reader, element, name, data, limits)
    return data


def _maybe_unzip(
    reader: _Reader, element: etree._Element, name: str, data: bytes, limits: ParseLimits
) -> bytes:
    """Some senders zip an attachment before base64: unwrap an archive that holds exactly
    one file named like the attachment itself. Anything else (a real .zip, a .docx, which
    is a zip of many parts) is kept as it came."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1 or members[0].filename.rsplit("/", 1)[-1] != name:
                return data
            member = members[0]
            if member.file_size > limits.max_attachment_bytes:
                raise OversizeError(member.file_size, limits.max_attachment_bytes,
                                    where=reader.tree.getpath(element))
            with archive.open(member) as handle:
                content = handle.read(limits.max_attachment_bytes + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
            ValueError, OSError, zlib.error):
        # Binary content that merely starts like a zip (or a damaged zip): keep the bytes
        # exactly as the sender encoded them.
        return data
    if len(content) > limits.max_attachment_bytes:
        raise OversizeError(len(content), limits.max_attachment_bytes,
                            where=reader.tree.getpath(element))
    return content


def _read_status(reader: _Reader, root: etree._Element) -> StatusInfo:
    env = _kids(reader.need(_kids(root), "edXMLEnvelope"))
    header = _kids(reader.need(_kids(reader.need(env, "edXMLHeader")), "MessageHeader"))
    return StatusInfo(
        response_for=reader.response_for(reader.need(header, "ResponseFor")),
        sender=reader.organ(reader.need(header, "From")),
        code=reader.convert(reader.need(header, "StatusCode"), StatusCode),
        description=reader.opt_text(header, "Description") or "",
        timestamp=reader.timestamp(reader.need(header, "Timestamp")),
        staff=reader.staff(header.get(_PREFIX + "StaffInfo")),
        message_id=reader.opt_text(header, "MessageId"),
        received_sha256=reader.opt_text(header, "ReceivedDigest"),
    )


# --------------------------------------------------------------------------- trace hops

def add_trace_hop(
    data: bytes,
    hop: TraceHop,
    *,
    limits: ParseLimits = DEFAULT_LIMITS,
    tz: ZoneInfo = DEFAULT_TZ,
) -> bytes:
    """Append a ``TraceHeader`` (a hub the packet went through) and return the new bytes.

    The hop goes after the existing ones and before ``Bussiness``; nothing else in the
    packet changes, so the sender's signature (which excludes hops) stays valid.
    """
    root = _load(data, PacketKind.DOCUMENT, limits)
    insert_trace_header(root, hop, tz=tz)
    return serialize(root)


def insert_trace_header(
    root: etree._Element, hop: TraceHop, *, tz: ZoneInfo = DEFAULT_TZ
) -> etree._Element:
    """Insert a ``TraceHeader`` for ``hop`` after the existing ones in a validated document
    tree and return it (docflow.security signs it in place)."""
    trace_list = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('TraceHeaderList')}")
    if trace_list is None:  # the schema requires it; kept for a clear error all the same
        raise SchemaError("missing edXML:TraceHeaderList", path="/edXML/edXMLEnvelope/edXMLHeader")
    element = _trace_header(hop, tz)
    business = trace_list.find(q("Bussiness"))
    if business is None:
        trace_list.append(element)
    else:
        business.addprevious(element)
    return element
