"""Hypothesis strategies that generate docflow model objects (never raw XML).

Text is drawn from the XML 1.0 Char production, with Vietnamese letters in both NFC and
NFD forms over-represented, since lxml refuses non-XML characters.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from hypothesis import strategies as st

from docflow.envelope import Envelope
from docflow.envelope._packet import MAX_DATE, MIN_DATE
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
)

_VIETNAMESE = "ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵĐ"
_VIETNAMESE_NFD = unicodedata.normalize("NFD", _VIETNAMESE)
_XML_SPACE = " \t\n\r"

xml_chars = st.one_of(
    st.sampled_from(list(_VIETNAMESE + _VIETNAMESE_NFD + "Quảng Nam UBND")),
    st.sampled_from(list("\t\n\r &<>\"'")),
    st.characters(min_codepoint=0x20, max_codepoint=0xD7FF),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFD),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
)


def xml_text(max_size: int = 30) -> st.SearchStrategy[str]:
    """Any text an XML 1.0 document can carry."""
    return st.text(alphabet=xml_chars, max_size=max_size)


def non_empty(max_size: int = 30) -> st.SearchStrategy[str]:
    """Text with at least one character that is not XML white space."""
    return st.text(alphabet=xml_chars, min_size=1, max_size=max_size).filter(
        lambda text: text.strip(_XML_SPACE) != ""
    )


organ_codes = st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}\Z").map(OrganCode)
dates = st.dates(MIN_DATE, MAX_DATE)
# Vietnam has had no offset change since 1975: later wall-clock times are unambiguous.
timestamps = st.datetimes(
    min_value=dt.datetime(1976, 1, 1),
    max_value=dt.datetime(2998, 12, 31),
    timezones=st.just(DEFAULT_TZ),
).map(lambda value: value.replace(microsecond=0))
optional_text = st.none() | xml_text()
int32 = st.integers(-(2**31), 2**31 - 1)
counts = st.integers(0, 1_000_000)

organs = st.builds(
    OrganInfo,
    code=organ_codes,
    name=non_empty(),
    organization_in_charge=xml_text(),
    address=optional_text,
    email=optional_text,
    telephone=optional_text,
    fax=optional_text,
    website=optional_text,
)
staff = st.builds(
    StaffInfo, department=xml_text(), staff=xml_text(), mobile=optional_text, email=optional_text
)
def document_ids(organ: OrganCode) -> st.SearchStrategy[str]:
    """DocumentIds of ``organ``'s documents (every DocumentId begins with its organ)."""
    return non_empty().map(lambda rest: f"{organ},{rest}")


response_fors = organ_codes.flatmap(lambda organ: st.builds(
    ResponseFor, organ_id=st.just(organ), code=non_empty(), promulgation_date=dates,
    document_id=document_ids(organ),
))


def businesses(sender: OrganCode) -> st.SearchStrategy[Business]:
    """``Bussiness`` of a packet from ``sender`` (it updates or replaces its own)."""
    return st.builds(
        Business,
        doc_type=st.sampled_from(BusinessDocType),
        reason=optional_text,
        document_id=st.none() | document_ids(sender),
        document_info=st.none()
        | st.builds(
            BusinessDocumentInfo,
            document_info_changed=st.booleans(),
            receivers_changed=st.booleans(),
            receivers=st.lists(organ_codes, max_size=3).map(tuple),
        ),
        replacements=st.lists(
            st.builds(ReplacementInfo, document_id=document_ids(sender),
                      organ_ids=st.lists(organ_codes, max_size=3).map(tuple)),
            max_size=2,
        ).map(tuple),
        staff=st.none() | staff,
        paper=st.booleans(),
    )


def documents_of(senders: st.SearchStrategy[OrganInfo]) -> st.SearchStrategy[DocumentInfo]:
    """Documents from the organs ``senders`` draws (their ids name the sender's
    documents)."""
    return senders.flatmap(lambda sender: st.builds(
        DocumentInfo,
        sender=st.just(sender),
        recipients=st.lists(organs, min_size=1, max_size=3,
                            unique_by=lambda organ: organ.code).map(tuple),
        code_number=non_empty(10),
        code_notation=xml_text(10),
        promulgation_place=xml_text(),
        promulgation_date=dates,
        document_type=st.builds(DocumentType, type=int32, name=non_empty(),
                                detail=st.none() | int32),
        subject=non_empty(80),
        signer=st.builds(Signer, full_name=non_empty(), position=xml_text(),
                         competence=xml_text()),
        content=st.none() | xml_text(200),
        due_date=st.none() | dates,
        to_places=st.lists(xml_text(), max_size=3).map(tuple),
        priority=st.sampled_from(Priority),
        sphere_of_promulgation=optional_text,
        typer_notation=optional_text,
        promulgation_amount=st.none() | counts,
        page_amount=st.none() | counts,
        direction=st.none() | st.booleans(),
        appendixes=st.lists(xml_text(), max_size=3).map(tuple),
        steering_type=st.none() | int32,
        response_for=st.lists(response_fors, max_size=2).map(tuple),
        business=businesses(sender.code),
        document_id=st.just("") | document_ids(sender.code),
    ))


documents = documents_of(organs)
content_ids = st.from_regex(r"\A[A-Za-z0-9._@-]{1,20}\Z")
attachments = st.builds(
    Attachment,
    name=non_empty(),
    data=st.binary(max_size=300),
    content_type=xml_text(),
    description=optional_text,
    content_id=content_ids,
)
message_ids = st.from_regex(r"\A[A-Za-z0-9._:-]{1,64}\Z")


def envelopes_of(senders: st.SearchStrategy[OrganInfo] = organs,
                 hops: int = 4) -> st.SearchStrategy[Envelope]:
    """Document packets from the organs ``senders`` draws, with up to ``hops`` hops."""
    return st.builds(
        Envelope,
        info=documents_of(senders),
        attachments=st.lists(attachments, max_size=3,
                             unique_by=lambda att: att.content_id).map(tuple),
        trace=st.lists(st.builds(TraceHop, organ_id=organ_codes, timestamp=timestamps),
                       max_size=hops).map(tuple),
        message_id=message_ids,
    )


envelopes = envelopes_of()
statuses = st.builds(
    StatusInfo,
    response_for=response_fors,
    sender=organs,
    code=st.sampled_from(StatusCode),
    timestamp=timestamps,
    description=xml_text(),
    staff=st.none() | staff,
    message_id=st.none() | message_ids,
    received_sha256=st.none() | st.from_regex(r"\A[0-9a-f]{64}\Z"),
)
