"""``docflow deadlines``: the văn thư deadlines of a node's documents (Nghị định 30/2020),
met, open or breached."""

from __future__ import annotations

from pathlib import Path

import click

from docflow.cli._app import cli, home_option, opened
from docflow.cli._output import clip, emit, json_option, local_time, table


@cli.command()
@home_option
@click.option("--overdue", is_flag=True,
              help="Only the breached ones: met late, or still open after they ended.")
@json_option
def deadlines(home: Path, overdue: bool, as_json: bool) -> None:
    """The deadlines of this node's documents, by when they end: the receipt, the
    registration (the next working day; urgent ones at once), a return, the due date."""
    with opened(home, hub=True, signing=False) as node:
        found = node.store.deadlines.list(node.code, breached_only=overdue,
                                          now=node.clock())
        zone = node.zone
        rows = [{"document": d.document_ref, "code": d.code, "kind": d.kind,
                 "deadline": d.deadline.astimezone(zone).isoformat(),
                 "met_at": d.met_at.astimezone(zone).isoformat() if d.met_at else None,
                 "breached": d.breached} for d in found]
        emit(rows, as_json, lambda: table(
            ["document", "code", "kind", "deadline", "met", ""],
            [[d.document_ref, clip(d.code, 24), d.kind, local_time(d.deadline, zone),
              local_time(d.met_at, zone) if d.met_at else "-",
              "BREACHED" if d.breached else ""] for d in found]))
