"""What a KS Fiks Arkiv `arkivmelding` asks the archive to do, in the terms the journaling reads.

A form service or a specialist system (fagsystem) sends an arkivmelding
(`no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett`): register this
journalpost, in this saksmappe, with these parties, documents, class and
skjerming. `intake/arkivmelding.py` reads and validates the XML into an
`Arkivmelding`; the journaling finds or creates the case it names and
registers the journalpost; `journal/kvittering.py` answers with an
`arkivmeldingKvittering` or a feilmelding.

Codes keep the Noark 5 names and values the message used (M082
journalposttype 'I'/'U'/'X'/'N', M087 korrespondanseparttype 'EA'/'EM'/..., M083
dokumenttype, M500 tilgangsrestriksjon), mapped onto ours where the store
needs them.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class EksternNoekkel(BaseModel):
    """The sender's own key of a case or a registration: which system, and its id there."""

    fagsystem: str
    noekkel: str


class Skjerming(BaseModel):
    """A skjerming the sender asks for (arkivstruktur:skjerming)."""

    tilgangsrestriksjon: str = Field(description="M500 code, e.g. '13' (Offl. § 13)")
    skjermingshjemmel: str = Field(description="e.g. 'Offl. § 13, jf. fvl. § 13'")
    skjerming_metadata: list[str] = Field(default_factory=list, description="M502 values as sent")
    skjerming_dokument: str | None = Field(default=None, description="M503, e.g. 'Hele'")


class Klassifikasjon(BaseModel):
    """One klassifikasjon of the case: the system it is in and the class id (ordningsverdi)."""

    klassifikasjonssystem: str = Field(description="e.g. 'GBNR', 'FNR', 'ORDNPRI' or the archive's own system's id")
    klasse_id: str
    tittel: str | None = None


class Part(BaseModel):
    """A korrespondansepart of the journalpost, or a part of the case."""

    korrespondanseparttype: str | None = Field(default=None, description="M087 code as sent: 'EA', 'EM', 'IA', ...")
    partrolle: str | None = Field(default=None, description="M303 code of a part of the case as sent, e.g. 'Tiltakshaver'")
    navn: str
    organisasjonsnummer: str | None = None
    foedselsnummer: str | None = Field(default=None, description="never logged; screened by the journaling")
    epostadresse: str | None = None
    postadresse: str | None = None
    postnummer: str | None = None
    poststed: str | None = None


class Dokument(BaseModel):
    """One dokumentbeskrivelse with its dokumentobjekt's file in the message."""

    tittel: str
    dokumenttype: str | None = None
    tilknyttet_registrering_som: str = Field(description="'Hoveddokument' or 'Vedlegg' (M217 codes 'H'/'V' mapped)")
    filnavn: str = Field(description="referanseDokumentfil: the file's name in the message")
    opprinnelig_filnavn: str | None = Field(
        default=None, description="the dokumentobjekt's filnavn: the name the file had at the sender, for display"
    )
    format: str | None = Field(default=None, description="the format the sender states, e.g. 'PDF' or 'fmt/95'")
    skjerming: Skjerming | None = None


class SaksmappeAngivelse(BaseModel):
    """The case the journalpost belongs in: an existing one it names, or one to create (or find by the sender's key)."""

    tittel: str | None = Field(default=None, description="None when the message only refers to an existing case")
    offentlig_tittel: str | None = None
    ekstern_noekkel: EksternNoekkel | None = None
    saksaar: int | None = None
    sakssekvensnummer: int | None = None
    system_id: str | None = Field(default=None, description="our systemID of the case, when the sender knows it")
    klassifikasjoner: list[Klassifikasjon] = Field(default_factory=list)
    skjerming: Skjerming | None = None
    parter: list[Part] = Field(default_factory=list)
    matrikkelnummer: list[str] = Field(
        default_factory=list, description="'gnr/bnr[/fnr[/snr]]', kommunenummer first when given"
    )
    arkivdel: str | None = None


class Arkivmelding(BaseModel):
    """One arkivmelding.opprett: a journalpost (registrering) and the case it goes in."""

    system: str = Field(description="the sending system as it names itself (the element <system>)")
    melding_id: str = Field(
        description="the transport's meldingId when it is known, else derived from the XML's bytes "
        "(the opprett schema has no element for it)"
    )
    tidspunkt: datetime | None = Field(
        default=None,
        description="when the sender made it: the transport's time, else the registrering's (or mappe's) "
        "opprettetDato; None when the message says neither (the schema has no message time)",
    )
    antall_filer: int
    saksmappe: SaksmappeAngivelse
    tittel: str
    offentlig_tittel: str | None = None
    journalposttype: str = Field(description="M082 code as sent: 'I', 'U', 'X', 'N' (or 'S')")
    journalstatus: str | None = None
    ekstern_noekkel: EksternNoekkel = Field(description="the registrering's referanseEksternNoekkel (required by the schema)")
    dokumentets_dato: date | None = None
    mottatt_dato: datetime | None = None
    sendt_dato: datetime | None = None
    korrespondanseparter: list[Part] = Field(default_factory=list)
    skjerming: Skjerming | None = None
    dokumenter: list[Dokument] = Field(default_factory=list)
