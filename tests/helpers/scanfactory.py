"""Realistic scanned post for tests, generated rather than stored.

Norwegian letters are typeset with Pillow in a TrueType font (the letters
need æøå, which Pillow's built-in bitmap font lacks), then made to look
like they went through a post-room scanner: grey paper, sensor noise, a
slight skew, dust specks. Blank backs get faint bleed-through from the
other side. Separator sheets are the real `separator_sheet_pdf()`, printed
(rendered) and scanned back the same way.

Everything is seeded, so a failing OCR assertion fails the same way twice.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import img2pdf
import pypdfium2
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from noarkpipe.intake.separator import separator_sheet_pdf

DPI = 200
SAMPLE_BATCH = Path(__file__).resolve().parents[2] / "fixtures" / "sample-scans" / "skanning-2026-11-20.pdf"
A4_MM = (210, 297)
PAPER = 246
FONT_PACKAGE = "fonts-dejavu-core"
_FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}
_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"), Path("/usr/local/share/fonts"))


@dataclass(frozen=True)
class Letter:
    """What a letter says, laid out the way Norwegian business letters usually are."""

    letterhead: tuple[str, ...]
    """Sender name first, then address lines."""
    recipient: tuple[str, ...]
    reference_line: str
    date_line: str
    subject_line: str
    pages: tuple[tuple[str, ...], ...]
    """Body paragraphs per page; the closing goes after the last page's paragraphs."""
    closing: tuple[str, ...] = ("Med vennlig hilsen", "", "Kari Hansen", "daglig leder")
    seed: int = 1

    @property
    def page_count(self) -> int:
        return len(self.pages)


@dataclass
class Batch:
    """A scan batch as page images plus what a correct split must find."""

    pages: list[Image.Image] = field(default_factory=list)
    letter_page_counts: list[int] = field(default_factory=list)


def font_path(bold: bool = False) -> Path:
    """A DejaVu font file; tests need it and say which package provides it."""
    name = _FONT_FILES[bold]
    for folder in _FONT_DIRS:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "--format=%{file}", f"DejaVu Sans:{'bold' if bold else 'regular'}"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()
        if found.endswith(name) and Path(found).is_file():
            return Path(found)
    raise RuntimeError(f"the test font {name} is not installed: apt-get install {FONT_PACKAGE}")


@cache
def font(points: float, bold: bool = False, dpi: int = DPI) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(bold)), size=round(points * dpi / 72))


def mm(value: float, dpi: int = DPI) -> int:
    return round(value * dpi / 25.4)


def blank_sheet(dpi: int = DPI, size_mm: tuple[int, int] = A4_MM) -> Image.Image:
    return Image.new("L", (mm(size_mm[0], dpi), mm(size_mm[1], dpi)), PAPER)


def render_letter(letter: Letter, dpi: int = DPI) -> list[Image.Image]:
    """The letter's pages as clean grey images, before scanning effects."""
    pages = []
    for number, paragraphs in enumerate(letter.pages, start=1):
        page = blank_sheet(dpi)
        draw = ImageDraw.Draw(page)
        left, right = mm(25, dpi), page.width - mm(20, dpi)
        y = mm(18, dpi)
        if number == 1:
            draw.text((left, y), letter.letterhead[0], font=font(15, bold=True, dpi=dpi), fill=20)
            y += mm(8, dpi)
            for line in letter.letterhead[1:]:
                draw.text((left, y), line, font=font(9, dpi=dpi), fill=40)
                y += mm(4.5, dpi)
            y = mm(50, dpi)
            for line in letter.recipient:
                draw.text((left, y), line, font=font(11, dpi=dpi), fill=15)
                y += mm(5.5, dpi)
            y = mm(85, dpi)
            draw.text((left, y), letter.reference_line, font=font(9, dpi=dpi), fill=30)
            y += mm(6, dpi)
            date_font = font(11, dpi=dpi)
            draw.text((right - date_font.getlength(letter.date_line), y), letter.date_line, font=date_font, fill=15)
            y += mm(14, dpi)
            draw.text((left, y), letter.subject_line, font=font(12, bold=True, dpi=dpi), fill=10)
            y += mm(12, dpi)
        else:
            draw.text((left, y), f"Side {number} av {letter.page_count}", font=font(9, dpi=dpi), fill=40)
            y += mm(14, dpi)
        body = font(11, dpi=dpi)
        for paragraph in paragraphs:
            for line in _wrap(paragraph, body, right - left):
                draw.text((left, y), line, font=body, fill=15)
                y += mm(5.5, dpi)
            y += mm(4, dpi)
        if number == letter.page_count:
            y += mm(4, dpi)
            for line in letter.closing:
                draw.text((left, y), line, font=body, fill=15)
                y += mm(5.5, dpi)
        pages.append(page)
    return pages


