"""Scanned paper mail: one batch from the scan station becomes one `Submission` per letter.

A batch is a PDF, a multi-page TIFF, or a single JPEG or PNG page. The post
room separates letters with a blank sheet or with the QR separator sheet
from `separator.py`; a run of several separators counts as one. Every other
page belongs to a letter. Letter pages are read with tesseract, and the
sender, letter date, references and subject are picked from the text by the
pure functions below, so they can be tested on plain strings.

Each letter's main document is a PDF of its own pages as scanned: pages of a
PDF batch are copied over unchanged, image pages are embedded losslessly
(JPEG as is). Archival conversion (PDF/A) is a later stage's job.

A batch that cannot be taken in raises `InputFileError` (not a scan, empty,
truncated, encrypted, a page too large to decode safely, over the limits).
One page that cannot be decoded or read does not cost the readable
letters: the page is kept as its own document, exactly as received (the
page copied out of a PDF batch; the whole file for an image batch, whose
damaged frame cannot be cut out), marked as having no archival copy, in a
submission of its own, in page order. It counts as a boundary between
letters, and the nightly run sends every letter of the batch to review,
since the page may belong to any of them: nothing is lost, nothing is
moved between letters without someone looking. A batch with no readable
letter page at all is still refused as a whole.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Protocol

import img2pdf
import pypdfium2
import pypdfium2.raw as pdfium_c
from PIL import Image, UnidentifiedImageError

from noarkpipe.clock import LOCAL_TIME
from noarkpipe.files import pdfstreams
from noarkpipe._exec import sandbox as converter_sandbox
from noarkpipe._exec import tesseract
from noarkpipe.errors import InputFileError
from noarkpipe.files.imaging import load_strictly
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.files.safety import require_size, safe_filename
from noarkpipe.intake.separator import is_separator_page, is_separator_text
from noarkpipe.files.signatures import SCAN_FORMATS, leading_signature, pdf_header_in_window
from noarkpipe.core.submission import DocumentRole, Party, Source, Submission, SubmissionDocument


MAX_PAGE_PIXELS = 72_000_000
"""A3 at 600 dpi fits; anything larger is refused as a likely decompression bomb, not decoded."""
OCR_DPI = 300
"""Pages go to tesseract at this resolution whatever they were scanned at.

