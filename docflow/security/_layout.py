"""What an edXML signature must look like before any cryptography runs: the signed
parts of each packet kind, the exact layout of a ``ds:Signature`` (references, transforms,
algorithms), unique Ids, and the keys libxmlsec1 is given. Shared by signing and
verification (see :mod:`docflow.security._dsig` for the layout itself)."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import xmlsec
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from docflow.envelope import (
    DSIG_NS,
    EDXML_NS,
    SIGNED_IDS,
    PacketKind,
    ParseLimits,
)
from docflow.errors import (
    DuplicateIdError,
    SignatureLayoutError,
    SignatureWrappingError,
)
from docflow.security._pki import Credentials

__all__ = ["SIGNED_INFO_ID"]



SIGNED_INFO_ID = "edxml-signed-info"


_HOP_ID = "edxml-hop-{}"


_C14N = xmlsec.constants.TransformExclC14N.href


_SHA256 = xmlsec.constants.TransformSha256.href


_ENVELOPED = xmlsec.constants.TransformEnveloped.href


_RSA_SHA256 = xmlsec.constants.TransformRsaSha256.href


_ECDSA_SHA256 = xmlsec.constants.TransformEcdsaSha256.href


_METHODS = {_RSA_SHA256: rsa.RSAPublicKey, _ECDSA_SHA256: ec.EllipticCurvePublicKey}


_DEFAULT_LIMITS = ParseLimits()


# libxmlsec1 keeps its own input callbacks (file, http, ftp) to fetch what a Reference
# URI names. docflow's references are same-document Ids only, checked before any
# cryptography; with no callbacks at all, libxmlsec1 cannot open anything even if that
# check were bypassed. Process-wide: an application embedding docflow that fetches
# external references with python-xmlsec must register its own callbacks again.
xmlsec.cleanup_callbacks()


def _ds(tag: str) -> str:
    return f"{{{DSIG_NS}}}{tag}"


def _ed(tag: str) -> str:
    return f"{{{EDXML_NS}}}{tag}"


_SIGNATURE = _ds("Signature")


_HOLDERS = (_ed("Signature"), _ed("DigitalSignature"))


@dataclass(frozen=True)
class _Part:
    name: str
    id: str
    element: etree._Element


def _header(root: etree._Element) -> etree._Element:
    header = root.find(f"{_ed('edXMLEnvelope')}/{_ed('edXMLHeader')}")
    if header is None:  # the schema requires it
        raise SignatureWrappingError("edXMLHeader is missing")
    return header


def _sender_parts(root: etree._Element, kind: PacketKind) -> list[_Part]:
    """The parts a sender's signature covers, found at their schema positions (the
    sender's own TraceHeader, when the packet carries one, right after MessageHeader)."""
    header = _header(root)
    wanted: list[tuple[str, str, etree._Element | None]] = [
        ("MessageHeader", SIGNED_IDS.header, header.find(_ed("MessageHeader")))
    ]
    origin = _origin(root) if kind is PacketKind.DOCUMENT else None
    if origin is not None:
        wanted.append(("TraceHeader", SIGNED_IDS.origin, origin))
    if kind is PacketKind.DOCUMENT:
        envelope = _header(root).getparent()
        if envelope is None:  # unreachable: _header found it under the envelope
            raise SignatureWrappingError("edXMLEnvelope is missing")
        wanted += [
            ("Bussiness", SIGNED_IDS.business,
             header.find(f"{_ed('TraceHeaderList')}/{_ed('Bussiness')}")),
            ("edXMLBody", SIGNED_IDS.body, envelope.find(_ed("edXMLBody"))),
            ("AttachmentEncoded", SIGNED_IDS.attachments, root.find(_ed("AttachmentEncoded"))),
        ]
    parts = []
    for name, part_id, element in wanted:
        if element is None:
            raise SignatureLayoutError(
                f"edXML:{name} is missing: a docflow signature must cover it",
                hint="build the packet with docflow.build_envelope, which writes every part",
            )
        parts.append(_Part(name, part_id, element))
    return parts


def _trace_headers(root: etree._Element) -> list[etree._Element]:
    return list(_header(root).iterfind(f"{_ed('TraceHeaderList')}/{_ed('TraceHeader')}"))


