"""Case references quoted in letters: "Deres ref. 2025/123-4", "Saksnr: 25/123", and who may quote them.

Pure functions; whether the case exists is the journal's question.

A case number is no secret: it stands in every letter the municipality
sends and in the public journal. So quoting one proves nothing about the
sender, and an anonymous e-mail quoting "Deres ref. 2026/1-1" must not join
that case as Journalført and go out in the public journal unseen. A letter
joins a quoted case on its own only from a party of that case: a sender
whose e-mail address or organisasjonsnummer is a korrespondansepart of the
journalpost that opened the case, or of one of its journalposts that has
been journaled (someone the case has written to or heard from). A letter
still awaiting review does not count, or an unknown sender's first letter,
placed in the case for review, would make its second one journaled; nor
does one that was rejected (Utgår). Anyone else, and a sender without
either, is an unknown sender: the letter is placed in the case it quotes
and waits for review (M), unless the records creator set
`quoted_case_unknown_sender = "journal"`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from noarkpipe.core.codes import Journalstatus
from noarkpipe.core.submission import Party

# The one grammar of a case reference. "Vår" also comes as "Var" from mail
# written without æøå and as "Vär" from OCR, which often reads å as ä.
DERES = "deres"
VAAR = "v[åaä]r"
CASE_NUMBER_PATTERN = r"(?<!\d)(?P<year>(?:19|20)?\d{2})\s*/\s*(?P<seq>\d{1,7})(?:\s*-\s*(?P<doc>\d{1,5}))?"
"""A case number on its own: saksår (2 or 4 digits) / sakssekvensnummer, optionally - journalpostnummer."""
CASE_NUMBER = re.compile(CASE_NUMBER_PATTERN)

_LABEL = (
    rf"(?:{DERES}\s+ref(?:eranse)?|{VAAR}\s+ref(?:eranse)?|ref(?:eranse)?|saksnr|saksnummer|sak|arkivsak|journalnr)"
)
# The label must start a word: "byggesak 24/12" names a property (gnr/bnr), not case 2024/12.
_REFERENCE = re.compile(r"(?<!\w)" + _LABEL + r"\.?\s*(?:nr\.?)?\s*[:.]?\s*" + CASE_NUMBER_PATTERN, re.IGNORECASE)


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


@dataclass(frozen=True)
class CaseParty:
    """A korrespondansepart of one of a case's journalposts, and where it stands."""

    email: str | None
    organisasjonsnummer: str | None
    journalstatus: str
    """Of the journalpost it is a party of."""
    opened_case: bool
    """That journalpost is the case's first."""

    def counts(self) -> bool:
        """Whether this party makes a sender known: it opened the case, or its letter was journaled."""
        if self.journalstatus == Journalstatus.utgaar.value:
            return False
        return self.opened_case or self.journalstatus != Journalstatus.midlertidig_registrering.value


def _address(email: str | None) -> str | None:
    value = (email or "").strip().casefold()
    return value if "@" in value else None


def _orgnr(number: str | None) -> str | None:
    digits = "".join(ch for ch in (number or "") if ch.isdigit())
    return digits if len(digits) == 9 else None


def is_party_of_case(sender: Party | None, parties: Iterable[CaseParty]) -> bool:
    """True when the sender is one of the case's parties, by the same e-mail address or organisasjonsnummer.

    A name alone never counts: anyone can write any name. A sender with
    neither address nor number (a letter without From) is no party of anything.
    """
    if sender is None:
        return False
    address, orgnr = _address(sender.email), _orgnr(sender.organisasjonsnummer)
    if address is None and orgnr is None:
        return False
    return any(
        (address is not None and _address(party.email) == address)
        or (orgnr is not None and _orgnr(party.organisasjonsnummer) == orgnr)
        for party in parties
        if party.counts()
    )


def describe_sender(sender: Party | None) -> str:
    """The sender as a review reason names it: its address or number, or that it has none."""
    if sender is None or (_address(sender.email) is None and _orgnr(sender.organisasjonsnummer) is None):
        return "a sender without e-mail address or organisasjonsnummer"
    if address := _address(sender.email):
        return f"the sender {address}"
    return f"the sender with organisasjonsnummer {_orgnr(sender.organisasjonsnummer)}"
