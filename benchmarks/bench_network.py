"""The Quảng Nam network end to end: documents per second through the whole province
(every organ and hub a node, every packet signed, verified, stored and acknowledged),
with faults next to without, in the same run; and the invariants of the faulty run.

Size: ``DOCFLOW_BENCH_DOCUMENTS`` documents per run (default 500; the issue's goal
run is 10,000). Faults: 5% drop, 5% duplicates, 1% tampering, 2% delays, node crashes,
the province hub down for 5 rounds, 30 s of clock skew.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks._harness import Row, sized
from docflow.harness import Faults, Simulation, SimulationConfig, SimulationReport, quang_nam
from docflow.routing import Directory

FAULTS = "drop=0.05,duplicate=0.05,tamper=0.01,delay=0.02,crash=0.05,hub_down=5,skew=30"
NOTES: list[str] = []


def _run(documents: int, faults: str) -> SimulationReport:
    directory = Directory.from_toml_text(quang_nam())
    with tempfile.TemporaryDirectory(prefix="docflow-bench-") as home:
        simulation = Simulation(directory, Path(home), SimulationConfig(
            documents=documents, faults=Faults.parse(faults), seed=2018,
            send_rounds=max(20, documents // 25)))
        try:
            return simulation.run()
        finally:
            simulation.close()


def run() -> list[Row]:
    documents = int(os.environ.get("DOCFLOW_BENCH_DOCUMENTS", sized(500, 20)))
    clean = _run(documents, "")
    faulty = _run(documents, FAULTS)
    small = _run(max(4, documents // 5), "")  # the cost per document as a run grows
    NOTES.append(
        f"network: Quảng Nam directory ({faulty.organs} organs, {faulty.hubs} hubs), "
        f"{faulty.documents} documents ({faulty.copies} copies, {faulty.packets} packets) "
        f"with {FAULTS}: lost {faulty.lost}, duplicated {faulty.duplicated}, dead-lettered "
        f"{faulty.dead_lettered}, diverged {faulty.diverged}, tampered "
        f"{faulty.tampered}/{faulty.tampered_rejected} rejected/{faulty.tampered_accepted} "
        f"accepted, crashes {faulty.crashes}, retries {faulty.retries}, audit chains "
        f"{'intact' if not faulty.audits_broken else 'BROKEN'}: "
        f"{'ALL INVARIANTS HOLD' if faulty.ok else 'INVARIANTS VIOLATED'}; "
        + ", ".join(f"{level} p50/p95/p99 {lat.p50:.0f}/{lat.p95:.0f}/{lat.p99:.0f} s"
                    for level, lat in faulty.latency.items())
        + " (simulated time).")
    return [
        Row("network", f"{documents} documents through the province, with faults",
            faulty.documents_per_second, "no faults", clean.documents_per_second,
            unit="documents/s", goal=0.8),
        Row("network", f"{documents} documents through the province, no faults",
            clean.documents_per_second, f"{small.documents} documents, no faults",
            small.documents_per_second, unit="documents/s", goal=0.8),
        Row("network", f"{documents} documents through the province, copies",
            faulty.copies / faulty.wall_seconds, "no faults",
            clean.copies / clean.wall_seconds, unit="copies/s"),
    ]
