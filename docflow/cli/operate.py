"""Running a node day to day: ``organs``, ``config check``, ``retry-now``,
``attachments``."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli, home_option, opened
from docflow.cli._output import EXIT_CONFIG, emit, fail, json_option, note, table
from docflow.errors import ConfigError, DocflowError, NotFoundError


@cli.command()
@home_option
@click.option("--directory", "directory_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A directory file (default: the home's [node] directory).")
@click.option("--level", help="Only organs of this level (province, district, ...).")
@json_option
def organs(home: Path, directory_file: Path | None, level: str | None, as_json: bool) -> None:
    """The organ directory: each organ's code, name, level, parent, hub and endpoint."""
    from docflow.config import load_config
    from docflow.routing import Directory

    try:
        if directory_file is None:
            config = load_config(home)
            if config.directory is None:
                raise ConfigError("this home names no directory",
                                  where=str(home / "node.toml"),
                                  hint="give --directory FILE, or set [node] directory")
            directory_file = config.directory
        directory = Directory.from_toml(directory_file)
    except DocflowError as exc:
        fail(exc)
        return
    entries = [entry for entry in directory if level is None or entry.organ.level == level]
    if level is not None and not entries:
        levels = sorted({entry.organ.level for entry in directory})
        fail(NotFoundError(f"no organ of level {level!r}", where=str(directory_file),
                           hint=f"the levels there: {', '.join(levels)}"))
    rows: list[dict[str, Any]] = [
        {"code": str(e.organ.code), "name": e.organ.name, "level": e.organ.level,
         "parent": str(e.organ.parent or ""), "hub": str(e.hub or ""),
         "endpoint": e.endpoint or "", "pull": e.pull} for e in entries]
    emit(rows, as_json, lambda: table(
        ["code", "name", "level", "parent", "hub", "endpoint"],
        [[r["code"], r["name"], r["level"], r["parent"] or "-", r["hub"] or "-",
          (r["endpoint"] or "-") + (" (pulls)" if r["pull"] else "")] for r in rows]))


@cli.group("config")
def config_group() -> None:
    """A node home's node.toml."""


@config_group.command("check")
@home_option
def config_check(home: Path) -> None:
    """Check every setting of the home: the file parses, the key, certificate, trust
    folder and directory are readable, the database opens, the environment variables
    named are set. One line each; exit status 5 when one fails."""
    from docflow.config import check_config

    checks = check_config(home)
    for check in checks:
        click.echo(str(check))
    sys.exit(0 if all(check.ok for check in checks) else EXIT_CONFIG)


@cli.command("retry-now")
@home_option
@click.option("--to", "recipients", help="Only deliveries to these organs (comma-separated).")
@click.option("--deliver/--no-deliver", default=True, show_default=True,
              help="Run one outbox pass now.")
@json_option
def retry_now(home: Path, recipients: str | None, deliver: bool, as_json: bool) -> None:
    """Make the deliveries waiting out a retry backoff due now (the peer is back)."""
    from docflow.model import organ_codes

    with opened(home) as node:
        only = [str(code) for code in organ_codes(recipients.split(","))] if recipients \
            else None
        ids = node.store.outbox.retry_now(recipients=only)
        report = node.deliver() if deliver and ids else None
        emit({"due_now": ids, "delivered": report.delivered if report else None,
              "failed": report.failed if report else None}, as_json,
             lambda: click.echo(f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} "
                                "due now"))
        if report is not None:
            note(f"delivered {report.delivered}, failed {report.failed}")


#: what a received file name may keep: letters (any script), digits, . _ - and spaces
_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_name(name: str, taken: set[str]) -> str:
    """A file name for an attachment a sender named: its last path part, without
    separators, control characters or a leading dot, unique among ``taken``."""
    base = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .") or "file"
    stem, dot, suffix = base.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot and stem else (base, "")
    candidate, n = base, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate.lower())
    return candidate


@cli.command()
@home_option
@click.argument("document", type=int)
@click.option("-o", "--out", "out", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write the files to (created if missing).")
@click.option("--force", is_flag=True, help="Replace files that exist there.")
@json_option
def attachments(home: Path, document: int, out: Path, force: bool, as_json: bool) -> None:
    """Write a document's attached files (from the stored packet) to a folder; names
    come from the sender and are made safe (no paths, no hidden files)."""
    with opened(home, signing=False) as node:
        envelope = node.stored(document)
        taken: set[str] = set()
        plan = [(attachment, out / safe_name(attachment.name, taken))
                for attachment in envelope.attachments]
        existing = [str(path) for _, path in plan if path.exists()]
        if existing and not force:
            raise ConfigError(f"{', '.join(existing)} exist(s) already", where=str(out),
                              hint="nothing was written; pass --force to replace them")
        out.mkdir(parents=True, exist_ok=True)
        written: list[dict[str, Any]] = []
        for attachment, path in plan:
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(attachment.data)
            partial.replace(path)
            written.append({"name": attachment.name, "file": str(path),
                            "bytes": len(attachment.data),
                            "content_type": attachment.content_type})

        def text() -> None:
            for item in written:
                click.echo(f"{item['file']} ({item['bytes']} bytes)")
            if not written:
                note(f"document {document} has no attachments")

        emit(written, as_json, text)
