"""``make demo``: liên thông văn bản 4 cấp through the province hub, on embedded SQLite.

The Quảng Nam directory (the provincial People's Committee, 20 departments, 18 districts,
their communes - three per district here, to finish in seconds - the province's LGSP hub,
the national axis) runs as nodes in one process: every organ has its own key, issued by a
demo province CA; every packet is signed, goes through the LGSP, which verifies it, signs
its trace hop and forwards it (or holds it for the communes behind NAT, which pull), and
every receipt and status comes back the same way. The province sends a decision to every
district and commune; some reject it; a mistaken letter is recalled; communes report back
to their districts; a letter goes to Đà Nẵng through the national axis. The demo prints a
compact trace and checks the invariants from the stores themselves.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from docflow.harness import Simulation, SimulationConfig, quang_nam
from docflow.harness.directory import OTHER_PROVINCE, PROVINCE
from docflow.lifecycle import ChangeState, IncomingState
from docflow.model import OrganCode
from docflow.routing import Directory


def _received(simulation: Simulation, organ: OrganCode, message_id: str) -> int:
    node = simulation.node(organ)
    (document,) = [d for d in node.inbox(page_size=1000).items if d.message_id == message_id]
    return document.id


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
