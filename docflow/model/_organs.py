"""Organs: their codes (mã định danh), code patterns, and the hierarchy of a province's
organs in four (or three) levels, read from TOML."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from docflow.errors import ConfigError, ModelError, OrganCodeError

#: Time zone of wall-clock times on the wire (edXML timestamps carry no offset).
DEFAULT_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


# White space as XML Schema's \s sees it (NonEmptyString in xsd/ is "not only these").
_XML_SPACE = " \t\n\r"


_ORGAN_CODE_RE = re.compile(r"\A([0-9]{3})\.([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})\Z")


@dataclass(frozen=True, order=True)
class OrganCode:
    """An organ identifier (mã định danh) ``VVV.ZZ.YY.Mxx`` per QĐ 20/2020/QĐ-TTg.

    The last part is level 1 (``H41``: a provincial People's Committee), ``YY`` level 2,
    ``ZZ`` level 3, ``VVV`` level 4; zeros mean "not this level".

    >>> code = OrganCode("000.46.24.H44")
    >>> code.code_level, str(code.parent)
    (3, '000.00.24.H44')
    """

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not _ORGAN_CODE_RE.match(self.value):
            raise OrganCodeError(
                f"{self.value!r} is not a valid organ code",
                hint="expected four dotted parts VVV.ZZ.YY.Mxx, e.g. 000.00.00.H41 "
                "(3 digits, 2 digits, 2 digits, an upper-case letter and 2 digits)",
            )

    @classmethod
    def parse(cls, value: str | OrganCode) -> OrganCode:
        """Return ``value`` as an :class:`OrganCode` (accepts one already)."""
        return value if isinstance(value, OrganCode) else cls(value.strip())

    def _parts(self) -> tuple[str, str, str, str]:
        vvv, zz, yy, root = self.value.split(".")  # shape checked in __post_init__
        return vvv, zz, yy, root

    @property
    def root(self) -> str:
        """The level-1 part, e.g. ``H41``."""
        return self._parts()[3]

    @property
    def code_level(self) -> int:
        """1 to 4: the deepest part of the code that is not zero."""
        vvv, zz, yy, _ = self._parts()
        if vvv != "000":
            return 4
        if zz != "00":
            return 3
        if yy != "00":
            return 2
        return 1

    @property
    def parent(self) -> OrganCode | None:
        """The code one level up (the deepest non-zero part zeroed), None at level 1."""
        vvv, zz, yy, root = self._parts()
        if vvv != "000":
            return OrganCode(f"000.{zz}.{yy}.{root}")
        if zz != "00":
            return OrganCode(f"000.00.{yy}.{root}")
        if yy != "00":
            return OrganCode(f"000.00.00.{root}")
        return None

    def __str__(self) -> str:
        return self.value


_PATTERN_PARTS = (re.compile(r"\A[0-9]{3}\Z"), re.compile(r"\A[0-9]{2}\Z"),
                  re.compile(r"\A[0-9]{2}\Z"), re.compile(r"\A[A-Z][0-9]{2}\Z"))


@dataclass(frozen=True)
class OrganPattern:
    """A set of organ codes, written like a code with ``*`` for any part:
    ``*.*.*.H41`` (every organ of province H41), ``*.*.05.H41`` (district 05 of H41 and
    the units under it), ``000.00.00.H41`` (that organ alone), ``*`` (every organ).
    What a certification authority may certify (see ``docflow.security.TrustStore``).

    >>> OrganPattern("*.*.*.H41").matches(OrganCode("000.46.05.H41"))
    True
    >>> OrganPattern("*.*.05.H41").matches(OrganCode("000.00.06.H41"))
    False
    """

    text: str

    def __post_init__(self) -> None:
        parts = self.text.split(".")
        if self.text != "*" and (len(parts) != 4 or not all(
                part == "*" or shape.match(part)
                for part, shape in zip(parts, _PATTERN_PARTS, strict=True))):
            raise OrganCodeError(
                f"{self.text!r} is not an organ code pattern",
                hint="four dotted parts like an organ code, each the part itself or *, "
                "e.g. *.*.*.H41; or * for every organ")

    @property
    def parts(self) -> tuple[str | None, ...]:
        """The four parts, None for ``*`` (all four None for the pattern ``*``)."""
        if self.text == "*":
            return (None, None, None, None)
        return tuple(None if part == "*" else part for part in self.text.split("."))

    def matches(self, code: OrganCode) -> bool:
        """Whether ``code`` is in the set."""
        return all(want is None or want == have
                   for want, have in zip(self.parts, str(code).split("."), strict=True))

    @property
    def suffix(self) -> tuple[str, ...] | None:
        """The fixed right-hand parts when every ``*`` is to their left (``*.*.05.H41``
        gives ``("05", "H41")``, ``*`` gives ``()``): the form an X.509 name constraint
        can express, the code read as a domain name. None for any other pattern."""
        parts = self.parts
        fixed = [index for index, part in enumerate(parts) if part is not None]
        if fixed and fixed != list(range(fixed[0], 4)):
            return None
        return tuple(part for part in parts if part is not None)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class OrganInfo:
    """An organ as it appears on the wire (``From`` / ``To``); an empty contact is
    none (both are written as an empty element), a website its host and path
    (``quangnam.gov.vn``: the scheme is dropped)."""

    code: OrganCode
    name: str
    organization_in_charge: str = ""
    address: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None

    def __post_init__(self) -> None:
        # A website is kept as its host and path: a provincial hub in use refuses a
        # document whose Website matches its http(s) URL pattern (an inverted check).
        if self.website is not None:
            site = self.website.strip()
            for scheme in ("https://", "http://"):
                if site.lower().startswith(scheme):
                    site = site[len(scheme):]
            # until nothing changes: a value read back normalises to itself ("0\x85/")
            while (trimmed := site.rstrip("/").strip()) != site:
                site = trimmed
            object.__setattr__(self, "website", site)
        for name in ("address", "email", "telephone", "fax", "website"):
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)


@dataclass(frozen=True)
class Level:
    """An administrative level of a hierarchy (data, not code).

    ``parents`` lists the level keys an organ of this level may sit under; empty for
    the top level.
    """

    key: str
    name: str
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Organ:
    """A node of the hierarchy: cơ quan, đơn vị.

    An organ has a life: ``established`` (None: always there) and ``closed`` (None:
    open), and when it closed, the ``successor`` that took over its work (Quyết định
    09/2025/QĐ-TTg: a merged province keeps the code of the province whose name it
    takes, the others close; districts close and their communes move up). A closed organ
    stays in the directory: its documents keep their codes and remain readable."""

    code: OrganCode
    name: str
    level: str
    parent: OrganCode | None = None
    organization_in_charge: str = ""
    address: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None
    established: dt.datetime | None = None
    closed: dt.datetime | None = None
    successor: OrganCode | None = None

    def open_at(self, at: dt.datetime) -> bool:
        """Whether the organ exists and works at ``at``."""
        return ((self.established is None or self.established <= at)
                and (self.closed is None or at < self.closed))

    def info(self) -> OrganInfo:
        """This organ as it goes on the wire."""
        return OrganInfo(
            code=self.code,
            name=self.name,
            organization_in_charge=self.organization_in_charge,
            address=self.address,
            email=self.email,
            telephone=self.telephone,
            fax=self.fax,
            website=self.website,
        )


#: The classic four levels of "liên thông văn bản 4 cấp".
FOUR_LEVELS: tuple[Level, ...] = (
    Level("province", "UBND tỉnh"),
    Level("department", "Sở, ban, ngành", ("province",)),
    Level("district", "UBND huyện", ("province",)),
    Level("commune", "UBND xã", ("district",)),
)


@dataclass(frozen=True)
class Hierarchy:
    """Levels (as data) and the organs placed on them.

    >>> h = Hierarchy.from_toml_text('''
    ... [[levels]]
    ... key = "province"
    ... name = "UBND tỉnh"
    ... [[levels]]
    ... key = "commune"
    ... name = "UBND xã"
    ... parents = ["province"]
    ... [[organs]]
    ... code = "000.00.00.H41"
    ... name = "UBND tỉnh"
    ... level = "province"
    ... [[organs]]
    ... code = "000.00.01.H41"
    ... name = "UBND xã A"
    ... level = "commune"
    ... ''')
    >>> [o.name for o in h.children(OrganCode("000.00.00.H41"))]
    ['UBND xã A']
    """

    levels: tuple[Level, ...] = FOUR_LEVELS
    organs: tuple[Organ, ...] = ()
    _by_code: Mapping[OrganCode, Organ] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        keys = [level.key for level in self.levels]
        if not keys:
            raise ConfigError("a hierarchy needs at least one level")
        if len(set(keys)) != len(keys):
            raise ConfigError(f"duplicate level keys in {keys}")
        for level in self.levels:
            for parent in level.parents:
                if parent not in keys:
                    raise ConfigError(
                        f"level {level.key!r} names unknown parent level {parent!r}",
                        hint=f"known levels: {', '.join(keys)}",
                    )
        by_code: dict[OrganCode, Organ] = {}
        for organ in self.organs:
            if organ.code in by_code:
                raise ConfigError("organ listed twice", where=str(organ.code))
            by_code[organ.code] = organ
        levels = {level.key: level for level in self.levels}
        for organ in self.organs:
            _check_life(organ, by_code)
            organ_level = levels.get(organ.level)
            if organ_level is None:
                raise ConfigError(
                    f"unknown level {organ.level!r}",
                    where=str(organ.code),
                    hint=f"known levels: {', '.join(keys)}",
                )
            if organ.parent is None:
                if organ_level.parents:
                    raise ConfigError(
                        f"a {organ.level} must have a parent organ", where=str(organ.code)
                    )
                continue
            parent_organ = by_code.get(organ.parent)
            if parent_organ is None:
                raise ConfigError(
                    f"parent organ {organ.parent} is not in the hierarchy", where=str(organ.code)
                )
            if parent_organ.level not in organ_level.parents:
                raise ConfigError(
                    f"a {organ.level} cannot sit under a {parent_organ.level}",
                    where=str(organ.code),
                    hint=f"allowed parent levels: {', '.join(organ_level.parents) or 'none'}",
                )
        object.__setattr__(self, "_by_code", by_code)

    @classmethod
    def from_toml(cls, path: str | Path) -> Hierarchy:
        """Load levels and organs from a ``.toml`` file (``str`` or ``Path``; TOML text
        goes to :meth:`from_toml_text`).

        ``[[levels]]`` tables have ``key``, ``name`` and ``parents``; ``[[organs]]``
        tables have ``code``, ``name``, ``level`` and optionally ``parent`` (derived from
        the code when absent and the level has parents), contact fields, and the organ's
        life: ``established``, ``closed`` (TOML dates or date-times; a date is its first
        moment in Vietnam) and ``successor`` (the organ that took over). Without
        ``[[levels]]`` the four classic levels are used.
        """
        return cls.from_toml_text(read_toml_file(path, "hierarchy"), where=str(path))

    @classmethod
    def from_toml_text(cls, text: str, *, where: str | None = None) -> Hierarchy:
        """Load levels and organs from TOML text (see :meth:`from_toml`)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", where=where) from exc
        try:
            levels = tuple(
                Level(str(item["key"]), str(item["name"]), tuple(item.get("parents", ())))
                for item in data.get("levels", ())
            ) or FOUR_LEVELS
            level_parents = {level.key: level.parents for level in levels}
            organs = tuple(
                _organ_from_table(item, level_parents) for item in data.get("organs", ())
            )
        except KeyError as exc:
            raise ConfigError(f"missing key {exc.args[0]!r} in hierarchy", where=where) from exc
        except ModelError as exc:
            place = f"{where}: {exc.where}" if where and exc.where else (exc.where or where)
            raise ConfigError(exc.message, where=place, hint=exc.hint) from exc
        return cls(levels=levels, organs=organs)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Organ]:
        return iter(self.organs)

    def __len__(self) -> int:
        return len(self.organs)

    def get(self, code: OrganCode | str) -> Organ:
        """The organ with this code; ``ModelError`` if it is not in the hierarchy."""
        key = OrganCode.parse(code)
        try:
            return self._by_code[key]
        except KeyError:
            raise ModelError(
                "organ is not in the hierarchy",
                where=str(key),
                hint="add it to the hierarchy/directory file",
            ) from None

    def level(self, key: str) -> Level:
        """The level with this key."""
        for level in self.levels:
            if level.key == key:
                return level
        raise ModelError(f"unknown level {key!r}")

    def children(self, code: OrganCode | str) -> list[Organ]:
        """Organs directly under ``code``."""
        key = OrganCode.parse(code)
        return [organ for organ in self.organs if organ.parent == key]

    def ancestors(self, code: OrganCode | str) -> list[Organ]:
        """Organs above ``code``, nearest first."""
        out: list[Organ] = []
        organ = self.get(code)
        while organ.parent is not None:
            organ = self.get(organ.parent)
            out.append(organ)
        return out


