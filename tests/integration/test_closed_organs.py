"""Organs closed by the 2025 reform, through a province's hubs (in-memory transport): a
document to a closed district is refused before anything is signed, naming the
successor, or (``closed_organs = "forward"``) goes to the successor; what was signed
before the closing still arrives; a hub refuses a packet signed after it, and the sender
hears why; a closed organ sends nothing new, yet its documents stay readable, traceable
and workable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from docflow.errors import ClosedOrganError
from docflow.lifecycle import TransportState
from docflow.model import OrganCode
from docflow.routing import Directory
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import sign_envelope
from tests.integration.test_hub import DA_NANG, DIRECTORY, Province, copies, send
from tests.integration.test_hub import qn as qn  # the fixture: the province's network

CLOSING = """name = "UBND thành phố Tam Kỳ"
level = "district"
hub = "000.00.90.H41"
closed = {closed}
successor = "000.00.00.H41\""""


def closing(at: dt.datetime, *, forward: bool = False) -> Directory:
    """The directory with Tam Kỳ closing at ``at`` into the province (its commune, An Mỹ,
    moved under the province, as the reform did)."""
    text = DIRECTORY.replace('name = "UBND thành phố Tam Kỳ"\nlevel = "district"\n'
                             'hub = "000.00.90.H41"', CLOSING.format(closed=at.isoformat()))
    text = text.replace('level = "commune"\n', 'level = "commune"\nparent = "000.00.00.H41"\n')
    text = text.replace('level = "commune"', 'level = "department"')  # under the province
    if forward:
        text = '[routing]\nclosed_organs = "forward"\n' + text
    return Directory.from_toml_text(text)


def reorganise(qn: Province, directory: Directory,
               keep: Callable[[OrganCode], bool] = lambda code: False) -> None:
    """Every node and hub takes the new directory (as `directory sync` and a restart
    do), except those ``keep`` names (a sender that has not synced)."""
    for code, endpoint in [*qn.nodes.items(), *qn.hubs.items()]:
        if not keep(code):
            endpoint.directory = directory


def test_a_document_to_a_closed_district_is_refused_naming_its_successor(qn: Province
                                                                         ) -> None:
    reorganise(qn, closing(qn.clock() - dt.timedelta(hours=1)))
    with pytest.raises(ClosedOrganError) as caught:
        send(qn, DA_NANG, (TAM_KY,))
    assert caught.value.successor == str(PROVINCE.code)
    assert "UBND tỉnh Quảng Nam" in caught.value.message
    assert (caught.value.hint or "").startswith("nothing was signed; address it to 000.00.00.H41")
    assert qn.node(DA_NANG).outbox().total == 0  # nothing signed, nothing queued
    assert qn.node(DA_NANG).store.audit.verify().ok


def test_under_forward_the_successor_receives_it(qn: Province) -> None:
    reorganise(qn, closing(qn.clock() - dt.timedelta(hours=1), forward=True))
    ref = send(qn, DA_NANG, (TAM_KY, PROVINCE))  # both: one copy for the province
    assert set(copies(qn.node(DA_NANG), ref)) == {str(PROVINCE.code)}
    qn.settle()
    (received,) = qn.node(PROVINCE).inbox().items
    assert received.document_id == qn.node(DA_NANG).document(ref).document_id
    assert [o.code for o in qn.node(PROVINCE).stored(received.id).info.recipients] == [
        PROVINCE.code]
    assert qn.node(TAM_KY).inbox().total == 0


def test_what_was_signed_before_the_closing_still_arrives(qn: Province) -> None:
    ref = send(qn, DA_NANG, (TAM_KY,))  # signed now
    qn.clock.advance(60)
    reorganise(qn, closing(qn.clock() - dt.timedelta(seconds=30)))
    qn.settle()
    (received,) = qn.node(TAM_KY).inbox().items
    qn.node(TAM_KY).accept(received.id)  # a closed organ finishes the work it holds
    qn.settle()
    assert copies(qn.node(DA_NANG), ref) == {str(TAM_KY.code): ("acknowledged", "accepted")}


