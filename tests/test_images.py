"""Images as archival copies: every format and variant the post room gets, converted for real.

Each sample is made by `imagefactory` with Pillow (pillow-heif for HEIC,
Pillow's openjpeg for JPEG 2000): Norwegian text typeset in DejaVu Sans on
a page, then saved as GIF, BMP, PNG, WebP, TIFF in its variants, HEIC,
JPEG 2000.
The real conversion runs on it (fido, img2pdf, OCRmyPDF with tesseract
'nor+eng', pikepdf), and the copy is checked with the project's own
verification, its page count against the frames, its text against what was
typeset, and its pixels (rendered by PDFium) where transparency was painted
on white. Damaged, oversized and over-long images must be refused with a
reason that names the file.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from PIL import Image, ImageFile
from pypdf import PdfReader

from helpers import imagefactory
from helpers.imagefactory import DPI, PAGE_WORDS, SIZE, TITLE, animated, page, save
from noarkpipe.convert import ConversionOptions, FormatId, archival_copy, plan, verify_pdfa
from noarkpipe.convert.images import (
    FLATTENED,
    TO_8_BIT,
    TO_RGB,
    embeds_as_is,
    frame_changes,
    is_tiny_image,
    layout_dpi,
    page_points,
)
from noarkpipe.convert.pdfa import Route
from noarkpipe.errors import InputFileError

PDFA_2B = "fmt/477"


def convert(source: Path, tmp_path: Path, **options):
    return archival_copy(source, scratch=tmp_path / "scratch", options=ConversionOptions(**options))


def text_of(path: Path) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(path).pages]


def assert_verified_pdfa(result, pages: int) -> None:
    """The copy is PDF/A-2b as fido sees it and passes the same checks as a scan's, run again here."""
    assert result.action == "converted" and result.output is not None
    assert result.to_format.puid == PDFA_2B and result.to_format.accepted
    assert result.verification.passed, result.verification.summary()
    outcomes = {check.id: check.outcome for check in result.verification.checks}
    assert outcomes["pdfa_rules"] == outcomes["page_count"] == outcomes["pdfa_identification"] == "passed"
    again = verify_pdfa(result.output, expected_pages=pages, profile="2b")
    assert again.passed, again.summary()
    assert len(PdfReader(result.output).pages) == pages


def white_at(pdf: Path, x: float, y: float) -> tuple[int, int, int]:
    """The colour PDFium renders at (x, y), as fractions of the first page's width and height."""
    rendered = pypdfium2.PdfDocument(pdf)[0].render(scale=1).to_pil().convert("RGB")
    return rendered.getpixel((int(x * rendered.width), int(y * rendered.height)))


# --- Decisions (pure) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "tiny"),
    [
        ((1, 1), True),  # tracking pixel
        ((40, 40), True),  # logo
        ((88, 31), True),
        ((120, 80), True),  # 9,600 px: a signature banner
        ((100, 100), True),
        ((600, 2), True),  # a rule
        ((64, 64), True),
        ((4000, 6), False),  # 24,000 px: placed like any page, A4 wide
        ((101, 100), False),
        ((200, 60), False),  # a stamp with words on it
        ((1654, 1240), False),
    ],
)
def test_tiny_images_have_a_documented_threshold(size, tiny):
    assert is_tiny_image(*size) is tiny


def test_what_a_frame_needs_before_it_is_a_page():
    assert frame_changes("RGBA", False) == (FLATTENED,)
    assert frame_changes("LA", False) == (FLATTENED,)
    assert frame_changes("P", True) == (FLATTENED,)  # a palette with a transparent colour
    assert frame_changes("CMYK", False) == (TO_RGB,)
    assert frame_changes("YCbCr", False) == (TO_RGB,)
    assert frame_changes("I;16", False) == (TO_8_BIT,)
    for plain in ("1", "L", "P", "RGB"):
        assert frame_changes(plain, False) == ()


def test_only_plain_jpeg_png_and_tiff_go_in_as_received():
    assert embeds_as_is("JPEG", "RGB", False, 8)
    assert embeds_as_is("TIFF", "1", False, 1)
    assert not embeds_as_is("JPEG", "CMYK", False, 8)
    assert not embeds_as_is("PNG", "RGB", False, 16)
    assert not embeds_as_is("PNG", "P", True, 8)
    assert not embeds_as_is("GIF", "P", False, 8)
    assert not embeds_as_is("WEBP", "RGB", False, 8)


