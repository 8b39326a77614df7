"""Images as pages: what an image file holds, decoded safely and made into files img2pdf embeds.

The post room gets images of every kind: scans (JPEG, PNG, TIFF in all its
variants: multi-page, CCITT G3/G4 fax, LZW, JPEG-in-TIFF, 16-bit, CMYK,
with alpha), screenshots and logos in e-mail (PNG with transparency, GIF,
BMP, WebP), phone photos (HEIC/HEIF, JPEG with MPO previews) and JPEG 2000
from document systems. Each becomes pages of a PDF that `pdfa` then takes
the way it takes a scanned PDF (OCR text, PDF/A, verification).

Order of work (`page_images`), one frame at a time so that a long file is
never held in memory whole:

1. Open with Pillow (pillow-heif registered for HEIC/HEIF) and count the
   frames. Each frame is a page: a multi-page TIFF's pages, and an animated
   GIF's, WebP's or PNG's frames alike (an archivist looking at a copy of a
   three-frame GIF expects to see all three). An MPO (a camera JPEG) is the
   exception: its further frames are previews or the second eye of a stereo
   pair, not more of the document, so only the first is a page. More frames
   than `max_pages` are refused, as a PDF with more pages is.
2. Before a frame is decoded, its size is checked against the largest
   scanned page (`MAX_PAGE_PIXELS`), so a decompression bomb is refused
   unread; Pillow's own bomb limit stays in force as a second net.
3. Every frame is decoded in full, also when the file will be embedded as it
   is: img2pdf copies a JPEG's bytes without decoding them, so a truncated
   photo would otherwise become a half-grey page no check would notice.
   A damaged or cut-off image is refused with what Pillow found.
4. What img2pdf takes as it is (`embeds_as_is`): a JPEG, a PNG or a TIFF
   whose every frame is bilevel, grey, RGB or palette at 8 bits or fewer,
   without transparency. img2pdf copies a JPEG's and a G4 page's bytes
   into the PDF and recompresses other TIFF pages losslessly. Anything else is decoded and written as a
   lossless PNG per page, after the changes `frame_changes` names:
   transparency (alpha or a palette's transparent colour) painted on white,
   for every PDF/A profile, since the page must look the same in each and
   PDF/A-1 forbids soft masks; CMYK and other colour models to RGB (a
   DeviceCMYK image does not match the sRGB output intent PDF/A requires);
   16- or 32-bit grey scaled to 8 bits. The received file stays the
   Produksjonsformat, so nothing of the original is lost.

Page size: a frame's declared resolution if it makes a paper-sized page,
else A4 (`core.paper.page_dpi`, as for scans). A tiny image
(`is_tiny_image`: a tracking pixel, a signature logo, a rule) is placed at
96 dpi, the size a mail program shows it at (a long thin rule no longer
than A4), on a page no smaller than `MIN_PAGE_POINTS`, so that OCR and
viewers get a page they can work with; OCR finds nothing on it, and the
copy is verified like any other. Whether a tiny image attached to an
e-mail is a document of its own is the e-mail intake's decision (it may
use `is_tiny_image`); conversion only has to make a valid copy when asked.

What was done is said in one line (`PageImages.description`, e.g. "GIF,
3 frames → 3 pages, decoded and embedded losslessly, transparency painted
on white"), which the konvertering record carries in its comment.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from noarkpipe.core.paper import A4_LONG_SIDE_INCHES, MAX_PAGE_PIXELS, page_dpi
from noarkpipe.errors import InputFileError
from noarkpipe.files.imaging import is_tiny_image, load_strictly

pillow_heif.register_heif_opener()

IMAGE_MIMES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/apng",
        "image/vnd.mozilla.apng",
        "image/tiff",
        "image/gif",
        "image/bmp",
        "image/x-bmp",
        "image/x-ms-bmp",
        "image/webp",
        "image/heic",
        "image/heif",
        "image/heic-sequence",
        "image/heif-sequence",
        "image/jp2",
        "image/jpx",
        "image/x-jp2-codestream",
    }
)
"""MIME types (as fido or libmagic name them) whose files become PDF/A pages through this module."""

SCREEN_DPI = 96.0
"""How a mail program sizes an image without a resolution: one CSS pixel is 1/96 inch."""
MIN_PAGE_POINTS = 72.0
"""A page is at least one inch on each side; a tiny image is centred on it."""

_AS_IS_MODES = {"JPEG": frozenset({"L", "RGB"}), "PNG": frozenset({"1", "L", "P", "RGB"}),
                "TIFF": frozenset({"1", "L", "P", "RGB"})}
_KEPT_MODES = frozenset({"1", "L", "P", "RGB"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_DEEP_GREY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_FORMAT_NAMES = {"JPEG2000": "JPEG 2000", "WEBP": "WebP", "MPO": "JPEG (MPO)", "DIB": "BMP"}

FLATTENED = "transparency painted on white"
TO_RGB = "colours converted to RGB"
TO_8_BIT = "16- or 32-bit grey scaled to 8 bits"


@dataclass(frozen=True)
class PageImages:
    """The files img2pdf embeds, in page order, and what was done to get them."""

    files: tuple[Path, ...]
    pages: int
    dpi: float | None
    """One resolution for every page when the original is embedded as it is; None when each file declares its own."""
    description: str

    def layout(self, width: int, height: int, declared: tuple[float, float]) -> tuple[float, float, float, float]:
        """img2pdf's layout function: page and image size in points for one page."""
        return page_points((width, height), self.dpi or declared[0])


