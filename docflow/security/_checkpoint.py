"""Signed audit checkpoints: the audit chain's head, signed by an organ, kept elsewhere.

A store's audit chain (:meth:`~docflow.store.AuditLog.verify`) catches an entry edited
or deleted behind docflow's back, but not someone with write access to the database who
recomputes every hash after the one they changed: the chain is only as good as the
knowledge of its last hash. A checkpoint is that knowledge, signed: "the chain had
``seq`` entries, the last one hashing to ``head``, at ``at``", signed with the organ's
key and certificate. Kept outside the database (by the organ, its auditor, its hub), it
lets :meth:`~docflow.store.AuditLog.verify` prove that the first ``seq`` entries are
still the ones that were signed; forging one needs the organ's private key.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pybase64
from cryptography import x509

from docflow.errors import SignatureValueError, SignerMismatchError
from docflow.model import OrganCode
from docflow.security._pki import Credentials, sign_data, verify_data
from docflow.security._trust import TrustStore

__all__ = ["AuditCheckpoint", "sign_checkpoint", "verify_checkpoint"]

_PREFIX = "docflow-audit-checkpoint-v1"


@dataclass(frozen=True)
class AuditCheckpoint:
    """A signed statement "``organ``'s audit chain had ``seq`` entries ending in
    ``head`` at ``at``". ``certificate`` is DER; ``signature`` covers :meth:`statement`."""

    organ: OrganCode
    seq: int
    head: str
    at: dt.datetime
    certificate: bytes
    signature: bytes
    #: an RFC 3161 time-stamp token (DER) over ``signature``, when a time-stamping
    #: authority stamped it (:func:`docflow.timestamps.stamp_checkpoint`)
    timestamp: bytes | None = None

    def statement(self) -> bytes:
        """The bytes the signature covers."""
        return _statement(self.organ, self.seq, self.head, self.at)

    def to_json(self) -> str:
        """The checkpoint as a small JSON document (binary parts base64)."""
        data = {
            "format": _PREFIX, "organ": str(self.organ), "seq": self.seq, "head": self.head,
            "at": self.at.astimezone(dt.UTC).isoformat(),
            "certificate": pybase64.b64encode(self.certificate).decode(),
            "signature": pybase64.b64encode(self.signature).decode(),
        }
        if self.timestamp is not None:
            data["timestamp"] = pybase64.b64encode(self.timestamp).decode()
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> AuditCheckpoint:
        """Read :meth:`to_json` (:class:`~docflow.errors.SignatureValueError` when it is
        not a checkpoint)."""
        try:
            data = json.loads(text)
            if data.get("format") != _PREFIX:
                raise ValueError(f"format is {data.get('format')!r}, not {_PREFIX!r}")
            at = dt.datetime.fromisoformat(data["at"])
            if at.tzinfo is None:
                raise ValueError("naive time")
            seq = data["seq"]
            if not isinstance(seq, int) or seq < 0:
                raise ValueError("seq is not a count of entries")
            stamp = data.get("timestamp")
            return cls(OrganCode.parse(data["organ"]), seq, str(data["head"]), at,
                       pybase64.b64decode(data["certificate"], validate=True),
                       pybase64.b64decode(data["signature"], validate=True),
                       None if stamp is None else pybase64.b64decode(stamp, validate=True))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SignatureValueError(
                f"not an audit checkpoint: {exc}",
                hint="make one with `docflow audit checkpoint` (Node.audit_checkpoint)",
            ) from exc


def _statement(organ: OrganCode, seq: int, head: str, at: dt.datetime) -> bytes:
    moment = at.astimezone(dt.UTC).isoformat()
    return "\n".join((_PREFIX, str(organ), str(seq), head, moment)).encode()


def sign_checkpoint(credentials: Credentials, seq: int, head: str, *,
                    now: dt.datetime) -> AuditCheckpoint:
    """Sign the chain's state (``seq`` entries, the last hashing to ``head``) as the
    credentials' organ."""
    organ = credentials.organ
    return AuditCheckpoint(organ, seq, head, now, credentials.certificate_der,
                           sign_data(credentials.signing_key(),
                                     _statement(organ, seq, head, now)))


def verify_checkpoint(checkpoint: AuditCheckpoint, trust: TrustStore) -> OrganCode:
    """Check a checkpoint's certificate (trusted, valid when it was signed, naming its
    organ) and signature; return the organ. A
    :class:`~docflow.errors.SecurityError` subclass otherwise."""
    where = f"audit checkpoint of {checkpoint.organ} at entry {checkpoint.seq}"
    try:
        certificate = x509.load_der_x509_certificate(checkpoint.certificate)
    except ValueError as exc:
        raise SignatureValueError("the checkpoint's certificate is not DER",
                                  where=where) from exc
    organ = trust.check(certificate, now=checkpoint.at)
    if organ != checkpoint.organ:
        raise SignerMismatchError(f"the certificate is {organ}'s, not {checkpoint.organ}'s",
                                  where=where)
    verify_data(certificate, checkpoint.signature, checkpoint.statement(), where=where)
    return organ
