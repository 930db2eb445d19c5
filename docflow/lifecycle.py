"""Document and delivery lifecycles: every state-machine rule of docflow lives here.

Rules of this file (as h11's ``_state.py``): everything that decides a state transition is
in the tables below; the rest of docflow asks this module and stores what it answers.

Five machines, each over a plain state value that the store keeps in a column:

- ``OUTGOING``: a document at its sender (draft -> signed -> sent; recalled, replaced).
- ``TRANSPORT``: getting one copy to one recipient (the outbox): queued -> sending ->
  awaiting_receipt -> acknowledged; retrying after a failure, failed (dead-lettered) after
  the last attempt, queued again when an operator resends it.
- ``DELIVERY``: the sender's view of that copy's business state, as the receiver's status
  packets report it (pending, arrived 01, accepted 03 | rejected 02, assigned 04,
  processing 05, completed 06), and recalled / replaced when the receiver agreed to that.
- ``INCOMING``: a document at its receiver (received -> accepted | rejected -> assigned ->
  processing -> completed; recalled, replaced), each step emitting its status code.
- ``CHANGE``: a recall, update or replacement the sender asked for one delivery
  (none -> requested -> agreed | refused).

Each table is built into a ``transitions.Machine`` at import (model-less: no machine per
document); the machine validates the table and draws the diagrams, and :meth:`Lifecycle.apply`
runs on a dict compiled from the machine's own transitions, because a ``transitions``
trigger costs ~27 us against ~0.1 us for a lookup. Applying an event is a pure function
``(state, event) -> Step(new state, status code to emit)``: it can run inside a database
transaction, and an illegal event raises :class:`~docflow.errors.LifecycleError` and
changes nothing.

Status packets reach a sender out of order and more than once; :func:`merge_status` folds
them into a delivery monotonically (a state never moves back) and idempotently, so the
final state does not depend on arrival order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from transitions import Machine

from docflow.errors import LifecycleError
from docflow.model import (
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    DocumentInfo,
    OrganCode,
    ReplacementInfo,
    ResponseFor,
    StaffInfo,
    StatusCode,
)

__all__ = [
    "CHANGE",
    "CHANGE_POLICY",
    "DELIVERY",
    "INCOMING",
    "LIFECYCLES",
    "OUTGOING",
    "TRANSPORT",
    "ChangeKind",
    "Lifecycle",
    "Step",
    "Transition",
    "answer_change",
    "change_event",
    "is_change_answer",
    "link_change",
    "merge_change",
    "merge_status",
    "readme_with_diagrams",
]


class ChangeKind(enum.Enum):
    """What a sender asks of a sent document (BussinessDocType 1, 2, 3)."""

    RECALL = "recall"  #: thu hồi
    UPDATE = "update"  #: cập nhật
    REPLACE = "replace"  #: thay thế


@dataclass(frozen=True)
class Transition:
    """One row of a lifecycle table: ``event`` takes ``sources`` to ``dest``.

    ``dest=None`` keeps the current state (an answer that changes nothing here).
    ``emit`` is the status code the transition reports to the other party, if any;
    ``needs_reason`` makes the event refuse to run without a reason (rejections, refusals).
    """

    event: str
    sources: tuple[str, ...]
    dest: str | None
    emit: StatusCode | None = None
    needs_reason: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """The result of applying an event: the new state and what to tell the other party."""

    state: str
    emit: StatusCode | None
    final: bool


def _t(event: str, sources: str | Sequence[str], dest: str | None,
       emit: StatusCode | None = None, *, needs_reason: bool = False) -> Transition:
    return Transition(event, (sources,) if isinstance(sources, str) else tuple(sources), dest,
                      emit, needs_reason)


_S = StatusCode
_WORKING = ("received", "accepted", "assigned", "processing")
_REPORTED = ("arrived", "accepted", "assigned", "processing")

# --------------------------------------------------------------------------- the tables

_OUTGOING = (
    _t("sign", "draft", "signed"),
    _t("send", "signed", "sent"),
    _t("update", "sent", "sent"),
    _t("recall", "sent", "recalled", _S.RECALL_REQUESTED),
    _t("replace", "sent", "replaced"),
)

_TRANSPORT = (
    # A worker claims a due copy; a copy whose worker died is claimed again once its lease
    # has run out (the store decides which are due).
    _t("claim", ("queued", "retrying", "sending"), "sending"),
    _t("sent", "sending", "awaiting_receipt"),
    # A signed receipt (01) that names what was sent. A late one proves arrival even
    # after a retry was scheduled or the copy was given up.
    _t("acknowledge", ("sending", "awaiting_receipt", "retrying", "failed"), "acknowledged"),
    _t("fail", ("sending", "awaiting_receipt"), "retrying"),
    _t("give_up", ("sending", "awaiting_receipt", "retrying"), "failed"),
    _t("resend", "failed", "queued"),
)

_DELIVERY = (
    # what the receiver's status packets report (the normal order; see merge_status)
    _t("arrived", "pending", "arrived"),
    _t("accepted", "arrived", "accepted"),
    _t("rejected", "arrived", "rejected"),
    _t("assigned", ("accepted", "assigned"), "assigned"),
    _t("processing", ("accepted", "assigned"), "processing"),
    _t("completed", "processing", "completed"),
    # the receiver agreed to a recall / replacement (its answer proves arrival, so it may
    # overtake the receipt); a completed or rejected copy cannot be taken back
    _t("recalled", ("pending", *_REPORTED), "recalled"),
    _t("replaced", ("pending", *_REPORTED), "replaced"),
)

_INCOMING = (
    _t("receive", "new", "received", _S.ARRIVED),
    _t("accept", "received", "accepted", _S.ACCEPTED),
    _t("reject", "received", "rejected", _S.REJECTED, needs_reason=True),
    _t("assign", ("accepted", "assigned"), "assigned", _S.ASSIGNED),
    _t("process", ("accepted", "assigned"), "processing", _S.PROCESSING),
    _t("complete", "processing", "completed", _S.COMPLETED),
    # Answers to change requests. A request that arrives again after it was granted gets
    # the same answer again (an internal transition), never an error.
    _t("agree_recall", _WORKING, "recalled", _S.AGREED),
    _t("agree_recall", "recalled", None, _S.AGREED),
    _t("refuse_recall", (*_WORKING, "completed", "rejected", "replaced"), None, _S.REFUSED,
       needs_reason=True),
    _t("agree_update", _WORKING, None, _S.AGREED),
    _t("refuse_update", (*_WORKING, "completed", "rejected", "recalled", "replaced"), None,
       _S.REFUSED, needs_reason=True),
    _t("agree_replace", _WORKING, "replaced", _S.AGREED),
    _t("agree_replace", "replaced", None, _S.AGREED),
    _t("refuse_replace", (*_WORKING, "completed", "rejected", "recalled"), None, _S.REFUSED,
       needs_reason=True),
)

_CHANGE = (
    _t("request", ("none", "refused"), "requested"),
    _t("agree", "requested", "agreed"),
    _t("refuse", "requested", "refused", needs_reason=True),
)

#: How a receiver answers a change request, by the state of its document: states where
#: it agrees; everywhere else it refuses with the reason given (data: a policy change is a
#: one-line edit).
CHANGE_POLICY: Mapping[ChangeKind, tuple[frozenset[str], str]] = {
    ChangeKind.RECALL: (frozenset({*_WORKING, "recalled"}), "the document is already {state}"),
    ChangeKind.UPDATE: (frozenset(_WORKING), "the document is already {state}"),
    ChangeKind.REPLACE: (frozenset({*_WORKING, "replaced"}), "the document is already {state}"),
}


# --------------------------------------------------------------------------- machines

class Lifecycle:
    """One state machine: its table, the ``transitions`` machine built from it, and the
    compiled ``(state, event) -> Step`` map that :meth:`apply` uses.

    >>> INCOMING.apply("received", "accept")
    Step(state='accepted', emit=<StatusCode.ACCEPTED: '03'>, final=False)
    >>> INCOMING.allowed("completed")
    ('refuse_recall', 'refuse_replace', 'refuse_update')
    """

    def __init__(self, name: str, states: Sequence[str], initial: str,
                 final: Iterable[str], table: Sequence[Transition]):
        self.name = name
        self.states = tuple(states)
        self.initial = initial
        self.final = frozenset(final)
        self.table = tuple(table)
        self.machine = Machine(
            model=None,
            states=list(self.states),
            transitions=[self._row(t) for t in self.table],
            initial=initial,
            auto_transitions=False,
            send_event=True,
        )
        self._steps = self._compile()
        self._reasons = frozenset(t.event for t in self.table if t.needs_reason)
        self._allowed: dict[str, tuple[str, ...]] = {}
        for state, event in self._steps:
            self._allowed.setdefault(state, ())
            self._allowed[state] = tuple(sorted({*self._allowed[state], event}))

    @staticmethod
    def _row(transition: Transition) -> dict[str, object]:
        return {
            "trigger": transition.event,
            "source": list(transition.sources),
            "dest": transition.dest,  # None: an internal transition in transitions' terms
        }

    def _compile(self) -> dict[tuple[str, str], Step]:
        # Read back from the transitions machine, so that the fast path and the machine
        # cannot disagree (the machine is the authority, the dict its compiled form).
        emits = {t.event: t.emit for t in self.table}
        steps: dict[tuple[str, str], Step] = {}
        for event_name, event in self.machine.events.items():
            for source, transitions in event.transitions.items():
                (transition,) = transitions  # one row per (event, source) by construction
                dest = transition.dest if transition.dest is not None else source
                steps[(source, event_name)] = Step(dest, emits[event_name], dest in self.final)
        return steps

    @property
    def events(self) -> tuple[str, ...]:
        """Every event of this machine."""
        return tuple(dict.fromkeys(t.event for t in self.table))

    def allowed(self, state: str) -> tuple[str, ...]:
        """The events allowed in ``state``."""
        return self._allowed.get(state, ())

    def can(self, state: str, event: str) -> bool:
        """Whether ``event`` is allowed in ``state``."""
        return (state, event) in self._steps

    def apply(self, state: str, event: str, reason: str | None = None) -> Step:
        """The step ``event`` takes from ``state``; ``LifecycleError`` if not allowed.

        Pure: nothing is changed anywhere; the caller stores ``Step.state`` and sends a
        status packet with ``Step.emit``.
        """
        step = self._steps.get((state, event))
        if step is None:
            raise self._illegal(state, event)
        if reason is None and event in self._reasons:
            raise LifecycleError(
                f"{self.name}: event {event!r} needs a reason",
                where=f"state {state!r}",
                hint="say why (lý do), e.g. reason='sent to the wrong organ'",
            )
        return step

    def _illegal(self, state: str, event: str) -> LifecycleError:
        if state not in self.states:
            return LifecycleError(
                f"{self.name}: unknown state {state!r}",
                hint=f"states are {', '.join(self.states)}",
            )
        if event not in self.events:
            return LifecycleError(
                f"{self.name}: unknown event {event!r}",
                hint=f"events are {', '.join(self.events)}",
            )
        allowed = self.allowed(state)
        return LifecycleError(
            f"{self.name}: event {event!r} is not allowed in state {state!r}",
            where=f"state {state!r}",
            hint=f"allowed events: {', '.join(allowed)}" if allowed
            else f"{state!r} is final: nothing more can happen",
            state=state, allowed=tuple(allowed),
        )

    # ----------------------------------------------------------------- diagrams

    def mermaid(self) -> str:
        """The machine as a Mermaid ``stateDiagram-v2`` (drawn by transitions)."""
        from transitions.extensions import GraphMachine

        graph = GraphMachine(
            states=list(self.states),
            transitions=[self._row(t) for t in self.table],
            initial=self.initial,
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
        kept += [f"  {state} --> [*]" for state in self.states if state in self.final]
        return "\n".join(line for line in kept if line.strip()) + "\n"

    def dot(self) -> str:
        """The machine as Graphviz DOT text (from the same table; no graphviz needed)."""
        lines = [f'digraph "{self.name}" {{', "  rankdir=LR;", '  node [shape=box, style=rounded];',
                 '  "__start" [shape=point];', f'  "__start" -> "{self.initial}";']
        for state in self.states:
            shape = ", peripheries=2" if state in self.final else ""
            lines.append(f'  "{state}" [label="{state}"{shape}];')
        for transition in self.table:
            label = transition.event + (f" / {transition.emit.value}" if transition.emit else "")
            for source in transition.sources:
                dest = transition.dest if transition.dest is not None else source
                lines.append(f'  "{source}" -> "{dest}" [label="{label}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


OUTGOING = Lifecycle(
    "outgoing", ("draft", "signed", "sent", "recalled", "replaced"), "draft",
    ("recalled", "replaced"), _OUTGOING,
)
TRANSPORT = Lifecycle(
    "transport",
    ("queued", "sending", "awaiting_receipt", "acknowledged", "retrying", "failed"),
    "queued",
    # "failed" is not final: it waits, visible, for an operator's resend (or a late receipt)
    ("acknowledged",),
    _TRANSPORT,
)
DELIVERY = Lifecycle(
    "delivery",
    ("pending", "arrived", "accepted", "rejected", "assigned", "processing", "completed",
     "recalled", "replaced"),
    "pending",
    ("rejected", "completed", "recalled", "replaced"),
    _DELIVERY,
)
INCOMING = Lifecycle(
    "incoming",
    ("new", "received", "accepted", "rejected", "assigned", "processing", "completed",
     "recalled", "replaced"),
    "new",
    ("rejected", "completed", "recalled", "replaced"),
    _INCOMING,
)
CHANGE = Lifecycle(
    "change", ("none", "requested", "agreed", "refused"), "none", ("agreed",), _CHANGE,
)

#: Every machine by name (for the CLI and the docs).
LIFECYCLES: Mapping[str, Lifecycle] = {
    machine.name: machine for machine in (OUTGOING, TRANSPORT, DELIVERY, INCOMING, CHANGE)
}


# --------------------------------------------------------------------------- merging

# How far along a delivery is, as its status packets report it. Rejected sits beside
# accepted (both answer "arrived"); recalled/replaced end any business state.
_RANK: Mapping[str, int] = {
    "pending": 0, "arrived": 1, "accepted": 2, "rejected": 2, "assigned": 3, "processing": 4,
    "completed": 5, "recalled": 6, "replaced": 6,
}
_BY_CODE: Mapping[StatusCode, str] = {
    StatusCode.ARRIVED: "arrived",
    StatusCode.ACCEPTED: "accepted",
    StatusCode.REJECTED: "rejected",
    StatusCode.ASSIGNED: "assigned",
    StatusCode.PROCESSING: "processing",
    StatusCode.COMPLETED: "completed",
}


def merge_status(state: str, code: StatusCode) -> str:
    """Fold a receiver's status packet into a delivery's state (at the sender).

    Monotonic and idempotent: a report of something earlier than the current state, or a
    duplicate, changes nothing; a later one moves the delivery forward even when the
    steps between were lost or overtaken (05 before 03). Contradictions (accepted after
    rejected, or the reverse) raise :class:`LifecycleError`.

    >>> merge_status(merge_status("pending", StatusCode.PROCESSING), StatusCode.ACCEPTED)
    'processing'
    """
    target = _BY_CODE.get(code)
    if target is None:
        raise LifecycleError(
            f"status {code.value} ({code.name.lower()}) is not a progress report",
            hint="recall and update answers go through merge_change",
        )
    if state not in _RANK:
        raise DELIVERY._illegal(state, target)
    current, new = _RANK[state], _RANK[target]
    if current >= 6:  # recalled / replaced: the copy is gone, later reports are history
        return state
    # Rejected excludes accepted and everything after it; "arrived" fits with either.
    if "rejected" in (state, target) and state != target and min(current, new) >= 2:
        raise LifecycleError(
            f"delivery: status {code.value} contradicts the recorded {state!r}",
            hint="the receiver reported both accepting and rejecting the document",
        )
    return target if new > current else state


def is_change_answer(code: StatusCode, *, legacy_answers: bool = False) -> bool:
    """Whether a status packet answers a pending change request rather than reporting
    progress: 15/16 always; 03/02 only from peers known to answer that way."""
    if code in (StatusCode.AGREED, StatusCode.REFUSED):
        return True
    return legacy_answers and code in (StatusCode.ACCEPTED, StatusCode.REJECTED)


def change_event(code: StatusCode, *, legacy_answers: bool = False) -> str:
    """The ``CHANGE`` machine's event a receiver's answer is: ``agree`` (15, or 03 from
    a legacy peer) or ``refuse`` (16, or 02). :class:`LifecycleError` for any other code.

    >>> change_event(StatusCode.AGREED)
    'agree'
    """
    if not is_change_answer(code, legacy_answers=legacy_answers):
        raise LifecycleError(
            f"status {code.value} does not answer a change request",
            hint="only 15/16 do (and 03/02 from peers configured with legacy_answers)",
        )
    return "agree" if code in (StatusCode.AGREED, StatusCode.ACCEPTED) else "refuse"


def merge_change(
    state: str, code: StatusCode, reason: str | None = None, *, legacy_answers: bool = False
) -> Step:
    """Fold the receiver's answer to a pending change request into the ``CHANGE`` state.

    15 agrees and 16 refuses. Some systems answer a recall with 03 (agree) or 02 (refuse):
    pass ``legacy_answers=True`` for such a peer. It is not the default because a progress
    report 03 already in flight when the request went out would then read as "agreed".
    A repeated answer changes nothing.
    """
    event = change_event(code, legacy_answers=legacy_answers)
    if event == "refuse":
        reason = reason or "refused by the receiver"
    if state == ("agreed" if event == "agree" else "refused"):
        return Step(state, None, state in CHANGE.final)  # a duplicate answer
    return CHANGE.apply(state, event, reason)


def nothing_to_change(kind: ChangeKind, document_ref: int,
                      copies: Sequence[tuple[str, str]]) -> LifecycleError:
    """Why a recall, update or replacement of a sent document asks nobody: ``copies`` are
    its deliveries' ``(business state, change state)``. No copy is still held (each is
    recalled, replaced or rejected), or each holder was asked already."""
    verb = {ChangeKind.RECALL: "recall", ChangeKind.UPDATE: "update",
            ChangeKind.REPLACE: "replace"}[kind]
    if not copies:
        return LifecycleError(f"document {document_ref} has no copies to {verb}",
                              where=f"document {document_ref}")
    asked = [business for business, change in copies if change == "requested"]
    if asked:
        return LifecycleError(
            f"document {document_ref}: a change was asked of {len(asked)} recipient(s) "
            "already; their answers are awaited", where=f"document {document_ref}",
            hint=f"docflow trace {document_ref} shows the answers as they come")
    counted: dict[str, int] = {}
    for business, _ in copies:
        counted[business] = counted.get(business, 0) + 1
    held = ", ".join(f"{count} {state}" for state, count in sorted(counted.items()))
    return LifecycleError(
        f"document {document_ref}: no recipient holds it any more to {verb} ({held})",
        where=f"document {document_ref}",
        hint="a change asks the copies still open: a recalled, replaced or rejected copy "
             "is gone already, a completed one was acted on and is kept")


#: why a delivery in this transport state is not resent (only dead letters are)
_NOT_RESENT: Mapping[str, str] = {
    "queued": "it is waiting for its first attempt; `docflow deliver` or the worker "
              "sends it",
    "retrying": "it is waiting for its next attempt; `docflow retry-now` makes it due now",
    "sending": "it is being sent now",
    "awaiting_receipt": "it was handed over; its receipt is awaited",
    "acknowledged": "it was delivered",
}


def resend_refusal(delivery_id: int, state: str) -> LifecycleError:
    """Why delivery ``delivery_id``, in transport ``state``, cannot be resent: only a
    dead letter (``failed``) is."""
    return LifecycleError(
        f"delivery {delivery_id} is not a dead letter: "
        f"{_NOT_RESENT.get(state, f'it is {state}')}", where=f"delivery {delivery_id}",
        hint="`docflow deadletters` lists what can be resent")


def answer_change(kind: ChangeKind, state: str) -> tuple[str, str | None]:
    """How a receiver answers a change request given its document's ``state``:
    ``(event, reason)`` for :data:`INCOMING` (agree, or refuse with the reason).

    >>> answer_change(ChangeKind.RECALL, "completed")
    ('refuse_recall', 'the document is already completed')
    """
    agreeable, reason = CHANGE_POLICY[kind]
    if state in agreeable:
        return f"agree_{kind.value}", None
    return f"refuse_{kind.value}", reason.format(state=state)


def readme_with_diagrams(text: str) -> str:
    """``text`` with every ``<!-- lifecycle:NAME -->`` block replaced by the current Mermaid
    diagram of that machine (pure: the CLI reads and writes the file)."""
    import re

    def render(match: re.Match[str]) -> str:
        machine = LIFECYCLES.get(match.group(1))
        if machine is None:
            raise LifecycleError(f"unknown lifecycle {match.group(1)!r} in a diagram marker")
        return (f"<!-- lifecycle:{machine.name} -->\n```mermaid\n{machine.mermaid()}```\n"
                "<!-- /lifecycle -->")

    return re.sub(r"<!-- lifecycle:(\w+) -->\n.*?<!-- /lifecycle -->", render, text,
                  flags=re.DOTALL)


_BUSINESS_TYPE: Mapping[ChangeKind, BusinessDocType] = {
    ChangeKind.RECALL: BusinessDocType.RECALL,
    ChangeKind.UPDATE: BusinessDocType.UPDATE,
    ChangeKind.REPLACE: BusinessDocType.REPLACE,
}


def link_change(
    kind: ChangeKind,
    original: DocumentInfo,
    *,
    reason: str,
    new: DocumentInfo | None = None,
    receivers: Sequence[OrganCode] = (),
    staff: StaffInfo | None = None,
) -> DocumentInfo:
    """The document that carries a change request, linked to the ``original`` as edXML
    does it: ``ResponseFor`` -> the original, and in ``Bussiness`` the type (1 recall,
    2 update, 3 replace), the reason, and for an update the original's ``DocumentId`` (and
    which parts changed), for a replacement a ``ReplacementInfo`` naming the original and
    where it went.

    A recall re-sends the original's header with the recall business section; an update
    or a replacement needs the ``new`` document (its own number, subject, content).

    >>> from docflow.samples import sample_envelope
    >>> original = sample_envelope().info
    >>> recall = link_change(ChangeKind.RECALL, original, reason="ban hành nhầm")
    >>> recall.business.doc_type.name, recall.response_for[0].document_id == original.document_id
    ('RECALL', True)
    """
    if kind is not ChangeKind.RECALL and new is None:
        raise LifecycleError(f"a {kind.value} needs the new document", hint="pass new=...")
    base = new if new is not None else original
    targets = tuple(receivers) or tuple(organ.code for organ in original.recipients)
    business = Business(
        doc_type=_BUSINESS_TYPE[kind],
        reason=reason,
        document_id=original.document_id if kind is ChangeKind.UPDATE else None,
        document_info=BusinessDocumentInfo(
            document_info_changed=True,
            receivers_changed=bool(receivers),
            receivers=tuple(receivers),
        ) if kind is ChangeKind.UPDATE else None,
        replacements=(ReplacementInfo(original.document_id, targets),)
        if kind is ChangeKind.REPLACE else (),
        staff=staff,
    )
    link = ResponseFor(
        organ_id=original.sender.code,
        code=original.code,
        promulgation_date=original.promulgation_date,
        document_id=original.document_id,
    )
    return replace(base, business=business, response_for=(link, *base.response_for))
