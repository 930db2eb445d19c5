"""The in-memory store decides as the SQL store does: two nodes run a scenario of every
path (sends, receipts, acts and their statuses, a recall agreed and one refused, an
update and a replacement, a node down, retries, a dead letter resent, duplicates and
replays, an expired memory) on SQLite and on PostgreSQL, every call to the store is
recorded with its arguments and the moment, and the same calls are replayed on a
:class:`MemoryStore`: each answer, each error, every view, history and status event
and the audit chain's head hash must be the same."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from docflow.errors import DocflowError, LifecycleError
from docflow.lifecycle import Outcome
from docflow.model import StatusCode
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope, sample_status
from docflow.security import sign_status
from docflow.store import RetryPolicy, Store
from docflow.store.memory import MemoryStore
from docflow.transport import InMemoryTransport
from tests.conftest import Clock, Pki

ROOMS = ("outbox", "inbox", "lifecycle", "queries", "audit", "deadlines")


@dataclasses.dataclass
class Call:
    room: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    at: dt.datetime
    result: Any = None
    error: tuple[type[BaseException], str] | None = None


class Memo:
    """A callable argument (a receipt or a status the store asks to be signed): called
    once by the recorded store, its answer given back unchanged on replay."""

    def __init__(self, inner: Callable[..., Any]):
        self.inner, self.answers = inner, []  # type: list[Any]

    def __call__(self, *args: Any) -> Any:
        answer = self.inner(*args)
        self.answers.append(answer)
        return answer

    def replay(self) -> Callable[..., Any]:
        answers = iter(self.answers)
        return lambda *_: next(answers)


class Room:
    def __init__(self, name: str, inner: Any, log: list[Call], clock: Clock):
        self._name, self._inner, self._log, self._clock = name, inner, log, clock

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._inner, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            args = tuple(Memo(a) if callable(a) else a for a in args)
            kwargs = {k: Memo(v) if callable(v) else v for k, v in kwargs.items()}
            if "change_answer" in kwargs and kwargs["change_answer"] is not None:
                answer = kwargs["change_answer"]
                kwargs["change_answer"] = dataclasses.replace(answer,
                                                              status=Memo(answer.status))
            record = Call(self._name, method, args, kwargs, self._clock())
            self._log.append(record)
            try:
                record.result = target(*args, **kwargs)
            except DocflowError as exc:
                record.error = (type(exc), str(exc))
                raise
            return record.result
        return call


class Recording:
    """A SQL store whose every room call is logged (a node's store, as it sees it)."""

    def __init__(self, store: Store, clock: Clock):
        self.store, self.log = store, []  # type: Store, list[Call]
        for room in ROOMS:
            setattr(self, room, Room(room, getattr(store, room), self.log, clock))
        self.url, self.hooks = store.url, store.hooks

    def close(self) -> None:
        self.store.close()


def replayed(value: Any) -> Any:
    if isinstance(value, Memo):
        return value.replay()
    if dataclasses.is_dataclass(value) and not isinstance(value, type) \
            and isinstance(getattr(value, "status", None), Memo):
        return dataclasses.replace(value, status=value.status.replay())
    return value


def replay(log: list[Call], clock: Clock) -> MemoryStore:
    memory = MemoryStore(clock=clock, rnd=lambda: 0.5, retry=RETRY, retention=RETENTION)
    for number, call in enumerate(log):
        clock.now = call.at
        args = tuple(replayed(a) for a in call.args)
        kwargs = {k: replayed(v) for k, v in call.kwargs.items()}
        where = f"call {number}: {call.room}.{call.method}"
        method = getattr(getattr(memory, call.room), call.method)
        if call.error is not None:
            kind, message = call.error
            with pytest.raises(kind) as refused:
                method(*args, **kwargs)
            assert str(refused.value) == message, where
            continue
        assert method(*args, **kwargs) == call.result, where
    return memory


RETRY = RetryPolicy(base=10.0, max_delay=60.0, max_attempts=3, jitter=0.0)
RETENTION = dt.timedelta(days=2)


@pytest.fixture
def recorded(pki: Pki, store_url: str, tmp_path: Path) -> Iterator[tuple[Node, Node, Clock,
                                                                          InMemoryTransport]]:
    clock = Clock(pki.now)
    transport = InMemoryTransport()
    urls = [store_url, f"sqlite:///{tmp_path / 'district.db'}"]
    nodes = []
    for (organ, credentials), url in zip(((PROVINCE, pki.province), (TAM_KY, pki.district)),
                                         urls, strict=True):
        store = Store.open(url, clock=clock, rnd=lambda: 0.5, retry=RETRY,
                           retention=RETENTION)
        node = Node(organ, credentials, pki.trust, Recording(store, clock),  # type: ignore[arg-type]
                    transport, clock=clock)
        transport.register(organ.code, node)
        nodes.append(node)
    yield nodes[0], nodes[1], clock, transport
    for node in nodes:
        node.close()


def scenario(province: Node, district: Node, clock: Clock, transport: InMemoryTransport,
             pki: Pki) -> None:
    def send(number: str) -> int:
        envelope = sample_envelope(number=number)
        return province.send(envelope.info, envelope.attachments).document_ref

    first, second, third, fourth = send("4512"), send("4513"), send("4514"), send("4515")
    province.deliver()
    inbox = sorted(district.inbox().items, key=lambda d: d.id)
    district.accept(inbox[0].id)
    district.assign(inbox[0].id, "phòng Tư pháp")
    district.reject(inbox[1].id, "sai thẩm quyền")
    clock.advance(60)
    district.deliver()
    packet = province.store.queries.packet(first)
    district.receive_document(packet)  # the same message again: its first receipt
    province.recall(third, "ban hành nhầm")
    province.deliver()
    district.deliver()  # the recall agreed
    with pytest.raises(LifecycleError):
        province.recall(third, "lần nữa")
    new = dataclasses.replace(sample_envelope(number="4600").info, subject="Thay thế")
    province.replace(first, new, reason="sai sót")
    province.update(second, sample_envelope(number="4601").info, reason="bổ sung")
    province.update(fourth, dataclasses.replace(sample_envelope(number="4602").info,
                                                subject="Cập nhật"), reason="bổ sung")
    province.deliver()
    district.deliver()
    transport.unregister(TAM_KY.code)  # the district is down: retries, then a dead letter
    late = send("4700")
    for _ in range(4):
        province.deliver()
        clock.advance(120)
    (dead,) = province.store.outbox.dead_letter_ids()
    transport.register(TAM_KY.code, district)
    province.store.outbox.resend(dead)
    province.deliver()
    status = sample_status(province.stored(late), StatusCode.ACCEPTED, now=clock())
    signed = sign_status(status, pki.district)
    province.receive_status(signed)
    province.receive_status(signed)  # a replay writes nothing
    province.store.outbox.retry_now()
    # what an axis's client does with a copy it fetched: leased, failed, then done
    axis_copy = send("4800")
    (copy,) = province.store.queries.deliveries(document_ref=axis_copy).items
    province.store.outbox.hand_over(copy.id, "axis-client")
    province.store.outbox.settle(copy.id, "axis-client", Outcome.FAIL)
    province.store.outbox.settle(copy.id, "axis-client", Outcome.DONE)
    pushed = send("4801")
    (claim,) = province.store.outbox.claim_due("pusher", recipients=[str(TAM_KY.code)])
    province.store.outbox.mark_sent(claim.delivery_id)
    province.store.queries.delivery(claim.delivery_id)
    province.store.queries.delivery_packet(claim.delivery_id)
    province.store.queries.waiting_for([str(TAM_KY.code), "000.00.02.H41"])
    province.store.outbox.dead_letters()
    province.next_number()
    received = district.inbox(page_size=1).items[0]
    receipt_status = sample_status(district.stored(received.id), StatusCode.ARRIVED,
                                   now=clock())
    receipt = sign_status(receipt_status, pki.district)
    district.store.inbox.queue_receipt(received.id, receipt, receipt_status)
    district.store.inbox.queue_receipt(received.id, receipt, receipt_status)  # once
    district.store.inbox.note_refusal(str(TAM_KY.code), "axis:42", "bad signature",
                                      province.store.queries.packet(pushed))
    clock.advance(3 * 86400)
    district.store.inbox.expire()
    for node in (province, district):
        for document in node.inbox(page_size=1000).items + node.outbox(page_size=1000).items:
            node.store.queries.history(document.id)
            node.store.queries.status_events(document.id)
            node.store.queries.deliveries(document_ref=document.id, page_size=1000)
        node.store.queries.deliveries(page_size=1000)
        node.store.queries.outstanding()
        node.store.audit.head()
        node.store.audit.verify()
        for book in ("in", "out"):
            node.store.queries.register(node.code, book, clock().year)
            node.store.queries.register(node.code, book, 2018)  # the samples' date
        node.store.deadlines.sweep()
        node.store.deadlines.list(node.code)
        node.store.deadlines.list(node.code, breached_only=True)


def test_the_memory_store_answers_every_call_as_the_sql_store(
        recorded: tuple[Node, Node, Clock, InMemoryTransport], pki: Pki) -> None:
    province, district, clock, transport = recorded
    scenario(province, district, clock, transport, pki)
    reached: set[tuple[str, str]] = set()
    for node in (province, district):
        store = node.store
        assert isinstance(store, Recording)
        reached |= {(call.room, call.method) for call in store.log}
        memory = replay(store.log, Clock(pki.now))
        assert memory.audit.head() == store.store.audit.head()
        assert memory.audit.verify().ok
    assert len(reached) >= 34, sorted(reached)  # the scenario reaches most of the rooms
