"""Pure data of the domain: organ codes, organs, hierarchies, documents, statuses.

Every code list of edXML (QCVN 102:2016/BTTTT) lives here as data, so that a corrected
list is a one-line change: business document types, status codes, priorities, common
document types. This module does no I/O except :meth:`Hierarchy.from_toml`, which reads
TOML text it is handed (or a file path, for convenience) and nothing else.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from docflow.errors import ConfigError, ModelError, OrganCodeError

__all__ = [
    "DEFAULT_TZ",
    "DOCUMENT_TYPES",
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
    "require_bound",
]

#: Time zone of wall-clock times on the wire (edXML timestamps carry no offset).
DEFAULT_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# White space as XML Schema's \s sees it (NonEmptyString in xsd/ is "not only these").
_XML_SPACE = " \t\n\r"

_ORGAN_CODE_RE = re.compile(r"\A([0-9]{3})\.([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})\Z")


@dataclass(frozen=True, order=True)
class OrganCode:
    """An organ identifier (mã định danh) ``VVV.ZZ.YY.Mxx`` per QĐ 20/2020/QĐ-TTg.

    The last part is level 1 (``H41``: a provincial People's Committee), ``YY`` level 2,
    ``ZZ`` level 3, ``VVV`` level 4; zeros mean "not this level".

    >>> code = OrganCode("000.46.24.H44")
    >>> code.code_level, str(code.parent)
    (3, '000.00.24.H44')
    """

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not _ORGAN_CODE_RE.match(self.value):
            raise OrganCodeError(
                f"{self.value!r} is not a valid organ code",
                hint="expected four dotted parts VVV.ZZ.YY.Mxx, e.g. 000.00.00.H41 "
                "(3 digits, 2 digits, 2 digits, an upper-case letter and 2 digits)",
            )

    @classmethod
    def parse(cls, value: str | OrganCode) -> OrganCode:
        """Return ``value`` as an :class:`OrganCode` (accepts one already)."""
        return value if isinstance(value, OrganCode) else cls(value.strip())

    def _parts(self) -> tuple[str, str, str, str]:
        vvv, zz, yy, root = self.value.split(".")  # shape checked in __post_init__
        return vvv, zz, yy, root

    @property
    def root(self) -> str:
        """The level-1 part, e.g. ``H41``."""
        return self._parts()[3]

    @property
    def code_level(self) -> int:
        """1 to 4: the deepest part of the code that is not zero."""
        vvv, zz, yy, _ = self._parts()
        if vvv != "000":
            return 4
        if zz != "00":
            return 3
        if yy != "00":
            return 2
        return 1

    @property
    def parent(self) -> OrganCode | None:
        """The code one level up (the deepest non-zero part zeroed), None at level 1."""
        vvv, zz, yy, root = self._parts()
        if vvv != "000":
            return OrganCode(f"000.{zz}.{yy}.{root}")
        if zz != "00":
            return OrganCode(f"000.00.{yy}.{root}")
        if yy != "00":
            return OrganCode(f"000.00.00.{root}")
        return None

    def __str__(self) -> str:
        return self.value


_PATTERN_PARTS = (re.compile(r"\A[0-9]{3}\Z"), re.compile(r"\A[0-9]{2}\Z"),
                  re.compile(r"\A[0-9]{2}\Z"), re.compile(r"\A[A-Z][0-9]{2}\Z"))


@dataclass(frozen=True)
class OrganPattern:
    """A set of organ codes, written like a code with ``*`` for any part:
    ``*.*.*.H41`` (every organ of province H41), ``*.*.05.H41`` (district 05 of H41 and
    the units under it), ``000.00.00.H41`` (that organ alone), ``*`` (every organ).
    What a certification authority may certify (see ``docflow.security.TrustStore``).

    >>> OrganPattern("*.*.*.H41").matches(OrganCode("000.46.05.H41"))
    True
    >>> OrganPattern("*.*.05.H41").matches(OrganCode("000.00.06.H41"))
    False
    """

    text: str

    def __post_init__(self) -> None:
        parts = self.text.split(".")
        if self.text != "*" and (len(parts) != 4 or not all(
                part == "*" or shape.match(part)
                for part, shape in zip(parts, _PATTERN_PARTS, strict=True))):
            raise OrganCodeError(
                f"{self.text!r} is not an organ code pattern",
                hint="four dotted parts like an organ code, each the part itself or *, "
                "e.g. *.*.*.H41; or * for every organ")

    @property
    def parts(self) -> tuple[str | None, ...]:
        """The four parts, None for ``*`` (all four None for the pattern ``*``)."""
        if self.text == "*":
            return (None, None, None, None)
        return tuple(None if part == "*" else part for part in self.text.split("."))

    def matches(self, code: OrganCode) -> bool:
        """Whether ``code`` is in the set."""
        return all(want is None or want == have
                   for want, have in zip(self.parts, str(code).split("."), strict=True))

    @property
    def suffix(self) -> tuple[str, ...] | None:
        """The fixed right-hand parts when every ``*`` is to their left (``*.*.05.H41``
        gives ``("05", "H41")``, ``*`` gives ``()``): the form an X.509 name constraint
        can express, the code read as a domain name. None for any other pattern."""
        parts = self.parts
        fixed = [index for index, part in enumerate(parts) if part is not None]
        if fixed and fixed != list(range(fixed[0], 4)):
            return None
        return tuple(part for part in parts if part is not None)

    def __str__(self) -> str:
        return self.text


class BusinessDocType(enum.IntEnum):
    """``BussinessDocType``: what a packet does to a document."""

    NEW = 0  #: văn bản mới
    RECALL = 1  #: thu hồi
    UPDATE = 2  #: cập nhật
    REPLACE = 3  #: thay thế


class StatusCode(enum.StrEnum):
    """Status codes of edXML status packets (gói tin trạng thái)."""

    ARRIVED = "01"  #: đã đến: the receiving software has it
    REJECTED = "02"  #: từ chối, with a reason
    ACCEPTED = "03"  #: tiếp nhận: registered by the clerk
    ASSIGNED = "04"  #: phân công: assigned by a leader
    PROCESSING = "05"  #: đang xử lý
    COMPLETED = "06"  #: hoàn thành
    RECALL_REQUESTED = "13"  #: the original sender asks to take the document back
    AGREED = "15"  #: the receiver agrees to a recall or update
    REFUSED = "16"  #: the receiver refuses a recall or update

    @property
    def description(self) -> str:
        """The Vietnamese label used in status packets' ``Description`` by default."""
        return _STATUS_DESCRIPTIONS[self]


_STATUS_DESCRIPTIONS: Mapping[StatusCode, str] = {
    StatusCode.ARRIVED: "Đã đến",
    StatusCode.REJECTED: "Từ chối tiếp nhận",
    StatusCode.ACCEPTED: "Đã tiếp nhận",
    StatusCode.ASSIGNED: "Phân công xử lý",
    StatusCode.PROCESSING: "Đang xử lý",
    StatusCode.COMPLETED: "Hoàn thành",
    StatusCode.RECALL_REQUESTED: "Yêu cầu thu hồi",
    StatusCode.AGREED: "Đồng ý thu hồi/cập nhật",
    StatusCode.REFUSED: "Từ chối thu hồi/cập nhật",
}


class Priority(enum.IntEnum):
    """``OtherInfo/Priority``: độ khẩn (urgency)."""

    NORMAL = 0  #: Thường
    URGENT = 1  #: Khẩn
    VERY_URGENT = 2  #: Thượng khẩn
    FLASH = 3  #: Hỏa tốc
    FLASH_TIMED = 4  #: Hỏa tốc hẹn giờ


@dataclass(frozen=True)
class DocumentType:
    """``DocumentType``: loại văn bản. ``type`` numbers differ between systems (1 or 18
    for "Công văn"), so ``name`` is what people read and ``type`` what the peer expects."""

    type: int
    name: str
    detail: int | None = None


#: Common document types as seen in public edXML clients (data, not code).
DOCUMENT_TYPES: Mapping[str, DocumentType] = {
    "letter": DocumentType(1, "Công văn", 1),
    "decision": DocumentType(2, "Quyết định", 2),
    "plan": DocumentType(3, "Kế hoạch", 3),
    "report": DocumentType(4, "Báo cáo", 4),
    "notice": DocumentType(5, "Thông báo", 5),
    "directive": DocumentType(6, "Chỉ thị", 6),
    "invitation": DocumentType(7, "Giấy mời", 7),
}


@dataclass(frozen=True)
class OrganInfo:
    """An organ as it appears on the wire (``From`` / ``To``)."""

    code: OrganCode
    name: str
    organization_in_charge: str = ""
    address: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class Level:
    """An administrative level of a hierarchy (data, not code).

    ``parents`` lists the level keys an organ of this level may sit under; empty for
    the top level.
    """

    key: str
    name: str
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Organ:
    """A node of the hierarchy: cơ quan, đơn vị."""

    code: OrganCode
    name: str
    level: str
    parent: OrganCode | None = None
    organization_in_charge: str = ""
    address: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None

    def info(self) -> OrganInfo:
        """This organ as it goes on the wire."""
        return OrganInfo(
            code=self.code,
            name=self.name,
            organization_in_charge=self.organization_in_charge,
            address=self.address,
            email=self.email,
            telephone=self.telephone,
            fax=self.fax,
            website=self.website,
        )


#: The classic four levels of "liên thông văn bản 4 cấp".
FOUR_LEVELS: tuple[Level, ...] = (
    Level("province", "UBND tỉnh"),
    Level("department", "Sở, ban, ngành", ("province",)),
    Level("district", "UBND huyện", ("province",)),
    Level("commune", "UBND xã", ("district",)),
)


@dataclass(frozen=True)
class Hierarchy:
    """Levels (as data) and the organs placed on them.

    >>> h = Hierarchy.from_toml('''
    ... [[levels]]
    ... key = "province"
    ... name = "UBND tỉnh"
    ... [[levels]]
    ... key = "commune"
    ... name = "UBND xã"
    ... parents = ["province"]
    ... [[organs]]
    ... code = "000.00.00.H41"
    ... name = "UBND tỉnh"
    ... level = "province"
    ... [[organs]]
    ... code = "000.00.01.H41"
    ... name = "UBND xã A"
    ... level = "commune"
    ... ''')
    >>> [o.name for o in h.children(OrganCode("000.00.00.H41"))]
    ['UBND xã A']
    """

    levels: tuple[Level, ...] = FOUR_LEVELS
    organs: tuple[Organ, ...] = ()
    _by_code: Mapping[OrganCode, Organ] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        keys = [level.key for level in self.levels]
        if not keys:
            raise ConfigError("a hierarchy needs at least one level")
        if len(set(keys)) != len(keys):
            raise ConfigError(f"duplicate level keys in {keys}")
        for level in self.levels:
            for parent in level.parents:
                if parent not in keys:
                    raise ConfigError(
                        f"level {level.key!r} names unknown parent level {parent!r}",
                        hint=f"known levels: {', '.join(keys)}",
                    )
        by_code: dict[OrganCode, Organ] = {}
        for organ in self.organs:
            if organ.code in by_code:
                raise ConfigError("organ listed twice", where=str(organ.code))
            by_code[organ.code] = organ
        levels = {level.key: level for level in self.levels}
        for organ in self.organs:
            organ_level = levels.get(organ.level)
            if organ_level is None:
                raise ConfigError(
                    f"unknown level {organ.level!r}",
                    where=str(organ.code),
                    hint=f"known levels: {', '.join(keys)}",
                )
            if organ.parent is None:
                if organ_level.parents:
                    raise ConfigError(
                        f"a {organ.level} must have a parent organ", where=str(organ.code)
                    )
                continue
            parent_organ = by_code.get(organ.parent)
            if parent_organ is None:
                raise ConfigError(
                    f"parent organ {organ.parent} is not in the hierarchy", where=str(organ.code)
                )
            if parent_organ.level not in organ_level.parents:
                raise ConfigError(
                    f"a {organ.level} cannot sit under a {parent_organ.level}",
                    where=str(organ.code),
                    hint=f"allowed parent levels: {', '.join(organ_level.parents) or 'none'}",
                )
        object.__setattr__(self, "_by_code", by_code)

    @classmethod
    def from_toml(cls, source: str | Path) -> Hierarchy:
        """Load levels and organs from TOML text or a ``.toml`` file path.

        ``[[levels]]`` tables have ``key``, ``name`` and ``parents``; ``[[organs]]``
        tables have ``code``, ``name``, ``level`` and optionally ``parent`` (derived from
        the code when absent and the level has parents) and contact fields. Without
        ``[[levels]]`` the four classic levels are used.
        """
        where = None
        if isinstance(source, Path):
            where = str(source)
            try:
                text = source.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read hierarchy file: {exc}", where=where) from exc
        else:
            text = source
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", where=where) from exc
        try:
            levels = tuple(
                Level(str(item["key"]), str(item["name"]), tuple(item.get("parents", ())))
                for item in data.get("levels", ())
            ) or FOUR_LEVELS
            level_parents = {level.key: level.parents for level in levels}
            organs = tuple(
                _organ_from_table(item, level_parents) for item in data.get("organs", ())
            )
        except KeyError as exc:
            raise ConfigError(f"missing key {exc.args[0]!r} in hierarchy", where=where) from exc
        except ModelError as exc:
            raise ConfigError(exc.message, where=where, hint=exc.hint) from exc
        return cls(levels=levels, organs=organs)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Organ]:
        return iter(self.organs)

    def __len__(self) -> int:
        return len(self.organs)

    def get(self, code: OrganCode | str) -> Organ:
        """The organ with this code; ``ModelError`` if it is not in the hierarchy."""
        key = OrganCode.parse(code)
        try:
            return self._by_code[key]
        except KeyError:
            raise ModelError(
                "organ is not in the hierarchy",
                where=str(key),
                hint="add it to the hierarchy/directory file",
            ) from None

    def level(self, key: str) -> Level:
        """The level with this key."""
        for level in self.levels:
            if level.key == key:
                return level
        raise ModelError(f"unknown level {key!r}")

    def children(self, code: OrganCode | str) -> list[Organ]:
        """Organs directly under ``code``."""
        key = OrganCode.parse(code)
        return [organ for organ in self.organs if organ.parent == key]

    def ancestors(self, code: OrganCode | str) -> list[Organ]:
        """Organs above ``code``, nearest first."""
        out: list[Organ] = []
        organ = self.get(code)
        while organ.parent is not None:
            organ = self.get(organ.parent)
            out.append(organ)
        return out