def test_page_sizes():
    # A scan keeps its declared resolution; a photo without one becomes A4; a logo is screen-sized on a 1-inch page.
    assert layout_dpi((1654, 2339), (200.0, 200.0)) == 200
    assert layout_dpi((4032, 3024), (72.0, 72.0)) == pytest.approx(4032 / (297 / 25.4))
    assert layout_dpi((40, 40), (300.0, 300.0)) == 96
    assert page_points((40, 40), 96) == (72, 72, 30, 30)
    long_rule = page_points((20_000, 2), layout_dpi((20_000, 2), None))
    assert long_rule[0] == pytest.approx(297 / 25.4 * 72)


def fmt(puid: str | None, mime: str, accepted: bool = False) -> FormatId:
    return FormatId(puid=puid, name="format", mime=mime, accepted=accepted, basis="signature")


@pytest.mark.parametrize(
    "format_id",
    [
        fmt("fmt/3", "image/gif"),
        fmt("fmt/4", "image/gif"),
        fmt("fmt/116", "image/bmp"),
        fmt("fmt/567", "image/webp"),
        fmt("fmt/1101", "image/heif"),
        fmt(None, "image/heic"),
        fmt("x-fmt/392", "image/jp2", True),  # accepted as it is, yet converted like JPEG: OCR text
        fmt(None, "image/x-jp2-codestream"),
        fmt("fmt/11", "image/png", True),
    ],
)
def test_every_image_format_is_routed_to_pdfa(format_id):
    assert plan(format_id, email_body=False).route is Route.image


# --- Conversion of each format --------------------------------------------------------------------


SINGLE = {
    "gif": (lambda path: save(page(mode="P"), path, format="GIF"), {"fmt/3", "fmt/4"}, "GIF, 1 frame → 1 page"),
    "bmp": (lambda path: save(page(), path, format="BMP"), {"fmt/116"}, "BMP, 1 frame → 1 page"),
    "webp": (lambda path: save(page(), path, format="WEBP", quality=90), {"fmt/566"}, "WebP, 1 frame → 1 page"),
    "heic": (lambda path: save(page(), path, format="HEIF", quality=90), {"fmt/1101"}, "HEIF, 1 frame → 1 page"),
    "jp2": (lambda path: save(page(), path, format="JPEG2000"), {"x-fmt/392"}, "JPEG 2000, 1 frame → 1 page"),
    "tiff_lzw": (lambda path: save(page(), path, format="TIFF", compression="tiff_lzw"), {"fmt/353"},
                 "TIFF, 1 frame → 1 page, given to img2pdf as received"),
    "tiff_jpeg": (lambda path: save(page(), path, format="TIFF", compression="jpeg"), {"fmt/353"},
                  "TIFF, 1 frame → 1 page, given to img2pdf as received"),
    "tiff_g3": (lambda path: save(page(mode="1"), path, format="TIFF", compression="group3"), {"fmt/353"},
                "TIFF, 1 frame → 1 page, given to img2pdf as received"),
    "tiff_16bit": (imagefactory.sixteen_bit_tiff, {"fmt/353"},
                   "TIFF, 1 frame → 1 page, decoded and embedded losslessly, " + TO_8_BIT),
    "tiff_cmyk": (lambda path: save(page(mode="CMYK"), path, format="TIFF"), {"fmt/353"},
                  "TIFF, 1 frame → 1 page, decoded and embedded losslessly, " + TO_RGB),
    "tiff_alpha": (lambda path: save(page(mode="RGBA", background=(255, 255, 255, 0)), path, format="TIFF",
                                     compression="tiff_adobe_deflate"),
                   {"fmt/353"}, "TIFF, 1 frame → 1 page, decoded and embedded losslessly, " + FLATTENED),
}


@pytest.mark.parametrize("kind", list(SINGLE))
def test_each_image_format_becomes_a_verified_pdfa_with_its_text(tmp_path, kind):
    make, puids, description = SINGLE[kind]
    source = make(tmp_path / f"vedlegg.{kind.split('_')[0]}")
    result = convert(source, tmp_path)
    assert result.from_format.puid in puids
    assert_verified_pdfa(result, pages=1)
    assert result.tool == "img2pdf + OCRmyPDF"
    assert TITLE in text_of(result.output)[0]
    # The konvertering record says what was done.
    assert description in result.reason
    with pikepdf.open(result.output) as pdf:
        for image in pdf.pages[0].get_images().values():
            assert image.ColorSpace != "/DeviceCMYK" and "/SMask" not in image


@pytest.mark.parametrize("file_format", ["GIF", "WEBP", "PNG"])
def test_every_frame_of_an_animated_image_is_a_page(tmp_path, file_format):
    source = animated(tmp_path / f"animasjon.{file_format.lower()}", file_format,
                      **({"lossless": True} if file_format == "WEBP" else {}))
    result = convert(source, tmp_path)
    assert_verified_pdfa(result, pages=3)
    for words, text in zip(PAGE_WORDS, text_of(result.output), strict=True):
        assert words in text
    assert "3 frames → 3 pages" in result.reason


