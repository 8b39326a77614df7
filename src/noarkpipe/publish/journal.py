"""The public journal (offentlig journal / postliste): what the public may see, as XML and HTML.

Publishing screened information is the worst thing this system can do, so
every string takes the same path, and three independent checks stand between
the store and a published file:

1. `public_entries` builds each `PublicEntry` from the stored row. Titles start
   from the stored offentligTittel when the journalpost or saksmappe is
   screened; correspondence party names become `*****` when skjermingMetadata
   hides names. On top of what was stored, the screening decision is made
   again from the stored data with the screening rules (defence in depth: a
   row whose screening columns were never set, or set wrongly, is still
   screened), and every string goes through `screening.public_text` and then
   `screening.assert_public_safe` with the secrets of that entry.
2. Secrets are pooled per saksmappe. The public can line up all rows of a case
   by its case number, so a name screened in one journalpost is masked in every
   row of that case (its case title, other rows' titles and senders),
   including rows published on their own, or the unscreened rows would tell who
   the screened document is about.
3. The writers write to a temporary file, validate it against the official
   offentligJournal.xsd, and scan every character of the finished file for
   identity numbers (`find_identity_numbers`, any spacing). Only a file that
   passes is moved into place; otherwise it is deleted and
   `PublicJournalLeakError` / `SchemaValidationError` is raised, so a failed
   run never leaves a leaking or invalid file where a web server could serve it.

Which journalposter are published (`PUBLISHED_JOURNALSTATUS`): Journalført,
Ferdigstilt fra saksbehandler, Godkjent av leder, Ekspedert and Arkivert.
Left out are "Midlertidig registrering av innkommet dokument" (the review
queue: no person has checked the item, its classification or its screening
yet), "Utgår" (cancelled registrations) and "Reservert dokument" (a number held
for a document not yet written). It is an allow-list, so a status added later
is not published until someone decides it should be.

offentligJournal.xml, from the stored fields (v5.0 schema order):
- journalhode: journalStartDato/journalSluttDato = the requested journaldato
  range, seleksjon = a sentence saying which entries are included and that
  screened text is replaced by `*****`, antallJournalposter = the number of
  journalregistrering elements, arkivskaper = arkivskaperID/arkivskaperNavn
  (beskrivelse is optional and left out).
- journalregistrering/klasse is left out: it is optional, the postliste does
  not show it, and a classification may be by person (fødselsnummer as
  klassifikasjonstype).
- saksmappe: saksaar, sakssekvensnummer, offentligTittel = the public case title.
- journalpost: systemID, journalaar, journalsekvensnummer, journalpostnummer,
  offentligTittel (always, also when nothing is screened: it is the title the
  public sees), skjermingMetadata, journaldato, dokumentetsDato,
  tilgangsrestriksjon and skjermingshjemmel for screened entries, and the
  korrespondanseparter (type and public name).
  The schema allows one skjermingMetadata per journalpost, the store keeps
  several (one per line): the one closest to the journalpost is written
  (registrering title, then names); all of them still apply to what is masked. avskrivningsdato, avskrivningsmaate,
  referanseAvskrivesAvJournalpost and grad are not kept in the store and are
  left out. The schema needs at least one korrespondansepart: an entry without
  any gets one named "Ikke registrert".
- The schema needs at least one journalregistrering, so an empty period
  cannot be written as XML (`EmptyPublicJournalError`); the HTML says
  "Ingen journalposter i perioden" instead.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, BinaryIO, TypeVar

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from noarkpipe.core.identity import find_identity_numbers
from noarkpipe.classify.screening import (
    MASK,
    PublicField,
    PublicJournalLeakError,
    ScreeningDecision,
    ScreeningInput,
    ScreeningRuleSet,
    ScreeningSecrets,
    assert_public_safe,
    decide_screening,
    default_screening_rules,
    public_text,
)
from noarkpipe.errors import InvalidOutputError, SchemaValidationError, StoreError
from noarkpipe.core.submission import Party
from noarkpipe.core.codes import (
    Journalposttype,
    Journalstatus,
    Korrespondanseparttype,
    SkjermingMetadata,
)
from noarkpipe.xml.schemas import noark5_schema, safe_parser, validation_problems, xml_schema
from noarkpipe.store import tables

NAMESPACE = "http://www.arkivverket.no/standarder/noark5/offentligJournal"
OFFENTLIG_JOURNAL_SCHEMA = noark5_schema("offentligJournal", "v5.0")

PUBLISHED_JOURNALSTATUS = (
    Journalstatus.journalfoert,
    Journalstatus.ferdigstilt_fra_saksbehandler,
    Journalstatus.godkjent_av_leder,
    Journalstatus.ekspedert,
    Journalstatus.arkivert,
)

UNKNOWN_PART = "Ikke registrert"
NO_TITLE = "(uten tittel)"

_PAGE_SIZE = 500
# Cases whose pooled secrets are kept while streaming; a case seen again after
# falling out is simply screened again.
_CASE_CACHE_SIZE = 4096
_CHUNK = 1 << 16
# A number can be broken over a line break between any two of its digits; an
# HTML scan window ends on a line boundary and the next starts this many lines back.
_SCAN_OVERLAP_LINES = 16
# Beyond this size a schema error is reported without line numbers: finding
# them means loading the whole file, which the streaming check avoids.
_LOCATE_ERRORS_MAX_BYTES = 64 << 20

_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DECIMAL_DIGIT = re.compile(r"\d")
_NAME_HIDING = "skjerming navn"


class EmptyPublicJournalError(InvalidOutputError):
    """No journalpost in the period: offentligJournal.xsd needs at least one journalregistrering."""


# ---------------------------------------------------------------- what the public may see

_BUILT_BY_SCREENING = object()


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PublicKorrespondansepart(_Public):
    korrespondanseparttype: str = Field(min_length=1)
    korrespondansepartNavn: str = Field(min_length=1, description="the public name, or ***** when screened")


class PublicSkjerming(_Public):
    tilgangsrestriksjon: str = Field(min_length=1)
    skjermingshjemmel: str | None = None
    skjermingMetadata: tuple[SkjermingMetadata, ...] = ()


class PublicEntry(_Public):
    """One row of the postliste, as the public may see it.

    Only `public_entries` builds these (it passes a private validation context);
    anything else fails validation, so no code can put a stored title into the
    public journal without going through screening.
    """

    systemID: uuid.UUID = Field(description="generated by noarkpipe (uuid4), never holds data about anyone")
    journalaar: int
    journalsekvensnummer: int
    journalpostnummer: int
    journalposttype: str = Field(min_length=1)
    journaldato: date
    dokumentetsDato: date | None = None
    offentligTittel: str = Field(min_length=1)
    saksaar: int
    sakssekvensnummer: int
    saksmappeOffentligTittel: str = Field(min_length=1)
    korrespondanseparter: tuple[PublicKorrespondansepart, ...] = ()
    skjerming: PublicSkjerming | None = None

    @model_validator(mode="before")
    @classmethod
    def _built_by_public_entries(cls, data, info: ValidationInfo):
        if info.context is not _BUILT_BY_SCREENING:
            raise ValueError("a PublicEntry is only built by public_entries(), which applies screening")
        return data

    @property
    def skjermet(self) -> bool:
        return self.skjerming is not None

    @property
    def journalnummer(self) -> str:
        return f"{self.journalaar}/{self.journalsekvensnummer}"

    @property
    def saksnummer(self) -> str:
        return f"{self.saksaar}/{self.sakssekvensnummer}"


class PublicJournalHeader(_Public):
    """Whose journal and which journaldato range (both ends included)."""

    arkivskaperID: str = Field(min_length=1)
    arkivskaperNavn: str = Field(min_length=1)
    journalStartDato: date
    journalSluttDato: date
    seleksjon: str | None = None
    """What the entries are, when not the postliste's published statuses (an extract's public journal)."""

    @model_validator(mode="after")
    def _range(self):
        if self.journalSluttDato < self.journalStartDato:
            raise ValueError(
                f"the period ends ({self.journalSluttDato}) before it starts ({self.journalStartDato})"
            )
        return self


class PublicJournalSummary(_Public):
    """What a writer published."""

    antall: int = Field(description="journalposter in the file")
    skjermet: int = Field(description="of which screened")


# ---------------------------------------------------------------- stored data (read by the I/O edge)


@dataclass(frozen=True, slots=True)
class _StoredSkjerming:
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
        return _NAME_HIDING in (self.skjermingMetadata or "").casefold()


@dataclass(frozen=True, slots=True)
class _StoredPart:
    korrespondanseparttype: str
    korrespondansepartNavn: str
    organisasjonsnummer: str | None


@dataclass(frozen=True, slots=True)
class _StoredRegistrering:
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
    skjerming: _StoredSkjerming
    saksaar: int
    sakssekvensnummer: int
    saksmappe_tittel: str
    saksmappe_offentligTittel: str | None
    saksmappe_skjerming: _StoredSkjerming
    klasseID: str | None
    korrespondanseparter: tuple[_StoredPart, ...]
    dokument_titler: tuple[str, ...]


# ---------------------------------------------------------------- screening decisions (pure)


@dataclass(frozen=True, slots=True)
class _RowScreening:
    skjerming: PublicSkjerming | None
    metadata: frozenset[SkjermingMetadata]
    hides_names: bool
    secrets: ScreeningSecrets


@dataclass(frozen=True, slots=True)
class _CaseScreening:
    offentligTittel: str
    skjerming: PublicSkjerming | None
    secrets: ScreeningSecrets
    rows: dict[int, _RowScreening]  # by journalpost id


def _clean(text: str | None) -> str | None:
    """Stored text as it can stand in XML, stripped; every stored string is read through this.

    Characters XML 1.0 cannot carry become spaces before screening looks at the
    text, so removing them later can never join the pieces of a number that
    screening saw apart.
    """
    return None if text is None else _XML_ILLEGAL.sub(" ", text).strip()


def _may_hold_number(text: str | None) -> bool:
    # A cheap first look: no identity number is written with fewer than eleven digits.
    return bool(text) and len(_DECIMAL_DIGIT.findall(unicodedata.normalize("NFKC", text))) >= 11


def _numbers_in(*texts: str | None) -> list[str]:
    return [found.number for text in texts if _may_hold_number(text) for found in find_identity_numbers(text)]


def _merge(*secrets: ScreeningSecrets) -> ScreeningSecrets:
    return ScreeningSecrets(
        identity_numbers=tuple(dict.fromkeys(n for s in secrets for n in s.identity_numbers)),
        names=tuple(dict.fromkeys(n for s in secrets for n in s.names)),
        keywords=tuple(dict.fromkeys(k for s in secrets for k in s.keywords)),
        patterns=tuple(dict.fromkeys(p for s in secrets for p in s.patterns)),
    )


def _ordered(metadata: Iterable[SkjermingMetadata]) -> tuple[SkjermingMetadata, ...]:
    present = set(metadata)
    return tuple(m for m in SkjermingMetadata if m in present)


def _private_names(parts: Iterable[_StoredPart]) -> tuple[str, ...]:
    # As screening does for a sender: a party without organisasjonsnummer may be a private person.
    return tuple(
        p.korrespondansepartNavn for p in parts if not p.organisasjonsnummer and p.korrespondansepartNavn
    )


def _stored_skjerming(stored: _StoredSkjerming, fallback: Sequence[SkjermingMetadata]) -> PublicSkjerming:
    return PublicSkjerming(
        tilgangsrestriksjon=stored.tilgangsrestriksjon,
        skjermingshjemmel=stored.skjermingshjemmel or None,
        skjermingMetadata=_ordered(stored.metadata()) or tuple(fallback),
    )


def _identity_skjerming(rules: ScreeningRuleSet) -> PublicSkjerming:
    table = rules.identity_number
    return PublicSkjerming(
        tilgangsrestriksjon=table.tilgangsrestriksjon,
        skjermingshjemmel=table.skjermingshjemmel,
        skjermingMetadata=table.skjermingMetadata,
    )


def _row_screening(row: _StoredRegistrering, rules: ScreeningRuleSet) -> _RowScreening:
    """The stored screening of a journalpost, joined with a decision made again from its stored data."""
    parts = row.korrespondanseparter
    sender = next((p for p in parts if p.korrespondanseparttype == Korrespondanseparttype.avsender), None)
    sender = sender or (parts[0] if parts else None)
    recomputed = decide_screening(
        ScreeningInput(
            tittel=row.tittel,
            subject=row.saksmappe_tittel,
            attachment_names=row.dokument_titler,
            klasse_id=row.klasseID,
            sender=(
                Party(name=sender.korrespondansepartNavn, organisasjonsnummer=sender.organisasjonsnummer)
                if sender
                else None
            ),
            private_names=_private_names(p for p in parts if p is not sender),
        ),
        rules,
    )
    # Everything else this row can emit (the titles were read by screening):
    # a sender name or a stored offentligTittel can hold a number too.
    numbers = list(recomputed.secrets.identity_numbers) + _numbers_in(
        row.offentligTittel,
        row.saksmappe_offentligTittel,
        row.skjerming.skjermingshjemmel,
        *(p.korrespondansepartNavn for p in parts),
    )
    metadata = row.skjerming.metadata() | set(recomputed.skjermingMetadata)
    if numbers:
        metadata |= set(rules.identity_number.skjermingMetadata)
    hides_names = row.skjerming.hides_names() or any(
        m.value.casefold().startswith(_NAME_HIDING) for m in metadata
    )

    if row.skjerming.screened:
        skjerming = _stored_skjerming(row.skjerming, _ordered(metadata))
    elif recomputed.screened:
        skjerming = PublicSkjerming(
            tilgangsrestriksjon=recomputed.tilgangsrestriksjon,
            skjermingshjemmel=recomputed.skjermingshjemmel,
            skjermingMetadata=_ordered(metadata),
        )
    elif numbers:
        skjerming = _identity_skjerming(rules)
    else:
        skjerming = None

    secrets = _merge(
        recomputed.secrets,
        ScreeningSecrets(
            identity_numbers=tuple(numbers),
            names=_private_names(parts) if hides_names else (),
        ),
    )
    return _RowScreening(skjerming, frozenset(metadata), hides_names, secrets)


def _decision(metadata: Iterable[SkjermingMetadata], secrets: ScreeningSecrets) -> ScreeningDecision:
    """A decision that only carries what `public_text` needs: what is hidden, and the secrets."""
    return ScreeningDecision(
        screened=True,
        reasons=(),
        skjermingMetadata=_ordered(metadata),
        offentlig_tittel=MASK,
        secrets=secrets,
    )


def _public(text: str, decision: ScreeningDecision, field: PublicField) -> str:
    """The one way a string reaches the public journal: screened, then checked."""
    shown = public_text(text, decision, field)
    assert_public_safe(shown, decision.secrets)
    return shown


def _baseline_title(tittel: str, offentlig: str | None, stored: _StoredSkjerming) -> str:
    """The title the public would see by the stored screening alone."""
    # offentligTittel is by definition the public title; a screened entry that
    # lacks one shows nothing of its title.
    return offentlig or (MASK if stored.screened else tittel or NO_TITLE)


def _case_screening(rows: Sequence[_StoredRegistrering], rules: ScreeningRuleSet) -> _CaseScreening:
    """The public case title and the secrets of every journalpost in one saksmappe."""
    first = rows[0]
    stored = first.saksmappe_skjerming
    screenings = {row.journalpost_id: _row_screening(row, rules) for row in rows}
    names = ()
    if stored.hides_names():
        names = tuple(name for row in rows for name in _private_names(row.korrespondanseparter))
    # Each row's screening already holds the numbers of the case title.
    secrets = _merge(ScreeningSecrets(names=names), *(s.secrets for s in screenings.values()))
    metadata = stored.metadata().union(*(s.metadata for s in screenings.values()))
    skjerming = _stored_skjerming(stored, _ordered(metadata)) if stored.screened else None
    skjerming = skjerming or next((s.skjerming for s in screenings.values() if s.skjerming), None)
    baseline = _baseline_title(first.saksmappe_tittel, first.saksmappe_offentligTittel, stored)
    tittel = _public(baseline, _decision(metadata, secrets), PublicField.tittel_mappe)
    if tittel != baseline and skjerming is None:
        skjerming = _identity_skjerming(rules)
    return _CaseScreening(tittel, skjerming, secrets, screenings)


_PART_FIELD = {
    Korrespondanseparttype.avsender: PublicField.navn_avsender,
    Korrespondanseparttype.intern_avsender: PublicField.navn_avsender,
    Korrespondanseparttype.mottaker: PublicField.navn_mottaker,
    Korrespondanseparttype.kopimottaker: PublicField.navn_mottaker,
    Korrespondanseparttype.gruppemottaker: PublicField.navn_mottaker,
    Korrespondanseparttype.intern_mottaker: PublicField.navn_mottaker,
    Korrespondanseparttype.intern_kopimottaker: PublicField.navn_mottaker,
}


def _code(value: str, codes: type, decision: ScreeningDecision) -> str:
    # A code-list value is a constant of the standard, not data about anyone;
    # anything else stored there is free text and screened like it.
    return value if value in {c.value for c in codes} else _public(value, decision, PublicField.other) or MASK


def _public_entry(
    row: _StoredRegistrering, own: _RowScreening, case: _CaseScreening, rules: ScreeningRuleSet
) -> PublicEntry:
    """One postliste row: the stored screening, the recomputed one and the case's secrets applied."""
    secrets = _merge(own.secrets, case.secrets)
    decision = _decision(own.metadata, secrets)
    baseline = _baseline_title(row.tittel, row.offentligTittel, row.skjerming)
    tittel = _public(baseline, decision, PublicField.tittel_registrering)
    # The case title was screened with the case's secrets; this row's own go over it too.
    saksmappe_tittel = _public(case.offentligTittel, decision, PublicField.tittel_mappe)
    # A case title masked by the case's secrets screens every row showing it.
    altered = tittel != baseline or saksmappe_tittel != _baseline_title(
        row.saksmappe_tittel, row.saksmappe_offentligTittel, row.saksmappe_skjerming
    )
    parts = []
    for part in row.korrespondanseparter:
        raw = part.korrespondansepartNavn
        if own.hides_names:
            # Deliberately wider than M502's per-role values: once any name is
            # hidden, every party of the entry is, organisations included.
            navn = MASK
        else:
            navn = _public(raw, decision, _PART_FIELD.get(part.korrespondanseparttype, PublicField.navn_part))
        altered = altered or navn != raw
        parts.append(
            {
                "korrespondanseparttype": _code(
                    part.korrespondanseparttype, Korrespondanseparttype, decision
                ),
                "korrespondansepartNavn": navn or UNKNOWN_PART,
            }
        )
    skjerming = own.skjerming
    if skjerming is None and altered:
        skjerming = case.skjerming or _identity_skjerming(rules)
    if skjerming is not None:
        skjerming = PublicSkjerming(
            tilgangsrestriksjon=_public(skjerming.tilgangsrestriksjon, decision, PublicField.other),
            skjermingshjemmel=(
                _public(skjerming.skjermingshjemmel, decision, PublicField.other)
                if skjerming.skjermingshjemmel
                else None
            ),
            skjermingMetadata=skjerming.skjermingMetadata,
        )
    return PublicEntry.model_validate(
        {
            "systemID": row.systemID,
            "journalaar": row.journalaar,
            "journalsekvensnummer": row.journalsekvensnummer,
            "journalpostnummer": row.journalpostnummer,
            "journalposttype": _code(row.journalposttype, Journalposttype, decision),
            "journaldato": row.journaldato,
            "dokumentetsDato": row.dokumentetsDato,
            "offentligTittel": tittel,
            "saksaar": row.saksaar,
            "sakssekvensnummer": row.sakssekvensnummer,
            "saksmappeOffentligTittel": saksmappe_tittel,
            "korrespondanseparter": parts,
            "skjerming": skjerming,
        },
        context=_BUILT_BY_SCREENING,
    )


