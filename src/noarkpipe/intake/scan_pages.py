"""What a page of a scan batch is: a letter page, blank paper, or a separator sheet; and where letters split.

Pure decisions over a page's ink, so they can be tested on numbers: a page
is measured once (`measure_ink`, on a 100 dpi copy in strips 2 mm high, the
margins cropped) and judged by `is_blank`; `split_letters` cuts the batch
into letters at blank and separator sheets (a run of them counting once),
and at a page that could not be read. The scan intake (`scan.py`) reads the
pages and asks these functions; the QR separator sheet itself is told apart
in `separator.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image

# Blank-page detection works on a 100 dpi copy of the page, in strips 2 mm high.
ANALYSIS_DPI = 100
STRIP_ROWS = 8
MARGIN_FRACTION = 0.04
"""Cropped on every side: scanner edges, punch holes and lid shadows live there, not content."""
INK_CONTRAST = 64
"""Grey levels below the paper that count as ink; faint bleed-through from the back stays above."""
MIN_PAPER_LEVEL = 128
"""A page whose typical grey is darker than this is a photo or a dark form, never blank paper."""
MAX_BLANK_COVERAGE = 0.01
"""Share of (column, strip) cells holding ink above which a page is not blank, whatever the shapes."""
MIN_TEXT_COLUMNS = 16
"""4 mm of inked columns in one cluster: a short word; scanner specks are a fraction of that."""
MIN_TEXT_RUNS = 3
"""Glyphs are separated by gaps, a speck or a ruled line is one run."""
MAX_TEXT_GAP = 12
"""Runs further apart than 3 mm belong to different clusters: words are closer, scattered specks are not."""


class PageKind(StrEnum):
    letter = "letter"
    blank = "blank"
    separator = "separator"
    unreadable = "unreadable"



@dataclass(frozen=True)
class PageInk:
    """Where a page holds ink, measured once and judged by `is_blank`."""

    paper_level: int
    """The median grey of the page (0 black, 255 white)."""
    rows: tuple[bytes, ...]
    """One entry per 2 mm horizontal strip: per column, non-zero where there is ink."""
    columns: tuple[bytes, ...]
    """The same for vertical strips, so that a page scanned sideways is judged the same way."""


def is_blank(ink: PageInk) -> bool:
    """True for a page with nothing on it but paper, specks and faint show-through.

    A page with even one short line of text is not blank: losing a page from
    the archive is far worse than a stray near-empty page in a letter.
    """
    if ink.paper_level < MIN_PAPER_LEVEL:
        return False
    cells = sum(len(strip) for strip in ink.rows) or 1
    inked = sum(len(strip) - strip.count(0) for strip in ink.rows)
    if inked / cells > MAX_BLANK_COVERAGE:
        return False
    return not (_has_text_line(ink.rows) or _has_text_line(ink.columns))


def _has_text_line(strips: Sequence[bytes]) -> bool:
    # Two adjacent 2 mm strips cover a line of text even when it straddles them.
    return any(_text_like([bool(a or b) for a, b in zip(upper, lower)]) for upper, lower in itertools.pairwise(strips))


def _text_like(columns: Sequence[bool]) -> bool:
    """True when inked columns form a cluster wide and broken enough to be a word or more."""
    inked = runs = gap = 0
    in_run = False
    for value in columns:
        if value:
            if not in_run:
                if gap > MAX_TEXT_GAP:
                    inked = runs = 0
                runs += 1
                in_run = True
            inked += 1
            gap = 0
        else:
            in_run = False
            gap += 1
        if inked >= MIN_TEXT_COLUMNS and runs >= MIN_TEXT_RUNS:
            return True
    return False


def split_letters(kinds: Sequence[PageKind]) -> list[list[int]]:
    """Page indices per letter: letter pages between separators, runs of separators counting once."""
    letters: list[list[int]] = []
    current: list[int] = []
    for index, kind in enumerate(kinds):
        if kind is PageKind.letter:
            current.append(index)
        elif current:
            letters.append(current)
            current = []
    if current:
        letters.append(current)
    return letters


def measure_ink(image: Image.Image, dpi: float) -> PageInk:
    """The ink on a page at `ANALYSIS_DPI`, margins cropped, for `is_blank` to judge."""
    scale = ANALYSIS_DPI / dpi
    small = image.convert("L").resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BOX
    )
    dx, dy = round(small.width * MARGIN_FRACTION), round(small.height * MARGIN_FRACTION)
    small = small.crop((dx, dy, small.width - dx, small.height - dy))
    paper = _median(small.histogram())
    threshold = paper - INK_CONTRAST
    mask = small.point(lambda value: 255 if value < threshold else 0)
    sideways = mask.transpose(Image.Transpose.ROTATE_90)
    return PageInk(paper_level=paper, rows=_strips(mask), columns=_strips(sideways))


def _strips(mask: Image.Image) -> tuple[bytes, ...]:
    reduced = mask.reduce((1, STRIP_ROWS))
    data = reduced.tobytes()
    width = reduced.width
    return tuple(data[row * width : (row + 1) * width] for row in range(reduced.height))


def _median(histogram: list[int]) -> int:
    half = sum(histogram) / 2
    running = 0
    for level, count in enumerate(histogram):
        running += count
        if running >= half:
            return level
    return 255
