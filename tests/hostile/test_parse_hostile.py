"""Hostile and broken inputs to the parser: each gives its own clear error class.

The full catalogue (every entry point, no state change) grows with the Hardening issue;
this file covers the parser, which every entry point shares.
"""

from __future__ import annotations

import pytest
from lxml import etree

from docflow.envelope import (
    ParseLimits,
    build_envelope,
    parse_envelope,
    parse_packet,
    parse_xml,
    parse_xml_stream,
)
from docflow.errors import (
    AttachmentError,
    DocflowError,
    OversizeError,
    SchemaError,
    UnsafeXmlError,
    XmlError,
)
from docflow.samples import sample_envelope

VALID = build_envelope(sample_envelope())

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&lol9;</edXML>"""

QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "' + b"x" * 50_000 + b'">]><edXML>'
    + b"&a;" * 5_000 + b"</edXML>"
)

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&xxe;</edXML>"""

XXE_NETWORK = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/evil.dtd">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&xxe;</edXML>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>
<edXML/>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd"><edXML/>"""


def _flip_namespace(data: bytes) -> bytes:
    return data.replace(b"http://www.mic.gov.vn/TBT/QCVN_102_2016", b"urn:not-edxml")


CASES: list[tuple[str, bytes, type[DocflowError], str]] = [
    ("billion laughs", BILLION_LAUGHS, UnsafeXmlError, "DOCTYPE"),
    ("quadratic blowup", QUADRATIC, UnsafeXmlError, "DOCTYPE"),
    ("XXE local file", XXE_FILE, UnsafeXmlError, "DOCTYPE"),
    ("XXE network", XXE_NETWORK, UnsafeXmlError, "DOCTYPE"),
    ("parameter entity", PARAMETER_ENTITY, UnsafeXmlError, "DOCTYPE"),
    ("external DTD", EXTERNAL_DTD, UnsafeXmlError, "DOCTYPE"),
    ("harmless DOCTYPE", b"<!DOCTYPE edXML><edXML/>", UnsafeXmlError, "DOCTYPE"),
    ("truncated", VALID[: len(VALID) // 2], XmlError, "not well-formed"),
    ("empty", b"", XmlError, "empty"),
    ("not XML", b"%PDF-1.4 hello", XmlError, "not well-formed"),
    ("invalid UTF-8", VALID.replace("Quảng".encode(), b"Qu\xff\xfeng", 1), XmlError, "well-formed"),
    ("UTF-8 bytes declared UTF-16",
     VALID.replace(b"encoding='UTF-8'", b"encoding='UTF-16'"), XmlError, "well-formed"),
    ("wrong namespace", _flip_namespace(VALID), SchemaError, "expected edXML:edXML"),
    ("no namespace", b"<edXML><edXMLEnvelope/></edXML>", SchemaError, "expected edXML:edXML"),
    ("wrong root", VALID.replace(b"<edXML ", b"<Foo ", 1).replace(b"</edXML>", b"</Foo>"),
     SchemaError, "expected edXML:edXML"),
    ("undefined entity", b"<edXML>&nope;</edXML>", XmlError, "well-formed"),
    ("deep nesting", b"<a>" * 100_000 + b"</a>" * 100_000, XmlError, "well-formed"),
    ("base64 garbage",
     VALID.replace(b"<ContentTransferEncoded>", b"<ContentTransferEncoded>!!*", 1),
     AttachmentError, "base64"),
    ("base64 with non-ASCII", VALID.replace(
        b"<ContentTransferEncoded>", "<ContentTransferEncoded>ễ".encode(), 1),
     AttachmentError, "base64"),
    ("unknown element", VALID.replace(b"<edXML:Subject>", b"<edXML:Evil/><edXML:Subject>", 1),
     SchemaError, "Evil"),
    ("duplicated From", VALID.replace(b"<edXML:To>", VALID[VALID.index(b"<edXML:From>"):VALID.index(
        b"</edXML:From>") + 13] + b"<edXML:To>", 1), SchemaError, "From"),
]


@pytest.mark.parametrize(("name", "data", "error", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input(name: str, data: bytes, error: type[DocflowError], fragment: str) -> None:
    with pytest.raises(error) as info:
        parse_envelope(data)
    assert fragment in str(info.value), str(info.value)
    with pytest.raises(DocflowError):
        parse_packet(data)


def test_oversize_is_refused_before_parsing() -> None:
    with pytest.raises(OversizeError) as info:
        parse_envelope(VALID, limits=ParseLimits(max_bytes=len(VALID) - 1))
    assert info.value.size == len(VALID) and "limit" in str(info.value)


def test_default_limit_is_50_mib() -> None:
    with pytest.raises(OversizeError):
        parse_xml(b" " * (50 * 1024 * 1024 + 1))


def test_oversize_attachment_after_decoding() -> None:
    data = build_envelope(sample_envelope(attachment_bytes=10_000))
    with pytest.raises(OversizeError, match="10000 bytes"):
        parse_envelope(data, limits=ParseLimits(max_attachment_bytes=9_999))


def test_zip_bomb_attachment_is_refused() -> None:
    import io
    import zipfile
    from dataclasses import replace

    from docflow.model import Attachment

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.pdf", b"\0" * 20_000_000)
    envelope = replace(sample_envelope(attachment_bytes=0),
                       attachments=(Attachment(name="bomb.pdf", data=buffer.getvalue()),))
    with pytest.raises(OversizeError):
        parse_envelope(build_envelope(envelope), limits=ParseLimits(max_attachment_bytes=1_000_000))


def test_not_bytes() -> None:
    with pytest.raises(XmlError, match="expected bytes"):
        parse_xml("<edXML/>")  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_packets_are_read_by_their_bom_or_first_bytes(encoding: str) -> None:
    # XML 1.0 appendix F: the byte order mark / first bytes decide over the declaration.
    assert parse_envelope(VALID.decode("utf-8").encode(encoding)) == parse_envelope(VALID)


def test_doctype_behind_a_long_prolog_is_still_refused() -> None:
    data = b"<?xml version='1.0'?><!--" + b"x" * 40_000 + b"--><!DOCTYPE edXML><edXML/>"
    with pytest.raises(UnsafeXmlError):
        parse_xml(data)


def test_doctype_in_utf16_is_refused() -> None:
    with pytest.raises(UnsafeXmlError):
        parse_xml(XXE_FILE.decode().encode("utf-16"))


def _stream(data: bytes, chunk: int = 1000):  # type: ignore[no-untyped-def]
    """A request body's read(n), returning at most ``chunk`` bytes per call."""
    position = 0

    def read(size: int) -> bytes:
        nonlocal position
        piece = data[position:position + min(size, chunk)]
        position += len(piece)
        return piece

    return read


PADDED_DOCTYPE = b"<?xml version='1.0'?><!--" + b"x" * 70_000 + b"-->" + XXE_FILE[21:]


@pytest.mark.parametrize(("data", "error", "fragment"), [
    (BILLION_LAUGHS, UnsafeXmlError, "DOCTYPE"),
    (QUADRATIC, UnsafeXmlError, "DOCTYPE"),
    (XXE_FILE, UnsafeXmlError, "DOCTYPE"),
    (XXE_NETWORK, UnsafeXmlError, "DOCTYPE"),
    # A DOCTYPE beyond the first window is caught after parsing, entities unresolved.
    (PADDED_DOCTYPE, UnsafeXmlError, "DOCTYPE"),
    (b"<edXML><unclosed></edXML>", XmlError, "not well-formed"),
    (VALID[: len(VALID) // 2], XmlError, "not well-formed"),
    (b"", XmlError, "empty"),
])
def test_streamed_parsing_refuses_what_parse_xml_refuses(
        data: bytes, error: type[DocflowError], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        parse_xml(data)
    with pytest.raises(error, match=fragment):
        parse_xml_stream(_stream(data), len(data))


def test_streamed_parsing_reads_the_same_tree_and_no_more_than_announced() -> None:
    streamed = parse_xml_stream(_stream(VALID), len(VALID))
    assert etree.tostring(streamed) == etree.tostring(parse_xml(VALID))
    # A body longer than announced is not read past its length (a truncated tree).
    with pytest.raises(XmlError):
        parse_xml_stream(_stream(VALID + b"<junk/>"), len(VALID) - 10)
    with pytest.raises(OversizeError):
        parse_xml_stream(_stream(VALID), len(VALID), ParseLimits(max_bytes=100))
