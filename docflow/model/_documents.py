"""Documents and statuses: every edXML code list (business document types, status
codes, priorities, common document types) as data, the header of a document, its
attachments, trace hops and status packets."""

from __future__ import annotations

import datetime as dt
import enum
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docflow.errors import ModelError
from docflow.model import _fields
from docflow.model._organs import _XML_SPACE, OrganCode, OrganInfo


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


class _Kinds(dict[str, DocumentType]):
    """A read-only table of document kinds; an unknown kind is a ModelError that lists
    the known ones (not a bare KeyError)."""

    def __missing__(self, key: str) -> DocumentType:
        raise ModelError(f"unknown document kind {key!r}", where="DOCUMENT_TYPES",
                         hint="one of " + ", ".join(self) + ", or DocumentType(type, name, "
                         "detail) for another")


#: Common document types as seen in public edXML clients (data, not code).
DOCUMENT_TYPES: Mapping[str, DocumentType] = _Kinds({
    "letter": DocumentType(1, "Công văn", 1),
    "decision": DocumentType(2, "Quyết định", 2),
    # Type is 1 (administrative) or 2 (normative) as the official samples write it, and
    # as a deployed provincial hub requires; TypeDetail says which kind
    "plan": DocumentType(1, "Kế hoạch", 3),
    "report": DocumentType(1, "Báo cáo", 4),
    "notice": DocumentType(1, "Thông báo", 5),
    "directive": DocumentType(1, "Chỉ thị", 6),
    "invitation": DocumentType(1, "Giấy mời", 7),
})


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
        self._check_types()
        if not self.recipients:
            raise ModelError("a document needs at least one recipient (To)")
        if not self.subject.strip(_XML_SPACE):
            raise ModelError("a document needs a subject (trích yếu)")
        for name in ("content", "sphere_of_promulgation", "typer_notation"):
            if getattr(self, name) == "":  # written as an empty element: none
                object.__setattr__(self, name, None)
        if not self.document_id:
            object.__setattr__(
                self,
                "document_id",
                document_id_for(
                    self.sender.code, self.promulgation_date, self.code_number, self.code_notation
                ),
            )

    def _check_types(self) -> None:
        owner, need = "DocumentInfo", _fields.require
        need(owner, "sender", self.sender, OrganInfo,
             example='OrganInfo(OrganCode("000.00.00.H41"), "UBND tỉnh Quảng Nam")')
        object.__setattr__(self, "recipients", _fields.items(
            owner, "recipients", self.recipients, OrganInfo, example="(district,) or "
            "[district, commune]: a tuple of OrganInfo, even for one recipient"))
        for name, example in (("code_number", '"12" (a string, as on the paper)'),
                              ("code_notation", '"UBND-VP"'),
                              ("promulgation_place", '"Quảng Nam"'),
                              ("subject", '"V/v ..."'), ("document_id", "a string")):
            need(owner, name, getattr(self, name), str, example=example)
        need(owner, "promulgation_date", self.promulgation_date, dt.date,
             example="datetime.date(2026, 12, 5)")
        need(owner, "due_date", self.due_date, dt.date, optional=True,
             example="datetime.date(2026, 12, 20), or None")
        need(owner, "document_type", self.document_type, DocumentType,
             example='DOCUMENT_TYPES["letter"] or DocumentType(1, "Công văn", 1)')
        need(owner, "signer", self.signer, Signer,
             example='Signer("Nguyễn Văn A", "Chủ tịch", "Chủ tịch")')
        for name in ("content", "sphere_of_promulgation", "typer_notation"):
            need(owner, name, getattr(self, name), str, optional=True, example="a string")
        for name in ("promulgation_amount", "page_amount", "steering_type"):
            need(owner, name, getattr(self, name), int, optional=True, example="an int")
        need(owner, "priority", self.priority, int, example="Priority.URGENT")
        if self.priority not in set(Priority):
            raise ModelError(f"{owner}.priority {self.priority!r} is not an edXML priority",
                             where=f"{owner}.priority",
                             hint="0 normal, 1 urgent, 2 very urgent, 3 flash, 4 flash timed")
        object.__setattr__(self, "priority", Priority(self.priority))
        object.__setattr__(self, "to_places", _fields.items(
            owner, "to_places", self.to_places, str, example='("Như trên", "Lưu VT")'))
        object.__setattr__(self, "appendixes", _fields.items(
            owner, "appendixes", self.appendixes, str, example='("Phụ lục I",)'))
        object.__setattr__(self, "response_for", _fields.items(
            owner, "response_for", self.response_for, ResponseFor,
            example="(ResponseFor(...),)"))
        need(owner, "business", self.business, Business, example="Business()")

    @property
    def code(self) -> str:
        """``number/notation``, e.g. ``123/UBND-VP`` (số, ký hiệu)."""
        return f"{self.code_number}/{self.code_notation}"


def guess_content_type(name: str) -> str:
    """The MIME type a file's name suggests (``application/pdf`` for ``a.pdf``; the
    office types by their extensions), ``application/octet-stream`` when it says nothing."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


@dataclass(frozen=True)
class Attachment:
    """A file carried in ``AttachmentEncoded``. ``data`` is the decoded content."""

    name: str
    data: bytes
    #: the MIME type; by default guessed from the name (``.pdf``: ``application/pdf``),
    #: ``application/octet-stream`` when the name says nothing
    content_type: str = ""
    description: str | None = None
    content_id: str = ""

    def __post_init__(self) -> None:
        _fields.require("Attachment", "name", self.name, str, example='"quyet-dinh.pdf"')
        if not self.name:
            raise ModelError("an attachment needs a name")
        data: Any = self.data  # what a caller handed, whatever its annotation says
        if isinstance(data, bytearray | memoryview):
            object.__setattr__(self, "data", bytes(data))
        _fields.require("Attachment", "data", self.data, bytes,
                        example='Path("quyet-dinh.pdf").read_bytes() (bytes, not text)')
        _fields.require("Attachment", "content_type", self.content_type, str,
                        example='"application/pdf"')
        _fields.require("Attachment", "description", self.description, str, optional=True,
                        example="a string or None")
        if not self.content_type:
            object.__setattr__(self, "content_type", guess_content_type(self.name))


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
