"""The organ lists the axis and the LGSPs publish (``getAgenciesList``,
``donvilienthongs``, ``organizations``), read as :class:`Agency` rows whatever the
platform's dialect, and added to a directory file by :func:`import_agencies`: new organs
placed by their codes, organs renamed by the 2025 reform (``oldCode``) closed into the
code that replaced them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docflow.errors import ConfigError, ModelError
from docflow.model import Level, Organ, OrganCode
from docflow.routing import Directory, toml_string

__all__ = ["MAX_AGENCY_NAME", "Agency", "AgencyImport", "import_agencies"]


@dataclass(frozen=True)
class Agency:
    """An organ as an axis or LGSP lists it (``getAgenciesList``, ``donvilienthongs``),
    the same in every dialect: untrusted text, checked by :func:`import_agencies`.
    ``parent``: the system that serves it (its LGSP), if any; ``old_code``: the code it
    had before (the axis's ``oldCode``: an organ given a new code by the 2025 reform);
    ``row``: the platform's own row, keys as its dialect spells them."""

    code: str
    name: str
    email: str = ""
    parent: str = ""
    row: Mapping[str, Any] = field(default_factory=dict, compare=False)
    old_code: str = ""


@dataclass(frozen=True)
class AgencyImport:
    """What :func:`import_agencies` made of an agency list.

    Attributes:
        text: the directory file's new text (the old text, then one ``[[organs]]`` table
            per added organ); loads with :meth:`Directory.from_toml`.
        added: the organs added, with the level each was placed on.
        known: codes the directory already had (left as they are).
        skipped: entries that were not taken, each with why.
        closed: old codes closed into the codes that replaced them (``oldCode``), as
            (old, new) pairs.
    """

    text: str
    added: tuple[Organ, ...]
    known: tuple[OrganCode, ...]
    skipped: tuple[tuple[str, str], ...]
    closed: tuple[tuple[OrganCode, OrganCode], ...] = ()


#: the longest organ name taken from an agency list
MAX_AGENCY_NAME = 300


def import_agencies(text: str, agencies: Sequence[Agency], *,
                    hub: OrganCode | str | None = None, note: str = "",
                    at: dt.datetime | None = None,
                    keep: Sequence[OrganCode] = ()) -> AgencyImport:
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

    An agency with an ``old_code`` (the axis's ``oldCode``) replaced that code: the old
    organ closes at ``at`` (required then: when the list was read) with the new code as
    its successor (its table gets ``closed`` and ``successor``; its open children move
    under the new code); the new organ takes the old one's level and parent. An old code
    the directory lacks is added closed, so documents under it are traced to the new.
    A list is untrusted: it never closes the organs of ``keep`` (the home's own: that is
    the operator's decision, ``docflow directory migrate``), a hub, or a code into a line
    of renamings that leads back to it; those are skipped with why.
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
    renamed: dict[OrganCode, tuple[OrganCode, str]] = {}  # old -> (new, its name)
    for agency in agencies:
        code = _code(agency.code)
        if isinstance(code, str):
            skipped.append((agency.code[:40], f"not an organ code: {code}"))
            continue
        name = " ".join(agency.name.split())
        if not name or len(name) > MAX_AGENCY_NAME or not name.isprintable():
            skipped.append((str(code), "no usable name (empty, too long or control "
                            "characters)"))
            continue
        if code in organs or code in directory.hubs:
            known.append(code)
        elif code not in fresh:
            fresh[code] = Agency(str(code), name, agency.email.strip())
        old = _old_code(agency, code, skipped)
        if old is None:
            continue
        if old in keep or old in directory.hubs:
            skipped.append((str(code), f"oldCode {old} is this home's own organ or a hub: "
                            "not closed by a list (docflow directory migrate does it)"))
        else:
            renamed.setdefault(old, (code, name))
    for old in [old for old in renamed if _leads_back(renamed, old)]:
        skipped.append((str(renamed.pop(old)[0]), f"oldCode {old}: the renamings lead back "
                        "to it"))
    if renamed and at is None:
        raise ConfigError("the list gives old codes (oldCode): closing them needs the time",
                          hint="pass at= (when the list was read)")

    def is_open(code: OrganCode) -> bool:
        organ = organs.get(code)
        if organ is None or code in renamed:
            return False
        return organ.closed is None if at is None else organ.open_at(at)
    added: list[Organ] = []
    # Which new organs have new organs below them: one pass over the list (asking it of
    # every pair made a 4,000-organ list take minutes).
    with_children = {ancestor for other in fresh for ancestor in _ancestors(other)}
    replaces = {new: old for old, (new, _) in renamed.items() if old in organs}
    for code in sorted(fresh, key=lambda c: (c.code_level, c.value)):
        before = organs.get(replaces[code]) if code in replaces else None
        parent = before.parent if before is not None else code.parent
        while parent is not None and not is_open(parent):
            parent = organs[parent].parent if parent in organs else parent.parent
        below = code in with_children
        level: str | None
        if before is not None and (parent is None) == (
                not directory.hierarchy.level(before.level).parents):
            level = before.level  # the new code takes the old one's place
        else:
            level = _level_under(levels, None if parent is None else organs[parent].level,
                                 below)
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
    closed: list[tuple[OrganCode, OrganCode]] = []
    pairs = sorted(renamed.items(), key=lambda item: item[0].value) if at is not None else []
    when = at or dt.datetime.min  # never read without renamed organs (then at is given)
    for old, (new, name) in pairs:
        if old not in organs:  # never listed: kept, closed, so its documents resolve
            organ = organs[new]
            tables += ["", "[[organs]]", f"code = {toml_string(str(old))}",
                       f"name = {toml_string(name)}", f"level = {toml_string(organ.level)}",
                       *([f"parent = {toml_string(str(organ.parent))}"] if organ.parent
                         else []),
                       f"closed = {when.isoformat()}", f"successor = {toml_string(str(new))}"]
            closed.append((old, new))
    new_text = (text if not tables or tables == [f"# {note}"]
                else text.rstrip("\n") + "\n\n" + "\n".join(tables) + "\n")
    for old, (new, _) in pairs:
        if old in directory.entries and directory.entries[old].organ.open_at(when):
            new_text = _set_keys(new_text, old, {"closed": when.isoformat(),
                                                 "successor": toml_string(str(new))})
            for child in directory.hierarchy.children(old):
                if child.open_at(when) and child.code not in renamed:
                    new_text = _set_keys(new_text, child.code,
                                         {"parent": toml_string(str(new))})
            closed.append((old, new))
    after = Directory.from_toml_text(new_text)  # what is written loads, or nothing is
    for old, new in closed:
        if after.entries[old].organ.successor != new:  # pragma: no cover - a writer's slip
            raise ConfigError(f"could not close {old} into {new} in the file",
                              where=str(old), hint="add closed and successor by hand")
    return AgencyImport(new_text, tuple(added), tuple(known), tuple(skipped),
                        tuple(closed))


def _leads_back(renamed: Mapping[OrganCode, tuple[OrganCode, str]], old: OrganCode) -> bool:
    """Whether following the renamings from ``old`` comes back to it."""
    seen, step = {old}, renamed[old][0]
    while step in renamed:
        if step in seen:
            return True
        seen.add(step)
        step = renamed[step][0]
    return False


def _old_code(agency: Agency, code: OrganCode,
              skipped: list[tuple[str, str]]) -> OrganCode | None:
    """An agency's ``oldCode`` when it names another organ code (else None; a malformed
    one is noted as skipped)."""
    if not agency.old_code.strip():
        return None
    old = _code(agency.old_code.strip())
    if isinstance(old, str):
        skipped.append((str(code), f"oldCode is not an organ code: {old}"))
        return None
    return None if old == code else old


def _code(value: str) -> OrganCode | str:
    """``value`` as an organ code, or why it is not one (the value quoted short: a list
    is untrusted, a skipped entry's reason never echoes a huge value)."""
    if len(value) > 40:
        return f"{len(value)} characters (a code has 13)"
    try:
        return OrganCode.parse(value)
    except ModelError as exc:
        return exc.message


def _set_keys(text: str, code: OrganCode, values: Mapping[str, str]) -> str:
    """``text`` with the ``[[organs]]`` table of ``code`` given ``values`` (TOML value
    text): a key the table has is replaced, another is added under its code line. The
    rest of the file (comments, other tables) stays as the operator wrote it."""
    lines = text.split("\n")
    code_line = re.compile(r"""\s*code\s*=\s*["']""" + re.escape(str(code)) + r"""["']\s*(#.*)?$""")
    start = None
    for index, line in enumerate(lines):
        if line.strip() == "[[organs]]":
            start = index
        elif start is not None and code_line.match(line):
            end = next((i for i in range(index + 1, len(lines))
                        if lines[i].lstrip().startswith("[")), len(lines))
            for key, value in values.items():
                pattern = re.compile(rf"\s*{key}\s*=")
                at = next((i for i in range(start + 1, end) if pattern.match(lines[i])), None)
                if at is None:
                    lines.insert(index + 1, f"{key} = {value}")
                    end += 1
                else:
                    lines[at] = f"{key} = {value}"
            return "\n".join(lines)
        elif line.lstrip().startswith("["):
            start = None
    raise ConfigError(f"the directory has no [[organs]] table for {code} to change",
                      where=str(code), hint="add closed and successor to it by hand")


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
