"""Mutated packets (bytes flipped, cut, inserted; elements deleted, duplicated, moved,
rewritten) never raise anything but a DocflowError."""

from __future__ import annotations

import contextlib

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


@st.composite
def tree_mutations(draw: st.DrawFn) -> bytes:
    root = etree.fromstring(draw(st.sampled_from(SEEDS)))
    elements = list(root.iter())
    for _ in range(draw(st.integers(1, 3))):
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


@given(byte_mutations())
def test_byte_mutations_only_raise_docflow_errors(data: bytes) -> None:
    with contextlib.suppress(DocflowError):
        parse_packet(data)


@given(tree_mutations())
def test_tree_mutations_only_raise_docflow_errors(data: bytes) -> None:
    with contextlib.suppress(DocflowError):
        parse_packet(data)
