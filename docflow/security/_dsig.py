"""XML-DSig signing and verification of edXML packets (python-xmlsec / libxmlsec1).

The layout (SECURITY.md explains why):

- The sender signs with one ``ds:Signature`` in ``edXMLHeader/Signature``. Its
  ``SignedInfo`` (``Id="edxml-signed-info"``) has exclusive C14N, RSA-SHA256 or
  ECDSA-SHA256, and one reference per part the sender wrote, in this order, each with
  exactly one exclusive-C14N transform and a SHA-256 digest: ``#edxml-header``
  (MessageHeader), ``#edxml-business`` (Bussiness), ``#edxml-body`` (edXMLBody with the
  manifest), ``#edxml-attachments`` (AttachmentEncoded). A status packet has only
  ``#edxml-header``. ``KeyInfo/X509Data/X509Certificate`` carries the signer's certificate.
- Trace hops are not covered, so hubs can append them; a hub signs its own hop
  (``TraceHeader Id="edxml-hop-N"``, N its position) with a ``ds:Signature`` inside it that
  references the hop (enveloped-signature + exclusive C14N) and the sender's
  ``SignedInfo``, which binds the hop to this very packet.

Verification refuses anything else before any cryptography runs, then checks the
certificate against the trust store and the sender's organ, then lets libxmlsec1 check
digests and signature values with the public key of the certificate it just accepted, and
finally reads the model from the very nodes that were verified.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast
from zoneinfo import ZoneInfo

import pybase64
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from docflow.envelope import (
    DSIG_NS,
    EDXML_NS,
    SIGNED_IDS,
    Envelope,
    PacketKind,
    ParseLimits,
    build_status_tree,
    build_tree,
    insert_trace_header,
    load_tree,
    read_tree,
    serialize,
)
from docflow.errors import (
    DigestMismatchError,
    DuplicateIdError,
    MissingSignatureError,
    MultipleSignaturesError,
    SecurityError,
    SignatureLayoutError,
    SignatureValueError,
    SignatureWrappingError,
    SignerMismatchError,
    TraceHopError,
)
from docflow.model import DEFAULT_TZ, OrganCode, StatusInfo, TraceHop
from docflow.security._pki import Credentials
from docflow.security._trust import TrustStore

__all__ = [
    "SIGNED_INFO_ID",
    "Verified",
    "VerifiedHop",
    "sign",
    "sign_envelope",
    "sign_hop",
    "sign_status",
    "signed_content_digest",
    "verify",
]

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
class VerifiedHop:
    """The hub that signed a trace hop (its time is in the packet's ``trace``)."""

    organ: OrganCode
    certificate: x509.Certificate


@dataclass(frozen=True)
class Verified:
    """A packet whose signatures verified, read only from what they cover.

    ``packet`` is the :class:`~docflow.envelope.Envelope` or
    :class:`~docflow.model.StatusInfo`; ``signer`` the organ bound in ``certificate``
    (equal to the packet's sender); ``hops`` the hub-signed trace hops in order;
    ``content_digest`` the identity of the signed content (see
    :func:`signed_content_digest`).
    """

    packet: Envelope | StatusInfo
    signer: OrganCode
    certificate: x509.Certificate
    content_digest: str
    hops: tuple[VerifiedHop, ...] = ()

    @property
    def envelope(self) -> Envelope:
        """The packet as a document (``SecurityError`` if it is a status packet)."""
        if not isinstance(self.packet, Envelope):
            raise SecurityError("the verified packet is a status packet, not a document")
        return self.packet

    @property
    def status(self) -> StatusInfo:
        """The packet as a status (``SecurityError`` if it is a document)."""
        if not isinstance(self.packet, StatusInfo):
            raise SecurityError("the verified packet is a document, not a status packet")
        return self.packet


# ----------------------------------------------------------------------- parts and layout

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
    """The parts a sender's signature covers, found at their schema positions."""
    header = _header(root)
    wanted: list[tuple[str, str, etree._Element | None]] = [
        ("MessageHeader", SIGNED_IDS.header, header.find(_ed("MessageHeader")))
    ]
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


def _hops(root: etree._Element) -> list[etree._Element]:
    return list(_header(root).iterfind(f"{_ed('TraceHeaderList')}/{_ed('TraceHeader')}"))


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


# ----------------------------------------------------------------------- keys

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
            spki = cert.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            entry = (cert, xmlsec.Key.from_memory(spki, xmlsec.constants.KeyDataFormatPem))
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


# ----------------------------------------------------------------------- templates

def _method(credentials: Credentials) -> str:
    return _RSA_SHA256 if isinstance(credentials.private_key, rsa.RSAPrivateKey) else _ECDSA_SHA256


def _template(
    credentials: Credentials,
    references: Sequence[tuple[str, Sequence[str]]],
    signed_info_id: str | None,
) -> etree._Element:
    sig = etree.Element(_SIGNATURE, nsmap={"ds": DSIG_NS})
    signed_info = etree.SubElement(sig, _ds("SignedInfo"))
    if signed_info_id is not None:
        signed_info.set("Id", signed_info_id)
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=_method(credentials))
    for uri, transforms in references:
        reference = etree.SubElement(signed_info, _ds("Reference"), URI=uri)
        transforms_el = etree.SubElement(reference, _ds("Transforms"))
        for algorithm in transforms:
            etree.SubElement(transforms_el, _ds("Transform"), Algorithm=algorithm)
        etree.SubElement(reference, _ds("DigestMethod"), Algorithm=_SHA256)
        etree.SubElement(reference, _ds("DigestValue"))
    etree.SubElement(sig, _ds("SignatureValue"))
    key_info = etree.SubElement(sig, _ds("KeyInfo"))
    x509_data = etree.SubElement(key_info, _ds("X509Data"))
    etree.SubElement(x509_data, _ds("X509Certificate")).text = base64.b64encode(
        credentials.certificate_der
    ).decode("ascii")
    return sig


