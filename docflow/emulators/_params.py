"""The request parameters every dialect reads alike (a packet's ``docId``, a page, a day),
parsed strictly: what comes from outside is an attacker's until read. Python's ``int``
takes ``"1_000"``, ``" 12 "`` and Arabic-Indic digits and has no upper bound (a 30-digit
id reached the database driver as an overflow, a 500); ``strptime`` takes year 1, year
9999 (one day short of an overflow) and Arabic-Indic digits. Each refusal is a :class:`RefusalError`
``BAD_REQUEST`` naming the parameter."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from docflow.emulators._queue import RefusalError

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "count", "day", "doc_id", "json_object"]

#: a JSON request body is at most this long (a registration or a status is ~200 bytes)
MAX_JSON_BYTES = 64 * 1024
#: and nested at most this deep (the platforms' bodies are flat objects)
MAX_JSON_DEPTH = 8

_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only; 18 digits fit a 64-bit row id
_YEARS = range(1900, 9000)


def doc_id(value: object, name: str = "docId") -> int:
    """A packet's id at the platform: 1 to 18 ASCII digits (a JSON number too)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        raise RefusalError("BAD_REQUEST", f"{name} must be a number (1 to 18 digits)")
    return int(text)


def count(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    """A page index or size: ASCII digits, clamped to ``low..high`` (absent: ``default``)."""
    if value is None or value == "":
        return default
    if not _DIGITS.fullmatch(value):
        raise RefusalError("BAD_REQUEST", f"{name} must be a number")
    return max(low, min(high, int(value)))


def day(value: str | None, fmt: str, tz: dt.tzinfo, name: str) -> dt.datetime | None:
    """A day in ``fmt`` (``%Y/%m/%d``...) at midnight in ``tz``; years 1900 to 8999."""
    if not value:
        return None
    if not value.isascii():  # strptime reads Arabic-Indic digits as a year
        raise RefusalError("BAD_REQUEST", f"{name} is not a date as {fmt}")
    try:
        parsed = dt.datetime.strptime(value, fmt)
    except ValueError as exc:
        raise RefusalError("BAD_REQUEST", f"{name} is not a date as {fmt}") from exc
    if parsed.year not in _YEARS:
        raise RefusalError("BAD_REQUEST", f"{name}: a year between 1900 and 8999")
    return parsed.replace(tzinfo=tz)


def json_object(data: bytes, what: str = "the body", *, max_bytes: int = MAX_JSON_BYTES,
                max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """A JSON object from outside: at most ``max_bytes`` long and ``max_depth`` deep,
    every text (keys too) Unicode that encodes (no lone surrogates such as ``"\\ud800"``,
    which Python decodes and no database driver stores). Anything else is a
    ``BAD_REQUEST`` naming what was wrong, never a 500: 100,000 nested arrays raise
    RecursionError out of ``json.loads``, caught here, and the depth is checked on the
    parsed value without recursion."""
    if len(data) > max_bytes:
        raise RefusalError("BAD_REQUEST", f"{what} is longer than {max_bytes} bytes", 413)
    try:
        parsed = json.loads(data or b"{}")
    except (ValueError, RecursionError) as exc:
        raise RefusalError("BAD_REQUEST", f"{what} is not JSON") from exc
    if not isinstance(parsed, dict):
        raise RefusalError("BAD_REQUEST", f"{what} is not a JSON object")
    pending: list[tuple[Any, int]] = [(parsed, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > max_depth:
            raise RefusalError("BAD_REQUEST", f"{what} is nested deeper than {max_depth}")
        if isinstance(value, dict):
            for key, item in value.items():
                _text(key, what)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _text(value, what)
    return parsed


def _text(value: str, what: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RefusalError("BAD_REQUEST", f"{what} holds a lone surrogate "
                               "(\\ud800-\\udfff): not Unicode text") from exc
