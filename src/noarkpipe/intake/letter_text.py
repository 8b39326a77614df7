"""What a scanned letter's text says: its sender, letter date, references and subject, and its names.

Pure functions over the text tesseract read from a letter's pages, so they
can be tested on plain strings: the sender from the letterhead (or the
signature), the date the letter was written, 'Deres ref' and 'Vår ref', and
the subject from a 'Vedr.:' line or the heading. The scan intake (`scan.py`)
fills the Submission with what they find, and names the letter's document
and, when no subject could be read, its title (`letter_filename`,
`fallback_title`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePosixPath

from noarkpipe.clock import LOCAL_TIME
from noarkpipe.core.references import CASE_NUMBER, DERES, VAAR
from noarkpipe.core.submission import Party
from noarkpipe.files.safety import safe_filename

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


_REFERENCE_LABEL = re.compile(rf"\b(?P<whose>{DERES}|{VAAR})\s+ref(?:eranse)?\b\s*[.:]*\s*", re.IGNORECASE)
_FIELD_END = re.compile(
    rf"\s{{3,}}|\s(?=(?:{DERES}|{VAAR})\s+ref|dato\b|saksbehandler|arkivkode|tlf|telefon|e-post|org\.?\s*nr)",
    re.IGNORECASE,
)
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
    if ours is not None and (case := CASE_NUMBER.search(ours)):
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
    return CASE_NUMBER.match(value.strip()) is not None


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
    stem = origin_path(origin_name).stem
    return safe_filename(f"skanning-{stem}-brev-{number}.pdf", f"skanning-brev-{number}.pdf")


def fallback_title(origin_name: str, number: int, count: int) -> str:
    """A title for a letter whose subject could not be read, telling the archivist where to look."""
    return f"Skannet brev {number} av {count} fra {origin_path(origin_name).name}"


def origin_path(origin_name: str) -> PurePosixPath:
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
