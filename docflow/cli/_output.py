"""How every command prints: tables, JSON, errors to exit statuses, a refused packet
explained."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from docflow.envelope import Envelope
from docflow.errors import DocflowError
from docflow.model import StatusInfo

#: a command function a decorator returns as it came
F = TypeVar("F", bound=Callable[..., Any])

# The exit statuses, the same for every command (the README's "Exit statuses").
#: a packet, file or value was refused; a check failed (validate, verify, audit verify)
EXIT_INVALID = 1
#: a missing or wrong option (click's own)
EXIT_USAGE = 2
#: no such document, delivery or file
EXIT_NOT_FOUND = 3
#: the document's state does not allow that act
EXIT_ILLEGAL_TRANSITION = 4
#: node.toml, a key, a certificate or an environment variable is wrong or missing
EXIT_CONFIG = 5
#: ``docflow serve`` could not bind its address (the port is in use or not allowed)
EXIT_CANNOT_LISTEN = 6
#: the database or a remote (peer, hub, axis) could not be reached
EXIT_UNAVAILABLE = 7
#: ``docflow conform``: accepted, with findings recorded
EXIT_FINDINGS = 10
#: ``docflow status`` / ``axis status``: it runs, but something needs an operator
EXIT_DEGRADED = 11


class MissingFileError(click.BadParameter):
    """A file or folder named on the command line that does not exist: exit status 3
    (not found), as the README's table says, not click's usage status 2."""

    exit_code = EXIT_NOT_FOUND


class ExistingPath(click.Path):
    """A path that must exist (``dir_okay``: a folder too), as a :class:`Path`."""

    def __init__(self, *, dir_okay: bool = True):
        super().__init__(exists=False, dir_okay=dir_okay, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Path:
        path = Path(os.fsdecode(super().convert(value, param, ctx)))
        if not os.path.exists(path):
            raise MissingFileError(f"{click.format_filename(value)!r} does not exist",
                                   ctx=ctx, param=param)
        return path


def exit_status(exc: DocflowError) -> int:
    """The exit status of a command that failed with ``exc``."""
    from docflow.errors import (
        ConfigError,
        CredentialsError,
        LifecycleError,
        NotFoundError,
        SchemaVersionError,
        StoreError,
        TransportError,
    )

    for kinds, status in (((NotFoundError,), EXIT_NOT_FOUND),
                          ((LifecycleError,), EXIT_ILLEGAL_TRANSITION),
                          ((ConfigError, CredentialsError, SchemaVersionError), EXIT_CONFIG),
                          ((StoreError, TransportError), EXIT_UNAVAILABLE)):
        if isinstance(exc, kinds):
            return status
    return EXIT_INVALID


#: control, format (bidirectional overrides, zero-width) and line-separator characters:
#: what could make outside text print a line of its own or look like another
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f"
                        "\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: object) -> str:
    """``text`` fit to print within one line: every control, format or line-separator
    character escaped (``\\n``, ``\\u202e``), the rest as it is (Vietnamese included).

    >>> one_line("Quyết định\\nsignature: verified")
    'Quyết định\\\\nsignature: verified'
    """
    return _INVISIBLE.sub(lambda m: _ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"), str(text))


def say(text: object = "", *, err: bool = False) -> None:
    """Print one line for a person. Every text line the CLI prints goes through here:
    outside text inside it (a subject, a name, a finding, a peer's error) stays on that
    line, so a subject holding a line break cannot print a forged ``signature:
    verified`` above the real verdict."""
    click.echo(one_line(text), err=err)


def fail(exc: DocflowError, *, code: int | None = None) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit with ``code`` (default: the
    status of its kind, :func:`exit_status`)."""
    say(f"error: {exc}", err=True)
    sys.exit(exit_status(exc) if code is None else code)


def quiet() -> bool:
    """Whether ``-q`` was given (no progress bars, no pass summaries)."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and isinstance(context.find_root().obj, dict)
                and context.find_root().obj.get("quiet"))


def note(message: str) -> None:
    """A line for the person watching, on stderr (not the result): silent under -q."""
    if not quiet():
        say(message, err=True)


def json_option(function: F) -> F:
    """The ``--json`` flag (``as_json``) of a command that prints a result."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as JSON.")(function)


def emit(data: Any, as_json: bool, text: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``text`` to print it for a person."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_value))
    else:
        text()


def _json_value(value: Any) -> Any:
    """What JSON output writes for a value JSON has no form for: times and dates in ISO
    8601 (``2026-12-05T21:19:18.691403+00:00``, with the ``T``, as ``status`` writes
    them), enums by their value, anything else as text."""
    import enum

    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def emit_checks(checks: Sequence[Any], as_json: bool, failed_status: int) -> None:
    """Print a list of checks (``name``, ``ok``, ``detail``): one line each, then ``ok``
    or how many failed; or with ``as_json``
    ``{"ok": bool, "checks": [{"name", "ok", "detail"}, ...]}``. Then exit 0 when all
    passed, ``failed_status`` when one did not."""
    ok = all(check.ok for check in checks)

    def text() -> None:
        for check in checks:
            say(str(check))
        failed = sum(not check.ok for check in checks)
        say("ok" if not failed else f"{failed} problem(s)")

    emit({"ok": ok, "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail}
                               for c in checks]}, as_json, text)
    sys.exit(0 if ok else failed_status)


