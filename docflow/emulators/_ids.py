"""The ids a platform issues for the packets it holds. Quảng Nam's gateway issues UUIDs
(``5b8209a7-f5f8-4ada-b766-27c30a2eaf8b``), the national axis and the token LGSP
numbers; a client must treat every id as an opaque string. An emulator keeps its copies
by number: :class:`UuidIds` turns a copy's number into a UUID and back without a table,
by one block of AES under a key derived from the platform's code (the ids are names,
not secrets: what a caller may fetch is checked against its organs anyway). A string
that is not one of these ids reads as none."""

from __future__ import annotations

import hashlib
import uuid

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["UuidIds"]


class UuidIds:
    """UUIDs for the copies of the platform ``code`` (the same on every process and
    after a restart)."""

    def __init__(self, code: str):
        digest = hashlib.sha256(f"docflow-platform-ids:{code}".encode()).digest()
        self._cipher = Cipher(algorithms.AES(digest[:16]), modes.ECB())  # noqa: S305
        self._tag = digest[16:24]  # one block: the number and a tag that marks our ids

    def issue(self, number: int) -> str:
        """The UUID of copy ``number`` (0 < number < 2**63)."""
        encryptor = self._cipher.encryptor()
        block = encryptor.update(number.to_bytes(8, "big") + self._tag) + encryptor.finalize()
        return str(uuid.UUID(bytes=block))

    def read(self, text: object) -> int | None:
        """The copy number a UUID of this platform names; None for anything else."""
        if not isinstance(text, str) or len(text) != 36:
            return None
        try:
            block = uuid.UUID(text).bytes
        except ValueError:
            return None
        decryptor = self._cipher.decryptor()
        plain = decryptor.update(block) + decryptor.finalize()
        if plain[8:] != self._tag:
            return None
        number = int.from_bytes(plain[:8], "big")
        return number if 0 < number < 1 << 63 else None
