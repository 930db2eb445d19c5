"""One state machine over a typed vocabulary: :class:`Lifecycle` (its table, the
``transitions`` machine built from it, the compiled ``(state, event) -> Step`` map),
:class:`Transition` (a row of a table) and :class:`Step` (what applying an event gives)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from transitions import Machine
from transitions.extensions import GraphMachine

from docflow.errors import LifecycleError
from docflow.model import StatusCode

__all__ = ["Lifecycle", "Step", "Transition"]

S = TypeVar("S", bound=enum.StrEnum)
E = TypeVar("E", bound=enum.StrEnum)


@dataclass(frozen=True)
class Transition:
    """One row of a lifecycle table: ``event`` takes ``sources`` to ``dest``.

    ``dest=None`` keeps the current state (an answer that changes nothing here).
    ``emit`` is the status code the transition reports to the other party, if any;
    ``needs_reason`` makes the event refuse to run without a reason (rejections, refusals).
    """

    event: enum.StrEnum
    sources: tuple[enum.StrEnum, ...]
    dest: enum.StrEnum | None
    emit: StatusCode | None = None
    needs_reason: bool = False


@dataclass(frozen=True, slots=True)
class Step(Generic[S]):
    """The result of applying an event: the new state and what to tell the other party."""

    state: S
    emit: StatusCode | None
    final: bool


def row(event: enum.StrEnum, sources: enum.StrEnum | Sequence[enum.StrEnum],
        dest: enum.StrEnum | None, emit: StatusCode | None = None, *,
        needs_reason: bool = False) -> Transition:
    """A :class:`Transition` from one source or several."""
    return Transition(event, (sources,) if isinstance(sources, str) else tuple(sources), dest,
                      emit, needs_reason)


class Lifecycle(Generic[S, E]):
    """One state machine: its table, the ``transitions`` machine built from it, and the
    compiled ``(state, event) -> Step`` map that :meth:`apply` uses.

    States and events are the machine's own enums (``state_type``, ``event_type``);
    :meth:`apply` and :meth:`can` also take a state as the store's column holds it (its
    value), checked against the machine's states.
    """

    def __init__(self, name: str, state_type: type[S], event_type: type[E], initial: S,
                 final: Iterable[S], table: Sequence[Transition]):
        self.name = name
        self.state_type, self.event_type = state_type, event_type
        self.states: tuple[S, ...] = tuple(state_type)
        self.initial = initial
        self.final = frozenset(final)
        self.table = tuple(table)
        for transition in self.table:  # a row in another machine's words is a bug here
            if not isinstance(transition.event, event_type) or not all(
                    isinstance(x, state_type) for x in (*transition.sources,
                                                        transition.dest or initial)):
                raise TypeError(f"{name}: {transition} mixes another machine's words")
        self.machine = Machine(
            model=None,
            states=[state.value for state in self.states],  # values: transitions reads
            transitions=[self._row(t) for t in self.table],  # an Enum by its name
            initial=initial.value,
            auto_transitions=False,
            send_event=True,
        )
        self._steps = self._compile()
        self._reasons = frozenset(t.event for t in self.table if t.needs_reason)
        allowed: dict[S, set[E]] = {}
        for state, event in self._steps:
            allowed.setdefault(state, set()).add(event)
        self._allowed = {state: tuple(sorted(events)) for state, events in allowed.items()}

    @staticmethod
    def _row(transition: Transition) -> dict[str, object]:
        return {
            "trigger": transition.event.value,
            "source": [source.value for source in transition.sources],
            # None: an internal transition in transitions' terms
            "dest": None if transition.dest is None else transition.dest.value,
        }

    def _compile(self) -> dict[tuple[S, E], Step[S]]:
        # Read back from the transitions machine, so that the fast path and the machine
        # cannot disagree (the machine is the authority, the dict its compiled form).
        emits = {t.event.value: t.emit for t in self.table}
        steps: dict[tuple[S, E], Step[S]] = {}
        for event_name, event in self.machine.events.items():
            for source, transitions in event.transitions.items():
                (transition,) = transitions  # one row per (event, source) by construction
                dest = self.state_type(transition.dest if transition.dest is not None
                                       else source)
                steps[(self.state_type(source), self.event_type(event_name))] = Step(
                    dest, emits[event_name], dest in self.final)
        return steps

    @property
    def events(self) -> tuple[E, ...]:
        """Every event of this machine, in the table's order."""
        return tuple(dict.fromkeys(t.event for t in self.table))  # type: ignore[misc]

    def state(self, value: str) -> S:
        """``value`` (as a column holds it) as one of this machine's states;
        :class:`LifecycleError` naming the states when it is none of them."""
        if isinstance(value, self.state_type):
            return value
        try:
            return self.state_type(value)
        except ValueError:
            raise LifecycleError(f"{self.name}: unknown state {value!r}",
                                 hint=f"states are {', '.join(self.states)}") from None

    def event(self, value: str) -> E:
        """``value`` (an act's name, as a caller writes it) as one of this machine's
        events; :class:`LifecycleError` naming the events when it is none of them."""
        try:
            return self.event_type(value)
        except ValueError:
            raise LifecycleError(f"{self.name}: unknown event {value!r}",
                                 hint=f"events are {', '.join(self.events)}") from None

    def allowed(self, state: S | str) -> tuple[E, ...]:
        """The events allowed in ``state``."""
        return self._allowed.get(self.state(state), ())

    def can(self, state: S | str, event: E) -> bool:
        """Whether ``event`` is allowed in ``state``."""
        return (self.state(state), self._event(event)) in self._steps

    def _event(self, event: E | str) -> E:
        # typed callers hand the enum; a name (a caller without types) is looked up
        return event if isinstance(event, self.event_type) else self.event(event)

    def apply(self, state: S | str, event: E, reason: str | None = None) -> Step[S]:
        """The step ``event`` takes from ``state``; ``LifecycleError`` if not allowed.

        Pure: nothing is changed anywhere; the caller stores ``Step.state`` and sends a
        status packet with ``Step.emit``.
        """
        current, event = self.state(state), self._event(event)
        step = self._steps.get((current, event))
        if step is None:
            raise self.illegal(current, event)
        if reason is None and event in self._reasons:
            raise LifecycleError(
                f"{self.name}: event {event.value!r} needs a reason",
                where=f"state {current.value!r}",
                hint="say why (lý do), e.g. reason='sent to the wrong organ'",
            )
        return step

    def illegal(self, state: S, event: E) -> LifecycleError:
        """The error for ``event`` in ``state``, naming the events allowed there."""
        allowed = self.allowed(state)
        return LifecycleError(
            f"{self.name}: event {event.value!r} is not allowed in state {state.value!r}",
            where=f"state {state.value!r}",
            hint=f"allowed events: {', '.join(allowed)}" if allowed
            else f"{state.value!r} is final: nothing more can happen",
            state=state.value, allowed=tuple(e.value for e in allowed),
        )

    # ----------------------------------------------------------------- diagrams

    def mermaid(self) -> str:
        """The machine as a Mermaid ``stateDiagram-v2`` (drawn by transitions)."""
        graph = GraphMachine(
            states=[state.value for state in self.states],
            transitions=[self._row(t) for t in self.table],
            initial=self.initial.value,
            auto_transitions=False,
            graph_engine="mermaid",
            title=self.name,
        )
        lines = graph.get_graph().draw(None).splitlines()
        # The active-state styling is for live machines; static docs drop it.
        kept = [
            line.rstrip() for line in lines
            if not line.strip().startswith(("classDef ", "Class "))
        ]
        kept += [f"  {state.value} --> [*]" for state in self.states if state in self.final]
        return "\n".join(line for line in kept if line.strip()) + "\n"

    def dot(self) -> str:
        """The machine as Graphviz DOT text (from the same table; no graphviz needed)."""
        lines = [f'digraph "{self.name}" {{', "  rankdir=LR;", '  node [shape=box, style=rounded];',
                 '  "__start" [shape=point];', f'  "__start" -> "{self.initial.value}";']
        for state in self.states:
            shape = ", peripheries=2" if state in self.final else ""
            lines.append(f'  "{state.value}" [label="{state.value}"{shape}];')
        for transition in self.table:
            label = transition.event.value + (
                f" / {transition.emit.value}" if transition.emit else "")
            for source in transition.sources:
                dest = transition.dest if transition.dest is not None else source
                lines.append(f'  "{source.value}" -> "{dest.value}" [label="{label}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"
