"""A dialect's wire shapes are written once and read by the other side as written
(issue 28: the client and the emulator share them)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from docflow.transport import VxpItem, VxpSent
from docflow.transport.vdxp_wire import (
    ReceivedItem,
    SentItem,
    error_answer,
    ok_answer,
    succeeded,
)

words = st.text(max_size=12)


@given(st.builds(ReceivedItem, words, words, words, words, words, words))
def test_a_received_item_reads_back_as_written(item: ReceivedItem) -> None:
    wire = item.wire()
    assert ReceivedItem.read(wire["docId"], wire) == item


@given(st.builds(SentItem, words, words, words, words, words))
def test_a_sent_item_reads_back_as_written(item: SentItem) -> None:
    assert SentItem.read(item.wire(title="Quyết định", sentTime="x")) == item


def test_answers_say_whether_the_operation_was_done() -> None:
    assert succeeded(ok_answer({"data": []}))
    refused = error_answer("NOT_FOUND", "no such docId")
    assert not succeeded(refused) and refused["DocId"] == ""  # the SDK reads it always
    assert VxpItem is ReceivedItem and VxpSent is SentItem  # the client's public names


@given(st.builds(ReceivedItem, words, words, words, words, words, words))
def test_an_lgsp_item_reads_back_as_written(item: ReceivedItem) -> None:
    from docflow.transport import LgspItem
    from docflow.transport.lgsp_token_wire import ReceivedItem as LgspReceived
    from docflow.transport.lgsp_token_wire import listed_ok, listing

    lgsp = LgspReceived(item.doc_id, item.sender, item.to, item.status, item.created,
                        item.message_type or "edoc")
    answer = listing([lgsp.wire()])
    assert listed_ok(answer) and answer["count"] == 1
    assert LgspReceived.read(lgsp.doc_id, answer["data"][0]) == lgsp
    assert LgspItem is LgspReceived


@given(words, words, words, words, words, st.sampled_from(["edoc", "status"]))
def test_a_wso2_item_reads_back_as_written(doc_id: str, sender: str, to: str, status: str,
                                           created: str, message_type: str) -> None:
    from docflow.transport import Wso2Item, wso2_wire

    item = wso2_wire.ReceivedItem(doc_id, sender, to, status, created, message_type)
    assert wso2_wire.ReceivedItem.read(doc_id, item.wire()) == item
    assert wso2_wire.succeeded(wso2_wire.ok_answer({"data": []}), 200)
    assert not wso2_wire.succeeded({"status": "OK", "errorCode": "401"}, 200)
    assert not wso2_wire.succeeded(wso2_wire.ok_answer({}), 500)
    assert Wso2Item is wso2_wire.ReceivedItem