def text_page(lines: list[str], dpi: int = DPI, points: float = 11) -> Image.Image:
    """A page with only a few lines of text near the top, like a short note or a cover."""
    page = blank_sheet(dpi)
    draw = ImageDraw.Draw(page)
    y = mm(30, dpi)
    for line in lines:
        draw.text((mm(25, dpi), y), line, font=font(points, dpi=dpi), fill=15)
        y += mm(6, dpi)
    return page


def blank_back(seed: int, dpi: int = DPI) -> Image.Image:
    """The empty back of a printed sheet: faint mirrored text showing through, nothing else."""
    rng = random.Random(seed)
    ghost = blank_sheet(dpi)
    draw = ImageDraw.Draw(ghost)
    filler = "Vi viser til tidligere korrespondanse og ber om en snarlig tilbakemelding på saken."
    y = mm(60, dpi)
    for _ in range(18):
        draw.text((mm(25, dpi), y), filler[: rng.randint(40, len(filler))], font=font(11, dpi=dpi), fill=PAPER - 22)
        y += mm(5.5, dpi)
    return ghost.transpose(Image.Transpose.FLIP_LEFT_RIGHT).filter(ImageFilter.GaussianBlur(2.5))


def separator_sheet(dpi: int = DPI) -> Image.Image:
    """The real separator sheet as it looks on paper: rendered, then toned to paper grey."""
    page = pypdfium2.PdfDocument(separator_sheet_pdf())[0]
    image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    return image.point(lambda v: round(12 + v * (PAPER - 12) / 255))


def covered_separator_sheet(dpi: int = DPI) -> Image.Image:
    """A separator sheet with a sticky note over the upper half of its QR code, which no longer decodes."""
    sheet = separator_sheet(dpi)
    ImageDraw.Draw(sheet).rectangle((mm(40, dpi), mm(70, dpi), mm(175, dpi), mm(132, dpi)), fill=232)
    return sheet


def scanned(image: Image.Image, seed: int, specks: int = 25) -> Image.Image:
    """Sensor noise, dust and a crooked feed, as a post-room scanner adds them."""
    rng = random.Random(seed)
    out = image.rotate(rng.uniform(-0.8, 0.8), resample=Image.Resampling.BICUBIC, fillcolor=PAPER)
    out = out.filter(ImageFilter.GaussianBlur(0.6))
    draw = ImageDraw.Draw(out)
    for _ in range(specks):
        x, y = rng.randrange(out.width), rng.randrange(out.height)
        r = rng.uniform(0.6, 2.2)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(40, 140))
    # Pillow's effect_noise draws from C's rand(), which the seed does not reach.
    grain = Image.frombytes("L", out.size, rng.randbytes(out.width * out.height)).point(lambda v: 118 + v * 20 // 255)
    return ImageChops.add(out, grain, scale=1.0, offset=-128)


def batch(*parts: list[Image.Image] | Image.Image) -> Batch:
    """Pages in order; each list is one letter, each single image a separator or blank sheet."""
    result = Batch()
    for part in parts:
        if isinstance(part, list):
            result.pages.extend(part)
            result.letter_page_counts.append(len(part))
        else:
            result.pages.append(part)
    return result


def write_pdf(pages: list[Image.Image], path: Path, dpi: int = DPI) -> Path:
    """A multi-page PDF of grey JPEG pages, as scan stations usually deliver."""
    encoded = []
    for page in pages:
        buffer = io.BytesIO()
        page.save(buffer, format="JPEG", quality=70, dpi=(dpi, dpi))
        encoded.append(buffer.getvalue())
    path.write_bytes(img2pdf.convert(encoded, layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))))
    return path


def write_bilevel_pdf(pages: list[Image.Image], path: Path, dpi: int = DPI) -> Path:
    """A multi-page PDF of black-and-white CCITT G4 pages: small, and what many scan stations make."""
    encoded = []
    for page in pages:
        buffer = io.BytesIO()
        _bilevel(page).save(buffer, format="TIFF", compression="group4", dpi=(dpi, dpi))
        encoded.append(buffer.getvalue())
    path.write_bytes(img2pdf.convert(encoded, layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))))
    return path


def write_tiff(pages: list[Image.Image], path: Path, dpi: int = DPI) -> Path:
    """A multi-page black-and-white TIFF with CCITT G4 compression, the other usual delivery."""
    bilevel = [_bilevel(page) for page in pages]
    bilevel[0].save(path, format="TIFF", save_all=True, append_images=bilevel[1:], compression="group4", dpi=(dpi, dpi))
    return path


def write_image(page: Image.Image, path: Path, dpi: int = DPI) -> Path:
    """One page as JPEG or PNG, chosen by the suffix."""
    if path.suffix.lower() in {".jpg", ".jpeg"}:
        page.convert("RGB").save(path, format="JPEG", quality=80, dpi=(dpi, dpi))
    else:
        page.save(path, format="PNG", dpi=(dpi, dpi))
    return path