def _organ_from_table(
    item: Mapping[str, Any], level_parents: Mapping[str, tuple[str, ...]]
) -> Organ:
    code = OrganCode.parse(str(item["code"]))
    level = str(item["level"])
    parent_text = item.get("parent")
    if parent_text is not None:
        parent: OrganCode | None = OrganCode.parse(str(parent_text))
    elif level_parents.get(level):
        parent = code.parent
    else:
        parent = None
    return Organ(
        code=code,
        name=str(item["name"]),
        level=level,
        parent=parent,
        organization_in_charge=str(item.get("organization_in_charge", "")),
        address=item.get("address"),
        email=item.get("email"),
        telephone=item.get("telephone"),
        fax=item.get("fax"),
        website=item.get("website"),
    )


@dataclass(frozen=True)
class Signer:
    """``SignerInfo``: người ký."""

    full_name: str
    position: str = ""
    competence: str = ""


@dataclass(frozen=True)
class ResponseFor:
    """``ResponseFor``: the document a packet answers, recalls or reports on (docflow
    writes its ``document_id`` bound to ``organ_id``, see :func:`document_id_bound`)."""

    organ_id: OrganCode
    code: str
    promulgation_date: dt.date
    document_id: str



@dataclass(frozen=True)
class StaffInfo:
    """``StaffInfo``: the clerk or official who acted."""

    department: str = ""
    staff: str = ""
    mobile: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class BusinessDocumentInfo:
    """``BussinessDocumentInfo`` of an update: which parts changed, and the new receivers."""

    document_info_changed: bool = False
    receivers_changed: bool = False
    receivers: tuple[OrganCode, ...] = ()


