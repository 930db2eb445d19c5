"""``docflow simulate``: a province's network with faults, in threads or processes; and
``docflow demo``, the 4-level demo."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli
from docflow.cli._output import ExistingPath, fail, note
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
@click.option("--mix", default="", callback=lambda _c, _p, value: _mix(value),
              help="The workload's shares, e.g. reject=0.2,recall=0.1,broadcast=0.01 "
                   "(defaults: reject 0.1, recall 0.03 of the documents sent, recalled or "
                   "replaced half and half, broadcast 0.005).")
@click.option("--reform", is_flag=True,
              help="The reform scenario: at half the send rounds every district closes into "
                   "the province and its communes move under it (the 2025 reform); the "
                   "report checks every document under a closed code is traced.")
@click.option("--reform-plan", "reform_plan", type=ExistingPath(dir_okay=False),
              help="The reform scenario with this re-parenting plan instead (see `docflow "
                   "directory migrate`); its effective date becomes the mid-run moment.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split the province over this many worker processes (organs by district; "
                   "the hubs' database shared, as an LGSP's processes share theirs); the same "
                   "--seed and --workers give the same report.")
def simulate(directory_file: Path | None, levels: str, documents: int, faults: str,
             seed: int, home: Path | None, report_file: Path | None, chart: Path | None,
             as_json: bool, processes: bool, kills: int, mix: str, reform: bool,
             reform_plan: Path | None, workers: int) -> None:
    """Run a whole province in one process (or --workers), with faults; check the
    invariants.

    Exit status 1 when an invariant does not hold. Progress goes to stderr: a bar on a
    terminal, a plain line every 10 % (and every 30 s) otherwise, as in CI.
    """
    import tempfile

    from docflow.harness import Faults, Simulation, SimulationConfig, quang_nam
    from docflow.harness.partition import PartitionedSimulation
    from docflow.harness.reorganisation import DISSOLVE_DISTRICTS
    from docflow.reform import ReformPlan
    from docflow.routing import Directory

    label = str(directory_file) if directory_file else f"Quảng Nam sample, {levels} levels"
    if processes:
        if chart is not None:
            raise click.UsageError("--chart draws the in-process run's latencies, which "
                                   "--processes does not measure")
        if mix:
            raise click.UsageError("--mix shapes the in-process run's workload; --processes "
                                   "sends letters only")
        if reform or reform_plan:
            raise click.UsageError("the reform scenario runs in one process; --processes "
                                   "does not reorganise its servers mid-run")
        if workers > 1:
            raise click.UsageError("--workers splits the in-process run; --processes runs "
                                   "every organ as its own server already")
        _simulate_processes(directory_file, levels, documents, seed, home, kills, as_json,
                            faults, report_file, label)
        return

    if workers > 1 and (reform or reform_plan):
        raise click.UsageError("the reform scenario runs in one process: leave out --workers")
    try:
        directory = (Directory.from_toml(directory_file) if directory_file
                     else Directory.from_toml_text(quang_nam(levels=int(levels))))
        plan = (ReformPlan.from_toml(reform_plan) if reform_plan
                else DISSOLVE_DISTRICTS if reform else None)
        config = SimulationConfig(documents=documents, faults=Faults.parse(faults),
                                  seed=seed, reform=plan).with_mix(mix)
        with tempfile.TemporaryDirectory(prefix="docflow-sim-") as scratch:
            title = f"{len(directory)} organs, {documents} documents" + (
                f", {workers} workers" if workers > 1 else "")
            with _Progress(title, documents) as progress:
                if workers > 1:
                    report = PartitionedSimulation(directory, home or Path(scratch), config,
                                                   workers).run(progress)
                else:
                    simulation = Simulation(directory, home or Path(scratch), config)
                    try:
                        report = simulation.run(progress)
                    finally:
                        simulation.close()
    except DocflowError as exc:
        fail(exc)
    report = dataclasses.replace(report, directory=label)
    if report_file:
        report_file.write_text(report.to_json(), encoding="utf-8")
    if chart:
        chart.write_text(report.svg(), encoding="utf-8")
    click.echo(report.to_json() if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


def _mix(value: str) -> str:
    """A --mix value checked before anything runs (a usage error, exit status 2)."""
    from docflow.harness import SimulationConfig

    try:
        SimulationConfig().with_mix(value)
    except DocflowError as exc:
        raise click.BadParameter(str(exc), param_hint="--mix") from exc
    return value


class _Progress:
    """How far a run is, on stderr: click's bar on a terminal; otherwise (CI, a pipe) a
    plain line every 10 % of the documents and at least every 30 s, so a long run is
    never silent."""

    def __init__(self, title: str, total: int):
        import time

        self.title, self.total, self._clock = title, max(1, total), time.monotonic
        self._bar: Any = None
        self._done = self._said_at_tenth = 0
        self._started = self._said = self._clock()

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty():
            self._bar = click.progressbar(length=self.total, label=self.title,
                                          file=sys.stderr).__enter__()
        else:
            note(f"{self.title}: starting")
        return self

    def __call__(self, sent: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(sent - self._done)
        else:
            tenth, now = sent * 10 // self.total, self._clock()
            if tenth > self._said_at_tenth or now - self._said >= 30:
                note(f"{self.title}: {sent}/{self.total} sent ({sent * 100 // self.total} %), "
                     f"{now - self._started:.0f} s")
                self._said_at_tenth, self._said = tenth, now
        self._done = sent

    def __exit__(self, *exc_info: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)
        else:
            note(f"{self.title}: all sent; settling and checking the invariants")


def _simulate_processes(directory_file: Path | None, levels: str, documents: int, seed: int,
                        home: Path | None, kills: int, as_json: bool, faults: str,
                        report_file: Path | None, label: str) -> None:
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
    report = dataclasses.replace(report, directory=label if directory_file
                                 else "Quảng Nam sample, 2 districts, 2 communes each")
    if report_file:
        report_file.write_text(report.to_json(), encoding="utf-8")
    click.echo(report.to_json() if as_json else report.summary())
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
