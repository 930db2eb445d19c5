"""Verification of signed edXML packets: the layout first, then the certificate
against the trust store and the sender's organ, then the digests and the signature
value, and the model read from the very nodes that were verified.

The sender's signature is checked on the parsed tree by docflow's own digest path (the
exclusive C14N of each referenced part streamed into SHA-256, then the key's verify over
the C14N of ``SignedInfo``), which the signing side uses too: the layout check admits
only that one transform and algorithm set, and a property test holds its verdict equal
to libxmlsec1's on signed and tampered packets. Hub hops (an enveloped-signature
transform) and packets over :data:`OWN_DIGEST_LIMIT` are verified by libxmlsec1."""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from docflow.envelope import (
    Envelope,
    PacketKind,
    ParseLimits,
    Skeleton,
    load_skeleton,
    load_tree,
    read_tree,
)
from docflow.errors import (
    DigestMismatchError,
    MissingSignatureError,
    MultipleSignaturesError,
    SecurityError,
    SignatureLayoutError,
    SignatureValueError,
    SignatureWrappingError,
    SignerMismatchError,
    TraceHopError,
)
from docflow.model import DEFAULT_TZ, OrganCode, StatusInfo
from docflow.security._dsig import (
    _c14n_digest,
    _claimed_sender,
    _hop_references,
    _sender_references,
)
from docflow.security._layout import (
    _DEFAULT_LIMITS,
    _ENVELOPED,
    _HOLDERS,
    _HOP_ID,
    _KEYS,
    _METHODS,
    _SIGNATURE,
    SIGNED_INFO_ID,
    _check_ids,
    _check_layout,
    _context,
    _ds,
    _ed,
    _header,
    _hops,
    _Part,
    _path,
    _sender_parts,
)
from docflow.security._trust import TrustStore
from docflow.spool import PacketData, Spool, chunks_of

__all__ = ["OWN_DIGEST_LIMIT", "Verified", "VerifiedHop", "signed_content_digest", "verify"]

#: packets up to this size have their sender signature checked by docflow's own digest
#: path; larger ones by libxmlsec1, which streams a part's canonical form into the digest
#: where lxml's C14N writer holds it whole (+1x a 20 MB attachment's base64 at the peak)
OWN_DIGEST_LIMIT = 1024 * 1024


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


def verify(
    packet: PacketData,
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

    A :class:`~docflow.spool.Spool` is verified through its skeleton
    (:func:`~docflow.envelope.load_skeleton`): the same checks on the same tree, but
    for the large texts, which are digested and decoded from the spool as they are read.
    """
    skeleton: Skeleton | None = None
    if isinstance(packet, Spool):
        root, kind, skeleton = load_skeleton(packet, limits=limits)
    else:
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
    method, der = _check_layout(signature, _sender_references(parts), SIGNED_INFO_ID)
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
    if skeleton is not None or len(packet) <= OWN_DIGEST_LIMIT:
        content_digest = _check_sender_signature(signature, certificate, parts,
                                                 splice=skeleton)
    else:  # libxmlsec1 streams a large part's C14N into its digest; lxml buffers it whole
        _verify_signature(signature, key, parts, hop=False)
        content_digest = _content_digest(signature[0])
    signed_info = signature[0]
    verified_hops = tuple(
        _verify_hop(element, position, signed_info, trust, when)
        for position, element in enumerate(hops, start=1)
    )
    return Verified(
        packet=read_tree(root, kind, limits=limits, tz=tz, skeleton=skeleton),
        signer=organ,
        certificate=certificate,
        content_digest=content_digest,
        hops=verified_hops,
    )


def _check_sender_signature(signature: etree._Element, certificate: x509.Certificate,
                            parts: Sequence[_Part], *, splice: Skeleton | None = None) -> str:
    """XML-DSig core validation of a sender signature whose layout was checked: each
    reference's digest (exclusive C14N of its part, SHA-256), then the signature value
    over the exclusive C14N of ``SignedInfo`` with the certificate's key. Returns the
    content digest (the SHA-256, hex, of that C14N). :class:`DigestMismatchError` names
    the first part changed; :class:`SignatureValueError` a value that does not verify."""
    # by name, never by position: a node the parser kept (none should) cannot shift them
    signed_info = signature.find(_ds("SignedInfo"))
    value_element = signature.find(_ds("SignatureValue"))
    if signed_info is None or value_element is None:  # the layout check saw to both
        raise SignatureLayoutError("the signature lost its SignedInfo or SignatureValue",
                                   where=_path(signature))
    references = signed_info.findall(_ds("Reference"))
    for reference, part in zip(references, parts, strict=True):
        claimed = _base64(reference.findtext(_ds("DigestValue")))
        if claimed is None or not hmac.compare_digest(claimed, _c14n_digest(part.element,
                                                                        splice)):
            raise DigestMismatchError(part.name, where=_path(part.element))
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True,
                               with_comments=False)
    value = _base64(value_element.text)
    key = certificate.public_key()  # cryptography keeps it: no parse per call
    try:
        if value is None:
            raise InvalidSignature
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(value, canonical, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            width = (key.curve.key_size + 7) // 8  # XML-DSig's ECDSA value: r || s
            if len(value) != 2 * width:
                raise InvalidSignature
            r, s = int.from_bytes(value[:width], "big"), int.from_bytes(value[width:], "big")
            key.verify(encode_dss_signature(r, s), canonical, ec.ECDSA(hashes.SHA256()))
        else:  # _check_key_type admitted only these two
            raise InvalidSignature
    except InvalidSignature:
        raise SignatureValueError(
            "the signature value does not verify with the certificate's key",
            where=_path(signature),
            hint="the signature was forged or the SignedInfo altered; reject the packet",
        ) from None
    return hashlib.sha256(canonical).hexdigest()


def _base64(text: str | None) -> bytes | None:
    """A base64 text with its white space (XML-DSig allows line breaks), or None."""
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _content_digest(signed_info: etree._Element) -> str:
    return hashlib.sha256(etree.tostring(signed_info, method="c14n", exclusive=True,
                                         with_comments=False)).hexdigest()


def signed_content_digest(packet: PacketData) -> str:
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
    try:
        for chunk in chunks_of(packet, size=1 << 16):
            parser.feed(chunk)
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