@dataclass(frozen=True)
class ReplacementInfo:
    """``ReplacementInfo``: a document the new one replaces, and where it went."""

    document_id: str
    organ_ids: tuple[OrganCode, ...] = ()


@dataclass(frozen=True)
class Business:
    """``TraceHeaderList/Bussiness``: what the packet does (new, recall, update, replace)."""

    doc_type: BusinessDocType = BusinessDocType.NEW
    reason: str | None = None
    document_id: str | None = None
    document_info: BusinessDocumentInfo | None = None
    replacements: tuple[ReplacementInfo, ...] = ()
    staff: StaffInfo | None = None
    paper: bool = False


def document_id_for(sender: OrganCode, date: dt.date, number: str, notation: str) -> str:
    """The edXML ``DocumentId``: ``{senderOrganId},{yyyy/MM/dd},{number}/{notation}``."""
    return f"{sender},{date:%Y/%m/%d},{number}/{notation}"


def document_id_bound(document_id: str, organ: OrganCode) -> bool:
    """Whether ``document_id`` names a document of ``organ``: it begins with the organ's
    code and a comma, as every DocumentId does. A DocumentId is predictable; bound to
    its sender, no organ can name (and so shadow) another organ's document.

    >>> document_id_bound("000.00.00.H41,2018/09/10,4512/QĐ-UBND", OrganCode("000.00.00.H41"))
    True
    >>> document_id_bound("000.00.00.H41,2018/09/10,4512/QĐ-UBND", OrganCode("000.00.05.H41"))
    False
    """
    return document_id.startswith(f"{organ},")


