"""docflow verifies sender signatures with its own digest path (lxml's exclusive C14N into
SHA-256, the key's verify over the C14N of SignedInfo); libxmlsec1 is the reference.
For any document, signed with RSA or ECDSA, and for tampering of every kind (a signed
character changed, white space or an unused namespace added, the prefix renamed, a
digest or the signature value altered, two signed values exchanged), the two engines give
the same verdict and name the same failure."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from docflow.envelope import Envelope, PacketKind, load_tree
from docflow.errors import DocflowError, SecurityError
from docflow.model import OrganCode
from docflow.samples import sample_envelope, sample_status
from docflow.security import sign_envelope, sign_status, verify
from docflow.security._layout import (
    _HOLDERS,
    _KEYS,
    _SIGNATURE,
    _check_layout,
    _ds,
    _header,
    _sender_parts,
)
from docflow.security._verify import (
    _check_sender_signature,
    _sender_references,
    _verify_signature,
)
from tests.conftest import Pki
from tests.strategies import envelopes_of, organs

provinces_packets = envelopes_of(
    organs.map(lambda organ: replace(organ, code=OrganCode("000.00.00.H41"))), hops=0)


def verdicts(packet: bytes) -> tuple[str, str]:
    """(docflow's verdict, libxmlsec1's) on the sender signature of ``packet``: "ok" or
    the failure's class name."""
    root, kind = load_tree(packet)
    holder = next(child for child in _header(root) if child.tag in _HOLDERS)
    signature = holder.find(_SIGNATURE)
    assert signature is not None
    parts = _sender_parts(root, kind)
    _, der = _check_layout(signature, _sender_references(parts), None)
    certificate, key = _KEYS.public(der)

    def outcome(check: object) -> str:
        try:
            check()  # type: ignore[operator]
        except SecurityError as exc:
            return type(exc).__name__
        return "ok"

    return (outcome(lambda: _check_sender_signature(signature, certificate, parts)),
            outcome(lambda: _verify_signature(signature, key, parts, hop=False)))


def _text_nodes(root: etree._Element) -> list[etree._Element]:
    body = [part.element for part in _sender_parts(root, PacketKind.DOCUMENT)]
    return [node for part in body for node in part.iter()
            if isinstance(node.tag, str) and node.text and node.text.strip()]


class NoPlaceError(Exception):
    """The packet offers no place for this mutation."""


def need(condition: object) -> None:
    if not condition:
        raise NoPlaceError


MUTATIONS = ("none", "text", "whitespace", "namespace", "prefix", "digest", "value",
             "swap")


def mutate(packet: bytes, how: str, pick: int) -> bytes:
    """``packet`` tampered in one way (``pick`` chooses where)."""
    if how == "none":
        return packet
    if how == "namespace":  # an unused declaration on the root: outside every part's C14N
        return packet.replace(b"<edXML:edXMLEnvelope ",
                              b'<edXML:edXMLEnvelope xmlns:zz="urn:unused" ', 1)
    if how == "prefix":  # the same namespace under another prefix: C14N keeps prefixes
        return packet.replace(b"edXML:", b"ed:").replace(b"xmlns:edXML=", b"xmlns:ed=")
    root = etree.fromstring(packet)
    signature = root.find(f".//{_SIGNATURE}")
    assert signature is not None
    if how in ("digest", "value"):
        nodes = list(signature.iter(_ds("DigestValue"))) if how == "digest" \
            else [signature[1]]
        node = nodes[pick % len(nodes)]
        raw = bytearray(base64.b64decode("".join((node.text or "").split())))
        raw[pick % len(raw)] ^= 1 << (pick % 8)
        node.text = base64.b64encode(bytes(raw)).decode()
    elif how == "text":
        nodes = _text_nodes(root)
        node = nodes[pick % len(nodes)]
        text = node.text or ""
        at = pick % len(text)
        node.text = text[:at] + ("X" if text[at] != "X" else "Y") + text[at + 1:]
    elif how == "whitespace":
        nodes = [n for n in _text_nodes(root) if len(n) == 0]
        need(nodes)
        node = nodes[pick % len(nodes)]
        node.text = (node.text or "") + " "
    elif how == "swap":  # two text values of the signed parts exchanged
        nodes = _text_nodes(root)
        first, second = nodes[pick % len(nodes)], nodes[(pick // 7) % len(nodes)]
        need(first.text != second.text)
        first.text, second.text = second.text, first.text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(envelope=provinces_packets, how=st.sampled_from(MUTATIONS),
       pick=st.integers(0, 10_000), ecdsa=st.booleans())
def test_docflow_and_libxmlsec1_agree(pki: Pki, envelope: Envelope, how: str, pick: int,
                                      ecdsa: bool) -> None:
    signed = sign_envelope(envelope, pki.province_ec if ecdsa else pki.province)
    try:
        tampered = mutate(signed, how, pick)
        ours, theirs = verdicts(tampered)
    except (NoPlaceError, DocflowError):
        # no place for it, or no longer a schema-valid packet (refused before any
        # signature check, by both engines alike)
        assume(False)
        raise
    assert ours == theirs, (how, ours, theirs)
    if how in ("none", "namespace"):
        assert ours == "ok"
    elif how in ("digest", "value"):
        assert ours != "ok"


@pytest.mark.parametrize("how", MUTATIONS)
def test_each_kind_of_tampering_on_the_sample(pki: Pki, how: str) -> None:
    """Every mutation at least once, whatever hypothesis draws (and status packets)."""
    signed = sign_envelope(sample_envelope(), pki.province)
    for pick in range(100):  # the first place this mutation leaves schema-valid
        try:
            tampered = mutate(signed, how, pick)
            ours, theirs = verdicts(tampered)
            break
        except (NoPlaceError, DocflowError):
            continue
    else:
        pytest.fail(f"no place for {how} in the sample")
    assert ours == theirs
    expected = {"none": "ok", "namespace": "ok", "prefix": "DigestMismatchError",
                "digest": "DigestMismatchError", "value": "SignatureValueError",
                "text": "DigestMismatchError", "whitespace": "DigestMismatchError",
                "swap": "DigestMismatchError"}
    assert ours == expected[how]
    status = sign_status(sample_status(sample_envelope()), pki.district)
    assert verdicts(status) == ("ok", "ok")
    # and the whole verify agrees with its own parts
    if ours == "ok":
        assert verify(tampered, pki.trust, now=pki.now).signer == OrganCode("000.00.00.H41")
    else:
        with pytest.raises(SecurityError) as refused:
            verify(tampered, pki.trust, now=pki.now)
        assert type(refused.value).__name__ == ours


def test_a_packet_over_the_limit_is_checked_by_libxmlsec1_alike(pki: Pki) -> None:
    """Over OWN_DIGEST_LIMIT libxmlsec1 checks the sender signature (it streams a large
    part's C14N); the verdicts are the same: valid, and a changed part named."""
    from docflow.security._verify import OWN_DIGEST_LIMIT

    signed = sign_envelope(sample_envelope(attachment_bytes=OWN_DIGEST_LIMIT), pki.province)
    assert len(signed) > OWN_DIGEST_LIMIT
    verified = verify(signed, pki.trust, now=pki.now)
    assert verified.content_digest == verdicts_digest(signed)
    tampered = mutate(signed, "text", 5)
    with pytest.raises(SecurityError) as refused:
        verify(tampered, pki.trust, now=pki.now)
    assert type(refused.value).__name__ == "DigestMismatchError"


def verdicts_digest(packet: bytes) -> str:
    from docflow.security import signed_content_digest

    return signed_content_digest(packet)
