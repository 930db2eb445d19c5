"""Removing any required field gives a SchemaError that names the element and its line."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from docflow.envelope import EDXML_NS, build_envelope, build_status, parse_envelope, parse_status
from docflow.errors import SchemaError
from docflow.samples import sample_envelope, sample_status

NS = {"e": EDXML_NS}
HEADER = "/e:edXML/e:edXMLEnvelope/e:edXMLHeader"
MESSAGE = f"{HEADER}/e:MessageHeader"

DOCUMENT_REQUIRED = [
    f"{HEADER}/e:MessageHeader",
    f"{HEADER}/e:TraceHeaderList",
    "/e:edXML/e:edXMLEnvelope/e:edXMLBody",
    "/e:edXML/e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest",
    f"{MESSAGE}/e:From",
    f"{MESSAGE}/e:From/e:OrganId",
    f"{MESSAGE}/e:From/e:OrganName",
    f"{MESSAGE}/e:To",
    f"{MESSAGE}/e:To/e:OrganId",
    f"{MESSAGE}/e:Code",
    f"{MESSAGE}/e:Code/e:CodeNumber",
    f"{MESSAGE}/e:Code/e:CodeNotation",
    f"{MESSAGE}/e:PromulgationInfo",
    f"{MESSAGE}/e:PromulgationInfo/e:Place",
    f"{MESSAGE}/e:PromulgationInfo/e:PromulgationDate",
    f"{MESSAGE}/e:DocumentType",
    f"{MESSAGE}/e:DocumentType/e:Type",
    f"{MESSAGE}/e:DocumentType/e:TypeName",
    f"{MESSAGE}/e:Subject",
    f"{MESSAGE}/e:SignerInfo",
    f"{MESSAGE}/e:SignerInfo/e:FullName",
    f"{HEADER}/e:TraceHeaderList/e:Bussiness/e:BussinessDocType",
    "/e:edXML/e:AttachmentEncoded/e:Attachment/e:AttachmentName",
    "/e:edXML/e:AttachmentEncoded/e:Attachment/e:ContentType",
    "/e:edXML/e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded",
    "/e:edXML/e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest/e:Reference/e:AttachmentName",
]

STATUS_REQUIRED = [
    f"{MESSAGE}/e:ResponseFor",
    f"{MESSAGE}/e:ResponseFor/e:OrganId",
    f"{MESSAGE}/e:ResponseFor/e:Code",
    f"{MESSAGE}/e:ResponseFor/e:PromulgationDate",
    f"{MESSAGE}/e:ResponseFor/e:DocumentId",
    f"{MESSAGE}/e:From",
    f"{MESSAGE}/e:StatusCode",
    f"{MESSAGE}/e:Timestamp",
]


def _without(data: bytes, xpath: str) -> bytes:
    root = etree.fromstring(data)
    (element,) = root.xpath(xpath, namespaces=NS)
    element.getparent().remove(element)
    return etree.tostring(root)


def _check(parse: Callable[[bytes], object], data: bytes, xpath: str) -> None:
    tag = xpath.rsplit(":", 1)[-1]
    with pytest.raises(SchemaError) as info:
        parse(_without(data, xpath))
    error = info.value
    assert f"edXML:{tag}" in error.message
    assert error.path and error.path.startswith("/")
    assert error.line is not None and error.line > 0
    assert "xsd" in str(error)  # says what to follow


@pytest.mark.parametrize("xpath", DOCUMENT_REQUIRED)
def test_document_missing_required_element(xpath: str) -> None:
    _check(parse_envelope, build_envelope(sample_envelope()), xpath)


@pytest.mark.parametrize("xpath", STATUS_REQUIRED)
def test_status_missing_required_element(xpath: str) -> None:
    _check(parse_status, build_status(sample_status(sample_envelope())), xpath)


def _replace_text(data: bytes, xpath: str, text: str) -> bytes:
    root = etree.fromstring(data)
    (element,) = root.xpath(xpath, namespaces=NS)
    element.text = text
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("xpath", "text", "fragment"),
    [
        (f"{MESSAGE}/e:From/e:OrganId", "H41", "OrganId"),
        (f"{MESSAGE}/e:From/e:OrganId", "000.00.00.h41", "OrganId"),
        (f"{MESSAGE}/e:PromulgationInfo/e:PromulgationDate", "2018-09-10", "PromulgationDate"),
        (f"{MESSAGE}/e:PromulgationInfo/e:PromulgationDate", "2018/13/45", "2018/13/45"),
        (f"{MESSAGE}/e:PromulgationInfo/e:PromulgationDate", "0001/01/01", "outside"),
        (f"{MESSAGE}/e:DueDate", "2018/02/30", "2018/02/30"),
        (f"{MESSAGE}/e:Subject", "   ", "Subject"),
        (f"{MESSAGE}/e:OtherInfo/e:Priority", "9", "Priority"),
        (f"{MESSAGE}/e:OtherInfo/e:PageAmount", "-1", "PageAmount"),
        (f"{MESSAGE}/e:OtherInfo/e:PromulgationAmount", "99999999999", "PromulgationAmount"),
        (f"{HEADER}/e:TraceHeaderList/e:Bussiness/e:BussinessDocType", "7", "BussinessDocType"),
    ],
)
def test_bad_values_name_their_element(xpath: str, text: str, fragment: str) -> None:
    data = _replace_text(build_envelope(sample_envelope()), xpath, text)
    with pytest.raises(SchemaError) as info:
        parse_envelope(data)
    assert fragment in str(info.value)
    assert info.value.path is not None


def test_unknown_status_code_is_a_schema_error() -> None:
    data = _replace_text(
        build_status(sample_status(sample_envelope())), f"{MESSAGE}/e:StatusCode", "07"
    )
    with pytest.raises(SchemaError, match="'07'") as info:
        parse_status(data)
    assert info.value.path is not None and "StatusCode" in info.value.path


def test_attachment_without_manifest_reference_is_refused() -> None:
    root = etree.fromstring(build_envelope(sample_envelope()))
    (reference,) = root.xpath("//e:edXMLManifest/e:Reference", namespaces=NS)
    reference.getparent().remove(reference)
    with pytest.raises(SchemaError, match="no Reference"):
        parse_envelope(etree.tostring(root))


def test_duplicate_ids_are_invalid() -> None:
    root = etree.fromstring(build_envelope(sample_envelope()))
    root.find(f"{{{EDXML_NS}}}edXMLEnvelope").set("Id", "x")
    (header,) = root.xpath(MESSAGE, namespaces=NS)
    header.set("Id", "x")
    with pytest.raises(SchemaError, match="Id"):
        parse_envelope(etree.tostring(root))
