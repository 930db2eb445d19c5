"""Running a node day to day: ``organs``, ``config check``, ``retry-now``,
``deliver``, ``stuck``, ``attachments``."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli, home_option, opened
from docflow.cli._output import (
    EXIT_CONFIG,
    EXIT_UNAVAILABLE,
    ExistingPath,
    clip,
    emit,
    emit_checks,
    fail,
    json_option,
    note,
    say,
    table,
)
from docflow.errors import ConfigError, DocflowError, NotFoundError
from docflow.lifecycle import WAITING, TransportState


@cli.command()
@home_option
@click.option("--directory", "directory_file",
              type=ExistingPath(dir_okay=False),
              help="A directory file (default: the home's [node] directory).")
@click.option("--level", help="Only organs of this level (province, district, ...); "
              "`hub` for the hubs only.")
@json_option
def organs(home: Path, directory_file: Path | None, level: str | None, as_json: bool) -> None:
    """The organ directory: each organ's code, name, level, parent, hub and endpoint (a
    closed organ with its closing date and successor); and
    the hubs (level `hub`): the province's LGSP and the national axis, each with the hub
    above it (as its parent) and its endpoint."""
    from docflow.cli.directory import directory_file as named_file
    from docflow.routing import Directory

    try:
        directory_file = named_file(home, directory_file)
        directory = Directory.from_toml(directory_file)
    except DocflowError as exc:
        fail(exc)
    entries = [entry for entry in directory if level is None or entry.organ.level == level]
    hubs = [hub for hub in directory.hubs.values() if level in (None, "hub")]
    if level is not None and not entries and not hubs:
        levels = sorted({entry.organ.level for entry in directory}
                        | ({"hub"} if directory.hubs else set()))
        fail(NotFoundError(f"no organ of level {level!r}", where=str(directory_file),
                           hint=f"the levels there: {', '.join(levels)}"))
    rows: list[dict[str, Any]] = [
        {"code": str(e.organ.code), "name": e.organ.name, "level": e.organ.level,
         "parent": str(e.organ.parent or ""), "hub": str(e.hub or ""),
         "endpoint": e.endpoint or "", "pull": e.pull,
         "closed": None if e.organ.closed is None else e.organ.closed.date().isoformat(),
         "successor": None if e.organ.successor is None else str(e.organ.successor)}
        for e in entries]
    rows += [{"code": str(h.code), "name": h.name, "level": "hub",
              "parent": str(h.upstream or ""), "hub": "", "endpoint": h.endpoint or "",
              "pull": False} for h in hubs]
    emit(rows, as_json, lambda: table(
        ["code", "name", "level", "parent", "hub", "endpoint"],
        [[r["code"], r["name"] + (f" (closed {r['closed']} -> {r['successor'] or '-'})"
                                  if r.get("closed") else ""),
          r["level"], r["parent"] or "-", r["hub"] or "-",
          (r["endpoint"] or "-") + (" (pulls)" if r["pull"] else "")] for r in rows]))


@cli.group("config")
def config_group() -> None:
    """A node home's node.toml."""


@config_group.command("check")
@home_option
@json_option
def config_check(home: Path, as_json: bool) -> None:
    """Check every setting of the home: the file parses, the key, certificate, trust
    folder and directory are readable, the database opens, the environment variables
    named are set. One line each; exit status 5 when one fails."""
    from docflow.bootstrap import check_config

    emit_checks(check_config(home), as_json, EXIT_CONFIG)


@cli.command("retry-now")
@home_option
@click.option("--to", "recipients", help="Only deliveries to these organs (comma-separated).")
@click.option("--deliver/--no-deliver", default=True, show_default=True,
              help="Run one outbox pass now.")
@json_option
def retry_now(home: Path, recipients: str | None, deliver: bool, as_json: bool) -> None:
    """Make the deliveries waiting out a retry backoff due now (the peer is back), then
    run one outbox pass (on a node or a hub)."""
    from docflow.model import organ_codes

    with opened(home, hub=True) as node:
        only = [str(code) for code in organ_codes(recipients.split(","))] if recipients \
            else None
        ids = node.store.outbox.retry_now(recipients=only)
        report = node.deliver() if deliver else None
        moved = None if report is None else report.delivered
        emit({"due_now": ids, "delivered": moved,
              "failed": report.failed if report else None}, as_json,
             lambda: say(f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} due now"))
        if report is not None:
            note(f"delivered {moved}, failed {report.failed}")


@cli.command()
@home_option
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="At most this many deliveries in the pass.")
@json_option
def deliver(home: Path, limit: int, as_json: bool) -> None:
    """Run one outbox pass now (a node or hub that is not served: after `send
    --no-deliver`, or to push what waits without starting `serve`). Deliveries waiting
    out a retry backoff wait on (`retry-now` makes them due). Exit 7 when an attempt
    failed."""
    with opened(home, hub=True) as node:
        report = node.deliver(limit=limit)
        moved = report.delivered
        facts = {"delivered": moved, "failed": report.failed, "errors": list(report.errors)}

        def text() -> None:
            say(f"delivered {moved}, failed {report.failed}")
            for error in report.errors:
                say(f"  {error}")

        emit(facts, as_json, text)
        if report.failed:
            sys.exit(EXIT_UNAVAILABLE)