# ---------------------------------------------------------------- reading the store


def _load(session: Session, condition) -> list[_StoredRegistrering]:
    """The journalposter matching `condition`, with saksmappe, klasse, parties and document titles."""
    J, S, K = tables.Journalpost, tables.Saksmappe, tables.Klasse
    P, D = tables.Korrespondansepart, tables.Dokumentbeskrivelse
    rows = session.execute(
        select(
            J.id,
            J.saksmappe_id,
            J.systemID,
            J.journalaar,
            J.journalsekvensnummer,
            J.journalpostnummer,
            J.journalposttype,
            J.journaldato,
            J.dokumentetsDato,
            J.tittel,
            J.offentligTittel,
            J.tilgangsrestriksjon,
            J.skjermingshjemmel,
            J.skjermingMetadata,
            S.saksaar,
            S.sakssekvensnummer,
            S.tittel.label("s_tittel"),
            S.offentligTittel.label("s_offentlig"),
            S.tilgangsrestriksjon.label("s_tilgang"),
            S.skjermingshjemmel.label("s_hjemmel"),
            S.skjermingMetadata.label("s_metadata"),
            K.klasseID,
        )
        .join(S, J.saksmappe_id == S.id)
        .outerjoin(K, S.klasse_id == K.id)
        .where(condition)
        .order_by(J.journalaar, J.journalsekvensnummer)
    ).all()
    parts: dict[int, list[_StoredPart]] = defaultdict(list)
    for jp_id, kind, navn, orgnr in session.execute(
        select(P.journalpost_id, P.korrespondanseparttype, P.korrespondansepartNavn, P.organisasjonsnummer)
        .join(J, P.journalpost_id == J.id)
        .where(condition)
        .order_by(P.id)
    ):
        parts[jp_id].append(_StoredPart(_clean(kind), _clean(navn), orgnr))
    titles: dict[int, list[str]] = defaultdict(list)
    for jp_id, tittel in session.execute(
        select(D.journalpost_id, D.tittel)
        .join(J, D.journalpost_id == J.id)
        .where(condition)
        .order_by(D.dokumentnummer)
    ):
        titles[jp_id].append(_clean(tittel))
    return [
        _StoredRegistrering(
            journalpost_id=r.id,
            saksmappe_id=r.saksmappe_id,
            systemID=r.systemID,
            journalaar=r.journalaar,
            journalsekvensnummer=r.journalsekvensnummer,
            journalpostnummer=r.journalpostnummer,
            journalposttype=_clean(r.journalposttype),
            journaldato=r.journaldato,
            dokumentetsDato=r.dokumentetsDato,
            tittel=_clean(r.tittel),
            offentligTittel=_clean(r.offentligTittel),
            skjerming=_StoredSkjerming(
                _clean(r.tilgangsrestriksjon), _clean(r.skjermingshjemmel), r.skjermingMetadata
            ),
            saksaar=r.saksaar,
            sakssekvensnummer=r.sakssekvensnummer,
            saksmappe_tittel=_clean(r.s_tittel),
            saksmappe_offentligTittel=_clean(r.s_offentlig),
            saksmappe_skjerming=_StoredSkjerming(_clean(r.s_tilgang), _clean(r.s_hjemmel), r.s_metadata),
            klasseID=r.klasseID,
            korrespondanseparter=tuple(parts[r.id]),
            dokument_titler=tuple(titles[r.id]),
        )
        for r in rows
    ]


