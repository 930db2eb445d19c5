"""Build the stamp font docflow ships (docflow/pdf/fonts/DejaVuSans-vi.ttf): DejaVu Sans,
cut to the characters Vietnamese official text needs (Latin, Latin Extended Additional,
combining marks, punctuation, the đồng sign) and rescaled to 1000 units per em (pyHanko
writes glyph widths as if every font had 1000: DejaVu's 2048 came out letter-spaced).

Run once when the font changes: ``python tools/make_stamp_font.py /usr/share/fonts/
truetype/dejavu/DejaVuSans.ttf``. Needs fontTools (pyHanko's ``opentype`` extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem

RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x1E00, 0x1EFF), (0x2000, 0x206F),
          (0x20AB, 0x20AB), (0x2116, 0x2116)]
TARGET = Path(__file__).resolve().parents[1] / "docflow" / "pdf" / "fonts" / "DejaVuSans-vi.ttf"


def main(source: str) -> None:
    font = TTFont(source)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for low, high in RANGES for c in range(low, high + 1)])
    subsetter.subset(font)
    scale_upem(font, 1000)
    font.save(TARGET)
    print(f"{TARGET}: {TARGET.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
