"""Case references quoted in letters: "Deres ref. 2025/123-4", "Saksnr: 25/123".

A pure function over text; whether the case exists is the journal's question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LABEL = r"(?:deres\s+ref(?:eranse)?|v[åa]r\s+ref(?:eranse)?|ref(?:eranse)?|saksnr|saksnummer|sak|arkivsak|journalnr)"
# The label must start a word: "byggesak 24/12" names a property (gnr/bnr), not case 2024/12.
_REFERENCE = re.compile(
    r"(?<!\w)" + _LABEL + r"\.?\s*(?:nr\.?)?\s*[:.]?\s*(?P<year>(?:19|20)?\d{2})\s*/\s*(?P<seq>\d{1,7})(?:\s*-\s*(?P<doc>\d{1,5}))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CaseReference:
    saksaar: int
    sakssekvensnummer: int
    journalpostnummer: int | None
    quoted: str

    def __str__(self) -> str:
        suffix = f"-{self.journalpostnummer}" if self.journalpostnummer else ""
        return f"{self.saksaar}/{self.sakssekvensnummer}{suffix}"


def _full_year(year: str) -> int:
    value = int(year)
    return value if len(year) == 4 else 2000 + value


def find_case_references(text: str) -> list[CaseReference]:
    """Every labelled case reference in the text, in order, without repeats."""
    found: dict[tuple[int, int, int | None], CaseReference] = {}
    for match in _REFERENCE.finditer(text):
        doc = match.group("doc")
        ref = CaseReference(
            saksaar=_full_year(match.group("year")),
            sakssekvensnummer=int(match.group("seq")),
            journalpostnummer=int(doc) if doc else None,
            quoted=match.group(0),
        )
        found.setdefault((ref.saksaar, ref.sakssekvensnummer, ref.journalpostnummer), ref)
    return list(found.values())
