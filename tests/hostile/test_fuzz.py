"""Mutated packets (bytes flipped, cut, inserted; elements deleted, duplicated, moved,
rewritten) never raise anything but a DocflowError; a mutated *signed* packet is either
refused or reads exactly as it was signed."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from docflow.envelope import build_envelope, build_status, parse_packet
from docflow.errors import DocflowError
from docflow.samples import sample_envelope, sample_status

SEEDS = [
    build_envelope(sample_envelope(attachment_bytes=300)),
    build_status(sample_status(sample_envelope())),
]


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        position = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=20))
        else:
            del data[position:]
        if not data:
            break
    return bytes(data)


def _mutate_tree(draw: st.DrawFn, root: etree._Element, rounds: int) -> bytes:
    """Delete, duplicate, move or rewrite ``rounds`` random elements of ``root``."""
    elements = list(root.iter())
    for _ in range(rounds):
        element = draw(st.sampled_from(elements))
        kind = draw(st.sampled_from(["delete", "duplicate", "move", "text"]))
        parent = element.getparent()
        if parent is None:
            continue
        if kind == "delete":
            parent.remove(element)
        elif kind == "duplicate":
            parent.append(etree.fromstring(etree.tostring(element)))
        elif kind == "move":
            draw(st.sampled_from(elements)).append(etree.fromstring(etree.tostring(element)))
        else:
            element.text = draw(st.text(alphabet=st.characters(min_codepoint=0x20,
                                                               max_codepoint=0x2FF), max_size=12))
        elements = list(root.iter())
    return etree.tostring(root)


@st.composite
def tree_mutations(draw: st.DrawFn) -> bytes:
    root = etree.fromstring(draw(st.sampled_from(SEEDS)))
    return _mutate_tree(draw, root, draw(st.integers(1, 3)))


@given(byte_mutations())
def test_byte_mutations_only_raise_docflow_errors(data: bytes) -> None:
    with contextlib.suppress(DocflowError):
        parse_packet(data)


@given(tree_mutations())
def test_tree_mutations_only_raise_docflow_errors(data: bytes) -> None:
    with contextlib.suppress(DocflowError):
        parse_packet(data)


# ----------------------------------------------------------------------- signed packets

def _signed_seeds() -> tuple[list[bytes], object, object]:
    import datetime as dt

    from docflow.security import (
        KeyType,
        TrustStore,
        create_ca,
        issue_certificate,
        sign,
        verify,
    )

    now = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
    ca = create_ca("fuzz CA", now=now, key_type=KeyType.ECDSA_P256)
    province = issue_certificate(ca, "000.00.00.H41", "UBND tỉnh", now=now,
                                 key_type=KeyType.ECDSA_P256)
    district = issue_certificate(ca, "000.00.01.H41", "UBND TP Tam Kỳ", now=now,
                                 key_type=KeyType.ECDSA_P256)
    trust = TrustStore([ca.certificate])
    seeds = [sign(SEEDS[0], province), sign(SEEDS[1], district)]
    originals = {seed: verify(seed, trust, now=now).packet for seed in seeds}
    return seeds, (trust, now), originals


SIGNED, (TRUST, NOW), ORIGINALS = _signed_seeds()


@st.composite
def signed_mutations(draw: st.DrawFn) -> tuple[bytes, bytes]:
    seed = draw(st.sampled_from(SIGNED))
    if draw(st.booleans()):
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 3))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] ^= draw(st.integers(1, 255))
        return seed, bytes(data)
    return seed, _mutate_tree(draw, etree.fromstring(seed), 1)


@given(signed_mutations())
def test_a_mutated_signed_packet_is_refused_or_means_exactly_what_was_signed(
        case: tuple[bytes, bytes]) -> None:
    from docflow.security import verify

    seed, data = case
    try:
        verified = verify(data, TRUST, now=NOW)  # type: ignore[arg-type]
    except DocflowError:
        return
    # Accepted: only changes outside what the signature covers (e.g. whitespace between
    # parts) can get here, and the packet must read exactly as signed.
    assert verified.packet == ORIGINALS[seed]  # type: ignore[index]


def test_a_certificate_with_a_mangled_curve_is_refused_as_such() -> None:
    """Found by the fuzzing above: one bit of the P-256 curve's OID changed inside
    ds:X509Certificate made cryptography raise UnsupportedAlgorithm, not a DocflowError.
    The mangled certificate is refused with a SignatureLayoutError saying so."""
    import base64
    import re

    from docflow.errors import SignatureLayoutError
    from docflow.security import verify

    seed = SIGNED[1]
    found = re.search(rb"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", seed)
    assert found is not None
    der = base64.b64decode(found.group(1))
    prime256v1 = bytes.fromhex("06082a8648ce3d030107")
    assert prime256v1 in der
    mangled = der.replace(prime256v1, bytes.fromhex("06081a8648ce3d030107"))
    data = seed.replace(found.group(1), base64.b64encode(mangled))
    with pytest.raises(SignatureLayoutError, match="cannot be used"):
        verify(data, TRUST, now=NOW)  # type: ignore[arg-type]
