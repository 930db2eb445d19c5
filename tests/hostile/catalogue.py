"""The hostile-input catalogue: every case is bytes (built from real, signed packets where
a signature matters), the error class expected, and a fragment of its message.

``stage`` says where the case must be refused at the latest: "parse" (the hardened
parser and the schemas), "verify" (signatures, certificates, trust), "node" (a verified
packet the receiving node must still refuse: not addressed to it, a replay, a status for
a document it never sent there) or "soap" (a request the SOAP endpoint refuses before any
packet is read). Every entry point that takes outside bytes runs the cases of its stage
and all earlier ones.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace

from lxml import etree

from docflow.envelope import (
    DSIG_NS,
    EDXML_NS,
    Envelope,
    build_envelope,
    build_status,
    load_tree,
)
from docflow.errors import (
    AttachmentError,
    DigestMismatchError,
    DocflowError,
    DuplicateIdError,
    MissingSignatureError,
    NotFoundError,
    OversizeError,
    ReplayError,
    RoutingError,
    SchemaError,
    SignatureValueError,
    SignerMismatchError,
    UnsafeXmlError,
    UntrustedCertificateError,
)
from docflow.model import Attachment, OrganCode, OrganInfo, StatusCode
from docflow.samples import PROVINCE, TAM_KY, sample_envelope, sample_status
from docflow.security import _dsig, create_ca, issue_certificate, sign
from tests.conftest import Pki
from tests.hostile.test_parse_hostile import CASES as PARSE_CASES

E = f"{{{EDXML_NS}}}"
DS = f"{{{DSIG_NS}}}"
VALID = build_envelope(sample_envelope())
OTHER = OrganInfo(OrganCode("000.00.05.H41"), "UBND huyện Đại Lộc")


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Pki], bytes]
    error: type[DocflowError]
    fragment: str
    stage: str = "parse"
    kind: str = "document"  # which operation carries it: document or status
    prepare: str | None = None  # a step run first (its writes are not counted)
    # The error past the parser, when it differs: a schema-valid but unsigned packet is
    # refused by verify() for its missing signature before its attachments are decoded.
    later: type[DocflowError] | None = None

    def expected(self, entry: str) -> tuple[type[DocflowError], str]:
        if entry != "parse" and self.later is not None:
            return self.later, ""
        return self.error, self.fragment


def _const(data: bytes) -> Callable[[Pki], bytes]:
    return lambda _pki: data


def _signed(pki: Pki, **changes: object) -> bytes:
    return sign(build_envelope(sample_envelope(**changes)), pki.province)  # type: ignore[arg-type]


def _edit(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data, old
    return data.replace(old, new, 1)


def _signature(root: etree._Element) -> etree._Element:
    return root.find(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}Signature/{DS}Signature")


def _bad_signature_value(pki: Pki) -> bytes:
    root = etree.fromstring(_signed(pki))
    value = _signature(root).find(f"{DS}SignatureValue")
    text = value.text.strip()
    value.text = ("A" if text[0] != "A" else "B") + text[1:]
    return etree.tostring(root)


def _two_signatures(pki: Pki) -> bytes:
    root = etree.fromstring(_signed(pki))
    holder = _signature(root).getparent()
    holder.getparent().append(etree.fromstring(etree.tostring(holder)))
    return etree.tostring(root)


def _wrapped_header(pki: Pki) -> bytes:
    """The signed header moved into the signature's Object, a forged one in its place."""
    root = etree.fromstring(_signed(pki))
    header = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}MessageHeader")
    forged = etree.fromstring(etree.tostring(header))
    forged.find(f"{E}Subject").text = "Quyết định giả mạo"
    signature = _signature(root)
    etree.SubElement(signature, f"{DS}Object").append(header)
    root.find(f"{E}edXMLEnvelope/{E}edXMLHeader").insert(0, forged)
    return etree.tostring(root)


def _duplicate_id(pki: Pki) -> bytes:
    root = etree.fromstring(_signed(pki))
    _signature(root).find(f"{DS}SignedInfo").set("Id", "edxml-header")
    return etree.tostring(root)


def _signed_by_another_organ(pki: Pki) -> bytes:
    root, kind = load_tree(build_envelope(sample_envelope()))
    return _dsig._sign_tree(root, kind, pki.district)


def _self_signed_root(pki: Pki) -> bytes:
    rogue_root = create_ca("Self-made root", now=pki.now)
    rogue = issue_certificate(rogue_root, "000.00.00.H41", "UBND tỉnh (giả)", now=pki.now)
    return sign(build_envelope(sample_envelope()), rogue)


def _expired(pki: Pki) -> bytes:
    old = issue_certificate(pki.ca, "000.00.00.H41", "UBND tỉnh",
                            now=pki.now - dt.timedelta(days=40), days=10)
    return sign(build_envelope(sample_envelope()), old)