@contextmanager
def _naming(what: str) -> Iterator[None]:
    """Say which registration a leak was caught in; its number is public, the secret is not named."""
    try:
        yield
    except PublicJournalLeakError as exc:
        raise PublicJournalLeakError(f"{what}: {exc.message}", hint=exc.hint) from exc


def public_entries(
    session: Session,
    arkivskaper_id: int,
    date_from: date,
    date_to: date,
    *,
    rules: ScreeningRuleSet | None = None,
    arkivdel_ids: Sequence[int] | None = None,
    journalstatus: Sequence[Journalstatus] = PUBLISHED_JOURNALSTATUS,
) -> Iterator[PublicEntry]:
    """The postliste of one arkivskaper (table id) for journaldato date_from..date_to, both included.

    Ordered by journalaar and journalsekvensnummer; only PUBLISHED_JOURNALSTATUS.
    `rules` defaults to the bundled standard rules. `arkivdel_ids` limits it to
    the cases of those arkivdeler (an extract's offentligJournal.xml), and
    `journalstatus` widens the statuses (an extract's public journal holds
    every journalpost of its running journal, screened alike). Read in
    pages, so memory stays flat however long the period. Raises
    PublicJournalLeakError if a string would still reveal screened information
    after screening.
    """
    if date_to < date_from:
        raise ValueError(f"the period ends ({date_to}) before it starts ({date_from})")
    rules = rules or default_screening_rules()
    J = tables.Journalpost
    selected = and_(
        J.arkivskaper_id == arkivskaper_id,
        J.journaldato >= date_from,
        J.journaldato <= date_to,
        J.journalstatus.in_([s.value for s in journalstatus]),
    )
    if arkivdel_ids is not None:
        S = tables.Saksmappe
        selected = and_(selected, J.saksmappe_id.in_(select(S.id).where(S.arkivdel_id.in_(list(arkivdel_ids)))))
    cases: OrderedDict[int, _CaseScreening] = OrderedDict()
    after: tuple[int, int] | None = None
    while True:
        page = select(J.id).where(selected).order_by(J.journalaar, J.journalsekvensnummer).limit(_PAGE_SIZE)
        if after is not None:
            page = page.where(
                or_(
                    J.journalaar > after[0], and_(J.journalaar == after[0], J.journalsekvensnummer > after[1])
                )
            )
        ids = session.scalars(page).all()
        if not ids:
            return
        rows = _load(session, J.id.in_(ids))
        missing = sorted({row.saksmappe_id for row in rows} - cases.keys())
        if missing:
            by_case: dict[int, list[_StoredRegistrering]] = defaultdict(list)
            for row in _load(session, J.saksmappe_id.in_(missing)):
                by_case[row.saksmappe_id].append(row)
            for case_id in missing:
                case_rows = by_case[case_id]
                with _naming(f"saksmappe {case_rows[0].saksaar}/{case_rows[0].sakssekvensnummer}"):
                    cases[case_id] = _case_screening(case_rows, rules)
        for row in rows:
            case = cases[row.saksmappe_id]
            cases.move_to_end(row.saksmappe_id)
            # A row journaled after its case was read is screened on its own.
            with _naming(f"journalpost {row.journalaar}/{row.journalsekvensnummer}"):
                own = case.rows.get(row.journalpost_id) or _row_screening(row, rules)
                entry = _public_entry(row, own, case, rules)
            yield entry
        while len(cases) > _CASE_CACHE_SIZE:
            cases.popitem(last=False)
        after = (rows[-1].journalaar, rows[-1].journalsekvensnummer)