def _sender_references(kind: PacketKind) -> list[tuple[str, Sequence[str]]]:
    ids = [SIGNED_IDS.header]
    if kind is PacketKind.DOCUMENT:
        ids += [SIGNED_IDS.business, SIGNED_IDS.body, SIGNED_IDS.attachments]
    return [(f"#{part_id}", (_C14N,)) for part_id in ids]


def _hop_references(position: int) -> list[tuple[str, Sequence[str]]]:
    return [
        (f"#{_HOP_ID.format(position)}", (_ENVELOPED, _C14N)),
        (f"#{SIGNED_INFO_ID}", (_C14N,)),
    ]


def _sender_template(credentials: Credentials, kind: PacketKind) -> etree._Element:
    key = f"template-{kind.name}"
    template: etree._Element | None = credentials._cache.get(key)
    if template is None:
        template = _template(credentials, _sender_references(kind), SIGNED_INFO_ID)
        credentials._cache[key] = template
    return copy.deepcopy(template)


# ----------------------------------------------------------------------- signing

def _claimed_sender(root: etree._Element) -> str:
    return root.findtext(
        f"{_ed('edXMLEnvelope')}/{_ed('edXMLHeader')}/{_ed('MessageHeader')}/{_ed('From')}"
        f"/{_ed('OrganId')}"
    ) or ""


def sign(
    packet: bytes, credentials: Credentials, *, limits: ParseLimits = _DEFAULT_LIMITS
) -> bytes:
    """Sign a document or status packet as its sender; return the signed bytes.

    The packet's ``From`` organ must be the organ of ``credentials``.

    >>> import datetime as dt
    >>> from docflow.envelope import build_envelope
    >>> from docflow.samples import sample_envelope
    >>> from docflow.security import (KeyType, TrustStore, create_ca, issue_certificate,
    ...                               verify)
    >>> now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> ca = create_ca("CA", now=now, key_type=KeyType.ECDSA_P256)
    >>> province = issue_certificate(ca, "000.00.00.H41", "UBND tỉnh", now=now,
    ...                              key_type=KeyType.ECDSA_P256)
    >>> signed = sign(build_envelope(sample_envelope()), province)
    >>> str(verify(signed, TrustStore([ca.certificate]), now=now).signer)
    '000.00.00.H41'
    """
    root, kind = load_tree(packet, limits=limits)
    _check_sender(_claimed_sender(root), credentials)
    return _sign_tree(root, kind, credentials)


