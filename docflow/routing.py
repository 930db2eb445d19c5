"""The organ directory and route planning: direct, via the province hub (LGSP), or across
provinces via the national axis.

A directory is data (TOML): the organs of a :class:`~docflow.model.Hierarchy`, each with
the hub that serves it (if any), its endpoint and certificate, whether its hub holds its
packets for it to pull, and the hubs themselves (each with its ``upstream``, the hub above
it: an LGSP's upstream is the national axis).

Routing rules, from one place to one destination organ:

* an organ with a hub sends everything through its hub; an organ without one sends to the
  destination's hub, or straight to the destination when it has none (direct delivery);
* a hub delivers to the organs it serves; a packet for an organ served by a hub below it
  goes down to that hub; anything else goes up to its upstream;
* a hub that finds itself already in the packet's trace, or a packet with more hops than
  the limit, is a loop: :class:`~docflow.errors.RoutingError`, as is an unknown organ;
* an organ closed when a document is sent (the 2025 reform closed districts and merged
  provinces) is not addressed: the document is refused naming the organ's successor, or,
  under ``[routing] closed_organs = "forward"``, addressed to the successor instead
  (:meth:`Directory.addressee`, :class:`ClosedPolicy`).

>>> directory = Directory.from_toml_text('''
... [[hubs]]
... code = "000.00.00.G22"
... name = "Trục liên thông quốc gia"
... [[hubs]]
... code = "000.00.90.H41"
... name = "LGSP Quảng Nam"
... upstream = "000.00.00.G22"
... [[organs]]
... code = "000.00.00.H41"
... name = "UBND tỉnh Quảng Nam"
... level = "province"
... hub = "000.00.90.H41"
... [[organs]]
... code = "000.00.01.H41"
... name = "UBND thành phố Tam Kỳ"
... level = "district"
... hub = "000.00.90.H41"
... ''')
>>> [str(code) for code in directory.path("000.00.00.H41", "000.00.01.H41")]
['000.00.90.H41', '000.00.01.H41']
"""

from __future__ import annotations

import datetime as dt
import enum
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docflow.envelope import Envelope
from docflow.errors import ClosedOrganError, ConfigError, ModelError, RoutingError
from docflow.model import DEFAULT_TZ, Hierarchy, Organ, OrganCode
from docflow.model._organs import read_toml_file

__all__ = ["DEFAULT_HOP_LIMIT", "ClosedPolicy", "Directory", "Entry", "HubEntry", "signed_at",
           "toml_string"]

#: The most hubs a packet may pass through (province hub, axis, other province's hub...).
DEFAULT_HOP_LIMIT = 6


class ClosedPolicy(enum.StrEnum):
    """What sending to a closed organ does (``[routing] closed_organs``)."""

    REFUSE = "refuse"  #: refused before anything is signed, naming the successor
    FORWARD = "forward"  #: addressed to the successor instead (logged)


@dataclass(frozen=True)
class Entry:
    """How to reach one organ.

    Attributes:
        organ: the organ (code, name, level, parent).
        hub: the hub that serves it, or None for direct delivery.
        endpoint: its SOAP endpoint URL, when it serves one.
        certificate: where its certificate is (a path, relative to the directory file).
        pull: its hub holds packets for it to pull (a node behind NAT).
    """

    organ: Organ
    hub: OrganCode | None = None
    endpoint: str | None = None
    certificate: str | None = None
    pull: bool = False

    @property
    def code(self) -> OrganCode:
        """The organ's code."""
        return self.organ.code


@dataclass(frozen=True)
class HubEntry:
    """A hub: a province's LGSP or the national axis (``upstream`` None: the top)."""

    code: OrganCode
    name: str
    upstream: OrganCode | None = None
    endpoint: str | None = None
    certificate: str | None = None


