"""Noark 5 code lists (kodelister) as string enums.

The arkivstruktur XSD types these fields as plain non-empty strings; the enums
keep our own data to the values of the Noark 5 metadata catalogue, and the XML
carries each member's `.value`, which is the exact Noark 5 text. Member names
are the values in ASCII snake case (æ → ae, ø → oe, å → aa).
"""

from __future__ import annotations

from enum import StrEnum


class Arkivstatus(StrEnum):
    """M050."""

    opprettet = "Opprettet"
    avsluttet = "Avsluttet"


class Arkivdelstatus(StrEnum):
    """M051. A deposited arkivdel has `avsluttet_periode`."""

    aktiv_periode = "Aktiv periode"
    overlappingsperiode = "Overlappingsperiode"
    avsluttet_periode = "Avsluttet periode"
    uaktuelle_mapper = "Uaktuelle mapper"


class Saksstatus(StrEnum):
    """M052. A deposited saksmappe has `avsluttet` or `utgaar`."""

    under_behandling = "Under behandling"
    avsluttet = "Avsluttet"
    utgaar = "Utgår"
    opprettet_av_saksbehandler = "Opprettet av saksbehandler"
    avsluttet_av_saksbehandler = "Avsluttet av saksbehandler"
    unntatt_prosesstyring = "Unntatt prosesstyring"



CLOSED_SAKSSTATUS = frozenset({Saksstatus.avsluttet.value, Saksstatus.avsluttet_av_saksbehandler.value, Saksstatus.utgaar.value})
"""A case in one of these takes no new letters (its number is still found)."""

class Journalstatus(StrEnum):
    """M053. `midlertidig_registrering` (M) is an unchecked intake awaiting review."""

    journalfoert = "Journalført"
    midlertidig_registrering = "Midlertidig registrering av innkommet dokument"
    ferdigstilt_fra_saksbehandler = "Ferdigstilt fra saksbehandler"
    godkjent_av_leder = "Godkjent av leder"
    ekspedert = "Ekspedert"
    arkivert = "Arkivert"
    utgaar = "Utgår"
    reservert_dokument = "Reservert dokument"


class Dokumentstatus(StrEnum):
    """M054."""

    under_redigering = "Dokumentet er under redigering"
    ferdigstilt = "Dokumentet er ferdigstilt"


class Journalposttype(StrEnum):
    """M082."""

    inngaaende_dokument = "Inngående dokument"
    utgaaende_dokument = "Utgående dokument"
    organinternt_dokument_for_oppfoelging = "Organinternt dokument for oppfølging"
    organinternt_dokument_uten_oppfoelging = "Organinternt dokument uten oppfølging"
    saksframlegg = "Saksframlegg"


class Dokumenttype(StrEnum):
    """M083. The standard gives these as examples only; extend when a source needs more."""

    brev = "Brev"
    rundskriv = "Rundskriv"
    faktura = "Faktura"
    ordrebekreftelse = "Ordrebekreftelse"


class Klassifikasjonstype(StrEnum):
    """M086 (examples in the standard; municipalities mostly use K-koder)."""

    funksjonsbasert_hierarkisk = "Funksjonsbasert, hierarkisk"
    emnebasert_hierarkisk_arkivnoekkel = "Emnebasert, hierarkisk arkivnøkkel"
    emnebasert_ett_nivaa = "Emnebasert, ett nivå"
    k_koder = "K-koder"
    mangefasettert = "Mangefasettert, ikke hierarki"
    objektbasert = "Objektbasert"
    foedselsnummer = "Fødselsnummer"
    gaards_og_bruksnummer = "Gårds- og bruksnummer"


class Korrespondanseparttype(StrEnum):
    """M087."""

    avsender = "Avsender"
    mottaker = "Mottaker"
    kopimottaker = "Kopimottaker"
    gruppemottaker = "Gruppemottaker"
    intern_avsender = "Intern avsender"
    intern_mottaker = "Intern mottaker"
    intern_kopimottaker = "Intern kopimottaker"


class TilknyttetRegistreringSom(StrEnum):
    """M217."""

    hoveddokument = "Hoveddokument"
    vedlegg = "Vedlegg"


class Dokumentmedium(StrEnum):
    """M300."""

    fysisk = "Fysisk arkiv"
    elektronisk = "Elektronisk arkiv"
    blandet = "Blandet fysisk og elektronisk arkiv"


class Kassasjonsvedtak(StrEnum):
    """M450."""

    bevares = "Bevares"
    kasseres = "Kasseres"
    vurderes_senere = "Vurderes senere"


class SkjermingMetadata(StrEnum):
    """M502: which metadata a skjerming hides from the public journal."""

    klasse_id = "Skjerming klasseID"
    tittel_klasse = "Skjerming tittel klasse"
    tittel_mappe_unntatt_foerste_linje = "Skjerming tittel mappe - unntatt første linje"
    tittel_mappe_utvalgte_ord = "Skjerming tittel mappe - utvalgte ord"
    navn_part = "Skjerming navn part i sak"
    tittel_registrering_unntatt_foerste_linje = "Skjerming tittel registrering - unntatt første linje"
    tittel_registrering_utvalgte_ord = "Skjerming tittel registrering - utvalgte ord"
    navn_avsender = "Skjerming navn avsender"
    navn_mottaker = "Skjerming navn mottaker"
    tittel_dokumentbeskrivelse = "Skjerming tittel dokumentbeskrivelse"
    merknadstekst = "Skjerming merknadstekst"
    midlertidig = "Midlertidig skjerming"


class Variantformat(StrEnum):
    """M700."""

    produksjonsformat = "Produksjonsformat"
    arkivformat = "Arkivformat"
    skjermet = "Dokument hvor deler av innholdet er skjermet"
