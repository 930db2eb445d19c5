"""Re-parenting a directory by a plan: the 2025 reform of Vietnam's local government
(Nghị quyết 202/2025/QH15, Quyết định 09/2025/QĐ-TTg) as data.

The reform closed the districts (cấp huyện) on 1 July 2025 and put their communes under the
province; provinces merged, the merged one keeping the code of the province whose name it
takes while the others closed. A :class:`ReformPlan` says that much of a directory:

.. code-block:: toml

    effective = 2025-07-01          # when the closures take effect (Vietnam's midnight)
    dissolve = ["district"]         # these levels close; their organs' children move up
    note = "Nghị quyết 202/2025/QH15"

    [[close]]                       # any other organ that closes, with its successor
    code = "000.00.00.H42"
    successor = "000.00.00.H41"

    [[move]]                        # an organ put under another parent (and level)
    code = "000.01.02.H41"
    parent = "000.00.00.H41"
    level = "commune"

    [[rename]]
    code = "000.00.00.H41"
    name = "UBND thành phố Đà Nẵng"

:func:`apply_plan` turns a directory and a plan into a :class:`Reform`: every change as a
line an operator reads before anything is written, the new directory, and its TOML text.
Nothing is deleted: a closed organ stays with its dates and successor, so documents
under its code stay readable and are traced to the organ that took over; a level that
closes stays for them, and the levels below may then sit under the level above it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docflow.errors import ConfigError, ModelError
from docflow.model import DEFAULT_TZ, Hierarchy, Level, Organ, OrganCode
from docflow.model._organs import read_toml_file
from docflow.routing import Directory, Entry, HubEntry, toml_string

__all__ = ["Reform", "ReformAction", "ReformChange", "ReformPlan", "apply_plan",
           "directory_toml"]


class ReformAction(enum.StrEnum):
    """What a reform does to one organ or level."""

    CLOSE = "close"  #: the organ closes on the effective date (with its successor)
    MOVE = "move"  #: the organ goes under another parent (maybe on another level)
    RENAME = "rename"  #: the organ takes another name (a merged province)
    LEVEL = "level"  #: a level may sit under other levels


@dataclass(frozen=True)
class ReformChange:
    """One change of a reform: what, to which organ (or level), and the line that says
    it."""

    action: ReformAction
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.action:<6} {self.subject}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        """The change as JSON data."""
        return {"action": str(self.action), "subject": self.subject, "detail": self.detail}


@dataclass(frozen=True)
class ReformPlan:
    """A re-parenting, as the plan file gives it (see the module docstring)."""

    effective: dt.datetime
    dissolve: tuple[str, ...] = ()
    closes: Mapping[OrganCode, OrganCode | None] = field(default_factory=dict)
    moves: Mapping[OrganCode, tuple[OrganCode, str | None]] = field(default_factory=dict)
    renames: Mapping[OrganCode, str] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def from_toml(cls, path: str | Path) -> ReformPlan:
        """Read a plan file."""
        return cls.from_toml_text(read_toml_file(path, "reform plan"), where=str(path))

    @classmethod
    def from_toml_text(cls, text: str, *, where: str | None = None) -> ReformPlan:
        """Read a plan from TOML text; a wrong key or value is a
        :class:`~docflow.errors.ConfigError` naming it."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", where=where) from None
        unknown = set(data) - {"effective", "dissolve", "close", "move", "rename", "note"}
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))} in the plan",
                              where=where, hint="effective, dissolve, note, [[close]], "
                              "[[move]], [[rename]]")
        try:
            effective = _instant(data.get("effective"))
            dissolve = tuple(str(key) for key in data.get("dissolve", ()))
            closes = {OrganCode.parse(str(t["code"])): (
                None if not t.get("successor") else OrganCode.parse(str(t["successor"])))
                for t in _tables(data, "close")}
            moves = {OrganCode.parse(str(t["code"])): (
                OrganCode.parse(str(t["parent"])),
                None if not t.get("level") else str(t["level"]))
                for t in _tables(data, "move")}
            renames = {OrganCode.parse(str(t["code"])): " ".join(str(t["name"]).split())
                       for t in _tables(data, "rename")}
        except KeyError as exc:
            raise ConfigError(f"missing key {exc.args[0]!r} in a table of the plan",
                              where=where) from None
        except ModelError as exc:
            raise ConfigError(exc.message, where=where, hint=exc.hint) from None
        if any(not name for name in renames.values()):
            raise ConfigError("a [[rename]] gives an empty name", where=where)
        return cls(effective, dissolve, closes, moves, renames, str(data.get("note", "")))


