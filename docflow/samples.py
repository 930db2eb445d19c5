"""Sample documents and status packets: for the demo, the CLI, examples and benchmarks.

The organs are synthetic (codes in the right format, real Quảng Nam place names). Pure
functions: pass ``now`` for anything time-dependent; nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from docflow.envelope import Envelope
from docflow.errors import ModelError
from docflow.model import (
    DEFAULT_TZ,
    DOCUMENT_TYPES,
    Attachment,
    DocumentInfo,
    OrganCode,
    OrganInfo,
    Priority,
    ResponseFor,
    Signer,
    StaffInfo,
    StatusCode,
    StatusInfo,
)

__all__ = ["PROVINCE", "SAMPLE_KINDS", "TAM_KY", "sample_envelope", "sample_status"]

PROVINCE = OrganInfo(
    code=OrganCode("000.00.00.H41"),
    name="Ủy ban nhân dân tỉnh Quảng Nam",
    organization_in_charge="Văn phòng UBND tỉnh",
    address="62 Hùng Vương, Tam Kỳ, Quảng Nam",
    email="vpubnd@quangnam.gov.vn",
    telephone="0235 3852 547",
    website="https://quangnam.gov.vn",
)

TAM_KY = OrganInfo(
    code=OrganCode("000.00.01.H41"),
    name="Ủy ban nhân dân thành phố Tam Kỳ",
    organization_in_charge="Văn phòng HĐND và UBND thành phố",
    email="tamky@quangnam.gov.vn",
)

_DEFAULT_DAY = dt.date(2018, 9, 10)


@dataclass(frozen=True)
class _Kind:
    type_key: str
    notation: str
    subject: str
    content: str
    file_prefix: str


#: The sample kinds: each its own type, notation, subject and file (a letter is not the
#: decision with another type name).
SAMPLE_KINDS: Mapping[str, _Kind] = {
    "decision": _Kind(
        "decision", "QĐ-UBND",
        "Quyết định phê duyệt Đề án xây dựng Kiến trúc Chính quyền điện tử tỉnh Quảng Nam",
        "Phê duyệt lộ trình xây dựng Chính quyền điện tử tỉnh giai đoạn 2018-2020; "
        "liên thông văn bản 4 cấp qua nền tảng tích hợp LGSP.", "QD"),
    "letter": _Kind(
        "letter", "UBND-VP",
        "V/v triển khai gửi, nhận văn bản điện tử liên thông 4 cấp",
        "Đề nghị các cơ quan, đơn vị triển khai gửi, nhận văn bản điện tử qua trục liên "
        "thông văn bản của tỉnh.", "CV"),
    "report": _Kind(
        "report", "BC-UBND",
        "Báo cáo kết quả gửi, nhận văn bản điện tử quý III",
        "Tổng hợp số văn bản điện tử gửi, nhận qua trục liên thông trong quý.", "BC"),
}


def sample_envelope(
    *,
    sender: OrganInfo = PROVINCE,
    recipients: tuple[OrganInfo, ...] = (TAM_KY,),
    number: str = "4512",
    date: dt.date = _DEFAULT_DAY,
    attachment_bytes: int = 1024,
    message_id: str = "sample-0001",
    kind: str = "decision",
) -> Envelope:
    """A provincial decision (Quyết định) with one PDF-like attachment, or a document of
    another ``kind`` of :data:`SAMPLE_KINDS` (a letter, a report: each its own type,
    notation and subject).

    ``attachment_bytes`` sets the attachment size (0 for none); the content is
    deterministic, so the same arguments always give the same packet.
    """
    if kind not in SAMPLE_KINDS:
        raise ModelError(f"no sample of kind {kind!r}", hint="one of " + ", ".join(SAMPLE_KINDS))
    sample = SAMPLE_KINDS[kind]
    info = DocumentInfo(
        sender=sender,
        recipients=recipients,
        code_number=number,
        code_notation=sample.notation,
        promulgation_place="Quảng Nam",
        promulgation_date=date,
        document_type=DOCUMENT_TYPES[sample.type_key],
        subject=sample.subject,
        content=sample.content,
        signer=Signer(full_name="Trần Văn Tân", position="Phó Chủ tịch", competence="KT. Chủ tịch"),
        due_date=date + dt.timedelta(days=21),
        to_places=("Như Điều 3", "Lưu: VT, KGVX"),
        priority=Priority.URGENT,
        sphere_of_promulgation="Trong tỉnh",
        typer_notation="VT",
        promulgation_amount=30,
        page_amount=4,
    )
    attachments: tuple[Attachment, ...] = ()
    if attachment_bytes:
        seed = b"%PDF-1.4 Quyet dinh " + number.encode()
        body = (seed * (attachment_bytes // len(seed) + 1))[:attachment_bytes]
        attachments = (
            Attachment(
                name=f"{sample.file_prefix}-{number}.pdf",
                data=body,
                content_type="application/pdf",
                description="Văn bản ký số",
            ),
        )
    return Envelope(info=info, attachments=attachments, message_id=message_id)


def sample_status(
    envelope: Envelope,
    code: StatusCode = StatusCode.ARRIVED,
    *,
    reporter: OrganInfo | None = None,
    now: dt.datetime | None = None,
) -> StatusInfo:
    """A status packet answering ``envelope`` (by default: 01 arrived, from its first
    recipient)."""
    info = envelope.info
    return StatusInfo(
        response_for=ResponseFor(
            organ_id=info.sender.code,
            code=info.code,
            promulgation_date=info.promulgation_date,
            document_id=info.document_id,
        ),
        sender=reporter or info.recipients[0],
        code=code,
        description=code.description,
        timestamp=now or dt.datetime(2018, 9, 10, 9, 4, tzinfo=DEFAULT_TZ),
        staff=StaffInfo(department="Văn phòng", staff="Nguyễn Thị Văn Thư"),
        message_id=envelope.message_id,
    )
