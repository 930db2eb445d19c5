"""The systems an axis or LGSP knows, and what each may do: the rules every dialect
applies alike, as data and pure predicates (no store, no HTTP).

A system (a unit's software, a SaaS platform, a relaying LGSP) is known by its system
id and secret and stands for its ``organs``. What it may claim beyond them is the
operator's word, in the systems file: ``serves`` (organ-code patterns such as
``*.*.*.H41``: the organs a relaying platform registers and sends for) and ``register``
(the right to register and delete organs at all). Without ``serves`` a system claims its
own organs and the units below them by code (``000.05.07.H41`` under ``000.00.07.H41``).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field

from docflow.errors import ConfigError, DocflowError
from docflow.model import OrganCode, OrganPattern

__all__ = ["DEFAULT_MAX_AGENCIES", "AxisSystem", "check_distinct", "clean_text"]

#: how many registrations one system may hold unless the systems file says otherwise
DEFAULT_MAX_AGENCIES = 500


@dataclass(frozen=True)
class AxisSystem:
    """A caller the axis knows.

    Args:
        system_id: its id at the platform (an organ code, or another id such as
            ``vxp.saas.03``).
        secret: the secret issued with it.
        name: for people (registrations made for its organs carry it).
        relay: whether it sends packets of other organs (an LGSP relaying its units'):
            only of organs in its ``serves`` patterns or registered under it.
        organs: the organ codes it stands for (default: the system id, when it is one).
        serves: organ-code patterns it may register, and send for when it relays.
        register: whether it may register and delete organs (``registerAgency``,
            ``deleteAgency``, ``POST``/``PUT donvilienthongs``): an explicit right.
        max_agencies: how many registrations it may hold.
    """

    system_id: str
    secret: str
    name: str = ""
    relay: bool = False
    organs: tuple[str, ...] = field(default=())
    serves: tuple[str, ...] = field(default=())
    register: bool = False
    max_agencies: int = DEFAULT_MAX_AGENCIES

    def __post_init__(self) -> None:
        if not self.organs:
            try:
                object.__setattr__(self, "organs", (str(OrganCode.parse(self.system_id)),))
            except DocflowError as exc:
                raise DocflowError(
                    f"system {self.system_id!r} is not an organ code and names no organs",
                    hint="give the organ codes it stands for (organs = [...])") from exc
        object.__setattr__(self, "organs",
                           tuple(str(OrganCode.parse(code)) for code in self.organs))
        for pattern in self.serves:
            OrganPattern(pattern)
        if not 0 <= self.max_agencies <= 1_000_000:
            raise ConfigError(f"system {self.system_id!r}: max_agencies must be between 0 "
                              f"and 1,000,000, not {self.max_agencies}")

    def claims(self, code: str) -> bool:
        """Whether ``code`` is among what this system may register: one of its organs, a
        unit below one by code, or an organ its ``serves`` patterns name."""
        try:
            organ = OrganCode.parse(code)
        except DocflowError:
            return False
        if str(organ) in self.organs:
            return True
        ancestor = organ.parent
        while ancestor is not None:
            if str(ancestor) in self.organs:
                return True
            ancestor = ancestor.parent
        return any(OrganPattern(pattern).matches(organ) for pattern in self.serves)


def check_distinct(systems: list[AxisSystem]) -> None:
    """Refuse a systems list in which two systems have one id or stand for one organ
    (each organ's mail goes to one system)."""
    owners: dict[str, str] = {}
    ids: set[str] = set()
    for system in systems:
        if system.system_id in ids:
            raise ConfigError(f"system id {system.system_id!r} is listed twice",
                              hint="one [[systems]] table per system id")
        ids.add(system.system_id)
        for organ in system.organs:
            if organ in owners:
                raise ConfigError(
                    f"organ {organ} is listed for systems {owners[organ]!r} and "
                    f"{system.system_id!r}",
                    hint="an organ's packets go to one system: list it under one")
            owners[organ] = system.system_id


def clean_text(value: object, name: str, *, limit: int = 300) -> str:
    """An outside text (an organ's name, a mail address) fit to store and show: a string
    that encodes as UTF-8 (no lone surrogates), of printable characters, at most
    ``limit`` characters. Raises ValueError naming the field otherwise."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a text, not {json.dumps(value)[:20]}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} holds a character that is not Unicode text "
                         f"(a lone surrogate at {exc.start})") from exc
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    if not text.isprintable():
        raise ValueError(f"{name} holds control characters")
    return text
