"""The checks a deployed provincial hub runs on every incoming document before it takes
it (Bkav's edoc-integrator, `Checker.checkMessageHeader` and `checkTraceHeaderList`;
`../shared/EDXML.md`, "What deployed receivers check"), written out in Python with the
Java semantics that decide the outcome: a missing element is null, and the hub refuses
the document when a check reports an error **or throws** (`isEmpty()` on null, the
`String.format("R.%", ...)` of its OrganAdd check, iterating a null TraceHeader list).

Not the hub's code: what it does, in the shape it does it, to test writers against."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from lxml import etree

_NS = "{http://www.mic.gov.vn/TBT/QCVN_102_2016}"
# StringPool.URL_REGEX (a Website that matches it is reported invalid: the check is
# inverted in the hub)
_URL = re.compile(r"^(http(?:s)?\:\/\/[a-zA-Z0-9\-]+(?:\.[a-zA-Z0-9\-]+)*\.[a-zA-Z]{2,6}"
                  r"(?:\/?|(?:\/[\w\-]+)*)(?:\/?|\/\w+\.[a-zA-Z]{2,4}(?:\?[\w]+\=[\w\-]+)?)?"
                  r"(?:\&[\w]+\=[\w\-]+)*)$")


class Thrown(Exception):  # noqa: N818 - a Java exception escaping the checker
    """What a Java exception in the checker becomes (the hub refuses the document)."""


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.errors


def _text(parent: etree._Element | None, name: str) -> str | None:
    """The element's text ("" when empty), or None when the element is missing."""
    if parent is None:
        return None
    element = parent.find(_NS + name)
    return None if element is None else (element.text or "")


def _length(target: str | None, length: int) -> bool:
    """Checker.checkLength: true (an error) for null, or more dot-separated parts."""
    return target is None or len(target.split(".")) > length


def _empty(value: str | None, what: str) -> bool:
    if value is None:
        raise Thrown(f"NullPointerException: {what}.isEmpty()")
    return value == ""


def _organ(element: etree._Element, errors: list[str], *, is_from: bool) -> None:
    side = "From" if is_from else "To"
    organ_id = _text(element, "OrganId")
    if _empty(organ_id, f"{side}.OrganId"):
        errors.append(f"N.MessageHeader{side}OrganId")
    if _length(organ_id, 4):
        errors.append(f"R.MessageHeader{side}OrganId")
    if _length(_text(element, "OrganName"), 200):
        errors.append(f"R.MessageHeader{side}OrganName")
    if is_from and _length(_text(element, "OrganizationInCharge"), 200):
        errors.append("R.MessageHeaderFromOrganizationInCharge")
    if _length(_text(element, "OrganAdd"), 250):
        # String.format("R.%", ...): UnknownFormatConversionException
        raise Thrown(f"UnknownFormatConversionException: {side}.OrganAdd")
    email = _text(element, "Email")
    if not _empty(email, f"{side}.Email"):
        assert email is not None
        if _length(email, 100):
            errors.append(f"R.MessageHeader{side}Email")
        if "@" not in email:
            errors.append(f"M.MessageHeader{side}Email")
    for name in ("Telephone", "Fax"):
        if _length(_text(element, name), 20):
            errors.append(f"R.MessageHeader{side}{name}")
    website = _text(element, "Website")
    if _length(website, 20):
        errors.append(f"R.MessageHeader{side}Website")
    if website is None:
        raise Thrown(f"NullPointerException: {side}.Website.matches()")
    if _URL.match(website):
        errors.append(f"M.MessageHeader{side}Website")


