"""A large packet as a skeleton: its XML with each large text (an attachment's base64)
replaced by a marker, the text itself left in the :class:`~docflow.spool.Spool`.

The packet is scanned once with expat (fed in chunks: no tree, no text held); a leaf
element's text of ``min_run`` bytes or more (of the elements ``names``: for an edXML
packet :data:`PAYLOADS`, the attachments' base64), written without entity or character
references, becomes a *run*: its byte range in the spool. The skeleton is the packet's
own bytes with each run cut out and a marker in its place (32 hexadecimal digits with a
random prefix drawn per scan: valid base64, valid text, unguessable by a sender), so
parsing it gives the packet's tree with the markers as those texts, and every check made
on a tree (schema, layout, Ids, the signatures' references) runs on it unchanged. Where
the text itself counts, the run is read from the spool:

- a digest: the exclusive C14N of a part, cut at its markers, with each run's characters
  in canonical form in its place (:meth:`Skeleton.canonical_pieces`),
- the attachment's bytes: the run decoded from base64 in chunks (:meth:`Skeleton.text`),
- a packet written again (a hub's hop): the serialized skeleton, cut at its markers, with
  each run's bytes as they came (:meth:`Skeleton.raw_pieces`).

Only UTF-8 packets are scanned and cut (a run's bytes are then its characters); another
encoding (UTF-16 or -32, which every parser must read too) is its own skeleton, whole.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from docflow.envelope._xml import (
    _DOCTYPE,
    _DOCTYPE_HINT,
    _PROLOG_SCAN,
    DEFAULT_LIMITS,
    ParseLimits,
    _has_doctype,
)
from docflow.errors import OversizeError, UnsafeXmlError, XmlError
from docflow.spool import CHUNK, Spool

__all__ = ["MIN_RUN", "PAYLOADS", "Run", "Skeleton", "scan"]

#: texts this long and longer are left in the spool
MIN_RUN = 64 * 1024
#: the elements of an edXML packet whose texts are cut: the attachments' base64, which
#: the reader decodes from the spool (any other text is put back before reading)
PAYLOADS = frozenset({"ContentTransferEncoded"})
_MARKER = 32  # hex digits in a marker: a 24-digit prefix and an 8-digit index
_ENCODING = re.compile(rb"""\A(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class Run:
    """A leaf element's text left in the spool: bytes ``start`` to ``stop``."""

    start: int
    stop: int


@dataclass(frozen=True)
class Skeleton:
    """A scanned packet (see the module docstring)."""

    #: the packet's bytes with each run replaced by its marker
    xml: bytes
    #: each marker's run, in document order
    runs: Mapping[str, Run]
    #: the packet
    source: Spool
    #: what every marker of this scan begins with
    prefix: bytes

    def text(self, marker: str) -> Iterator[bytes]:
        """The characters of a run as a parser reads them (line ends normalised to
        ``\\n``), UTF-8, in chunks."""
        run = self.runs[marker]
        carry = b""
        for chunk in self.source.chunks(run.start, run.stop):
            chunk = carry + chunk
            carry = b""
            if chunk.endswith(b"\r"):  # its \n may begin the next chunk
                chunk, carry = chunk[:-1], b"\r"
            yield chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if carry:
            yield b"\n"

    def canonical_pieces(self, canonical: bytes) -> Iterator[bytes]:
        """``canonical`` (the C14N of an element of the skeleton) with each marker
        replaced by its run in canonical form (``>`` escaped; a run holds no ``&``, ``<``
        nor, once read, a carriage return)."""
        for piece, marker in self._cut(canonical):
            yield piece
            if marker is not None:
                for text in self.text(marker):
                    yield text.replace(b">", b"&gt;")

    def raw_pieces(self, serialized: bytes) -> Iterator[bytes]:
        """``serialized`` (the skeleton written again) with each marker replaced by its
        run's bytes as they came."""
        for piece, marker in self._cut(serialized):
            yield piece
            if marker is not None:
                run = self.runs[marker]
                yield from self.source.chunks(run.start, run.stop)

    def covers(self, element: Any) -> bool:
        """Whether canonical forms are to be cut at markers (any element: a run may be
        any leaf's text)."""
        return bool(self.runs)

    def pieces(self, canonical: bytes) -> Iterator[bytes]:
        """The splice protocol of the signing code: :meth:`canonical_pieces`."""
        return self.canonical_pieces(canonical)

    def _cut(self, data: bytes) -> Iterator[tuple[bytes, str | None]]:
        position = 0
        while True:
            found = data.find(self.prefix, position) if self.runs else -1
            marker = (data[found:found + _MARKER].decode("ascii", "replace")  # not a state
                      if found >= 0 else None)
            if marker is None or marker not in self.runs:
                if found >= 0:  # the prefix alone, not a marker of this scan: text
                    yield data[position:found + len(self.prefix)], None
                    position = found + len(self.prefix)
                    continue
                yield data[position:], None
                return
            yield data[position:found], marker
            position = found + _MARKER


def _utf8(head: bytes) -> bool:
    if head.startswith((b"\xfe\xff", b"\xff\xfe", b"\x4c\x6f\xa7\x94")) or \
            b"\x00" in head[:4]:
        return False  # UTF-16/32 (with or without a BOM) or EBCDIC: never NUL in UTF-8
    declared = _ENCODING.match(head)
    return declared is None or declared.group(1).lower().replace(b"_", b"-") in (
        b"utf-8", b"utf8")


class _Scanner:
    """expat's handlers: the byte ranges of the leaf texts worth leaving in the spool."""

    def __init__(self, min_run: int, names: frozenset[str] | None) -> None:
        self.min_run = min_run
        self.names = names
        self._name = ""
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = False
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.runs: list[Run] = []
        self._after_start = False
        self._text_from: int | None = None
        parser = self.parser
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        parser.CommentHandler = self._other
        parser.ProcessingInstructionHandler = self._other
        parser.StartCdataSectionHandler = self._other
        parser.EndCdataSectionHandler = self._other
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._doctype

    def _start(self, name: str, *_: object) -> None:
        self._after_start, self._text_from, self._name = True, None, name

    def _end(self, *_: object) -> None:
        start = self._text_from
        if start is not None and (self.names is None
                                  or self._name.rpartition(":")[2] in self.names):
            stop = self.parser.CurrentByteIndex
            if stop - start >= self.min_run:
                self.runs.append(Run(start, stop))
        self._after_start, self._text_from = False, None

    def _text(self, _: str) -> None:
        if self._after_start:
            self._after_start = False
            self._text_from = self.parser.CurrentByteIndex

    def _other(self, *_: object) -> None:
        self._after_start, self._text_from = False, None

    def _doctype(self, *_: object) -> None:
        raise UnsafeXmlError(_DOCTYPE, hint=_DOCTYPE_HINT)


def scan(spool: Spool, *, limits: ParseLimits = DEFAULT_LIMITS,
         min_run: int = MIN_RUN, names: frozenset[str] | None = None) -> Skeleton:
    """Scan a spooled packet into its :class:`Skeleton` (see the module docstring); only
    the texts of elements of these local ``names`` are cut when given (an edXML packet:
    :data:`PAYLOADS`, the attachments' base64), any leaf's otherwise:
    :class:`~docflow.errors.OversizeError` past ``limits.max_bytes``,
    :class:`~docflow.errors.UnsafeXmlError` for a DOCTYPE,
    :class:`~docflow.errors.XmlError` for what is not well-formed."""
    if len(spool) > limits.max_bytes:
        raise OversizeError(len(spool), limits.max_bytes)
    if not len(spool):
        raise XmlError("empty input", hint="send a complete edXML packet")
    head = spool.read(0, _PROLOG_SCAN)
    if _has_doctype(head):  # the parsers' own pre-filter: every encoding, any prolog
        raise UnsafeXmlError(_DOCTYPE, hint=_DOCTYPE_HINT)
    prefix = secrets.token_hex(_MARKER // 2 - 4).encode("ascii")
    if not _utf8(head):  # nothing is cut: the parser reads it whole (expat has no UTF-32)
        return Skeleton(bytes(spool), {}, spool, prefix)
    scanner = _Scanner(min_run, names)
    try:
        for chunk in spool.chunks():
            scanner.parser.Parse(chunk, False)
        scanner.parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise XmlError(f"the packet is not well-formed XML: {expat.ErrorString(exc.code)}",
                       line=exc.lineno, hint="send a complete, well-formed edXML packet"
                       ) from None
    pieces: list[bytes] = []
    kept: dict[str, Run] = {}
    position = 0
    for run in scanner.runs:
        if any(b"&" in chunk for chunk in spool.chunks(run.start, run.stop, size=CHUNK)):
            continue  # written with references: its bytes are not its characters
        marker = prefix + b"%08x" % len(kept)
        pieces.append(spool.read(position, run.start - position))
        pieces.append(marker)
        kept[marker.decode("ascii")] = run
        position = run.stop
    pieces.append(spool.read(position, len(spool) - position))
    return Skeleton(b"".join(pieces), kept, spool, prefix)
