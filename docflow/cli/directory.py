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
            ("organ", old.entries, new.entries, ("endpoint", "hub", "pull", "closed",
                                                 "successor", "parent")),
            ("hub", old.hubs, new.hubs, ("endpoint", "upstream"))):
        for code in sorted(set(after) - set(before), key=str):
            lines.append(f"{kind} {code} added")
        for code in sorted(set(before) - set(after), key=str):
            lines.append(f"{kind} {code} removed")
        for code in sorted(set(before) & set(after), key=str):
            for field in fields:
                was, now = _field(before[code], field), _field(after[code], field)
                if was != now:
                    lines.append(f"{kind} {code}: {field} {was or '-'} -> {now or '-'}")
    return lines


def _field(entry: Any, name: str) -> Any:
    """An entry's field, or its organ's (closed, successor, parent)."""
    return getattr(entry, name) if hasattr(entry, name) else getattr(entry.organ, name)


def directory_file(home: Path | None, directory: Path | None) -> Path:
    """The directory file a command works on: ``--directory``, else the home's."""
    from docflow.config import load_config

    if directory is not None:
        return directory
    home = home if home is not None else Path(os.environ.get("DOCFLOW_HOME", "."))
    config = load_config(home)
    if config.directory is None:
        raise ConfigError("this home names no directory", where=str(home / "node.toml"),
                          hint="give --directory FILE, or set [node] directory")
    return config.directory


@directory_group.command("migrate")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The node's home (its directory file is migrated).")
@click.option("--directory", "directory", type=ExistingPath(dir_okay=False), default=None,
              help="A directory file to migrate instead of a home's.")
@click.option("--plan", "plan_file", type=ExistingPath(dir_okay=False), required=True,
              help="The re-parenting plan (TOML: effective, dissolve, [[close]], [[move]], "
                   "[[rename]]).")
@click.option("--apply", "apply_it", is_flag=True,
              help="Write the new directory (the old file is kept beside it as .bak); "
                   "without it nothing is written.")
@json_option
def migrate(home: Path | None, directory: Path | None, plan_file: Path, apply_it: bool,
            as_json: bool) -> None:
    """Re-parent the directory by a plan (the 2025 reform: districts close, their
    communes move under the province, merged provinces close into the one that keeps
    its code), printing every change first. Closed organs stay, with their closing date
    and successor: documents under their codes stay readable and traceable. Run it
    without --apply to read the changes, then with it."""
    from docflow.reform import ReformPlan, apply_plan
    from docflow.routing import Directory

    try:
        target = directory_file(home, directory)
        before = Directory.from_toml(target)
        reform = apply_plan(before, ReformPlan.from_toml(plan_file))
    except DocflowError as exc:
        fail(exc)
    written = apply_it and bool(reform.changes)
    if written:
        backup = target.with_name(target.name + ".bak")
        backup.write_bytes(target.read_bytes())
        fd, scratch = tempfile.mkstemp(prefix=".directory-", suffix=".toml",
                                       dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(reform.text)
        os.replace(scratch, target)

    def text() -> None:
        for change in reform.changes:
            say(f"  {change}")
        if not reform.changes:
            say(f"{target}: the plan changes nothing")
        elif written:
            say(f"{len(reform.changes)} change(s) written to {target} (the old file: "
                f"{target.name}.bak); restart `docflow serve` to use them")
        else:
            say(f"{len(reform.changes)} change(s); nothing written (add --apply)")

    emit({"directory": str(target), "changes": [c.as_dict() for c in reform.changes],
          "written": written}, as_json, text)


@directory_group.command("organ")
@click.argument("code")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The node's home (its directory).")
@click.option("--directory", "directory", type=ExistingPath(dir_okay=False), default=None,
              help="A directory file instead of a home's.")
@json_option
def organ(code: str, home: Path | None, directory: Path | None, as_json: bool) -> None:
    """One organ as the directory knows it: its level and parent, whether it is open,
    and, for a closed one, the successors its work went to (the organ that answers for
    documents under its code)."""
    import datetime as dt

    from docflow.model import DEFAULT_TZ
    from docflow.routing import Directory

    try:
        found = Directory.from_toml(directory_file(home, directory))
        entry = found.entry(code)
    except DocflowError as exc:
        fail(exc)
    now = dt.datetime.now(dt.UTC)
    line = found.lineage(entry.code)
    answering = found.successor(entry.code, now)

    def day(at: dt.datetime | None) -> str | None:
        return None if at is None else at.astimezone(DEFAULT_TZ).date().isoformat()

    data = {"code": str(entry.code), "name": entry.organ.name, "level": entry.organ.level,
            "parent": None if entry.organ.parent is None else str(entry.organ.parent),
            "open": entry.organ.open_at(now), "established": day(entry.organ.established),
            "closed": day(entry.organ.closed),
            "lineage": [{"code": str(o.code), "name": o.name, "closed": day(o.closed)}
                        for o in line[1:]],
            "answering": None if answering is None else str(answering)}

    def text() -> None:
        state = "open" if data["open"] else (f"closed on {data['closed']}" if data["closed"]
                                             else f"established on {data['established']}")
        say(f"{entry.code}  {entry.organ.name} ({entry.organ.level}, under "
            f"{data['parent'] or '-'}): {state}")
        for organ in line[1:]:
            say(f"  -> {organ.code}  {organ.name}"
                + (f" (closed on {day(organ.closed)})" if organ.closed else ""))
        if not data["open"]:
            say(f"answers for it now: {answering or 'no open organ'}")

    emit(data, as_json, text)