def check_message_header(packet: bytes, *, today: dt.date) -> Report:
    """`checkMessageHeader`: From, the Tos (present, each checked, none twice),
    DocumentId, Code, PromulgationInfo, DocumentType, Subject, Content, ToPlaces,
    OtherInfo."""
    root = etree.fromstring(packet)
    header = root.find(f"{_NS}edXMLEnvelope/{_NS}edXMLHeader/{_NS}MessageHeader")
    if header is None:
        raise Thrown("NullPointerException: MessageHeader")
    errors: list[str] = []
    sender = header.find(_NS + "From")
    if sender is None:
        raise Thrown("NullPointerException: From")
    _organ(sender, errors, is_from=True)
    recipients = header.findall(_NS + "To")
    if not recipients:
        errors.append("N.MessageHeader.To")
    for recipient in recipients:
        _organ(recipient, errors, is_from=False)
    codes = [_text(to, "OrganId") for to in recipients]
    if len(set(codes)) < len(codes):
        errors.append("N.MessageHeader.To.OrganId")
    if _length(_text(header, "DocumentId"), 15):
        errors.append("R.DocumentId")
    code = header.find(_NS + "Code")
    if code is None:
        raise Thrown("NullPointerException: Code")
    number, notation = _text(code, "CodeNumber"), _text(code, "CodeNotation")
    if _empty(number, "CodeNumber"):
        errors.append("N.MessageHeaderCodeCodeNumber")
    if _length(number, 11):
        errors.append("R.MessageHeaderCodeCodeNumber")
    if _empty(notation, "CodeNotation"):
        errors.append("N.MessageHeaderCodeCodeNotation")
    if _length(notation, 30):
        errors.append("R.MessageHeaderCodeCodeNotation")
    promulgation = header.find(_NS + "PromulgationInfo")
    if promulgation is None:
        raise Thrown("NullPointerException: PromulgationInfo")
    if _length(_text(promulgation, "Place"), 50):
        errors.append("R.MessageHeader.Promulgation.Place")
    day_text = _text(promulgation, "PromulgationDate")
    if day_text is None:
        raise Thrown("NullPointerException: PromulgationDate")
    day = dt.datetime.strptime(day_text, "%Y/%m/%d").date()
    if day > today:
        errors.append("M.MessageHeaderCodePromulgationDate")
    doc_type = header.find(_NS + "DocumentType")
    if doc_type is None:
        raise Thrown("NullPointerException: DocumentType")
    if (_text(doc_type, "Type") or "0").strip() not in ("1", "2"):
        errors.append("M.MessageHeader.DocumentType.Type")
    if _length(_text(doc_type, "TypeName"), 100):
        errors.append("R.MessageHeader.DocumentType.TypeName")
    subject = _text(header, "Subject")
    if _empty(subject, "Subject"):
        errors.append("N.MessageHeader.Subject")
    if _length(subject, 500):
        errors.append("R.MessageHeader.Subject")
    if _length(_text(header, "Content"), 500):
        errors.append("R.MessageHeader.Content")
    places = header.find(_NS + "ToPlaces")
    for place in [] if places is None else places.findall(_NS + "Place"):
        if _length(place.text or "", 150):
            errors.append("R.MessageHeader.ToPlace.Place")
    other = header.find(_NS + "OtherInfo")
    if other is None:
        raise Thrown("NullPointerException: OtherInfo")
    if _length(_text(other, "SphereOfPromulgation"), 100):
        errors.append("R.MessageHeader.OtherInfo.SphereOfPromulgation")
    if (_text(other, "Priority") or "0").strip() not in ("0", "1", "2", "3", "4"):
        errors.append("M.MessageHeader.OtherInfo.Priority")
    if _length(_text(other, "TyperNotation"), 10):
        errors.append("R.MessageHeader.OtherInfo.TyperNotation")
    return Report(errors)


def check_trace_header_list(packet: bytes) -> Report:
    """`checkTraceHeaderList`: iterates the TraceHeaders (none: a null list, thrown)."""
    root = etree.fromstring(packet)
    trace = root.find(f"{_NS}edXMLEnvelope/{_NS}edXMLHeader/{_NS}TraceHeaderList")
    headers = [] if trace is None else trace.findall(_NS + "TraceHeader")
    if not headers:
        raise Thrown("NullPointerException: getTraceHeaders()")
    errors: list[str] = []
    for item in headers:
        organ_id = _text(item, "OrganId")
        if organ_id is None:
            raise Thrown("NullPointerException: TraceHeader.OrganId.length()")
        if organ_id == "":
            errors.append("N.TraceHeaderList.TraceHeader.OrganId")
        if _length(organ_id, 4):
            errors.append("R.TraceHeaderList.TraceHeader.OrganId")
    return Report(errors)


def accepts(packet: bytes, *, today: dt.date) -> Report:
    """Both checks, as the hub runs them: a Report, or Thrown."""
    header = check_message_header(packet, today=today)
    trace = check_trace_header_list(packet)
    return Report(header.errors + trace.errors)