Measured on 200 dpi scans: read as they are, the English model wins over
the Norwegian one on short words ('pa' for 'på'); resampled to 300 dpi the
same scans read right.
"""
A4_LONG_SIDE_INCHES = 297 / 25.4
PLAUSIBLE_LONG_SIDE_INCHES = (100 / 25.4, 450 / 25.4)
"""A declared resolution is believed only if it makes the page between an envelope and A3 in size."""

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

_FORMAT_NAMES = {
    "pdf": "PDF",
    "tiff": "TIFF image",
    "jpeg": "JPEG image",
    "png": "PNG image",
}


class PageKind(StrEnum):
    letter = "letter"
    blank = "blank"
    separator = "separator"
    unreadable = "unreadable"


class _UnreadablePage(InputFileError):
    """One page cannot be decoded or read (not a bomb, not the file as a whole)."""


# ---------------------------------------------------------------------------
# Decisions: pure functions over bytes, numbers and text.


def sniff_format(head: bytes) -> str | None:
    """'pdf', 'tiff', 'jpeg' or 'png' from the first bytes of a file; None for anything else.

    Each by its signature at its own place (`signatures.py`): the image
    formats' at offset 0, the PDF header at 0 or, as the PDF standard allows,
    after junk within the first 1024 bytes, but never inside a file another
    signature claims (a zip storing a PDF member is a zip). The file name is
    not consulted: scan stations and people rename files.
    """
    kind = leading_signature(head)
    if kind in SCAN_FORMATS:
        return kind
    return "pdf" if pdf_header_in_window(head) else None


def looks_truncated_pdf(tail: bytes) -> bool:
    """True when the last KB of a PDF lacks the %%EOF marker every complete PDF ends with."""
    return b"%%EOF" not in tail[-1024:]


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
    for upper, lower in zip(strips, strips[1:]):
        if _text_like([bool(a or b) for a, b in zip(upper, lower)]):
            return True
    return False


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


_MONTHS = {
    "januar": 1, "jan": 1, "februar": 2, "feb": 2, "mars": 3, "mar": 3, "april": 4, "apr": 4,
    "mai": 5, "juni": 6, "jun": 6, "juli": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "oktober": 10, "okt": 10, "november": 11, "nov": 11,
    "desember": 12, "des": 12,
}  # fmt: skip
_DATE_PATTERNS = (
    re.compile(r"\b(?P<day>[0-3]?\d)(?:\.\s*|\s+)(?P<month>[A-Za-zæøåÆØÅ]{3,9})\.?\s+(?P<year>(?:19|20)\d{2})\b"),
    re.compile(r"\b(?P<day>[0-3]?\d)\.(?P<month>[01]?\d)\.(?P<year>(?:19|20)\d{2}|\d{2})\b"),
    re.compile(r"\b(?P<year>(?:19|20)\d{2})-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),
)
_DATE_LABEL = re.compile(r"\bdato\s*[.:]?\s*$", re.IGNORECASE)
_PLACE_BEFORE_DATE = re.compile(r"^\W*[A-ZÆØÅ][\wæøåÆØÅ .'-]{1,40},\s*$")
HEADER_LINES = 20
"""Non-empty lines from the top that make up letterhead, addresses, references, date and subject.

An unlabelled date counts as the letter date only there; later dates are
deadlines and the like.
"""


@dataclass(frozen=True)
class _DateHit:
    line: int
    column: int
    value: date
    anchored: bool


def _dates_in(lines: Sequence[str]) -> list[_DateHit]:
    hits = []
    for number, line in enumerate(lines):
        for pattern in _DATE_PATTERNS:
            for match in pattern.finditer(line):
                value = _to_date(match)
                if value is not None:
                    before = line[: match.start()]
                    anchored = bool(_DATE_LABEL.search(before) or _PLACE_BEFORE_DATE.match(before))
                    hits.append(_DateHit(number, match.start(), value, anchored))
    return sorted(hits, key=lambda hit: (hit.line, hit.column))


def _to_date(match: re.Match[str]) -> date | None:
    month_text = match.group("month")
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.lower())
    year_text = match.group("year")
    year = int(year_text) if len(year_text) == 4 else 2000 + int(year_text)
    if month is None:
        return None
    try:
        return date(year, month, int(match.group("day")))
    except ValueError:
        return None


def find_letter_date(text: str) -> date | None:
    """The date the letter was written.

    Preferred is a date introduced by 'Dato' or by a place and a comma
    ("Bergen, 12. november 2026"); otherwise the first date near the top.
    """
    lines = _lines(text)
    hits = _dates_in(lines)
    anchored = [hit for hit in hits if hit.anchored]
    if anchored:
        return anchored[0].value
    near_top = [hit for hit in hits if hit.line < _header_end(lines)]
    return near_top[0].value if near_top else None


def letter_sent(letter_date: date | None) -> datetime | None:
    """A letter date carries no time; noon Oslo time is the same calendar day in UTC, summer and winter."""
    if letter_date is None:
        return None
    return datetime.combine(letter_date, time(12, 0), tzinfo=LOCAL_TIME)


_REFERENCE_LABEL = re.compile(r"\b(?P<whose>deres|v[åaä]r)\s+ref(?:eranse)?\b\s*[.:]*\s*", re.IGNORECASE)
_FIELD_END = re.compile(
    r"\s{3,}|\s(?=(?:deres|v[åaä]r)\s+ref|dato\b|saksbehandler|arkivkode|tlf|telefon|e-post|org\.?\s*nr)",
    re.IGNORECASE,
)
_CASE_NUMBER = re.compile(r"(?P<year>\d{2,4})\s*/\s*(?P<seq>\d{1,7})(?:\s*-\s*(?P<doc>\d{1,5}))?")
MAX_REFERENCE_CHARS = 60


def find_references(text: str) -> tuple[str | None, str | None]:
    """('Deres ref' value, 'Vår ref' value) as written on the letter's own lines.

    'Deres ref' is what the sender quotes of ours, so a case number in it is
    tidied ('2026 / 14 - 2' -> '2026/14-2'); 'Vår ref' is the sender's own
    reference and is kept as written.
    """
    found: dict[str, str] = {}
    for line in _lines(text):
        for match in _REFERENCE_LABEL.finditer(line):
            whose = "deres" if match.group("whose").lower() == "deres" else "vår"
            rest = line[match.end() :]
            end = _FIELD_END.search(rest)
            value = " ".join(rest[: end.start() if end else None].split()).strip(" .:;,")
            if value and value not in {"-", "–", "—"} and len(value) <= MAX_REFERENCE_CHARS:
                found.setdefault(whose, value)
    ours = found.get("deres")
    if ours is not None and (case := _CASE_NUMBER.search(ours)):
        ours = f"{case['year']}/{case['seq']}" + (f"-{case['doc']}" if case["doc"] else "")
    return ours, found.get("vår")


_SUBJECT_LABEL = re.compile(
    r"^\s*(?:vedr(?:ørende)?|emne|sak|gjelder|ang(?:ående)?)\s*[.:]+\s*(?P<subject>\S.*)$", re.IGNORECASE
)
_SALUTATION = re.compile(r"^(?:hei|hallo|til|kjære|god\s+dag)\b", re.IGNORECASE)
MAX_SUBJECT_CHARS = 120
HEADING_WIDTH_SHARE = 0.8
"""A heading joined to a paragraph is shorter than this share of the paragraph's first full line."""


