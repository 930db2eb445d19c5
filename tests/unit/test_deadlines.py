"""The văn thư deadlines (Nghị định 30/2020, Art. 4.2.c, 18.1, 21, 23) as pure functions of
a document's facts and the working calendar: registration the next working day (urgent
ones the same working day), the receipt and a return the same day, the due date kept;
properties over any receipt moment between 2024 and 2031, Tết and year ends among them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from docflow.calendar import WorkingCalendar
from docflow.domain.deadlines import (
    DeadlineKind,
    due_met,
    end_of_day,
    received_deadlines,
    return_deadline,
    sent_deadlines,
)
from docflow.model import Priority

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CALENDAR = WorkingCalendar()
MOMENTS = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2031, 12, 31),
                       timezones=st.just(dt.UTC))


def kinds(deadlines):  # type: ignore[no-untyped-def]
    return {d.kind: d for d in deadlines}


def test_a_friday_evening_and_the_day_before_tet() -> None:
    friday = dt.datetime(2026, 2, 13, 10, 30, tzinfo=dt.UTC)  # 17:30 in Vietnam
    found = kinds(received_deadlines(friday, Priority.NORMAL, dt.date(2026, 3, 2), CALENDAR, VN))
    assert found[DeadlineKind.REGISTER].deadline == dt.datetime(2026, 2, 24, tzinfo=VN)
    assert found[DeadlineKind.ACKNOWLEDGE].deadline == dt.datetime(2026, 2, 14, tzinfo=VN)
    assert found[DeadlineKind.ACKNOWLEDGE].met_at == friday  # the receipt is immediate
    assert found[DeadlineKind.DUE].deadline == dt.datetime(2026, 3, 3, tzinfo=VN)
    urgent = kinds(received_deadlines(friday, Priority.FLASH, None, CALENDAR, VN))
    assert urgent[DeadlineKind.REGISTER].deadline == dt.datetime(2026, 2, 14, tzinfo=VN)
    assert DeadlineKind.DUE not in urgent
    # 23:30 UTC on the 31st is the 1st in Vietnam: the office's day counts
    late = dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)
    assert kinds(received_deadlines(late, Priority.NORMAL, None, CALENDAR, VN))[
        DeadlineKind.REGISTER].deadline == dt.datetime(2026, 1, 3, tzinfo=VN)


@given(MOMENTS, st.sampled_from(list(Priority)))
def test_registration_ends_with_a_working_day_never_before_the_receipt(
        received: dt.datetime, priority: Priority) -> None:
    found = kinds(received_deadlines(received, priority, None, CALENDAR, VN))
    register = found[DeadlineKind.REGISTER].deadline
    last_day = (register - dt.timedelta(days=1)).date()
    assert register > received and CALENDAR.is_working_day(last_day)
    day = received.astimezone(VN).date()
    gap = CALENDAR.working_days_between(day, last_day)
    if priority >= Priority.URGENT:  # at once: that working day, or the first after it
        assert gap == (0 if CALENDAR.is_working_day(day) else 1)
    else:  # the next working day at the latest
        assert gap == 1
    normal = kinds(received_deadlines(received, Priority.NORMAL, None, CALENDAR, VN))
    assert register <= normal[DeadlineKind.REGISTER].deadline


@given(MOMENTS, st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=5)))
def test_breached_when_met_late_or_still_open_after(received: dt.datetime,
                                                    after: dt.timedelta) -> None:
    deadline = return_deadline(received, VN)
    assert deadline.deadline == end_of_day(received.astimezone(VN).date(), VN)
    moment = received + after
    assert deadline.met(moment).breached(moment) == (moment > deadline.deadline)
    assert deadline.breached(moment) == (moment > deadline.deadline)
    assert deadline.met(received).met(moment).met_at == received  # met once


def test_a_sent_document_keeps_its_due_date() -> None:
    (due,) = sent_deadlines(dt.date(2026, 12, 16), VN)
    assert (due.kind, due.deadline) == (DeadlineKind.DUE, dt.datetime(2026, 12, 17, tzinfo=VN))
    assert sent_deadlines(None, VN) == ()


def test_a_sent_documents_due_date_is_met_when_no_copy_waits() -> None:
    assert due_met(["completed", "rejected", "recalled", "replaced"])
    assert not due_met(["completed", "processing"])
    assert not due_met(["pending"]) and not due_met([])
