"""The tables: every transition of the five machines, the ranks that order a delivery's
progress reports, what an agreed change does to a copy and to its document, and how a
receiver answers a change request (derived from the ``agree_*`` rows, never restated)."""

from __future__ import annotations

from collections.abc import Mapping

from docflow.lifecycle.machine import Lifecycle, Transition
from docflow.lifecycle.machine import row as _t
from docflow.lifecycle.vocabulary import (
    ChangeEvent,
    ChangeKind,
    ChangeState,
    DeliveryEvent,
    DeliveryState,
    IncomingEvent,
    IncomingState,
    OutgoingEvent,
    OutgoingState,
    TransportEvent,
    TransportState,
)
from docflow.model import BusinessDocType, StatusCode

__all__ = [
    "AGREED_CHANGE",
    "CHANGE",
    "CHANGE_BUSINESS_TYPE",
    "CHANGE_POLICY",
    "DELIVERY",
    "INCOMING",
    "LIFECYCLES",
    "OUTGOING",
    "RANK",
    "REPORTED_BY",
    "TRANSPORT",
    "WAITING",
]

_S = StatusCode
_O, _OE = OutgoingState, OutgoingEvent
_T, _TE = TransportState, TransportEvent
_D, _DE = DeliveryState, DeliveryEvent
_I, _IE = IncomingState, IncomingEvent
_C, _CE = ChangeState, ChangeEvent

_WORKING = (_I.RECEIVED, _I.ACCEPTED, _I.ASSIGNED, _I.PROCESSING)
_REPORTED = (_D.ARRIVED, _D.ACCEPTED, _D.ASSIGNED, _D.PROCESSING)

_OUTGOING = (
    _t(_OE.SIGN, _O.DRAFT, _O.SIGNED),
    _t(_OE.SEND, _O.SIGNED, _O.SENT),
    _t(_OE.UPDATE, _O.SENT, _O.SENT),
    _t(_OE.RECALL, _O.SENT, _O.RECALLED, _S.RECALL_REQUESTED),
    _t(_OE.REPLACE, _O.SENT, _O.REPLACED),
)

_TRANSPORT = (
    # A worker claims a due copy; a copy whose worker died is claimed again once its lease
    # has run out (the store finds which are due: WAITING and the lease).
    _t(_TE.CLAIM, (_T.QUEUED, _T.RETRYING, _T.SENDING), _T.SENDING),
    _t(_TE.SENT, _T.SENDING, _T.AWAITING_RECEIPT),
    # A signed receipt (01) that names what was sent. A late one proves arrival even
    # after a retry was scheduled or the copy was given up.
    _t(_TE.ACKNOWLEDGE, (_T.SENDING, _T.AWAITING_RECEIPT, _T.RETRYING, _T.FAILED),
       _T.ACKNOWLEDGED),
    _t(_TE.FAIL, (_T.SENDING, _T.AWAITING_RECEIPT), _T.RETRYING),
    _t(_TE.GIVE_UP, (_T.SENDING, _T.AWAITING_RECEIPT, _T.RETRYING), _T.FAILED),
    _t(_TE.RESEND, _T.FAILED, _T.QUEUED),
)

_DELIVERY = (
    # what the receiver's status packets report (the normal order; see merge_status)
    _t(_DE.ARRIVED, _D.PENDING, _D.ARRIVED),
    _t(_DE.ACCEPTED, _D.ARRIVED, _D.ACCEPTED),
    _t(_DE.REJECTED, _D.ARRIVED, _D.REJECTED),
    _t(_DE.ASSIGNED, (_D.ACCEPTED, _D.ASSIGNED), _D.ASSIGNED),
    _t(_DE.PROCESSING, (_D.ACCEPTED, _D.ASSIGNED), _D.PROCESSING),
    _t(_DE.COMPLETED, _D.PROCESSING, _D.COMPLETED),
    # the receiver agreed to a recall / replacement (its answer proves arrival, so it may
    # overtake the receipt); a completed or rejected copy cannot be taken back
    _t(_DE.RECALLED, (_D.PENDING, *_REPORTED), _D.RECALLED),
    _t(_DE.REPLACED, (_D.PENDING, *_REPORTED), _D.REPLACED),
)