def _check_life(organ: Organ, by_code: Mapping[OrganCode, Organ]) -> None:
    """An organ's dates and successor make sense with the organs around it: it closes
    after it is established; a successor is named only for a closed organ, is listed, is
    not itself, and the successors never lead back; an organ is not open after its
    parent closed (it moves first: ``docflow directory migrate``)."""
    where = str(organ.code)
    if organ.closed is not None and organ.established is not None \
            and organ.closed <= organ.established:
        raise ConfigError("the organ closes before it is established", where=where)
    if organ.successor is not None:
        if organ.closed is None:
            raise ConfigError(f"a successor ({organ.successor}) is named for an organ that "
                              "does not close", where=where,
                              hint="set closed = <date> too, or remove successor")
        seen = {organ.code}
        step: Organ | None = organ
        while step is not None and step.successor is not None:
            if step.successor in seen:
                raise ConfigError("the successors lead back to "
                                  f"{step.successor}", where=where,
                                  hint="a successor is the organ that takes over: it "
                                  "never closes into the one it replaced")
            if step.successor not in by_code:
                raise ConfigError(f"successor {step.successor} is not in the directory",
                                  where=str(step.code), hint="list it under [[organs]]")
            seen.add(step.successor)
            step = by_code[step.successor]
    parent = by_code.get(organ.parent) if organ.parent is not None else None
    if parent is not None and parent.closed is not None and (
            organ.closed is None or organ.closed > parent.closed):
        raise ConfigError(
            f"the organ stays open under {parent.code}, which closes on "
            f"{parent.closed.astimezone(DEFAULT_TZ):%d/%m/%Y}", where=where,
            hint="give it its new parent (parent = ...), or close it too; `docflow "
            "directory migrate --plan` does a whole re-parenting")


