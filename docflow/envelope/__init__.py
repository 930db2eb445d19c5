"""edXML packets (QCVN 102:2016/BTTTT): build, parse, validate, trace hops.

>>> from docflow.envelope import build_envelope, parse_envelope
>>> from docflow.samples import sample_envelope
>>> envelope = sample_envelope()
>>> parse_envelope(build_envelope(envelope)) == envelope
True

Core module: bytes in, objects out; no files, sockets or clocks.
"""

from docflow.envelope._codec import (
    SIGNED_IDS,
    Envelope,
    SignedIds,
    add_trace_hop,
    build_envelope,
    build_status,
    build_status_tree,
    build_tree,
    derived_message_id,
    insert_trace_header,
    load_tree,
    parse_envelope,
    parse_packet,
    parse_status,
    read_tree,
    serialize,
    validate_packet,
)
from docflow.envelope._schema import PacketKind, schema_path, validate_tree
from docflow.envelope._xml import (
    DSIG_NS,
    EDXML_NS,
    XLINK_NS,
    ParseLimits,
    parse_xml,
    parse_xml_stream,
)

__all__ = [
    "DSIG_NS",
    "EDXML_NS",
    "SIGNED_IDS",
    "XLINK_NS",
    "Envelope",
    "PacketKind",
    "ParseLimits",
    "SignedIds",
    "add_trace_hop",
    "build_envelope",
    "build_status",
    "build_status_tree",
    "build_tree",
    "derived_message_id",
    "insert_trace_header",
    "load_tree",
    "parse_envelope",
    "parse_packet",
    "parse_status",
    "parse_xml",
    "parse_xml_stream",
    "read_tree",
    "schema_path",
    "serialize",
    "validate_packet",
    "validate_tree",
]

