"""The lifecycle vocabulary: every state, event, direction and kind docflow stores or
acts on, typed. The store keeps their values in its columns (a ``StrEnum`` is its value:
``IncomingState.ACCEPTED == "accepted"``, so no migration); everywhere else they travel as
these types, so a typo is a type error, never a silent no-op."""

from __future__ import annotations

import enum

__all__ = [
    "ChangeEvent",
    "ChangeKind",
    "ChangeState",
    "DeliveryEvent",
    "DeliveryState",
    "Direction",
    "IncomingEvent",
    "IncomingState",
    "MessageKind",
    "Outcome",
    "OutgoingEvent",
    "OutgoingState",
    "RelayState",
    "TransportEvent",
    "TransportState",
]


class Direction(enum.StrEnum):
    """Which way a stored document (or status packet) went at this organ."""

    IN = "in"  #: received
    OUT = "out"  #: sent
    HOP = "hop"  #: relayed by a hub (its custody, on the way between two organs)


class MessageKind(enum.StrEnum):
    """What a stored packet is to its document: the document itself, a status packet
    about it, or the signed receipt (01) that proves a copy arrived."""

    DOCUMENT = "document"
    STATUS = "status"
    RECEIPT = "receipt"


class Outcome(enum.StrEnum):
    """A platform client's word on an item it fetched (the axes' acknowledgement)."""

    DONE = "done"  #: received and stored: acknowledged
    FAIL = "fail"  #: could not take it: a failed attempt
    PROCESSING = "processing"  #: still working on it: the lease only


class ChangeKind(enum.StrEnum):
    """What a sender asks of a sent document (BussinessDocType 1, 2, 3)."""

    RECALL = "recall"  #: thu hồi
    UPDATE = "update"  #: cập nhật
    REPLACE = "replace"  #: thay thế


class OutgoingState(enum.StrEnum):
    """A document at its sender."""

    DRAFT = "draft"
    SIGNED = "signed"
    SENT = "sent"
    RECALLED = "recalled"
    REPLACED = "replaced"


class OutgoingEvent(enum.StrEnum):
    """What happens to a document at its sender."""

    SIGN = "sign"
    SEND = "send"
    UPDATE = "update"
    RECALL = "recall"
    REPLACE = "replace"


class TransportState(enum.StrEnum):
    """Getting one packet to one recipient (the outbox)."""

    QUEUED = "queued"
    SENDING = "sending"
    AWAITING_RECEIPT = "awaiting_receipt"
    ACKNOWLEDGED = "acknowledged"
    RETRYING = "retrying"
    FAILED = "failed"  #: a dead letter: waits for an operator's resend (or a late receipt)


class TransportEvent(enum.StrEnum):
    """What happens to a packet on its way."""

    CLAIM = "claim"
    SENT = "sent"
    ACKNOWLEDGE = "acknowledge"
    FAIL = "fail"
    GIVE_UP = "give_up"
    RESEND = "resend"


class DeliveryState(enum.StrEnum):
    """The sender's view of one copy's business state, as the receiver reports it."""

    PENDING = "pending"
    ARRIVED = "arrived"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ASSIGNED = "assigned"
    PROCESSING = "processing"
    COMPLETED = "completed"
    RECALLED = "recalled"
    REPLACED = "replaced"


class DeliveryEvent(enum.StrEnum):
    """What the receiver reported of a copy (one event per progress report)."""

    ARRIVED = "arrived"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ASSIGNED = "assigned"
    PROCESSING = "processing"
    COMPLETED = "completed"
    RECALLED = "recalled"
    REPLACED = "replaced"


class IncomingState(enum.StrEnum):
    """A document at its receiver."""

    NEW = "new"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ASSIGNED = "assigned"
    PROCESSING = "processing"
    COMPLETED = "completed"
    RECALLED = "recalled"
    REPLACED = "replaced"


class IncomingEvent(enum.StrEnum):
    """What a receiver does with a document (each emits its status code)."""

    RECEIVE = "receive"
    ACCEPT = "accept"
    REJECT = "reject"
    ASSIGN = "assign"
    PROCESS = "process"
    COMPLETE = "complete"
    AGREE_RECALL = "agree_recall"
    REFUSE_RECALL = "refuse_recall"
    AGREE_UPDATE = "agree_update"
    REFUSE_UPDATE = "refuse_update"
    AGREE_REPLACE = "agree_replace"
    REFUSE_REPLACE = "refuse_replace"


class ChangeState(enum.StrEnum):
    """A recall, update or replacement asked of one copy."""

    NONE = "none"
    REQUESTED = "requested"
    AGREED = "agreed"
    REFUSED = "refused"


class ChangeEvent(enum.StrEnum):
    """The request and the receiver's answers."""

    REQUEST = "request"
    AGREE = "agree"
    REFUSE = "refuse"


class RelayState(enum.StrEnum):
    """A document in a hub's custody: one state (what happens to each copy it forwards
    is that copy's transport and delivery state)."""

    RELAYED = "relayed"