def test_a_hub_refuses_a_packet_signed_after_the_closing(qn: Province) -> None:
    """Đà Nẵng has not synced its directory: it signs for Tam Kỳ after the closing; its
    LGSP refuses the copy naming the successor, each attempt (the directory may yet be
    corrected), until the delivery is a dead letter with that reason: never lost."""
    reorganise(qn, closing(qn.clock() - dt.timedelta(hours=1)),
               keep=lambda code: code == DA_NANG.code)
    ref = send(qn, DA_NANG, (TAM_KY,))
    sender = qn.node(DA_NANG)

    def delivery() -> Any:
        (found,) = [d for d in sender.store.queries.deliveries(document_ref=ref).items
                    if d.kind == "document"]
        return found

    sender.deliver()
    assert delivery().transport_state == TransportState.RETRYING
    for _ in range(12):
        qn.clock.advance(4000)
        sender.deliver()
    dead = delivery()
    assert dead.transport_state == TransportState.FAILED, dead.last_error
    assert "closed on" in (dead.last_error or "")
    assert "its successor is 000.00.00.H41" in (dead.last_error or "")
    for hub in qn.hubs.values():  # no hub took it
        assert hub.store.queries.documents(page_size=10).total == 0
    assert qn.node(TAM_KY).inbox().total == 0


def test_a_closed_organ_refuses_a_copy_signed_after_it_closed(qn: Province) -> None:
    """Delivered straight to its node (no hub in the way), the copy is refused too."""
    reorganise(qn, closing(qn.clock() - dt.timedelta(hours=1)))
    envelope = sample_envelope(number="77", sender=DA_NANG, recipients=(TAM_KY,),
                               date=qn.clock().date())
    packet = sign_envelope(envelope, qn.credentials[DA_NANG.code])
    with pytest.raises(ClosedOrganError, match=r"000\.00\.00\.H41"):
        qn.node(TAM_KY).receive_document(packet)
    assert qn.node(TAM_KY).inbox().total == 0


def test_a_closed_organ_sends_nothing_new_and_its_documents_stay_readable(qn: Province
                                                                          ) -> None:
    ref = send(qn, TAM_KY, (DA_NANG,), number="12")
    qn.settle()
    qn.clock.advance(60)
    reorganise(qn, closing(qn.clock() - dt.timedelta(seconds=1)))
    with pytest.raises(ClosedOrganError, match="sends nothing new") as caught:
        send(qn, TAM_KY, (DA_NANG,), number="13")
    assert caught.value.successor == str(PROVINCE.code)
    # its sent document: still readable and traced, under its own code
    node = qn.node(TAM_KY)
    assert node.stored(ref).info.sender.code == TAM_KY.code
    assert node.trace(ref, ask_hub=False).document.state
    # the receiver's copy keeps the old code; the directory says who answers for it now
    (copy,) = qn.node(DA_NANG).inbox().items
    assert copy.sender == str(TAM_KY.code)
    directory = qn.node(DA_NANG).directory
    assert directory is not None
    assert directory.successor(TAM_KY.code, qn.clock()) == PROVINCE.code
    # a recall of what it sent before still goes (the work it holds is finished)
    assert node.recall(ref, "ban hành nhầm")
    qn.settle()
    assert qn.node(DA_NANG).store.queries.tombstone(copy.id) is not None


def test_a_successor_forwarding_to_itself_is_told_so(qn: Province) -> None:
    """Under forward, the province writing to Tam Kỳ would write to itself: refused."""
    reorganise(qn, closing(qn.clock() - dt.timedelta(hours=1), forward=True))
    with pytest.raises(ClosedOrganError, match="this organ is its successor"):
        send(qn, PROVINCE, (TAM_KY,))
    assert qn.node(PROVINCE).outbox().total == 0
