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
  the limit, is a loop: :class:`~docflow.errors.RoutingError`, as is an unknown organ.

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

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docflow.errors import ConfigError, ModelError, RoutingError
from docflow.model import Hierarchy, Level, Organ, OrganCode
from docflow.model._organs import read_toml_file

__all__ = ["DEFAULT_HOP_LIMIT", "Agency", "AgencyImport", "Directory", "Entry", "HubEntry",
           "import_agencies", "toml_string"]

#: The most hubs a packet may pass through (province hub, axis, other province's hub...).
DEFAULT_HOP_LIMIT = 6


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
    """

    hierarchy: Hierarchy
    entries: Mapping[OrganCode, Entry] = field(default_factory=dict)
    hubs: Mapping[OrganCode, HubEntry] = field(default_factory=dict)
    hop_limit: int = DEFAULT_HOP_LIMIT

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
        optional ``[routing]`` table with ``hop_limit``.
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
            hop_limit = int(data.get("routing", {}).get("hop_limit", DEFAULT_HOP_LIMIT))
        except tomllib.TOMLDecodeError as exc:  # pragma: no cover - Hierarchy parsed it
            raise ConfigError(f"invalid TOML: {exc}", where=where) from exc
        except KeyError as exc:
            raise ConfigError(f"missing key {exc.args[0]!r} in directory", where=where) from exc
        except ModelError as exc:
            raise ConfigError(exc.message, where=exc.where or where, hint=exc.hint) from exc
        return cls(hierarchy, entries, hubs, hop_limit)

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


@dataclass(frozen=True)
class Agency:
    """An organ as an axis or LGSP lists it (``getAgenciesList``, ``donvilienthongs``),
    the same in every dialect: untrusted text, checked by :func:`import_agencies`.
    ``parent``: the system that serves it (its LGSP), if any; ``row``: the platform's own
    row, keys as its dialect spells them."""

    code: str
    name: str
    email: str = ""
    parent: str = ""
    row: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AgencyImport:
    """What :func:`import_agencies` made of an agency list.

    Attributes:
        text: the directory file's new text (the old text, then one ``[[organs]]`` table
            per added organ); loads with :meth:`Directory.from_toml`.
        added: the organs added, with the level each was placed on.
        known: codes the directory already had (left as they are).
        skipped: entries that were not taken, each with why.
    """

    text: str
    added: tuple[Organ, ...]
    known: tuple[OrganCode, ...]
    skipped: tuple[tuple[str, str], ...]


#: the longest organ name taken from an agency list
MAX_AGENCY_NAME = 300


def import_agencies(text: str, agencies: Sequence[Agency], *,
                    hub: OrganCode | str | None = None, note: str = "") -> AgencyImport:
    """Add the organs of ``agencies`` that the directory ``text`` lacks, as
    ``[[organs]]`` tables appended to it (the operator's own tables stay untouched).

    Each organ is placed under the nearest organ its code's ancestors name (the code
    ``000.01.10.H41`` under ``000.00.10.H41`` if the directory has it, else under
    ``000.00.00.H41``), on the first level allowed under that organ's level (one that
    may have children, when the list holds organs below it: a district, not a
    department); an organ with no known ancestor goes on the first top level. The level
    is a placement from the codes alone: edit the file where it guessed wrong.

    ``hub`` (e.g. the national axis or LGSP the list came from, if it is a hub of the
    directory) becomes the hub of the added organs. Entries with a malformed code, an
    empty name or control characters are skipped, never written. ``note`` is written as
    a comment above the added tables.
    """
    directory = Directory.from_toml_text(text)
    hub_code = None if hub is None else OrganCode.parse(hub)
    if hub_code is not None and hub_code not in directory.hubs:
        raise ConfigError(f"{hub_code} is not a hub of the directory",
                          hint="list it under [[hubs]] first, or import without a hub")
    levels = directory.hierarchy.levels
    organs = {entry.code: entry.organ for entry in directory}
    known: list[OrganCode] = []
    skipped: list[tuple[str, str]] = []
    fresh: dict[OrganCode, Agency] = {}
    for agency in agencies:
        try:
            code = OrganCode.parse(agency.code)
        except ModelError as exc:
            skipped.append((agency.code[:40], f"not an organ code: {exc.message}"))
            continue
        name = " ".join(agency.name.split())
        if not name or len(name) > MAX_AGENCY_NAME or not name.isprintable():
            skipped.append((str(code), "no usable name (empty, too long or control "
                            "characters)"))
        elif code in organs or code in directory.hubs:
            known.append(code)
        elif code not in fresh:
            fresh[code] = Agency(str(code), name, agency.email.strip())
    added: list[Organ] = []
    # Which new organs have new organs below them: one pass over the list (asking it of
    # every pair made a 4,000-organ list take minutes).
    with_children = {ancestor for other in fresh for ancestor in _ancestors(other)}
    for code in sorted(fresh, key=lambda c: (c.code_level, c.value)):
        parent = code.parent
        while parent is not None and parent not in organs:
            parent = parent.parent
        below = code in with_children
        level = _level_under(levels, None if parent is None else organs[parent].level, below)
        if level is None:  # nothing may sit under that organ: place it at the top
            parent, level = None, _level_under(levels, None, below)
        email = fresh[code].email
        organ = Organ(code, fresh[code].name, level or levels[0].key,
                      parent if level is not None and parent is not None else None,
                      email=email if email and email.isprintable() else None)
        organs[code] = organ
        added.append(organ)
    tables = [f"# {note}"] if note and added else []
    for organ in added:
        tables += ["", "[[organs]]", f"code = {toml_string(str(organ.code))}",
                   f"name = {toml_string(organ.name)}", f"level = {toml_string(organ.level)}"]
        tables.append(f"parent = {toml_string(str(organ.parent))}" if organ.parent
                      else "# no known parent in this directory")
        if organ.email:
            tables.append(f"email = {toml_string(organ.email)}")
        if hub_code is not None:
            tables.append(f"hub = {toml_string(str(hub_code))}")
    new_text = text if not added else text.rstrip("\n") + "\n\n" + "\n".join(tables) + "\n"
    Directory.from_toml_text(new_text)  # what is written loads, or nothing is written
    return AgencyImport(new_text, tuple(added), tuple(known), tuple(skipped))


def _level_under(levels: Sequence[Level], parent_level: str | None,
                 with_children: bool) -> str | None:
    """The first level allowed under ``parent_level`` (None: a top level), preferring
    one that may have children of its own when the organ has some."""
    allowed = [level.key for level in levels
               if (not level.parents if parent_level is None else parent_level in level.parents)]
    if with_children:
        parents = {key for level in levels for key in level.parents}
        allowed = [key for key in allowed if key in parents] or allowed
    return allowed[0] if allowed else None


def _ancestors(code: OrganCode) -> list[OrganCode]:
    out, up = [], code.parent
    while up is not None:
        out.append(up)
        up = up.parent
    return out


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
