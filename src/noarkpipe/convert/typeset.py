"""The e-mail's text typeset on A4 in DejaVu Sans: how a text main document, and other text, gets its archival copy.

The e-mail intake writes the letter as text in one layout
(`core.email_document`: header block, text, 'Vedlegg:' list);
`split_email_text` reads that layout back, and `render_email` sets it with
fpdf2: the header block in bold, the text ragged right as mail programs
show it, the attachments listed, 'Side n av m' at the foot. Text in a format
depots do not accept (a calendar invitation, a vCard) is set the same way,
all body. The PDF then goes the way every PDF goes (`normalise.py`).

Typesetting is most of what an e-mail's copy costs, so the fonts are parsed
once per process (`_add_dejavu`, `preload_fonts` before the workers fork)
and each document's subset is cut from DejaVu reduced once to the common
Latin scripts (`_common_outlines`) when that holds every glyph it uses: the
same bytes as fpdf2 would write, in a quarter of the time.
"""

from __future__ import annotations

import copy
import io
import logging
import re
from functools import cache, lru_cache
from pathlib import Path

import fpdf
from fontTools.ttLib import TTFont
from fpdf.fonts import SubsetMap, TTFFont

from noarkpipe.convert.normalise import pdf_to_pdfa
from noarkpipe.convert.options import ConversionOptions
from noarkpipe.convert.steps import Deadline, ToolVersion
from noarkpipe.errors import MissingDependencyError
from noarkpipe.files.verify import VerificationReport

FONT_PACKAGE = "fonts-dejavu-core"
_FONT_FAMILY = "DejaVu"
_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
_EMAIL_HEADER = re.compile(r"^(Fra|Til|Kopi|Dato|Emne):\s*(.*)$")
# fontTools warns about the 'modified' date in the head table of every DejaVu
# subset fpdf2 writes; it says nothing about the document, and would fill the run log.
logging.getLogger("fontTools.ttLib.tables._h_e_a_d").setLevel(logging.ERROR)


def typeset_pdfa(
    text: str, output: Path, work: Path, options: ConversionOptions, deadline: Deadline,
    first_tools: tuple[ToolVersion, ...],
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...]]:
    """`text` typeset (`render_email`), then made PDF/A; a warning names the characters DejaVu Sans cannot show."""
    pdf = render_email(text, work / "typeset.pdf")
    tools = (*first_tools, ToolVersion(name="fpdf2", version=fpdf.__version__))
    tools, report, warnings = pdf_to_pdfa(pdf, output, work, options, deadline, expected_pages=None, first_tools=tools)
    if missing := glyphs_missing(text):
        warnings = (f"left out of the PDF, as DejaVu Sans has no glyph for them: {missing}", *warnings)
    return tools, report, warnings


class _EmailPdf(fpdf.FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FONT_FAMILY, size=8)
        self.set_text_color(110)
        self.cell(0, 5, f"Side {self.page_no()} av {{nb}}", align="R")


def render_email(text: str, target: Path) -> Path:
    """The e-mail text from intake typeset on A4: header block bold, body wrapped, attachment list."""
    header, body, attachments = split_email_text(text)
    pdf = _EmailPdf(format="A4", unit="mm")
    for style, filename in _EMAIL_FONTS.items():
        _add_dejavu(pdf, style, filename)
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_lang("no")
    subject = dict(header).get("Emne")
    if subject:
        pdf.set_title(subject)
    pdf.add_page()
    label_width = 18
    pdf.set_font(_FONT_FAMILY, "B", 10)
    for label, value in header:
        pdf.cell(label_width, 5.5, f"{label}:")
        pdf.multi_cell(0, 5.5, value, align="L", new_x="LMARGIN", new_y="NEXT")
    if header:
        pdf.ln(2)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(4)
    pdf.set_font(_FONT_FAMILY, "", 10)
    if body:
        # Ragged right, as mail programs show it; justified lines stretch plain text oddly.
        pdf.multi_cell(0, 5, body, align="L", new_x="LMARGIN", new_y="NEXT")
    if attachments:
        pdf.ln(4)
        pdf.set_font(_FONT_FAMILY, "B", 10)
        pdf.cell(0, 5.5, "Vedlegg:", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FONT_FAMILY, "", 10)
        for attachment in attachments:
            pdf.multi_cell(0, 5, f"• {attachment}", align="L", new_x="LMARGIN", new_y="NEXT")
    _cut_from_common_outlines(pdf, _EMAIL_FONTS)
    pdf.output(str(target))
    return target


def _add_dejavu(pdf: fpdf.FPDF, style: str, filename: str) -> None:
    """DejaVu Sans in `style` for `pdf`, from a font parsed once per process.

    fpdf2's `add_font` parses the font file for every document, though what
    it reads (metrics, character map, descriptor) is the same each time. So
    it is read once, and each document gets a copy of that font with the
    state that is its own: the glyphs it uses, and a font object of its own
    for fpdf2 to cut the embedded subset from (subsetting changes the object
    it is given), loaded lazily from the file's bytes kept in memory. A font
    this cannot be done for exactly (one fpdf2 would change while reading it)
    is added by fpdf2 as usual.
    """
    parsed = _parsed_font(style, filename)
    if parsed is None:
        pdf.add_font(_FONT_FAMILY, style, str(_font_file(filename)))
        return
    template, data = parsed
    font = copy.copy(template)
    font.i = len(pdf.fonts) + 1
    font.ttfont = TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
    font.cw = template.cw.copy()
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    pdf.fonts[template.fontkey] = font


_EMAIL_FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
"""The styles e-mails are typeset in, and their font files."""