def _status(pki: Pki, code: StatusCode = StatusCode.ACCEPTED, *,
            reporter: OrganInfo = TAM_KY, number: str = "4512") -> bytes:
    info = replace(sample_status(sample_envelope(number=number), code, reporter=reporter),
                   timestamp=pki.now)
    creds = {TAM_KY.code: pki.district, PROVINCE.code: pki.province}.get(reporter.code)
    if creds is None:
        creds = issue_certificate(pki.ca, str(reporter.code), reporter.name, now=pki.now)
    return sign(build_status(info), creds)


def _comment_in(tag: bytes, kind: str = "document",
                node: bytes = b"<!---->") -> Callable[[Pki], bytes]:
    """A signed packet with ``node`` (a comment or a PI) in the middle of ``tag``'s text:
    every digest still matches (exclusive C14N drops comments)."""
    def build(pki: Pki) -> bytes:
        data = (_signed(pki) if kind == "document" else _status(pki))
        start = data.index(b"<edXML:" + tag + b">") + len(tag) + 8
        cut = start + 2
        return data[:cut] + node + data[cut:]
    return build


def _hostile_prolog(encoding: str, prolog: str = "") -> bytes:
    """An external parameter entity in a DOCTYPE, in ``encoding`` (no byte order mark)."""
    text = (f'<?xml version="1.0" encoding="{encoding[:6].upper()}"?>{prolog}'
            '<!DOCTYPE edXML [<!ENTITY % x SYSTEM "file:///etc/hostname">%x;]>'
            + VALID.decode("utf-8").split("?>", 1)[1])
    return text.encode(encoding)


def _shadowing_document(pki: Pki) -> bytes:
    """The province's validly signed document carrying the district's DocumentId."""
    own = sample_envelope()
    theirs = sample_envelope(sender=TAM_KY, recipients=(PROVINCE,)).info.document_id
    return sign(_edit(build_envelope(own), own.info.document_id.encode(), theirs.encode()),
                pki.province)


def _shadowing_status(pki: Pki) -> bytes:
    """A status whose ResponseFor names the district's document under the province."""
    data = build_status(replace(sample_status(sample_envelope(), StatusCode.ACCEPTED),
                                timestamp=pki.now))
    own = sample_envelope().info.document_id
    other = own.replace(str(PROVINCE.code), str(OTHER.code), 1)
    return sign(_edit(data, own.encode(), other.encode()), pki.district)


_MEMBER = "5b8209a7-f5f8-4ada-b766-27c30a2eaf8b.txt"  # the official library's member name


