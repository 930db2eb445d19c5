"""``docflow lifecycle diagram``: the lifecycles as Mermaid or Graphviz."""

from __future__ import annotations

from pathlib import Path

import click

from docflow.cli._app import cli
from docflow.cli._output import ExistingPath, say


@cli.group()
def lifecycle() -> None:
    """Document and delivery state machines."""


@lifecycle.command("diagram")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True)
@click.option("--machine", multiple=True, help="Only these machines (default: all).",
              type=click.Choice(["outgoing", "transport", "delivery", "incoming", "change"]))
@click.option("--update-readme", type=ExistingPath(dir_okay=False),
              help="Rewrite the <!-- lifecycle:NAME --> blocks of this Markdown file.")
def lifecycle_diagram(fmt: str, machine: tuple[str, ...], update_readme: Path | None) -> None:
    """Print the state machines as Mermaid or Graphviz DOT text."""
    from docflow.lifecycle import LIFECYCLES, readme_with_diagrams

    if update_readme is not None:
        text = update_readme.read_text(encoding="utf-8")
        updated = readme_with_diagrams(text)
        if updated != text:
            update_readme.write_text(updated, encoding="utf-8")
        say(f"{update_readme}: diagrams {'updated' if updated != text else 'up to date'}")
        return
    for name in machine or tuple(LIFECYCLES):
        item = LIFECYCLES[name]
        click.echo(item.mermaid() if fmt == "mermaid" else item.dot())