def _origin(root: etree._Element) -> etree._Element | None:
    """The sender's own TraceHeader: the first one, unsigned, naming the ``From`` organ
    (the sender's signature covers it; hubs sign theirs)."""
    first = next(iter(_trace_headers(root)), None)
    if first is None or first.find(_SIGNATURE) is not None:
        return None
    sender = _header(root).findtext(f"{_ed('MessageHeader')}/{_ed('From')}/{_ed('OrganId')}")
    return first if first.findtext(_ed("OrganId")) == sender else None


def _hops(root: etree._Element) -> list[etree._Element]:
    """The hubs' trace hops (every TraceHeader but the sender's own)."""
    origin = _origin(root)
    return [element for element in _trace_headers(root) if element is not origin]


def _path(element: etree._Element) -> str:
    return element.getroottree().getpath(element)


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _expect(element: etree._Element, tag: str, algorithm: str | None = None) -> None:
    if element.tag != _ds(tag):
        raise SignatureLayoutError(
            f"expected ds:{tag}, found {etree.QName(element).text}", where=_path(element),
            hint="docflow accepts only the signature layout described in SECURITY.md",
        )
    if algorithm is not None:
        if element.get("Algorithm") != algorithm:
            raise SignatureLayoutError(
                f"ds:{tag} algorithm {element.get('Algorithm')!r} is not allowed "
                f"(expected {algorithm})", where=_path(element),
            )
        if len(element) or set(element.attrib) != {"Algorithm"}:
            raise SignatureLayoutError(
                f"ds:{tag} must carry only its Algorithm", where=_path(element)
            )


