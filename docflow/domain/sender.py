"""A sent document's copies at the sender: a copy taking its recipient's status packet
(:func:`take_status`: a progress report merged, a change answer settling the change, a
receipt ending the transport), the document settling once every copy agreed to a recall
or a replacement (:func:`settle_document`), a change asked of the copies still held
(:func:`ask_change`), and a progress report alone (:func:`progress`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from docflow.domain.history import Entry
from docflow.errors import LifecycleError
from docflow.lifecycle import (
    AGREED_CHANGE,
    CHANGE,
    DELIVERY,
    OUTGOING,
    TRANSPORT,
    ChangeEvent,
    ChangeKind,
    ChangeState,
    DeliveryEvent,
    DeliveryState,
    OutgoingState,
    Step,
    TransportEvent,
    TransportState,
    change_event,
    is_change_answer,
    merge_change,
    merge_status,
    nothing_to_change,
)
from docflow.model import StatusCode

__all__ = ["Copy", "StatusTaken", "ask_change", "progress", "settle_document",
           "take_status"]


@dataclass(frozen=True)
class Copy:
    """One copy of a sent document, as its delivery row holds it."""

    transport: TransportState
    business: DeliveryState
    change: ChangeState = ChangeState.NONE
    change_kind: ChangeKind | None = None

    @classmethod
    def of(cls, transport: str, business: str | None, change: str | None,
           change_kind: str | None) -> Copy:
        """A copy from its columns (their values, as stored)."""
        return cls(TransportState(transport), DeliveryState(business or DELIVERY.initial),
                   ChangeState(change or CHANGE.initial),
                   ChangeKind(change_kind) if change_kind else None)


@dataclass(frozen=True)
class StatusTaken:
    """What a status packet did to a copy: the copy after it, the history ``entries``
    (in order), whether it ended the copy's transport (``acknowledged``: a receipt that
    travelled as a status packet is that copy's proof of arrival), and ``agreed``: the
    delivery event of a recall or replacement the recipient agreed to (the document may
    settle: :func:`settle_document`)."""

    copy: Copy
    entries: tuple[Entry, ...] = ()
    acknowledged: bool = False
    agreed: DeliveryEvent | None = None


def progress(copy: Copy, code: StatusCode, reason: str | None = None
             ) -> tuple[Copy, tuple[Entry, ...]]:
    """A recipient's progress report (01-06) merged into the copy: monotonic (an
    earlier report changes nothing) and idempotent; a contradiction (accepted after
    rejected) is a :class:`~docflow.errors.LifecycleError`."""
    after = merge_status(copy.business, code)
    if after == copy.business:
        return copy, ()
    step = Step(after, None, after in DELIVERY.final)
    return (dataclasses.replace(copy, business=after),
            (Entry.of(DELIVERY, DELIVERY.event(after), copy.business, step, reason),))


def take_status(copy: Copy, code: StatusCode, reason: str | None = None, *,
                legacy_answers: bool = False) -> StatusTaken:
    """A status packet from the copy's recipient. While a change is asked of it, an
    answer (15/16; 03/02 from a peer configured with ``legacy_answers``) settles the
    change, and an agreement to a recall or a replacement ends the copy so; any other
    code is a progress report (:func:`progress`). A 01 that arrives as a status packet
    (through an axis, or late) also ends the copy's transport, when it is still on its
    way."""
    entries: list[Entry] = []
    agreed = None
    if copy.change is ChangeState.REQUESTED and is_change_answer(
            code, legacy_answers=legacy_answers):
        step = merge_change(copy.change, code, reason, legacy_answers=legacy_answers)
        entries.append(Entry.of(CHANGE, change_event(code, legacy_answers=legacy_answers),
                                copy.change, step, reason))
        copy = dataclasses.replace(copy, change=step.state)
        outcome = AGREED_CHANGE[copy.change_kind] \
            if step.state is ChangeState.AGREED and copy.change_kind is not None else None
        if outcome is not None:
            agreed = outcome[0]
            done = DELIVERY.apply(copy.business, agreed)
            entries.append(Entry.of(DELIVERY, agreed, copy.business, done))
            copy = dataclasses.replace(copy, business=done.state)
    elif not is_change_answer(code):
        copy, reported = progress(copy, code, reason or None)
        entries += reported
    acknowledged = code is StatusCode.ARRIVED and TRANSPORT.can(copy.transport,
                                                                TransportEvent.ACKNOWLEDGE)
    if acknowledged:
        ended = TRANSPORT.apply(copy.transport, TransportEvent.ACKNOWLEDGE)
        entries.append(Entry.of(TRANSPORT, TransportEvent.ACKNOWLEDGE, copy.transport, ended))
        copy = dataclasses.replace(copy, transport=ended.state)
    return StatusTaken(copy, tuple(entries), acknowledged, agreed)


def settle_document(document: OutgoingState | str, copies: Sequence[DeliveryState | str],
                    agreed: DeliveryEvent) -> tuple[Step[OutgoingState], Entry] | None:
    """The sent document becomes ``recalled`` (``replaced``) once every one of its
    ``copies`` is (every recipient agreed to give it back, or to take the replacement):
    its step and history entry; None while one copy stands (refused, not asked), or
    when the document cannot move so any more."""
    gone = DELIVERY.apply(DeliveryState.PENDING, agreed).state
    if not copies or any(state != gone for state in copies):
        return None
    event = next((outcome[1] for outcome in AGREED_CHANGE.values()
                  if outcome is not None and outcome[0] is agreed), None)
    if event is None or not OUTGOING.can(document, event):
        return None
    step = OUTGOING.apply(document, event)
    return step, Entry.of(OUTGOING, event, OUTGOING.state(document), step)


def ask_change(kind: ChangeKind, document_ref: int, copies: Sequence[Copy], *,
               asking: bool, state: OutgoingState | str | None = None
               ) -> list[tuple[int, Step[ChangeState], Entry]]:
    """A recall, update or replacement asked of a sent document: each copy still held
    (not in a final business state) whose change can be asked now gets its step to
    ``requested`` and its history entry, by its position in ``copies``. ``asking`` (a
    packet goes to each: a recall) with nobody to ask is a
    :class:`~docflow.errors.LifecycleError` saying why (every copy gone already, or
    each asked and awaited). A recalled document (its ``state``) is frozen: no update or
    replacement of it is sent (Nghị định 30/2020, Art. 18.4.b)."""
    if kind is not ChangeKind.RECALL and state == OutgoingState.RECALLED:
        raise LifecycleError(f"the document was recalled: it is frozen, no {kind.value} of "
                             "it is sent", where=f"document {document_ref}",
                             hint="send a new document instead")
    asked = []
    for index, copy in enumerate(copies):
        if copy.business in DELIVERY.final or not CHANGE.can(copy.change, ChangeEvent.REQUEST):
            continue
        step = CHANGE.apply(copy.change, ChangeEvent.REQUEST)
        asked.append((index, step, Entry.of(CHANGE, ChangeEvent.REQUEST, copy.change, step,
                                            kind.value)))
    if not asked and asking:
        raise nothing_to_change(kind, document_ref,
                                [(copy.business, copy.change) for copy in copies])
    return asked