def sign_envelope(
    envelope: Envelope, credentials: Credentials, *, tz: ZoneInfo = DEFAULT_TZ
) -> bytes:
    """Build and sign a document in one go: what :func:`sign` does to the bytes of
    :func:`~docflow.envelope.build_envelope`, without serializing, parsing and validating
    the sender's own packet a second time."""
    _check_sender(envelope.info.sender.code, credentials)
    if not envelope.attachments:
        return _sign_tree(build_tree(envelope, tz=tz), PacketKind.DOCUMENT, credentials)
    splice = _Splice([pybase64.b64encode(att.data) for att in envelope.attachments])
    root = build_tree(envelope, tz=tz, placeholders=splice.tokens)
    return b"".join(splice.pieces(_sign_tree(root, PacketKind.DOCUMENT, credentials,
                                             splice=splice)))


class _Splice:
    """Attachments' base64 kept out of the tree: the tree holds a random token for each
    (32 hex digits: valid base64, unguessable), and the real text is spliced in where
    the token is, in the attachments' canonical form (for the digest) and in the
    serialized packet. Base64 needs no escaping in either, so the result is exactly what
    the full tree would give (a test compares the bytes)."""

    def __init__(self, contents: Sequence[bytes]) -> None:
        self.contents = contents
        self.tokens = [secrets.token_hex(16) for _ in contents]

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """``data`` cut at each token, with the token's content in its place."""
        for token, content in zip(self.tokens, self.contents, strict=True):
            before, found, data = data.partition(token.encode("ascii"))
            if not found or token.encode("ascii") in data:
                raise SecurityError("an attachment placeholder is not where it belongs",
                                    hint="sign again (a new placeholder is drawn)")
            yield before
            yield content
        yield data


def sign_status(
    status: StatusInfo, credentials: Credentials, *, tz: ZoneInfo = DEFAULT_TZ
) -> bytes:
    """Build and sign a status packet in one go (see :func:`sign_envelope`)."""
    _check_sender(status.sender.code, credentials)
    return _sign_tree(build_status_tree(status, tz=tz), PacketKind.STATUS, credentials)


def _check_sender(claimed: OrganCode | str, credentials: Credentials) -> None:
    organ = credentials.organ
    if str(claimed) != str(organ):
        raise SignerMismatchError(
            f"the packet is from {claimed} but the credentials are {organ}'s",
            hint="sign with the credentials of the organ in MessageHeader/From",
        )


def _sign_tree(root: etree._Element, kind: PacketKind, credentials: Credentials, *,
               splice: _Splice | None = None) -> bytes:
    """Sign a loaded packet as-is (no check of who it claims to be from)."""
    header = _header(root)
    parts = _sender_parts(root, kind)
    for part in parts:
        part.element.set("Id", part.id)
    holder = next((child for child in header if child.tag in _HOLDERS), None)
    if holder is None:
        holder = etree.SubElement(header, _ed("Signature"))
    elif holder.find(_SIGNATURE) is not None:
        raise MultipleSignaturesError(
            "the packet is already signed", where=_path(holder),
            hint="a packet carries one sender signature; build a new packet to re-sign",
        )
    signature = _sender_template(credentials, kind)
    holder.append(signature)
    _check_ids(root)
    _fill_signature(signature, [part.element for part in parts], credentials,
                    splice=splice)
    return serialize(root)


