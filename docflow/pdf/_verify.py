"""Checking a signed PDF as a receiving văn thư must (Nghị định 30/2020, Art. 21.2):
each signature in file order (integrity; the signer's chain to the PDF trust list;
revocation; its time-stamp; which revision it covers and whether later revisions only
add signatures and form fills, pyHanko's modification analysis catching a "shadow"
change of page content; its role and organ; the official against the packet's
``SignerInfo``), then one verdict for the file: ``valid``, ``incomplete`` (the official
signed, the organ not yet) or ``invalid``, with the reasons."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyhanko.pdf_utils.misc import PdfError as PyHankoPdfError
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator.errors import PathBuildingError, ValidationError

from docflow.errors import PdfError
from docflow.model import Signer
from docflow.pdf._read import Found, read_pdf, signatures_of
from docflow.pdf._roles import Role
from docflow.pdf._trust import PdfTrust

__all__ = ["COMPETENCE_PREFIXES", "PdfReport", "PdfVerdict", "SignatureCheck",
           "competence_prefix", "verify_pdf"]

#: How a signer signs for someone else (Nghị định 30, Phụ lục I): thay mặt, ký thay,
#: thừa lệnh, thừa ủy quyền, quyền.
COMPETENCE_PREFIXES = ("TM.", "KT.", "TL.", "TUQ.", "Q.")


class PdfVerdict(enum.StrEnum):
    """A file's verdict."""

    VALID = "valid"  #: the official's and the organ's signatures (or, on an attachment
    #: file, the organ's alone), each valid
    INCOMPLETE = "incomplete"  #: the official's signature, valid; the organ's is missing
    INVALID = "invalid"  #: anything else: see the problems


