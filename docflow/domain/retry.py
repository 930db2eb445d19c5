"""When to try a failed delivery again (:class:`RetryPolicy`): data, per organ or
global."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed delivery again: data, per organ or global.

    ``intervals`` (seconds) are used in order, the last one repeating; without them the
    delay is ``base * factor ** (attempt - 1)`` capped at ``max_delay``. Each delay is
    spread by ``jitter`` (a fraction, both ways). After ``max_attempts`` attempts the
    delivery is dead-lettered.
    """

    intervals: tuple[float, ...] = ()
    base: float = 30.0
    factor: float = 2.0
    max_delay: float = 3600.0
    max_attempts: int = 8
    jitter: float = 0.2

    def delay(self, attempt: int, rnd: float) -> dt.timedelta:
        """The wait after failed attempt number ``attempt`` (from 1); ``rnd`` in [0, 1)."""
        if self.intervals:
            raw = self.intervals[min(attempt, len(self.intervals)) - 1]
        else:
            raw = min(self.base * self.factor ** (attempt - 1), self.max_delay)
        return dt.timedelta(seconds=max(0.0, raw * (1 + self.jitter * (2 * rnd - 1))))
