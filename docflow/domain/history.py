"""One state change as the history keeps it (:class:`Entry`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from docflow.lifecycle import Lifecycle, Step

__all__ = ["Entry"]


@dataclass(frozen=True)
class Entry:
    """A history row: ``machine``'s ``event`` took ``before`` to ``after`` (``final``
    when that state is), with the ``reason`` given."""

    machine: str
    event: enum.StrEnum
    before: enum.StrEnum
    after: enum.StrEnum
    final: bool
    reason: str | None = None

    @classmethod
    def of(cls, machine: Lifecycle[Any, Any], event: enum.StrEnum, before: enum.StrEnum,
           step: Step[Any], reason: str | None = None) -> Entry:
        """The entry of ``step``, which ``event`` took from ``before`` on ``machine``."""
        return cls(machine.name, event, before, step.state, step.final, reason)
