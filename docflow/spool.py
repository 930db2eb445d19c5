"""Bytes that live in a temporary file: a large packet on its way through a node.

A scanned decision of 10 to 50 MB travels as a packet of up to 50 MiB (the axis's
limit). Held as ``bytes`` it is copied at every step (the request body, its tree, the
decoded attachment, the hop-signed copy, the stored blob read back); as a :class:`Spool`
it is written once to an unnamed temporary file and read back in chunks wherever it goes:
the SOAP endpoint spools a large request there, verification digests the attachments
from it (:mod:`docflow.envelope` keeps only a skeleton of the packet's tree in memory),
the store writes it into the database chunk by chunk and the SOAP client sends it from
it.

Everything that takes a packet takes :data:`PacketData`: ``bytes`` or a ``Spool``. The
helpers here (:func:`size_of`, :func:`sha256_of`, :func:`chunks_of`, :func:`as_bytes`)
treat both alike. A spool is immutable once written, and safe to read from several
threads (reads are positioned, ``os.pread``: no shared file offset). Its file has no name
(``tempfile.TemporaryFile``): it goes when the spool is closed or collected, and with the
process whatever happens.

A value type of the core (no sockets, no clocks); its only I/O is its own file.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import pybase64

from docflow.errors import OversizeError

__all__ = ["CHUNK", "SPOOL_FROM", "PacketData", "Spool", "SpoolWriter", "as_bytes",
           "base64_chunks", "base64_decoded", "base64_size", "chunks_of",
           "decode_base64_spool", "sha256_of", "size_of", "spool_if_large"]

#: the size of the pieces a spool is read and written in
CHUNK = 1 << 20
#: packets this large and larger take the streaming path (spooled, read in chunks)
SPOOL_FROM = 8 << 20


class Spool:
    """Immutable bytes in an unnamed temporary file (see the module docstring). Build
    one with :meth:`from_chunks` or a :class:`SpoolWriter`.

    >>> spool = Spool.from_chunks([b"<a>", b"1</a>"])
    >>> len(spool), bytes(spool), spool.read(1, 2)
    (8, b'<a>1</a>', b'a>')
    >>> spool.close()
    """

    __slots__ = ("__weakref__", "_digest", "_file", "_finalizer", "_size")

    def __init__(self, file: BinaryIO, size: int) -> None:
        """Take ``file`` (written, ``size`` bytes): use :meth:`from_chunks` or
        :class:`SpoolWriter` rather than this."""
        self._file = file
        self._size = size
        self._digest: str | None = None
        self._finalizer = weakref.finalize(self, file.close)

    @classmethod
    def from_chunks(cls, chunks: Iterable[bytes], *, limit: int | None = None) -> Spool:
        """A spool of ``chunks``, in order; :class:`~docflow.errors.OversizeError` (and
        nothing kept) past ``limit`` bytes."""
        with SpoolWriter(limit=limit) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.finish()

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        """The whole content as one ``bytes`` (what the streaming path avoids)."""
        return self.read(0, self._size)

    def __repr__(self) -> str:
        return f"<Spool of {self._size} bytes>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Spool):
            return self._size == other._size and self.sha256() == other.sha256()
        if isinstance(other, bytes | bytearray | memoryview):
            return self._size == len(other) and self.sha256() == hashlib.sha256(
                other).hexdigest()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to bytes, which hash otherwise

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset`` (fewer at the end)."""
        if offset < 0 or size < 0:
            raise ValueError("offset and size must not be negative")
        size = min(size, self._size - offset)
        if size <= 0:
            return b""
        parts = []
        fd = self._file.fileno()
        while size > 0:
            part = os.pread(fd, size, offset)
            if not part:  # pragma: no cover - a spool's file never shrinks
                raise OSError("the spool's file ended early")
            parts.append(part)
            offset += len(part)
            size -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def chunks(self, start: int = 0, stop: int | None = None, *,
               size: int = CHUNK) -> Iterator[bytes]:
        """The bytes from ``start`` to ``stop`` (the end when None) in pieces of at most
        ``size``."""
        end = self._size if stop is None else min(stop, self._size)
        while start < end:
            piece = self.read(start, min(size, end - start))
            start += len(piece)
            yield piece

    def sha256(self) -> str:
        """The SHA-256 of the content, hex (computed once)."""
        if self._digest is None:
            digest = hashlib.sha256()
            for chunk in self.chunks():
                digest.update(chunk)
            self._digest = digest.hexdigest()
        return self._digest

    def startswith(self, prefix: bytes) -> bool:
        """Whether the content begins with ``prefix``."""
        return self.read(0, len(prefix)) == prefix

    def close(self) -> None:
        """Remove the file now (it also goes when the spool is collected)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return not self._finalizer.alive


class SpoolWriter:
    """Write a :class:`Spool` piece by piece; :meth:`finish` returns it. Used as a
    context manager, a writer that did not finish removes its file.

    Args:
        limit: the most bytes accepted (:class:`~docflow.errors.OversizeError` past it).
        directory: where the temporary file goes (the system's temporary directory by
            default: ``TMPDIR``).
    """

    def __init__(self, *, limit: int | None = None, directory: str | None = None) -> None:
        self._file: BinaryIO | None = tempfile.TemporaryFile(  # noqa: SIM115 - a spool's
            prefix="docflow-spool-", dir=directory)  # file outlives this call
        self._size = 0
        self._limit = limit
        self._digest = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``."""
        if self._file is None:
            raise ValueError("the spool was finished or discarded")
        if self._limit is not None and self._size + len(data) > self._limit:
            size = self._size + len(data)
            self.discard()
            raise OversizeError(size, self._limit)
        self._file.write(data)
        self._digest.update(data)
        self._size += len(data)
        return len(data)

    @property
    def size(self) -> int:
        """The bytes written so far."""
        return self._size

    def finish(self) -> Spool:
        """The spool of what was written (the writer is done)."""
        if self._file is None:
            raise ValueError("the spool was finished or discarded")
        file, self._file = self._file, None
        file.flush()
        spool = Spool(file, self._size)
        spool._digest = self._digest.hexdigest()
        return spool

    def discard(self) -> None:
        """Remove what was written."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


#: a packet as it is passed around: in memory, or spooled to a temporary file
PacketData = bytes | Spool


def size_of(data: PacketData) -> int:
    """The size of a packet in bytes."""
    return len(data)


def sha256_of(data: PacketData) -> str:
    """The SHA-256 (hex) of a packet, read in chunks when spooled."""
    if isinstance(data, Spool):
        return data.sha256()
    return hashlib.sha256(data).hexdigest()


def chunks_of(data: PacketData, *, size: int = CHUNK) -> Iterator[bytes]:
    """A packet in pieces of at most ``size`` bytes."""
    if isinstance(data, Spool):
        yield from data.chunks(size=size)
        return
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start:start + size])


def as_bytes(data: PacketData) -> bytes:
    """A packet as one ``bytes`` (a spool read whole: for the paths that need it so)."""
    return bytes(data) if isinstance(data, Spool) else data


def base64_size(size: int) -> int:
    """The length of the base64 of ``size`` bytes (padded, no line breaks)."""
    return 4 * ((size + 2) // 3)


def base64_chunks(data: PacketData) -> Iterator[bytes]:
    """The base64 of a packet: at once when in memory, in pieces when spooled (each
    from a multiple of 3 bytes, so that they join into the base64 of the whole)."""
    if not isinstance(data, Spool):
        yield pybase64.b64encode(data)
        return
    for chunk in data.chunks(size=3 << 18):
        yield pybase64.b64encode(chunk)


def base64_decoded(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The bytes whose base64 text comes in ``chunks`` (white space allowed anywhere, as
    in MIME base64), decoded piece by piece as the text comes; ``ValueError`` for what is
    not base64."""
    carry = b""
    for chunk in chunks:
        text = carry + chunk.translate(None, b" \t\r\n")
        whole = len(text) - len(text) % 4
        carry = text[whole:]
        try:
            yield pybase64.b64decode(text[:whole], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(str(exc)) from exc
    if carry:
        raise ValueError("the text ends in an incomplete base64 group")


def decode_base64_spool(chunks: Iterable[bytes], *, limit: int | None = None) -> Spool:
    """A spool of :func:`base64_decoded` ``chunks``;
    :class:`~docflow.errors.OversizeError` past ``limit`` decoded bytes."""
    return Spool.from_chunks(base64_decoded(chunks), limit=limit)


def spool_if_large(data: bytes, *, threshold: int = SPOOL_FROM) -> PacketData:
    """``data`` spooled when it is ``threshold`` bytes or more, else as it is."""
    if len(data) < threshold:
        return data
    return Spool.from_chunks(chunks_of(data))