def public_journal_header(
    session: Session, arkivskaper_id: int, date_from: date, date_to: date
) -> PublicJournalHeader:
    """The journalhode data for `write_offentlig_journal` and `write_html`."""
    arkivskaper = session.get(tables.Arkivskaper, arkivskaper_id)
    if arkivskaper is None:
        raise StoreError(f"no arkivskaper with id {arkivskaper_id} in the journal store")
    return PublicJournalHeader(
        arkivskaperID=arkivskaper.arkivskaperID,
        arkivskaperNavn=arkivskaper.arkivskaperNavn,
        journalStartDato=date_from,
        journalSluttDato=date_to,
    )


# ---------------------------------------------------------------- writing and checking files

_T = TypeVar("_T")
_NSMAP = {None: NAMESPACE}
# The options of schemas.safe_parser(). That parser cannot check a file as a
# stream: lxml silently skips schema validation on a parser with a target, so
# the streaming check uses iterparse with the same options instead.
_SAFE_PARSING = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}


def _publish(
    out: BinaryIO | Path | str,
    write: Callable[[IO[bytes]], _T],
    check: Callable[[IO[bytes], str], object],
) -> _T:
    """Write to a temporary file, check it, and only then hand it over.

    A path gets the file by an atomic rename; a stream gets the checked bytes
    copied. Whatever fails on the way, the temporary file is removed, so there
    is never an unchecked public journal to serve.
    """
    if isinstance(out, (str, os.PathLike)):
        target = Path(out)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with open(temp, "xb") as handle:
                result = write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            with open(temp, "rb") as handle:
                check(handle, target.name)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return result
    with tempfile.TemporaryFile() as temp:
        result = write(temp)
        temp.seek(0)
        check(temp, getattr(out, "name", "output"))
        temp.seek(0)
        shutil.copyfileobj(temp, out)
    return result


