"""The request parameters every dialect reads alike (a packet's ``docId``, a page, a day),
parsed strictly: what comes from outside is an attacker's until read. Python's ``int``
takes ``"1_000"``, ``" 12 "`` and Arabic-Indic digits and has no upper bound (a 30-digit
id reached the database driver as an overflow, a 500); ``strptime`` takes year 1, year
9999 (one day short of an overflow) and Arabic-Indic digits. Each refusal is a :class:`RefusalError`
``BAD_REQUEST`` naming the parameter."""

from __future__ import annotations

import datetime as dt
import re

from docflow.emulators._queue import RefusalError

__all__ = ["count", "day", "doc_id"]

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