@cli.command()
@home_option
@click.option("--to", "recipients", help="Only deliveries to these organs (comma-separated).")
@json_option
def stuck(home: Path, recipients: str | None, as_json: bool) -> None:
    """What has not gone through: every delivery still on its way (queued, sending,
    retrying, handed over and waiting for its receipt), documents and status packets
    alike, with its attempts, when it is tried next and its last error; oldest first.
    Dead letters: `docflow deadletters`."""
    from docflow.cli._output import local_time
    from docflow.model import organ_codes

    with opened(home, hub=True, signing=False) as node:
        only = [str(code) for code in organ_codes(recipients.split(","))] if recipients \
            else None
        page = node.store.queries.deliveries(
            organ=str(node.code), recipient=only, page_size=1000,
            transport_state=(*WAITING, TransportState.AWAITING_RECEIPT))
        items = sorted(page.items, key=lambda d: (d.next_attempt_at, d.id))
        rows = [{"delivery": d.id, "document": d.document_ref, "kind": d.kind,
                 "to": d.recipient, "state": d.transport_state, "attempts": d.attempts,
                 "next_attempt_at": d.next_attempt_at.isoformat(),
                 "last_error": d.last_error} for d in items]

        def text() -> None:
            if not rows:
                say("nothing is stuck: every delivery went through or is a dead letter")
                return
            table(["delivery", "doc", "kind", "to", "state", "attempts", "next attempt",
                   "last error"],
                  [[d.id, d.document_ref, d.kind, d.recipient, d.transport_state, d.attempts,
                    local_time(d.next_attempt_at, node.zone), clip(d.last_error or "-", 60)]
                   for d in items])

        emit(rows, as_json, text)


#: what a received file name may keep: letters (any script), digits, . _ - and spaces
_UNSAFE = re.compile(r"[^\w.\- ]+")


class FileNames:
    """Safe, unique file names for the attachments a sender named, in one folder whose
    names are at most ``limit`` bytes (UTF-8) long."""

    def __init__(self, limit: int = 255):
        self.limit = limit
        self._taken: set[str] = set()
        self._next: dict[str, int] = {}  # per base name: the next number to try

    def __call__(self, name: str) -> str:
        """A name for ``name``: its last path part, without separators, control
        characters or a leading dot, shortened to the limit (keeping the extension),
        unique here (``report-2.pdf`` after ``report.pdf``)."""
        base = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
        stem, dot, suffix = (base or "file").rpartition(".")
        stem, suffix = (stem, f".{suffix}") if dot and stem else (base or "file", "")
        if len(suffix.encode()) > 16:  # not an extension: part of the name
            stem, suffix = stem + suffix, ""
        candidate = self._fit(stem, suffix, "")
        key = candidate.lower()
        n = self._next.get(key, 1)
        while candidate.lower() in self._taken:
            n += 1
            candidate = self._fit(stem, suffix, f"-{n}")
        self._next[key] = n
        self._taken.add(candidate.lower())
        return candidate

    def _fit(self, stem: str, suffix: str, number: str) -> str:
        room = self.limit - len((number + suffix).encode())
        cut = stem.encode()[:max(room, 1)].decode("utf-8", "ignore").rstrip(" .")
        return f"{cut or 'file'}{number}{suffix}"


def _name_limit(folder: Path) -> int:
    """The longest file name the folder's file system takes, in bytes (255 by default)."""
    try:
        return min(int(os.pathconf(folder, "PC_NAME_MAX")), 255)
    except (OSError, ValueError, AttributeError):
        return 255


def write_private(folder: Path, name: str, data: bytes, *, replace: bool) -> Path:
    """Write ``data`` as ``folder/name`` without following a link planted in the folder:
    into a new private file (``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 0600, a random name),
    then renamed over the target, which replaces a link rather than writing through it.
    Without ``replace`` an existing entry (a link included) is left and refused."""
    target = folder / name
    if not replace and os.path.lexists(target):
        raise ConfigError(f"{target} exists already", where=str(folder),
                          hint="pass --force to replace it")
    handle, scratch = tempfile.mkstemp(dir=folder, prefix=".docflow-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        if replace:
            os.replace(scratch, target)
        else:
            os.link(scratch, target)  # fails if the name appeared meanwhile
            os.unlink(scratch)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise
    return target


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
        out.mkdir(parents=True, exist_ok=True)
        names = FileNames(_name_limit(out))
        plan = [(attachment, names(attachment.name)) for attachment in envelope.attachments]
        existing = [str(out / name) for _, name in plan if os.path.lexists(out / name)]
        if existing and not force:
            raise ConfigError(f"{', '.join(existing)} exist(s) already", where=str(out),
                              hint="nothing was written; pass --force to replace them")
        written: list[dict[str, Any]] = []
        for attachment, name in plan:
            try:
                path = write_private(out, name, attachment.data, replace=force)
            except OSError as exc:
                raise ConfigError(f"cannot write {name}: {exc.strerror}", where=str(out),
                                  hint="check the folder's space and permissions") from exc
            written.append({"name": attachment.name, "file": str(path),
                            "bytes": len(attachment.data),
                            "content_type": attachment.content_type})

        def text() -> None:
            for item in written:
                say(f"{item['file']} ({item['bytes']} bytes)")
            if not written:
                note(f"document {document} has no attachments")

        emit(written, as_json, text)