@dataclass(frozen=True)
class SignatureCheck:
    """What was found of one signature."""

    field: str
    role: Role
    #: how the role was known: from the ``certificate``, or from its place in the ``order``
    role_by: str
    signer: str
    organ: str | None
    intact: bool
    trusted: bool
    revoked: bool
    #: what later revisions did: none, lta_updates, form_filling, annotations, other
    modification: str
    revision: int
    signed_at: dt.datetime | None
    timestamp: dt.datetime | None
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The check as JSON-ready values (times in ISO 8601)."""
        return {"field": self.field, "role": self.role.value, "role_by": self.role_by,
                "signer": self.signer, "organ": self.organ, "intact": self.intact,
                "trusted": self.trusted, "revoked": self.revoked,
                "modification": self.modification, "revision": self.revision,
                "signed_at": _iso(self.signed_at), "timestamp": _iso(self.timestamp),
                "problems": list(self.problems)}


@dataclass(frozen=True)
class PdfReport:
    """One file's verdict, its signatures in file order and the file's own problems."""

    verdict: PdfVerdict
    signatures: tuple[SignatureCheck, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        """Whether the verdict is :attr:`PdfVerdict.VALID`."""
        return self.verdict is PdfVerdict.VALID

    def reasons(self) -> list[str]:
        """Every problem, the file's then each signature's (named by its role)."""
        return [*self.problems, *(f"{s.role.value} signature ({s.signer}): {p}"
                                  for s in self.signatures for p in s.problems)]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {"verdict": self.verdict.value, "problems": list(self.problems),
                "signatures": [s.as_dict() for s in self.signatures]}


def verify_pdf(pdf: bytes, trust: PdfTrust, *, at: dt.datetime | None = None,
               signer: Signer | None = None) -> PdfReport:
    """Check every signature of ``pdf`` against ``trust`` (at ``at``, default now) and
    give the file's verdict. ``signer``: the packet's ``SignerInfo``, whose name the
    official's certificate must carry. A file that cannot be read is an ``invalid``
    verdict naming why, never an exception."""
    try:
        found = signatures_of(read_pdf(pdf))
    except PdfError as exc:
        return PdfReport(PdfVerdict.INVALID, problems=(exc.message,))
    counted = [f for f in found if not f.document_timestamp]
    if not counted:
        return PdfReport(PdfVerdict.INVALID, problems=("the PDF carries no signature",))
    roles = _roles(counted)
    checks = []
    for position, (one, (role, role_by)) in enumerate(zip(counted, roles, strict=True)):
        problems = _order_problems(position, role, roles)
        checks.append(_check(one, role, role_by, trust, at, problems))
    checks = _cross_checks(checks, signer)
    return PdfReport(_verdict(checks), tuple(checks))


def _roles(found: list[Found]) -> list[tuple[Role, str]]:
    """Each signature's role: its certificate's, else its place (first the official's,
    then the organ's)."""
    roles: list[tuple[Role, str]] = []
    for position, one in enumerate(found):
        if one.role is not Role.UNKNOWN:
            roles.append((one.role, "certificate"))
        else:
            roles.append((Role.OFFICIAL if position == 0 and len(found) > 1
                          else Role.ORGAN if position == 1 else Role.UNKNOWN, "order"))
    if len(found) == 1 and roles[0][0] is Role.UNKNOWN:
        roles[0] = (Role.OFFICIAL, "order")
    return roles


def _order_problems(position: int, role: Role, roles: list[tuple[Role, str]]) -> list[str]:
    problems = []
    before = [r for r, _ in roles[:position]]
    if role is Role.OFFICIAL and Role.ORGAN in before:
        problems.append("the official signed after the organ: the organ signs last")
    if role in before and role is not Role.UNKNOWN:
        problems.append(f"a second {role.value} signature")
    if role is Role.UNKNOWN:
        problems.append("a third signature: the decree has two (the official's, the organ's)")
    return problems


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """pyHanko logs a tampered file's analysis as errors with tracebacks; the verdict
    says it all."""
    logger = logging.getLogger("pyhanko")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _check(one: Found, role: Role, role_by: str, trust: PdfTrust, at: dt.datetime | None,
           problems: list[str]) -> SignatureCheck:
    embedded = one.embedded
    signer = _name(embedded.signer_cert)
    try:
        with _quiet():
            context = trust.context(moment=at)
            status = validate_pdf_signature(embedded, context, ts_validation_context=context)
    except (PyHankoPdfError, SignatureValidationError, ValidationError, PathBuildingError,
            ValueError, KeyError, TypeError) as exc:
        return SignatureCheck(one.field, role, role_by, signer, _organ(one, embedded),
                              False, False, False, "unknown", _revision(embedded), None, None,
                              (*problems, f"the signature cannot be checked: {exc}"))
    problems += _status_problems(status, _outside_validity(embedded.signer_cert, at))
    timestamp = status.timestamp_validity
    return SignatureCheck(
        one.field, role, role_by, signer, _organ(one, embedded),
        intact=bool(status.intact and status.valid), trusted=bool(status.trusted),
        revoked=bool(status.revoked), modification=_modification(status),
        revision=_revision(embedded), signed_at=status.signer_reported_dt,
        timestamp=timestamp.timestamp if timestamp is not None else None,
        problems=tuple(problems))


def _outside_validity(certificate: Any, at: dt.datetime | None) -> str | None:
    """Why the signer's certificate was not valid at the moment checked, if it was not."""
    moment = at if at is not None else dt.datetime.now(dt.UTC)
    try:
        start, end = certificate.not_valid_before, certificate.not_valid_after
    except (AttributeError, ValueError):
        return None
    if moment < start:
        return f"the signer's certificate is valid only from {start:%Y-%m-%d %H:%M} UTC"
    if moment > end:
        return f"the signer's certificate expired on {end:%Y-%m-%d %H:%M} UTC"
    return None


def _status_problems(status: PdfSignatureStatus, validity: str | None) -> list[str]:
    problems = []
    if not status.intact:
        problems.append("the signed bytes changed after signing (integrity)")
    elif not status.valid:
        problems.append("the signature value does not verify")
    if status.revoked:
        details = status.revocation_details
        since = f" since {details.revocation_date:%Y-%m-%d}" if details is not None and \
            details.revocation_date is not None else ""
        problems.append(f"the signer's certificate is revoked{since}")
    elif not status.trusted and status.intact:
        problems.append(validity or _trust_problem(status))
    if not status.docmdp_ok or status.modification_level in (
            ModificationLevel.ANNOTATIONS, ModificationLevel.OTHER):
        problems.append("a later revision changed the document, not only adding "
                        "signatures or form fills (its content may differ from what was "
                        "signed)")
    stamp = status.timestamp_validity
    if stamp is not None and not (stamp.intact and stamp.valid and stamp.trusted):
        problems.append("its time-stamp does not verify against the trust list")
    return problems


def _trust_problem(status: PdfSignatureStatus) -> str:
    indication = status.trust_problem_indic
    name = str(getattr(indication, "name", indication or ""))
    if "NO_CERTIFICATE_CHAIN" in name:
        return "the signer's certificate does not chain to the PDF trust list"
    if "REVINFO" in name or "REVOCATION" in name or "GENERAL_FAILURE" in name \
            or "TRY_LATER" in name:
        return ("no revocation information says the signer's certificate (or its CA) is "
                "good: give the CAs' CRLs")
    if "EXPIRED" in name or "NOT_YET_VALID" in name or "OUT_OF_BOUNDS" in name:
        return "the signer's certificate was not valid at the time checked"
    return f"the signer's certificate is not trusted ({name.lower() or 'unknown reason'})"


def _cross_checks(checks: list[SignatureCheck], signer: Signer | None
                  ) -> list[SignatureCheck]:
    """The organ the official signs for is the organ that signs; the official is the
    packet's SignerInfo."""
    officials = [c for c in checks if c.role is Role.OFFICIAL]
    result = []
    for check in checks:
        extra = []
        if check.role is Role.ORGAN and officials and check.organ and officials[0].organ \
                and check.organ != officials[0].organ and check.role_by == "certificate" \
                and officials[0].role_by == "certificate":
            extra.append(f"signed for organ {check.organ}, the official for "
                         f"{officials[0].organ}")
        if check.role is Role.OFFICIAL and signer is not None and signer.full_name \
                and _folded(signer.full_name) != _folded(check.signer):
            extra.append(f"the packet's SignerInfo names {signer.full_name!r}, the "
                         f"certificate {check.signer!r}")
        if check.role is Role.OFFICIAL and signer is not None and signer.competence:
            prefix = competence_prefix(signer.competence)
            if prefix is not None and prefix not in COMPETENCE_PREFIXES:
                extra.append(f"the SignerInfo's competence {signer.competence!r} signs for "
                             f"someone with {prefix!r}, not one of "
                             + ", ".join(COMPETENCE_PREFIXES))
        result.append(check if not extra else _with(check, extra))
    return result


def competence_prefix(competence: str) -> str | None:
    """How a signer signs for someone else, as ``SignerInfo``'s competence writes it
    (``KT. Chủ tịch`` -> ``KT.``); None when the signer signs in their own right (no
    dotted abbreviation first)."""
    first = competence.strip().split(" ", 1)[0]
    if first.endswith(".") and first[:-1].isalpha() and first[:-1].isupper() \
            and len(first) <= 6:
        return first
    return None


def _with(check: SignatureCheck, extra: list[str]) -> SignatureCheck:
    return SignatureCheck(**{**check.__dict__, "problems": (*check.problems, *extra)})


def _verdict(checks: list[SignatureCheck]) -> PdfVerdict:
    if any(c.problems for c in checks):
        return PdfVerdict.INVALID
    roles = [c.role for c in checks]
    if roles in ([Role.OFFICIAL, Role.ORGAN], [Role.ORGAN]):
        return PdfVerdict.VALID
    if roles == [Role.OFFICIAL]:
        return PdfVerdict.INCOMPLETE
    return PdfVerdict.INVALID


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def _name(certificate: Any) -> str:
    try:
        return str(certificate.subject.native.get("common_name") or
                   certificate.subject.human_friendly)
    except (AttributeError, ValueError):
        return "?"


def _organ(one: Found, embedded: Any) -> str | None:
    if one.organ is not None:
        return str(one.organ)
    try:
        organization = embedded.signer_cert.subject.native.get("organization_name")
    except (AttributeError, ValueError):
        return None
    return str(organization) if organization else None


def _revision(embedded: Any) -> int:
    try:
        return int(embedded.signed_revision)
    except (AttributeError, ValueError, TypeError, PyHankoPdfError):
        return -1


def _modification(status: PdfSignatureStatus) -> str:
    level = status.modification_level
    return level.name.lower() if level is not None else "unknown"


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