def find_subject(text: str) -> str | None:
    """The letter's subject: a 'Vedr.:', 'Emne:', 'Sak:' (and the like) line, else its heading.

    The heading is looked for in the first paragraph after the date and
    reference lines, greetings skipped. Plain OCR text shows no bold or
    size, so a heading is recognised by shape: a line of its own, or a line
    clearly shorter than the sentence starting below it (tesseract often
    joins a heading to the paragraph under it). No date or reference line,
    no heading: the body's first line is not a subject.
    """
    lines = _lines(text)
    for line in lines:
        match = _SUBJECT_LABEL.match(line)
        if match and not _is_only_reference(match["subject"]):
            return _tidy(match["subject"])
    header_end = _header_end(lines)
    anchors = [hit.line for hit in _dates_in(lines[:header_end]) if hit.anchored]
    anchors += [number for number, line in enumerate(lines[:header_end]) if _REFERENCE_LABEL.search(line)]
    if not anchors:
        return None
    for block in _blocks(lines[max(anchors) + 1 :]):
        if _SALUTATION.match(block[0]) or block[0].endswith(","):
            continue
        return _heading(block)
    return None


def _heading(block: Sequence[str]) -> str | None:
    first = block[0]
    if len(first) > MAX_SUBJECT_CHARS or _letters(first) < 3 or first.endswith(".") or _CLOSING.match(first):
        return None
    if len(block) > 1:
        following = block[1]
        if not (len(first) < HEADING_WIDTH_SHARE * len(following) and following[:1].isupper()):
            return None
    return _tidy(first)


def _is_only_reference(value: str) -> bool:
    """'Sak: 2026/14' quotes a case number, it does not name a subject."""
    return _CASE_NUMBER.match(value.strip()) is not None


