"""``docflow simulate``: a province's network with faults, in threads or processes; and
``docflow demo``, the 4-level demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from docflow.cli._app import cli
from docflow.cli._output import ExistingPath, fail, note, say
from docflow.errors import DocflowError


def _faults(value: str) -> str:
    """A --faults value checked before anything runs (a usage error, exit status 2)."""
    from docflow.harness import Faults

    try:
        Faults.parse(value)
    except DocflowError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from exc
    return value


@cli.command()
@click.option("--directory", "directory_file",
              type=ExistingPath(dir_okay=False),
              help="A directory TOML (default: the Quảng Nam sample).")
@click.option("--levels", type=click.Choice(["4", "3"]), default="4", show_default=True,
              help="The sample directory with or without the district level.")
@click.option("--documents", type=click.IntRange(min=0), default=200, show_default=True)
@click.option("--faults", default="", callback=lambda _c, _p, value: _faults(value),
              help="e.g. drop=0.05,duplicate=0.05,tamper=0.01,"
              "delay=0.02,crash=0.02,hub_down=5,skew=30")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="Where the stores go (default: a temporary folder, removed after).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report as JSON here.")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the latency chart (SVG) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--processes", is_flag=True,
              help="Run every organ and hub as a `docflow serve` process over SOAP instead "
                   "(use a small --directory), SIGKILLing --kills of them mid-run; "
                   "--faults drop/duplicate/delay/tamper then act on the real requests "
                   "through a proxy in front of each process.")
@click.option("--kills", type=click.IntRange(min=0), default=3, show_default=True)
def simulate(directory_file: Path | None, levels: str, documents: int, faults: str,
             seed: int, home: Path | None, report_file: Path | None, chart: Path | None,
             as_json: bool, processes: bool, kills: int) -> None:
    """Run a whole province in one process, with faults; check the invariants.

    Exit status 1 when an invariant does not hold.
    """
    import tempfile

    from docflow.harness import Faults, Simulation, SimulationConfig, quang_nam
    from docflow.routing import Directory

    if processes:
        _simulate_processes(directory_file, levels, documents, seed, home, kills, as_json,
                            faults)
        return

    try:
        directory = (Directory.from_toml(directory_file) if directory_file
                     else Directory.from_toml_text(quang_nam(levels=int(levels))))
        config = SimulationConfig(documents=documents, faults=Faults.parse(faults), seed=seed)
        with tempfile.TemporaryDirectory(prefix="docflow-sim-") as scratch:
            simulation = Simulation(directory, home or Path(scratch), config)
            label = f"{len(directory)} organs, {documents} documents"
            with click.progressbar(length=max(1, documents), label=label,
                                   file=sys.stderr) as bar:
                done = [0]

                def progress(sent: int, total: int) -> None:
                    bar.update(sent - done[0])
                    done[0] = sent

                try:
                    report = simulation.run(progress)
                finally:
                    simulation.close()
    except DocflowError as exc:
        fail(exc)
        return
    if report_file:
        report_file.write_text(report.to_json(), encoding="utf-8")
    if chart:
        chart.write_text(report.svg(), encoding="utf-8")
    click.echo(report.to_json() if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


def _simulate_processes(directory_file: Path | None, levels: str, documents: int, seed: int,
                        home: Path | None, kills: int, as_json: bool, faults: str) -> None:
    import dataclasses
    import tempfile

    from docflow.harness import Faults, ProcessNetwork, quang_nam

    text = (directory_file.read_text(encoding="utf-8") if directory_file
            else quang_nam(levels=int(levels), districts=2, communes=2, departments=1))
    try:
        with tempfile.TemporaryDirectory(prefix="docflow-proc-") as scratch:
            network = ProcessNetwork(text, home or Path(scratch), faults=Faults.parse(faults))
            report = network.run(documents, kills=kills, seed=seed,
                                 progress=note)
    except DocflowError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps({**dataclasses.asdict(report), "ok": report.ok}, indent=2))
    else:
        say(f"{'ALL INVARIANTS HOLD' if report.ok else 'INVARIANTS VIOLATED'}: "
                   f"{report.documents} documents, {report.copies} copies, {report.kills} "
                   f"processes killed with SIGKILL; delivered {report.delivered}, lost "
                   f"{report.lost}, duplicated {report.duplicated}, diverged "
                   f"{report.diverged}, content mismatches {report.mismatched}, audit chains "
                   f"{'intact' if not report.audits_broken else 'BROKEN'} "
                   f"({report.seconds:.0f} s)")
        if report.network is not None:
            n = report.network
            say(f"network: {n.requests} requests; dropped {n.dropped}, replies lost "
                       f"{n.replies_lost}, duplicated {n.duplicated}, delayed {n.delayed}, "
                       f"tampered {n.tampered_requests} requests (accepted "
                       f"{n.tampered_accepted}) and {n.tampered_replies} replies")
        for problem in report.problems[:10]:
            say(f"  problem: {problem}")
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.option("--keep", is_flag=True, help="Keep the stores afterwards (and say where).")
def demo(keep: bool) -> None:
    """The 4-level demo (`make demo`): the province's LGSP, every organ a node with its
    own key, on embedded SQLite; a decision to every district and commune, rejections, a
    recall, reports back, a letter to another province; the invariants checked from the
    stores. Exit status 1 if one does not hold."""
    from docflow.demo import main

    main(["--keep"] if keep else [])