_INCOMING = (
    _t(_IE.RECEIVE, _I.NEW, _I.RECEIVED, _S.ARRIVED),
    _t(_IE.ACCEPT, _I.RECEIVED, _I.ACCEPTED, _S.ACCEPTED),
    _t(_IE.REJECT, _I.RECEIVED, _I.REJECTED, _S.REJECTED, needs_reason=True),
    _t(_IE.ASSIGN, (_I.ACCEPTED, _I.ASSIGNED), _I.ASSIGNED, _S.ASSIGNED),
    _t(_IE.PROCESS, (_I.ACCEPTED, _I.ASSIGNED), _I.PROCESSING, _S.PROCESSING),
    _t(_IE.COMPLETE, _I.PROCESSING, _I.COMPLETED, _S.COMPLETED),
    # Answers to change requests. A request that arrives again after it was granted gets
    # the same answer again (an internal transition), never an error.
    _t(_IE.AGREE_RECALL, _WORKING, _I.RECALLED, _S.AGREED),
    _t(_IE.AGREE_RECALL, _I.RECALLED, None, _S.AGREED),
    _t(_IE.REFUSE_RECALL, (*_WORKING, _I.COMPLETED, _I.REJECTED, _I.REPLACED), None,
       _S.REFUSED, needs_reason=True),
    _t(_IE.AGREE_UPDATE, _WORKING, None, _S.AGREED),
    _t(_IE.REFUSE_UPDATE, (*_WORKING, _I.COMPLETED, _I.REJECTED, _I.RECALLED, _I.REPLACED),
       None, _S.REFUSED, needs_reason=True),
    _t(_IE.AGREE_REPLACE, _WORKING, _I.REPLACED, _S.AGREED),
    _t(_IE.AGREE_REPLACE, _I.REPLACED, None, _S.AGREED),
    _t(_IE.REFUSE_REPLACE, (*_WORKING, _I.COMPLETED, _I.REJECTED, _I.RECALLED), None,
       _S.REFUSED, needs_reason=True),
)

_CHANGE = (
    _t(_CE.REQUEST, (_C.NONE, _C.REFUSED), _C.REQUESTED),
    _t(_CE.AGREE, _C.REQUESTED, _C.AGREED),
    _t(_CE.REFUSE, _C.REQUESTED, _C.REFUSED, needs_reason=True),
)

OUTGOING: Lifecycle[OutgoingState, OutgoingEvent] = Lifecycle(
    "outgoing", OutgoingState, OutgoingEvent, _O.DRAFT, (_O.RECALLED, _O.REPLACED),
    _OUTGOING)
TRANSPORT: Lifecycle[TransportState, TransportEvent] = Lifecycle(
    "transport", TransportState, TransportEvent, _T.QUEUED,
    # "failed" is not final: it waits, visible, for an operator's resend (or a late receipt)
    (_T.ACKNOWLEDGED,), _TRANSPORT)
DELIVERY: Lifecycle[DeliveryState, DeliveryEvent] = Lifecycle(
    "delivery", DeliveryState, DeliveryEvent, _D.PENDING,
    (_D.REJECTED, _D.COMPLETED, _D.RECALLED, _D.REPLACED), _DELIVERY)
INCOMING: Lifecycle[IncomingState, IncomingEvent] = Lifecycle(
    "incoming", IncomingState, IncomingEvent, _I.NEW,
    (_I.REJECTED, _I.COMPLETED, _I.RECALLED, _I.REPLACED), _INCOMING)
CHANGE: Lifecycle[ChangeState, ChangeEvent] = Lifecycle(
    "change", ChangeState, ChangeEvent, _C.NONE, (_C.AGREED,), _CHANGE)

#: Every machine by name (for the CLI and the docs).
LIFECYCLES: Mapping[str, Lifecycle[OutgoingState, OutgoingEvent]
                    | Lifecycle[TransportState, TransportEvent]
                    | Lifecycle[DeliveryState, DeliveryEvent]
                    | Lifecycle[IncomingState, IncomingEvent]
                    | Lifecycle[ChangeState, ChangeEvent]] = {
    machine.name: machine for machine in (OUTGOING, TRANSPORT, DELIVERY, INCOMING, CHANGE)
}

