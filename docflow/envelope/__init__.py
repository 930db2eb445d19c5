"""edXML packets (QCVN 102:2016/BTTTT): build, parse, validate, trace hops.

>>> from docflow.envelope import build_envelope, parse_envelope
>>> from docflow.samples import sample_envelope
>>> envelope = sample_envelope()
>>> parse_envelope(build_envelope(envelope)) == envelope
True

Core module: bytes in, objects out; no files, sockets or clocks.
"""

from docflow.envelope._codec import (
    Envelope,
    add_trace_hop,
    build_envelope,
    build_status,
    derived_message_id,
    parse_envelope,
    parse_packet,
    parse_status,
    validate_packet,
)
from docflow.envelope._schema import PacketKind, schema_path, validate_tree
from docflow.envelope._xml import DSIG_NS, EDXML_NS, XLINK_NS, ParseLimits, parse_xml

__all__ = [
    "DSIG_NS",
    "EDXML_NS",
    "XLINK_NS",
    "Envelope",
    "PacketKind",
    "ParseLimits",
    "add_trace_hop",
    "build_envelope",
    "build_status",
    "derived_message_id",
    "parse_envelope",
    "parse_packet",
    "parse_status",
    "parse_xml",
    "schema_path",
    "validate_packet",
    "validate_tree",
]