def frame_changes(mode: str, has_transparency_key: bool) -> tuple[str, ...]:
    """What a frame in Pillow `mode` needs before it can be a PDF/A page; () if nothing."""
    if mode in _ALPHA_MODES or has_transparency_key:
        return (FLATTENED,)
    if mode in _DEEP_GREY_MODES:
        return (TO_8_BIT,)
    if mode not in _KEPT_MODES:
        return (TO_RGB,)
    return ()


def could_embed_as_is(image_format: str, pages: int) -> bool:
    """True for a JPEG, PNG or TIFF img2pdf might take unchanged; of several frames it reads all only from a TIFF."""
    return image_format in _AS_IS_MODES and (pages == 1 or image_format == "TIFF")


def embeds_as_is(image_format: str, mode: str, has_transparency_key: bool, bits: int) -> bool:
    """True if img2pdf can embed a frame of this format unchanged: a plain mode, ≤ 8 bits, nothing to change."""
    allowed = _AS_IS_MODES.get(image_format, frozenset())
    return mode in allowed and bits <= 8 and not frame_changes(mode, has_transparency_key)


def layout_dpi(size: tuple[int, int], declared: tuple[float, float] | None) -> float:
    """The resolution a frame is placed at: a scan's (`page_dpi`); for a tiny image screen size, at most A4 long."""
    if is_tiny_image(*size):
        return max(SCREEN_DPI, max(size) / A4_LONG_SIDE_INCHES)
    return page_dpi(size, declared)


def page_points(size: tuple[int, int], dpi: float) -> tuple[float, float, float, float]:
    """Page width and height, image width and height in points: the image at `dpi`, the page at least an inch."""
    width, height = size[0] * 72 / dpi, size[1] * 72 / dpi
    return max(width, MIN_PAGE_POINTS), max(height, MIN_PAGE_POINTS), width, height


def describe(image_format: str, frames: int, pages: int, *, as_is: bool, changes: set[str]) -> str:
    """One line for the konvertering record, e.g. 'GIF, 3 frames → 3 pages, decoded and embedded losslessly'."""
    name = _FORMAT_NAMES.get(image_format, image_format)
    counted = f"{frames} frame{'s' if frames != 1 else ''} → {pages} page{'s' if pages != 1 else ''}"
    if image_format == "MPO" and frames > pages:
        counted += " (the main picture; the others are previews)"
    how = "given to img2pdf as received" if as_is else "decoded and embedded losslessly"
    done = ", ".join(change for change in (FLATTENED, TO_RGB, TO_8_BIT) if change in changes)
    return ", ".join(part for part in (name, counted, how, done) if part)


