"""Findings: every way a packet deviates from the strict layout, and the policy that says
which of them refuse it.

Like the standard library's ``email`` defects: the reader never gives up on a packet it
can understand; each deviation becomes a :class:`Finding` (a code in the
``{N|R|M|T}.{path}`` taxonomy a widely deployed provincial hub uses: **N** required or
null, **R** out of range or too long, **M** malformed or misplaced, **T** of another
type; then the parent and the element), and a :class:`Policy` value decides whether it
refuses the packet or is only recorded. Pure data: no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from docflow.model import DEFAULT_TZ

__all__ = ["DEFAULT_POLICY", "LENGTHS", "Finding", "Policy", "Severity", "findings_from_json",
           "findings_json"]


class Severity(enum.IntEnum):
    """How much a finding matters (ordered)."""

    #: cosmetic: another order, prefix or spelling of the same thing
    INFO = 1
    #: something lost or doubtful, the document is still usable
    WARNING = 2
    #: the document cannot be used as it is (no sender, no subject...)
    ERROR = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    """One deviation from the strict layout.

    ``code`` is ``{N|R|M|T}.{parent}.{element}`` (``N.MessageHeader.To``,
    ``M.From.OrganId``, ``R.MessageHeader.Subject``...); ``path`` the element's path in
    the packet, ``line`` its line (None when unknown); ``message`` a sentence saying what
    was found and what docflow did with it.
    """

    code: str
    severity: Severity
    message: str
    path: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``severity`` as a word)."""
        return {"code": self.code, "severity": str(self.severity), "message": self.message,
                "path": self.path, "line": self.line}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of :meth:`to_dict`."""
        return cls(code=str(data["code"]), severity=Severity[str(data["severity"]).upper()],
                   message=str(data["message"]), path=data.get("path"), line=data.get("line"))

    def __str__(self) -> str:
        where = f" (at {self.path}" + (f", line {self.line}" if self.line else "") + ")" \
            if self.path else ""
        return f"{self.severity} {self.code}: {self.message}{where}"


def findings_json(findings: Iterable[Finding]) -> str:
    """Findings as a JSON array (what the store keeps with a received document)."""
    return json.dumps([finding.to_dict() for finding in findings], ensure_ascii=False)


def findings_from_json(text: str | None) -> tuple[Finding, ...]:
    """The inverse of :func:`findings_json` (nothing for None or an empty text)."""
    if not text:
        return ()
    return tuple(Finding.from_dict(item) for item in json.loads(text))


#: Maximum lengths of the fields Nghị định 30/2020 (Phụ lục VI) and a widely deployed
#: provincial hub set; longer values are kept whole and recorded (``R.*``).
LENGTHS: dict[str, int] = {
    "OrganId": 13, "CodeNumber": 11, "CodeNotation": 30, "Subject": 500, "Content": 500,
    "Place": 50, "OrganName": 200, "OrganAdd": 250, "Email": 100, "Telephone": 20,
    "Fax": 20, "TyperNotation": 10, "SphereOfPromulgation": 100, "AttachmentName": 500,
}


@dataclass(frozen=True)
class Policy:
    """Which findings refuse a packet (a value: derive variants with :meth:`clone`).

    A finding refuses the packet when its code matches one of ``refuse`` (shell-style
    patterns: ``"M.From.*"``), or when its severity is at least ``refuse_at`` and its
    code matches none of ``accept``. The default refuses what makes a document unusable
    (no sender, no recipient, no number or subject, an undecodable attachment, a
    DocumentId that names another organ's document: the ``error`` findings) and records
    the rest. ``tz`` is the zone in which zone-less timestamps are read (the peer's
    clock: Vietnam time by default). ``aliases`` maps identifiers that are not organ
    codes (an axis's system ids, ``vxp.saas.03``) to the organ codes they stand for.

    >>> policy = DEFAULT_POLICY.clone(accept=("M.MessageHeader.DocumentId",))
    >>> policy.refuses(Finding("M.MessageHeader.DocumentId", Severity.ERROR, "x"))
    False
    """

    refuse_at: Severity = Severity.ERROR
    refuse: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    tz: ZoneInfo = DEFAULT_TZ
    aliases: dict[str, str] = field(default_factory=dict)

    def refuses(self, finding: Finding) -> bool:
        """Whether ``finding`` refuses the packet under this policy."""
        if any(fnmatch.fnmatchcase(finding.code, pattern) for pattern in self.refuse):
            return True
        if any(fnmatch.fnmatchcase(finding.code, pattern) for pattern in self.accept):
            return False
        return finding.severity >= self.refuse_at

    def refusing(self, findings: Iterable[Finding]) -> tuple[Finding, ...]:
        """The findings that refuse the packet."""
        return tuple(finding for finding in findings if self.refuses(finding))

    def clone(self, **changes: Any) -> Policy:
        """This policy with some fields changed."""
        return dataclasses.replace(self, **changes)


DEFAULT_POLICY = Policy()
