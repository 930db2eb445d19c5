"""Signed request tokens: how an organ proves who is asking when it pulls from its hub.

A pull request (list pending packets, acknowledge one, ask for a trace) carries no edXML
packet to verify, so the caller signs a short statement instead: the operation, what it
is about, the time and a fresh nonce, with the same key and certificate it signs packets
with. The hub accepts the token when the certificate is trusted and names the organ, the
signature verifies, the time is within the allowed skew and the nonce was not seen
before (within that window): a token cannot be replayed or reused for another operation.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

import pybase64
from cryptography import x509

from docflow.errors import ReplayError, SignatureValueError, SignerMismatchError
from docflow.model import OrganCode
from docflow.security._pki import Credentials, sign_data, verify_data
from docflow.security._trust import TrustStore

__all__ = ["DEFAULT_SKEW", "NonceCache", "RequestToken", "sign_request", "verify_request"]

#: How far the caller's clock may be from the hub's.
DEFAULT_SKEW = dt.timedelta(minutes=5)
_PREFIX = "docflow-request-v1"


@dataclass(frozen=True)
class RequestToken:
    """A signed statement "``organ`` asks for ``operation`` on ``subject`` at ``timestamp``".

    ``certificate`` is DER; ``signature`` covers :meth:`statement`.
    """

    organ: OrganCode
    operation: str
    subject: str
    timestamp: dt.datetime
    nonce: str
    certificate: bytes
    signature: bytes

    def statement(self) -> bytes:
        """The bytes the signature covers."""
        return _statement(self.organ, self.operation, self.subject, self.timestamp, self.nonce)

    def to_text(self) -> str:
        """A one-line form (fields joined by spaces, binary parts base64) for headers."""
        return " ".join((
            str(self.organ), self.operation, pybase64.b64encode(self.subject.encode()).decode(),
            self.timestamp.astimezone(dt.UTC).isoformat(), self.nonce,
            pybase64.b64encode(self.certificate).decode(),
            pybase64.b64encode(self.signature).decode(),
        ))

    @classmethod
    def from_text(cls, text: str) -> RequestToken:
        """Read :meth:`to_text` (``SignatureValueError`` when it is malformed)."""
        try:
            organ, operation, subject, stamp, nonce, cert, sig = text.split(" ")
            timestamp = dt.datetime.fromisoformat(stamp)
            if timestamp.tzinfo is None:
                raise ValueError("naive timestamp")
            return cls(OrganCode.parse(organ), operation,
                       pybase64.b64decode(subject, validate=True).decode(), timestamp, nonce,
                       pybase64.b64decode(cert, validate=True),
                       pybase64.b64decode(sig, validate=True))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SignatureValueError("malformed request token",
                                      hint="sign requests with docflow.security.sign_request"
                                      ) from exc


def _statement(organ: OrganCode, operation: str, subject: str, timestamp: dt.datetime,
               nonce: str) -> bytes:
    moment = timestamp.astimezone(dt.UTC).isoformat()
    return "\n".join((_PREFIX, str(organ), operation, subject, moment, nonce)).encode()


def sign_request(credentials: Credentials, operation: str, subject: str = "", *,
                 now: dt.datetime) -> RequestToken:
    """Sign a request for ``operation`` (on ``subject``) as the credentials' organ."""
    organ = credentials.organ
    nonce = secrets.token_hex(16)
    signature = sign_data(credentials.signing_key(),
                          _statement(organ, operation, subject, now, nonce))
    return RequestToken(organ, operation, subject, now, nonce, credentials.certificate_der,
                        signature)


class NonceCache:
    """The nonces seen within the skew window, bounded in size (oldest forgotten first)."""

    def __init__(self, max_entries: int = 100_000):
        self._seen: OrderedDict[str, dt.datetime] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def add(self, nonce: str, timestamp: dt.datetime, *, now: dt.datetime,
            window: dt.timedelta) -> bool:
        """Remember ``nonce``; False when it was already seen."""
        with self._lock:
            while self._seen:
                oldest, when = next(iter(self._seen.items()))
                if when >= now - 2 * window and len(self._seen) < self.max_entries:
                    break
                del self._seen[oldest]
            if nonce in self._seen:
                return False
            self._seen[nonce] = timestamp
            return True


def verify_request(token: RequestToken, trust: TrustStore, *, operation: str,
                   subject: str = "", now: dt.datetime, nonces: NonceCache,
                   skew: dt.timedelta = DEFAULT_SKEW) -> OrganCode:
    """Accept ``token`` as a request for ``operation`` on ``subject``; return the organ.

    Raises a :class:`~docflow.errors.SecurityError` subclass: untrusted or invalid
    certificate, a certificate of another organ, a bad signature, a stale or future
    timestamp, a reused nonce, or a token made for another operation.
    """
    where = f"request {operation} from {token.organ}"
    if token.operation != operation or token.subject != subject:
        raise SignerMismatchError("the token was signed for another request", where=where,
                                  hint="sign each request for its own operation")
    try:
        certificate = x509.load_der_x509_certificate(token.certificate)
    except ValueError as exc:
        raise SignatureValueError("the token's certificate is not DER", where=where) from exc
    organ = trust.check(certificate, now=now)
    if organ != token.organ:
        raise SignerMismatchError(f"the certificate is {organ}'s, not {token.organ}'s",
                                  where=where)
    if abs(now - token.timestamp) > skew:
        raise ReplayError(f"the token's time {token.timestamp.isoformat()} is more than "
                          f"{skew} from the hub's", where=where,
                          hint="check the caller's clock; sign each request afresh")
    try:
        verify_data(certificate, token.signature, token.statement(), where=where)
    except SignatureValueError as exc:
        raise SignatureValueError("the request token's signature is wrong", where=where,
                                  hint="sign each request with the organ's own key") from exc
    if not nonces.add(token.nonce, token.timestamp, now=now, window=skew):
        raise ReplayError("the request token was used before", where=where,
                          hint="sign each request afresh")
    return organ
