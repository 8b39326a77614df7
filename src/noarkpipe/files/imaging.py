"""Image helpers shared by intake and conversion, so neither stage imports the other.

Two rules both stages must apply the same way:

- **Strict decoding.** Pillow's `LOAD_TRUNCATED_IMAGES` is one process-wide
  switch, and WeasyPrint (HTML e-mail) turns it on when imported so that a
  web page with a cut-off image still renders. A cut-off scan page or
  attachment must be refused, not silently filled with grey, so every
  decode of a received image goes through `load_strictly`.
- **Tiny images.** An image is tiny if both sides are at most 64 px or it
  has at most 10,000 px in all (100×100). A 1×1 tracking pixel, a 40×40 or
  88×31 logo, a 120×80 signature banner (9,600 px), a 600×2 rule are tiny;
  a 200×60 stamp or a cropped line of text (12,000 px and more) is not: it
  can hold words worth a page. Inline tiny images are part of the rendered
  letter, not documents of their own; conversion still makes a valid copy
  of a tiny image that arrives as a document.
"""

from __future__ import annotations

import threading

from PIL import Image, ImageFile

TINY_IMAGE_MAX_SIDE = 64
TINY_IMAGE_MAX_AREA = 10_000

_strict_lock = threading.Lock()


def is_tiny_image(width: int, height: int) -> bool:
    """True for a tracking pixel, a logo, a rule: both sides ≤ 64 px, or at most 10,000 px in all."""
    return (width <= TINY_IMAGE_MAX_SIDE and height <= TINY_IMAGE_MAX_SIDE) or width * height <= TINY_IMAGE_MAX_AREA


def load_strictly(image: Image.Image) -> None:
    """Decode the frame, failing on missing data whatever the process-wide setting says.

    The lock keeps two threads from restoring each other's value too early.
    """
    with _strict_lock:
        lenient = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            image.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = lenient
