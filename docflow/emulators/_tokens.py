"""The bearer tokens an LGSP emulator issues (a login's, an OAuth2 grant's), signed
rather than stored: ``payload.mac``, the payload a small JSON object (subject, issue
time, lifetime, scope, a nonce) and the MAC its HMAC-SHA256 under the platform's key.
Any process holding the key checks a token without asking the others, so several
processes can serve one platform (``docflow axis serve --processes N``); a token lives
until its lifetime runs out, as on the platforms (there is no logout)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

__all__ = ["IssuedToken", "TokenBook"]


@dataclass(frozen=True)
class IssuedToken:
    """What a valid token says."""

    subject: str  #: the account (lgsp-token) or OAuth2 client (wso2) it was issued to
    issued: float  #: POSIX seconds
    lifetime: float  #: seconds
    scope: str = ""

    def expired(self, now: float) -> bool:
        """Whether the token's lifetime has run out at ``now`` (POSIX seconds)."""
        return now >= self.issued + self.lifetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenBook:
    """Issues and checks signed tokens with ``key`` (32 random bytes unless given: the
    processes of one platform share theirs)."""

    def __init__(self, key: bytes | None = None):
        self.key = key if key is not None else secrets.token_bytes(32)
        if len(self.key) < 16:
            raise ValueError("a token key needs at least 16 bytes")

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode("ascii"), hashlib.sha256).digest())

    def issue(self, subject: str, *, issued: float, lifetime: float, scope: str = "") -> str:
        """A token for ``subject``, valid ``lifetime`` seconds from ``issued``."""
        payload = json.dumps({"s": subject, "i": issued, "l": lifetime, "c": scope,
                              "n": secrets.token_hex(8)}, separators=(",", ":"))
        body = _b64(payload.encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def read(self, token: str) -> IssuedToken | None:
        """What ``token`` says if this key signed it (None for anything else: forged,
        altered, truncated, not a token at all). Expiry is the caller's to check."""
        if len(token) > 4096 or not token.isascii():
            return None
        body, dot, mac = token.partition(".")
        if not dot or not hmac.compare_digest(self._mac(body).encode(), mac.encode()):
            return None
        try:
            data = json.loads(_unb64(body))
            return IssuedToken(str(data["s"]), float(data["i"]), float(data["l"]),
                               str(data.get("c", "")))
        except (ValueError, KeyError, TypeError):
            return None
