"""The one clock of docflow.

Core code never reads the time by itself: it takes ``now`` or a :data:`Clock` from its
caller. :func:`system_clock` is the default the adapters pass in; tests pass a fixed one.

>>> import datetime as dt
>>> fixed = fixed_clock(dt.datetime(2018, 9, 10, 2, 4, tzinfo=dt.UTC))
>>> fixed().isoformat()
'2018-09-10T02:04:00+00:00'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

__all__ = ["Clock", "fixed_clock", "system_clock"]

#: A source of the current time: a callable returning an aware datetime.
Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """The current time (UTC, aware)."""
    return dt.datetime.now(dt.UTC)


def fixed_clock(moment: dt.datetime) -> Clock:
    """A clock that always answers ``moment`` (which must be time-zone aware)."""
    if moment.tzinfo is None:
        raise ValueError("fixed_clock needs a time-zone aware datetime")
    return lambda: moment
