"""``docflow calendar``: the working days deadlines are counted in (Vietnam's, with the
home's ``[calendar] overrides``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli
from docflow.cli._output import emit, fail, json_option, say
from docflow.errors import DocflowError


def _calendar(home: Path | None, overrides: Path | None) -> Any:
    from docflow.calendar import WorkingCalendar

    if overrides is not None:
        return WorkingCalendar.load(overrides)
    if home is not None and (home / "node.toml").exists():
        from docflow.bootstrap import working_calendar
        from docflow.config import load_config

        return working_calendar(load_config(home))
    return WorkingCalendar()


def _day(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=name) \
            from exc


@cli.group()
def calendar() -> None:
    """Working days (ngày làm việc): Vietnam's holidays, swap days and make-up Saturdays,
    and the home's overrides."""


@calendar.command("days")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="A node home: its [calendar] overrides apply.")
@click.option("--overrides", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A TOML file of [[day]] overrides (instead of a home's).")
@click.option("--year", type=click.IntRange(1990, 2100),
              help="The year to list (default: this year).")
@json_option
def calendar_days(home: Path | None, overrides: Path | None, year: int | None,
                  as_json: bool) -> None:
    """List the days of a year that are not what their weekday says: days off on
    weekdays and working weekend days, with why."""
    try:
        cal = _calendar(home, overrides)
    except DocflowError as exc:
        fail(exc)
    year = year or dt.date.today().year
    rows = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        working, weekday = cal.is_working_day(day), day.weekday() < 5
        if working != weekday:
            rows.append({"date": day.isoformat(), "working": working,
                         "why": cal.reason(day)})
        day += dt.timedelta(days=1)
    def text() -> None:
        for row in rows:
            say(f"{row['date']}  {'working' if row['working'] else 'off':<8}{row['why']}")

    emit(rows, as_json, text)


@calendar.command("add")
@click.argument("start")
@click.argument("count", type=int)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="A node home: its [calendar] overrides apply.")
@click.option("--overrides", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A TOML file of [[day]] overrides (instead of a home's).")
@json_option
def calendar_add(start: str, count: int, home: Path | None, overrides: Path | None,
                 as_json: bool) -> None:
    """The COUNT-th working day after START (YYYY-MM-DD; before it when negative)."""
    first = _day(start, "START")
    try:
        end = _calendar(home, overrides).add_working_days(first, count)
    except DocflowError as exc:
        fail(exc)
    emit({"start": first.isoformat(), "working_days": count, "date": end.isoformat()},
         as_json, lambda: say(end.isoformat()))
