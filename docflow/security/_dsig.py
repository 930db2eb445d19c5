"""XML-DSig signing of edXML packets (python-xmlsec / libxmlsec1); verification is
:mod:`docflow.security._verify`, the layout both keep :mod:`docflow.security._layout`.

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
import copy
import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, overload
from zoneinfo import ZoneInfo

import pybase64
import xmlsec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from docflow.envelope import (
    DSIG_NS,
    Envelope,
    PacketKind,
    ParseLimits,
    build_status_tree,
    build_tree,
    insert_trace_header,
    load_skeleton,
    load_tree,
    serialize,
)
from docflow.errors import (
    MissingSignatureError,
    MultipleSignaturesError,
    SecurityError,
    SignerMismatchError,
    TraceHopError,
)
from docflow.model import DEFAULT_TZ, OrganCode, StatusInfo, TraceHop
from docflow.security._layout import (
    _C14N,
    _DEFAULT_LIMITS,
    _ECDSA_SHA256,
    _ENVELOPED,
    _HOLDERS,
    _HOP_ID,
    _RSA_SHA256,
    _SHA256,
    _SIGNATURE,
    SIGNED_INFO_ID,
    _check_ids,
    _context,
    _ds,
    _ed,
    _header,
    _hops,
    _Keys,
    _Part,
    _path,
    _sender_parts,
)
from docflow.security._pki import Credentials
from docflow.spool import PacketData, Spool

__all__ = ["sign", "sign_envelope", "sign_envelope_spooled", "sign_hop", "sign_status"]


def _method(credentials: Credentials) -> str:
    key = credentials.signing_key()
    return _RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else _ECDSA_SHA256


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


def _sender_references(parts: Sequence[_Part]) -> list[tuple[str, Sequence[str]]]:
    """The references of a sender signature over ``parts``, in their order."""
    return [(f"#{part.id}", (_C14N,)) for part in parts]


def _hop_references(position: int) -> list[tuple[str, Sequence[str]]]:
    return [
        (f"#{_HOP_ID.format(position)}", (_ENVELOPED, _C14N)),
        (f"#{SIGNED_INFO_ID}", (_C14N,)),
    ]


def _sender_template(credentials: Credentials, parts: Sequence[_Part]) -> etree._Element:
    key = "template-" + ",".join(part.id for part in parts)
    template: etree._Element | None = credentials._cache.get(key)
    if template is None:
        template = _template(credentials, _sender_references(parts), SIGNED_INFO_ID)
        credentials._cache[key] = template
    return copy.deepcopy(template)


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
    encoded = [pybase64.b64encode(att.data) for att in envelope.attachments]
    splice = _Splice([functools.partial(iter, (text,)) for text in encoded])
    root = build_tree(envelope, tz=tz, placeholders=splice.tokens)
    return b"".join(splice.pieces(_sign_tree(root, PacketKind.DOCUMENT, credentials,
                                             splice=splice)))


def sign_envelope_spooled(
    envelope: Envelope, credentials: Credentials, *, tz: ZoneInfo = DEFAULT_TZ
) -> Spool:
    """:func:`sign_envelope` written to a :class:`~docflow.spool.Spool`: the attachments'
    base64 is made chunk by chunk, for the digest and again for the packet, and never held
    whole (a 37 MiB scan is ~50 MB of base64), nor is the packet. The bytes are exactly
    :func:`sign_envelope`'s (a test compares them)."""
    _check_sender(envelope.info.sender.code, credentials)
    splice = _Splice([functools.partial(_base64_chunks, att.data)
                      for att in envelope.attachments])
    root = build_tree(envelope, tz=tz, placeholders=splice.tokens)
    signed = _sign_tree(root, PacketKind.DOCUMENT, credentials, splice=splice)
    return Spool.from_chunks(splice.pieces(signed))


def _base64_chunks(data: bytes) -> Iterator[bytes]:
    """The base64 of ``data`` in pieces (each from a multiple of 3 bytes: their
    concatenation is the base64 of the whole)."""
    view = memoryview(data)
    step = 3 * (1 << 18)
    for start in range(0, len(view), step):
        yield pybase64.b64encode(view[start:start + step])