class _Digest:
    """A file-like sink hashing what lxml's C14N writes into it, chunk by chunk: a
    20 MB attachment is digested without its canonical form ever being one buffer."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        self.hash.update(data)
        return len(data)


def _c14n_digest(element: etree._Element, splice: _Splice | None = None) -> bytes:
    sink = _Digest()
    if splice is None or element.tag != _ed("AttachmentEncoded"):
        etree.ElementTree(element).write_c14n(sink, exclusive=True, with_comments=False)
    else:
        canonical = etree.tostring(element, method="c14n", exclusive=True,
                                   with_comments=False)
        for piece in splice.pieces(canonical):
            sink.write(piece)
    return sink.hash.digest()


def _fill_signature(signature: etree._Element, elements: Sequence[etree._Element],
                    credentials: Credentials, *, splice: _Splice | None = None) -> None:
    """Compute the sender signature of a filled-in template, in the order XML-DSig
    prescribes: each reference's digest (exclusive C14N of the referenced element, no
    comments, SHA-256, the template's only transform), then the signature value over the
    exclusive C14N of SignedInfo.

    This is what libxmlsec1's ``sign`` does for docflow's fixed layout, with lxml's C14N
    streamed into hashlib and the key's own signing call: ~1 ms less per signature and no
    C14N buffer for large attachments. libxmlsec1 verifies every signature made here
    (:func:`verify`), and a test checks that both produce the very same bytes."""
    signed_info = signature[0]
    references = signed_info.findall(_ds("Reference"))
    for reference, element in zip(references, elements, strict=True):
        reference[2].text = base64.b64encode(_c14n_digest(element, splice)).decode("ascii")
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True,
                               with_comments=False)
    key = credentials.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(canonical, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        # XML-DSig's ECDSA value is r || s, each as wide as the curve's order.
        r, s = decode_dss_signature(key.sign(canonical, ec.ECDSA(hashes.SHA256())))
        width = (key.curve.key_size + 7) // 8
        value = r.to_bytes(width, "big") + s.to_bytes(width, "big")
    else:  # Credentials accepts RSA and ECDSA keys only
        raise SecurityError(f"cannot sign with a {type(key).__name__}")
    signature[1].text = base64.b64encode(value).decode("ascii")


def sign_hop(
    packet: bytes,
    credentials: Credentials,
    *,
    when: dt.datetime,
    limits: ParseLimits = _DEFAULT_LIMITS,
    tz: ZoneInfo = DEFAULT_TZ,
) -> bytes:
    """Append a trace hop for the hub of ``credentials``, signed by it, at ``when``.

    The packet must carry its sender's signature (the hop is bound to it). A hub verifies
    the packet before calling this; ``sign_hop`` does not verify it again.
    """
    root, kind = load_tree(packet, limits=limits)
    if kind is not PacketKind.DOCUMENT:
        raise TraceHopError("status packets carry no trace hops")
    signed_info = _sender_signed_info(root)
    position = len(_hops(root)) + 1
    element = insert_trace_header(root, TraceHop(credentials.organ, when), tz=tz)
    element.set("Id", _HOP_ID.format(position))
    signature = _template(credentials, _hop_references(position), None)
    element.append(signature)
    _check_ids(root)
    ctx = _context(_Keys.private(credentials), [element, signed_info], hop=True)
    try:
        ctx.sign(signature)
    except xmlsec.Error as exc:
        raise SecurityError(f"signing the trace hop failed: {exc}") from exc
    return serialize(root)


def _sender_signed_info(root: etree._Element) -> etree._Element:
    holder = next((child for child in _header(root) if child.tag in _HOLDERS), None)
    signature = None if holder is None else holder.find(_SIGNATURE)
    signed_info = None if signature is None else signature.find(_ds("SignedInfo"))
    if signed_info is None or signed_info.get("Id") != SIGNED_INFO_ID:
        raise MissingSignatureError(
            "the packet carries no docflow sender signature",
            hint="the sender signs the packet (docflow.security.sign) before it travels",
        )
    return signed_info


# ----------------------------------------------------------------------- verification

def verify(
    packet: bytes,
    trust: TrustStore,
    *,
    now: dt.datetime | None = None,
    limits: ParseLimits = _DEFAULT_LIMITS,
    tz: ZoneInfo = DEFAULT_TZ,
) -> Verified:
    """Verify a signed packet and return it, read only from what the signatures cover.

    Checks, in order: schema; where every ``ds:Signature`` is (one sender signature in
    ``edXMLHeader/Signature``, hop signatures only inside their ``TraceHeader``); unique
    ``Id`` values; each signed part at its schema position with its fixed Id; the exact
    layout of the signature; the certificate (trusted CA, validity at ``now``, CRLs);
    that the certificate's organ is the packet's ``From``; digests and signature value;
    every trace hop's hub signature. Each failure has its own
    :class:`~docflow.errors.SecurityError` subclass.
    """
    root, kind = load_tree(packet, limits=limits)
    when = now if now is not None else trust.clock()
    header = _header(root)
    hops = _hops(root) if kind is PacketKind.DOCUMENT else []
    holder = next((child for child in header if child.tag in _HOLDERS), None)
    sender_signatures = [] if holder is None else list(holder.iterchildren(_SIGNATURE))
    if not sender_signatures:
        raise MissingSignatureError(
            "the packet is not signed", where="edXMLHeader/Signature",
            hint="accept only packets signed by their sender",
        )
    if len(sender_signatures) > 1:
        raise MultipleSignaturesError(
            f"{len(sender_signatures)} sender signatures; exactly one is allowed",
            where=_path(holder) if holder is not None else None,
        )
    for signature in root.iter(_SIGNATURE):
        parent = signature.getparent()
        if parent is holder or (parent is not None and parent in hops):
            continue
        raise SignatureWrappingError(
            "a signature sits where docflow never puts one", where=_path(signature),
            hint="only edXMLHeader/Signature and signed TraceHeader hops may hold one",
        )
    _check_ids(root)
    parts = _sender_parts(root, kind)
    for part in parts:
        if part.element.get("Id") != part.id:
            raise SignatureWrappingError(
                f"the signed edXML:{part.name} must carry Id={part.id!r}",
                where=_path(part.element),
                hint="the element at this place is not the one the signature covers",
            )
    (signature,) = sender_signatures
    method, der = _check_layout(signature, _sender_references(kind), SIGNED_INFO_ID)
    certificate, key = _KEYS.public(der)
    _check_key_type(method, certificate, signature)
    organ = trust.check(certificate, now=when)
    _KEYS.remember(der, (certificate, key))
    claimed = _claimed_sender(root)
    if claimed != str(organ):
        raise SignerMismatchError(
            f"the packet claims to be from {claimed} but is signed by {organ}",
            where="MessageHeader/From/OrganId",
            hint="a packet must be signed with its sender's own certificate",
        )
    _verify_signature(signature, key, parts, hop=False)
    signed_info = signature[0]
    verified_hops = tuple(
        _verify_hop(element, position, signed_info, trust, when)
        for position, element in enumerate(hops, start=1)
    )
    return Verified(
        packet=read_tree(root, kind, limits=limits, tz=tz),
        signer=organ,
        certificate=certificate,
        content_digest=_content_digest(signed_info),
        hops=verified_hops,
    )


def _content_digest(signed_info: etree._Element) -> str:
    return hashlib.sha256(etree.tostring(signed_info, method="c14n", exclusive=True,
                                         with_comments=False)).hexdigest()


def signed_content_digest(packet: bytes) -> str:
    """The identity of a signed packet's content: the SHA-256 (hex) of the exclusive
    C14N of its sender's ``SignedInfo``, which holds the digest of every part the sender
    signed. Two packets with the same value carry the same signed content, whatever
    their encoding, their unsigned white space or the trace hops hubs added: receivers
    recognise a resend by it, and receipts (``ReceivedDigest``) name it.

    Reads only as far as the ``SignedInfo`` (a large attachment after it is not
    parsed); it does not verify anything: use it on packets this organ signed or
    already verified. :class:`~docflow.errors.MissingSignatureError` when the packet
    carries no docflow sender signature."""
    parser = etree.XMLPullParser(events=("end",), tag=_ds("SignedInfo"),
                                 resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=True)
    view = memoryview(packet)
    try:
        for start in range(0, len(view), 1 << 16):
            parser.feed(bytes(view[start:start + (1 << 16)]))
            for _, element in parser.read_events():
                if element.get("Id") == SIGNED_INFO_ID:
                    return _content_digest(element)
    except etree.XMLSyntaxError as exc:
        raise MissingSignatureError(f"the packet cannot be read: {exc.msg}") from exc
    raise MissingSignatureError(
        "the packet carries no docflow sender signature",
        hint="only signed packets have a content digest",
    )


def _check_key_type(method: str, certificate: x509.Certificate, where: etree._Element) -> None:
    if not isinstance(certificate.public_key(), _METHODS[method]):
        raise SignatureLayoutError(
            "the signature method does not match the certificate's key type",
            where=_path(where),
        )


def _verify_signature(
    signature: etree._Element, key: xmlsec.Key, parts: Sequence[_Part], *, hop: bool
) -> None:
    ctx = _context(key, [part.element for part in parts], hop=hop)
    try:
        ctx.verify(signature)
    except xmlsec.Error as exc:
        mismatch = _changed_part(signature, parts)
        if mismatch is not None:
            raise DigestMismatchError(mismatch.name, where=_path(mismatch.element)) from exc
        raise SignatureValueError(
            "the signature value does not verify with the certificate's key",
            where=_path(signature),
            hint="the signature was forged or the SignedInfo altered; reject the packet",
        ) from exc


def _changed_part(signature: etree._Element, parts: Sequence[_Part]) -> _Part | None:
    """After a failed verification: the first signed part whose digest no longer matches
    (computed again with lxml's exclusive C14N), or None if all match."""
    by_uri = {f"#{part.id}": part for part in parts}
    for reference in signature[0].iterchildren(_ds("Reference")):
        part = by_uri.get(reference.get("URI") or "")
        if part is None:
            continue
        element = part.element
        if any(t.get("Algorithm") == _ENVELOPED for t in reference.iter(_ds("Transform"))):
            element = copy.deepcopy(element)
            for inner in element.findall(_SIGNATURE):
                element.remove(inner)
        canonical = etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
        digest = base64.b64encode(hashlib.sha256(canonical).digest()).decode()
        if digest != "".join((reference.findtext(_ds("DigestValue")) or "").split()):
            return part
    return None


def _verify_hop(
    element: etree._Element,
    position: int,
    sender_signed_info: etree._Element,
    trust: TrustStore,
    when: dt.datetime,
) -> VerifiedHop:
    organ_text = element.findtext(_ed("OrganId")) or "?"
    where = f"TraceHeader {position} ({organ_text})"
    signatures = list(element.iterchildren(_SIGNATURE))
    if not signatures:
        raise TraceHopError(
            f"trace hop {position} ({organ_text}) is not signed", where=_path(element),
            hint="every hop must be signed by the hub that recorded it",
        )
    if element.get("Id") != _HOP_ID.format(position):
        raise TraceHopError(
            f"trace hop {position} must carry Id={_HOP_ID.format(position)!r} "
            "(hops were removed, reordered or copied)", where=_path(element),
        )
    try:
        method, der = _check_layout(signatures[0], _hop_references(position), None)
        certificate, key = _KEYS.public(der)
        _check_key_type(method, certificate, signatures[0])
        organ = trust.check(certificate, now=when)
        _KEYS.remember(der, (certificate, key))
        if str(organ) != organ_text:
            raise SignerMismatchError(f"the hop names {organ_text} but is signed by {organ}")
        parts = [_Part("TraceHeader", element.get("Id") or "", element),
                 _Part("sender SignedInfo", SIGNED_INFO_ID, sender_signed_info)]
        _verify_signature(signatures[0], key, parts, hop=True)
    except SecurityError as exc:
        raise TraceHopError(f"trace hop {position} does not verify: {exc.message}",
                            where=where, hint=exc.hint) from exc
    return VerifiedHop(organ=organ, certificate=certificate)