def _header_text(text: str) -> str:
    # Header values come from the configuration, not from mail, but are checked like everything else.
    text = _clean(text) or ""
    assert_public_safe(text, ScreeningSecrets())
    return text


def _leaks(text: str | None, first_line: int) -> list[str]:
    """'<kind> on line N' for every identity number in the text; never the number."""
    if not _may_hold_number(text):
        return []
    return [
        f"a {m.kind} on line {first_line + text.count(chr(10), 0, m.start)}"
        for m in find_identity_numbers(text)
    ]


def _refuse(name: str, leaks: list[str]) -> PublicJournalLeakError:
    return PublicJournalLeakError(
        f"{name} would reveal screened information ({'; '.join(leaks[:5])}): nothing was published",
        hint="this is a bug in noarkpipe's screening; report it and do not publish this period by hand",
    )


def _copy(source: IO[bytes], target: IO[bytes], length: int) -> None:
    while length > 0:
        chunk = source.read(min(_CHUNK, length))
        if not chunk:
            raise InvalidOutputError("the spool file of the public journal ended early")
        target.write(chunk)
        length -= len(chunk)


# ---- offentligJournal.xml


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _leaf(xf, name: str, value: object) -> None:
    if value is None:
        return
    with xf.element(_q(name)):
        xf.write(value.isoformat() if isinstance(value, date) else str(value))