def require_bound(document_id: str, organ: OrganCode, what: str) -> None:
    """:class:`~docflow.errors.ModelError` unless ``document_id`` is bound to ``organ``
    (what docflow writes always is; the readers report other packets' as findings)."""
    if not document_id_bound(document_id, organ):
        raise ModelError(
            f"{what}: DocumentId {document_id!r} does not begin with the organ code "
            f"{organ} of the document's sender",
            hint="a DocumentId is {sender organ code},{yyyy/MM/dd},{number}/{notation}",
        )


@dataclass(frozen=True)
class DocumentInfo:
    """Every header field of an edXML document (văn bản).

    ``document_id`` defaults to the conventional ``{sender},{date},{number}/{notation}``.
    """

    sender: OrganInfo
    recipients: tuple[OrganInfo, ...]
    code_number: str
    code_notation: str
    promulgation_place: str
    promulgation_date: dt.date
    document_type: DocumentType
    subject: str
    signer: Signer
    content: str | None = None
    due_date: dt.date | None = None
    to_places: tuple[str, ...] = ()
    priority: Priority = Priority.NORMAL
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: tuple[str, ...] = ()
    steering_type: int | None = None
    response_for: tuple[ResponseFor, ...] = ()
    business: Business = field(default_factory=Business)
    document_id: str = ""

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ModelError("a document needs at least one recipient (To)")
        if not self.subject.strip(_XML_SPACE):
            raise ModelError("a document needs a subject (trích yếu)")
        if not self.document_id:
            object.__setattr__(
                self,
                "document_id",
                document_id_for(
                    self.sender.code, self.promulgation_date, self.code_number, self.code_notation
                ),
            )

    @property
    def code(self) -> str:
        """``number/notation``, e.g. ``123/UBND-VP`` (số, ký hiệu)."""
        return f"{self.code_number}/{self.code_notation}"


