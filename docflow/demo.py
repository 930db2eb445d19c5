"""``make demo``: build, validate and print a provincial decision sent to a district.

This stage of docflow shows the packet codec; the 4-level network demo replaces it once
nodes and transport exist.
"""

from __future__ import annotations

import hashlib

from docflow.envelope import build_envelope, build_status, parse_envelope, parse_status
from docflow.model import StatusCode
from docflow.samples import sample_envelope, sample_status


def main() -> None:
    """Print the sample packet, its validated parse and a status packet answering it."""
    envelope = sample_envelope()
    data = build_envelope(envelope)
    parsed = parse_envelope(data)
    if parsed != envelope:
        raise SystemExit("round trip changed the document: please report this as a bug")
    info = parsed.info
    print("docflow demo: a provincial decision sent to a district (edXML, QCVN 102:2016)")
    print()
    rows = [
        ("From", f"{info.sender.code}  {info.sender.name}"),
        ("To", ", ".join(f"{organ.code}  {organ.name}" for organ in info.recipients)),
        ("Code (số, ký hiệu)", info.code),
        ("Type", info.document_type.name),
        ("Subject (trích yếu)", info.subject),
        ("Signer", f"{info.signer.competence} {info.signer.position} {info.signer.full_name}"),
        ("Promulgated", f"{info.promulgation_place}, {info.promulgation_date:%d/%m/%Y}"),
        ("Due", f"{info.due_date:%d/%m/%Y}" if info.due_date else "-"),
        ("DocumentId", info.document_id),
        ("MessageId", parsed.message_id),
        ("Attachments", ", ".join(f"{a.name} ({len(a.data)} B)" for a in parsed.attachments)),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print()
    print(f"packet: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}..., "
          "valid against xsd/edxml.xsd")
    print()
    print(data[:700].decode("utf-8", "replace") + " ...")
    print()
    status = sample_status(parsed, StatusCode.ARRIVED)
    status_bytes = build_status(status)
    echoed = parse_status(status_bytes)
    print(f"status packet {echoed.code.value} ({echoed.description}) from {echoed.sender.code}: "
          f"{len(status_bytes)} bytes, valid against xsd/status.xsd")


if __name__ == "__main__":
    main()
