"""Reading edXML packets into the typed model, strictly or leniently, with findings.

One reader for both modes (:class:`~docflow.envelope._fields.Reader` says which).
**Strict** runs on a tree the strict (or legacy) XSD has validated: a rule the schema
cannot state (a calendar date, a DocumentId bound to its organ, an attachment that
decodes) raises at once. **Lenient** runs on any well-formed tree whose root is
``edXML``: children are found by local name in any order and namespace, and every
deviation from the strict layout becomes a :class:`~docflow.envelope.Finding` while the
reader goes on with the value it can use (or none). Hostile input never reaches this
module: the hardened loader refused it. Pure: trees in, model and findings out.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from docflow.envelope._attachments import decode_base64, decode_base64_chunks, sniff, unwrap
from docflow.envelope._fields import XML_SPACE, Reader, local
from docflow.envelope._findings import Severity
from docflow.envelope._packet import Envelope, derived_message_id
from docflow.envelope._xml import EDXML_NS
from docflow.errors import AttachmentError, OversizeError
from docflow.model import (
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
    Signer,
    StatusCode,
    StatusInfo,
    TraceHop,
)

__all__ = ["read_document", "read_legacy_soap_status", "read_status"]


def _strip_cid(value: str) -> str:
    return value[4:] if value.lower().startswith("cid:") else value


def read_document(reader: Reader, root: etree._Element) -> Envelope | None:
    """The :class:`Envelope` of a document packet (None when it cannot be used)."""
    top = reader.kids(root, "edXML")
    env_el = reader.need(top, "edXMLEnvelope", "edXML", root)
    if env_el is None:
        return None
    env = reader.kids(env_el, "edXMLEnvelope")
    header_el = reader.need(env, "edXMLHeader", "edXMLEnvelope", env_el)
    if header_el is None:
        return None
    header = reader.kids(header_el, "edXMLHeader")
    message_el = reader.need(header, "MessageHeader", "edXMLHeader", header_el)
    if message_el is None:
        return None
    message = reader.kids(message_el, "MessageHeader")
    sender = None
    from_el = reader.need(message, "From", "MessageHeader", message_el)
    if from_el is not None:
        sender = reader.organ(from_el, "From", Severity.ERROR)
    recipients: list[OrganInfo] = []
    for element in reader.all(message_el, "To"):
        organ = reader.organ(element, "To", Severity.WARNING)
        if organ is None:
            continue
        if not reader.strict and any(seen.code == organ.code for seen in recipients):
            reader.note("M.MessageHeader.To", Severity.WARNING,
                        f"To {organ.code} appears more than once; kept once", element)
            continue
        recipients.append(organ)
    if not recipients:
        reader.note("N.MessageHeader.To", Severity.ERROR,
                    "the document names no recipient (To) docflow can read", message_el)
    code_el = reader.need(message, "Code", "MessageHeader", message_el)
    code = reader.kids(code_el, "Code") if code_el is not None else {}
    number_el = reader.need(code, "CodeNumber", "Code", code_el) \
        if code_el is not None else None
    number = reader.text(number_el, container="Code", required=True)
    if number_el is not None and number.strip(XML_SPACE) and not number.strip(XML_SPACE).isdigit() \
            and not reader.strict:
        reader.note("M.Code.CodeNumber", Severity.WARNING,
                    f"CodeNumber {number!r} is not a number; kept as written", number_el)
    notation = reader.opt(code, "CodeNotation", "Code") or ""
    promulgation_el = reader.need(message, "PromulgationInfo", "MessageHeader", message_el)
    promulgation = reader.kids(promulgation_el, "PromulgationInfo") \
        if promulgation_el is not None else {}
    day = reader.date(promulgation.get("PromulgationDate"), container="PromulgationInfo")
    if promulgation_el is not None and "PromulgationDate" not in promulgation:
        reader.note("N.PromulgationInfo.PromulgationDate", Severity.ERROR,
                    "PromulgationInfo has no PromulgationDate", promulgation_el)
    type_el = reader.need(message, "DocumentType", "MessageHeader", message_el,
                          Severity.WARNING)
    doc_type = reader.kids(type_el, "DocumentType") if type_el is not None else {}
    subject_el = reader.need(message, "Subject", "MessageHeader", message_el)
    subject = reader.text(subject_el, container="MessageHeader", required=True)
    signer_el = reader.need(message, "SignerInfo", "MessageHeader", message_el,
                            Severity.WARNING)
    signer = reader.kids(signer_el, "SignerInfo") if signer_el is not None else {}
    other_el = message.get("OtherInfo")
    other = reader.kids(other_el, "OtherInfo") if other_el is not None else {}
    trace_el = header.get("TraceHeaderList")
    if trace_el is None:
        reader.note("N.edXMLHeader.TraceHeaderList", Severity.INFO,
                    "no TraceHeaderList: read as a new document without hops", header_el)
    trace_kids = reader.kids(trace_el, "TraceHeaderList") if trace_el is not None else {}
    business_el = trace_kids.get("Bussiness")
    if trace_el is not None and business_el is None and not reader.strict:
        reader.note("N.TraceHeaderList.Bussiness", Severity.INFO,
                    "no Bussiness: read as a new document", trace_el)
    business = Business() if business_el is None or sender is None else _read_business(
        reader, business_el, sender.code)
    priority = reader.integer(other, "Priority", "OtherInfo", low=0, high=4)
    document_id = reader.bound(message.get("DocumentId"),
                               None if sender is None else sender.code,
                               container="MessageHeader")
    responses = []
    for element in reader.all(message_el, "ResponseFor"):
        if not "".join(element.itertext()).strip(XML_SPACE):
            # the official library writes an empty one in new documents: none
            reader.note("N.MessageHeader.ResponseFor", Severity.INFO,
                        "an empty ResponseFor: read as none", element)
            continue
        responses.append(reader.response_for(element))
    trace = [hop for hop in (_read_hop(reader, element)
                             for element in reader.all(trace_el, "TraceHeader")) if hop]
    attachments = _read_attachments(reader, root, top, env)
    reader.finish()
    if sender is None or not recipients or not number.strip(XML_SPACE) or day is None \
            or not subject.strip(XML_SPACE) or any(item is None for item in responses) \
            or (document_id is None and message.get("DocumentId") is not None):
        return None
    info = DocumentInfo(
        sender=sender,
        recipients=tuple(recipients),
        code_number=number,
        code_notation=notation,
        promulgation_place=reader.opt(promulgation, "Place", "PromulgationInfo") or "",
        promulgation_date=day,
        document_type=DocumentType(
            type=reader.integer(doc_type, "Type", "DocumentType") or 0,
            name=reader.opt(doc_type, "TypeName", "DocumentType") or "",
            detail=reader.integer(doc_type, "TypeDetail", "DocumentType"),
        ),
        subject=subject,
        content=reader.opt(message, "Content", "MessageHeader") or None,
        signer=Signer(
            full_name=reader.opt(signer, "FullName", "SignerInfo") or "",
            position=reader.opt(signer, "Position", "SignerInfo") or "",
            competence=reader.opt(signer, "Competence", "SignerInfo") or "",
        ),
        due_date=reader.date(message.get("DueDate"), container="MessageHeader",
                             severity=Severity.WARNING),
        to_places=tuple(reader.text(place, container="ToPlaces") for place in reader.all(
            message.get("ToPlaces"), "Place")),
        priority=Priority(priority) if priority is not None else Priority.NORMAL,
        sphere_of_promulgation=reader.opt(other, "SphereOfPromulgation", "OtherInfo") or None,
        typer_notation=reader.opt(other, "TyperNotation", "OtherInfo") or None,
        promulgation_amount=reader.integer(other, "PromulgationAmount", "OtherInfo", low=0,
                                           high=1_000_000),
        page_amount=reader.integer(other, "PageAmount", "OtherInfo", low=0, high=1_000_000),
        direction=reader.flag(other, "Direction", "OtherInfo", words=True),
        appendixes=tuple(reader.text(item, container="Appendixes") for item in reader.all(
            other.get("Appendixes"), "Appendix")),
        steering_type=reader.integer(message, "SteeringType", "MessageHeader"),
        response_for=tuple(item for item in responses if item is not None),
        business=business,
        document_id=document_id or "",
    )
    message_id = reader.opt(message, "MessageId", "MessageHeader") or derived_message_id(
        info.document_id, business.doc_type)
    return Envelope(info=info, attachments=attachments, trace=tuple(trace),
                    message_id=message_id, derived_id=message.get("MessageId") is None)


def _read_hop(reader: Reader, element: etree._Element) -> TraceHop | None:
    kids = reader.kids(element, "TraceHeader")
    organ = reader.organ_code(reader.need(kids, "OrganId", "TraceHeader", element,
                                          Severity.WARNING),
                              container="TraceHeader", severity=Severity.WARNING)
    when = reader.timestamp(reader.need(kids, "Timestamp", "TraceHeader", element,
                                        Severity.WARNING),
                            container="TraceHeader", severity=Severity.WARNING)
    if organ is None or when is None:
        reader.note("M.TraceHeaderList.TraceHeader", Severity.WARNING,
                    "a trace hop without a readable organ or time is left out", element)
        return None
    return TraceHop(organ_id=organ, timestamp=when)


def _read_business(reader: Reader, element: etree._Element, sender: OrganCode) -> Business:
    kids = reader.kids(element, "Bussiness")
    doc_info_el = kids.get("BussinessDocumentInfo")
    doc_info = None
    if doc_info_el is not None:
        doc_kids = reader.kids(doc_info_el, "BussinessDocumentInfo")
        doc_info = BusinessDocumentInfo(
            document_info_changed=bool(reader.flag(doc_kids, "DocumentInfo",
                                                   "BussinessDocumentInfo", words=False)),
            receivers_changed=bool(reader.flag(doc_kids, "DocumentReceiver",
                                               "BussinessDocumentInfo", words=False)),
            receivers=reader.organ_codes(doc_kids.get("ReceiverList"), "ReceiverList"),
        )
    replacements = []
    for item in reader.all(kids.get("ReplacementInfoList"), "ReplacementInfo"):
        item_kids = reader.kids(item, "ReplacementInfo")
        document_id = reader.bound(reader.need(item_kids, "DocumentId", "ReplacementInfo",
                                               item), sender, container="ReplacementInfo")
        if document_id is not None:
            replacements.append(ReplacementInfo(
                document_id=document_id,
                organ_ids=reader.organ_codes(item_kids.get("OrganIdList"), "OrganIdList")))
    kind = reader.integer(kids, "BussinessDocType", "Bussiness", low=0, high=3)
    return Business(
        doc_type=BusinessDocType(kind or 0),
        reason=reader.opt(kids, "BussinessDocReason", "Bussiness"),
        document_id=reader.bound(kids.get("DocumentId"), sender, container="Bussiness"),
        document_info=doc_info,
        replacements=tuple(replacements),
        staff=reader.staff(kids.get("StaffInfo")),
        paper=bool(reader.flag(kids, "Paper", "Bussiness", words=False)),
    )


def _read_attachments(reader: Reader, root: etree._Element, top: dict[str, etree._Element],
                      env: dict[str, etree._Element]) -> tuple[Attachment, ...]:
    encoded = top.get("AttachmentEncoded")
    if encoded is None:
        return ()
    body = env.get("edXMLBody")
    manifest_el = None if body is None else reader.kids(body, "edXMLBody").get("edXMLManifest")
    manifest: dict[str, etree._Element] = {}
    for reference in reader.all(manifest_el, "Reference"):
        kids = reader.kids(reference, "Reference")
        written = reader.opt(kids, "ContentId", "Reference") or ""
        if written != _strip_cid(written) and not reader.strict:
            reader.note("M.Reference.ContentId", Severity.INFO,
                        f"ContentId {written!r} carries the cid: of a URL; read as "
                        f"{_strip_cid(written)!r}", kids.get("ContentId"))
        manifest[_strip_cid(written)] = reference
    out = []
    items = reader.all(encoded, "Attachment")
    if len(items) > reader.limits.max_attachments:  # hostile in both modes
        raise OversizeError(len(items), reader.limits.max_attachments, what="a packet of "
                            "attachments", where=reader.tree.getpath(encoded), hint=(
                                "ParseLimits.max_attachments bounds how many attachments "
                                "a packet may carry"))
    for item in items:
        attachment = _read_attachment(reader, item, manifest)
        if attachment is not None:
            out.append(attachment)
    return tuple(out)


def _read_attachment(reader: Reader, item: etree._Element,
                     manifest: dict[str, etree._Element]) -> Attachment | None:
    kids = reader.kids(item, "Attachment")
    written = reader.opt(kids, "ContentId", "Attachment") or ""
    content_id = _strip_cid(written)
    if written != content_id and not reader.strict:
        reader.note("M.Attachment.ContentId", Severity.INFO,
                    f"ContentId {written!r} carries the cid: of a URL; read as {content_id!r}",
                    kids.get("ContentId"))
    if content_id and content_id not in manifest:
        reader.note("N.edXMLManifest.Reference", Severity.ERROR if reader.strict
                    else Severity.WARNING,
                    f"attachment {content_id!r} has no Reference in edXMLManifest", item)
    name = reader.text(reader.need(kids, "AttachmentName", "Attachment", item),
                       container="Attachment", required=True)
    declared = reader.opt(kids, "ContentType", "Attachment")
    if declared is None:
        reader.note("N.Attachment.ContentType", Severity.WARNING,
                    "Attachment has no ContentType", item)
    payload = reader.need(kids, "ContentTransferEncoded", "Attachment", item)
    if payload is None:
        return None
    if not reader.strict and etree.QName(payload).namespace == EDXML_NS \
            and payload.prefix is not None:
        reader.note("M.Attachment.ContentTransferEncoded", Severity.INFO,
                    f"ContentTransferEncoded written with the prefix {payload.prefix!r}",
                    payload)
    text = payload.text or ""
    # Free libxml2's copy of the base64 text before decoding: with the caller's bytes and
    # the Python string that is the third copy, and it would stay for the whole decode.
    payload.text = None
    # Hostile in both modes: one attachment past its limit, or all of them together past
    # the packet's (checked before a zipped member is inflated, and while it is).
    limits = reader.limits
    left = limits.max_decoded_bytes - reader.decoded
    limit = min(limits.max_attachment_bytes, left)
    spooled = reader.spooled.get(text)
    try:
        # a large packet's text is read from its spool as it is decoded
        data = decode_base64(text) if spooled is None else decode_base64_chunks(spooled(),
                                                                                 limit)
    except ValueError as exc:
        reader.note("M.Attachment.ContentTransferEncoded", Severity.ERROR,
                    f"attachment content is not valid base64: {exc}", payload,
                    error=AttachmentError)
        return None
    if len(data) > limit:
        raise OversizeError(len(data), limit, where=reader.tree.getpath(payload),
                            what="an attachment", hint="ParseLimits.max_attachment_bytes "
                            "bounds one attachment, max_decoded_bytes all of a packet's")
    decoded = unwrap(data, name, limit, max_ratio=limits.max_zip_ratio,
                     what=f"attachment {name[:60]!r}", where=reader.tree.getpath(payload))
    reader.decoded += len(decoded.data)
    if decoded.member is not None and not reader.strict:
        reader.note("M.Attachment.ContentTransferEncoded", Severity.INFO,
                    f"{name!r} arrived zipped (member {decoded.member!r}); unzipped", payload)
    content_type = declared if declared is not None else "application/octet-stream"
    if not reader.strict:
        _check_kind(reader, item, name, content_type, decoded.data,
                    zipped=decoded.member is not None)
        if decoded.member is not None and content_type == "application/zip":
            content_type = _type_of(decoded.data, decoded.member)
    return Attachment(name=name or content_id or "attachment", data=decoded.data,
                      content_type=content_type,
                      description=reader.opt(kids, "Description", "Attachment"),
                      content_id=content_id)


def _type_of(data: bytes, member: str) -> str:
    kind = sniff(data)
    if kind is not None:
        return kind[1]
    return "application/octet-stream"


_BY_EXTENSION = {"pdf": "pdf", "doc": "doc", "xls": "doc", "ppt": "doc", "docx": "docx",
                 "xlsx": "xlsx", "pptx": "pptx", "zip": "zip", "edxml": "edxml",
                 "xml": "edxml"}


def _check_kind(reader: Reader, item: etree._Element, name: str, content_type: str,
                data: bytes, *, zipped: bool) -> None:
    """Findings where the name or the declared type says something the bytes do not."""
    kind = sniff(data)
    if kind is None:
        return
    extension, actual = kind
    named = _BY_EXTENSION.get(name.rpartition(".")[2].lower()) if "." in name else None
    if named is not None and named != extension.split("-")[0]:
        reader.note("M.Attachment.AttachmentName", Severity.WARNING,
                    f"{name!r} is named .{name.rpartition('.')[2]} but its bytes are "
                    f"{extension.replace('edxml-zip', 'a zip holding an edXML packet')}",
                    item)
    declared = content_type.split(";")[0].strip().lower()
    if declared and declared != actual and not (zipped and declared == "application/zip") \
            and declared not in ("application/octet-stream", "binary/octet-stream"):
        reader.note("M.Attachment.ContentType", Severity.WARNING,
                    f"ContentType {content_type!r} but the bytes are {actual}", item)


def read_status(reader: Reader, root: etree._Element) -> StatusInfo | None:
    """The :class:`StatusInfo` of a status packet (None when it cannot be used)."""
    message_el = next(_message_headers(reader, root), None)
    if message_el is None:
        reader.note("N.edXMLHeader.MessageHeader", Severity.ERROR,
                    "the status packet has no MessageHeader", root)
        return None
    return _status_from(reader, message_el, "StatusHeader")


def _message_headers(reader: Reader, root: etree._Element) -> Iterator[etree._Element]:
    env = reader.kids(root, "edXML").get("edXMLEnvelope")
    header = None if env is None else reader.kids(env, "edXMLEnvelope").get("edXMLHeader")
    message = None if header is None else reader.kids(header, "edXMLHeader").get(
        "MessageHeader")
    if message is not None:
        yield message


def _status_from(reader: Reader, message_el: etree._Element, container: str
                 ) -> StatusInfo | None:
    header = reader.kids(message_el, container)
    from_el = reader.need(header, "From", "MessageHeader", message_el)
    sender = None if from_el is None else reader.organ(from_el, "From", Severity.ERROR)
    response_el = reader.need(header, "ResponseFor", "MessageHeader", message_el)
    response = None if response_el is None else reader.response_for(response_el)
    code_el = reader.need(header, "StatusCode", "MessageHeader", message_el)
    code = None if code_el is None else reader.convert(
        code_el, lambda text: StatusCode(text.strip(XML_SPACE)), container="MessageHeader",
        letter="R")
    when = reader.timestamp(reader.need(header, "Timestamp", "MessageHeader", message_el),
                            container="MessageHeader")
    digest = reader.opt(header, "ReceivedDigest", "MessageHeader")
    reader.finish()
    if sender is None or response is None or code is None or when is None:
        return None
    return StatusInfo(
        response_for=response,
        sender=sender,
        code=code,
        description=reader.opt(header, "Description", "MessageHeader") or "",
        timestamp=when,
        staff=reader.staff(header.get("StaffInfo")),
        message_id=reader.opt(header, "MessageId", "MessageHeader"),
        received_sha256=digest,
    )


def read_legacy_soap_status(reader: Reader, root: etree._Element) -> StatusInfo | None:
    """A status an older provincial SOAP gateway carries in ``SOAP-ENV:Header/Status``."""
    header = next((child for child in root if local(child) == "Header"), None)
    status = None if header is None else next(
        (child for child in header if local(child) == "Status"), None)
    if status is None:
        reader.note("N.Envelope.Header", Severity.ERROR,
                    "a SOAP envelope without a Status header block is not a status packet",
                    root)
        return None
    reader.note("M.Envelope.Status", Severity.WARNING,
                "a legacy SOAP-wrapped status (Status in SOAP-ENV:Header), not an edXML "
                "status packet; read all the same", status)
    return _status_from(reader, status, "StatusHeader")
