"""Field access on edXML trees for the strict and the lenient reader, with findings.

:class:`Reader` finds children (by local name, in any order and namespace when
lenient), converts values (dates, timestamps, flags, numbers, organ codes, DocumentIds
bound to their organ) and records a :class:`~docflow.envelope.Finding` for every
deviation from the strict layout; in strict mode, where the XSD has already checked the
shape, what is left to find raises at once. Pure: trees in, values and findings out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from zoneinfo import ZoneInfo

from lxml import etree

from docflow.envelope._findings import LENGTHS, Finding, Policy, Severity
from docflow.envelope._packet import MAX_DATE, MIN_DATE
from docflow.envelope._xml import DSIG_NS, EDXML_NS, ParseLimits
from docflow.errors import DocflowError, SchemaError
from docflow.model import (
    OrganCode,
    OrganInfo,
    ResponseFor,
    StaffInfo,
    document_id_bound,
)

__all__ = ["ANY_ORDER", "OFFICIAL_ORDER", "XML_SPACE", "Reader", "SignatureForm", "local",
           "signature_form"]

_T = TypeVar("_T")

#: White space as XML sees it (Python's str.strip() also strips other characters).
XML_SPACE = " \t\r\n"

#: The official order of each container's children (lenient mode reports another).
OFFICIAL_ORDER: dict[str, tuple[str, ...]] = {
    "edXML": ("edXMLEnvelope", "AttachmentEncoded"),
    "edXMLEnvelope": ("edXMLHeader", "edXMLBody"),
    "edXMLHeader": ("MessageHeader", "TraceHeaderList", "Signature", "DigitalSignature"),
    "MessageHeader": ("From", "To", "DocumentId", "Code", "PromulgationInfo",
                      "DocumentType", "Subject", "Content", "SignerInfo", "DueDate",
                      "OtherInfo", "ResponseFor", "SteeringType", "ToPlaces", "MessageId"),
    "StatusHeader": ("From", "ResponseFor", "StaffInfo", "StatusCode", "Description",
                     "Timestamp", "MessageId", "ReceivedDigest"),
    "Code": ("CodeNumber", "CodeNotation"),
    "PromulgationInfo": ("Place", "PromulgationDate"),
    "DocumentType": ("Type", "TypeDetail", "TypeName"),
    "SignerInfo": ("Competence", "Position", "FullName"),
    "OtherInfo": ("Priority", "SphereOfPromulgation", "TyperNotation", "PromulgationAmount",
                  "PageAmount", "Direction", "Appendixes"),
    "TraceHeaderList": ("TraceHeader", "Bussiness"),
    "TraceHeader": ("OrganId", "Timestamp"),
    "Bussiness": ("DocumentId", "BussinessDocType", "BussinessDocReason",
                  "BussinessDocumentInfo", "Paper", "ReplacementInfoList", "StaffInfo"),
}
#: Containers whose children come in any order, even in the strict layout.
ANY_ORDER: dict[str, tuple[str, ...]] = {
    "Organ": ("OrganId", "OrganizationInCharge", "OrganName", "OrganAdd", "Email",
              "Telephone", "Fax", "Website"),
    "ResponseFor": ("OrganId", "Code", "PromulgationDate", "DocumentId"),
    "StaffInfo": ("Department", "Staff", "Mobile", "Email"),
    "Reference": ("Description", "AttachmentName", "ContentType", "ContentId"),
    "Attachment": ("ContentType", "ContentId", "Description", "AttachmentName",
                   "ContentTransferEncoded"),
    "BussinessDocumentInfo": ("DocumentInfo", "DocumentReceiver", "ReceiverList"),
    "ReplacementInfo": ("DocumentId", "OrganIdList"),
}
_XLINK = "{http://www.w3.org/1999/xlink}"
#: Attributes the layout has (``Id``, docflow's signature anchors, anywhere).
_ATTRIBUTES: dict[str, set[str]] = {
    "edXMLManifest": {"version"},
    "Reference": {f"{_XLINK}href", f"{_XLINK}role", f"{_XLINK}type"},
    "TraceHeaderList": {"id", "version", "mustUnderstand", "actor"},
}
_REPEATED = {"To", "ResponseFor", "TraceHeader", "Place", "Appendix", "Reference",
             "Attachment", "OrganId", "ReplacementInfo"}
_DATE = re.compile(r"\A(\d{4})/(\d{2})/(\d{2})\Z")
_OTHER_DATES = (re.compile(r"\A(?P<d>\d{2})/(?P<m>\d{2})/(?P<y>\d{4})\Z"),
                re.compile(r"\A(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\Z"))
_TIMESTAMP = re.compile(r"\A(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})\Z")
_OTHER_TIMESTAMPS = (
    re.compile(r"\A(?P<d>\d{2})/(?P<m>\d{2})/(?P<y>\d{4}) (?P<H>\d{2}):(?P<M>\d{2})"
               r":(?P<S>\d{2})\Z"),
    re.compile(r"\A(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})[T ](?P<H>\d{2}):(?P<M>\d{2})"
               r":(?P<S>\d{2})\Z"))


_PREFIX = f"{{{EDXML_NS}}}"
#: organs read strictly before, by their children's (tag, text): values are immutable
_ORGANS: dict[tuple[tuple[object, str | None], ...], OrganInfo] = {}
_ORGANS_KEPT = 8192  # a province's organs several times over; cleared when full

_CUT = len(_PREFIX)


def local(element: etree._Element) -> str:
    """An element's local name."""
    tag = element.tag
    if isinstance(tag, str) and tag.startswith(_PREFIX):
        return tag[_CUT:]
    return str(tag).rpartition("}")[2]


