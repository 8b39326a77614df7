"""The stored data the public journal is made from, as the I/O edge reads it from the store.

Every stored string comes in through `clean`, before screening sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from noarkpipe.core.codes import SkjermingMetadata
from noarkpipe.xml.streaming import xml_safe

NAME_HIDING = "skjerming navn"
"""How every skjermingMetadata value that hides names begins."""


def clean(text: str | None) -> str | None:
    """Stored text as it can stand in XML, stripped; every stored string is read through this.

    Characters XML 1.0 cannot carry become spaces before screening looks at the
    text, so removing them later can never join the pieces of a number that
    screening saw apart.
    """
    return None if text is None else xml_safe(text).strip()


@dataclass(frozen=True, slots=True)
class StoredSkjerming:
    """The three screening columns as stored (skjermingMetadata: one M502 value per line)."""

    tilgangsrestriksjon: str | None
    skjermingshjemmel: str | None
    skjermingMetadata: str | None

    @property
    def screened(self) -> bool:
        return bool(self.tilgangsrestriksjon)

    def metadata(self) -> set[SkjermingMetadata]:
        values = set()
        for line in (self.skjermingMetadata or "").splitlines():
            try:
                values.add(SkjermingMetadata(line.strip()))
            except ValueError:
                continue
        return values

    def hides_names(self) -> bool:
        # Also a hand-typed line that is not an exact M502 value: fail closed.
        return NAME_HIDING in (self.skjermingMetadata or "").casefold()


@dataclass(frozen=True, slots=True)
class StoredPart:
    korrespondanseparttype: str
    korrespondansepartNavn: str
    organisasjonsnummer: str | None


@dataclass(frozen=True, slots=True)
class StoredRegistrering:
    """One journalpost with its saksmappe, parties and document titles, as stored."""

    journalpost_id: int
    saksmappe_id: int
    systemID: str
    journalaar: int
    journalsekvensnummer: int
    journalpostnummer: int
    journalposttype: str
    journaldato: date
    dokumentetsDato: date | None
    tittel: str
    offentligTittel: str | None
    skjerming: StoredSkjerming
    saksaar: int
    sakssekvensnummer: int
    saksmappe_tittel: str
    saksmappe_offentligTittel: str | None
    saksmappe_skjerming: StoredSkjerming
    klasseID: str | None
    korrespondanseparter: tuple[StoredPart, ...]
    dokument_titler: tuple[str, ...]

