"""Lifecycle tables: legal and illegal events, the compiled table against transitions
itself, order-independent merging of status packets, change requests, diagrams."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transitions import MachineError

from docflow.errors import LifecycleError
from docflow.lifecycle import (
    CHANGE,
    DELIVERY,
    INCOMING,
    LIFECYCLES,
    OUTGOING,
    TRANSPORT,
    ChangeKind,
    Lifecycle,
    answer_change,
    merge_change,
    merge_status,
)
from docflow.model import StatusCode

MACHINES = list(LIFECYCLES.values())


class _Model:
    """What a model-less transitions machine fires on: something with a state."""

    def __init__(self, state: str):
        self.state = state


@pytest.mark.parametrize("lifecycle", MACHINES, ids=[m.name for m in MACHINES])
def test_compiled_table_agrees_with_transitions(lifecycle: Lifecycle) -> None:
    for state, event in itertools.product(lifecycle.states, lifecycle.events):
        model = _Model(state.value)  # the machine holds values (it reads an Enum by name)
        try:
            fired = lifecycle.machine.events[event.value].trigger(model)
        except MachineError:
            fired = False
        assert lifecycle.can(state, event) is bool(fired), (state, event)
        if fired:
            assert lifecycle.apply(state, event, reason="r").state == model.state


@pytest.mark.parametrize("lifecycle", MACHINES, ids=[m.name for m in MACHINES])
def test_every_state_is_reachable_and_finals_stay_final(lifecycle: Lifecycle) -> None:
    seen, frontier = {lifecycle.initial}, [lifecycle.initial]
    while frontier:
        state = frontier.pop()
        for event in lifecycle.allowed(state):
            nxt = lifecycle.apply(state, event, reason="r").state
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(lifecycle.states)
    for state in lifecycle.final:
        for event in lifecycle.allowed(state):
            assert lifecycle.apply(state, event, reason="r").state == state  # answers only


def test_the_incoming_path_emits_the_edxml_codes() -> None:
    state, codes = "new", []
    for event in ("receive", "accept", "assign", "process", "complete"):
        step = INCOMING.apply(state, event)
        state = step.state
        codes.append(step.emit.value if step.emit else None)
    assert (state, codes) == ("completed", ["01", "03", "04", "05", "06"])
    assert INCOMING.apply("processing", "complete").final


def test_illegal_event_names_state_event_and_allowed_events() -> None:
    with pytest.raises(LifecycleError) as info:
        INCOMING.apply("received", "complete")
    text = str(info.value)
    assert "'complete'" in text and "'received'" in text
    assert "allowed events: accept" in text and "reject" in text


def test_final_state_says_so() -> None:
    with pytest.raises(LifecycleError, match="final"):
        OUTGOING.apply("recalled", "send")


def test_unknown_state_and_event() -> None:
    with pytest.raises(LifecycleError, match="unknown state"):
        INCOMING.apply("lost", "accept")
    with pytest.raises(LifecycleError, match="unknown event"):
        INCOMING.apply("received", "shred")


def test_rejection_needs_a_reason() -> None:
    with pytest.raises(LifecycleError, match="needs a reason"):
        INCOMING.apply("received", "reject")
    assert INCOMING.apply("received", "reject", reason="sai thẩm quyền").state == "rejected"


def test_outgoing_and_transport() -> None:
    assert OUTGOING.apply("draft", "sign").state == "signed"
    assert OUTGOING.apply("sent", "recall").emit is StatusCode.RECALL_REQUESTED
    state = "queued"
    for event in ("claim", "fail", "claim", "sent", "give_up", "resend", "claim", "sent",
                  "acknowledge"):
        state = TRANSPORT.apply(state, event).state
    assert state == "acknowledged"
    assert TRANSPORT.apply("failed", "acknowledge").state == "acknowledged"  # late receipt


# --------------------------------------------------------------------------- merging

PATH = [StatusCode.ARRIVED, StatusCode.ACCEPTED, StatusCode.ASSIGNED, StatusCode.PROCESSING,
        StatusCode.COMPLETED]
NAMES = {StatusCode.ARRIVED: "arrived", StatusCode.ACCEPTED: "accepted",
         StatusCode.REJECTED: "rejected", StatusCode.ASSIGNED: "assigned",
         StatusCode.PROCESSING: "processing", StatusCode.COMPLETED: "completed"}


@st.composite
def valid_sequences(draw: st.DrawFn) -> list[StatusCode]:
    if draw(st.booleans()):
        return PATH[: draw(st.integers(1, len(PATH)))]
    return [StatusCode.ARRIVED, StatusCode.REJECTED][: draw(st.integers(1, 2))]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[StatusCode], list[StatusCode]]:
    """A valid status sequence, and how the network delivered it: permuted, duplicated
    (every packet at least once)."""
    sequence = draw(valid_sequences())
    extra = draw(st.lists(st.sampled_from(sequence), max_size=6))
    return sequence, draw(st.permutations(sequence + extra))


@given(deliveries())
def test_merging_is_order_independent_and_idempotent(delivered) -> None:
    sequence, arrivals = delivered
    state = "pending"
    for code in arrivals:
        state = merge_status(state, code)
    assert state == NAMES[sequence[-1]]
    assert merge_status(state, sequence[-1]) == state  # idempotent


@given(deliveries())
def test_merging_never_moves_back(delivered) -> None:
    _, arrivals = delivered
    state, rank = "pending", DELIVERY.states.index
    order = ["pending", "arrived", "accepted", "rejected", "assigned", "processing",
             "completed"]
    for code in arrivals:
        new = merge_status(state, code)
        assert order.index(new) >= order.index(state) or new == state
        state = new
    assert rank(state) >= 0


def test_contradictory_reports_are_refused() -> None:
    with pytest.raises(LifecycleError, match="contradicts"):
        merge_status("accepted", StatusCode.REJECTED)
    with pytest.raises(LifecycleError, match="contradicts"):
        merge_status("rejected", StatusCode.PROCESSING)
    assert merge_status("rejected", StatusCode.ARRIVED) == "rejected"
    with pytest.raises(LifecycleError, match="not a progress report"):
        merge_status("arrived", StatusCode.AGREED)


def test_recalled_copies_ignore_late_reports() -> None:
    assert merge_status("recalled", StatusCode.PROCESSING) == "recalled"


# --------------------------------------------------------------------------- changes

@pytest.mark.parametrize(("kind", "state", "event"), [
    (ChangeKind.RECALL, "received", "agree_recall"),
    (ChangeKind.RECALL, "processing", "agree_recall"),
    (ChangeKind.RECALL, "completed", "refuse_recall"),
    (ChangeKind.RECALL, "rejected", "refuse_recall"),
    (ChangeKind.UPDATE, "assigned", "agree_update"),
    (ChangeKind.REPLACE, "completed", "refuse_replace"),
])
def test_receiver_answers_by_its_state(kind: ChangeKind, state: str, event: str) -> None:
    answer, reason = answer_change(kind, state)
    assert answer == event
    step = INCOMING.apply(state, answer, reason)
    assert step.emit is (StatusCode.AGREED if answer.startswith("agree") else StatusCode.REFUSED)
    if answer == "agree_recall":
        assert step.state == "recalled"
    elif answer == "agree_update":
        assert step.state == state  # an update keeps the document where it is
    else:
        assert reason and state in reason


def test_sender_folds_answers() -> None:
    requested = CHANGE.apply("none", "request").state
    assert merge_change(requested, StatusCode.AGREED).state == "agreed"
    refused = merge_change(requested, StatusCode.REFUSED, "đã hoàn thành")
    assert refused.state == "refused"
    assert merge_change("refused", StatusCode.REFUSED).state == "refused"  # duplicate
    assert CHANGE.apply("refused", "request").state == "requested"  # ask again
    with pytest.raises(LifecycleError, match="does not answer"):
        merge_change(requested, StatusCode.ACCEPTED)
    assert merge_change(requested, StatusCode.ACCEPTED, legacy_answers=True).state == "agreed"
    assert merge_change(requested, StatusCode.REJECTED, legacy_answers=True).state == "refused"


def test_an_agreed_recall_ends_the_delivery_even_before_its_receipt() -> None:
    assert DELIVERY.apply("pending", "recalled").state == "recalled"
    with pytest.raises(LifecycleError):
        DELIVERY.apply("completed", "recalled")


# --------------------------------------------------------------------------- diagrams

@pytest.mark.parametrize("lifecycle", MACHINES, ids=[m.name for m in MACHINES])
def test_diagrams_name_every_state(lifecycle: Lifecycle) -> None:
    mermaid, dot = lifecycle.mermaid(), lifecycle.dot()
    assert mermaid.splitlines()[3] == "stateDiagram-v2"
    assert "Class " not in mermaid
    for state in lifecycle.states:
        assert f'state "{state}"' in mermaid
        assert f'"{state}" [label=' in dot
    assert dot.startswith(f'digraph "{lifecycle.name}"')


def test_readme_diagrams_are_up_to_date() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for lifecycle in MACHINES:
        match = re.search(
            rf"<!-- lifecycle:{lifecycle.name} -->\n```mermaid\n(.*?)```\n<!-- /lifecycle -->",
            readme, re.DOTALL,
        )
        assert match, f"README lacks the {lifecycle.name} diagram"
        assert match.group(1) == lifecycle.mermaid(), (
            f"the {lifecycle.name} diagram in README.md is stale: "
            "run `docflow lifecycle diagram --update-readme README.md`"
        )


@pytest.mark.parametrize(("kind", "granted"), [(ChangeKind.RECALL, "recalled"),
                                               (ChangeKind.REPLACE, "replaced")])
def test_a_repeated_request_gets_the_same_answer(kind: ChangeKind, granted: str) -> None:
    # Found by the stateful test: a recall request delivered twice reached a receiver that
    # had already agreed, and the answer must be "agreed" again, not an error.
    event, _ = answer_change(kind, "processing")
    assert INCOMING.apply("processing", event).state == granted
    again, reason = answer_change(kind, granted)
    step = INCOMING.apply(granted, again, reason)
    assert (again, step.state, step.emit) == (event, granted, StatusCode.AGREED)


def test_update_and_replace_link_old_and_new_documents() -> None:
    import datetime as dt
    from dataclasses import replace

    from docflow.envelope import Envelope, build_envelope, parse_envelope
    from docflow.lifecycle import link_change
    from docflow.model import BusinessDocType, OrganCode
    from docflow.samples import sample_envelope

    original = sample_envelope().info
    new = replace(original, code_number="4600", promulgation_date=dt.date(2018, 9, 20),
                  document_id="")
    replacement = link_change(ChangeKind.REPLACE, original, reason="thay thế", new=new)
    assert replacement.business.doc_type is BusinessDocType.REPLACE
    (info,) = replacement.business.replacements
    assert info.document_id == original.document_id
    assert info.organ_ids == (OrganCode("000.00.01.H41"),)
    assert replacement.response_for[0].document_id == original.document_id
    assert replacement.document_id != original.document_id
    update = link_change(ChangeKind.UPDATE, original, reason="sửa lỗi chính tả", new=new)
    assert update.business.document_id == original.document_id
    assert update.business.document_info is not None
    # The links survive the wire.
    for linked in (replacement, update):
        envelope = Envelope(linked, message_id="m1")
        assert parse_envelope(build_envelope(envelope)) == envelope
    with pytest.raises(LifecycleError, match="needs the new document"):
        link_change(ChangeKind.UPDATE, original, reason="x")
