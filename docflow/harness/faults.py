"""Fault injection for the simulator: a transport that loses, duplicates, delays and
tampers with packets, and the fault settings themselves.

:class:`FaultyTransport` wraps an :class:`~docflow.transport.InMemoryTransport`. For each
push it draws once: *drop* (half the time the request is lost, half the time the reply:
then the receiver has the packet and the sender does not know), *duplicate* (delivered
twice; both answers must be equal), *delay* (the sender times out; the packet arrives
rounds later, after the sender's retry: reordered), *tamper* (one bit flipped inside the
signed message header: the receiver must refuse it; if it ever accepts one, that is
counted as a violation). Node crashes, hub outages and clock skew are driven by the
simulator itself.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from docflow.errors import ConfigError, DocflowError, TransportError
from docflow.model import OrganCode
from docflow.security import RequestToken
from docflow.spool import PacketData, as_bytes
from docflow.transport import InMemoryTransport, Pending, TraceReport

__all__ = ["FaultStats", "Faults", "FaultyTransport", "keyed"]

_SIGNED_MARK = b'Id="edxml-header">'
#: the digests a packet's signatures carry: of its content, alike whenever the same content
#: is signed again (the signature values and certificates differ with each run's keys)
_DIGEST_VALUE = re.compile(rb"DigestValue>([^<]*)<")


def keyed(seed: int, *parts: object) -> random.Random:
    """A random source drawn from ``seed`` and what is decided on (a packet, a message id,
    an organ), not from the order in which things happen: a run split over processes
    decides each thing as one process would, in whatever order the processes get there."""
    text = "\x1f".join(str(part) for part in (seed, *parts)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(text).digest()[:16], "big"))


def identity(packet: bytes) -> str:
    """What stays the same when a packet is made again with the same content: the digests
    its signatures carry (the whole packet when it has none)."""
    digests = _DIGEST_VALUE.findall(packet)
    return hashlib.sha256(b" ".join(digests) if digests else packet).hexdigest()


@dataclass(frozen=True)
class Faults:
    """Fault rates (per packet pushed) and disruptions (per run).

    Attributes:
        drop: a packet or its reply is lost.
        duplicate: a packet is delivered twice.
        delay: a packet arrives late, after the sender gave up on it and retried.
        tamper: one bit of the signed header is flipped on the way.
        crash: per round, the chance that one node crashes (down for a few rounds, its
            store closed and reopened).
        hub_down: rounds the province hub is down, mid-run.
        skew: each node's clock is off by up to this many seconds either way.
    """

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    tamper: float = 0.0
    crash: float = 0.0
    hub_down: int = 0
    skew: float = 0.0

    def __post_init__(self) -> None:
        rates = (self.drop, self.duplicate, self.delay, self.tamper, self.crash)
        if any(not 0.0 <= rate <= 1.0 for rate in rates):
            raise ConfigError("fault rates are between 0 and 1")
        if self.drop + self.duplicate + self.delay + self.tamper > 1.0:
            raise ConfigError("drop + duplicate + delay + tamper must not exceed 1")
        if self.hub_down < 0 or self.skew < 0:
            raise ConfigError("hub_down and skew must not be negative")

    @classmethod
    def parse(cls, text: str) -> Faults:
        """Read ``"drop=0.05,duplicate=0.05,tamper=0.01,crash=0.02,hub_down=5"``."""
        names = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = item.partition("=")
            if name.strip() not in names:
                raise ConfigError(f"unknown fault {name.strip()!r}",
                                  hint=f"known faults: {', '.join(names)}")
            if not sep or not value.strip():
                example = "5" if name.strip() == "hub_down" else "0.05"
                raise ConfigError(f"fault {name.strip()} needs a value",
                                  hint=f"write {name.strip()}={example} (a rate from 0 to 1; "
                                  "hub_down: rounds, skew: seconds)")
            try:
                number = float(value)
            except ValueError as exc:
                raise ConfigError(f"fault {name} needs a number, not {value!r}") from exc
            values[name.strip()] = int(number) if name.strip() == "hub_down" else number
        return cls(**values)

    def describe(self) -> str:
        """The settings, as :meth:`parse` reads them."""
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                        if getattr(self, f.name))


@dataclass
class FaultStats:
    """What the faulty transport did, and what it saw go wrong."""

    packets: int = 0
    dropped: int = 0
    replies_lost: int = 0
    duplicated: int = 0
    delayed: int = 0
    tampered: int = 0
    tampered_rejected: int = 0
    tampered_accepted: int = 0
    duplicate_mismatches: int = 0
    refusals: dict[str, int] = field(default_factory=dict)


def tamper(packet: bytes, rng: random.Random) -> bytes:
    """Flip one bit of one byte inside the signed message header."""
    start = packet.find(_SIGNED_MARK)
    start = start + len(_SIGNED_MARK) if start >= 0 else len(packet) // 2
    position = min(len(packet) - 1, start + rng.randrange(200))
    flipped = packet[position] ^ (1 << rng.randrange(8))
    return packet[:position] + bytes([flipped]) + packet[position + 1:]


class FaultyTransport:
    """An in-memory network that misbehaves at the configured rates (seeded).

    What happens to a push is drawn from the seed, the packet's identity (the digests its
    signatures carry: its signed content, whatever the keys), where it goes and how often
    that same packet went there before: the same seed gives the same faults whatever
    order the packets come in (a province split over processes,
    :mod:`docflow.harness.partition`)."""

    def __init__(self, inner: InMemoryTransport, faults: Faults, seed: int):
        self.inner = inner
        self.faults = faults
        self.seed = seed
        self.stats = FaultStats()
        self.delayed: list[tuple[str, OrganCode, bytes, OrganCode | None]] = []
        self.arrivals: set[OrganCode] = set()
        #: how often each (packet, destination) was pushed, by a digest of the two
        self._pushed: Counter[bytes] = Counter()

    def _rng(self, kind: str, recipient: OrganCode, packet: bytes,
             via: OrganCode | None) -> random.Random:
        key = hashlib.sha256(f"{kind} {recipient}@{via or ''} {identity(packet)}".encode()
                             ).digest()[:12]
        self._pushed[key] += 1
        return keyed(self.seed, key.hex(), self._pushed[key])

    @staticmethod
    def _draw(faults: Faults, rng: random.Random) -> str:
        f, roll = faults, rng.random()
        for name, rate in (("drop", f.drop), ("duplicate", f.duplicate), ("delay", f.delay),
                           ("tamper", f.tamper)):
            if roll < rate:
                return name
            roll -= rate
        return "none"  # not a state: no fault

    def _send(self, kind: str, recipient: OrganCode, packet: bytes,
              via: OrganCode | None) -> bytes | None:
        if kind == "document":
            return self.inner.send_document(recipient, packet, via=via)
        self.inner.send_status(recipient, packet, via=via)
        return None

    def _refused(self, exc: DocflowError) -> None:
        name = type(exc).__name__
        self.stats.refusals[name] = self.stats.refusals.get(name, 0) + 1

    def _push(self, kind: str, recipient: OrganCode, packet: bytes,
              via: OrganCode | None) -> bytes | None:
        self.stats.packets += 1
        rng = self._rng(kind, recipient, packet, via)
        fault = self._draw(self.faults, rng)
        if fault == "drop":
            if rng.random() < 0.5:
                self.stats.dropped += 1
                raise TransportError("packet lost (simulated)", where=str(via or recipient))
            self._send(kind, recipient, packet, via)
            self.arrivals.add(via or recipient)
            self.stats.replies_lost += 1
            raise TransportError("reply lost (simulated)", where=str(via or recipient))
        if fault == "delay":
            self.stats.delayed += 1
            self.delayed.append((kind, recipient, packet, via))
            raise TransportError("timed out (simulated)", where=str(via or recipient))
        if fault == "tamper":
            self.stats.tampered += 1
            try:
                self._send(kind, recipient, tamper(packet, rng), via)
            except DocflowError as exc:
                self.stats.tampered_rejected += 1
                self._refused(exc)
                raise TransportError(f"refused a tampered packet: {exc}",
                                     where=str(via or recipient)) from exc
            self.stats.tampered_accepted += 1
            raise TransportError("a tampered packet was accepted", where=str(via or recipient))
        try:
            answer = self._send(kind, recipient, packet, via)
            if fault == "duplicate":
                self.stats.duplicated += 1
                if self._send(kind, recipient, packet, via) != answer:
                    self.stats.duplicate_mismatches += 1
        except DocflowError as exc:
            if not isinstance(exc, TransportError):
                self._refused(exc)
            raise
        self.arrivals.add(via or recipient)
        return answer

    def flush_delayed(self) -> int:
        """Deliver the packets held back so far (late: the sender may have retried
        meanwhile); refusals are expected and only counted."""
        late, self.delayed = self.delayed, []
        for kind, recipient, packet, via in late:
            try:
                self._send(kind, recipient, packet, via)
                self.arrivals.add(via or recipient)
            except TransportError:
                pass  # its node is down now: lost late, the sender's retry covers it
            except DocflowError as exc:
                self._refused(exc)
        return len(late)

    # The Transport and PullTransport ports.

    def send_document(self, recipient: OrganCode, packet: PacketData, *,
                      via: OrganCode | None = None) -> bytes | None:
        return self._push("document", recipient, as_bytes(packet), via)

    def send_status(self, recipient: OrganCode, packet: PacketData, *,
                    via: OrganCode | None = None) -> None:
        self._push("status", recipient, as_bytes(packet), via)

    def pending(self, hub: OrganCode, token: RequestToken, kind: str,
                limit: int) -> list[Pending]:
        return self.inner.pending(hub, token, kind, limit)

    def acknowledge(self, hub: OrganCode, token: RequestToken, handle: int,
                    receipt: bytes | None = None, error: str | None = None) -> None:
        self.inner.acknowledge(hub, token, handle, receipt, error)

    def trace(self, hub: OrganCode, token: RequestToken, message_id: str) -> TraceReport:
        return self.inner.trace(hub, token, message_id)