def verdict_of(form: str) -> str:
    """What a signature form is worth before verification."""
    return {"xmldsig": "xmldsig (check it with docflow verify)",
            "official": "unverifiable (the official library's placeholder block)",
            "empty": "absent (an empty element)", "absent": "absent"}.get(form, form)


def packet_summary(packet: Envelope | StatusInfo) -> dict[str, Any]:
    if isinstance(packet, StatusInfo):
        return {
            "kind": "status",
            "status": f"{packet.code.value} {packet.code.name.lower()}",
            "from": str(packet.sender.code),
            "document_id": packet.response_for.document_id,
            "timestamp": packet.timestamp.isoformat(),
        }
    info = packet.info
    return {
        "kind": "document",
        "message_id": packet.message_id,
        "document_id": info.document_id,
        "code": info.code,
        "type": info.document_type.name,
        "subject": info.subject,
        "from": str(info.sender.code),
        "to": [str(organ.code) for organ in info.recipients],
        "business": info.business.doc_type.name.lower(),
        "attachments": [f"{att.name} ({len(att.data)} bytes)" for att in packet.attachments],
        "hops": [str(hop.organ_id) for hop in packet.trace],
    }


def local_time(when: dt.datetime, zone: dt.tzinfo) -> str:
    """``when`` as a person at the node reads it: its zone's wall clock and the offset
    (``2026-11-25 09:21:32 +07``); a naive value is taken as UTC."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    shown = aware.astimezone(zone)
    offset = shown.strftime("%z")
    return f"{shown:%Y-%m-%d %H:%M:%S} {offset[:3] if offset.endswith('00') else offset}"


def clip(text: str, width: int = 30) -> str:
    """``text`` cut to ``width`` characters, at a word where it can be, with an ellipsis
    (a table's cell)."""
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    at_word = cut.rsplit(" ", 1)[0] if " " in cut[width // 2:] else cut
    return at_word.rstrip(" ,.;:") + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as a plain table under ``headers``, columns padded to fit."""
    cells = [[one_line(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def echo_problem(file: Path, verdict: str, exc: DocflowError) -> None:
    """Print what was wrong with ``file``, where, and what to do, for a person."""
    say(f"{file}: {verdict} ({type(exc).__name__})")
    say(f"  what:  {exc.message}")
    if exc.where:
        say(f"  where: {exc.where}")
    if exc.hint:
        say(f"  hint:  {exc.hint}")


def explain_refusal(file: Path, exc: DocflowError, as_json: bool) -> None:
    """A packet that failed verification, as text or JSON."""
    emit({"file": str(file), "valid": False, "error": type(exc).__name__,
           "message": exc.message, "where": exc.where, "hint": exc.hint}, as_json,
         lambda: echo_problem(file, "NOT VERIFIED", exc))


def health_of(url: str, start_hint: str, *,
              as_json: bool = False) -> tuple[bool, dict[str, Any]]:
    """GET ``url`` (a ``/health`` probe): whether it said healthy, and its facts. When
    nothing answers with JSON, says so with ``start_hint`` (how to start what should be
    there; with ``as_json`` also ``{"status": "unreachable", ...}`` on stdout, what a
    monitor reads) and exits with EXIT_UNAVAILABLE."""
    import requests

    try:
        answer = requests.get(url, timeout=10)
        facts = answer.json()
        if not isinstance(facts, dict):
            raise ValueError("not a JSON object")
    except (requests.RequestException, ValueError) as exc:
        what = type(exc).__name__
        if as_json:
            click.echo(json.dumps({"status": "unreachable", "url": url, "error": what,
                                   "hint": start_hint}))
        say(f"error: nothing answers at {url}: {what} ({start_hint})", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    return answer.ok, facts


def health_exit(healthy: bool, facts: dict[str, Any]) -> int:
    """The exit status of a health probe: 0 ok, EXIT_DEGRADED when it runs but says
    ``degraded``, EXIT_UNAVAILABLE when unhealthy."""
    if not healthy:
        return EXIT_UNAVAILABLE
    return EXIT_DEGRADED if facts.get("status") == "degraded" else 0


def section(facts: Any, key: str) -> dict[str, Any]:
    """``facts[key]`` when it is an object, else empty: what a probe answered is read,
    not trusted (another program may hold the port)."""
    value = facts.get(key) if isinstance(facts, dict) else None
    return value if isinstance(value, dict) else {}

