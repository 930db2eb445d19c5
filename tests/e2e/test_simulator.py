"""The province simulator at small size: clean runs on the 4- and 3-level directories, a
run with every kind of fault, the report's forms, and proof that its checks can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import create_engine, text

from docflow.errors import ConfigError
from docflow.harness import Faults, Simulation, SimulationConfig, quang_nam
from docflow.harness.directory import AXIS, OTHER_PROVINCE, PROVINCE_HUB
from docflow.routing import Directory


def small(levels: int = 4) -> Directory:
    return Directory.from_toml_text(quang_nam(levels=levels, districts=3, communes=4,
                                         departments=4))


def run(tmp_path: Path, config: SimulationConfig, levels: int = 4) -> Simulation:
    simulation = Simulation(small(levels), tmp_path, config)
    simulation.report = simulation.run()  # type: ignore[attr-defined]
    return simulation


def test_the_sample_directory_is_sized_like_quang_nam() -> None:
    directory = Directory.from_toml(Path("examples/quangnam.toml"))
    levels = [entry.organ.level for entry in directory]
    assert (levels.count("province"), levels.count("department"), levels.count("district"),
            levels.count("commune")) == (2, 20, 18, 244)
    assert {str(code) for code in directory.hubs} == {AXIS, PROVINCE_HUB, "000.00.90.H43"}
    assert directory.path("000.07.11.H41", OTHER_PROVINCE)[-2:] == [
        directory.hub("000.00.90.H43").code, directory.entry(OTHER_PROVINCE).code]
    assert Path("examples/quangnam.toml").read_text(encoding="utf-8") == quang_nam()
    three = Directory.from_toml_text(quang_nam(levels=3))
    assert {e.organ.level for e in three} == {"province", "department", "commune"}


@pytest.mark.parametrize("levels", [4, 3])
def test_a_clean_run_delivers_everything(tmp_path: Path, levels: int) -> None:
    simulation = run(tmp_path, SimulationConfig(documents=30, seed=7, send_rounds=4), levels)
    report = simulation.report  # type: ignore[attr-defined]
    simulation.close()
    assert report.ok, report.summary()
    assert report.documents == 30 and report.copies >= 30
    assert (report.lost, report.dead_lettered, report.retries) == (0, 0, 0)
    assert set(report.latency) <= {"province", "department", "district", "commune"}
    # the deadlines breached at the end, per level and kind (how many depends on the
    # pace of the simulated office: receivers act within rounds of simulated seconds)
    assert set(report.deadline_breaches) <= set(report.latency)
    assert all(set(kinds) <= {"register", "due", "return"}
               for kinds in report.deadline_breaches.values())
    assert json.loads(report.to_json())["deadline_breaches"] == report.deadline_breaches
    assert "deadlines   " in report.summary()


def test_a_run_with_every_fault_keeps_every_invariant(tmp_path: Path) -> None:
    faults = Faults.parse("drop=0.1,duplicate=0.1,delay=0.05,tamper=0.05,crash=0.2,"
                          "hub_down=3,skew=30")
    simulation = run(tmp_path, SimulationConfig(documents=60, seed=3, send_rounds=6,
                                                faults=faults))
    report = simulation.report  # type: ignore[attr-defined]
    simulation.close()
    assert report.ok, report.summary()
    assert report.tampered > 0 and report.tampered == report.tampered_rejected
    assert report.dropped and report.duplicates_sent and report.delayed
    assert report.crashes and report.hub_outages == 1 and report.retries > 0
    assert json.loads(report.to_json())["ok"] is True
    svg = etree.fromstring(report.svg().encode())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert "ALL INVARIANTS HOLD" in report.summary()


def test_the_checks_catch_a_receiver_that_disagrees(tmp_path: Path) -> None:
    simulation = run(tmp_path, SimulationConfig(documents=10, seed=5, send_rounds=2,
                                                reject_rate=0.0))
    assert simulation.report.ok  # type: ignore[attr-defined]
    receiver = simulation.sent[0].recipients[0]
    url = simulation.members[receiver].url
    simulation.close()
    engine = create_engine(url)
    with engine.begin() as conn:  # behind docflow's back
        conn.execute(text("UPDATE documents SET state = 'processing' WHERE direction = 'in' "
                          "AND organ = :o AND message_id = :m"),
                     {"o": str(receiver), "m": simulation.sent[0].message_id})
    engine.dispose()
    for member in simulation.members.values():
        simulation._start(member)
    report = simulation._report(1, 1.0)
    simulation.close()
    assert not report.ok
    assert report.diverged == 1 and report.audits_broken == ()
    assert "receiver is processing" in report.problems[0]


def test_bad_fault_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown fault 'explode'"):
        Faults.parse("explode=1")
    with pytest.raises(ConfigError, match="fault drop needs a value") as missing:
        Faults.parse("drop")  # issue 27, D30: the value is what is missing
    assert "drop=0.05" in (missing.value.hint or "")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        Faults.parse("drop=2")
    with pytest.raises(ConfigError, match="needs a number"):
        Faults.parse("drop=lots")


def test_documents_of_a_crashed_sender_go_out_later(tmp_path: Path) -> None:
    faults = Faults.parse("crash=0.9")
    simulation = run(tmp_path, SimulationConfig(documents=40, seed=9, send_rounds=4,
                                                faults=faults))
    report = simulation.report  # type: ignore[attr-defined]
    simulation.close()
    assert report.crashes > 0 and report.documents == 40, report.summary()
    assert report.ok, report.summary()


def test_a_reform_mid_run_loses_nothing_and_traces_every_document(tmp_path: Path) -> None:
    """Issue 30, part 7: at half the send rounds every district closes into the province
    (its communes move up) while packets are on their way, with every fault: nothing is
    lost, what was signed before arrives, what is sent after goes to the successor, and
    every document under a closed code is traced to an open organ and read back."""
    from docflow.harness.reorganisation import DISSOLVE_DISTRICTS

    faults = Faults.parse("drop=0.05,duplicate=0.05,delay=0.02,tamper=0.01,crash=0.05,"
                          "hub_down=3,skew=30")
    simulation = run(tmp_path, SimulationConfig(documents=120, seed=4, send_rounds=6,
                                                faults=faults, reform=DISSOLVE_DISTRICTS))
    report = simulation.report  # type: ignore[attr-defined]
    directory = simulation.directory
    simulation.close()
    assert report.ok, report.summary()
    reform = report.reform
    assert reform is not None and reform.at_round == 3 and reform.closed == 3
    assert reform.moved == 3 * 4  # every commune of the three districts
    assert reform.readdressed > 0 and reform.taken_over > 0
    assert reform.under_closed_codes > 0 and reform.untraceable == ()
    assert (report.lost, report.dead_lettered) == (0, 0)
    for entry in directory:
        if entry.organ.level == "district":
            assert entry.organ.closed is not None and entry.organ.successor is not None
    assert json.loads(report.to_json())["reform"]["untraceable"] == []
    assert "documents under closed codes traced" in report.summary()


def test_the_reform_check_catches_an_untraceable_document(tmp_path: Path) -> None:
    """The reform invariant can fail: a document whose sender's story no longer reads."""
    from docflow.harness.reorganisation import DISSOLVE_DISTRICTS

    simulation = run(tmp_path, SimulationConfig(documents=30, seed=4, send_rounds=4,
                                                reform=DISSOLVE_DISTRICTS))
    assert simulation.report.ok  # type: ignore[attr-defined]
    simulation._traced = lambda sent: False  # type: ignore[method-assign]
    report = simulation._report(1, 1.0)
    simulation.close()
    assert not report.ok and report.reform is not None
    assert len(report.reform.untraceable) == report.reform.under_closed_codes > 0


def test_a_reform_plan_the_directory_cannot_hold_is_refused_before_the_run(
        tmp_path: Path) -> None:
    from docflow.harness.reorganisation import DISSOLVE_DISTRICTS

    with pytest.raises(ConfigError, match="dissolves level 'district'"):
        Simulation(small(3), tmp_path, SimulationConfig(documents=5,
                                                        reform=DISSOLVE_DISTRICTS))
