"""``make demo``: a province decision travelling to every level, on embedded SQLite.

Every organ is a node with its own key (issued by a test province CA) and its own SQLite
database; packets travel over the in-memory transport, signed and verified at every step.
The province sends a decision to a department, two districts and three communes; they
acknowledge it with signed receipts, work on it or reject it; a mistaken letter is
recalled; a commune reports up to its district. The demo ends with the trace table and
the invariant checks. (Routing through the province's LGSP hub comes with the network
issue; here the nodes talk directly.)
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from docflow.model import DOCUMENT_TYPES, OrganCode, OrganInfo
from docflow.node import Node
from docflow.samples import sample_envelope
from docflow.security import TrustStore, create_ca, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import InMemoryTransport

ORGANS = [
    ("province", OrganInfo(OrganCode("000.00.00.H41"), "UBND tỉnh Quảng Nam")),
    ("department", OrganInfo(OrganCode("000.00.51.H41"), "Sở Thông tin và Truyền thông")),
    ("district", OrganInfo(OrganCode("000.00.01.H41"), "UBND thành phố Tam Kỳ")),
    ("district", OrganInfo(OrganCode("000.00.05.H41"), "UBND huyện Đại Lộc")),
    ("commune", OrganInfo(OrganCode("000.01.05.H41"), "UBND xã Đại Hiệp")),
    ("commune", OrganInfo(OrganCode("000.02.05.H41"), "UBND xã Đại Hòa")),
    ("commune", OrganInfo(OrganCode("000.01.01.H41"), "UBND phường An Mỹ")),
]


def _pump(nodes: dict[OrganCode, Node], rounds: int = 4) -> None:
    """Run every node's outbox worker until nothing is left to send."""
    for _ in range(rounds):
        if sum(node.deliver().delivered for node in nodes.values()) == 0:
            return


def main() -> None:
    """Run the demo and print what happened."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    home = Path(tempfile.mkdtemp(prefix="docflow-demo-"))
    ca = create_ca("Quảng Nam province CA (demo)", now=now)
    trust = TrustStore([ca.certificate])
    network = InMemoryTransport()
    nodes: dict[OrganCode, Node] = {}
    levels: dict[OrganCode, str] = {}
    for level, organ in ORGANS:
        credentials = issue_certificate(ca, organ.code, organ.name, now=now)
        store = Store.open(sqlite_url(home / f"{organ.code}.db"))
        nodes[organ.code] = Node(organ, credentials, trust, store, network)
        network.register(organ.code, nodes[organ.code])
        levels[organ.code] = level
    province = nodes[OrganCode("000.00.00.H41")]
    print("docflow demo: liên thông văn bản 4 cấp, every packet signed (XML-DSig) and verified")
    print(f"  {len(nodes)} nodes, each with its own key and SQLite database in {home}\n")

    recipients = tuple(organ for level, organ in ORGANS if level != "province")
    decision = sample_envelope(recipients=recipients, message_id="demo-decision").info
    decision_ref = province.send(decision).document_ref
    mistaken = replace(sample_envelope(number="4513", recipients=recipients).info,
                       subject="Công văn gửi nhầm (sẽ thu hồi)", document_id="",
                       document_type=DOCUMENT_TYPES["letter"])
    mistake_ref = province.send(mistaken).document_ref
    _pump(nodes)

    def received(code: str, number: str) -> int:
        node = nodes[OrganCode(code)]
        return next(doc.id for doc in node.store.documents(direction="in").items
                    if doc.code.startswith(number + "/"))

    # Each office acts on the decision.
    for code in ("000.00.51.H41", "000.00.01.H41", "000.01.05.H41", "000.01.01.H41"):
        node, ref = nodes[OrganCode(code)], received(code, "4512")
        node.accept(ref)
        node.assign(ref, "giao phòng chuyên môn")
        node.process(ref)
    nodes[OrganCode("000.01.05.H41")].complete(received("000.01.05.H41", "4512"))
    nodes[OrganCode("000.00.05.H41")].reject(received("000.00.05.H41", "4512"),
                                              "không đúng thẩm quyền")
    # Đại Hòa finished the mistaken letter before the recall arrives.
    dai_hoa = nodes[OrganCode("000.02.05.H41")]
    for act in (dai_hoa.accept, dai_hoa.process, dai_hoa.complete):
        act(received("000.02.05.H41", "4513"))
    province.recall(mistake_ref, "ban hành nhầm")
    _pump(nodes)

    # A commune reports upward to its district.
    commune = nodes[OrganCode("000.01.05.H41")]
    district = nodes[OrganCode("000.00.05.H41")]
    report = replace(sample_envelope(number="27", sender=commune.organ,
                                     recipients=(district.organ,)).info,
                     document_type=DOCUMENT_TYPES["report"], document_id="",
                     code_notation="BC-UBND",
                     subject="Báo cáo kết quả triển khai Quyết định 4512/QĐ-UBND")
    report_ref = commune.send(report).document_ref
    _pump(nodes)
    district.accept(received("000.00.05.H41", "27"))
    _pump(nodes)

    print(f"{'document':<16} {'from':<14} {'to':<14} {'level':<10} {'transport':<13} "
          f"{'sender sees':<12} {'receiver has':<13} answer")
    problems = []
    for sender, ref in ((province, decision_ref), (province, mistake_ref), (commune, report_ref)):
        document = sender.store.document(ref)
        for delivery in sender.store.deliveries(document_ref=ref).items:
            if delivery.kind != "document":
                continue
            receiver = nodes[OrganCode(delivery.recipient)]
            copies = receiver.store.documents(direction="in", document_id=document.document_id,
                                              sender=str(sender.code))
            if copies.total != 1:
                problems.append(f"{document.code} at {delivery.recipient}: "
                                f"{copies.total} copies")
            copy = copies.items[0]
            seen = delivery.business_state or "-"
            expected = {"arrived": "received"}.get(seen, seen)
            if expected != copy.state:
                problems.append(f"{document.code} at {delivery.recipient}: sender sees {seen}, "
                                f"receiver has {copy.state}")
            if delivery.transport_state != "acknowledged":
                problems.append(f"{document.code} to {delivery.recipient} not acknowledged")
            answer = {"agreed": "recall agreed", "refused": "recall refused"}.get(
                delivery.change_state or "", "")
            print(f"{document.code:<16} {sender.code!s:<14} {delivery.recipient:<14} "
                  f"{levels[receiver.code]:<10} {delivery.transport_state:<13} {seen:<12} "
                  f"{copy.state:<13} {answer}")
    rejected = [h for h in province.store.history(decision_ref) if h.to_state == "rejected"]
    print(f"\nrejection reason recorded at the sender: {rejected[0].reason!r}"
          if rejected else "")
    audits = [node.store.verify_audit() for node in nodes.values()]
    print("\ninvariants:")
    print(f"  every copy delivered once, with a verified signed receipt: "
          f"{'yes' if not problems else 'NO'}")
    print(f"  sender's view of every copy equals the receiver's state: "
          f"{'yes' if not problems else 'NO'}")
    print(f"  audit chains intact: {sum(a.ok for a in audits)}/{len(audits)} "
          f"({sum(a.entries for a in audits)} entries)")
    documents = sum(1 for kind, _, _ in network.sent if kind == "document")
    print(f"  packets on the wire: {documents} documents, {len(network.sent) - documents} "
          "status packets")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    for node in nodes.values():
        node.store.close()
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    if problems or not all(a.ok for a in audits):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