class _Splice:
    """Attachments' base64 kept out of the tree: the tree holds a random token for each
    (32 hex digits: valid base64, unguessable), and the real text is spliced in where
    the token is, in the attachments' canonical form (for the digest) and in the
    serialized packet. Base64 needs no escaping in either, so the result is exactly what
    the full tree would give (a test compares the bytes). Each content is a function
    giving the text in chunks (called once per use)."""

    def __init__(self, contents: Sequence[Callable[[], Iterable[bytes]]]) -> None:
        self.contents = contents
        self.tokens = [secrets.token_hex(16) for _ in contents]

    def covers(self, element: etree._Element) -> bool:
        """Whether ``element``'s canonical form holds the tokens."""
        return bool(element.tag == _ed("AttachmentEncoded"))

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """``data`` cut at each token, with the token's content in its place."""
        for token, content in zip(self.tokens, self.contents, strict=True):
            before, found, data = data.partition(token.encode("ascii"))
            if not found or token.encode("ascii") in data:
                raise SecurityError("an attachment placeholder is not where it belongs",
                                    hint="sign again (a new placeholder is drawn)")
            yield before
            yield from content()
        yield data


class _Splicing(Protocol):
    """Texts kept out of a tree (an attachment's base64 while signing, a spooled packet's
    runs): a canonical form with their placeholders, cut and filled in."""

    def covers(self, element: etree._Element) -> bool: ...

    def pieces(self, canonical: bytes) -> Iterator[bytes]: ...


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
               splice: _Splicing | None = None) -> bytes:
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
    signature = _sender_template(credentials, parts)
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


#: a part with less text than this is canonicalised into one buffer (fewer Python
#: callbacks than streaming: ~5 us a part); a larger one streams into the hash
_STREAM_FROM = 64 * 1024


def _c14n_digest(element: etree._Element, splice: _Splicing | None = None) -> bytes:
    if splice is not None and splice.covers(element):
        sink = _Digest()
        for piece in splice.pieces(etree.tostring(element, method="c14n", exclusive=True,
                                                  with_comments=False)):
            sink.write(piece)
        return sink.hash.digest()
    if element.tag != _ed("AttachmentEncoded") or sum(
            len(text) for text in element.itertext()) < _STREAM_FROM:
        return hashlib.sha256(etree.tostring(element, method="c14n", exclusive=True,
                                             with_comments=False)).digest()
    sink = _Digest()
    etree.ElementTree(element).write_c14n(sink, exclusive=True, with_comments=False)
    return sink.hash.digest()


def _fill_signature(signature: etree._Element, elements: Sequence[etree._Element],
                    credentials: Credentials, *, splice: _Splicing | None = None) -> None:
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
    key = credentials.signing_key()
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


@overload
def sign_hop(packet: bytes, credentials: Credentials, *, when: dt.datetime,
             limits: ParseLimits = ..., tz: ZoneInfo = ...) -> bytes: ...


@overload
def sign_hop(packet: Spool, credentials: Credentials, *, when: dt.datetime,
             limits: ParseLimits = ..., tz: ZoneInfo = ...) -> Spool: ...


def sign_hop(
    packet: PacketData,
    credentials: Credentials,
    *,
    when: dt.datetime,
    limits: ParseLimits = _DEFAULT_LIMITS,
    tz: ZoneInfo = DEFAULT_TZ,
) -> PacketData:
    """Append a trace hop for the hub of ``credentials``, signed by it, at ``when``.

    The packet must carry its sender's signature (the hop is bound to it). A hub verifies
    the packet before calling this; ``sign_hop`` does not verify it again. A spooled
    packet gives a spooled packet: the hop is added to its skeleton (the hop's signature
    covers the hop and the sender's ``SignedInfo``, never an attachment) and the large
    texts are copied from the one spool to the other as they came.
    """
    if isinstance(packet, Spool):
        root, kind, skeleton = load_skeleton(packet, limits=limits)
    else:
        (root, kind), skeleton = load_tree(packet, limits=limits), None
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
    if skeleton is None:
        return serialize(root)
    return Spool.from_chunks(skeleton.raw_pieces(serialize(root)))


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
