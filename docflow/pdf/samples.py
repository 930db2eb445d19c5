"""A sample decision as a PDF, and sample pictures of a signature and a seal: what the
demo, the docstrings and the tests sign (made with pyHanko's writer and Pillow, with the
Vietnamese font docflow ships)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from docflow.pdf._font import stamp_font

__all__ = ["SAMPLE_LINES", "painted_over", "sample_pdf", "sample_seal_png",
           "sample_signature_png"]

#: the text of the sample decision's first page
SAMPLE_LINES = (
    "ỦY BAN NHÂN DÂN TỈNH QUẢNG NAM",
    "Số: 4512/QĐ-UBND",
    "",
    "QUYẾT ĐỊNH",
    "Về việc phê duyệt kế hoạch chuyển đổi số năm 2027",
    "",
    "CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH",
    "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ",
    "về công tác văn thư;",
    "",
    "QUYẾT ĐỊNH:",
    "Điều 1. Phê duyệt kế hoạch kèm theo Quyết định này.",
    "Điều 2. Quyết định có hiệu lực kể từ ngày ký.",
)
_A4 = (595, 842)


def sample_pdf(lines: Sequence[str] = SAMPLE_LINES, *, pages: int = 1,
               filler: int = 0) -> bytes:
    """An A4 PDF of ``pages`` pages, ``lines`` on each; ``filler`` bytes of an
    uncompressed comment stream make it as large as a test needs."""
    writer = PdfFileWriter()
    style = TextBoxStyle(font=stamp_font(11), font_size=11, leading=16)
    for number in range(1, pages + 1):
        box = TextBox(style, writer, box=BoxConstraints(width=480))
        box.content = "\n".join([*lines, "", f"Trang {number}/{pages}"])
        body = writer.add_object(box.as_form_xobject())
        height = 16 * (len(lines) + 2)
        stream = generic.StreamObject(
            stream_data=f"q 1 0 0 1 60 {_A4[1] - 60 - height} cm /Body Do Q".encode())
        writer.insert_page(PageObject(
            contents=writer.add_object(stream),
            media_box=generic.ArrayObject([generic.NumberObject(v)
                                           for v in (0, 0, *_A4)]),
            resources=generic.DictionaryObject({
                generic.pdf_name("/XObject"): generic.DictionaryObject({
                    generic.pdf_name("/Body"): body})})))
    if filler:
        writer.add_object(generic.StreamObject(stream_data=b"%" * filler))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def painted_over(pdf: bytes) -> bytes:
    """A later revision of ``pdf`` painting a white box over its first page: the
    "shadow" change a verifier must catch (the signatures still cover their revisions;
    the page shows other content)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    cover = writer.add_object(generic.StreamObject(
        stream_data=b"q 1 1 1 rg 50 600 400 200 re f Q"))
    contents = page["/Contents"]
    writer.mark_update(page_ref)
    page["/Contents"] = generic.ArrayObject([contents, cover])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sample_signature_png(size: tuple[int, int] = (300, 120)) -> bytes:
    """A blue handwritten-looking stroke on a transparent background."""
    width, height = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [(width * (0.08 + 0.84 * t / 60),
               height * (0.55 + 0.25 * math.sin(t / 4.5) * (1 - t / 90)))
              for t in range(61)]
    draw.line(points, fill=(20, 40, 160, 255), width=max(2, height // 30), joint="curve")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def sample_seal_png(size: int = 300) -> bytes:
    """A red round seal (two rings and a star) on a transparent background."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (200, 20, 30, 220)
    draw.ellipse((4, 4, size - 4, size - 4), outline=red, width=size // 30)
    draw.ellipse((size * 0.2, size * 0.2, size * 0.8, size * 0.8), outline=red,
                 width=size // 60)
    centre, radius = size / 2, size * 0.18
    star = [(centre + radius * (1 if k % 2 == 0 else 0.4) * math.sin(k * math.pi / 5),
             centre - radius * (1 if k % 2 == 0 else 0.4) * math.cos(k * math.pi / 5))
            for k in range(10)]
    draw.polygon(star, fill=red)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
