"""What ``docflow send`` writes in a document's header: its options, a header file
(TOML or JSON, the same names), and nothing else: no sample data reaches a real send.

A header file holds any of the keys of :data:`HEADER_KEYS`; an option given on the
command line wins over the file. ``subject`` and ``signer`` are required (the edXML
schema needs a signer's full name); everything else has an empty default (normal
priority, no due date, no place, no content)."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from docflow.errors import ModelError
from docflow.model import (
    DOCUMENT_TYPES,
    DocumentInfo,
    OrganInfo,
    Priority,
    Signer,
)

__all__ = ["HEADER_KEYS", "PRIORITIES", "compose_info", "read_header_file"]

#: ``--priority`` names of the edXML priorities (độ khẩn); numbers 0-4 are taken too
PRIORITIES = {"normal": Priority.NORMAL, "urgent": Priority.URGENT,
              "very-urgent": Priority.VERY_URGENT, "flash": Priority.FLASH,
              "flash-timed": Priority.FLASH_TIMED}

#: the keys of a header file, each the name of a ``send`` option (``-`` written ``_``)
HEADER_KEYS = {
    "subject": "the subject (trích yếu)", "content": "the summary (nội dung)",
    "type": f"the document type: {', '.join(sorted(DOCUMENT_TYPES))}",
    "number": "the number (số)", "notation": "the notation (ký hiệu), e.g. QĐ-UBND",
    "date": "the issue date, YYYY-MM-DD (default: today in the node's zone)",
    "place": "the place of issue (địa danh)",
    "priority": f"the urgency: {', '.join(PRIORITIES)} (or 0-4)",
    "due": "the due date, YYYY-MM-DD (hạn xử lý)",
    "signer": "the signer's full name", "signer_position": "the signer's position (chức vụ)",
    "signer_competence": "the signing competence, e.g. KT. Chủ tịch (thẩm quyền ký)",
    "to_places": "the 'Nơi nhận' lines (a list; to_place, as the option, is taken too)",
}


def read_header_file(path: Path) -> dict[str, Any]:
    """The header fields of a ``.toml`` or ``.json`` file, checked key by key."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read the header file: {exc}", where=str(path)) from exc
    except (ValueError, tomllib.TOMLDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ModelError(f"the header file is not valid {path.suffix[1:].upper() or 'TOML'}: "
                         f"{exc}", where=str(path)) from exc
    if not isinstance(data, dict):
        raise ModelError("the header file must hold a table of fields", where=str(path))
    if "to_place" in data:  # the option is --to-place (one line each): either name is taken
        if "to_places" in data:
            raise ModelError("to_place and to_places are the same field: give one",
                             where=f"{path}: to_place")
        place = data.pop("to_place")
        data["to_places"] = [place] if isinstance(place, str) else place
    unknown = sorted(set(data) - set(HEADER_KEYS))
    if unknown:
        raise ModelError(f"unknown header field(s): {', '.join(unknown)}", where=str(path),
                         hint="the fields are: " + ", ".join(HEADER_KEYS))
    for key, value in data.items():
        wanted = list if key == "to_places" else str
        if key in ("number", "priority") and isinstance(value, int):
            value = data[key] = str(value)
        if key in ("date", "due") and isinstance(value, dt.date):  # a TOML date
            value = data[key] = value.isoformat()
        if not isinstance(value, wanted) or (
                wanted is list and not all(isinstance(item, str) for item in value)):
            raise ModelError(f"{key} must be {'a list of strings' if wanted is list else 'text'}",
                             where=f"{path}: {key}")
    return data


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)",
                                 param_hint=f"--{name}") from exc


def _priority(value: str) -> Priority:
    try:
        return Priority(int(value)) if value.isdigit() else PRIORITIES[value.lower()]
    except (KeyError, ValueError):
        raise click.BadParameter(f"{value!r} is not one of {', '.join(PRIORITIES)} or 0-4",
                                 param_hint="--priority") from None


def compose_info(fields: Mapping[str, Any], *, sender: OrganInfo,
                 recipients: Sequence[OrganInfo], today: dt.date,
                 number: str) -> DocumentInfo:
    """The header of a real document from ``fields`` (options over a header file; None
    or absent: not given). ``number`` is used when ``fields`` has none."""
    def text(key: str) -> str:
        value = fields.get(key)
        return "" if value is None else str(value).strip()

    for required, option in (("subject", "--subject"), ("signer", "--signer")):
        if not text(required):
            raise click.UsageError(f"{option} is required (or {required} in a --header file; "
                                   "--sample sends a sample document instead)")
    kind = text("type") or "letter"
    if kind not in DOCUMENT_TYPES:
        raise click.BadParameter(f"{kind!r} is not one of {', '.join(sorted(DOCUMENT_TYPES))}",
                                 param_hint="--type")
    return DocumentInfo(
        sender=sender, recipients=tuple(recipients),
        code_number=text("number") or number, code_notation=text("notation") or "VP",
        promulgation_place=text("place"),
        promulgation_date=_date(text("date"), "date") if text("date") else today,
        document_type=DOCUMENT_TYPES[kind], subject=text("subject"),
        signer=Signer(text("signer"), text("signer_position"), text("signer_competence")),
        content=text("content") or None,
        due_date=_date(text("due"), "due") if text("due") else None,
        to_places=tuple(str(place) for place in fields.get("to_places") or ()),
        priority=_priority(text("priority")) if text("priority") else Priority.NORMAL,
    )