def _seleksjon(header: PublicJournalHeader) -> str:
    if header.seleksjon:
        return header.seleksjon
    statuses = ", ".join(s.value for s in PUBLISHED_JOURNALSTATUS)
    return (
        f"Journalposter med journaldato fra og med {header.journalStartDato.isoformat()} "
        f"til og med {header.journalSluttDato.isoformat()} og journalstatus {statuses}. "
        f"Skjermede opplysninger er erstattet med {MASK}."
    )


def _write_journalhode(xf, header: PublicJournalHeader, antall: int) -> None:
    with xf.element(_q("journalhode")):
        _leaf(xf, "journalStartDato", header.journalStartDato)
        _leaf(xf, "journalSluttDato", header.journalSluttDato)
        _leaf(xf, "seleksjon", _seleksjon(header))
        _leaf(xf, "antallJournalposter", antall)
        with xf.element(_q("arkivskaper")):
            _leaf(xf, "arkivskaperID", _header_text(header.arkivskaperID))
            _leaf(xf, "arkivskaperNavn", _header_text(header.arkivskaperNavn))


# The schema takes one skjermingMetadata per journalpost, so the value closest
# to the journalpost itself is written; the others were applied all the same.
_JOURNALPOST_METADATA_FIRST = (
    SkjermingMetadata.tittel_registrering_unntatt_foerste_linje,
    SkjermingMetadata.tittel_registrering_utvalgte_ord,
    SkjermingMetadata.navn_avsender,
    SkjermingMetadata.navn_mottaker,
    SkjermingMetadata.navn_part,
)


def _journalpost_metadata(values: Sequence[SkjermingMetadata]) -> str:
    return next((m for m in _JOURNALPOST_METADATA_FIRST if m in values), values[0]).value


def _write_journalregistrering(xf, entry: PublicEntry) -> None:
    """One entry, elements in the sequence order of offentligJournal.xsd v5.0."""
    skjerming = entry.skjerming
    with xf.element(_q("journalregistrering")):
        with xf.element(_q("saksmappe")):
            _leaf(xf, "saksaar", entry.saksaar)
            _leaf(xf, "sakssekvensnummer", entry.sakssekvensnummer)
            _leaf(xf, "offentligTittel", entry.saksmappeOffentligTittel)
        with xf.element(_q("journalpost")):
            _leaf(xf, "systemID", entry.systemID)
            _leaf(xf, "journalaar", entry.journalaar)
            _leaf(xf, "journalsekvensnummer", entry.journalsekvensnummer)
            _leaf(xf, "journalpostnummer", entry.journalpostnummer)
            _leaf(xf, "offentligTittel", entry.offentligTittel)
            if skjerming and skjerming.skjermingMetadata:
                _leaf(xf, "skjermingMetadata", _journalpost_metadata(skjerming.skjermingMetadata))
            _leaf(xf, "journaldato", entry.journaldato)
            _leaf(xf, "dokumentetsDato", entry.dokumentetsDato)
            if skjerming:
                _leaf(xf, "tilgangsrestriksjon", skjerming.tilgangsrestriksjon)
                _leaf(xf, "skjermingshjemmel", skjerming.skjermingshjemmel)
            parts = entry.korrespondanseparter or (
                PublicKorrespondansepart(
                    korrespondanseparttype=(
                        Korrespondanseparttype.avsender
                        if entry.journalposttype == Journalposttype.inngaaende_dokument
                        else Korrespondanseparttype.mottaker
                    ),
                    korrespondansepartNavn=UNKNOWN_PART,
                ),
            )
            for part in parts:
                with xf.element(_q("korrespondansepart")):
                    _leaf(xf, "korrespondanseparttype", part.korrespondanseparttype)
                    _leaf(xf, "korrespondansepartNavn", part.korrespondansepartNavn)
    # One entry per line, so a schema error's line number finds the entry.
    xf.write("\n")


