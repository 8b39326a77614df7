"""Norwegian national identity numbers in free text: fødselsnummer, D-, H- and test numbers.

A fødselsnummer is eleven digits: the birth date DDMMYY, a three-digit
individnummer and two mod-11 check digits (k1 with weights 3 7 6 1 8 9 4 5 2
over the first nine digits, k2 with weights 5 4 3 2 7 6 5 4 3 2 over the first
ten; check = 11 - sum mod 11, where 11 means 0 and 10 means the number cannot
exist). The date part may be shifted:

- D-nummer (foreign nationals): day + 40 (the first digit + 4);
- H-nummer (help numbers in health services): month + 40;
- synthetic test numbers: Skatteetaten's Tenor numbers have month + 80, NAV's
  test data uses month + 40 (indistinguishable from H-numbers). Both are
  accepted and screened like real numbers, so test data can never teach the
  system that such numbers are harmless, and D-numbers combine with either.

A number counts only if both check digits are right and the (unshifted) day
and month form a real calendar date in some century, so 29.02 needs a year
divisible by 4. The century (from the individnummer ranges) is not checked:
screening wants every number that could be real.

People write these numbers in many ways: `01019012345`, `010190 12345`,
`01.01.90 123 45`, `010190-12345`, `0101 9012 345`, with non-breaking or thin
spaces, soft hyphens, full-width digits, or broken over a (quoted) line. The
text is NFKC-normalised character by character, so every match keeps its span
in the original text, separators included, and a caller replaces exactly what
was written.

False hits are kept down by structure, not by context words (a label like
"kontonr." must never make a real number leak): a candidate is a run of whole
digit groups, joined only by short separator runs, with eleven digits in all.
A group is never split, so an eleven-digit window inside a longer digit run
(a 15-digit KID, a 12-digit number) is not a match, and 8-digit phone numbers,
9-digit organisation numbers, case numbers (`2025/123-4`), dates and amounts
cannot reach eleven digits with valid check digits and date at the same time
except by rare chance.

Residual risk: Norwegian bank account numbers (11 digits, `1234.56.78903`)
carry a mod-11 check digit with exactly the k2 weights. An account number
whose first four digits happen to form a valid day and month therefore passes
k2 automatically and k1 about one time in eleven; such an account number is
reported as an identity number. That errs on the safe side (over-screening).

Not covered: numbers issued under the check-digit rule Skatteetaten takes into
use on 1 January 2032 (k1 may then leave a remainder of 0, 1, 2 or 3). Those
fail the k1 check here and would not be found; this module must learn that
rule before such numbers can reach the post room.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_DAY_SHIFTS = (0, 40)
_MONTH_SHIFTS = (0, 40, 80)

_LINE_BREAKS = "\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_DOTS = ".\u00b7\u2024\u2027\u30fb"
# Separators after normalisation: " " (any space), "\n" (any line break),
# "-" (any dash or minus), "." (dots) and "_" (file names).
_SEPARATOR_RUN = r"(?:[ .\-_]{1,4}(?:\n[ >]{0,8})?|\n[ >]{0,8})"
_DIGIT_CHAIN = re.compile(r"[0-9]+(?:" + _SEPARATOR_RUN + r"[0-9]+)*")
_DIGIT_GROUP = re.compile(r"[0-9]+")
# Between the digits of a number we already know, anything that is not a
# letter or digit may stand, up to this many characters.
_KNOWN_NUMBER_GAP = r"[\W_]{0,4}"


class IdentityNumberKind(StrEnum):
    foedselsnummer = "fødselsnummer"
    d_nummer = "D-nummer"
    h_nummer = "H-nummer"
    syntetisk = "syntetisk testnummer"


class IdentityNumberMatch(BaseModel):
    """One identity number found in a text; `start:end` is what was written there."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    number: str
    kind: IdentityNumberKind


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def _is_calendar_date(day: int, month: int, yy: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    # Only 29 February depends on the century; accept it if any century makes it a leap year.
    return any(day <= calendar.monthrange(century + yy, month)[1] for century in (1800, 1900, 2000))


def identity_number_kind(number: str) -> IdentityNumberKind | None:
    """The kind of an eleven-digit number, or None if it cannot be an identity number."""
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        return None
    if _check_digit(number[:9], _K1_WEIGHTS) != int(number[9]):
        return None
    if _check_digit(number[:10], _K2_WEIGHTS) != int(number[10]):
        return None
    day, month, yy = int(number[0:2]), int(number[2:4]), int(number[4:6])
    for day_shift in _DAY_SHIFTS:
        for month_shift in _MONTH_SHIFTS:
            if _is_calendar_date(day - day_shift, month - month_shift, yy):
                if month_shift == 80:
                    return IdentityNumberKind.syntetisk
                if month_shift == 40:
                    return IdentityNumberKind.h_nummer
                if day_shift == 40:
                    return IdentityNumberKind.d_nummer
                return IdentityNumberKind.foedselsnummer
    return None


def _normalise(text: str) -> tuple[str, list[int]]:
    """Text reduced to ASCII digits and a few separator classes, and each character's origin.

    Invisible characters (soft hyphens, zero-width spaces, combining marks) are
    dropped, so they cannot hide a number by splitting it.
    """
    chars: list[str] = []
    origins: list[int] = []
    for index, original in enumerate(text):
        for ch in unicodedata.normalize("NFKC", original):
            category = unicodedata.category(ch)
            if category in ("Cf", "Mn", "Me") or ch == "\r":
                continue
            digit = unicodedata.decimal(ch, None)
            if digit is not None:
                ch = str(digit)
            elif ch in _LINE_BREAKS:
                ch = "\n"
            elif ch.isspace():
                ch = " "
            elif category == "Pd" or ch == "\u2212":
                ch = "-"
            elif ch in _DOTS:
                ch = "."
            chars.append(ch)
            origins.append(index)
    return "".join(chars), origins


def find_written_numbers(text: str, lengths: frozenset[int] = frozenset({11})) -> list[tuple[int, int, str]]:
    """Every number written the way identity numbers are written, check digits and date not checked.

    A number is a window of whole digit groups of a digit chain (see the module
    docstring) with a digit count in `lengths`; each is `(start, end, digits)`
    with `start:end` what was written in the text. Windows may overlap. This is
    the structure `find_identity_numbers` looks at before testing the check
    digits, for callers that must take out even a mistyped number.
    """
    normalised, origins = _normalise(text)
    longest = max(lengths)
    found: list[tuple[int, int, str]] = []
    for chain in _DIGIT_CHAIN.finditer(normalised):
        offset = chain.start()
        groups = [(offset + g.start(), offset + g.end(), g.group()) for g in _DIGIT_GROUP.finditer(chain[0])]
        for first in range(len(groups)):
            digits = ""
            for last in range(first, len(groups)):
                digits += groups[last][2]
                if len(digits) in lengths:
                    found.append((origins[groups[first][0]], origins[groups[last][1] - 1] + 1, digits))
                if len(digits) >= longest:
                    break
    return found


def find_identity_numbers(text: str) -> list[IdentityNumberMatch]:
    """Every identity number written in the text, in order.

    Windows of whole digit groups may overlap (`12345 012345 12345` style runs);
    each valid window is reported, and a caller redacting them merges spans.
    """
    found: list[IdentityNumberMatch] = []
    for start, end, digits in find_written_numbers(text):
        kind = identity_number_kind(digits)
        if kind is not None:
            found.append(IdentityNumberMatch(start=start, end=end, number=digits, kind=kind))
    return found


def is_identity_number(value: str) -> str | None:
    """The digits of `value` if the whole value (spaces around aside) is one identity number, else None.

    For a field that must hold one: "010190 12345" and full-width digits count,
    a wrong check digit or an impossible date does not.
    """
    found = find_identity_numbers(value)
    if len(found) != 1:
        return None
    match = found[0]
    if value[: match.start].strip() or value[match.end :].strip():
        return None
    return match.number


def find_known_number(text: str, number: str) -> list[tuple[int, int]]:
    """Spans where the given digits are written, with up to four non-alphanumerics between any two.

    Unlike `find_identity_numbers` this ignores digit boundaries: a known
    secret embedded in a longer number (a KID built from a fødselsnummer) is
    still that secret.
    """
    if not number.isascii() or not number.isdigit():
        raise ValueError("find_known_number expects ASCII digits")
    normalised, origins = _normalise(text)
    pattern = re.compile(_KNOWN_NUMBER_GAP.join(number))
    spans = []
    position = 0
    while match := pattern.search(normalised, position):
        spans.append((origins[match.start()], origins[match.end() - 1] + 1))
        position = match.start() + 1
    return spans