@dataclass(frozen=True)
class Reform:
    """What a plan does to a directory: the changes, the directory after, its text."""

    changes: tuple[ReformChange, ...]
    directory: Directory
    text: str


def apply_plan(directory: Directory, plan: ReformPlan) -> Reform:
    """The directory after ``plan`` (nothing is written): organs on a dissolved level and
    the ``[[close]]`` ones close on the effective date, a dissolved organ's successor
    being its parent unless the plan names one; the open organs under a closing one move
    under its nearest ancestor that stays open (else its successor), unless ``[[move]]``
    puts them elsewhere; the levels below a dissolved one may sit under the levels above
    it. A plan naming an organ or level the directory lacks, or one the new hierarchy
    cannot hold, is a :class:`~docflow.errors.ConfigError` and nothing changes."""
    hierarchy = directory.hierarchy
    organs = {organ.code: organ for organ in hierarchy}
    levels = {level.key: level for level in hierarchy.levels}
    for key in plan.dissolve:
        if key not in levels:
            raise ConfigError(f"the plan dissolves level {key!r}, which the directory lacks",
                              where="dissolve", hint=f"levels: {', '.join(levels)}")
    for what, codes in (("[[close]]", list(plan.closes)
                         + [c for c in plan.closes.values() if c is not None]),
                        ("[[move]]", list(plan.moves) + [p for p, _ in plan.moves.values()]),
                        ("[[rename]]", list(plan.renames))):
        for code in codes:
            if code not in organs:
                raise ConfigError(f"the plan's {what} names {code}, not in the directory",
                                  where=str(code), hint="check the code, or add the organ "
                                  "to the directory first")
    changes: list[ReformChange] = []

    new_levels = []
    for level in hierarchy.levels:
        parents = list(level.parents)
        for key in level.parents:
            if key in plan.dissolve:
                parents += [p for p in levels[key].parents if p not in parents]
        if parents != list(level.parents):
            changes.append(ReformChange(ReformAction.LEVEL, level.key, (
                f"may now sit under {', '.join(p for p in parents if p not in level.parents)}"
                f" ({', '.join(k for k in level.parents if k in plan.dissolve)} closes)")))
        new_levels.append(Level(level.key, level.name, tuple(parents)))
    level_parents = {level.key: level.parents for level in new_levels}

    at = plan.effective
    closing: dict[OrganCode, OrganCode | None] = {}
    for organ in hierarchy:
        if organ.closed is not None and organ.closed <= at:
            continue  # closed before: history, untouched
        if organ.level in plan.dissolve or organ.code in plan.closes:
            closing[organ.code] = plan.closes.get(organ.code) or (
                None if organ.code in plan.closes else organ.parent)

    for code in list(closing):  # a successor closing too hands on to its own
        seen, successor = {code}, closing[code]
        while successor is not None and successor in closing:
            if successor in seen:
                raise ConfigError(f"the plan's successors lead back to {successor}",
                                  where=str(code), hint="name an organ that stays open")
            seen.add(successor)
            successor = closing[successor]
        closing[code] = successor

    def stays_open(code: OrganCode) -> bool:
        return code not in closing and organs[code].open_at(at)

    def new_parent(organ: Organ) -> OrganCode | None:
        up = organ.parent
        while up is not None and not stays_open(up):
            up = organs[up].parent
        return up if up is not None else closing.get(organ.parent) if organ.parent else None

    updated: dict[OrganCode, Organ] = {}
    for code, successor in closing.items():
        organ = organs[code]
        updated[code] = dataclasses.replace(organ, closed=at, successor=successor)
        changes.append(ReformChange(ReformAction.CLOSE, str(code), (
            f"{organ.name} closes on {at.astimezone(DEFAULT_TZ):%d/%m/%Y}" + (
                f"; successor {successor} ({organs[successor].name})" if successor
                else "; no successor"))))
    for organ in hierarchy:
        if organ.code in closing or not organ.open_at(at):
            continue
        target: tuple[OrganCode | None, str | None] | None = plan.moves.get(organ.code)
        if target is None and organ.parent is not None and organ.parent in closing:
            target = (new_parent(organ), None)
        if target is None:
            continue
        parent, new_level = target[0], target[1] or organ.level
        if parent is not None and parent in closing:
            raise ConfigError(f"the plan moves {organ.code} under {parent}, which closes",
                              where=str(organ.code), hint="move it under an open organ")
        parent_level = None if parent is None else organs[parent].level
        allowed = level_parents.get(new_level)
        if allowed is None or (parent_level is None and allowed) or (
                parent_level is not None and parent_level not in allowed):
            raise ConfigError(
                f"{organ.code} ({organ.level}) cannot move under {parent} "
                f"({parent_level or 'no parent'}) as a {new_level}", where=str(organ.code),
                hint="give it a [[move]] with the parent and level it takes")
        updated[organ.code] = dataclasses.replace(organs[organ.code], parent=parent,
                                                  level=new_level)
        changes.append(ReformChange(ReformAction.MOVE, str(organ.code), (
            f"{organ.name} moves from {organ.parent or '-'} to {parent or '-'}"
            + (f" as a {new_level}" if new_level != organ.level else ""))))
    for code, name in plan.renames.items():
        organ = updated.get(code, organs[code])
        if organ.name != name:
            updated[code] = dataclasses.replace(organ, name=name)
            changes.append(ReformChange(ReformAction.RENAME, str(code),
                                        f"{organ.name} -> {name}"))
    try:
        after = Directory(
            Hierarchy(tuple(new_levels), tuple(updated.get(o.code, o) for o in hierarchy)),
            {code: dataclasses.replace(entry, organ=updated.get(code, entry.organ))
             for code, entry in directory.entries.items()},
            directory.hubs, directory.hop_limit, directory.closed_organs)
    except ConfigError as exc:
        raise ConfigError(f"the directory after the plan does not hold: {exc.message}",
                          where=exc.where, hint=exc.hint) from None
    text = directory_toml(after, note=plan.note)
    if Directory.from_toml_text(text) != after:  # pragma: no cover - a writer's slip
        raise ConfigError("the new directory's text does not read back as itself",
                          hint="report it: nothing was written")
    return Reform(tuple(changes), after, text)