def test_a_multi_page_g4_tiff_keeps_its_pages_as_received(tmp_path):
    source = imagefactory.fax_tiff(tmp_path / "faks.tif", pages=2)
    result = convert(source, tmp_path)
    assert_verified_pdfa(result, pages=2)
    assert "TIFF, 2 frames → 2 pages, given to img2pdf as received" in result.reason
    with pikepdf.open(result.output) as pdf:
        [image] = pdf.pages[0].get_images().values()
        assert image.Filter == "/CCITTFaxDecode"  # the fax page's own bytes, not re-encoded
    assert [words in text for words, text in zip(PAGE_WORDS, text_of(result.output), strict=False)] == [True, True]


@pytest.mark.parametrize("palette", [False, True], ids=["alpha", "palette-transparency"])
def test_a_transparent_png_is_painted_on_white(tmp_path, palette):
    # Under the transparent pixels is black (alpha) or blue (palette): dropping the transparency
    # instead of painting on white would show that colour.
    if palette:
        source = imagefactory.palette_transparent_png(tmp_path / "logo.png")
    else:
        source = imagefactory.transparent_png(tmp_path / "skjermbilde.png")
    with Image.open(source) as written:
        assert written.mode == "P" and "transparency" in written.info if palette else written.mode == "RGBA"
    result = convert(source, tmp_path)
    assert_verified_pdfa(result, pages=1)
    assert FLATTENED in result.reason
    assert white_at(result.output, 0.02, 0.02) == (255, 255, 255)
    with pikepdf.open(result.output) as pdf:
        assert all("/SMask" not in image for image in pdf.pages[0].get_images().values())
    assert TITLE in text_of(result.output)[0]


def test_a_camera_mpo_is_its_first_frame(tmp_path):
    source = tmp_path / "foto.jpg"
    page().save(source, format="MPO", save_all=True, append_images=[page(PAGE_WORDS[0])], dpi=(DPI, DPI))
    with Image.open(source) as written:
        assert written.format == "MPO" and written.n_frames == 2
    result = convert(source, tmp_path)
    assert_verified_pdfa(result, pages=1)
    assert "2 frames → 1 page" in result.reason
    assert TITLE in text_of(result.output)[0]


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("sporing.gif", Image.new("P", (1, 1))),
        ("sporing.png", Image.new("RGBA", (1, 1), (0, 0, 0, 0))),
        ("logo.png", Image.new("RGB", (40, 40), (200, 30, 30))),
    ],
)
def test_tiny_images_still_get_a_valid_copy(tmp_path, name, image):
    source = tmp_path / name
    image.save(source)
    result = convert(source, tmp_path)
    assert_verified_pdfa(result, pages=1)
    media_box = PdfReader(result.output).pages[0].mediabox
    assert float(media_box.width) >= 72 and float(media_box.height) >= 72


# --- Refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["PNG", "JPEG", "GIF", "TIFF", "WEBP"])
def test_a_truncated_image_is_refused_with_a_reason_naming_it(tmp_path, monkeypatch, file_format):
    # As WeasyPrint leaves it once imported: Pillow told to fill cut-off images with grey.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    buffer = io.BytesIO()
    Image.effect_noise(SIZE, 60).convert("RGB" if file_format != "GIF" else "L").save(buffer, format=file_format)
    source = tmp_path / f"avbrutt.{file_format.lower()}"
    source.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputFileError) as refused:
        convert(source, tmp_path)
    assert "avbrutt" in str(refused.value) and "damaged or cut off" in str(refused.value)
    assert refused.value.hint
    assert list((tmp_path / "scratch").iterdir()) == []
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # left as the process had it


@pytest.mark.parametrize("side", [9_000, 30_000], ids=["over-our-limit", "over-pillows-limit"])
def test_an_image_bomb_is_refused_unread(tmp_path, side):
    # A PNG header claiming side x side pixels (81 or 900 million) around a few bytes of data.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    source = tmp_path / "bombe.png"
    source.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )
    with pytest.raises(InputFileError, match="bombe.png is too large"):
        convert(source, tmp_path)


def test_more_frames_than_pages_allowed_are_refused(tmp_path):
    source = animated(tmp_path / "lang.gif", "GIF")
    with pytest.raises(InputFileError, match="lang.gif has 3 frames, more than the 2 pages allowed"):
        convert(source, tmp_path, max_pages=2)
