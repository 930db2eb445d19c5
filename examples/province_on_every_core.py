"""A province simulated on every core: part of the Quảng Nam directory split over two
worker processes (each district with its communes in one process, the hubs' database
shared), every kind of fault, the invariants checked from every process's database; run
twice with the same seed, the two reports are equal (but for the wall-clock time).

Run: python examples/province_on_every_core.py
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from docflow.harness import Faults, PartitionedSimulation, SimulationConfig, quang_nam
from docflow.routing import Directory


def main() -> None:
    directory = Directory.from_toml_text(quang_nam(districts=3, communes=4, departments=3))
    config = SimulationConfig(
        documents=40, seed=2025, send_rounds=5,
        faults=Faults.parse("drop=0.05,duplicate=0.05,delay=0.02,tamper=0.02,crash=0.05,"
                            "hub_down=2,skew=30"))
    reports = []
    for _ in range(2):
        with tempfile.TemporaryDirectory(prefix="docflow-example-") as home:
            reports.append(PartitionedSimulation(directory, Path(home), config, 2).run())
    first, second = reports
    print(first.summary())
    assert first.ok, first.problems
    same = (dataclasses.replace(first, wall_seconds=0.0)
            == dataclasses.replace(second, wall_seconds=0.0))
    print("the same seed gave the same report:", same)
    assert same


if __name__ == "__main__":  # the workers are spawned: they import this file again
    main()
