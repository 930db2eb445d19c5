"""Build an edXML decision from the province to a district, validate it, read it back.

Run: python examples/build_and_parse.py
"""

from __future__ import annotations

import datetime as dt

import docflow
from docflow import (
    DOCUMENT_TYPES,
    Attachment,
    DocumentInfo,
    Envelope,
    OrganCode,
    OrganInfo,
    ResponseFor,
    Signer,
    StatusCode,
    StatusInfo,
)


def main() -> None:
    province = OrganInfo(OrganCode("000.00.00.H41"), "UBND tỉnh Quảng Nam")
    district = OrganInfo(OrganCode("000.00.05.H41"), "UBND huyện Đại Lộc")
    info = DocumentInfo(
        sender=province,
        recipients=(district,),
        code_number="88",
        code_notation="QĐ-UBND",
        promulgation_place="Quảng Nam",
        promulgation_date=dt.date(2026, 11, 25),
        document_type=DOCUMENT_TYPES["decision"],
        subject="Quyết định giao chỉ tiêu liên thông văn bản điện tử năm 2027",
        signer=Signer(full_name="Nguyễn Văn B", position="Chủ tịch"),
        due_date=dt.date(2026, 12, 15),
    )
    envelope = Envelope(
        info,
        attachments=(Attachment("QD-88.pdf", b"%PDF-1.7 ...", "application/pdf"),),
        message_id="example-88",
    )

    packet = docflow.build_envelope(envelope)  # validated against xsd/edxml.xsd
    print(f"built {len(packet)} bytes, DocumentId {info.document_id}")

    received = docflow.parse_envelope(packet)  # hardened parse + schema validation
    assert received == envelope
    print(f"parsed: {received.info.code} '{received.info.subject}' -> "
          f"{[str(organ.code) for organ in received.info.recipients]}")

    receipt = StatusInfo(
        response_for=ResponseFor(province.code, info.code, info.promulgation_date,
                                 info.document_id),
        sender=district,
        code=StatusCode.ARRIVED,
        timestamp=dt.datetime(2026, 11, 25, 9, 30, tzinfo=docflow.DEFAULT_TZ),
        message_id=envelope.message_id,
    )
    status = docflow.parse_status(docflow.build_status(receipt))
    print(f"status {status.code.value} ({status.code.description}) from {status.sender.code}")

    try:
        docflow.parse_envelope(packet.replace(b"edXML:Subject>", b"edXML:Subjekt>"))
    except docflow.SchemaError as error:
        print(f"a broken packet is refused: {error.message} at {error.path}, line {error.line}")


if __name__ == "__main__":
    main()