class SignatureForm:
    """Which signature a packet carries (see :func:`signature_form`)."""

    XMLDSIG = "xmldsig"  #: a W3C ds:Signature (docflow's; verifiable)
    OFFICIAL = "official"  #: the official library's edXML-namespace block (not verifiable)
    EMPTY = "empty"  #: a Signature/DigitalSignature element with nothing in it
    ABSENT = "absent"  #: no signature element at all


def signature_form(root: etree._Element) -> str:
    """The :class:`SignatureForm` of a packet tree (any layout). Any W3C ``ds:Signature``
    anywhere in the packet makes it ``XMLDSIG`` (to be verified, or the packet refused):
    an empty ``DigitalSignature`` put before it, or a decoy ``edXMLHeader`` first, must
    not hide a signature from the check."""
    if next(root.iter(f"{{{DSIG_NS}}}Signature"), None) is not None:
        return SignatureForm.XMLDSIG
    header = next(root.iter("{*}edXMLHeader"), None)  # in any namespace or none
    holder = None if header is None else next(
        (child for child in header if local(child) in ("Signature", "DigitalSignature")
         and etree.QName(child).namespace != DSIG_NS), None)
    if holder is None:
        direct = None if header is None else header.find(f"{{{DSIG_NS}}}Signature")
        return SignatureForm.XMLDSIG if direct is not None else SignatureForm.ABSENT
    if holder.find(f"{{{DSIG_NS}}}Signature") is not None:
        return SignatureForm.XMLDSIG
    if len(holder) or (holder.text or "").strip(XML_SPACE):
        return SignatureForm.OFFICIAL
    return SignatureForm.EMPTY


#: how many places' findings a packet keeps (the rest are counted in one finding)
MAX_FINDINGS = 200


@dataclass
class _Tally:
    """A finding and how often it recurred at its place."""

    first: Finding
    count: int = 1
    lines: list[int] = field(default_factory=list)

    def add(self, severity: Severity, element: etree._Element | None) -> None:
        self.count += 1
        if severity > self.first.severity:
            self.first = dataclasses.replace(self.first, severity=severity)
        if element is not None and element.sourceline and len(self.lines) < 4:
            self.lines.append(element.sourceline)

    def finding_of(self) -> Finding:
        if self.count == 1:
            return self.first
        lines = f"; again at line {', '.join(map(str, self.lines))}" if self.lines else ""
        return dataclasses.replace(self.first, message=f"{self.first.message} "
                                   f"({self.count} times here{lines}"
                                   f"{', ...' if self.count - 1 > len(self.lines) else ''})")


