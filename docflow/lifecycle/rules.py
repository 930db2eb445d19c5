"""The rules that read the tables: folding status packets into a delivery
(:func:`merge_status`), a receiver's answers to change requests (:func:`merge_change`,
:func:`answer_change`), and why an act asks nobody or a delivery is not resent. Pure
functions of their arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from docflow.errors import LifecycleError
from docflow.lifecycle.machine import Step
from docflow.lifecycle.tables import (
    CHANGE,
    CHANGE_BUSINESS_TYPE,
    CHANGE_POLICY,
    DELIVERY,
    RANK,
    REPORTED_BY,
)
from docflow.lifecycle.vocabulary import (
    ChangeEvent,
    ChangeKind,
    ChangeState,
    DeliveryState,
    IncomingEvent,
    IncomingState,
    TransportState,
)
from docflow.model import BusinessDocType, StatusCode

__all__ = [
    "answer_change",
    "change_event",
    "change_kind_of",
    "is_change_answer",
    "merge_change",
    "merge_status",
    "nothing_to_change",
    "resend_refusal",
    "standing",
]


def merge_status(state: DeliveryState | str, code: StatusCode) -> DeliveryState:
    """Fold a receiver's status packet into a delivery's state (at the sender).

    Monotonic and idempotent: a report of something earlier than the current state, or a
    duplicate, changes nothing; a later one moves the delivery forward even when the
    steps between were lost or overtaken (05 before 03). A copy recalled or replaced stays
    so (later reports are history). Contradictions (accepted after rejected, or the
    reverse) raise :class:`LifecycleError`.

    >>> str(merge_status(merge_status("pending", StatusCode.PROCESSING), StatusCode.ACCEPTED))
    'processing'
    """
    target = REPORTED_BY.get(code)
    if target is None:
        raise LifecycleError(
            f"status {code.value} ({code.name.lower()}) is not a progress report",
            hint="recall and update answers go through merge_change",
        )
    current = DELIVERY.state(state)
    if current in (DeliveryState.RECALLED, DeliveryState.REPLACED):
        return current  # the copy is gone: later reports are history
    # Rejected excludes accepted and everything after it; "arrived" fits with either.
    if DeliveryState.REJECTED in (current, target) and current != target \
            and min(RANK[current], RANK[target]) >= RANK[DeliveryState.REJECTED]:
        raise LifecycleError(
            f"delivery: status {code.value} contradicts the recorded {current.value!r}",
            hint="the receiver reported both accepting and rejecting the document",
        )
    return target if RANK[target] > RANK[current] else current


def is_change_answer(code: StatusCode, *, legacy_answers: bool = False) -> bool:
    """Whether a status packet answers a pending change request rather than reporting
    progress: 15/16 always; 03/02 only from peers known to answer that way."""
    if code in (StatusCode.AGREED, StatusCode.REFUSED):
        return True
    return legacy_answers and code in (StatusCode.ACCEPTED, StatusCode.REJECTED)


def change_event(code: StatusCode, *, legacy_answers: bool = False) -> ChangeEvent:
    """The ``CHANGE`` machine's event a receiver's answer is: ``agree`` (15, or 03 from
    a legacy peer) or ``refuse`` (16, or 02). :class:`LifecycleError` for any other code.

    >>> str(change_event(StatusCode.AGREED))
    'agree'
    """
    if not is_change_answer(code, legacy_answers=legacy_answers):
        raise LifecycleError(
            f"status {code.value} does not answer a change request",
            hint="only 15/16 do (and 03/02 from peers configured with legacy_answers)",
        )
    return ChangeEvent.AGREE if code in (StatusCode.AGREED, StatusCode.ACCEPTED) \
        else ChangeEvent.REFUSE


def merge_change(state: ChangeState | str, code: StatusCode, reason: str | None = None, *,
                 legacy_answers: bool = False) -> Step[ChangeState]:
    """Fold the receiver's answer to a pending change request into the ``CHANGE`` state.

    15 agrees and 16 refuses. Some systems answer a recall with 03 (agree) or 02 (refuse):
    pass ``legacy_answers=True`` for such a peer. It is not the default because a progress
    report 03 already in flight when the request went out would then read as "agreed".
    A repeated answer changes nothing.
    """
    current = CHANGE.state(state)
    event = change_event(code, legacy_answers=legacy_answers)
    if event is ChangeEvent.REFUSE:
        reason = reason or "refused by the receiver"
    if current is (ChangeState.AGREED if event is ChangeEvent.AGREE else ChangeState.REFUSED):
        return Step(current, None, current in CHANGE.final)  # a duplicate answer
    return CHANGE.apply(current, event, reason)


def answer_change(kind: ChangeKind, state: IncomingState | str
                  ) -> tuple[IncomingEvent, str | None]:
    """How a receiver answers a change request given its document's ``state``:
    ``(event, reason)`` for ``INCOMING`` (agree, or refuse with the reason).

    >>> event, reason = answer_change(ChangeKind.RECALL, "completed")
    >>> str(event), reason
    ('refuse_recall', 'the document is already completed')
    """
    agree, refuse, agreeable, reason = CHANGE_POLICY[kind]
    if state in agreeable:
        return agree, None
    return refuse, reason.format(state=str(state))


def change_kind_of(doc_type: BusinessDocType) -> ChangeKind | None:
    """The change a received document's business type asks (None for a new document)."""
    return next((kind for kind, t in CHANGE_BUSINESS_TYPE.items() if t is doc_type), None)


