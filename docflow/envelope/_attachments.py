"""Attachments as senders really write them: base64 (with or without MIME line breaks),
zipped by the official edXML library, and named or typed in ways the bytes contradict.

The official library zips a file before base64 (ContentType ``application/zip``, or the
file's own type, a name that is not ``.zip``) into an archive of one member named
``<uuid>.<ext>``; some senders zip a file into a member named like the attachment. In
both cases the attachment is the member. Anything else that is a zip (a ``.zip``, a
``.docx``, which is a zip of many parts) is kept as it came. Content types are sniffed
from the bytes and a finding is recorded where the name or the declared type lies.
Decompression is bounded by :class:`~docflow.envelope.ParseLimits`. Pure functions.
"""

from __future__ import annotations

import binascii
import io
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import pybase64

from docflow.errors import OversizeError
from docflow.spool import base64_decoded

__all__ = ["Decoded", "decode_base64", "decode_base64_chunks", "sniff", "unwrap"]

_ZIP_MAGIC = b"PK\x03\x04"
_UUID_MEMBER = re.compile(
    r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"(\.[A-Za-z0-9]{1,10})?\Z")


def decode_base64(text: str | bytes) -> bytes:
    """Strict base64, or MIME-style base64 with white space (also strictly); raises
    ``ValueError`` for anything else."""
    # pybase64 (SIMD) decodes ~25x faster than binascii; validate=True refuses anything
    # outside the base64 alphabet instead of skipping it.
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        raw = text.encode("ascii") if isinstance(text, str) else text
        return pybase64.b64decode(raw.translate(None, b" \t\r\n"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError(str(exc)) from exc


def decode_base64_chunks(chunks: Iterable[bytes], limit: int) -> bytes:
    """:func:`decode_base64` of a text that comes in chunks (a run of a spooled packet),
    decoded as it comes: only the output is ever whole. Stops once the output passes
    ``limit`` bytes (the caller refuses it: its length says so)."""
    out = io.BytesIO()
    for piece in base64_decoded(chunks):
        out.write(piece)
        if out.tell() > limit:
            break
    return out.getvalue()


@dataclass(frozen=True)
class Decoded:
    """An attachment's bytes after unwrapping, and how they were wrapped (the member's
    name when a zip of one file was opened, else None)."""

    data: bytes
    member: str | None = None


def unwrap(data: bytes, name: str, max_bytes: int, *, max_ratio: int = 200,
           what: str = "the attachment", where: str | None = None) -> Decoded:
    """The attachment inside ``data`` when a sender zipped it (see the module docstring);
    ``data`` itself otherwise. The member is inflated in chunks and refused
    (:class:`~docflow.errors.OversizeError`) as soon as it passes ``max_bytes`` (the
    caller's budget: one attachment's limit, or what is left of the packet's) or
    ``max_ratio`` times its compressed size: never held whole before the check, whatever
    the archive's header claims."""
    if not data.startswith(_ZIP_MAGIC) or name.lower().endswith(".zip"):
        return Decoded(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                return Decoded(data)
            member = members[0]
            base = member.filename.rsplit("/", 1)[-1]
            if base != name and not _UUID_MEMBER.match(base):
                return Decoded(data)
            limit = min(max_bytes, max(member.compress_size, 1) * max_ratio)
            if member.file_size > limit:
                raise _too_big(member.file_size, max_bytes, limit, what, where)
            # Into one growing buffer (its getvalue() hands the buffer over: a list of
            # chunks joined at the end would hold the member twice).
            content = io.BytesIO()
            with archive.open(member) as handle:
                while chunk := handle.read(_CHUNK):
                    if content.tell() + len(chunk) > limit:  # the archive lied
                        raise _too_big(content.tell() + len(chunk), max_bytes, limit, what,
                                       where)
                    content.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
            ValueError, OSError, zlib.error):
        # Binary content that merely starts like a zip (or a damaged zip): keep the bytes
        # exactly as the sender encoded them.
        return Decoded(data)
    return Decoded(content.getvalue(), base)


_CHUNK = 1024 * 1024


def _too_big(size: int, max_bytes: int, limit: int, what: str,
             where: str | None) -> OversizeError:
    if limit < max_bytes:
        return OversizeError(size, limit, what=f"{what}, unzipped,", where=where, hint=(
            "it inflates more than ParseLimits.max_zip_ratio times its compressed size: "
            "a zip bomb, or raise the ratio"))
    return OversizeError(size, limit, what=f"{what}, unzipped,", where=where, hint=(
        "the packet's attachments together may decode to ParseLimits.max_decoded_bytes "
        "(one to max_attachment_bytes): send fewer or smaller files, or raise the limits"))


_OOXML = (("word/", "docx", "application/vnd.openxmlformats-officedocument."
           "wordprocessingml.document"),
          ("xl/", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
          ("ppt/", "pptx", "application/vnd.openxmlformats-officedocument."
           "presentationml.presentation"))


def sniff(data: bytes) -> tuple[str, str] | None:
    """What the bytes are, as (extension, content type), for the kinds that circulate:
    PDF, zip, the OOXML formats, an edXML packet (alone or the one member of a zip), the
    older Office formats; None when the bytes say nothing docflow knows."""
    if data.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "doc", "application/msword"  # OLE2: .doc, .xls, .ppt
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") and b"QCVN_102_2016" in data[:4096]:
        return "edxml", "application/xml"
    if not data.startswith(_ZIP_MAGIC):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
            ValueError, OSError, zlib.error):
        return None
    if "[Content_Types].xml" in names:
        for folder, extension, content_type in _OOXML:
            if any(item.startswith(folder) for item in names):
                return extension, content_type
    if len(names) == 1 and names[0].lower().endswith(".edxml"):
        return "edxml-zip", "application/zip"
    return "zip", "application/zip"