def directory_toml(directory: Directory, *, note: str = "") -> str:
    """A directory as TOML text that :meth:`Directory.from_toml_text` reads back equal
    (levels, routing, hubs, then organs with every field they have; comments of the
    file it came from are not kept)."""
    lines = ["# docflow organ directory" + (f" ({note})" if note else ""), "",
             "[routing]", f"hop_limit = {directory.hop_limit}",
             f"closed_organs = {toml_string(str(directory.closed_organs))}"]
    for level in directory.hierarchy.levels:
        lines += ["", "[[levels]]", f"key = {toml_string(level.key)}",
                  f"name = {toml_string(level.name)}",
                  "parents = [" + ", ".join(map(toml_string, level.parents)) + "]"]
    for hub in directory.hubs.values():
        lines += ["", "[[hubs]]", *_pairs(_hub_fields(hub))]
    for entry in directory:
        lines += ["", "[[organs]]", *_pairs(_organ_fields(entry))]
    return "\n".join(lines) + "\n"


def _hub_fields(hub: HubEntry) -> dict[str, Any]:
    return {"code": hub.code, "name": hub.name, "upstream": hub.upstream,
            "endpoint": hub.endpoint, "certificate": hub.certificate}


def _organ_fields(entry: Entry) -> dict[str, Any]:
    organ = entry.organ
    return {"code": organ.code, "name": organ.name, "level": organ.level,
            "parent": organ.parent,
            "organization_in_charge": organ.organization_in_charge or None,
            "address": organ.address, "email": organ.email, "telephone": organ.telephone,
            "fax": organ.fax, "website": organ.website, "established": organ.established,
            "closed": organ.closed, "successor": organ.successor, "hub": entry.hub,
            "endpoint": entry.endpoint, "certificate": entry.certificate,
            "pull": entry.pull or None}


def _pairs(fields: Mapping[str, Any]) -> list[str]:
    out = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, dt.datetime):
            out.append(f"{key} = {value.astimezone(DEFAULT_TZ).isoformat()}")
        else:
            out.append(f"{key} = {toml_string(str(value))}")
    return out


def _tables(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    tables = data.get(key, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{key} must be [[{key}]] tables")
    return tables


def _instant(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=DEFAULT_TZ)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0), tzinfo=DEFAULT_TZ)
    raise ConfigError("the plan needs effective = <date> (when the closures take effect)",
                      hint="effective = 2025-07-01")