def _bilevel(page: Image.Image) -> Image.Image:
    return page.point(lambda v: 255 if v > 150 else 0).convert("1", dither=Image.Dither.NONE)


def _wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and face.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


RORLEGGER = Letter(
    letterhead=("Vestland Rørleggerservice AS", "Strandgaten 14", "5013 Bergen", "Org.nr. 914 778 271"),
    recipient=("Fjellvik kommune", "Postmottak", "Postboks 100", "5900 Fjellvik"),
    reference_line="Deres ref: 2026/14-2        Vår ref: 26/884 KHA",
    date_line="Bergen, 12. november 2026",
    subject_line="Vedr.: Ferdigattest for rørarbeid i Bjørkeveien 7",
    pages=((
        "Vi viser til Deres brev av 3. november og oversender dokumentasjon for utført rørarbeid "
        "i boligen. Arbeidet er kontrollert og godkjent av ansvarlig søker, og samsvarserklæring "
        "er vedlagt. Ta gjerne kontakt dersom noe mangler før ferdigattest kan gis.",
    ),),
    seed=11,
)

ODEGARD = Letter(
    letterhead=("Åse Ødegård", "Øvre Fjellvei 3", "5912 Seim"),
    recipient=("Fjellvik kommune", "Eiendomsskattekontoret", "Postboks 100", "5900 Fjellvik"),
    reference_line="Deres ref: 2025/233-7",
    date_line="Seim, 17.11.2026",
    subject_line="Emne: Klage på vedtak om eiendomsskatt for gnr. 41 bnr. 12",
    pages=(
        (
            "Jeg klager herved på vedtaket om eiendomsskatt for min eiendom. Takstgrunnlaget bygger "
            "på feil bruksareal, og uthuset som ble revet i fjor er fortsatt tatt med i beregningen.",
            "Vedlagt følger målsatte tegninger og bilder som viser eiendommens tilstand i dag. "
            "Jeg ber om at taksten vurderes på nytt og at skatten settes ned tilsvarende.",
        ),
        (
            "Dersom kommunen trenger flere opplysninger, kan jeg nås på telefon på dagtid. "
            "Jeg ber om skriftlig svar på klagen innen rimelig tid.",
        ),
    ),
    closing=("Vennlig hilsen", "", "Åse Ødegård"),
    seed=22,
)

MILJO = Letter(
    letterhead=("Fjord Miljø og Avfall IKS", "Postboks 45", "6800 Førde"),
    recipient=("Fjellvik kommune", "Teknisk drift", "Postboks 100", "5900 Fjellvik"),
    reference_line="Vår ref: 2026/0412",
    date_line="Dato: 2026-11-19",
    subject_line="Ny tømmedag for slamavskillere i søndre sone",
    pages=((
        "Fra og med desember blir slamavskillere i søndre sone tømt hvert annet år i stedet for "
        "hvert år. Endringen følger av ny forskrift om slamtømming. Eiere som ønsker hyppigere "
        "tømming, kan bestille dette på vår nettside.",
    ),),
    closing=("Med hilsen", "", "Øystein Løvås", "driftsleder"),
    seed=33,
)



def sample_batch() -> Batch:
    """The batch in fixtures/sample-scans: three letters split by a blank back and a QR sheet."""
    return batch(
        [scanned(page, 100 + number) for number, page in enumerate(render_letter(RORLEGGER))],
        scanned(blank_back(seed=101), 101),
        [scanned(page, 110 + number) for number, page in enumerate(render_letter(ODEGARD))],
        scanned(separator_sheet(), 111),
        [scanned(page, 120 + number) for number, page in enumerate(render_letter(MILJO))],
    )


if __name__ == "__main__":
    # Regenerates the sample fixture: .venv/bin/python tests/helpers/scanfactory.py
    SAMPLE_BATCH.parent.mkdir(parents=True, exist_ok=True)
    write_bilevel_pdf(sample_batch().pages, SAMPLE_BATCH)
    print(f"{SAMPLE_BATCH} ({SAMPLE_BATCH.stat().st_size} bytes)")
    # One letter on its own, no separators: a multi-page TIFF, and a phone-camera JPEG.
    single = SAMPLE_BATCH.with_name("enkeltbrev-2026-11-20.tif")
    write_tiff([scanned(page, 130 + n) for n, page in enumerate(render_letter(ODEGARD))], single)
    photo = SAMPLE_BATCH.with_name("brev-foto-2026-11-21.jpg")
    write_image(scanned(render_letter(RORLEGGER)[0], 140).convert("L").resize((1240, 1754)), photo, dpi=150)
    for path in (single, photo):
        print(f"{path} ({path.stat().st_size} bytes)")