def preload_fonts() -> None:
    """Read the fonts e-mails are typeset in now, before a process forks its workers (nothing if not installed)."""
    for style, filename in _EMAIL_FONTS.items():
        try:
            _parsed_font(style, filename)
            _common_outlines(filename)
        except MissingDependencyError:
            return  # said when the first e-mail is typeset


def _cut_from_common_outlines(pdf: fpdf.FPDF, fonts: dict[str, str]) -> None:
    """Each DejaVu font of `pdf` (`fonts`: style -> file) cut from the common outlines when they hold every glyph it uses.

    fpdf2 embeds the subset of a font a document uses, cut by fontTools from
    the whole font (6,253 glyphs, with layout tables fontTools reads before it
    drops them): about 40 ms a font, most of the cost of typesetting an
    e-mail. The same cut from `_common_outlines` (about 400 glyphs, no
    layout tables) takes a quarter of that and embeds the same glyphs under
    the same names and in the same order. A document using a glyph outside
    them keeps the whole font.
    """
    for style, filename in fonts.items():
        font = pdf.fonts.get(f"{_FONT_FAMILY.lower()}{style}")
        common = _common_outlines(filename)
        if not isinstance(font, TTFFont) or common is None or _parsed_font(style, filename) is None:
            continue
        data, names = common
        if names.issuperset(font.subset.get_all_glyph_names()):
            font.ttfont = TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)


COMMON_SCRIPTS = (
    (0x0020, 0x007E), (0x00A0, 0x017F),  # Latin, Latin-1, Latin Extended-A (Sámi, Central Europe)
    (0x01E4, 0x01EF), (0x0218, 0x021B),  # Skolt Sámi ǥ ǧ ǩ ǯ, Romanian ș ț
    (0x2010, 0x2027), (0x2030, 0x203A), (0x20AC, 0x20AC),  # dashes, quotes, bullets, ellipsis, ‰, €
    (0x2122, 0x2122), (0xFFFD, 0xFFFD),  # ™, the replacement character
)
"""The characters `_common_outlines` keeps: the Latin letters most mail to a Norwegian municipality is written in.

A letter in Cyrillic or Greek, or with a symbol outside these, is typeset from the whole font: the same
result, at the cost of about 40 ms more a font."""


@cache
def _common_outlines(filename: str) -> tuple[bytes, frozenset[str]] | None:
    """DejaVu cut once per process to `COMMON_SCRIPTS`, glyph names kept, and the names it holds.

    The tables fpdf2 drops from every subset (layout, bitmaps, colour) are
    dropped here already; nothing else changes, so a subset cut from these
    bytes is the subset fpdf2 would cut from the whole font.
    """
    from fontTools import subset as ftsubset

    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True,
                               layout_features=[])
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC",
                            "EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR"]
    try:
        with TTFont(_font_file(filename), recalcTimestamp=False) as font:
            subsetter = ftsubset.Subsetter(options)
            subsetter.populate(unicodes=[code for first, last in COMMON_SCRIPTS for code in range(first, last + 1)])
            subsetter.subset(font)
            names = frozenset(font.getGlyphOrder())
            out = io.BytesIO()
            font.save(out)
    except Exception:
        return None
    return out.getvalue(), names


@cache
def _parsed_font(style: str, filename: str) -> tuple[TTFFont, bytes] | None:
    path = _font_file(filename)
    data = path.read_bytes()
    host = fpdf.FPDF()
    host.add_font(_FONT_FAMILY, style, str(path))
    template = host.fonts[f"{_FONT_FAMILY.lower()}{style}"]
    with TTFont(io.BytesIO(data), lazy=True) as font:
        # fpdf2 draws a .notdef glyph into a font that lacks one; a fresh load would not have it.
        has_notdef = ".notdef" in font.getGlyphOrder()
    if not isinstance(template, TTFFont) or not has_notdef or template.is_compressed or template.is_cff \
            or template.color_font is not None:
        return None
    return template, data


def split_email_text(text: str) -> tuple[list[tuple[str, str]], str, list[str]]:
    """The parts of the e-mail document `core.email_document.render_main_document` writes.

    Header lines ('Fra:   ...') up to the first empty line, the body, and the
    closing 'Vedlegg:' list; text that does not have that shape is all body.
    """
    lines = _printable(text).split("\n")
    header: list[tuple[str, str]] = []
    while lines and (match := _EMAIL_HEADER.match(lines[0])):
        header.append((match.group(1), match.group(2).strip()))
        lines.pop(0)
    attachments: list[str] = []
    if "Vedlegg:" in lines:
        at = len(lines) - 1 - lines[::-1].index("Vedlegg:")
        tail = [line for line in lines[at + 1 :] if line.strip()]
        if all(line.startswith("  - ") for line in tail):
            attachments = [line[4:].strip() for line in tail]
            lines = lines[:at]
    return header, "\n".join(lines).strip("\n"), attachments


def _printable(text: str) -> str:
    # Tabs are expanded and other control characters dropped: fonts have no glyphs for them.
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    return "".join(ch for ch in text if ch == "\n" or ch.isprintable())


def glyphs_missing(text: str) -> str:
    """The characters of `text` DejaVu Sans cannot show, each once, in order of appearance."""
    covered = _covered_characters()
    return "".join(dict.fromkeys(ch for ch in _printable(text) if ch != "\n" and ord(ch) not in covered))


@lru_cache(maxsize=1)
def _covered_characters() -> frozenset[int]:
    with TTFont(_font_file("DejaVuSans.ttf"), lazy=True) as font:
        return frozenset(font.getBestCmap())


def _font_file(name: str) -> Path:
    for folder in _FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise MissingDependencyError(
        f"the font {name}, used to typeset e-mails for their archival copy, is not installed",
        hint=f"apt-get install {FONT_PACKAGE}",
    )