class Reader:
    """Field access on a packet tree, collecting findings (``strict``: an error raises).

    Args:
        root: the packet's root element.
        strict: the tree passed the strict or legacy XSD (errors raise
            :class:`~docflow.errors.SchemaError` or their own class at once).
        policy: the zone of zone-less timestamps and the aliases of non-organ ids.
        limits: bounds on decoded attachments.
    """

    def __init__(self, root: etree._Element, *, strict: bool, policy: Policy,
                 limits: ParseLimits):
        self.tree = root.getroottree()
        self.strict = strict
        self.tz: ZoneInfo = policy.tz
        self.aliases = policy.aliases
        self.limits = limits
        #: findings by (code, the element's parent): one entry per place, counted
        self._tallies: dict[tuple[str, etree._Element | None], _Tally] = {}
        #: findings past the first MAX_FINDINGS places: counted by severity only
        self._overflow: dict[Severity, int] = {}
        self._overflow_codes: list[str] = []
        self._before: list[Finding] = []
        #: the total decoded size of the attachments read so far
        self.decoded = 0
        #: texts left in a spool (a large packet's skeleton): marker -> its chunks
        self.spooled: Mapping[str, Callable[[], Iterator[bytes]]] = {}
        self._timestamps = False

    # ------------------------------------------------------------------ findings

    def note(self, code: str, severity: Severity, message: str,
             element: etree._Element | None = None,
             error: type[DocflowError] = SchemaError, *, kept: bool = False) -> None:
        """Record a finding. In strict mode a warning or an error raises instead
        (``error``'s class): the schema leaves only what must not be (a calendar date
        that does not exist, a DocumentId of another organ...) unless ``kept`` (a value
        docflow keeps whole, an over-long field)."""
        if self.strict and severity >= Severity.WARNING and not kept:
            path = None if element is None else self.tree.getpath(element)
            line = None if element is None else element.sourceline
            if error is SchemaError:
                raise SchemaError(message, path=path, line=line)
            raise error(message, where=path)
        # One entry per code and place, counted: a packet of 60,000 stray siblings or
        # 300,000 stray attributes costs one entry (and one getpath, which counts the
        # element's preceding siblings) instead of one each.
        key = (code, None if element is None else element.getparent())
        tally = self._tallies.get(key)
        if tally is not None:
            tally.add(severity, element)
            return
        if len(self._tallies) >= MAX_FINDINGS:
            self._overflow[severity] = self._overflow.get(severity, 0) + 1
            if len(self._overflow_codes) < 5 and code not in self._overflow_codes:
                self._overflow_codes.append(code)
            return
        path = None if element is None else self.tree.getpath(element)
        line = None if element is None else element.sourceline
        self._tallies[key] = _Tally(Finding(code, severity, message, path, line))

    def add(self, findings: Iterable[Finding]) -> None:
        """Findings made before reading (the prolog's), kept first."""
        self._before.extend(findings)

    @property
    def findings(self) -> list[Finding]:
        """What was found, one finding per code and place (its count and first lines in
        the message when it recurred), and past :data:`MAX_FINDINGS` places one finding
        counting the rest, as severe as the worst of them (it refuses when they would)."""
        out = [*self._before, *(tally.finding_of() for tally in self._tallies.values())]
        if self._overflow:
            dropped = sum(self._overflow.values())
            out.append(Finding(
                "M.edXML.findings", max(self._overflow),
                f"{dropped} more finding(s) at further places not kept (codes such as "
                f"{', '.join(self._overflow_codes)}): the packet deviates in more than "
                f"{MAX_FINDINGS} places"))
        return out

    @staticmethod
    def code(letter: str, parent: str, element: str) -> str:
        return f"{letter}.{parent}.{element}"

    # ------------------------------------------------------------------ structure

    def kids(self, parent: etree._Element, container: str) -> dict[str, etree._Element]:
        """The children by local name (the first of each), checking order, repeats,
        unknown elements and namespaces in lenient mode."""
        if self.strict:  # the schema put every child in the edXML namespace
            return {str(child.tag)[_CUT:]: child for child in parent}
        known = OFFICIAL_ORDER.get(container) or ANY_ORDER.get(container) or ()
        found: dict[str, etree._Element] = {}
        order: list[int] = []
        for child in parent:
            name = local(child)
            namespace = etree.QName(child).namespace
            if namespace == DSIG_NS:
                continue  # signatures are docflow.security's to read
            if namespace != EDXML_NS:
                self.note(self.code("M", container, name), Severity.INFO,
                          f"{name} is in {'no namespace' if namespace is None else namespace}"
                          ", not the edXML namespace; read all the same", child)
            if known and name not in known:
                self.note(self.code("M", container, name), Severity.WARNING,
                          f"{name} is not part of the {container} layout; ignored", child)
                continue
            for attribute in child.attrib:
                if attribute != "Id" and attribute not in _ATTRIBUTES.get(name, ()):
                    self.note(self.code("M", container, name), Severity.INFO,
                              f"{name} has the attribute {attribute!r}, which the layout "
                              "does not; ignored", child)
            if name in found:
                if name not in _REPEATED:
                    self.note(self.code("M", container, name), Severity.WARNING,
                              f"{name} appears more than once; the first is read", child)
                continue
            found[name] = child
            if container in OFFICIAL_ORDER and known:
                order.append(known.index(name))
        if order != sorted(order):
            self.note(self.code("M", container, "order"), Severity.INFO,
                      f"the children of {container} are not in the official order", parent)
        return found

    def all(self, parent: etree._Element | None, name: str) -> list[etree._Element]:
        """Every child called ``name`` (any namespace in lenient mode)."""
        if parent is None:
            return []
        if self.strict:
            return list(parent.iterchildren(_PREFIX + name))
        return [child for child in parent if local(child) == name]

    def need(self, kids: dict[str, etree._Element], tag: str, container: str,
             parent: etree._Element, severity: Severity = Severity.ERROR
             ) -> etree._Element | None:
        element = kids.get(tag)
        if element is None:
            self.note(self.code("N", container, tag), severity,
                      f"{container} has no {tag}", parent)
        return element

    # ------------------------------------------------------------------ values

    def text(self, element: etree._Element | None, *, container: str = "",
             required: bool = False, severity: Severity = Severity.ERROR) -> str:
        if element is None:
            return ""
        value = element.text or ""
        if self.strict and not required:  # the schema checked it; lengths are recorded only
            return value
        name = local(element)
        if required and not value.strip(XML_SPACE):
            self.note(self.code("N", container, name), severity, f"{name} is empty", element)
        limit = LENGTHS.get(name)
        if limit is not None and len(value) > limit and not self.strict:
            self.note(self.code("R", container, name), Severity.WARNING,
                      f"{name} has {len(value)} characters, more than the {limit} of "
                      "Nghị định 30; kept whole", element, kept=True)
        return value

    def opt(self, kids: dict[str, etree._Element], tag: str, container: str) -> str | None:
        element = kids.get(tag)
        return None if element is None else self.text(element, container=container)

    def convert(self, element: etree._Element, func: Callable[[str], _T], *,
                container: str, letter: str = "T",
                severity: Severity = Severity.ERROR) -> _T | None:
        try:
            return func(element.text or "")
        except (ValueError, DocflowError) as exc:
            message = exc.message if isinstance(exc, DocflowError) else str(exc)
            self.note(self.code(letter, container, local(element)), severity,
                      f"invalid value {element.text!r}: {message}", element)
            return None

    def integer(self, kids: dict[str, etree._Element], tag: str, container: str, *,
                low: int | None = None, high: int | None = None) -> int | None:
        element = kids.get(tag)
        if element is None:
            return None
        value = self.convert(element, lambda text: int(text.strip(XML_SPACE)), container=container,
                             severity=Severity.WARNING)
        if value is not None and ((low is not None and value < low)
                                  or (high is not None and value > high)):
            self.note(self.code("R", container, tag), Severity.WARNING,
                      f"{tag} {value} is outside {low}..{high}; not read", element)
            return None
        return value

    def flag(self, kids: dict[str, etree._Element], tag: str, container: str, *,
             words: bool) -> bool | None:
        """A 0/1 or true/false flag; ``words``: the official form is true/false."""
        element = kids.get(tag)
        if element is None:
            return None
        value = (element.text or "").strip(XML_SPACE)
        if value in ("1", "true", "0", "false"):
            if not self.strict and (value in ("true", "false")) != words:
                self.note(self.code("T", container, tag), Severity.INFO,
                          f"{tag} written {value!r} (the official form is "
                          f"{'true/false' if words else '1/0'})", element)
            return value in ("1", "true")
        self.note(self.code("T", container, tag), Severity.WARNING,
                  f"{tag} {value!r} is not a flag (1/0, true/false); not read", element)
        return None

    def _parts(self, element: etree._Element, container: str, form: str,
               official: re.Pattern[str], others: tuple[re.Pattern[str], ...],
               keys: str) -> tuple[int, ...]:
        """The numbers of a date or timestamp in the official ``form``; in lenient mode
        also in the other forms senders write (recorded). ``ValueError`` otherwise."""
        text = (element.text or "").strip(XML_SPACE)
        parts = official.match(text)
        if parts is not None:
            return tuple(int(part) for part in parts.groups())
        for pattern in () if self.strict else others:
            other = pattern.match(text)
            if other:
                self.note(self.code("T", container, local(element)), Severity.INFO,
                          f"{text!r} is not written {form}; read all the same", element)
                return tuple(int(other[key]) for key in keys)
        raise ValueError(f"not written {form}")

    def date(self, element: etree._Element | None, *, container: str,
             severity: Severity = Severity.ERROR) -> dt.date | None:
        if element is None:
            return None
        try:
            year, month, day = self._parts(element, container, "yyyy/MM/dd", _DATE,
                                           _OTHER_DATES, "ymd")
            value = dt.date(year, month, day)
        except ValueError as exc:
            self.note(self.code("M", container, local(element)), severity,
                      f"invalid value {element.text!r}: {exc}", element)
            return None
        if not MIN_DATE <= value <= MAX_DATE:
            self.note(self.code("R", container, local(element)), severity,
                      f"date {value} is outside {MIN_DATE}..{MAX_DATE}", element)
            return None
        return value

    def timestamp(self, element: etree._Element | None, *, container: str,
                  severity: Severity = Severity.ERROR) -> dt.datetime | None:
        if element is None:
            return None
        try:
            year, month, day, hour, minute, second = self._parts(
                element, container, "yyyy/MM/dd HH:mm:ss", _TIMESTAMP, _OTHER_TIMESTAMPS,
                "ymdHMS")
            value = dt.datetime(year, month, day, hour, minute, second, tzinfo=self.tz)
        except ValueError as exc:
            self.note(self.code("M", container, local(element)), severity,
                      f"invalid value {element.text!r}: {exc}", element)
            return None
        if not MIN_DATE <= value.date() <= MAX_DATE:
            self.note(self.code("R", container, local(element)), severity,
                      f"timestamp {value} is outside {MIN_DATE}..{MAX_DATE}", element)
            return None
        self._timestamps = True
        return value

    def organ_code(self, element: etree._Element | None, *, container: str,
                   severity: Severity) -> OrganCode | None:
        """An organ code; in lenient mode an alias (a system id) is mapped."""
        if element is None:
            return None
        text = (element.text or "").strip(XML_SPACE)
        try:
            return OrganCode(text)
        except DocflowError:
            pass
        alias = self.aliases.get(text)
        if alias is not None:
            self.note(self.code("M", container, "OrganId"), Severity.INFO,
                      f"{text!r} is not an organ code; read as {alias} (the policy's alias)",
                      element)
            return OrganCode.parse(alias)
        self.note(self.code("M", container, "OrganId"), severity,
                  f"{text!r} is not an organ code (VVV.ZZ.YY.Mxx)", element)
        return None

    def organ(self, element: etree._Element, container: str, severity: Severity
              ) -> OrganInfo | None:
        """An organ (``From``, each ``To``). A strict read of an organ read before, child
        for child the same, is the same (immutable) value: a broadcast's hundreds of
        ``To`` organs are read once per distinct organ, not once per packet."""
        if not self.strict:
            return self._organ(element, container, severity)
        key = tuple((child.tag, child.text) for child in element)
        found = _ORGANS.get(key)
        if found is not None:
            return found
        before = len(self._tallies)
        organ = self._organ(element, container, severity)
        if organ is not None and len(self._tallies) == before:  # read without a finding
            if len(_ORGANS) >= _ORGANS_KEPT:
                _ORGANS.clear()
            _ORGANS[key] = organ
        return organ

    def _organ(self, element: etree._Element, container: str, severity: Severity
               ) -> OrganInfo | None:
        kids = self.kids(element, "Organ")
        code = self.organ_code(self.need(kids, "OrganId", container, element, severity),
                               container=container, severity=severity)
        name_el = kids.get("OrganName")
        if name_el is None or not (name_el.text or "").strip(XML_SPACE):
            self.note(self.code("N", container, "OrganName"), Severity.WARNING,
                      f"{container} has no OrganName", element)
        if code is None:
            return None
        return OrganInfo(
            code=code,
            name=self.text(name_el, container=container),
            organization_in_charge=self.opt(kids, "OrganizationInCharge", container) or "",
            # an empty contact element (as the official library writes one) is none
            address=self.opt(kids, "OrganAdd", container) or None,
            email=self.opt(kids, "Email", container) or None,
            telephone=self.opt(kids, "Telephone", container) or None,
            fax=self.opt(kids, "Fax", container) or None,
            website=self.opt(kids, "Website", container) or None,
        )

    def bound(self, element: etree._Element | None, organ: OrganCode | None, *,
              container: str) -> str | None:
        """A DocumentId, refused (an error) unless it names a document of ``organ``: no
        organ can name, and so shadow, another organ's document."""
        if element is None:
            return None
        value = element.text or ""
        if not value.strip(XML_SPACE):
            self.note(self.code("N", container, "DocumentId"), Severity.ERROR,
                      "DocumentId is empty", element)
            return None
        if organ is not None and not document_id_bound(value, organ) and not any(
                value.startswith(f"{alias},") for alias, code in self.aliases.items()
                if code == str(organ)):
            self.note(self.code("M", container, "DocumentId"), Severity.ERROR,
                      f"M.{container}.DocumentId: {value!r} does not begin with {organ}, "
                      "the organ whose document it names", element)
        return value

    def response_for(self, element: etree._Element) -> ResponseFor | None:
        kids = self.kids(element, "ResponseFor")
        organ = self.organ_code(self.need(kids, "OrganId", "ResponseFor", element),
                                container="ResponseFor", severity=Severity.ERROR)
        code = self.text(self.need(kids, "Code", "ResponseFor", element),
                         container="ResponseFor", required=True)
        day = self.date(self.need(kids, "PromulgationDate", "ResponseFor", element),
                        container="ResponseFor")
        document_id = self.bound(self.need(kids, "DocumentId", "ResponseFor", element), organ,
                                 container="ResponseFor")
        if organ is None or day is None or document_id is None:
            return None
        return ResponseFor(organ_id=organ, code=code, promulgation_date=day,
                           document_id=document_id)

    def staff(self, element: etree._Element | None) -> StaffInfo | None:
        if element is None:
            return None
        kids = self.kids(element, "StaffInfo")
        return StaffInfo(
            department=self.opt(kids, "Department", "StaffInfo") or "",
            staff=self.opt(kids, "Staff", "StaffInfo") or "",
            mobile=self.opt(kids, "Mobile", "StaffInfo"),
            email=self.opt(kids, "Email", "StaffInfo"),
        )

    def organ_codes(self, parent: etree._Element | None, container: str
                    ) -> tuple[OrganCode, ...]:
        codes = (self.organ_code(element, container=container, severity=Severity.WARNING)
                 for element in self.all(parent, "OrganId"))
        return tuple(code for code in codes if code is not None)

    def finish(self) -> None:
        """Findings that concern the whole packet."""
        if self._timestamps and not self.strict:
            self.note("T.edXML.Timestamp", Severity.INFO,
                      f"timestamps carry no zone; read as {self.tz.key} time")
