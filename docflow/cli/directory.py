"""``docflow directory sync``: a home's organ directory brought up to date from the
province's current file, with what changed said."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli, home_option
from docflow.cli._output import ExistingPath, emit, fail, json_option, say
from docflow.errors import ConfigError, DocflowError


@cli.group("directory")
def directory_group() -> None:
    """A home's organ directory (routes, hubs, endpoints)."""


@directory_group.command("sync")
@home_option
@click.option("--from", "source", type=ExistingPath(dir_okay=False), required=True,
              help="The current directory file (the province publishes one).")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@json_option
def sync(home: Path, source: Path, dry_run: bool, as_json: bool) -> None:
    """Replace the home's directory file with FILE, after checking it (it parses, and
    lists this home's organ or hub), saying what changed: organs and hubs added and
    removed, endpoints, hubs and pull modes changed. The file is replaced whole (written,
    then renamed); a running `docflow serve` reads it on its next start. A home made
    with `init --shared-directory` refers to a shared file: syncing one such home
    updates them all."""
    from docflow.config import load_config
    from docflow.routing import Directory

    try:
        config = load_config(home)
        if config.directory is None:
            raise ConfigError("this home names no directory", where=str(home / "node.toml"),
                              hint="set [node] directory, or init the home with --directory")
        new = Directory.from_toml(source)
        code = config.organ.code
        if code not in new.entries and code not in new.hubs:
            raise ConfigError(f"{source} does not list this home's organ {code}",
                              where=str(source), hint="is it the right province's file?")
        old = Directory.from_toml(config.directory) if config.directory.exists() else None
    except DocflowError as exc:
        fail(exc)
    changes = _changes(old, new)
    if not dry_run and changes:
        target = config.directory
        fd, scratch = tempfile.mkstemp(prefix=".directory-", suffix=".toml",
                                       dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(source.read_bytes())
        os.replace(scratch, target)

    def text() -> None:
        if not changes:
            say(f"{config.directory} is up to date")
            return
        for change in changes:
            say(f"  {change}")
        say(f"{len(changes)} change(s) " + ("would be written to" if dry_run else
                                             "written to") + f" {config.directory}"
            + ("" if dry_run else "; restart `docflow serve` to use them"))

    emit({"directory": str(config.directory), "changes": changes, "written":
          bool(changes) and not dry_run}, as_json, text)


def _changes(old: Any, new: Any) -> list[str]:
    """What differs between two directories, one line per organ or hub."""
    if old is None:
        return [f"new file: {len(new.entries)} organs, {len(new.hubs)} hubs"]
    lines = []
    for kind, before, after, fields in (
            ("organ", old.entries, new.entries, ("endpoint", "hub", "pull")),
            ("hub", old.hubs, new.hubs, ("endpoint", "upstream"))):
        for code in sorted(set(after) - set(before), key=str):
            lines.append(f"{kind} {code} added")
        for code in sorted(set(before) - set(after), key=str):
            lines.append(f"{kind} {code} removed")
        for code in sorted(set(before) & set(after), key=str):
            for field in fields:
                was, now = getattr(before[code], field), getattr(after[code], field)
                if was != now:
                    lines.append(f"{kind} {code}: {field} {was or '-'} -> {now or '-'}")
    return lines
