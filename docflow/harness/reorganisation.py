"""The reform scenario of a simulated province: a re-parenting applied mid-run (by default
the 2025 reform's: every district closes into the province and its communes move up), and
what the simulated clerks then do: a closed organ's work is sent by its successor, a
document refused for a closed recipient is readdressed to the successor the refusal names,
a sent document still with a closed organ is recalled rather than replaced. At the end
every document under a closed code must be traced to an open organ and read back from the
stores (:class:`ReformOutcome`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from docflow.errors import ClosedOrganError
from docflow.model import DEFAULT_TZ, OrganCode
from docflow.reform import ReformAction, ReformPlan, apply_plan
from docflow.routing import Directory

__all__ = ["DISSOLVE_DISTRICTS", "ReformOutcome", "Reorganisation"]

#: the 2025 reform as the simulator applies it: every district closes, its successor the
#: province above it, its communes moving under the province (the effective time is the
#: round the run reaches half its send rounds)
DISSOLVE_DISTRICTS = ReformPlan(effective=dt.datetime(2025, 7, 1, tzinfo=DEFAULT_TZ),
                                dissolve=("district",), note="Nghị quyết 202/2025/QH15")

T = TypeVar("T")


@dataclass(frozen=True)
class ReformOutcome:
    """What the reform did in a run, and whether every document it touched is traced.

    Attributes:
        at_round: the round it took effect.
        closed: organs closed; moved: organs re-parented.
        readdressed: recipients refused as closed and readdressed to their successor.
        taken_over: documents a closed organ's successor sent in its stead.
        under_closed_codes: documents sent from or to an organ closed by the end.
        untraceable: those (by message id) whose closed organ leads to no open one, or
            whose copy could not be read back: the invariant wants none.
    """

    at_round: int
    closed: int
    moved: int
    readdressed: int = 0
    taken_over: int = 0
    under_closed_codes: int = 0
    untraceable: tuple[str, ...] = field(default_factory=tuple)

    def invariant(self) -> tuple[str, str, bool]:
        """The reform's invariant as the report lists it."""
        traced = self.under_closed_codes - len(self.untraceable)
        return ("documents under closed codes traced", f"{traced}/{self.under_closed_codes} "
                f"({self.closed} organs closed at round {self.at_round}, {self.moved} moved, "
                f"{self.readdressed} readdressed, {self.taken_over} taken over)",
                not self.untraceable)


class Reorganisation:
    """One run's reform: applied once at ``at_round``, then consulted by the run.

    Args:
        plan: the re-parenting (its ``effective`` replaced by the run's time then).
        at_round: the round it takes effect.
        directory: the run's directory, which the plan is checked against at once (a
            plan it cannot hold is a ConfigError before the run starts, not mid-run).
    """

    def __init__(self, plan: ReformPlan, at_round: int, directory: Directory):
        apply_plan(directory, plan)
        self.plan = plan
        self.at_round = at_round
        self.directory: Directory | None = None  # after the reform, once applied
        self.outcome: ReformOutcome | None = None

    def apply(self, directory: Directory, at: dt.datetime) -> Directory:
        """The directory after the plan, effective at ``at``."""
        reform = apply_plan(directory, dataclasses.replace(self.plan, effective=at))
        self.directory = reform.directory
        actions = [change.action for change in reform.changes]
        self.outcome = ReformOutcome(self.at_round, actions.count(ReformAction.CLOSE),
                                     actions.count(ReformAction.MOVE))
        return reform.directory

    def sender(self, code: OrganCode, at: dt.datetime) -> OrganCode:
        """Who sends ``code``'s documents at ``at``: itself while open, else its
        successor (the organ that took over its work)."""
        if self.directory is None:
            return code
        answering = self.directory.successor(code, at)
        return code if answering is None else answering

    def took_over(self) -> None:
        """Count a document a closed organ's successor sent in its stead."""
        self._count(taken_over=1)

    def send(self, sender: OrganCode, recipients: tuple[OrganCode, ...],
             send: Callable[[tuple[OrganCode, ...]], T]) -> tuple[T | None,
                                                                   tuple[OrganCode, ...]]:
        """``send(recipients)``, each recipient the node refuses as closed readdressed to
        the successor its refusal names (as a clerk does on reading it; the sender itself
        and repeats dropped). Returns what ``send`` returned, or None when nobody is left
        to send to, and the recipients it went to."""
        recipients = tuple(code for code in recipients if code != sender)
        while recipients:
            try:
                return send(recipients), recipients
            except ClosedOrganError as refused:
                if refused.successor is None or refused.where not in {str(c) for c in recipients}:
                    raise
                successor = OrganCode(refused.successor)
                recipients = tuple(code for code in dict.fromkeys(
                    successor if str(code) == refused.where else code for code in recipients)
                    if code != sender)
                self._count(readdressed=1)
        return None, ()

    def still_with_closed(self, recipients: Sequence[OrganCode], at: dt.datetime) -> bool:
        """Whether a sent document's recipients include an organ closed at ``at`` (it is
        recalled then, not replaced: a replacement would go to a closed organ)."""
        if self.directory is None:
            return False
        return any(not self.directory.entry(code).organ.open_at(at) for code in recipients
                   if code in self.directory.entries)

    def check(self, documents: Sequence[Any], at: dt.datetime,
              readable: Callable[[Any], bool]) -> ReformOutcome | None:
        """The outcome with the documents under closed codes counted and traced:
        ``documents`` have ``sender``, ``recipients`` and ``message_id``; ``readable``
        says whether a document's copies read back from the stores."""
        if self.outcome is None or self.directory is None:
            return self.outcome
        directory = self.directory
        touched = 0
        lost: list[str] = []
        for document in documents:
            codes = (document.sender, *document.recipients)
            closed = [code for code in codes if code in directory.entries
                      and not directory.entry(code).organ.open_at(at)]
            if not closed:
                continue
            touched += 1
            if any(directory.successor(code, at) is None for code in closed) \
                    or not readable(document):
                lost.append(document.message_id)
        self.outcome = dataclasses.replace(self.outcome, under_closed_codes=touched,
                                           untraceable=tuple(lost))
        return self.outcome

    def _count(self, **increments: int) -> None:
        if self.outcome is not None:
            self.outcome = dataclasses.replace(self.outcome, **{
                name: getattr(self.outcome, name) + value
                for name, value in increments.items()})
