"""Crash safety with real processes: every organ and hub of a small province is a
`docflow serve` process over SOAP on 127.0.0.1; processes (the province hub first, then
senders, hubs or receivers at random) are SIGKILLed mid-run and restarted, and, in the
second test, every request crosses a proxy that loses, duplicates, delays and tampers;
afterwards nothing is lost, nothing duplicated, every sender sees what its receivers
hold, every copy holds what was signed, and every audit chain verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docflow.errors import ConfigError
from docflow.harness import Faults, ProcessNetwork, quang_nam

SMALL = quang_nam(districts=2, communes=2, departments=1)


def test_kill_9_anywhere_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    network = ProcessNetwork(SMALL, tmp_path)
    kills: list[str] = []
    report = network.run(14, kills=5, seed=11, progress=kills.append)
    assert report.kills == 5 and kills[0] == "killed 000.00.90.H41"
    assert report.ok, report.problems
    assert report.delivered == report.copies >= 14
    assert report.network is None
    # The same names as the in-process report's JSON, and what reproduces the run
    # (issue 27, D13).
    data = json.loads(report.to_json())
    assert data["ok"] and data["seed"] == 11 and data["version"]
    assert {"wall_seconds", "content_mismatches", "lost", "duplicated", "diverged",
            "audits_broken"} <= set(data)
    assert "ok   copies delivered exactly once" in report.summary()


def test_a_faulty_network_between_processes(tmp_path: Path) -> None:
    faults = Faults.parse("drop=0.1,duplicate=0.1,delay=0.05,tamper=0.1")
    network = ProcessNetwork(SMALL, tmp_path, faults=faults)
    report = network.run(14, kills=2, seed=5)
    assert report.ok, (report.problems, report.network, report.wall_seconds)
    assert report.delivered == report.copies >= 14 and report.content_mismatches == 0
    stats = report.network
    assert stats is not None
    # Every kind of fault happened (this seed), and no tampered packet was taken.
    assert min(stats.dropped, stats.replies_lost, stats.duplicated, stats.delayed,
               stats.tampered_requests, stats.tampered_replies) > 0, stats
    assert stats.tampered_accepted == 0


def test_crashes_and_outages_are_kills_in_the_process_network(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="drop, duplicate, delay and tamper only"):
        ProcessNetwork(SMALL, tmp_path, faults=Faults(crash=0.1))