def page_images(
    source: Path, work: Path, *, name: str | None = None, max_pages: int, before_frame: Callable[[], object] = int
) -> PageImages:
    """The pages of the image file `source` (received as `name`), ready for img2pdf; decoded files go under `work`.

    `before_frame` is called before each frame is decoded: the caller's
    deadline, which raises when the time is up.
    """
    name = name or source.name
    try:
        with warnings.catch_warnings():
            # Pillow warns before its bomb limit; the frame size check below refuses earlier and says why.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _page_images(source, name, work, max_pages, before_frame)
    except Image.DecompressionBombError as exc:
        raise _too_large(name, str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow's decoders report damage as OSError ('image file is truncated'), SyntaxError
        # (a bad header), EOFError or ValueError, depending on the format.
        raise InputFileError(
            f"the image {name} cannot be read, it is damaged or cut off: {exc}",
            hint="open it in an image viewer; the sender may need to send it again",
        ) from exc


def _page_images(
    source: Path, name: str, work: Path, max_pages: int, before_frame: Callable[[], object]
) -> PageImages:
    with Image.open(source) as image:
        image_format = image.format or "unknown"
        frames = getattr(image, "n_frames", 1)
        pages = 1 if image_format == "MPO" else frames
        if pages > max_pages:
            raise InputFileError(
                f"the image {name} has {pages} frames, more than the {max_pages} pages allowed",
                hint="raise [convert] max_pages if such documents are expected",
            )
        first_dpi = layout_dpi(image.size, _declared_dpi(image))
        if could_embed_as_is(image_format, pages):
            bits = _png_bits(source) if image_format == "PNG" else 8
            # Every frame is decoded even when the file goes in as it is (see the module docstring).
            if all(
                embeds_as_is(image_format, frame.mode, "transparency" in frame.info, _tiff_bits(frame) or bits)
                for frame in _frames(image, name, pages, before_frame)
            ):
                return PageImages(
                    files=(source,), pages=pages, dpi=first_dpi,
                    description=describe(image_format, frames, pages, as_is=True, changes=set()),
                )
        files = []
        changes: set[str] = set()
        for index, frame in enumerate(_frames(image, name, pages, before_frame)):
            changes.update(frame_changes(frame.mode, "transparency" in frame.info))
            upright = _normalised(frame)
            dpi = layout_dpi(upright.size, _declared_dpi(frame))
            files.append(work / f"page-{index + 1:05d}.png")
            upright.save(files[-1], format="PNG", dpi=(dpi, dpi), compress_level=6)
        return PageImages(
            files=tuple(files), pages=pages, dpi=None,
            description=describe(image_format, frames, pages, as_is=False, changes=changes),
        )


def _frames(image: Image.Image, name: str, pages: int, before_frame: Callable[[], object]) -> Iterator[Image.Image]:
    """Each frame decoded in full, its size checked first: Pillow decodes on `load`, not on `seek`."""
    for index in range(pages):
        before_frame()
        image.seek(index)
        if image.width * image.height > MAX_PAGE_PIXELS:
            raise _too_large(name, f"frame {index + 1} is {image.width}x{image.height} pixels")
        if image.width == 0 or image.height == 0:
            raise InputFileError(
                f"frame {index + 1} of the image {name} has no pixels", hint="open it in an image viewer"
            )
        load_strictly(image)
        yield image


def _normalised(frame: Image.Image) -> Image.Image:
    """The frame upright, in a mode PDF/A takes; img2pdf honours the EXIF orientation of what it embeds as is."""
    changes = frame_changes(frame.mode, "transparency" in frame.info)
    upright = ImageOps.exif_transpose(frame)
    if FLATTENED in changes:
        return on_white(upright)
    if TO_8_BIT in changes:
        return _eight_bit_grey(upright)
    if TO_RGB in changes:
        return upright.convert("RGB")
    return upright


def on_white(image: Image.Image) -> Image.Image:
    """The image painted on white: what a transparent pixel shows on paper."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _eight_bit_grey(frame: Image.Image) -> Image.Image:
    # Pillow's own conversion clips at 255, which turns nearly all of a 16-bit page white.
    wide = frame.convert("I") if frame.mode != "F" else frame
    highest = wide.getextrema()[1] or 1
    scale = 255 / highest if highest > 255 else 1
    return wide.point(lambda value: value * scale).convert("L")


def _png_bits(source: Path) -> int:
    """Bits per sample from the PNG header: Pillow opens 16-bit RGB as 8-bit RGB, img2pdf would embed 16."""
    with open(source, "rb") as handle:
        header = handle.read(25)
    return header[24] if len(header) == 25 else 8


def _tiff_bits(frame: Image.Image) -> int:
    """Bits per sample of a TIFF page; 0 for other formats."""
    if frame.format != "TIFF":
        return 0
    bits = frame.tag_v2.get(258, (8,))
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _declared_dpi(image: Image.Image) -> tuple[float, float] | None:
    declared = image.info.get("dpi")
    try:
        return (float(declared[0]), float(declared[1])) if declared else None
    except (TypeError, ValueError, IndexError):
        return None


def _too_large(name: str, detail: str) -> InputFileError:
    return InputFileError(
        f"the image {name} is too large to be a page ({detail}); "
        f"images over {MAX_PAGE_PIXELS // 1_000_000} million pixels are refused unread as likely decompression bombs",
        hint="ask the sender for a smaller image, or a PDF of it",
    )
