"""The font of the stamps docflow draws: DejaVu Sans cut to Vietnamese and rescaled to
1000 units per em (``tools/make_stamp_font.py``: pyHanko writes glyph widths as if every
font had 1000, and the standard PDF fonts have no Vietnamese letters), loaded from the
package's bytes (pyHanko's own factory opens the file and never closes it)."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.writer import BasePdfFileWriter

__all__ = ["FONT_FILE", "stamp_font"]

FONT_FILE = "DejaVuSans-vi.ttf"


@functools.cache
def _font_bytes() -> bytes:
    return (resources.files("docflow.pdf") / "fonts" / FONT_FILE).read_bytes()


@dataclass(frozen=True)
class _PackagedFont(GlyphAccumulatorFactory):
    """pyHanko's glyph accumulator over the packaged font's bytes."""

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None
                           ) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        return GlyphAccumulator(writer=writer, font_handle=io.BytesIO(_font_bytes()),
                                font_size=self.font_size, ot_script_tag=self.ot_script_tag,
                                ot_language_tag=self.ot_language_tag,
                                writing_direction=self.writing_direction,
                                bcp47_lang_code=self.bcp47_lang_code,
                                obj_stream=obj_stream)


def stamp_font(size: int = 10) -> GlyphAccumulatorFactory:
    """The Vietnamese stamp font at ``size`` points."""
    return _PackagedFont(font_file=FONT_FILE, font_size=size)