@dataclass(frozen=True)
class Directory:
    """Organs and hubs, and the routes between them.

    Args:
        hierarchy: the organs and their levels.
        entries: routing facts per organ (organs missing here are reached directly).
        hubs: the hubs.
        hop_limit: the most hubs a packet may pass through.
        closed_organs: what sending to a closed organ does.
    """

    hierarchy: Hierarchy
    entries: Mapping[OrganCode, Entry] = field(default_factory=dict)
    hubs: Mapping[OrganCode, HubEntry] = field(default_factory=dict)
    hop_limit: int = DEFAULT_HOP_LIMIT
    closed_organs: ClosedPolicy = ClosedPolicy.REFUSE

    def __post_init__(self) -> None:
        entries = dict(self.entries)
        for organ in self.hierarchy:
            entries.setdefault(organ.code, Entry(organ))
        for code, entry in entries.items():
            if entry.hub is not None and entry.hub not in self.hubs:
                raise ConfigError(f"organ names unknown hub {entry.hub}", where=str(code),
                                  hint="list the hub under [[hubs]]")
            if code in self.hubs:
                raise ConfigError("a code is both an organ and a hub", where=str(code))
        for hub in self.hubs.values():
            seen = {hub.code}
            up = hub.upstream
            while up is not None:
                if up not in self.hubs:
                    raise ConfigError(f"hub names unknown upstream {up}", where=str(hub.code))
                if up in seen:
                    raise ConfigError("hubs' upstreams form a cycle", where=str(hub.code))
                seen.add(up)
                up = self.hubs[up].upstream
        if self.hop_limit < 1:
            raise ConfigError("hop_limit must be at least 1")
        object.__setattr__(self, "entries", entries)

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_toml(cls, path: str | Path) -> Directory:
        """Load a directory from a ``.toml`` file (``str`` or ``Path``; TOML text goes to
        :meth:`from_toml_text`).

        The file is a :meth:`Hierarchy.from_toml` file whose ``[[organs]]`` tables may
        also carry ``hub``, ``endpoint``, ``certificate`` and ``pull``, plus ``[[hubs]]``
        tables (``code``, ``name``, ``upstream``, ``endpoint``, ``certificate``) and an
        optional ``[routing]`` table with ``hop_limit`` and ``closed_organs``
        (``"refuse"``, the default, or ``"forward"``).
        """
        return cls.from_toml_text(read_toml_file(path, "directory"), where=str(path))

    @classmethod
    def from_toml_text(cls, text: str, *, where: str | None = None) -> Directory:
        """Load a directory from TOML text (see :meth:`from_toml`)."""
        hierarchy = Hierarchy.from_toml_text(text, where=where)
        try:
            data = tomllib.loads(text)
            hubs = {hub.code: hub for hub in map(_hub_from_table, data.get("hubs", ()))}
            entries = {}
            for table in data.get("organs", ()):
                code = OrganCode.parse(str(table["code"]))
                entries[code] = Entry(
                    organ=hierarchy.get(code),
                    hub=_code_or_none(table.get("hub")),
                    endpoint=_str_or_none(table.get("endpoint")),
                    certificate=_str_or_none(table.get("certificate")),
                    pull=bool(table.get("pull", False)),
                )
            routing = data.get("routing", {})
            hop_limit = int(routing.get("hop_limit", DEFAULT_HOP_LIMIT))
            policy = str(routing.get("closed_organs", ClosedPolicy.REFUSE))
            if policy not in set(ClosedPolicy):
                raise ConfigError(f"[routing] closed_organs = {policy!r} is not a policy",
                                  where=where, hint="refuse or forward")
        except tomllib.TOMLDecodeError as exc:  # pragma: no cover - Hierarchy parsed it
            raise ConfigError(f"invalid TOML: {exc}", where=where) from exc
        except KeyError as exc:
            raise ConfigError(f"missing key {exc.args[0]!r} in directory", where=where) from exc
        except ModelError as exc:
            raise ConfigError(exc.message, where=exc.where or where, hint=exc.hint) from exc
        return cls(hierarchy, entries, hubs, hop_limit, ClosedPolicy(policy))

    # ------------------------------------------------------------------ lookups

    def __contains__(self, code: object) -> bool:
        return code in self.entries or code in self.hubs

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, code: OrganCode | str) -> Entry:
        """The routing entry of an organ (``RoutingError`` if unknown)."""
        organ = OrganCode.parse(code)
        entry = self.entries.get(organ)
        if entry is None:
            raise RoutingError("unknown organ", where=str(organ),
                               hint="add it to the directory, or check the code")
        return entry

    def hub(self, code: OrganCode | str) -> HubEntry:
        """A hub's entry (``RoutingError`` if unknown)."""
        organ = OrganCode.parse(code)
        hub = self.hubs.get(organ)
        if hub is None:
            raise RoutingError("unknown hub", where=str(organ))
        return hub

    def is_hub(self, code: OrganCode | str) -> bool:
        """Whether ``code`` is a hub."""
        return OrganCode.parse(code) in self.hubs

    def served_by(self, hub: OrganCode | str) -> list[Entry]:
        """The organs a hub serves itself."""
        code = OrganCode.parse(hub)
        return [entry for entry in self.entries.values() if entry.hub == code]

    def endpoint(self, code: OrganCode | str) -> str | None:
        """The SOAP endpoint of an organ or hub, if the directory has one."""
        organ = OrganCode.parse(code)
        if organ in self.hubs:
            return self.hubs[organ].endpoint
        return self.entry(organ).endpoint

    def addresses(self) -> dict[OrganCode, str]:
        """Every known endpoint, for :class:`~docflow.transport.SoapClient`."""
        found = {code: hub.endpoint for code, hub in self.hubs.items() if hub.endpoint}
        found.update({code: e.endpoint for code, e in self.entries.items() if e.endpoint})
        return found

    # ------------------------------------------------------------------ organs' lives

    def successor(self, code: OrganCode | str, at: dt.datetime) -> OrganCode | None:
        """The organ that answers for ``code`` at ``at``: ``code`` itself while it is open,
        else its successor's successor... up to one open then; None when the line ends
        in an organ closed without successor (or one not established yet), or the code
        is not listed."""
        organ = self.entries.get(OrganCode.parse(code))
        while organ is not None and not organ.organ.open_at(at):
            if organ.organ.successor is None or (
                    organ.organ.closed is None or at < organ.organ.closed):
                return None  # closed without successor, or not established yet
            organ = self.entries.get(organ.organ.successor)
        return None if organ is None else organ.code

    def lineage(self, code: OrganCode | str) -> list[Organ]:
        """``code``'s organ and its successors in order (the newest last): where its
        documents' work went, whatever codes they carry."""
        line: list[Organ] = []
        entry = self.entries.get(OrganCode.parse(code))
        while entry is not None and entry.organ not in line:
            line.append(entry.organ)
            nxt = entry.organ.successor
            entry = self.entries.get(nxt) if nxt is not None else None
        return line

    def addressee(self, code: OrganCode | str, at: dt.datetime, *,
                  policy: ClosedPolicy | None = None) -> OrganCode:
        """The organ a document sent at ``at`` to ``code`` is addressed to: ``code`` while
        it is open (or not listed: routing says what it knows of it); for a closed organ,
        its successor under ``FORWARD``, else :class:`~docflow.errors.ClosedOrganError`
        naming it. ``policy`` defaults to the directory's ``closed_organs``."""
        asked = OrganCode.parse(code)
        entry = self.entries.get(asked)
        if entry is None or entry.organ.open_at(at):
            return asked
        organ = entry.organ
        if organ.established is not None and at < organ.established:
            raise ClosedOrganError(
                f"{asked} ({organ.name}) is established on {_day(organ.established)}, not "
                "yet", where=str(asked), hint="send it from that day on")
        successor = self.successor(asked, at)
        if successor is not None and (policy or self.closed_organs) is ClosedPolicy.FORWARD:
            return successor
        closed = organ.closed or at
        if successor is None:
            raise ClosedOrganError(f"{asked} ({organ.name}) closed on {_day(closed)} and "
                                   "has no successor", where=str(asked),
                                   hint="address the organ that took over its work")
        raise ClosedOrganError(
            f"{asked} ({organ.name}) closed on {_day(closed)}; its successor is {successor} "
            f"({self.entries[successor].organ.name})", where=str(asked),
            hint=f"address it to {successor}; or set [routing] closed_organs = "
                 '"forward" in the directory', successor=str(successor))

    def _uplinks(self, hub: OrganCode) -> list[OrganCode]:
        chain = [hub]
        while (up := self.hubs[chain[-1]].upstream) is not None:
            chain.append(up)
        return chain

    # ------------------------------------------------------------------ routes

    def next_hop(self, at: OrganCode | str, destination: OrganCode | str,
                 *, trace: Sequence[OrganCode] = ()) -> OrganCode:
        """Where a packet at ``at`` for ``destination`` goes next.

        ``trace`` is the hubs the packet went through so far: a hub already in it, or
        more hubs than ``hop_limit``, is a :class:`~docflow.errors.RoutingError`.
        """
        here, target = OrganCode.parse(at), OrganCode.parse(destination)
        entry = self.entry(target)
        if here == target:
            raise RoutingError("a packet routed back to its destination's own node",
                               where=str(here))
        if here in self.hubs and here in trace:
            raise RoutingError(f"routing loop: the packet went through {here} before",
                               where=str(here), hint="check the hubs' upstreams")
        if len(trace) >= self.hop_limit:
            raise RoutingError(f"hop limit {self.hop_limit} reached", where=str(here),
                               hint="the packet went through too many hubs")
        if here not in self.hubs:
            own = self.entry(here).hub
            if own is not None:
                return own
            return entry.hub if entry.hub is not None else target
        if entry.hub is None or entry.hub == here:
            return target
        chain = self._uplinks(entry.hub)
        if here in chain:  # the destination's hub is below this hub: go one step down
            return chain[chain.index(here) - 1]
        upstream = self.hubs[here].upstream
        if upstream is None:
            raise RoutingError("no route: the destination's hub is not under this hub",
                               where=f"{here} -> {target}")
        return upstream

    def path(self, origin: OrganCode | str, destination: OrganCode | str) -> list[OrganCode]:
        """Every stop from ``origin`` to ``destination`` (hubs, then the destination)."""
        stops: list[OrganCode] = []
        here = OrganCode.parse(origin)
        target = OrganCode.parse(destination)
        while here != target:
            before = [stop for stop in stops[:-1] if stop in self.hubs]
            here = self.next_hop(here, target, trace=before)
            stops.append(here)
        return stops


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string, every character TOML forbids escaped."""
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\t" or (ord(char) >= 0x20 and ord(char) != 0x7F):
            out.append(char)
        else:
            out.append(f"\\u{ord(char):04X}")
    return '"' + "".join(out) + '"'


def signed_at(envelope: Envelope, default: dt.datetime) -> dt.datetime:
    """When a document was sent: its sender's own trace header (covered by the
    signature), else ``default`` (a packet written without one)."""
    first = envelope.trace[0] if envelope.trace else None
    return (first.timestamp if first is not None
            and first.organ_id == envelope.info.sender.code else default)


def _day(at: dt.datetime) -> str:
    return f"{at.astimezone(DEFAULT_TZ):%d/%m/%Y}"


def _code_or_none(value: Any) -> OrganCode | None:
    return None if value in (None, "") else OrganCode.parse(str(value))


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _hub_from_table(table: Mapping[str, Any]) -> HubEntry:
    return HubEntry(
        code=OrganCode.parse(str(table["code"])),
        name=str(table["name"]),
        upstream=_code_or_none(table.get("upstream")),
        endpoint=_str_or_none(table.get("endpoint")),
        certificate=_str_or_none(table.get("certificate")),
    )
