"""Screening the public journal again, from the stored data: pure decisions, no I/O.

On top of what was stored, the screening decision is made again from the
stored data with the screening rules (defence in depth: a row whose
screening columns were never set, or set wrongly, is still screened), and
every string goes through `screening.public_text` and then
`screening.assert_public_safe` with the secrets of that entry (`_public`).
Titles start from the stored offentligTittel when the journalpost or
saksmappe is screened; correspondence party names become `*****` when
skjermingMetadata hides names.

Secrets are pooled per saksmappe (`case_screening`). The public can line up
all rows of a case by its case number, so a name screened in one journalpost
is masked in every row of that case (its case title, other rows' titles and
senders), including rows published on their own, or the unscreened rows
would tell who the screened document is about.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from noarkpipe.classify.screening import (
    MASK,
    PublicField,
    ScreeningDecision,
    ScreeningInput,
    ScreeningSecrets,
    assert_public_safe,
    decide_screening,
    public_text,
)
from noarkpipe.classify.screenrules import ScreeningRuleSet
from noarkpipe.core.codes import Journalposttype, Korrespondanseparttype, SkjermingMetadata
from noarkpipe.core.identity import find_identity_numbers
from noarkpipe.core.submission import Party
from noarkpipe.publish.entries import (
    BUILT_BY_SCREENING,
    NO_TITLE,
    UNKNOWN_PART,
    PublicEntry,
    PublicSkjerming,
)
from noarkpipe.publish.stored import NAME_HIDING, StoredPart, StoredRegistrering, StoredSkjerming

_DECIMAL_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class RowScreening:
    skjerming: PublicSkjerming | None
    metadata: frozenset[SkjermingMetadata]
    hides_names: bool
    secrets: ScreeningSecrets


@dataclass(frozen=True, slots=True)
class CaseScreening:
    offentligTittel: str
    skjerming: PublicSkjerming | None
    secrets: ScreeningSecrets
    rows: dict[int, RowScreening]  # by journalpost id


def may_hold_number(text: str | None) -> bool:
    # A cheap first look: no identity number is written with fewer than eleven digits.
    return bool(text) and len(_DECIMAL_DIGIT.findall(unicodedata.normalize("NFKC", text))) >= 11


def _numbers_in(*texts: str | None) -> list[str]:
    return [found.number for text in texts if may_hold_number(text) for found in find_identity_numbers(text)]


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


def _private_names(parts: Iterable[StoredPart]) -> tuple[str, ...]:
    # As screening does for a sender: a party without organisasjonsnummer may be a private person.
    return tuple(
        p.korrespondansepartNavn for p in parts if not p.organisasjonsnummer and p.korrespondansepartNavn
    )


def _stored_skjerming(stored: StoredSkjerming, fallback: Sequence[SkjermingMetadata]) -> PublicSkjerming:
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


def row_screening(row: StoredRegistrering, rules: ScreeningRuleSet) -> RowScreening:
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
        m.value.casefold().startswith(NAME_HIDING) for m in metadata
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
    return RowScreening(skjerming, frozenset(metadata), hides_names, secrets)


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


def _baseline_title(tittel: str, offentlig: str | None, stored: StoredSkjerming) -> str:
    """The title the public would see by the stored screening alone."""
    # offentligTittel is by definition the public title; a screened entry that
    # lacks one shows nothing of its title.
    return offentlig or (MASK if stored.screened else tittel or NO_TITLE)


def case_screening(rows: Sequence[StoredRegistrering], rules: ScreeningRuleSet) -> CaseScreening:
    """The public case title and the secrets of every journalpost in one saksmappe."""
    first = rows[0]
    stored = first.saksmappe_skjerming
    screenings = {row.journalpost_id: row_screening(row, rules) for row in rows}
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
    return CaseScreening(tittel, skjerming, secrets, screenings)


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


def public_entry(
    row: StoredRegistrering, own: RowScreening, case: CaseScreening, rules: ScreeningRuleSet
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
        context=BUILT_BY_SCREENING,
    )