@dataclass(frozen=True)
class Attachment:
    """A file carried in ``AttachmentEncoded``. ``data`` is the decoded content."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"
    description: str | None = None
    content_id: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ModelError("an attachment needs a name")


@dataclass(frozen=True)
class TraceHop:
    """``TraceHeader``: one organ the packet went through, and when."""

    organ_id: OrganCode
    timestamp: dt.datetime

    def __post_init__(self) -> None:
        _require_aware(self.timestamp, "TraceHop.timestamp")


@dataclass(frozen=True)
class StatusInfo:
    """A status packet (gói tin trạng thái): what the reporting organ did with a document.

    ``message_id`` and ``received_sha256`` are docflow extensions that make a receipt prove
    which bytes arrived; both are optional on the wire.
    """

    response_for: ResponseFor
    sender: OrganInfo
    code: StatusCode
    timestamp: dt.datetime
    description: str = ""
    staff: StaffInfo | None = None
    message_id: str | None = None
    received_sha256: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.timestamp, "StatusInfo.timestamp")


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ModelError(
            f"{name} must be time-zone aware",
            hint="use e.g. datetime.now(docflow.model.DEFAULT_TZ)",
        )


def organ_codes(values: Iterable[str | OrganCode]) -> tuple[OrganCode, ...]:
    """Parse several organ codes at once."""
    return tuple(OrganCode.parse(value) for value in values)
