"""Checks of what a caller hands the model's dataclasses, at construction: a wrong type
(a date written as a string, a number as an int, one organ where a tuple is expected)
is a :class:`~docflow.errors.ModelError` naming the field, what came and what to write,
instead of an AttributeError or an lxml TypeError when the packet is built later."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from docflow.errors import ModelError


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def require(owner: str, name: str, value: Any, kind: type | tuple[type, ...], *,
            example: str, optional: bool = False) -> None:
    """``value`` (``owner.name``) is a ``kind`` (or None when ``optional``), else a
    ModelError that shows ``example``, what to write instead."""
    if optional and value is None:
        return
    if isinstance(value, bool) and kind in (int, (int,)):
        ok = False  # True is an int to Python, not a number to a reader
    elif kind is dt.date:  # a datetime is a date too, and writes its day
        ok = isinstance(value, dt.date)
    else:
        ok = isinstance(value, kind)
    if not ok:
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(
            k.__name__ for k in kind)
        raise ModelError(f"{owner}.{name} must be a {expected}, not "
                         f"{type(value).__name__} {_shown(value)}",
                         where=f"{owner}.{name}", hint=f"write it as {example}")


def items(owner: str, name: str, value: Any, kind: type, *, example: str) -> tuple[Any, ...]:
    """``value`` (``owner.name``) as a tuple of ``kind``: a list or another iterable is
    taken, one bare ``kind`` (where a tuple of them belongs) or a string is refused."""
    if isinstance(value, (kind, str, bytes)) or not isinstance(value, Iterable):
        raise ModelError(f"{owner}.{name} must be a tuple of {kind.__name__}, not "
                         f"{type(value).__name__} {_shown(value)}",
                         where=f"{owner}.{name}", hint=f"write it as {example}")
    taken = tuple(value)
    for index, item in enumerate(taken):
        require(owner, f"{name}[{index}]", item, kind, example=example)
    return taken