@functools.cache
def zipped(size: int) -> bytes:
    """A zip of one member of ``size`` zero bytes, named as the official library names
    its members (deflate makes 48 MiB of zeros ~48 KiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_MEMBER, bytes(size))
    return buffer.getvalue()


def zipped_members(count: int, size: int) -> Envelope:
    """The sample document with ``count`` attachments, each a zip of ``size`` zeros."""
    return replace(sample_envelope(), attachments=tuple(
        Attachment(f"phu-luc-{n}.txt", zipped(size), "application/zip")
        for n in range(count)))


def _zip_bomb(pki: Pki) -> bytes:
    """One zipped attachment inflating ~1000 times (48 MiB from ~48 KiB), signed."""
    return sign(build_envelope(zipped_members(1, 48 * 1024 * 1024)), pki.province)


def _zipped_past_the_budget(pki: Pki) -> bytes:
    """The attack as it was seen: twelve zipped 48 MiB members, ~64 KiB of base64 each,
    signed (each under the per-attachment limit: only the ratio and the packet's budget
    stop them)."""
    return sign(build_envelope(zipped_members(12, 48 * 1024 * 1024)), pki.province)


def _replay(pki: Pki) -> bytes:
    """The message id of the valid sample (received first), with another body."""
    return _signed(pki, number="4999")


PARSE = [Case(name, _const(data), error, fragment,
              later=MissingSignatureError if error is AttachmentError else None)
         for name, data, error, fragment in PARSE_CASES]

EXTRA_PARSE = [
    Case("50 MB+ body", _const(b" " * (50 * 1024 * 1024 + 1)), OversizeError, "limit"),
    Case("missing Subject", _const(_edit(VALID, VALID[VALID.index(b"<edXML:Subject>"):VALID.index(
        b"</edXML:Subject>") + 16], b"")), SchemaError, "Subject"),
    Case("invalid organ code", _const(_edit(VALID, b"<edXML:OrganId>000.00.00.H41",
                                            b"<edXML:OrganId>00A.00.00.H41")),
         SchemaError, "pattern"),
    Case("date out of range", _const(_edit(VALID, b"2018/09/10</edXML:PromulgationDate>",
                                           b"2018/13/45</edXML:PromulgationDate>")),
         SchemaError, "PromulgationDate", later=MissingSignatureError),
    Case("negative count", _const(_edit(VALID, b"<edXML:PageAmount>4",
                                        b"<edXML:PageAmount>-4")), SchemaError, "PageAmount"),
    Case("huge count", _const(_edit(VALID, b"<edXML:PromulgationAmount>30",
                                    b"<edXML:PromulgationAmount>" + b"9" * 40)),
         SchemaError, "PromulgationAmount"),
    Case("duplicated Subject", _const(_edit(
        VALID, b"<edXML:Subject>", b"<edXML:Subject>x</edXML:Subject><edXML:Subject>")),
         SchemaError, "Subject"),
    Case("status packet with garbage code", _const(_edit(
        build_status(sample_status(sample_envelope())), b"<edXML:StatusCode>01",
        b"<edXML:StatusCode>99")), SchemaError, "StatusCode", kind="status",
         later=MissingSignatureError),
    Case("attachment not base64 at all", _const(_edit(
        VALID, b"<ContentTransferEncoded>", b"<ContentTransferEncoded>@@@@")),
         AttachmentError, "base64", later=MissingSignatureError),
    Case("external parameter entity, UTF-16LE without BOM", _const(_hostile_prolog(
        "utf-16-le")), UnsafeXmlError, "DOCTYPE"),
    Case("external parameter entity, UTF-16BE without BOM", _const(_hostile_prolog(
        "utf-16-be")), UnsafeXmlError, "DOCTYPE"),
    Case("external parameter entity, UTF-32LE without BOM", _const(_hostile_prolog(
        "utf-32-le")), UnsafeXmlError, "DOCTYPE"),
    Case("external parameter entity after a 20 KiB comment", _const(_hostile_prolog(
        "utf-8", "<!--" + "c" * 20480 + "-->")), UnsafeXmlError, "DOCTYPE"),
    Case("external parameter entity after a 70 KiB processing instruction",
         _const(_hostile_prolog("utf-8", "<?pad " + "p" * 71680 + "?>")), UnsafeXmlError,
         "DOCTYPE"),
    Case("comment inside the signed Subject", _comment_in(b"Subject"), UnsafeXmlError,
         "comment inside the text of an element"),
    Case("comment inside the signed CodeNumber", _comment_in(b"CodeNumber"),
         UnsafeXmlError, "comment"),
    Case("processing instruction inside the signed Subject",
         _comment_in(b"Subject", node=b"<?x y?>"), UnsafeXmlError, "processing instruction"),
    Case("comment inside a signed StatusCode", _comment_in(b"StatusCode", "status"),
         UnsafeXmlError, "comment", kind="status"),
    Case("a DocumentId naming another organ's document", _shadowing_document, SchemaError,
         "does not begin with"),
    Case("a status naming a document by an id of another organ", _shadowing_status,
         SchemaError, "does not begin with", kind="status"),
    Case("a zipped attachment inflating a thousand times (zip bomb)", _zip_bomb,
         OversizeError, "max_zip_ratio"),
    Case("twelve zipped 48 MiB members in a 0.8 MiB packet", _zipped_past_the_budget,
         OversizeError, "unzipped"),
]

VERIFY = [
    Case("unsigned document", _const(VALID), MissingSignatureError, "not signed",
         stage="verify"),
    Case("subject changed after signing", lambda p: _edit(
        _signed(p), "Quyết định phê duyệt".encode(), "Quyết định bãi bỏ".encode()),
         DigestMismatchError, "MessageHeader", stage="verify"),
    Case("attachment changed after signing", lambda p: _edit(
        _signed(p), b"<ContentTransferEncoded>JVBER", b"<ContentTransferEncoded>KVBER"),
         DigestMismatchError, "AttachmentEncoded", stage="verify"),
    Case("bad signature value", _bad_signature_value, SignatureValueError, "signature",
         stage="verify"),
    Case("two signatures", _two_signatures, SchemaError, "Signature", stage="verify"),
    Case("signature wrapping: header moved, forged copy", _wrapped_header, DocflowError,
         "", stage="verify"),
    Case("duplicate Id inside the signature", _duplicate_id, DuplicateIdError, "Id",
         stage="verify"),
    Case("signed by another organ's key", _signed_by_another_organ, SignerMismatchError,
         "000.00.01.H41", stage="verify"),
    Case("foreign CA", lambda p: sign(build_envelope(sample_envelope()), p.rogue_province),
         UntrustedCertificateError, "", stage="verify"),
    Case("a trusted neighbour's CA certifying this province's organ",
         lambda p: sign(build_envelope(sample_envelope()), p.neighbour_forgery),
         UntrustedCertificateError, "may not certify", stage="verify"),
    Case("self-made root CA", _self_signed_root, UntrustedCertificateError, "",
         stage="verify"),
    Case("expired certificate", _expired, DocflowError, "expired", stage="verify"),
    Case("unsigned status", _const(build_status(sample_status(sample_envelope()))),
         MissingSignatureError, "not signed", stage="verify", kind="status"),
]

NODE = [
    Case("not addressed to this organ", lambda p: _signed(p, recipients=(OTHER,)),
         RoutingError, "not addressed", stage="node"),
    Case("replay of a message id with a new body", _replay, ReplayError, "different content",
         stage="node", prepare="receive_sample"),
    Case("status for an unknown document", lambda p: _status(p, number="7777"), NotFoundError,
         "never sent", stage="node", kind="status"),
    Case("status from an organ that never received it",
         lambda p: _status(p, reporter=OTHER), NotFoundError, "never sent", stage="node",
         kind="status", prepare="send_sample"),
    Case("recall of a document never received",
         lambda p: _status(p, StatusCode.RECALL_REQUESTED, reporter=PROVINCE, number="8888"),
         NotFoundError, "never received", stage="node", kind="status"),
]

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE = "urn:docflow:node:1"


def soap_body(*operations: str, packet: bytes = VALID) -> bytes:
    encoded = base64.b64encode(packet).decode()
    ops = "".join(f"<df:{op}><df:Packet>{encoded}</df:Packet></df:{op}>" for op in operations)
    return (f'<soap:Envelope xmlns:soap="{SOAP11}" xmlns:df="{SERVICE}"><soap:Body>{ops}'
            "</soap:Body></soap:Envelope>").encode()


@dataclass(frozen=True)
class SoapCase:
    name: str
    body: bytes
    headers: dict[str, str]
    fault: str


def soap_with(packet: bytes = VALID, *, header: str = "", bodies: int = 1) -> bytes:
    """A SendDocument request with a Header of ``header``'s blocks, or ``bodies`` Bodies."""
    encoded = base64.b64encode(packet).decode()
    body = (f"<soap:Body><df:SendDocument><df:Packet>{encoded}</df:Packet></df:SendDocument>"
            "</soap:Body>")
    return (f'<soap:Envelope xmlns:soap="{SOAP11}" xmlns:df="{SERVICE}">'
            + (f"<soap:Header>{header}</soap:Header>" if header else "")
            + body * bodies + "</soap:Envelope>").encode()