#: The transport states of a packet still on its way (due now, later, or being sent):
#: what the outbox claims from and what "stuck" lists.
WAITING: tuple[TransportState, ...] = (_T.QUEUED, _T.RETRYING, _T.SENDING)

#: How far along a delivery is, as its status packets report it (merge_status): a report
#: of a lower rank than the state changes nothing. Rejected sits beside accepted (both
#: answer "arrived"); recalled / replaced end the copy, and no report moves it after.
RANK: Mapping[DeliveryState, int] = {
    _D.PENDING: 0, _D.ARRIVED: 1, _D.ACCEPTED: 2, _D.REJECTED: 2, _D.ASSIGNED: 3,
    _D.PROCESSING: 4, _D.COMPLETED: 5, _D.RECALLED: 6, _D.REPLACED: 6,
}

#: The delivery state each progress report (01-06) says a copy reached.
REPORTED_BY: Mapping[StatusCode, DeliveryState] = {
    _S.ARRIVED: _D.ARRIVED,
    _S.ACCEPTED: _D.ACCEPTED,
    _S.REJECTED: _D.REJECTED,
    _S.ASSIGNED: _D.ASSIGNED,
    _S.PROCESSING: _D.PROCESSING,
    _S.COMPLETED: _D.COMPLETED,
}

#: What a receiver's agreement does at the sender, by the change asked: the copy's
#: DELIVERY event and, once every copy has agreed, the document's OUTGOING event (an
#: agreed update changes neither: the update travelled as a new document).
AGREED_CHANGE: Mapping[ChangeKind, tuple[DeliveryEvent, OutgoingEvent] | None] = {
    ChangeKind.RECALL: (_DE.RECALLED, _OE.RECALL),
    ChangeKind.UPDATE: None,
    ChangeKind.REPLACE: (_DE.REPLACED, _OE.REPLACE),
}

#: The receiver's INCOMING events that answer each change: (agree, refuse).
_ANSWERS: Mapping[ChangeKind, tuple[IncomingEvent, IncomingEvent]] = {
    ChangeKind.RECALL: (_IE.AGREE_RECALL, _IE.REFUSE_RECALL),
    ChangeKind.UPDATE: (_IE.AGREE_UPDATE, _IE.REFUSE_UPDATE),
    ChangeKind.REPLACE: (_IE.AGREE_REPLACE, _IE.REFUSE_REPLACE),
}


def _agreeable(event: IncomingEvent) -> frozenset[IncomingState]:
    return frozenset(IncomingState(source) for t in _INCOMING if t.event is event
                     for source in t.sources)


#: How a receiver answers a change request, by the state of its document: the events
#: that agree and refuse, the states where it agrees (the sources of the ``agree_*`` rows
#: above: change those rows and the policy follows), and the reason it refuses with
#: everywhere else.
CHANGE_POLICY: Mapping[ChangeKind, tuple[IncomingEvent, IncomingEvent,
                                         frozenset[IncomingState], str]] = {
    kind: (agree, refuse, _agreeable(agree), "the document is already {state}")
    for kind, (agree, refuse) in _ANSWERS.items()
}

#: The edXML business type (BussinessDocType) that carries each change.
CHANGE_BUSINESS_TYPE: Mapping[ChangeKind, BusinessDocType] = {
    ChangeKind.RECALL: BusinessDocType.RECALL,
    ChangeKind.UPDATE: BusinessDocType.UPDATE,
    ChangeKind.REPLACE: BusinessDocType.REPLACE,
}


def _check(table: tuple[Transition, ...]) -> None:
    """Every change kind's answers exist in the INCOMING table (import-time check)."""
    events = {t.event for t in table}
    missing = [e for pair in _ANSWERS.values() for e in pair if e not in events]
    if missing:
        raise RuntimeError(f"change answers without a row: {missing}")


_check(_INCOMING)
