"""edXML packets (QCVN 102:2016/BTTTT): build, parse, validate, trace hops.

>>> from docflow.envelope import build_envelope, parse_envelope
>>> from docflow.samples import sample_envelope
>>> envelope = sample_envelope()
>>> parse_envelope(build_envelope(envelope)) == envelope
True

Core module: bytes in, objects out; no sockets or clocks, and no files but a large
packet's own :class:`~docflow.spool.Spool` (read through its :class:`Skeleton`).
"""

from docflow.envelope._codec import (
    Reading,
    add_trace_hop,
    insert_trace_header,
    load_skeleton,
    load_tree,
    parse_envelope,
    parse_packet,
    parse_status,
    read_packet,
    read_tree,
    unprefixed,
    validate_packet,
)
from docflow.envelope._fields import MAX_FINDINGS, SignatureForm
from docflow.envelope._findings import (
    DEFAULT_POLICY,
    LENGTHS,
    Finding,
    Policy,
    Severity,
    findings_from_json,
    findings_json,
)
from docflow.envelope._packet import SIGNED_IDS, Envelope, SignedIds, derived_message_id
from docflow.envelope._schema import PacketKind, schema_path, validate_tree
from docflow.envelope._skeleton import PAYLOADS, Skeleton, scan
from docflow.envelope._writer import (
    build_envelope,
    build_status,
    build_status_tree,
    build_tree,
    serialize,
)
from docflow.envelope._xml import (
    DSIG_NS,
    EDXML_NS,
    XLINK_NS,
    ParseLimits,
    parse_xml,
    parse_xml_stream,
)

__all__ = [
    "DEFAULT_POLICY",
    "DSIG_NS",
    "EDXML_NS",
    "LENGTHS",
    "MAX_FINDINGS",
    "PAYLOADS",
    "SIGNED_IDS",
    "XLINK_NS",
    "Envelope",
    "Finding",
    "PacketKind",
    "ParseLimits",
    "Policy",
    "Reading",
    "Severity",
    "SignatureForm",
    "SignedIds",
    "Skeleton",
    "add_trace_hop",
    "build_envelope",
    "build_status",
    "build_status_tree",
    "build_tree",
    "derived_message_id",
    "findings_from_json",
    "findings_json",
    "insert_trace_header",
    "load_skeleton",
    "load_tree",
    "parse_envelope",
    "parse_packet",
    "parse_status",
    "parse_xml",
    "parse_xml_stream",
    "read_packet",
    "read_tree",
    "scan",
    "schema_path",
    "serialize",
    "unprefixed",
    "validate_packet",
    "validate_tree",
]

