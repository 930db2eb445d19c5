"""docflow reads packets laid out exactly as VDXP/LGSP clients write them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from docflow.envelope import build_envelope, derived_message_id, parse_envelope, parse_status
from docflow.model import BusinessDocType, OrganCode, Priority, StatusCode


def test_hand_written_document_packet(data_dir: Path) -> None:
    envelope = parse_envelope((data_dir / "real-layout.edxml").read_bytes())
    info = envelope.info
    assert info.sender.code == OrganCode("000.00.00.H41")
    assert [organ.code.value for organ in info.recipients] == ["000.00.01.H41", "000.00.05.H41"]
    assert info.code == "123/UBND-VP"
    assert info.document_type.name == "Công văn"
    assert info.priority is Priority.URGENT
    assert info.due_date == dt.date(2018, 9, 30)
    assert info.document_id == "000.00.00.H41,2018/09/07,123/UBND-VP"
    assert info.response_for[0].code == "45/BC-UBND"
    assert info.business.doc_type is BusinessDocType.NEW
    assert info.business.staff is not None
    assert info.business.staff.staff == "Lê Thị B"
    assert [hop.organ_id.value for hop in envelope.trace] == ["000.00.00.H41"]
    pdf, appendix = envelope.attachments
    assert pdf.data.startswith(b"%PDF-1.4")  # MIME base64 with line breaks
    assert appendix.data.startswith(b"PK-not-really-docx")  # unzipped
    # No docflow MessageId in the packet: a stable one is derived.
    assert envelope.message_id == derived_message_id(info.document_id, BusinessDocType.NEW)


def test_hand_written_packet_survives_a_docflow_round_trip(data_dir: Path) -> None:
    envelope = parse_envelope((data_dir / "real-layout.edxml").read_bytes())
    assert parse_envelope(build_envelope(envelope)) == envelope


def test_hand_written_status_packet(data_dir: Path) -> None:
    status = parse_status((data_dir / "real-layout-status.edxml").read_bytes())
    assert status.code is StatusCode.ACCEPTED
    assert status.sender.code == OrganCode("000.00.01.H41")
    assert status.timestamp.isoformat() == "2018-09-08T08:15:00+07:00"
