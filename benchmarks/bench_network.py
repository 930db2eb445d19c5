"""The Quảng Nam network end to end: documents per second through the whole province
(every organ and hub a node, every packet signed, verified, stored and acknowledged),
with faults next to without, in the same run; and the invariants of the faulty run. The
same runs split over worker processes (``docflow simulate --workers``, one per core,
at least 2) next to one process.

Size: ``DOCFLOW_BENCH_DOCUMENTS`` documents per run (default 500).
``DOCFLOW_BENCH_PROVINCE=10000`` adds the issue's goal run (10,000 documents with every
fault, split) next to the split run of the default size: how the rate holds as a run grows
(it takes tens of minutes here, so it is not in a plain ``make bench``). Faults: 5% drop,
5% duplicates, 1% tampering, 2% delays, node crashes, the province hub down for 5 rounds,
30 s of clock skew.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks._harness import Row, sized
from docflow.harness import (
    Faults,
    PartitionedSimulation,
    Simulation,
    SimulationConfig,
    SimulationReport,
    quang_nam,
)
from docflow.routing import Directory

FAULTS = "drop=0.05,duplicate=0.05,tamper=0.01,delay=0.02,crash=0.05,hub_down=5,skew=30"
NOTES: list[str] = []


def _config(documents: int, faults: str) -> SimulationConfig:
    return SimulationConfig(documents=documents, faults=Faults.parse(faults), seed=2018,
                            send_rounds=max(20, documents // 25))


def _split(documents: int, faults: str, workers: int) -> SimulationReport:
    directory = Directory.from_toml_text(quang_nam())
    with tempfile.TemporaryDirectory(prefix="docflow-bench-") as home:
        return PartitionedSimulation(directory, Path(home), _config(documents, faults),
                                     workers).run()


def _run(documents: int, faults: str) -> SimulationReport:
    directory = Directory.from_toml_text(quang_nam())
    with tempfile.TemporaryDirectory(prefix="docflow-bench-") as home:
        simulation = Simulation(directory, Path(home), _config(documents, faults))
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
    workers = max(2, min(os.cpu_count() or 2, 4))
    split_faulty = _split(documents, FAULTS, workers)
    split_clean = _split(documents, "", workers)
    rows = [
        Row("network", f"{documents} documents with faults, {workers} worker processes",
            split_faulty.documents_per_second, "one process, with faults",
            faulty.documents_per_second, unit="documents/s"),
        Row("network", f"{documents} documents with faults, {workers} worker processes",
            split_faulty.documents_per_second, f"no faults, {workers} worker processes",
            split_clean.documents_per_second, unit="documents/s", goal=0.8),
    ]
    large = int(os.environ.get("DOCFLOW_BENCH_PROVINCE", "0"))
    if large:
        grown = _split(large, FAULTS, workers)
        NOTES.append(f"network: the {large}-document run with every fault, {workers} worker "
                     f"processes: {grown.wall_seconds:.0f} s, {grown.rounds} rounds, "
                     f"{grown.packets} packets, "
                     f"{'ALL INVARIANTS HOLD' if grown.ok else 'INVARIANTS VIOLATED'}.")
        rows.append(Row("network", f"{large} documents with faults, {workers} worker processes",
                        grown.documents_per_second, f"{documents} documents, the same",
                        split_faulty.documents_per_second, unit="documents/s", goal=0.8))
    return [
        *rows,
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
