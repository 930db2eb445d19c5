"""parse(build(x)) == x for documents and status packets, over generated models."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import replace

from hypothesis import given

from docflow.envelope import (
    Envelope,
    add_trace_hop,
    build_envelope,
    build_status,
    parse_envelope,
    parse_packet,
    parse_status,
)
from docflow.model import DEFAULT_TZ, OrganCode, StatusInfo, TraceHop
from docflow.samples import sample_envelope, sample_status
from tests.strategies import envelopes, organ_codes, statuses, timestamps


@given(envelopes)
def test_document_round_trip(envelope: Envelope) -> None:
    assert parse_envelope(build_envelope(envelope)) == envelope


@given(statuses)
def test_status_round_trip(status: StatusInfo) -> None:
    data = build_status(status)
    assert parse_status(data) == status
    assert parse_packet(data) == status


@given(envelopes)
def test_parse_packet_tells_documents_from_statuses(envelope: Envelope) -> None:
    assert parse_packet(build_envelope(envelope)) == envelope


@given(envelopes, organ_codes, timestamps)
def test_trace_hop_is_appended_and_nothing_else_changes(
    envelope: Envelope, organ, when: dt.datetime
) -> None:
    hop = TraceHop(organ, when)
    parsed = parse_envelope(add_trace_hop(build_envelope(envelope), hop))
    assert parsed == replace(envelope, trace=(*envelope.trace, hop))


def test_vietnamese_nfc_and_nfd_survive_exactly() -> None:
    subject = "Quyết định về việc phê duyệt Đề án"
    for form in ("NFC", "NFD"):
        text = unicodedata.normalize(form, subject)
        envelope = sample_envelope()
        envelope = replace(envelope, info=replace(envelope.info, subject=text))
        parsed = parse_envelope(build_envelope(envelope))
        assert parsed.info.subject == text
        assert unicodedata.is_normalized(form, parsed.info.subject)


def test_timestamps_keep_their_instant_and_read_back_in_vietnam_time() -> None:
    utc_time = dt.datetime(2018, 9, 7, 2, 4, 5, tzinfo=dt.UTC)
    envelope = replace(sample_envelope(), trace=(TraceHop(OrganCode("000.00.00.H41"), utc_time),))
    hop = parse_envelope(build_envelope(envelope)).trace[0]
    assert hop.timestamp == utc_time
    assert hop.timestamp.tzinfo is DEFAULT_TZ
    assert (hop.timestamp.hour, hop.timestamp.utcoffset()) == (9, dt.timedelta(hours=7))


def test_built_packet_has_the_prefixes_strict_receivers_require() -> None:
    data = build_envelope(sample_envelope())
    assert b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" ' in data
    assert b'xmlns:xlink="http://www.w3.org/1999/xlink"' in data  # declared, not ns0:
    assert b'xlink:href="cid:' in data
    assert b"<edXML:edXMLEnvelope" in data
    assert b'<edXML:MessageHeader Id="edxml-header">' in data
    assert b'<AttachmentEncoded Id="edxml-attachments">' in data  # outside, no prefix


def test_status_answers_the_document() -> None:
    envelope = sample_envelope()
    status = parse_status(build_status(sample_status(envelope)))
    assert status.response_for.document_id == envelope.info.document_id
    assert status.message_id == envelope.message_id