def _write_xml(
    entries: Iterable[PublicEntry], handle: IO[bytes], header: PublicJournalHeader
) -> PublicJournalSummary:
    # antallJournalposter comes before the entries, so they are spooled first
    # and counted: memory stays flat however many there are.
    with tempfile.TemporaryFile() as spool:
        antall = skjermet = 0
        with etree.xmlfile(spool, encoding="UTF-8") as xf, xf.element(_q("offentligJournal"), nsmap=_NSMAP):
            xf.flush()
            start = spool.tell()
            for entry in entries:
                _write_journalregistrering(xf, entry)
                antall += 1
                skjermet += entry.skjermet
            xf.flush()
            end = spool.tell()
        if not antall:
            raise EmptyPublicJournalError(
                f"no journalpost of {header.arkivskaperNavn} has a journaldato from "
                f"{header.journalStartDato} to {header.journalSluttDato}; offentligJournal.xml "
                "needs at least one",
                hint="publish a period with entries, or only the HTML postliste",
            )
        spool.seek(start)
        with etree.xmlfile(handle, encoding="UTF-8") as xf:
            xf.write_declaration()
            with xf.element(_q("offentligJournal"), nsmap=_NSMAP):
                xf.write("\n")
                _write_journalhode(xf, header, antall)
                xf.write("\n")
                xf.flush()
                _copy(spool, handle, end - start)
    return PublicJournalSummary(antall=antall, skjermet=skjermet)


def _schema_problems(stream: IO[bytes], error: etree.XMLSyntaxError) -> list[str]:
    """Each problem as 'line N: message'.

    Validation while streaming reports no line numbers, so a file small enough
    is validated once more in memory to find them.
    """
    stream.seek(0, os.SEEK_END)
    if stream.tell() <= _LOCATE_ERRORS_MAX_BYTES:
        stream.seek(0)
        located = validation_problems(etree.parse(stream, safe_parser()), OFFENTLIG_JOURNAL_SCHEMA)
        if located:
            return located
    return list(dict.fromkeys(f"line ?: {e.message}" for e in error.error_log)) or [f"line ?: {error}"]


def _check_xml(stream: IO[bytes], name: str) -> PublicJournalSummary:
    leaks: list[str] = []
    antall = skjermet = 0
    declared = None
    try:
        events = etree.iterparse(
            stream, events=("end",), schema=xml_schema(OFFENTLIG_JOURNAL_SCHEMA), **_SAFE_PARSING
        )
        for _, element in events:
            local = etree.QName(element).localname
            # systemID is a UUID (the schema holds it to the pattern); its hex
            # digits can form a valid number by chance without revealing anyone's.
            if local != "systemID":
                for text in (element.text, *element.attrib.values()):
                    leaks += [f"{leak} (<{local}>)" for leak in _leaks(text, element.sourceline or 0)]
            if local == "antallJournalposter":
                declared = element.text
            elif local == "tilgangsrestriksjon":
                skjermet += 1
            elif local == "journalregistrering":
                antall += 1
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
    except etree.XMLSyntaxError as exc:
        if leaks:
            raise _refuse(name, leaks) from None
        if any(e.domain_name == "SCHEMASV" for e in exc.error_log):
            raise SchemaValidationError(OFFENTLIG_JOURNAL_SCHEMA, _schema_problems(stream, exc)) from None
        raise InvalidOutputError(f"{name} is not well-formed XML: {exc}") from None
    if leaks:
        raise _refuse(name, leaks)
    if declared is None or int(declared) != antall:
        raise InvalidOutputError(f"{name}: antallJournalposter is {declared}, the file has {antall} entries")
    return PublicJournalSummary(antall=antall, skjermet=skjermet)


def write_offentlig_journal(
    entries: Iterable[PublicEntry], out: BinaryIO | Path | str, *, header: PublicJournalHeader
) -> PublicJournalSummary:
    """Write offentligJournal.xml (Noark 5 v5.0) for `entries` (from `public_entries`).

    The file is checked before it is handed over: valid against the official
    schema (SchemaValidationError with line numbers otherwise) and free of
    identity numbers (PublicJournalLeakError otherwise). A path is written by
    an atomic rename and left untouched when anything fails.
    """
    return _publish(out, lambda handle: _write_xml(entries, handle, header), _check_xml)


def check_offentlig_journal(path: Path | str) -> PublicJournalSummary:
    """Check a written offentligJournal.xml as `write_offentlig_journal` does, streaming."""
    with open(path, "rb") as stream:
        return _check_xml(stream, Path(path).name)


# ---- postliste.html