def _instant(value: Any, key: str, code: str) -> dt.datetime | None:
    """A TOML date or date-time (or ISO text) as an aware instant: a date is its first
    moment in Vietnam, a time without an offset is Vietnam's."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = (dt.datetime.fromisoformat(value) if "T" in value or " " in value
                     else dt.date.fromisoformat(value))
        except ValueError:
            raise ModelError(f"{key} = {value!r} is not a date", where=code,
                             hint=f"{key} = 2025-07-01 (a TOML date) or "
                             "2025-07-01T00:00:00+07:00") from None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=DEFAULT_TZ)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0), tzinfo=DEFAULT_TZ)
    raise ModelError(f"{key} must be a date, not {type(value).__name__}", where=code,
                     hint=f"{key} = 2025-07-01")


def read_toml_file(path: str | Path, what: str) -> str:
    """The text of a TOML file named by ``path``; TOML text given by mistake, or a file
    that cannot be read, is a :class:`ConfigError` saying so."""
    if isinstance(path, str) and ("\n" in path or "=" in path):
        raise ConfigError(f"this looks like TOML text, not the path of a {what} file",
                          hint="pass text to from_toml_text(), a path to from_toml()")
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file: {exc}", where=str(path)) from exc


def _organ_from_table(
    item: Mapping[str, Any], level_parents: Mapping[str, tuple[str, ...]]
) -> Organ:
    code = OrganCode.parse(str(item["code"]))
    level = str(item["level"])
    parent_text = item.get("parent")
    if parent_text is not None:
        parent: OrganCode | None = OrganCode.parse(str(parent_text))
    elif level_parents.get(level):
        parent = code.parent
    else:
        parent = None
    return Organ(
        code=code,
        name=str(item["name"]),
        level=level,
        parent=parent,
        organization_in_charge=str(item.get("organization_in_charge", "")),
        address=item.get("address"),
        email=item.get("email"),
        telephone=item.get("telephone"),
        fax=item.get("fax"),
        website=item.get("website"),
        established=_instant(item.get("established"), "established", str(code)),
        closed=_instant(item.get("closed"), "closed", str(code)),
        successor=(None if item.get("successor") in (None, "")
                   else OrganCode.parse(str(item["successor"]))),
    )


def organ_codes(values: Iterable[str | OrganCode]) -> tuple[OrganCode, ...]:
    """Parse several organ codes at once."""
    return tuple(OrganCode.parse(value) for value in values)