_XML = {"Content-Type": "text/xml; charset=utf-8"}
SOAP = [
    SoapCase("two operations in one body", soap_body("SendDocument", "SendDocument"),
             {**_XML, "SOAPAction": f'"{SERVICE}#SendDocument"'}, "docflow.transport.operation"),
    SoapCase("SOAPAction mismatch", soap_body("SendDocument"),
             {**_XML, "SOAPAction": f'"{SERVICE}#SendStatus"'}, "docflow.transport.action"),
    SoapCase("wrong content type", soap_body("SendDocument"),
             {"Content-Type": "application/json"}, "docflow.transport.content-type"),
    SoapCase("SOAP 1.1 envelope sent as SOAP 1.2", soap_body("SendDocument"),
             {"Content-Type": "application/soap+xml; charset=utf-8"},
             "docflow.transport.version-mismatch"),
    SoapCase("unknown operation", soap_body("DeleteEverything"), _XML,
             "docflow.transport.operation"),
    SoapCase("Packet not base64", soap_body("SendDocument").replace(b"<df:Packet>",
                                                                    b"<df:Packet>!!"),
             _XML, "docflow.transport.operation"),
    SoapCase("malformed SOAP", b"<soap:Envelope", _XML, "docflow.envelope.xml"),
    SoapCase("DOCTYPE in the SOAP envelope",
             b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + soap_body("SendDocument"),
             _XML, "docflow.envelope.unsafe"),
    SoapCase("two Body elements (the second one the real request)", soap_with(bodies=2),
             _XML, "docflow.transport.envelope"),
    SoapCase("a header block the node must understand",
             soap_with(header='<x:Security xmlns:x="urn:x" soap:mustUnderstand="1"/>'), _XML,
             "docflow.transport.must-understand"),
    SoapCase("DOCTYPE in UTF-16 without a byte order mark, after a 20 KiB comment",
             ('<?xml version="1.0" encoding="UTF-16"?><!--' + "c" * 20480 + '-->'
              '<!DOCTYPE x [<!ENTITY % e SYSTEM "file:///etc/hostname">%e;]>'
              ).encode("utf-16-le") + soap_body("SendDocument").decode().encode("utf-16-le"),
             _XML, "docflow.envelope.unsafe"),
    SoapCase("a comment in the SOAP Packet's base64",
             soap_body("SendDocument").replace(b"</df:Packet>", b"<!---->AAAA</df:Packet>"),
             _XML, "docflow.envelope.unsafe"),
]

PACKET_CASES = PARSE + EXTRA_PARSE + VERIFY + NODE
