"""``make demo``: liên thông văn bản 4 cấp through the province hub, on embedded SQLite.

The Quảng Nam directory (the provincial People's Committee, 20 departments, 18 districts,
their communes - three per district here, to finish in seconds - the province's LGSP hub,
the national axis) runs as nodes in one process: every organ has its own key, issued by a
demo province CA; every packet is signed, goes through the LGSP, which verifies it, signs
its trace hop and forwards it (or holds it for the communes behind NAT, which pull), and
every receipt and status comes back the same way. The province sends a decision to every
district and commune; some reject it; a mistaken letter is recalled; communes report back
to their districts; a letter goes to Đà Nẵng through the national axis. Then the decision
as the law defines it (Nghị định 30/2020): its PDF signed by the official, then by the
province's văn thư as the organ; two districts check it on receipt, and a copy changed
after signing comes back rejected. The demo prints a compact trace and checks the
invariants from the stores themselves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from docflow.domain import OnInvalid
from docflow.harness import Simulation, SimulationConfig, quang_nam
from docflow.harness.directory import OTHER_PROVINCE, PROVINCE
from docflow.lifecycle import ChangeState, IncomingState
from docflow.model import Attachment, OrganCode
from docflow.pdf import PdfPolicy, PdfTrust, sign_official, sign_organ
from docflow.pdf.samples import (
    painted_over,
    sample_pdf,
    sample_seal_png,
    sample_signature_png,
)
from docflow.routing import Directory
from docflow.samples import sample_envelope
from docflow.security import KeyType, create_crl, issue_official_certificate


def _received(simulation: Simulation, organ: OrganCode, message_id: str) -> int:
    node = simulation.node(organ)
    (document,) = [d for d in node.inbox(page_size=1000).items if d.message_id == message_id]
    return document.id


def _signed_pdfs(simulation: Simulation, province: OrganCode,
                 districts: list[OrganCode]) -> None:
    """The decision's PDF signed by the official, then by the organ; one district gets
    it as signed, the other a copy changed after signing (a later revision painting
    over the page): the first marks it valid, the second returns it (status 02)."""
    now = simulation.clock()
    official = issue_official_certificate(simulation.ca, province, "Trần Văn Tân",
                                          now=now - dt.timedelta(hours=1),
                                          key_type=KeyType.ECDSA_P256, title="Phó Chủ tịch")
    sender = simulation.node(province)
    pdf = sign_official(sample_pdf(), official, image=sample_signature_png(), signed_at=now)
    pdf = sign_organ(pdf, sender.credentials, seal=sample_seal_png(), signed_at=now)
    trust = PdfTrust.of([simulation.ca.certificate],
                        crls=[create_crl(simulation.ca, [], now=now - dt.timedelta(hours=1))])
    print("\nthe decision's PDF, signed as Nghị định 30 says (official, then organ):")
    tampered = painted_over(pdf)
    sent: list[tuple[OrganCode, str, int]] = []
    for district, data in zip(districts, (pdf, tampered), strict=True):
        simulation.node(district).pdf = PdfPolicy(trust, OnInvalid.REJECT)
        envelope = sample_envelope(sender=sender.organ, recipients=(
            simulation.node(district).organ,), number=str(7000 + len(sent)), date=now.date())
        record = sender.send(envelope.info, (Attachment("quyet-dinh.pdf", data,
                                                        "application/pdf"),),
                             message_id=f"demo-pdf-{len(sent)}")
        sent.append((district, f"demo-pdf-{len(sent)}", record.document_ref))
    simulation.settle(act=False)
    for (district, message_id, ref), label in zip(sent, ("as signed", "changed after signing"),
                                                  strict=True):
        node = simulation.node(district)
        received = node.document(_received(simulation, district, message_id))
        (attachment,) = node.store.queries.attachments(received.id)
        report = attachment.pdf_report or {}
        roles = ", ".join(f"{s['role']} {s['signer']}" for s in report.get("signatures", []))
        print(f"  {label:<22} at {district}: {received.pdf}, {received.state} ({roles})")
        copy = next(d for d in sender.store.queries.deliveries(document_ref=ref).items
                    if d.kind == "document")
        if copy.business_state == IncomingState.REJECTED:
            (why,) = [e.description for e in sender.store.queries.status_events(ref)
                      if e.code.value == "02"]
            print(f"  {'':<22} the sender reads 02: {why[:110]}...")


def main(argv: list[str] | None = None) -> None:
    """Run the demo and print what happened; its stores are removed afterwards unless
    ``--keep`` is given (then it says where they are)."""
    parser = argparse.ArgumentParser(
        prog="python -m docflow.demo",
        description="Liên thông văn bản 4 cấp through the province's LGSP, every organ a "
                    "node with its own key, on embedded SQLite (the same as `docflow demo`).")
    parser.add_argument("--keep", action="store_true",
                        help="keep the stores afterwards (and say where they are)")
    keep = parser.parse_args(sys.argv[1:] if argv is None else argv).keep
    home = Path(tempfile.mkdtemp(prefix="docflow-demo-"))
    try:
        _run(home)
    finally:
        if keep:
            print(f"the stores are kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
            print(f"removed {home} (python -m docflow.demo --keep keeps it)")


def _run(home: Path) -> None:
    started = time.perf_counter()
    directory = Directory.from_toml_text(quang_nam(communes=3))
    simulation = Simulation(directory, home, SimulationConfig(documents=0, seed=2018))
    province = OrganCode(PROVINCE)
    districts = [e.code for e in directory if e.organ.level == "district"]
    communes = [e.code for e in directory if e.organ.level == "commune"]
    pulling = sum(1 for e in directory if e.pull)
    print("docflow demo: liên thông văn bản 4 cấp through the LGSP, every packet signed")
    print(f"  {len(directory)} organs and {len(directory.hubs)} hubs, each with its own key; "
          f"{pulling} communes behind NAT pull from the hub; stores in {home}\n")

    # 1. The province's decision to every district and commune.
    decision = simulation.send(province, tuple(districts + communes), kind="decision",
                               subject="Quyết định phê duyệt Đề án Chính quyền điện tử")
    # 2. A letter sent by mistake to five communes (recalled below).
    mistake = simulation.send(province, tuple(communes[:5]), kind="letter",
                              subject="Công văn gửi nhầm (sẽ thu hồi)")
    simulation.settle(act=False)

    # Each office works on the decision; two districts reject it.
    for organ in districts + communes:
        node, ref = simulation.node(organ), _received(simulation, organ, decision.message_id)
        if organ in districts[:2]:
            node.reject(ref, "không đúng thẩm quyền")
            continue
        node.accept(ref)
        node.process(ref)
        if organ in communes:
            node.complete(ref)
    # The first commune finished the mistaken letter before the recall arrives.
    first = simulation.node(communes[0])
    for act in (first.accept, first.process, first.complete):
        act(_received(simulation, communes[0], mistake.message_id))
    simulation.node(province).recall(mistake.document_ref, "ban hành nhầm")
    simulation.settle(act=False)

    # 3. Communes report back to their districts; 4. a letter across provinces.
    reports = [simulation.send(commune, (directory.entry(commune).organ.parent or province,),
                               kind="report", subject="Báo cáo kết quả triển khai")
               for commune in communes[:6]]
    abroad = simulation.send(province, (OrganCode(OTHER_PROVINCE),), kind="letter",
                             subject="Công văn phối hợp liên tỉnh")
    simulation.settle(act=False)
    for sent in reports:
        (district,) = sent.recipients
        simulation.node(district).accept(_received(simulation, district, sent.message_id))
    simulation.settle(act=False)

    # The trace, as the senders see it.
    sender = simulation.node(province)
    print(f"{'document':<34} {'copies':>6}  sender's view of the copies")
    for label, sent in (("decision -> districts, communes", decision),
                        ("mistaken letter (recalled)", mistake),
                        ("letter to Đà Nẵng (via axis)", abroad)):
        deliveries = [d for d in sender.store.queries.deliveries(document_ref=sent.document_ref,
                                                                 page_size=1000).items
                      if d.kind == "document"]
        states = Counter(f"{d.business_state}" + (f"/recall {d.change_state}"
                                                  if d.change_state != ChangeState.NONE else "")
                         for d in deliveries)
        print(f"{label:<34} {len(deliveries):>6}  "
              + ", ".join(f"{n} {state}" for state, n in sorted(states.items())))
    report_states = Counter(
        d.business_state for sent in reports
        for d in simulation.node(sent.sender).store.queries.deliveries(
            document_ref=sent.document_ref).items if d.kind == "document")
    print(f"{'commune reports -> districts':<34} {len(reports):>6}  "
          + ", ".join(f"{n} {state}" for state, n in sorted(report_states.items())))
    da_nang = OrganCode(OTHER_PROVINCE)
    arrived = simulation.node(da_nang).trace(_received(simulation, da_nang, abroad.message_id))
    hops = " -> ".join([str(province), *(organ for organ, _ in arrived.hops), str(da_nang)])
    print(f"\nroute of the letter to Đà Nẵng (hub-signed trace hops): {hops}")
    rejected = [h.reason or "" for h in sender.store.queries.history(decision.document_ref)
                if h.to_state == IncomingState.REJECTED]
    print(f"rejection reasons recorded at the sender: {sorted(set(rejected))}")
    _signed_pdfs(simulation, province, districts[2:4])

    report = simulation.report(time.perf_counter() - started)
    simulation.close()
    print("\ninvariants (checked from every store):")
    print(f"  copies delivered exactly once: {report.copies - report.lost - report.duplicated}"
          f"/{report.copies} (lost {report.lost}, duplicated {report.duplicated})")
    print(f"  sender's view equals the receiver's state: "
          f"{'yes' if not report.diverged else f'NO ({report.diverged})'}")
    print(f"  received content equals what was signed: "
          f"{'yes' if not report.content_mismatches else 'NO'}")
    print(f"  audit chains intact: {'yes' if not report.audits_broken else 'NO'}")
    print(f"  packets pushed: {report.packets}")
    for problem in report.problems:
        print(f"  PROBLEM: {problem}")
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    if not report.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