_POSTAL_LINE = re.compile(
    r"^(?:(?P<street>.+?),\s*)?(?:NO-)?(?P<code>\d{4})\s+(?P<city>[A-ZÆØÅ][A-Za-zÆØÅæøå .'-]{1,40})$"
)
_ORGNR = re.compile(
    r"\borg(?:anisasjons)?\.?\s*(?:nr|nummer)\.?\s*:?\s*(?:NO\s*)?(?P<digits>(?:\d\s?){9})", re.IGNORECASE
)
_CLOSING = re.compile(r"^(?:med\s+)?(?:vennlig\s+)?hilsen\b", re.IGNORECASE)
_CONTACT_LINE = re.compile(r"\b(?:org\.?\s*nr|tlf|telefon|e-post|epost|www\.|@)", re.IGNORECASE)
MAX_NAME_CHARS = 80


def find_sender(text: str) -> Party | None:
    """The sender from the letterhead at the top of `text`, or from the signature if there is no letterhead.

    The letterhead is the first paragraph: a name line, then address lines
    down to a 'postnummer poststed' line. When OCR sets the address apart
    from the name, the next paragraph is taken too if it starts like an
    address (with a digit: street number, 'Postboks', postnummer), because
    the paragraph after a letterhead is otherwise the recipient's name.
    """
    blocks = _blocks(_lines(text))
    address_lines: list[str] = []
    if blocks and _is_name(blocks[0][0]):
        name = _tidy(blocks[0][0])
        address_lines = blocks[0][1:]
        if not address_lines and len(blocks) > 1 and re.search(r"\d", blocks[1][0]):
            address_lines = blocks[1]
    else:
        name = _signature_name(text)
    if name is None:
        return None
    street_lines: list[str] = []
    for line in address_lines:
        match = _POSTAL_LINE.match(line)
        if match:
            street_lines += [match["street"]] if match["street"] else []
            return Party(
                name=name,
                postal_address=", ".join(_tidy(part) for part in street_lines) or None,
                postal_code=match["code"],
                city=_tidy(match["city"]),
                organisasjonsnummer=find_organisasjonsnummer(text),
            )
        if not _CONTACT_LINE.search(line):
            street_lines.append(line)
    return Party(name=name, organisasjonsnummer=find_organisasjonsnummer(text))


def find_organisasjonsnummer(text: str) -> str | None:
    """A labelled organisation number whose mod-11 check digit is right; OCR misreads fail the check."""
    for match in _ORGNR.finditer(text):
        digits = re.sub(r"\s", "", match["digits"])
        if valid_organisasjonsnummer(digits):
            return digits
    return None


def valid_organisasjonsnummer(digits: str) -> bool:
    if not re.fullmatch(r"\d{9}", digits):
        return False
    remainder = sum(int(d) * w for d, w in zip(digits, (3, 2, 7, 6, 5, 4, 3, 2))) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and check == int(digits[8])


def _signature_name(text: str) -> str | None:
    lines = _lines(text)
    for number, line in enumerate(lines):
        if _CLOSING.match(line.strip()):
            following = [candidate for candidate in lines[number + 1 :] if candidate.strip()]
            if following and _is_name(following[0]):
                return _tidy(following[0])
    return None


def _is_name(line: str) -> bool:
    return _letters(line) >= 3 and len(line) <= MAX_NAME_CHARS and not _REFERENCE_LABEL.search(line)


@dataclass(frozen=True)
class LetterFields:
    sender: Party | None
    letter_date: date | None
    our_reference: str | None
    their_reference: str | None
    subject: str | None


def letter_fields(first_page_text: str, full_text: str) -> LetterFields:
    """Everything picked from a letter's text: header fields from page one, the sender from the whole letter."""
    ours, theirs = find_references(first_page_text)
    return LetterFields(
        sender=find_sender(full_text),
        letter_date=find_letter_date(first_page_text),
        our_reference=ours,
        their_reference=theirs,
        subject=find_subject(first_page_text),
    )


