"""Crash safety with real processes: every organ and hub of a small province is a
`docflow serve` process over SOAP on 127.0.0.1; processes (the province hub first, then
senders, hubs or receivers at random) are SIGKILLed mid-run and restarted; afterwards
nothing is lost, nothing duplicated, every sender sees what its receivers hold, and every
audit chain verifies."""

from __future__ import annotations

from pathlib import Path

from docflow.harness import ProcessNetwork, quang_nam


def test_kill_9_anywhere_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    network = ProcessNetwork(quang_nam(districts=2, communes=2, departments=1), tmp_path)
    kills: list[str] = []
    report = network.run(14, kills=5, seed=11, progress=kills.append)
    assert report.kills == 5 and kills[0] == "killed 000.00.90.H41"
    assert report.ok, report.problems
    assert report.delivered == report.copies >= 14