_TYPE_CODE = {
    Journalposttype.inngaaende_dokument: "I",
    Journalposttype.utgaaende_dokument: "U",
    Journalposttype.organinternt_dokument_for_oppfoelging: "N",
    Journalposttype.organinternt_dokument_uten_oppfoelging: "X",
    Journalposttype.saksframlegg: "S",
}
_MAIN_ROLES = {Korrespondanseparttype.avsender, Korrespondanseparttype.mottaker}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       margin: 1.5rem; color: #1a1a1a; line-height: 1.4; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
.skaper { font-size: 1.15rem; margin: 0; }
.periode, .oppsummering { margin: .25rem 0; }
.forklaring { color: #444; font-size: .9rem; max-width: 60rem; }
.tabell { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid #ccc; }
thead th { background: #eef1f4; border-bottom: 2px solid #888; white-space: nowrap; }
td.tall { white-space: nowrap; }
.tittel { white-space: pre-line; font-weight: 600; }
.sak { color: #444; white-space: pre-line; }
.skjermet { display: inline-block; margin-top: .2rem; padding: 0 .35rem; border: 1px solid #a33;
            border-radius: .2rem; color: #a33; font-size: .85rem; }
.rolle { color: #555; }
@media print { body { margin: 0; } thead { display: table-header-group; } tr { break-inside: avoid; } }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _nb_date(value: date) -> str:
    return f"{value:%d.%m.%Y}"


def _html_row(entry: PublicEntry) -> str:
    marker = ""
    if entry.skjerming:
        hjemmel = entry.skjerming.skjermingshjemmel
        marker = f'<div class="skjermet">Skjermet{f" – {_e(hjemmel)}" if hjemmel else ""}</div>'
    # Each text in a block of its own: no two texts run together on screen
    # into something neither of them holds (the leak scan reads them apart).
    title = (
        f'<div class="tittel">{_e(entry.offentligTittel)}</div>'
        f'<div class="sak">Sak: {_e(entry.saksmappeOffentligTittel)}</div>{marker}'
    )
    parts = "".join(
        f"<div>{_e(p.korrespondansepartNavn)}"
        + (
            ""
            if p.korrespondanseparttype in _MAIN_ROLES
            else f' <span class="rolle">({_e(p.korrespondanseparttype)})</span>'
        )
        + "</div>"
        for p in entry.korrespondanseparter
    )
    code = _TYPE_CODE.get(entry.journalposttype)
    kind = f'<abbr title="{_e(entry.journalposttype)}">{code}</abbr>' if code else _e(entry.journalposttype)
    row_class = ' class="skjermet-rad"' if entry.skjermet else ""
    return (
        f'<tr{row_class}><td class="tall">{_nb_date(entry.journaldato)}</td>'
        f'<td class="tall">{_e(entry.journalnummer)}</td><td class="tall">{_e(entry.saksnummer)}</td>'
        f'<td class="tall">{entry.journalpostnummer}</td><td>{title}</td><td>{parts}</td><td>{kind}</td></tr>\n'
    )


def _html_head(header: PublicJournalHeader, summary: PublicJournalSummary) -> str:
    navn = _e(_header_text(header.arkivskaperNavn))
    start, end = header.journalStartDato, header.journalSluttDato
    period = _nb_date(start) if start == end else f"{_nb_date(start)} – {_nb_date(end)}"
    noun = "journalpost" if summary.antall == 1 else "journalposter"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="nb">\n<head>\n<meta charset="utf-8">\n'
        # No scripts, no external resources: even injected markup could not run or call out.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Offentlig journal – {navn} – {period}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<h1>Offentlig journal</h1>\n<p class="skaper">{navn}</p>\n'
        f'<p class="periode">Journaldato {period}</p>\n'
        f'<p class="oppsummering">{summary.antall} {noun}, {summary.skjermet} skjermet.</p>\n'
        f'<p class="forklaring">Opplysninger som er unntatt offentlighet, er erstattet med {MASK}. '
        "Skjermede journalposter er merket «Skjermet» med hjemmel. "
        "Type: I = inngående, U = utgående, N = organinternt for oppfølging, "
        "X = organinternt uten oppfølging, S = saksframlegg.</p>\n"
    )


_TABLE_HEAD = (
    '<div class="tabell"><table>\n<thead><tr><th scope="col">Journaldato</th><th scope="col">Journalnr.</th>'
    '<th scope="col">Saksnr.</th><th scope="col">Dok.nr.</th><th scope="col">Tittel</th>'
    '<th scope="col">Avsender/mottaker</th><th scope="col">Type</th></tr></thead>\n<tbody>\n'
)


def _write_html(
    entries: Iterable[PublicEntry], handle: IO[bytes], header: PublicJournalHeader
) -> PublicJournalSummary:
    # The summary comes before the rows: rows are spooled and counted first.
    with tempfile.TemporaryFile() as spool:
        antall = skjermet = 0
        for entry in entries:
            spool.write(_html_row(entry).encode("utf-8"))
            antall += 1
            skjermet += entry.skjermet
        summary = PublicJournalSummary(antall=antall, skjermet=skjermet)
        handle.write(_html_head(header, summary).encode("utf-8"))
        if antall:
            handle.write(_TABLE_HEAD.encode("utf-8"))
            length = spool.tell()
            spool.seek(0)
            _copy(spool, handle, length)
            handle.write(b"</tbody>\n</table></div>\n")
        else:
            handle.write(b"<p>Ingen journalposter i perioden.</p>\n")
        handle.write(b"</body>\n</html>\n")
    return summary


def _check_html(stream: IO[bytes], name: str) -> None:
    """Scan the page for identity numbers, as written and with entities resolved.

    Read in windows of whole lines that overlap by a few lines, so a number
    broken over line breaks is seen whole.
    """
    window: list[str] = []
    first_line = 1
    size = 0
    for number, raw in enumerate(stream, start=1):
        line = raw.decode("utf-8")
        window.append(line)
        size += len(line)
        if size >= _CHUNK:
            _scan_html_window(window, first_line, name)
            window = window[-_SCAN_OVERLAP_LINES:]
            first_line = number + 1 - len(window)
            size = sum(map(len, window))
    _scan_html_window(window, first_line, name)


def _scan_html_window(lines: list[str], first_line: int, name: str) -> None:
    text = "".join(lines)
    leaks = _leaks(text, first_line) + _leaks(html.unescape(text), first_line)
    if leaks:
        raise _refuse(name, leaks)


def write_html(
    entries: Iterable[PublicEntry], out: BinaryIO | Path | str, *, header: PublicJournalHeader
) -> PublicJournalSummary:
    """Write the postliste as one self-contained HTML page (no scripts, no external resources).

    Checked for identity numbers before it is handed over, like `write_offentlig_journal`.
    """
    return _publish(out, lambda handle: _write_html(entries, handle, header), _check_html)


def check_public_html(path: Path | str) -> None:
    """Scan a written postliste page for identity numbers as `write_html` does."""
    with open(path, "rb") as stream:
        _check_html(stream, Path(path).name)
