"""Paper sizes and page images: the sizes the scan intake and the image conversion judge pages by.

A scanned page and an image attachment become pages the same way, so both
stages use one resolution rule (`page_dpi`: believe a declared resolution
only if it gives a page between an envelope and A3, else assume A4) and one
limit on the pixels of a page, above which a file is refused unread as a
likely decompression bomb.
"""

from __future__ import annotations

MAX_PAGE_PIXELS = 72_000_000
"""A3 at 600 dpi fits; anything larger is refused as a likely decompression bomb, not decoded."""
A4_LONG_SIDE_INCHES = 297 / 25.4
PLAUSIBLE_LONG_SIDE_INCHES = (100 / 25.4, 450 / 25.4)
"""A declared resolution is believed only if it makes the page between an envelope and A3 in size."""


def page_dpi(size: tuple[int, int], declared: tuple[float, float] | None) -> float:
    """The resolution of a page image: as declared if that gives a paper-sized page, else assume A4.

    Scanners usually record it; phone pictures and some converters write 72
    or nothing, which would make a 200 dpi A4 page 82 cm tall.
    """
    long_side = max(size)
    if declared and declared[0] > 0 and abs(declared[0] - declared[1]) <= 1:
        inches = long_side / declared[0]
        if PLAUSIBLE_LONG_SIDE_INCHES[0] <= inches <= PLAUSIBLE_LONG_SIDE_INCHES[1]:
            return float(declared[0])
    return long_side / A4_LONG_SIDE_INCHES
