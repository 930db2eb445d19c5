"""The domain's decisions, as pure functions: no database, no network (issue 28). Each
is what a store room used to decide between SQL statements; the rooms now load, ask
these, and save."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docflow import domain
from docflow.domain import Admission, Copy, Seen, Twin
from docflow.errors import ConcurrencyError, LifecycleError, ReplayError, StoreError
from docflow.lifecycle import (
    RANK,
    ChangeEvent,
    ChangeKind,
    ChangeState,
    DeliveryEvent,
    DeliveryState,
    IncomingEvent,
    IncomingState,
    Outcome,
    OutgoingEvent,
    OutgoingState,
    TransportEvent,
    TransportState,
)
from docflow.model import StatusCode
from docflow.store import RetryPolicy

NOW = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
SENT = Copy(TransportState.ACKNOWLEDGED, DeliveryState.PENDING)
ACCEPTED_PATH = [StatusCode.ARRIVED, StatusCode.ACCEPTED, StatusCode.ASSIGNED,
                 StatusCode.PROCESSING, StatusCode.COMPLETED]
REJECTED_PATH = [StatusCode.ARRIVED, StatusCode.REJECTED]


def _fold(copy: Copy, codes: list[StatusCode]) -> tuple[Copy, list[domain.Entry]]:
    entries: list[domain.Entry] = []
    for code in codes:
        taken = domain.take_status(copy, code)
        copy = taken.copy
        entries += taken.entries
    return copy, entries


@given(st.sampled_from([ACCEPTED_PATH, REJECTED_PATH]).flatmap(
    lambda path: st.lists(st.sampled_from(path), min_size=1, max_size=12)))
def test_progress_reports_fold_to_the_furthest_whatever_their_order(
        codes: list[StatusCode]) -> None:
    """Any order, any repeats: the copy ends at the furthest state reported, and its
    history is a chain (each entry starts where the previous ended), always forward."""
    forward, _ = _fold(SENT, sorted(codes, key=lambda c: RANK[_state(c)]))
    shuffled, entries = _fold(SENT, codes)
    assert shuffled.business == forward.business == max(
        (_state(c) for c in codes), key=RANK.__getitem__)
    before = DeliveryState.PENDING
    for entry in entries:
        assert entry.before == before and RANK[DeliveryState(entry.after)] > RANK[before]
        before = DeliveryState(entry.after)


def _state(code: StatusCode) -> DeliveryState:
    return DeliveryState(code.name.lower())


def test_a_contradiction_is_refused_and_changes_nothing() -> None:
    accepted, _ = _fold(SENT, [StatusCode.ACCEPTED])
    with pytest.raises(LifecycleError, match="contradicts"):
        domain.take_status(accepted, StatusCode.REJECTED)


def test_an_agreed_recall_ends_the_copy_and_names_the_event_not_the_state() -> None:
    """The history of a change answer carries the CHANGE machine's event ``agree`` (the
    review found the state ``agreed`` written where the event belongs)."""
    asked = Copy(TransportState.ACKNOWLEDGED, DeliveryState.ACCEPTED,
                 ChangeState.REQUESTED, ChangeKind.RECALL)
    taken = domain.take_status(asked, StatusCode.AGREED)
    assert taken.copy.change is ChangeState.AGREED
    assert taken.copy.business is DeliveryState.RECALLED
    assert taken.agreed is DeliveryEvent.RECALLED
    assert [(e.machine, e.event) for e in taken.entries] == [
        ("change", ChangeEvent.AGREE), ("delivery", DeliveryEvent.RECALLED)]


def test_an_agreed_update_changes_the_change_only() -> None:
    asked = Copy(TransportState.ACKNOWLEDGED, DeliveryState.ACCEPTED,
                 ChangeState.REQUESTED, ChangeKind.UPDATE)
    taken = domain.take_status(asked, StatusCode.AGREED)
    assert taken.copy.business is DeliveryState.ACCEPTED and taken.agreed is None


def test_a_legacy_peer_answers_with_03_and_02() -> None:
    asked = Copy(TransportState.ACKNOWLEDGED, DeliveryState.ACCEPTED,
                 ChangeState.REQUESTED, ChangeKind.REPLACE)
    legacy = domain.take_status(asked, StatusCode.ACCEPTED, legacy_answers=True)
    assert legacy.copy.business is DeliveryState.REPLACED
    # without the setting, a 03 in flight is progress, never an agreement
    plain = domain.take_status(asked, StatusCode.ACCEPTED)
    assert plain.copy.change is ChangeState.REQUESTED and plain.agreed is None
    refused = domain.take_status(asked, StatusCode.REFUSED, "đã xử lý xong")
    assert refused.copy.change is ChangeState.REFUSED
    assert refused.entries[0].reason == "đã xử lý xong"


def test_a_receipt_as_a_status_ends_the_transport_once() -> None:
    waiting = Copy(TransportState.AWAITING_RECEIPT, DeliveryState.PENDING)
    taken = domain.take_status(waiting, StatusCode.ARRIVED)
    assert taken.acknowledged and taken.copy.transport is TransportState.ACKNOWLEDGED
    again = domain.take_status(taken.copy, StatusCode.ARRIVED)
    assert not again.acknowledged and again.entries == ()


@pytest.mark.parametrize(("copies", "settles"), [
    ([DeliveryState.RECALLED, DeliveryState.RECALLED], True),
    ([DeliveryState.RECALLED, DeliveryState.ACCEPTED], False),  # one copy stands
    ([], False),
])
def test_the_document_settles_once_every_copy_agreed(copies: list[DeliveryState],
                                                     settles: bool) -> None:
    settled = domain.settle_document(OutgoingState.SENT, copies, DeliveryEvent.RECALLED)
    assert (settled is not None) is settles
    if settled is not None:
        step, entry = settled
        assert step.state is OutgoingState.RECALLED and entry.event is OutgoingEvent.RECALL


def test_a_settled_document_does_not_settle_twice() -> None:
    assert domain.settle_document(OutgoingState.RECALLED, [DeliveryState.RECALLED],
                                  DeliveryEvent.RECALLED) is None


def test_a_change_asks_the_copies_still_held() -> None:
    copies = [Copy(TransportState.ACKNOWLEDGED, DeliveryState.ACCEPTED),
              Copy(TransportState.ACKNOWLEDGED, DeliveryState.REJECTED),  # gone
              Copy(TransportState.ACKNOWLEDGED, DeliveryState.ARRIVED, ChangeState.REQUESTED)]
    asked = domain.ask_change(ChangeKind.RECALL, 7, copies, asking=True)
    assert [(index, step.state) for index, step, _ in asked] == [(0, ChangeState.REQUESTED)]
    assert asked[0][2].reason == "recall"


def test_a_recall_that_asks_nobody_says_why() -> None:
    gone = [Copy(TransportState.ACKNOWLEDGED, DeliveryState.RECALLED)]
    with pytest.raises(LifecycleError, match="no recipient holds it"):
        domain.ask_change(ChangeKind.RECALL, 7, gone, asking=True)
    assert domain.ask_change(ChangeKind.UPDATE, 7, gone, asking=False) == []


def test_an_act_at_another_version_is_refused() -> None:
    with pytest.raises(ConcurrencyError, match="version 3, not 2"):
        domain.act(IncomingState.RECEIVED, 3, IncomingEvent.ACCEPT, expected_version=2)
    step = domain.act("received", 3, IncomingEvent.ACCEPT, expected_version=3)
    assert step.state is IncomingState.ACCEPTED
    with pytest.raises(LifecycleError, match="allowed events"):
        domain.act(IncomingState.COMPLETED, 1, IncomingEvent.ACCEPT)


@given(st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8), st.booleans())
def test_a_message_seen_before_is_answered_the_same_or_refused(
        first: str, second: str, derived: bool) -> None:
    seen = Seen(1, first, "content-" + first, NOW + dt.timedelta(days=1))
    if first == second:
        assert domain.admit(seen, digest=second, identity="x", derived=derived,
                            message_id="m", now=NOW) is Admission.AGAIN
    elif derived:
        assert domain.admit(seen, digest=second, identity="x", derived=True,
                            message_id="m", now=NOW) is Admission.REBUILT
    else:
        with pytest.raises(ReplayError, match="received before with different content"):
            domain.admit(seen, digest=second, identity="x", derived=False, message_id="m",
                         now=NOW)
    # the same signed content in other bytes (another encoding, a trace hop) is the same
    assert domain.admit(seen, digest=second + "!", identity="content-" + first,
                        derived=False, message_id="m", now=NOW) is Admission.AGAIN


def test_a_message_remembered_no_longer_is_new_again() -> None:
    old = Seen(1, "a", None, NOW - dt.timedelta(seconds=1))
    assert domain.admit(old, digest="b", identity="b", derived=False, message_id="m",
                        now=NOW) is Admission.FORGOTTEN
    assert domain.admit(None, digest="b", identity="b", derived=False, message_id="m",
                        now=NOW) is Admission.NEW
    kept = Seen(1, "a", None)  # a hub: no expiry
    assert domain.admit(kept, digest="a", identity="a", derived=False, message_id="m",
                        now=NOW + dt.timedelta(days=9999)) is Admission.AGAIN


@pytest.mark.parametrize(("earlier", "signature", "found", "relation"), [
    (None, "verified", False, Twin.NONE),
    ("verified", "absent", True, Twin.FIRST_STANDS),  # an unsigned copy never shadows
    ("absent", "unverifiable", True, Twin.FIRST_STANDS),
    ("absent", "verified", True, Twin.SUPERSEDES),  # the signed one wins
    ("verified", None, True, Twin.NONE),  # two signed documents both stand
])
def test_a_documentid_twin(earlier: str | None, signature: str | None, found: bool,
                           relation: Twin) -> None:
    assert domain.twin_of(earlier, signature, found=found) is relation


@given(st.integers(min_value=1, max_value=20), st.floats(min_value=0, max_value=1))
def test_a_failed_attempt_is_retried_until_the_policy_is_spent(attempts: int,
                                                                roll: float) -> None:
    policy = RetryPolicy(intervals=(30, 60), max_attempts=5, jitter=0.2)
    event, delay = domain.after_failure(attempts, policy, roll)
    if attempts >= 5:
        assert event is TransportEvent.GIVE_UP and delay is None
    else:
        assert event is TransportEvent.FAIL and delay is not None
        base = 30 if attempts == 1 else 60
        assert base * 0.8 <= delay.total_seconds() <= base * 1.2


@pytest.mark.parametrize(("state", "outcome", "events"), [
    (TransportState.QUEUED, Outcome.DONE, (TransportEvent.CLAIM, TransportEvent.ACKNOWLEDGE)),
    (TransportState.QUEUED, Outcome.FAIL, (TransportEvent.CLAIM, TransportEvent.FAIL)),
    (TransportState.QUEUED, Outcome.PROCESSING, (TransportEvent.CLAIM,)),
    (TransportState.AWAITING_RECEIPT, Outcome.DONE, (TransportEvent.ACKNOWLEDGE,)),
    (TransportState.ACKNOWLEDGED, Outcome.DONE, ()),  # twice is harmless
    (TransportState.FAILED, Outcome.FAIL, ()),  # a dead letter is not failed again
    (TransportState.FAILED, Outcome.DONE, (TransportEvent.ACKNOWLEDGE,)),  # late proof
])
def test_a_platform_clients_word(state: TransportState, outcome: Outcome,
                                 events: tuple[TransportEvent, ...]) -> None:
    assert domain.settlement(state, outcome) == events


def test_an_unknown_word_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown outcome"):
        domain.settlement(TransportState.QUEUED, "maybe", delivery_id=4)
