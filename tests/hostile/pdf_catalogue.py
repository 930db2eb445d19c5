"""Hostile PDFs: each built from a validly signed one (or from nothing), each expected to
give the ``invalid`` verdict with a reason containing ``reason`` (never an exception,
bounded in time and memory). Shared by the verifier's tests, the receive path of every
transport and SECURITY.md."""

from __future__ import annotations

import functools
import io
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from docflow.pdf.samples import painted_over


@dataclass(frozen=True)
class PdfCase:
    name: str
    build: Callable[[bytes], bytes]
    #: a fragment of the verdict's reasons
    reason: str


def flip_signed_byte(data: bytes) -> bytes:
    """One byte of the page stream every signature covers, changed."""
    marker = data.index(b"/Body Do")
    return data[:marker] + b"/Bodz Do" + data[marker + len(b"/Body Do"):]


#: a later revision that paints over page 1 (a "shadow" change of content)
later_overlay = painted_over


def later_note(data: bytes) -> bytes:
    """A sticky note added after signing (a viewer's comment tool)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    note = writer.add_object(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
        generic.pdf_name("/Rect"): generic.ArrayObject(
            [generic.NumberObject(v) for v in (100, 100, 120, 120)]),
        generic.pdf_name("/Contents"): generic.TextStringObject("Đã xem")}))
    writer.mark_update(page_ref)
    page["/Annots"] = generic.ArrayObject([*page.get("/Annots", []), note])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def other_byte_range(data: bytes) -> bytes:
    """The last signature's /ByteRange edited to cover other bytes (same text length)."""
    ranges = list(re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data))
    found = ranges[-1]
    start, first, second, last = (int(v) for v in found.groups())
    shifted = f"{start} {first - 10} {second} {last}".encode()
    original = b" ".join(found.groups())
    if len(shifted) < len(original):
        shifted = shifted.ljust(len(original))
    return data[:found.start(1)] + shifted[:len(original)] + data[found.end(4):]


def nested_fields(data: bytes) -> bytes:
    """A later revision whose catalog's /AcroForm /Fields is an array nested 200,000
    deep (reading the signatures walks it)."""
    return _update(data, b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields "
                   + b"[" * 200_000 + b"]" * 200_000 + b" >> >>", new_root=True)


def inflate_bomb(data: bytes) -> bytes:
    """A later revision whose cross-reference stream (read on opening the file)
    inflates to 2 GiB of zeros."""
    bomb = _zeros_deflated(2048)
    prev = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    root = b" ".join(re.findall(rb"/Root\s+(\d+)\s+(\d+)\s+R", data)[-1])
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    offset = len(out)
    out += (b"9000 0 obj\n<< /Type /XRef /Size 9001 /W [1 4 2] /Index [9000 1] /Root "
            + root + b" R /Prev " + str(prev).encode() + b" /Filter /FlateDecode /Length "
            + str(len(bomb)).encode() + b" >>\nstream\n" + bomb + b"\nendstream\nendobj\n"
            + b"startxref\n" + str(offset).encode() + b"\n%%EOF\n")
    return bytes(out)


@functools.cache
def _zeros_deflated(mebibytes: int) -> bytes:
    """A zlib stream of ``mebibytes`` MiB of zeros (about 1 KiB per MiB), made in
    milliseconds: one raw deflate block of a MiB, ended by a full flush so it stands
    alone, repeated; then the final block and the Adler-32 of the whole."""
    chunk = b"\0" * (1 << 20)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(chunk) + raw.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(mebibytes):
        checksum = zlib.adler32(chunk, checksum)
    return (b"\x78\xda" + block * mebibytes + raw.flush()
            + checksum.to_bytes(4, "big"))


def _update(data: bytes, body: bytes, *, new_root: bool = False) -> bytes:
    """An incremental update appending object 9000 (the new catalog with ``new_root``)
    with a classic xref table."""
    prev = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    root = b" ".join(re.findall(rb"/Root\s+(\d+)\s+(\d+)\s+R", data)[-1])
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    offset = len(out)
    out += b"9000 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n9000 1\n" + f"{offset:010d} 00000 n \n".encode()
    out += (b"trailer\n<< /Size 9001 /Root " + (b"9000 0" if new_root else root) + b" R /Prev "
            + str(prev).encode() + b" >>\nstartxref\n" + str(xref).encode() + b"\n%%EOF\n")
    return bytes(out)


PDF_CASES = (
    PdfCase("not a PDF", lambda _: b"<html><body>quyet dinh</body></html>", "not a PDF"),
    PdfCase("empty", lambda _: b"", "not a PDF"),
    PdfCase("truncated", lambda data: data[: len(data) // 2], "cannot be read"),
    PdfCase("a byte changed in a signed range", flip_signed_byte, "integrity"),
    PdfCase("a later revision changes the page", later_overlay,
            "a later revision changed the document"),
    PdfCase("a note added after signing", later_note, "a later revision changed the document"),
    PdfCase("a signature over another byte range", other_byte_range, "integrity"),
    PdfCase("a field tree nested 200,000 deep", nested_fields, "cannot be read"),
    PdfCase("a cross-reference stream that inflates to 2 GiB", inflate_bomb, "cannot be read"),
)
