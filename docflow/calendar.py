"""Vietnamese working days (ngày làm việc), which the văn thư rules of Nghị định 30/2020
count deadlines in: :class:`WorkingCalendar`.

The calendar is the ``holidays`` package's Vietnam (Tết, Hùng Kings' day, 30/4, 1/5,
2/9 and the day beside it, the government's swap days and make-up Saturdays), asked with
``is_working_day`` (a holiday on a weekend is listed on its own date: ``day in
holidays`` would call a Saturday holiday a day off twice and miss a make-up Saturday),
with a node's **overrides** on top, as data: each a date, off or working, and the
decision that says so, since new swap decisions come every year, after any release of
the package.

>>> import datetime as dt
>>> calendar = WorkingCalendar()
>>> calendar.add_working_days(dt.date(2026, 2, 13), 1)   # the Friday before Tết 2026
datetime.date(2026, 2, 23)
>>> calendar.working_days_between(dt.date(2026, 2, 13), dt.date(2026, 2, 23))
1
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import holidays

from docflow.errors import ConfigError

__all__ = ["DayKind", "Override", "WorkingCalendar"]

_MAX_SPAN = 36_600  # days a count may walk (a century): a bound, never a real deadline


class DayKind(enum.StrEnum):
    """What an override makes a day."""

    OFF = "off"  #: a day off (a swap, an extra holiday)
    WORKING = "working"  #: a working day (a make-up Saturday)


@dataclass(frozen=True)
class Override:
    """A day the government's (or the province's) decision makes off or working."""

    date: dt.date
    kind: DayKind
    #: the decision that says so, e.g. "Thông báo 6150/TB-BLĐTBXH"
    decision: str = ""


class WorkingCalendar:
    """Vietnam's working days (``holidays``' ``VN``) with ``overrides`` on top.

    ``is_working_day(day)``; ``add_working_days(day, n)``: the n-th working day after
    ``day`` (before it for a negative n; ``day`` itself, or the next working day, for
    0); ``working_days_between(a, b)``: how many working days lie in (a, b] (negative
    when b is before a), so that ``working_days_between(a, add_working_days(a, n)) ==
    n`` for every n >= 1.
    """

    def __init__(self, overrides: Iterable[Override] = (), *, subdivision: str | None = None):
        self._overrides: dict[dt.date, Override] = {}
        for override in overrides:
            known = self._overrides.get(override.date)
            if known is not None and known.kind != override.kind:
                raise ConfigError(
                    f"{override.date:%d/%m/%Y} is made both {known.kind} "
                    f"({known.decision or 'no decision named'}) and {override.kind} "
                    f"({override.decision or 'no decision named'})",
                    hint="keep the decision in force, remove the other")
            self._overrides[override.date] = override
        self._lock = threading.Lock()  # the package fills years in lazily
        self._holidays = holidays.country_holidays("VN", subdiv=subdivision)

    @property
    def overrides(self) -> tuple[Override, ...]:
        """The overrides, by date."""
        return tuple(self._overrides[day] for day in sorted(self._overrides))

    @classmethod
    def load(cls, path: Path) -> WorkingCalendar:
        """A calendar with the overrides of a TOML file: ``[[day]]`` tables of ``date``
        (a TOML date), ``kind`` ("off" or "working") and ``decision``."""
        where = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the calendar: {exc}", where=where) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", where=where) from exc
        days = data.get("day", [])
        if not isinstance(days, list):
            raise ConfigError("[[day]] must be an array of tables", where=where)
        overrides = []
        for index, table in enumerate(days, start=1):
            place = f"{where}: [[day]] {index}"
            if not isinstance(table, dict) or set(table) - {"date", "kind", "decision"}:
                raise ConfigError("a [[day]] holds date, kind and decision", where=place)
            day, kind = table.get("date"), table.get("kind")
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                raise ConfigError(f"date must be a date (2027-02-13), not {day!r}",
                                  where=place)
            if kind not in (DayKind.OFF, DayKind.WORKING):
                raise ConfigError(f'kind must be "off" or "working", not {kind!r}',
                                  where=place)
            overrides.append(Override(day, DayKind(kind), str(table.get("decision", ""))))
        return cls(overrides)

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day (an override first, then the package)."""
        override = self._overrides.get(day)
        if override is not None:
            return override.kind is DayKind.WORKING
        with self._lock:
            return bool(self._holidays.is_working_day(day))

    def reason(self, day: dt.date) -> str:
        """Why ``day`` is off or working, in words (for reports)."""
        override = self._overrides.get(day)
        if override is not None:
            return f"{override.kind} by {override.decision or 'an override'}"
        with self._lock:
            name = self._holidays.get(day)
            working = self._holidays.is_working_day(day)
        if name:
            return f"holiday: {name}"
        if working:
            return "a working day" + (" (a make-up day)" if day.weekday() >= 5 else "")
        return "a weekend day"

    def add_working_days(self, day: dt.date, count: int) -> dt.date:
        """The ``count``-th working day after ``day`` (before it when negative); for 0,
        ``day`` if it is a working day, else the next one."""
        step = 1 if count >= 0 else -1
        if count == 0:
            return day if self.is_working_day(day) else self.add_working_days(day, 1)
        left, current, walked = abs(count), day, 0
        while left:
            current += dt.timedelta(days=step)
            walked += 1
            if walked > _MAX_SPAN:
                raise ConfigError(f"no {abs(count)} working days within a century of "
                                  f"{day:%d/%m/%Y}", hint="check the calendar's overrides")
            if self.is_working_day(current):
                left -= 1
        return current

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """How many working days lie after ``start`` up to and including ``end``
        (negative, counted the same way back, when ``end`` is before ``start``)."""
        if end < start:
            return -self.working_days_between(end, start)
        if (end - start).days > _MAX_SPAN:
            raise ConfigError("a span of more than a century", where=f"{start}..{end}")
        return sum(1 for offset in range(1, (end - start).days + 1)
                   if self.is_working_day(start + dt.timedelta(days=offset)))
