"""Document and delivery lifecycles: every state-machine rule of docflow lives in this
package.

Rules of this package (as h11's ``_state.py``): everything that decides a state
transition is in :mod:`~docflow.lifecycle.tables`, over the typed words of
:mod:`~docflow.lifecycle.vocabulary`; :mod:`~docflow.lifecycle.rules` reads the tables
(status merging, change answers); the rest of docflow asks this package and stores what
it answers. No state or event is written as a bare string anywhere else (a test greps).

Five machines, each over a state the store keeps in a column (the enum's value):

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

A hub's relayed document has one state (``RelayState.RELAYED``); its copies have their
transport and delivery states.

Each table is built into a ``transitions.Machine`` at import (model-less: no machine per
document); the machine validates the table and draws the diagrams, and
:meth:`Lifecycle.apply` runs on a dict compiled from the machine's own transitions,
because a ``transitions`` trigger costs ~27 us against ~0.1 us for a lookup. Applying an
event is a pure function ``(state, event) -> Step(new state, status code to emit)``: an
illegal event raises :class:`~docflow.errors.LifecycleError` and changes nothing.

Status packets reach a sender out of order and more than once; :func:`merge_status` folds
them into a delivery monotonically (a state never moves back) and idempotently, so the
final state does not depend on arrival order.
"""

from docflow.lifecycle.changes import link_change, readme_with_diagrams
from docflow.lifecycle.machine import Lifecycle, Step, Transition
from docflow.lifecycle.rules import (
    answer_change,
    change_event,
    change_kind_of,
    is_change_answer,
    merge_change,
    merge_status,
    nothing_to_change,
    resend_refusal,
    standing,
)
from docflow.lifecycle.tables import (
    AGREED_CHANGE,
    CHANGE,
    CHANGE_BUSINESS_TYPE,
    CHANGE_POLICY,
    DELIVERY,
    INCOMING,
    LIFECYCLES,
    OUTGOING,
    RANK,
    REPORTED_BY,
    TRANSPORT,
    WAITING,
)
from docflow.lifecycle.vocabulary import (
    ChangeEvent,
    ChangeKind,
    ChangeState,
    DeliveryEvent,
    DeliveryState,
    Direction,
    IncomingEvent,
    IncomingState,
    MessageKind,
    Outcome,
    OutgoingEvent,
    OutgoingState,
    RelayState,
    TransportEvent,
    TransportState,
)

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
    "ChangeEvent",
    "ChangeKind",
    "ChangeState",
    "DeliveryEvent",
    "DeliveryState",
    "Direction",
    "IncomingEvent",
    "IncomingState",
    "Lifecycle",
    "MessageKind",
    "Outcome",
    "OutgoingEvent",
    "OutgoingState",
    "RelayState",
    "Step",
    "Transition",
    "TransportEvent",
    "TransportState",
    "answer_change",
    "change_event",
    "change_kind_of",
    "is_change_answer",
    "link_change",
    "merge_change",
    "merge_status",
    "nothing_to_change",
    "readme_with_diagrams",
    "resend_refusal",
    "standing",
]