def letter_filename(origin_name: str, number: int) -> str:
    stem = _origin_path(origin_name).stem
    return safe_filename(f"skanning-{stem}-brev-{number}.pdf", f"skanning-brev-{number}.pdf")


def fallback_title(origin_name: str, number: int, count: int) -> str:
    """A title for a letter whose subject could not be read, telling the archivist where to look."""
    return f"Skannet brev {number} av {count} fra {_origin_path(origin_name).name}"


def _origin_path(origin_name: str) -> PurePosixPath:
    return PurePosixPath(origin_name.replace("\\", "/"))


def _header_end(lines: Sequence[str]) -> int:
    """The index just past the first `HEADER_LINES` non-empty lines."""
    seen = 0
    for number, line in enumerate(lines):
        if line.strip():
            seen += 1
            if seen == HEADER_LINES:
                return number + 1
    return len(lines)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\f", "\n").splitlines()]


def _blocks(lines: Sequence[str]) -> list[list[str]]:
    """Paragraphs: runs of lines tesseract did not leave empty.

    A line of only marks ('|', '—', '_': a rule or specks read as text)
    separates paragraphs like an empty one.
    """
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip() and _letters(line) + sum(ch.isdigit() for ch in line) > 0:
            current.append(line.strip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _letters(line: str) -> int:
    return sum(ch.isalpha() for ch in line)


def _tidy(value: str) -> str:
    return " ".join(value.split()).strip(" .,;:")


# ---------------------------------------------------------------------------
# Edges: reading the batch file, measuring pages, running OCR, writing PDFs.


@dataclass(frozen=True)
class PageImage:
    image: Image.Image
    """8-bit grey."""
    dpi: float


class _Batch(Protocol):
    page_count: int

    def page(self, index: int) -> PageImage: ...

    def letter_pdf(self, indices: Sequence[int]) -> bytes: ...

    def page_as_received(self, index: int) -> bytes | None:
        """The page alone as the batch holds it, or None if it cannot be cut out."""
        ...

    def close(self) -> None: ...


def parse_scan(path: Path, context: IntakeContext) -> list[Submission]:
    """One `Submission` per letter in the scan batch at `path`, in page order."""
    program = tesseract.require(context.ocr_languages)
    kind = _check_file(path, context.limits)
    batch: _Batch = (
        _PdfBatch(path, context.limits)
        if kind == "pdf"
        else _ImageBatch(path, kind, context.limits, context.scratch / "scan-pages")
    )
    with closing(batch):
        kinds: list[PageKind] = []
        texts: list[str] = []
        for index in range(batch.page_count):
            try:
                page_kind, text = _read_page(batch, index, program, context.ocr_languages, context.sandbox)
            except _UnreadablePage as exc:
                page_kind, text = PageKind.unreadable, exc.message
            kinds.append(page_kind)
            texts.append(text)
        letters = split_letters(kinds)
        if not letters:
            unreadable = [i + 1 for i, kind in enumerate(kinds) if kind is PageKind.unreadable]
            if unreadable:
                first = kinds.index(PageKind.unreadable)
                raise InputFileError(texts[first], hint="the file is probably truncated or damaged; scan the batch again")
            raise InputFileError(
                f"the scan batch has {batch.page_count} page(s) but all are blank or separator sheets",
                hint="check that the letters were not fed face down or left out of the scan",
            )
        pieces = sorted(
            [(indices[0], indices) for indices in letters]
            + [(i, None) for i, kind in enumerate(kinds) if kind is PageKind.unreadable]
        )
        submissions = []
        for number, (first, indices) in enumerate(pieces, start=1):
            if indices is None:
                submissions.append(_unreadable_submission(context, path, batch, first, texts[first]))
                continue
            pdf = batch.letter_pdf(indices)
            require_size(len(pdf), context.limits.max_document_bytes, f"the PDF of letter {number}")
            submissions.append(_submission(context, number, len(pieces), [texts[i] for i in indices], pdf))
        return submissions


def _unreadable_submission(
    context: IntakeContext, path: Path, batch: _Batch, index: int, problem: str
) -> Submission:
    """A page that could not be read, kept as received and marked: it gets no archival copy."""
    stem = _origin_path(context.origin_name).stem or "skanning"
    content, suffix, what = batch.page_as_received(index), ".pdf", f"page {index + 1} as received"
    if content is None:
        content, suffix, what = path.read_bytes(), path.suffix.lower() or ".bin", "the whole scan file as received"
    require_size(len(content), context.limits.max_document_bytes, f"page {index + 1} of the scan")
    title = f"Uleselig side {index + 1} i {_origin_path(context.origin_name).name}"
    return Submission(
        source=Source.scan,
        origin_name=context.origin_name,
        subject=title,
        received=context.received,
        documents=[
            SubmissionDocument(
                filename=safe_filename(f"{stem}-side-{index + 1}-uleselig{suffix}", "uleselig-side"),
                media_type="application/pdf" if suffix == ".pdf" else "application/octet-stream",
                content=content,
                role=DocumentRole.main,
                title=title,
                archival_gap=(
                    f"page {index + 1} of the scan batch cannot be read ({problem}); {what} is kept: "
                    "check the paper original, scan that page again and attach it with 'review replace-part'"
                ),
            )
        ],
    )


def _check_file(path: Path, limits: IntakeLimits) -> str:
    size = path.stat().st_size
    if size == 0:
        raise InputFileError(
            "the scan file is empty (0 bytes)", hint="the upload from the scan station probably failed; scan again"
        )
    require_size(size, limits.max_file_bytes, "the scan file")
    with path.open("rb") as handle:
        head = handle.read(1024)
        handle.seek(max(0, size - 1024))
        tail = handle.read()
    kind = sniff_format(head)
    if kind is None:
        raise InputFileError(
            f"the file is not a PDF, TIFF, JPEG or PNG scan, whatever its name says (it starts with {head[:16]!r})",
            hint="only scan-station output belongs in the scan inbox",
        )
    if kind == "pdf" and looks_truncated_pdf(tail):
        raise InputFileError(
            "the PDF is truncated: it does not end with %%EOF",
            hint="the transfer from the scan station was probably cut off; send the file again",
        )
    return kind


def _read_page(
    batch: _Batch, index: int, program: str, languages: str, sandbox: converter_sandbox.Mode
) -> tuple[PageKind, str]:
    """What the page is, and its text if it belongs to a letter; the cheap checks go first."""
    page = batch.page(index)
    if is_blank(measure_ink(page.image, page.dpi)):
        return PageKind.blank, ""
    if is_separator_page(page.image):
        return PageKind.separator, ""
    buffer = io.BytesIO()
    _at_ocr_resolution(page).save(buffer, format="PNG", compress_level=1)
    try:
        text = tesseract.page_text(program, buffer.getvalue(), languages, OCR_DPI, sandbox_mode=sandbox)
    except InputFileError as exc:
        raise _UnreadablePage(f"page {index + 1}: {exc.message}", hint=exc.hint) from exc
    if is_separator_text(text):
        return PageKind.separator, ""
    return PageKind.letter, text.strip()


def _at_ocr_resolution(page: PageImage) -> Image.Image:
    if abs(page.dpi - OCR_DPI) < OCR_DPI / 20:
        return page.image
    scale = OCR_DPI / page.dpi
    size = (round(page.image.width * scale), round(page.image.height * scale))
    return page.image.resize(size, Image.Resampling.BICUBIC)


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


def _submission(
    context: IntakeContext, number: int, count: int, page_texts: list[str], pdf: bytes
) -> Submission:
    full_text = "\n\n".join(page_texts)
    fields = letter_fields(page_texts[0], full_text)
    title = fields.subject or fallback_title(context.origin_name, number, count)
    return Submission(
        source=Source.scan,
        origin_name=context.origin_name,
        sender=fields.sender,
        subject=title,
        sent=letter_sent(fields.letter_date),
        received=context.received,
        body_text=full_text,
        our_reference=fields.our_reference,
        their_reference=fields.their_reference,
        documents=[
            SubmissionDocument(
                filename=letter_filename(context.origin_name, number),
                media_type="application/pdf",
                content=pdf,
                role=DocumentRole.main,
                title=title,
            )
        ],
    )


def _bomb_error(detail: str) -> InputFileError:
    return InputFileError(
        f"a page is too large to decode safely ({detail})",
        hint=f"pages over {MAX_PAGE_PIXELS // 1_000_000} million pixels are refused; rescan at 300 dpi",
    )


def _require_page_count(count: int, limits: IntakeLimits) -> None:
    if count == 0:
        raise InputFileError("the scan file has no pages", hint="scan the batch again")
    if count > limits.max_pages:
        raise InputFileError(
            f"the scan batch has {count} pages, more than the limit of {limits.max_pages}",
            hint="split the batch at the scan station, or raise max_pages under [intake] in the config",
        )


class _PdfBatch:
    """A PDF batch read with PDFium: pages rendered for analysis and OCR, copied unchanged into letters."""

    def __init__(self, path: Path, limits: IntakeLimits) -> None:
        # Measured before PDFium sees it: PDFium decodes a page's content whole when it renders.
        pdfstreams.require_bounded(path, limits.max_decompressed_mb, "the scan file")
        try:
            self._pdf = pypdfium2.PdfDocument(path)
        except pypdfium2.PdfiumError as exc:
            if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
                raise _encrypted_error() from exc
            raise InputFileError(
                f"the PDF cannot be read: {exc}", hint="the file is damaged; scan the batch again"
            ) from exc
        try:
            # Also refused when only an owner password restricts it: PDF/A
            # forbids encryption, so the archival copy could not be made.
            if pdfium_c.FPDF_GetSecurityHandlerRevision(self._pdf) != -1:
                raise _encrypted_error()
            self.page_count = len(self._pdf)
            _require_page_count(self.page_count, limits)
        except InputFileError:
            self._pdf.close()
            raise

    def page(self, index: int) -> PageImage:
        try:
            page = self._pdf[index]
            images = [obj.get_metadata() for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])]
            for meta in images:
                if meta.width * meta.height > MAX_PAGE_PIXELS:
                    raise _bomb_error(f"page {index + 1} holds a {meta.width}x{meta.height} image")
            width, height = page.get_size()
            if width * height * (OCR_DPI / 72) ** 2 > MAX_PAGE_PIXELS:
                raise _bomb_error(f"page {index + 1} is {width / 72 * 25.4:.0f}x{height / 72 * 25.4:.0f} mm")
            image = page.render(scale=OCR_DPI / 72, grayscale=True).to_pil().convert("L")
        except pypdfium2.PdfiumError as exc:
            raise _UnreadablePage(
                f"page {index + 1} of the PDF cannot be read: {exc}", hint="scan the batch again"
            ) from exc
        return PageImage(image, OCR_DPI)

    def page_as_received(self, index: int) -> bytes | None:
        try:
            return self.letter_pdf([index])
        except pypdfium2.PdfiumError:
            return None

    def letter_pdf(self, indices: Sequence[int]) -> bytes:
        letter = pypdfium2.PdfDocument.new()
        try:
            letter.import_pages(self._pdf, pages=list(indices))
            buffer = io.BytesIO()
            letter.save(buffer)
            return buffer.getvalue()
        finally:
            letter.close()

    def close(self) -> None:
        self._pdf.close()


