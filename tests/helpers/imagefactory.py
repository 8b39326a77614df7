"""Images of every kind an e-mail, an e-form or a zip delivery brings, made with Pillow for tests and benchmarks.

A page of Norwegian text typeset in DejaVu Sans (`page`) is saved as GIF,
BMP, PNG (with alpha, or a palette's transparent colour), WebP, TIFF in its
variants (LZW, JPEG-in-TIFF, CCITT G3 and G4, 16-bit grey, CMYK, alpha,
multi-page), HEIC (pillow-heif) and JPEG 2000 (Pillow's openjpeg), and as
animated GIF, WebP and PNG with one page of text per frame.
"""

from __future__ import annotations

from pathlib import Path

import pillow_heif
from PIL import Image, ImageDraw

from helpers import scanfactory

TITLE = "Søknad om byggetillatelse"
PAGE_WORDS = ("Første side", "Andre side", "Tredje side")
"""The text of each frame of an animated image, in order."""
DPI = 200
SIZE = (scanfactory.mm(148), scanfactory.mm(105))
"""A6 landscape at 200 dpi: large enough for OCR to read the title, small enough to convert in a second."""

pillow_heif.register_heif_opener()


def page(text: str = TITLE, mode: str = "RGB", background: tuple[int, int, int, int] | None = None) -> Image.Image:
    """`text` in DejaVu Sans, 20 pt, black on `background` (opaque white unless given), in Pillow `mode`."""
    image = Image.new("RGBA", SIZE, background if background is not None else (255, 255, 255, 255))
    ImageDraw.Draw(image).text(
        (scanfactory.mm(12), scanfactory.mm(40)), text, font=scanfactory.font(20), fill=(0, 0, 0, 255)
    )
    return image if mode == "RGBA" else image.convert(mode)


def save(image: Image.Image, path: Path, **params) -> Path:
    image.save(path, dpi=(DPI, DPI), **params)
    return path


def sixteen_bit_tiff(path: Path) -> Path:
    """The title page as 16-bit grey: Pillow's plain conversion to 8 bits would turn it all white."""
    grey = page(mode="L")
    wide = Image.new("I;16", grey.size)
    wide.putdata([value * 257 for value in grey.get_flattened_data()])
    return save(wide, path, format="TIFF")


def animated(path: Path, file_format: str, **params) -> Path:
    """One frame per entry of PAGE_WORDS, as an animated GIF, WebP or PNG."""
    frames = [page(words) for words in PAGE_WORDS]
    frames[0].save(path, format=file_format, save_all=True, append_images=frames[1:], duration=500, loop=0, **params)
    return path


def fax_tiff(path: Path, pages: int = 2) -> Path:
    """A multi-page bilevel TIFF in CCITT G4, as a fax server or a scan station writes it."""
    frames = [page(words, mode="1") for words in PAGE_WORDS[:pages]]
    frames[0].save(path, format="TIFF", compression="group4", save_all=True, append_images=frames[1:], dpi=(DPI, DPI))
    return path


def transparent_png(path: Path) -> Path:
    """Black text on a fully transparent background that is black underneath: a screenshot of a receipt."""
    return save(page(mode="RGBA", background=(0, 0, 0, 0)), path, format="PNG")


def palette_transparent_png(path: Path) -> Path:
    """A palette PNG whose blue background is its transparent colour (tRNS), as logos are often saved."""
    image = page(background=(0, 0, 255, 255)).quantize(colors=8)
    return save(image, path, format="PNG", transparency=image.getpixel((0, 0)))


BENCH_SAMPLES = {
    "GIF animated, 3 frames": lambda folder: animated(folder / "animasjon.gif", "GIF"),
    "BMP": lambda folder: save(page(), folder / "skann.bmp", format="BMP"),
    "PNG with alpha": lambda folder: transparent_png(folder / "kvittering.png"),
    "WebP": lambda folder: save(page(), folder / "bilde.webp", format="WEBP", quality=90),
    "G4 TIFF, 2 pages": lambda folder: fax_tiff(folder / "faks.tif"),
    "CMYK TIFF": lambda folder: save(page(mode="CMYK"), folder / "trykk.tif", format="TIFF"),
    "HEIC photo": lambda folder: save(page(), folder / "foto.heic", format="HEIF", quality=90),
    "JP2 (JPEG 2000)": lambda folder: save(page(), folder / "dokument.jp2", format="JPEG2000"),
}
"""One sample per kind of image the conversion benchmark times, by its row name: folder -> file."""
