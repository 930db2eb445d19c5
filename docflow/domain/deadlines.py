"""The văn thư deadlines of Nghị định 30/2020 (Art. 4.2.c, 18.1, 21, 23), computed from a
document's facts and the working calendar: a received document is acknowledged (01) the
same day; registered and passed on the same working day or the next at the latest, an
urgent one (Khẩn, Thượng khẩn, Hỏa tốc, Hỏa tốc hẹn giờ) at once; a misaddressed or failed
one returned the same day; its ``DueDate`` kept. A deadline ends when its day ends in the
office's zone; it is breached when it is met later, or not met when it has passed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from docflow.calendar import WorkingCalendar
from docflow.domain.admission import Note
from docflow.lifecycle import DeliveryState, IncomingEvent
from docflow.model import Priority

__all__ = ["Deadline", "DeadlineKind", "breach_note", "due_met", "end_of_day", "met_by",
           "received_deadlines", "return_deadline", "sent_deadlines"]


class DeadlineKind(enum.StrEnum):
    """What a deadline is for."""

    ACKNOWLEDGE = "acknowledge"  #: the receipt (01), the day it arrived
    REGISTER = "register"  #: registered (03) or returned (02): the next working day
    RETURN = "return"  #: a misaddressed or failed document sent back, the same day
    DUE = "due"  #: the document's DueDate (hạn xử lý)


@dataclass(frozen=True)
class Deadline:
    """One deadline of one document: when it ends, and when it was met (None: open)."""

    kind: DeadlineKind
    deadline: dt.datetime
    met_at: dt.datetime | None = None

    def met(self, at: dt.datetime) -> Deadline:
        """The deadline met at ``at`` (the first time only)."""
        return self if self.met_at is not None else dataclasses.replace(self, met_at=at)

    def breached(self, now: dt.datetime) -> bool:
        """Met after it ended, or still open after it ended."""
        if self.met_at is not None:
            return self.met_at > self.deadline
        return now > self.deadline


def end_of_day(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The instant ``day`` ends in ``zone`` (the next day's midnight there)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)


def received_deadlines(received_at: dt.datetime, priority: Priority, due: dt.date | None,
                       calendar: WorkingCalendar, zone: dt.tzinfo) -> tuple[Deadline, ...]:
    """A received document's deadlines: the receipt the day it arrived (met then:
    docflow answers with it at once), registration the next working day (an urgent one
    the same working day, or the first one after a day off), and its due date."""
    day = received_at.astimezone(zone).date()
    register_day = calendar.add_working_days(day, 0 if priority >= Priority.URGENT else 1)
    deadlines = [Deadline(DeadlineKind.ACKNOWLEDGE, end_of_day(day, zone), received_at),
                 Deadline(DeadlineKind.REGISTER, end_of_day(register_day, zone))]
    if due is not None:
        deadlines.append(Deadline(DeadlineKind.DUE, end_of_day(due, zone)))
    return tuple(deadlines)


def return_deadline(received_at: dt.datetime, zone: dt.tzinfo) -> Deadline:
    """A misaddressed or failed document goes back the day it arrived."""
    return Deadline(DeadlineKind.RETURN, end_of_day(received_at.astimezone(zone).date(), zone))


def sent_deadlines(due: dt.date | None, zone: dt.tzinfo) -> tuple[Deadline, ...]:
    """A sent document's deadline: its due date (met when every copy is handled:
    :func:`due_met`)."""
    return () if due is None else (Deadline(DeadlineKind.DUE, end_of_day(due, zone)),)


#: a copy no recipient handles any more: done (06), returned (02), recalled or replaced
_HANDLED = frozenset({DeliveryState.COMPLETED, DeliveryState.REJECTED,
                      DeliveryState.RECALLED, DeliveryState.REPLACED})


def due_met(copies: Iterable[str]) -> bool:
    """Whether a sent document's due date is met, by its copies' states at the sender:
    each one completed, returned, recalled or replaced (none still waiting on a
    recipient)."""
    states = list(copies)
    return bool(states) and all(state in _HANDLED for state in states)


#: the deadlines each act on a received document meets
_MET_BY: dict[IncomingEvent, tuple[DeadlineKind, ...]] = {
    IncomingEvent.ACCEPT: (DeadlineKind.REGISTER,),
    IncomingEvent.REJECT: (DeadlineKind.REGISTER, DeadlineKind.RETURN),
    IncomingEvent.COMPLETE: (DeadlineKind.DUE,),
}


def met_by(event: IncomingEvent) -> tuple[DeadlineKind, ...]:
    """The deadlines an act meets: registration by accepting (03) or returning (02) the
    document, a return by returning it, the due date by completing it (06)."""
    return _MET_BY.get(event, ())


def breach_note(document_ref: int, kind: str, deadline: dt.datetime, *, met: bool) -> Note:
    """The audit entry of a breached deadline: met late (``met``), or found still open
    after it ended (the deadline in UTC, as the chain writes every time)."""
    detail: dict[str, object] = {"kind": kind,
                                 "deadline": deadline.astimezone(dt.UTC).isoformat()}
    if met:
        detail["met"] = True
    return Note("deadline_breached", f"document:{document_ref}", detail)
