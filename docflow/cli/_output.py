"""How every command prints: tables, JSON, errors to exit codes, a refused packet
explained."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from docflow.envelope import Envelope
from docflow.errors import DocflowError
from docflow.model import StatusInfo

#: ``docflow serve`` could not bind its address (the port is in use or not allowed)
EXIT_CANNOT_LISTEN = 6


def fail(exc: DocflowError, *, code: int = 2) -> None:
    """Print ``exc`` as one line on stderr and exit with ``code`` (2 unless told)."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(code)


def json_option(function: Any) -> Any:
    """The ``--json`` flag (``as_json``) of a command that prints a result."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as JSON.")(function)


def emit(data: Any, as_json: bool, text: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``text`` to print it for a person."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        text()


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


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as a plain table under ``headers``, columns padded to fit."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def echo_problem(file: Path, verdict: str, exc: DocflowError) -> None:
    """Print what was wrong with ``file``, where, and what to do, for a person."""
    click.echo(f"{file}: {verdict} ({type(exc).__name__})")
    click.echo(f"  what:  {exc.message}")
    if exc.where:
        click.echo(f"  where: {exc.where}")
    if exc.hint:
        click.echo(f"  hint:  {exc.hint}")


def explain_refusal(file: Path, exc: DocflowError, as_json: bool) -> None:
    """A packet that failed verification, as text or JSON."""
    emit({"file": str(file), "valid": False, "error": type(exc).__name__,
           "message": exc.message, "where": exc.where, "hint": exc.hint}, as_json,
         lambda: echo_problem(file, "NOT VERIFIED", exc))