def _encrypted_error() -> InputFileError:
    return InputFileError(
        "the PDF is encrypted or password protected",
        hint="set the scan station to save PDFs without password or restrictions, and scan again",
    )


class _ImageBatch:
    """A TIFF (one page per frame), JPEG or PNG batch read with Pillow.

    Each page is kept in the scratch folder as it is read, so the letter PDFs
    are made without decoding the batch twice: a JPEG as the original bytes,
    other pages as lossless PNG, or CCITT G4 TIFF for black and white.
    """

    def __init__(self, path: Path, kind: str, limits: IntakeLimits, pages_dir: Path) -> None:
        self._path = path
        self._kind = kind
        self._pages_dir = pages_dir
        self._pages_dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[int, tuple[Path, float]] = {}
        try:
            self._image = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise _bomb_error(str(exc)) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise self._damaged(exc) from exc
        try:
            self.page_count = getattr(self._image, "n_frames", 1)
            _require_page_count(self.page_count, limits)
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            self._image.close()
            raise self._damaged(exc) from exc
        except InputFileError:
            self._image.close()
            raise

    def page(self, index: int) -> PageImage:
        try:
            self._image.seek(index)
            width, height = self._image.size
            if width * height > MAX_PAGE_PIXELS:
                raise _bomb_error(f"page {index + 1} is {width}x{height} pixels")
            load_strictly(self._image)
            frame = _eight_bit(self._image.copy())
        except Image.DecompressionBombError as exc:
            raise _bomb_error(str(exc)) from exc
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            damaged = self._damaged(exc, f"page {index + 1} of ")
            raise _UnreadablePage(damaged.message, hint=damaged.hint) from exc
        declared = self._image.info.get("dpi")
        # TIFF resolutions come as rationals; page_dpi works on plain numbers.
        dpi = page_dpi(frame.size, (float(declared[0]), float(declared[1])) if declared else None)
        self._files[index] = (self._keep(index, frame, dpi), dpi)
        return PageImage(frame if frame.mode == "L" else frame.convert("L"), dpi)

    def _keep(self, index: int, frame: Image.Image, dpi: float) -> Path:
        if self._kind == "jpeg":
            return self._path
        if frame.mode == "1":
            target = self._pages_dir / f"page-{index + 1:04d}.tif"
            frame.save(target, format="TIFF", compression="group4", dpi=(dpi, dpi))
            return target
        target = self._pages_dir / f"page-{index + 1:04d}.png"
        frame.save(target, format="PNG", dpi=(dpi, dpi))
        return target

    def letter_pdf(self, indices: Sequence[int]) -> bytes:
        letter = pypdfium2.PdfDocument.new()
        try:
            for index in indices:
                file, dpi = self._files[index]
                try:
                    single = img2pdf.convert(str(file), layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi)))
                except Exception as exc:  # img2pdf reports bad input with assorted exception types
                    raise InputFileError(
                        f"page {index + 1} cannot be put into a PDF: {exc}", hint="scan the batch again"
                    ) from exc
                page_pdf = pypdfium2.PdfDocument(single)
                letter.import_pages(page_pdf)
                page_pdf.close()
            buffer = io.BytesIO()
            letter.save(buffer)
            return buffer.getvalue()
        finally:
            letter.close()

    def page_as_received(self, index: int) -> bytes | None:
        return None  # a frame Pillow cannot decode cannot be cut out of the file either

    def close(self) -> None:
        self._image.close()

    def _damaged(self, exc: Exception, where: str = "") -> InputFileError:
        return InputFileError(
            f"{where}the {_FORMAT_NAMES[self._kind]} cannot be read: {exc}",
            hint="the file is probably truncated or damaged; scan the batch again",
        )


def _eight_bit(frame: Image.Image) -> Image.Image:
    """Modes img2pdf and tesseract both take: bilevel, grey or RGB; 16-bit scans are scaled, not clipped."""
    if frame.mode in {"1", "L", "RGB"}:
        return frame
    if frame.mode.startswith("I"):
        return frame.convert("I").point(lambda value: value / 256).convert("L")
    return frame.convert("RGB")
