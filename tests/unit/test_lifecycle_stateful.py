"""A sender and a receiver driven through random events over a lossy network.

The network drops, duplicates and reorders packets; each side keeps what it sent in an
outbox and may send it again (as docflow's outbox does). Invariants after every step: no
undefined state, the sender's view never ahead of the receiver's, recall rules kept; and
once the network settles, both views agree.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from docflow.lifecycle import (
    CHANGE,
    DELIVERY,
    INCOMING,
    TRANSPORT,
    ChangeKind,
    answer_change,
    is_change_answer,
    merge_change,
    merge_status,
)
from docflow.model import StatusCode

# How far along each side is, in the same units.
RECEIVER_RANK = {"new": 0, "received": 1, "accepted": 2, "rejected": 2, "assigned": 3,
                 "processing": 4, "completed": 5, "recalled": 6, "replaced": 6}
SENDER_RANK = {"pending": 0, "arrived": 1,
               "accepted": 2, "rejected": 2, "assigned": 3, "processing": 4, "completed": 5,
               "recalled": 6, "replaced": 6}
AS_RECEIVER = {"arrived": "received"}
WORK = ["accept", "reject", "assign", "process", "complete"]


class SenderAndReceiver(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.delivery = DELIVERY.initial  # the sender's view of the copy
        self.transport = TRANSPORT.initial
        self.change = CHANGE.initial  # the sender's recall request
        self.receiver = INCOMING.initial
        self.to_receiver: list[str] = []  # "document" | "recall"
        self.to_sender: list[StatusCode] = []
        self.sender_outbox: list[str] = []  # sent, may be sent again
        self.receiver_outbox: list[StatusCode] = []
        self.recall_seen_by_receiver = False
        self.completed_before_recall = False

    # ----------------------------------------------------------------- sender
    @rule()
    def transmit(self) -> None:
        if TRANSPORT.can(self.transport, "claim"):
            self.transport = TRANSPORT.apply(self.transport, "claim").state
            self.transport = TRANSPORT.apply(self.transport, "sent").state
            self._send("document")

    @rule()
    def transport_fails(self) -> None:
        if TRANSPORT.can(self.transport, "fail"):
            self.transport = TRANSPORT.apply(self.transport, "fail").state

    @rule()
    def give_up_and_resend(self) -> None:
        if TRANSPORT.can(self.transport, "give_up"):
            self.transport = TRANSPORT.apply(self.transport, "give_up").state
            self.transport = TRANSPORT.apply(self.transport, "resend").state

    @precondition(lambda self: self.delivery in ("arrived", "accepted", "assigned",
                                                 "processing", "completed"))
    @rule()
    def request_recall(self) -> None:
        if CHANGE.can(self.change, "request"):
            self.change = CHANGE.apply(self.change, "request").state
            self._send("recall")

    def _send(self, packet: str) -> None:
        self.sender_outbox.append(packet)
        self.to_receiver.append(packet)

    # ----------------------------------------------------------------- receiver
    @rule(event=st.sampled_from(WORK))
    def receiver_works(self, event: str) -> None:
        if INCOMING.can(self.receiver, event):
            step = INCOMING.apply(self.receiver, event, reason="sai thẩm quyền")
            self.receiver = step.state
            self._report(step.emit)

    def _report(self, code: StatusCode | None) -> None:
        assert code is not None
        self.receiver_outbox.append(code)
        self.to_sender.append(code)

    # ----------------------------------------------------------------- network
    @precondition(lambda self: self.to_receiver)
    @rule(data=st.data())
    def deliver_to_receiver(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.to_receiver) - 1))
        packet = self.to_receiver.pop(index)
        if packet == "document":
            if self.receiver == "new":
                step = INCOMING.apply("new", "receive")
                self.receiver = step.state
                self._report(step.emit)
            else:  # a duplicate: the earlier receipt again, nothing new
                self.to_sender.append(StatusCode.ARRIVED)
        elif self.receiver == "new":
            self.to_receiver.append(packet)  # the recall overtook the document: wait
        else:
            if not self.recall_seen_by_receiver:
                self.completed_before_recall = self.receiver == "completed"
            self.recall_seen_by_receiver = True
            event, reason = answer_change(ChangeKind.RECALL, self.receiver)
            step = INCOMING.apply(self.receiver, event, reason)
            self.receiver = step.state
            self._report(step.emit)

    @precondition(lambda self: self.to_sender)
    @rule(data=st.data())
    def deliver_to_sender(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.to_sender) - 1))
        self._sender_gets(self.to_sender.pop(index))

    def _sender_gets(self, code: StatusCode) -> None:
        if is_change_answer(code):
            if self.change == "none":
                return  # an answer to nothing we asked: ignored
            self.change = merge_change(self.change, code).state
            if self.change == "agreed" and DELIVERY.can(self.delivery, "recalled"):
                self.delivery = DELIVERY.apply(self.delivery, "recalled").state
        else:
            self.delivery = merge_status(self.delivery, code)
            if code is StatusCode.ARRIVED and TRANSPORT.can(self.transport, "acknowledge"):
                self.transport = TRANSPORT.apply(self.transport, "acknowledge").state

    @precondition(lambda self: self.to_receiver or self.to_sender)
    @rule(data=st.data(), duplicate=st.booleans())
    def network_drops_or_duplicates(self, data: st.DataObject, duplicate: bool) -> None:
        queue = data.draw(st.sampled_from([q for q in (self.to_receiver, self.to_sender) if q]))
        index = data.draw(st.integers(0, len(queue) - 1))
        if duplicate:
            queue.append(queue[index])
        else:
            queue.pop(index)

    @rule()
    def outboxes_resend(self) -> None:
        self.to_receiver.extend(self.sender_outbox)
        self.to_sender.extend(self.receiver_outbox)

    # ----------------------------------------------------------------- invariants
    @invariant()
    def states_are_defined(self) -> None:
        assert self.delivery in DELIVERY.states
        assert self.transport in TRANSPORT.states
        assert self.receiver in INCOMING.states
        assert self.change in CHANGE.states

    @invariant()
    def sender_never_ahead_of_receiver(self) -> None:
        assert SENDER_RANK[self.delivery] <= RECEIVER_RANK[self.receiver]
        if self.delivery in ("rejected", "recalled"):
            assert self.receiver == self.delivery
        if self.receiver == "rejected":
            assert self.delivery not in ("accepted", "assigned", "processing", "completed")

    @invariant()
    def recall_rules(self) -> None:
        if self.receiver == "recalled":
            assert self.change != "none"  # only ever on request
        if self.change == "agreed":
            assert self.receiver == "recalled"
        if self.completed_before_recall:
            assert self.receiver == "completed" and self.change != "agreed"

    def teardown(self) -> None:
        # Let the network settle: every outbox resent, every packet delivered in order.
        for _ in range(3):
            self.to_receiver = list(self.sender_outbox)
            self.to_sender = []
            while self.to_receiver:
                packet = self.to_receiver.pop(0)
                if packet == "recall" and self.receiver == "new":
                    continue
                self._receiver_gets(packet)
            for code in list(self.receiver_outbox):
                self._sender_gets(code)
        if self.receiver != "new":
            expected = AS_RECEIVER.get(self.delivery, self.delivery)
            assert expected == self.receiver, (self.delivery, self.receiver)
            assert self.transport == "acknowledged" or self.delivery != "pending"

    def _receiver_gets(self, packet: str) -> None:
        if packet == "document":
            if self.receiver == "new":
                step = INCOMING.apply("new", "receive")
                self.receiver = step.state
                self.receiver_outbox.append(StatusCode.ARRIVED)
        elif not self.recall_seen_by_receiver:
            self.recall_seen_by_receiver = True
            event, reason = answer_change(ChangeKind.RECALL, self.receiver)
            step = INCOMING.apply(self.receiver, event, reason)
            self.receiver = step.state
            assert step.emit is not None
            self.receiver_outbox.append(step.emit)


SenderAndReceiver.TestCase.settings = settings(
    max_examples=settings.default.max_examples, stateful_step_count=40, deadline=None
)
TestSenderAndReceiver = SenderAndReceiver.TestCase
