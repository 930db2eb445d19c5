"""Envelope codec rates next to bare lxml on the same bytes.

- build + validate + serialize vs lxml serialising an already-built tree of the packet
- parse + validate (+ decode attachments into the model) vs bare ``lxml.etree.fromstring``
"""

from __future__ import annotations

from lxml import etree

from benchmarks._harness import Row, rate
from docflow.envelope import build_envelope, parse_envelope
from docflow.samples import sample_envelope

SIZES = {"4 KB": 1024, "1 MB": 1024 * 1024}


def run() -> list[Row]:
    rows: list[Row] = []
    for label, attachment in SIZES.items():
        envelope = sample_envelope(attachment_bytes=attachment)
        data = build_envelope(envelope)
        tree = etree.fromstring(data)
        size = f"{label} ({len(data):,} B)"
        rows.append(Row(
            "envelope", f"build+validate+serialize {size}",
            rate(lambda e=envelope: build_envelope(e)),
            "lxml tostring of the same tree", rate(lambda t=tree: etree.tostring(t)),
        ))
        goal = 0.5 if label == "1 MB" else None
        rows.append(Row(
            "envelope", f"parse+validate {size}", rate(lambda d=data: parse_envelope(d)),
            "bare lxml.etree.fromstring", rate(lambda d=data: etree.fromstring(d)), goal=goal,
        ))
    return rows


NOTES = [
    "envelope: parse+validate includes the hardened parser (DOCTYPE scan, limits), XSD "
    "validation, reading every field into the typed model and base64-decoding attachments "
    "(pybase64); the bare reference only builds an lxml tree.",
]
