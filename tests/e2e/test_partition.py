"""The province simulator split over worker processes: how organs are partitioned, a run
with every fault checked from every process's database, the same seed giving the same
report, and a worker's death reported instead of waited on."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from docflow.errors import ConfigError
from docflow.harness import (
    Faults,
    PartitionedSimulation,
    Simulation,
    SimulationConfig,
    SimulationReport,
    quang_nam,
)
from docflow.harness.faults import keyed
from docflow.harness.partition import partition, workload_load
from docflow.harness.reorganisation import DISSOLVE_DISTRICTS
from docflow.harness.workload import plan_workload
from docflow.routing import Directory

EVERY_FAULT = Faults.parse("drop=0.05,duplicate=0.05,delay=0.03,tamper=0.02,crash=0.1,"
                           "hub_down=3,skew=30")


def small() -> Directory:
    return Directory.from_toml_text(quang_nam(districts=4, communes=4, departments=4))


def comparable(report: SimulationReport) -> dict[str, object]:
    """The report without the wall-clock time (the one figure a rerun changes)."""
    return dataclasses.asdict(dataclasses.replace(report, wall_seconds=0.0))


def test_a_district_stays_in_one_process_and_the_processes_are_balanced() -> None:
    directory = Directory.from_toml_text(quang_nam())
    owners = partition(directory, 2)
    assert set(owners) == {entry.code for entry in directory}  # hubs run everywhere
    for entry in directory:
        if entry.organ.level == "commune" and entry.organ.parent is not None \
                and directory.entry(entry.organ.parent).organ.level == "district":
            assert owners[entry.code] == owners[entry.organ.parent]
    sizes = [list(owners.values()).count(index) for index in range(2)]
    assert abs(sizes[0] - sizes[1]) <= 20, sizes
    assert partition(directory, 1) == dict.fromkeys(owners, 0)
    with pytest.raises(ConfigError, match="at least one process"):
        partition(directory, 0)
    # weighed by the workload: the province's broadcasts make it the heaviest organ, and
    # the processes come out even by load, not by the count of organs
    plans = plan_workload(directory, SimulationConfig(documents=3000, broadcast_rate=0.01),
                          keyed(1, "draw:workload"))
    load = workload_load(plans)
    weighted = partition(directory, 2, load)
    totals = [sum(max(1.0, load.get(code, 1.0)) for code, index in weighted.items()
                  if index == part) for part in range(2)]
    assert max(totals) / min(totals) < 1.1, totals
    province = max(load, key=lambda code: load[code])
    assert directory.entry(province).organ.level == "province"
    assert sum(1 for index in weighted.values() if index == weighted[province]) < len(
        weighted) / 2


def test_a_split_run_with_every_fault_holds_and_a_seed_replays_it(tmp_path: Path) -> None:
    config = SimulationConfig(documents=60, faults=EVERY_FAULT, seed=5, send_rounds=6)
    first = PartitionedSimulation(small(), tmp_path / "one", config, 2).run()
    assert first.ok, first.summary()
    assert (first.lost, first.duplicated, first.diverged, first.dead_lettered) == (0, 0, 0, 0)
    assert first.tampered and first.tampered_accepted == 0 and first.retries
    assert first.documents == 60 and not first.problems
    # every process's database holds organs' documents; the hubs' database the relayed
    held = {}
    for name in ("part-0.db", "part-1.db", "hubs.db"):
        with sqlite3.connect(tmp_path / "one" / name) as db:
            held[name] = db.execute("select count(*) from documents").fetchone()[0]
    assert all(held.values()), held
    again = PartitionedSimulation(small(), tmp_path / "two", config, 2).run()
    assert comparable(again) == comparable(first)
    # the workload is the single-process run's: the same documents to the same organs
    single = Simulation(small(), tmp_path / "single", config)
    try:
        alone = single.run()
    finally:
        single.close()
    assert alone.ok and (alone.documents, alone.copies) == (first.documents, first.copies)


def test_a_worker_that_dies_or_fails_is_reported_not_waited_on() -> None:
    parent, child = multiprocessing.Pipe()
    child.close()
    with pytest.raises(ConfigError, match="worker 0 died"):
        PartitionedSimulation._all([parent], None)
    parent, child = multiprocessing.Pipe()
    child.send(("error", "Traceback: boom"))
    with pytest.raises(ConfigError, match="worker 0 failed:\nTraceback: boom"):
        PartitionedSimulation._all([parent], None)


def test_the_reform_scenario_is_refused_split(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one process"):
        PartitionedSimulation(small(), tmp_path, SimulationConfig(reform=DISSOLVE_DISTRICTS), 2)


def test_the_cli_splits_a_run(tmp_path: Path) -> None:
    directory = tmp_path / "small.toml"
    directory.write_text(quang_nam(districts=3, communes=3, departments=3), encoding="utf-8")
    docflow = str(Path(sys.executable).with_name("docflow"))
    result = subprocess.run([docflow, "simulate", "--directory", str(directory), "--documents",
                             "20", "--workers", "2", "--json", "--faults",
                             "drop=0.05,duplicate=0.05"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["documents"] == 20
    assert "2 workers" in result.stderr  # the progress lines say how it runs
    refused = subprocess.run([docflow, "simulate", "--workers", "2", "--reform"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "one process" in refused.stderr
