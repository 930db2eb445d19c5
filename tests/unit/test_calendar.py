"""Vietnamese working days: Tết, the April/May and September holidays, swap days and
make-up Saturdays from the ``holidays`` package, overrides as data on top; the
arithmetic's properties across year ends and Tết (hypothesis)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docflow.calendar import DayKind, Override, WorkingCalendar
from docflow.errors import ConfigError

CALENDAR = WorkingCalendar()
DAYS = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2031, 12, 31))


def test_the_known_days_of_2025_and_2026() -> None:
    off = [dt.date(2026, 1, 1), *(dt.date(2026, 2, d) for d in range(16, 21)),
           dt.date(2026, 4, 27),  # Hùng Kings' day (26/4, a Sunday) observed on Monday
           dt.date(2026, 4, 30), dt.date(2026, 5, 1), dt.date(2026, 8, 31),  # a swap day
           dt.date(2026, 9, 1), dt.date(2026, 9, 2), dt.date(2025, 5, 2)]
    assert not any(CALENDAR.is_working_day(day) for day in off), [
        (d, CALENDAR.reason(d)) for d in off if CALENDAR.is_working_day(d)]
    make_up = [dt.date(2026, 8, 22), dt.date(2025, 4, 26)]  # Saturdays worked instead
    assert all(CALENDAR.is_working_day(day) for day in make_up)
    assert "make-up" in CALENDAR.reason(dt.date(2026, 8, 22))
    assert not CALENDAR.is_working_day(dt.date(2026, 2, 14))  # a plain Saturday
    assert CALENDAR.is_working_day(dt.date(2026, 2, 23))  # Monday after Tết


def test_deadlines_across_tet_and_the_year_end() -> None:
    assert CALENDAR.add_working_days(dt.date(2026, 2, 13), 1) == dt.date(2026, 2, 23)
    assert CALENDAR.add_working_days(dt.date(2025, 12, 31), 1) == dt.date(2026, 1, 2)
    assert CALENDAR.add_working_days(dt.date(2026, 2, 21), 0) == dt.date(2026, 2, 23)
    assert CALENDAR.add_working_days(dt.date(2026, 2, 23), -1) == dt.date(2026, 2, 13)
    assert CALENDAR.working_days_between(dt.date(2026, 2, 13), dt.date(2026, 2, 27)) == 5
    assert CALENDAR.working_days_between(dt.date(2026, 2, 27), dt.date(2026, 2, 13)) == -5


@given(DAYS, st.integers(min_value=1, max_value=400))
def test_adding_then_counting_gives_back_the_count(day: dt.date, count: int) -> None:
    end = CALENDAR.add_working_days(day, count)
    assert end > day and CALENDAR.is_working_day(end)
    assert CALENDAR.working_days_between(day, end) == count
    assert CALENDAR.add_working_days(day, count + 1) > end


@given(DAYS, st.integers(min_value=1, max_value=200))
def test_going_back_is_the_mirror(day: dt.date, count: int) -> None:
    start = CALENDAR.add_working_days(day, -count)
    assert start < day and CALENDAR.is_working_day(start)
    # forward again: ``day`` itself when it is a working day, else the next one
    assert CALENDAR.add_working_days(start, count) == CALENDAR.add_working_days(day, 0)


@given(DAYS, DAYS, DAYS)
def test_counts_add_up(a: dt.date, b: dt.date, c: dt.date) -> None:
    between = CALENDAR.working_days_between
    assert between(a, b) + between(b, c) == between(a, c)


def test_overrides_as_data_win_over_the_package(tmp_path: Path) -> None:
    saturday, tet = dt.date(2027, 2, 13), dt.date(2026, 2, 17)
    path = tmp_path / "calendar.toml"
    path.write_text('[[day]]\ndate = 2027-02-13\nkind = "working"\n'
                    'decision = "Thông báo 1/TB-BNV (làm bù)"\n'
                    '[[day]]\ndate = 2026-02-17\nkind = "working"\ndecision = "test"\n'
                    '[[day]]\ndate = 2027-03-03\nkind = "off"\n', encoding="utf-8")
    calendar = WorkingCalendar.load(path)
    assert calendar.is_working_day(saturday) and not CALENDAR.is_working_day(saturday)
    assert calendar.is_working_day(tet) and not calendar.is_working_day(dt.date(2027, 3, 3))
    assert calendar.reason(saturday) == "working by Thông báo 1/TB-BNV (làm bù)"
    assert [o.kind for o in calendar.overrides] == [DayKind.WORKING, DayKind.WORKING,
                                                    DayKind.OFF]


def test_bad_overrides_are_refused_naming_the_place(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    for text, message in (('[[day]]\ndate = "2027-02-13"\nkind = "off"\n', "must be a date"),
                          ('[[day]]\ndate = 2027-02-13\nkind = "holiday"\n', "kind must be"),
                          ('[[day]]\ndate = 2027-02-13\nwhy = "x"\n', "holds date, kind"),
                          ("[[day]\n", "invalid TOML")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message) as refused:
            WorkingCalendar.load(path)
        assert str(path) in str(refused.value)
    with pytest.raises(ConfigError, match=r"both off .* and working"):
        WorkingCalendar([Override(dt.date(2027, 1, 4), DayKind.OFF, "a"),
                         Override(dt.date(2027, 1, 4), DayKind.WORKING, "b")])


def test_the_calendar_commands(tmp_path: Path) -> None:
    """``docflow calendar days`` lists the days that are not what their weekday says;
    ``calendar add`` counts working days; a home's overrides apply."""
    import json

    from click.testing import CliRunner

    from docflow.cli import cli

    runner = CliRunner()
    listed = runner.invoke(cli, ["calendar", "days", "--year", "2026", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["date"]: row for row in json.loads(listed.output)}
    assert rows["2026-02-17"]["working"] is False and rows["2026-08-22"]["working"] is True
    assert "2026-02-14" not in rows  # a Saturday off is what its weekday says
    added = runner.invoke(cli, ["calendar", "add", "2026-02-13", "1", "--json"])
    assert json.loads(added.output)["date"] == "2026-02-23"
    overrides = tmp_path / "calendar.toml"
    overrides.write_text('[[day]]\ndate = 2026-02-14\nkind = "working"\n'
                         'decision = "làm bù"\n', encoding="utf-8")
    moved = runner.invoke(cli, ["calendar", "add", "2026-02-13", "1", "--overrides",
                                str(overrides)])
    assert moved.output.strip() == "2026-02-14"
    bad = runner.invoke(cli, ["calendar", "add", "13/02/2026", "1"])
    assert bad.exit_code == 2 and "is not a date" in bad.output