def nothing_to_change(kind: ChangeKind, document_ref: int,
                      copies: Sequence[tuple[str, str]]) -> LifecycleError:
    """Why a recall, update or replacement of a sent document asks nobody: ``copies`` are
    its deliveries' ``(business state, change state)``. No copy is still held (each is
    recalled, replaced or rejected), or each holder was asked already."""
    verb = kind.value
    if not copies:
        return LifecycleError(f"document {document_ref} has no copies to {verb}",
                              where=f"document {document_ref}")
    asked = [business for business, change in copies if change == ChangeState.REQUESTED]
    if asked:
        return LifecycleError(
            f"document {document_ref}: a change was asked of {len(asked)} recipient(s) "
            "already; their answers are awaited", where=f"document {document_ref}",
            hint=f"docflow trace {document_ref} shows the answers as they come")
    counted: dict[str, int] = {}
    for business, _ in copies:
        counted[str(business)] = counted.get(str(business), 0) + 1
    held = ", ".join(f"{count} {state}" for state, count in sorted(counted.items()))
    return LifecycleError(
        f"document {document_ref}: no recipient holds it any more to {verb} ({held})",
        where=f"document {document_ref}",
        hint="a change asks the copies still open: a recalled, replaced or rejected copy "
             "is gone already, a completed one was acted on and is kept")


#: why a delivery in this transport state is not resent (only dead letters are)
_NOT_RESENT: Mapping[TransportState, str] = {
    TransportState.QUEUED: "it is waiting for its first attempt; `docflow deliver` or the "
                           "worker sends it",
    TransportState.RETRYING: "it is waiting for its next attempt; `docflow retry-now` makes "
                             "it due now",
    TransportState.SENDING: "it is being sent now",
    TransportState.AWAITING_RECEIPT: "it was handed over; its receipt is awaited",
    TransportState.ACKNOWLEDGED: "it was delivered",
}


def resend_refusal(delivery_id: int, state: TransportState | str) -> LifecycleError:
    """Why delivery ``delivery_id``, in transport ``state``, cannot be resent: only a
    dead letter (``failed``) is."""
    try:
        why = _NOT_RESENT[TransportState(state)]
    except (ValueError, KeyError):
        why = f"it is {state}"
    return LifecycleError(
        f"delivery {delivery_id} is not a dead letter: {why}", where=f"delivery {delivery_id}",
        hint="`docflow deadletters` lists what can be resent")


#: the word for a copy still on its way, by transport state
_ON_ITS_WAY: Mapping[TransportState, str] = {
    TransportState.QUEUED: "queued", TransportState.SENDING: "sending",
    TransportState.RETRYING: "retrying", TransportState.AWAITING_RECEIPT: "handed over",
    TransportState.FAILED: "dead letter",
}


def standing(transport: TransportState | str, business: DeliveryState | str | None,
             change: ChangeState | str | None) -> str:
    """How one copy stands, as its sender reads it: on its way (``queued``,
    ``retrying``, ``handed over``, ``dead letter``...) until delivered, then what its
    recipient did (``arrived``, ``accepted``, ``rejected``, ``completed``,
    ``recalled``...), with ``change asked`` while a change awaits its answer. A copy a
    hub took (acknowledged) that its recipient has not reported is ``at the hub``.

    >>> standing("acknowledged", "accepted", "requested")
    'accepted, change asked'
    """
    on_its_way = _ON_ITS_WAY.get(TransportState(transport))
    if on_its_way is not None:
        return on_its_way
    reported = DeliveryState(business or DeliveryState.PENDING)
    if change == ChangeState.REQUESTED:
        return f"{reported.value}, change asked"
    return "at the hub" if reported is DeliveryState.PENDING else reported.value