def _check_layout(
    signature: etree._Element,
    references: Sequence[tuple[str, Sequence[str]]],
    signed_info_id: str | None,
) -> tuple[str, bytes]:
    """Check that ``signature`` is exactly docflow's layout with these references.

    Returns the signature method and the DER of the signer's certificate.
    """
    children = _elements(signature)
    if [child.tag for child in children] != [
        _ds("SignedInfo"), _ds("SignatureValue"), _ds("KeyInfo")
    ]:
        raise SignatureLayoutError(
            "a signature must hold exactly SignedInfo, SignatureValue and KeyInfo "
            f"(found {[etree.QName(child).localname for child in children]})",
            where=_path(signature),
        )
    if set(signature.attrib) - {"Id"}:
        raise SignatureLayoutError("unexpected attributes on ds:Signature", where=_path(signature))
    signed_info, _, key_info = children
    if signed_info_id is not None and signed_info.get("Id") != signed_info_id:
        raise SignatureLayoutError(
            f"ds:SignedInfo must have Id={signed_info_id!r}", where=_path(signed_info)
        )
    if set(signed_info.attrib) - {"Id"}:
        raise SignatureLayoutError("unexpected attributes on ds:SignedInfo",
                                   where=_path(signed_info))
    info = _elements(signed_info)
    if len(info) != 2 + len(references):
        raise SignatureLayoutError(
            f"ds:SignedInfo must hold {len(references)} reference(s), found {len(info) - 2}",
            where=_path(signed_info),
            hint="every part the sender wrote must be covered, and nothing else",
        )
    _expect(info[0], "CanonicalizationMethod", _C14N)
    method = info[1].get("Algorithm") or ""
    if method not in _METHODS:
        raise SignatureLayoutError(
            f"signature method {method!r} is not allowed (RSA-SHA256 or ECDSA-SHA256 only)",
            where=_path(info[1]),
        )
    _expect(info[1], "SignatureMethod", method)
    for reference, (uri, transforms) in zip(info[2:], references, strict=True):
        _expect(reference, "Reference")
        if dict(reference.attrib) != {"URI": uri}:
            raise SignatureLayoutError(
                f"reference must be URI={uri!r} and nothing else, found {dict(reference.attrib)}",
                where=_path(reference),
            )
        parts = _elements(reference)
        if [part.tag for part in parts] != [
            _ds("Transforms"), _ds("DigestMethod"), _ds("DigestValue")
        ]:
            raise SignatureLayoutError(
                "a reference must hold Transforms, DigestMethod and DigestValue",
                where=_path(reference),
            )
        found = _elements(parts[0])
        if len(found) != len(transforms):
            raise SignatureLayoutError(
                f"reference {uri} must have exactly {len(transforms)} transform(s)",
                where=_path(parts[0]),
            )
        for transform, algorithm in zip(found, transforms, strict=True):
            _expect(transform, "Transform", algorithm)
        _expect(parts[1], "DigestMethod", _SHA256)
    x509_data = _elements(key_info)
    if [item.tag for item in x509_data] != [_ds("X509Data")]:
        raise SignatureLayoutError("ds:KeyInfo must hold exactly one ds:X509Data",
                                   where=_path(key_info))
    certificates = _elements(x509_data[0])
    if [item.tag for item in certificates] != [_ds("X509Certificate")]:
        raise SignatureLayoutError(
            "ds:X509Data must hold exactly one ds:X509Certificate (the signer's)",
            where=_path(x509_data[0]),
        )
    try:
        der = base64.b64decode(
            "".join((certificates[0].text or "").split()), validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise SignatureLayoutError("ds:X509Certificate is not base64",
                                   where=_path(certificates[0])) from exc
    return method, der


_ALL_IDS = etree.XPath("//@Id")


def _check_ids(root: etree._Element) -> None:
    values = cast(list[str], _ALL_IDS(root))  # "//@Id" always yields attribute strings
    if len(set(values)) == len(values):
        return
    seen: set[str] = set()
    for value in values:
        if value in seen:
            first = root.xpath("//*[@Id=$v]", v=value)
            element = first[1] if isinstance(first, list) and len(first) > 1 else root
            raise DuplicateIdError(
                f"Id {value!r} is used twice",
                where=_path(element) if isinstance(element, etree._Element) else None,
                hint="each Id must be unique; a second copy is a signature wrapping attempt",
            )
        seen.add(str(value))


class _Keys:
    """xmlsec keys built once and shared read-only (a key is copied into each context)."""

    def __init__(self) -> None:
        self._public: dict[bytes, tuple[x509.Certificate, xmlsec.Key]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def private(credentials: Credentials) -> xmlsec.Key:
        # Loaded without the certificate: assigning a key that carries one to a context
        # costs ~100 us (libxmlsec1 duplicates it); docflow writes X509Certificate itself.
        key: xmlsec.Key | None = credentials._cache.get("xmlsec")
        if key is None:
            key = xmlsec.Key.from_memory(
                credentials.private_key_pem(), xmlsec.constants.KeyDataFormatPem
            )
            credentials._cache["xmlsec"] = key
        return key

    def public(self, der: bytes) -> tuple[x509.Certificate, xmlsec.Key]:
        entry = self._public.get(der)
        if entry is None:
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError as exc:
                raise SignatureLayoutError(f"ds:X509Certificate is not a certificate: {exc}") \
                    from exc
            try:
                spki = cert.public_key().public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo)
                entry = (cert, xmlsec.Key.from_memory(spki, xmlsec.constants.KeyDataFormatPem))
            except (ValueError, UnsupportedAlgorithm, xmlsec.Error) as exc:
                # a mangled curve or key: what came is no usable key (found by fuzzing)
                raise SignatureLayoutError(
                    f"ds:X509Certificate carries a key that cannot be used: {exc}",
                    hint="the certificate was damaged on the way, or is not an organ's "
                         "RSA or EC P-256 certificate") from exc
        return entry

    def remember(self, der: bytes, entry: tuple[x509.Certificate, xmlsec.Key]) -> None:
        """Keep an accepted certificate's key (bounded: attackers cannot grow it)."""
        with self._lock:
            if len(self._public) >= 4096:
                self._public.clear()
            self._public[der] = entry


_KEYS = _Keys()


def _context(
    key: xmlsec.Key, ids: Sequence[etree._Element], *, hop: bool
) -> xmlsec.SignatureContext:
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    for element in ids:
        ctx.register_id(element, "Id")
    # Defence in depth: libxmlsec1 itself refuses any other transform (no XPath/XSLT
    # from the sender's document), even if the layout check above were bypassed.
    ctx.enable_reference_transform(xmlsec.constants.TransformExclC14N)
    ctx.enable_reference_transform(xmlsec.constants.TransformSha256)  # the digest method
    if hop:
        ctx.enable_reference_transform(xmlsec.constants.TransformEnveloped)
    ctx.enable_signature_transform(xmlsec.constants.TransformExclC14N)
    ctx.enable_signature_transform(xmlsec.constants.TransformRsaSha256)
    ctx.enable_signature_transform(xmlsec.constants.TransformEcdsaSha256)
    return ctx
