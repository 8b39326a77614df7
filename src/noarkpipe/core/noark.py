"""The Noark 5 v5.0 arkivstruktur entities as pydantic models.

Field names are the XSD element names and fields are declared in the order
of the XSD sequence, base type first for extensions (saksmappe after mappe,
journalpost after registrering). `xml/entity_xml.py` writes elements in field
declaration order, so this module is the single statement of element order;
tests compare it with the official schema.

Required-in-XSD elements are required fields. Where the model differs:
- `systemID` defaults to a fresh UUID4, `sjekksumAlgoritme` to SHA-256
  (what depots expect); both are still always written;
- the structural children (`children_fields`: arkivdel, klasse, mappe,
  registrering, dokumentbeskrivelse, dokumentobjekt) may be empty even where
  the XSD wants at least one, so a streaming exporter can build a parent
  without loading its children; schema validation still reports an empty
  arkiv or klassifikasjonssystem;
- where the XSD offers a choice of children (klasse, mappe or registrering
  under a klasse), the model keeps one list per kind and rejects mixing them.

Note that v5.0 requires avsluttetDato/avsluttetAv on arkiv, arkivdel and
every mappe, and arkivertDato/arkivertAv on every registrering: an extract
holds closed material only.

Not modelled (the XSD allows them, noarkpipe does not produce them yet):
moetemappe, moetedeltaker, moeteregistrering, arkivnotat, presedens,
avskrivning, dokumentflyt, gradering, elektroniskSignatur, utfoertKassasjon,
sletting, virksomhetsspesifikkeMetadata and the `label` attribute of systemID.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar
from uuid import uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    model_validator,
)

from noarkpipe.core.codes import (
    Arkivdelstatus,
    Arkivstatus,
    Dokumentmedium,
    Dokumentstatus,
    Dokumenttype,
    Journalposttype,
    Journalstatus,
    Kassasjonsvedtak,
    Klassifikasjonstype,
    Korrespondanseparttype,
    Saksstatus,
    SkjermingMetadata,
    TilknyttetRegistreringSom,
    Variantformat,
)

# metadatakatalog.xsd: every text value must be non-empty, every reference a UUID.
Text = Annotated[str, StringConstraints(min_length=1)]
SystemId = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$"
    ),
]


def new_system_id() -> str:
    return str(uuid4())


class NoarkModel(BaseModel):
    """Base of every arkivstruktur element type."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    tag: ClassVar[str]
    """The element name in arkivstruktur.xml."""
    xsi_type: ClassVar[str | None] = None
    """Set on XSD extension types, which need `xsi:type` on the base element."""
    children_fields: ClassVar[tuple[str, ...]] = ()
    """The structural children, consecutive fields; a streaming exporter writes them itself."""

    @model_validator(mode="after")
    def _one_kind_of_children(self):
        used = [name for name in self.children_fields if getattr(self, name)]
        if len(used) > 1:
            raise ValueError(
                f"a {self.tag} holds either {' or '.join(self.children_fields)}, "
                f"not several kinds (has {', '.join(used)})"
            )
        return self


class Kassasjon(NoarkModel):
    tag: ClassVar[str] = "kassasjon"

    kassasjonsvedtak: Kassasjonsvedtak
    kassasjonshjemmel: Text | None = None
    bevaringstid: int
    kassasjonsdato: date


class Skjerming(NoarkModel):
    tag: ClassVar[str] = "skjerming"

    tilgangsrestriksjon: Text
    skjermingshjemmel: Text
    skjermingMetadata: list[SkjermingMetadata] = Field(min_length=1)
    skjermingDokument: Text | None = None
    skjermingsvarighet: int | None = None
    skjermingOpphoererDato: date | None = None


class Merknad(NoarkModel):
    tag: ClassVar[str] = "merknad"

    merknadstekst: Text
    merknadstype: Text | None = None
    merknadsdato: AwareDatetime
    merknadRegistrertAv: Text


class Kryssreferanse(NoarkModel):
    """A reference to exactly one klasse, mappe or registrering (by systemID)."""

    tag: ClassVar[str] = "kryssreferanse"

    referanseTilKlasse: SystemId | None = None
    referanseTilMappe: SystemId | None = None
    referanseTilRegistrering: SystemId | None = None

    @model_validator(mode="after")
    def _exactly_one_target(self):
        targets = [self.referanseTilKlasse, self.referanseTilMappe, self.referanseTilRegistrering]
        if sum(target is not None for target in targets) != 1:
            raise ValueError(
                "a kryssreferanse needs exactly one of referanseTilKlasse, "
                "referanseTilMappe, referanseTilRegistrering"
            )
        return self


class Part(NoarkModel):
    tag: ClassVar[str] = "part"

    partID: Text | None = None
    partNavn: Text
    partRolle: Text
    postadresse: list[Text] = []
    postnummer: Text | None = None
    poststed: Text | None = None
    land: Text | None = None
    epostadresse: Text | None = None
    telefonnummer: list[Text] = []
    kontaktperson: Text | None = None


class Korrespondansepart(NoarkModel):
    tag: ClassVar[str] = "korrespondansepart"

    korrespondanseparttype: Korrespondanseparttype
    korrespondansepartNavn: Text
    postadresse: list[Text] = []
    postnummer: Text | None = None
    poststed: Text | None = None
    land: Text | None = None
    epostadresse: Text | None = None
    telefonnummer: list[Text] = []
    kontaktperson: Text | None = None
    administrativEnhet: Text | None = None
    saksbehandler: Text | None = None


class Konvertering(NoarkModel):
    tag: ClassVar[str] = "konvertering"

    konvertertDato: AwareDatetime
    konvertertAv: Text
    konvertertFraFormat: Text
    konvertertTilFormat: Text
    konverteringsverktoey: Text | None = None
    konverteringskommentar: Text | None = None


class Dokumentobjekt(NoarkModel):
    """One file: one version in one variant; `referanseDokumentfil` is its path in the extract."""

    tag: ClassVar[str] = "dokumentobjekt"

    systemID: SystemId = Field(default_factory=new_system_id)
    versjonsnummer: int
    variantformat: Variantformat
    format: Text
    formatDetaljer: Text | None = None
    opprettetDato: AwareDatetime
    opprettetAv: Text
    referanseDokumentfil: Text
    sjekksum: Text
    sjekksumAlgoritme: Text = "SHA-256"
    filstoerrelse: NonNegativeInt
    konvertering: list[Konvertering] = []


class Dokumentbeskrivelse(NoarkModel):
    tag: ClassVar[str] = "dokumentbeskrivelse"
    children_fields: ClassVar[tuple[str, ...]] = ("dokumentobjekt",)

    systemID: SystemId = Field(default_factory=new_system_id)
    dokumenttype: Dokumenttype
    dokumentstatus: Dokumentstatus
    tittel: Text
    beskrivelse: Text | None = None
    forfatter: list[Text] = []
    opprettetDato: AwareDatetime
    opprettetAv: Text
    dokumentmedium: Dokumentmedium | None = None
    oppbevaringssted: Text | None = None
    referanseArkivdel: list[SystemId] = []
    tilknyttetRegistreringSom: TilknyttetRegistreringSom
    dokumentnummer: int
    tilknyttetDato: AwareDatetime
    tilknyttetAv: Text
    part: list[Part] = []
    merknad: list[Merknad] = []
    kassasjon: Kassasjon | None = None
    skjerming: Skjerming | None = None
    dokumentobjekt: list[Dokumentobjekt] = []


class Registrering(NoarkModel):
    """The XSD puts dokumentbeskrivelse in the middle of registrering, before tittel."""

    tag: ClassVar[str] = "registrering"
    children_fields: ClassVar[tuple[str, ...]] = ("dokumentbeskrivelse",)

    systemID: SystemId = Field(default_factory=new_system_id)
    opprettetDato: AwareDatetime
    opprettetAv: Text
    arkivertDato: AwareDatetime
    arkivertAv: Text
    referanseArkivdel: list[SystemId] = []
    part: list[Part] = []
    kassasjon: Kassasjon | None = None
    skjerming: Skjerming | None = None
    dokumentbeskrivelse: list[Dokumentbeskrivelse] = []
    registreringsID: Text | None = None
    tittel: Text
    offentligTittel: Text | None = None
    beskrivelse: Text | None = None
    noekkelord: list[Text] = []
    forfatter: list[Text] = []
    dokumentmedium: Dokumentmedium | None = None
    oppbevaringssted: list[Text] = []
    merknad: list[Merknad] = []
    kryssreferanse: list[Kryssreferanse] = []
    korrespondansepart: list[Korrespondansepart] = []


class Journalpost(Registrering):
    """Journal number journalaar/journalsekvensnummer; journalpostnummer is its number in the case."""

    xsi_type: ClassVar[str | None] = "journalpost"

    journalaar: int
    journalsekvensnummer: int
    journalpostnummer: int
    journalposttype: Journalposttype
    journalstatus: Journalstatus
    journaldato: date
    dokumentetsDato: date | None = None
    mottattDato: AwareDatetime | None = None
    sendtDato: AwareDatetime | None = None
    forfallsdato: date | None = None
    offentlighetsvurdertDato: date | None = None
    antallVedlegg: int | None = None
    utlaantDato: date | None = None
    utlaantTil: Text | None = None
    journalenhet: Text | None = None


class Mappe(NoarkModel):
    tag: ClassVar[str] = "mappe"
    children_fields: ClassVar[tuple[str, ...]] = ("mappe", "registrering")

    systemID: SystemId = Field(default_factory=new_system_id)
    mappeID: Text
    tittel: Text
    offentligTittel: Text | None = None
    beskrivelse: Text | None = None
    noekkelord: list[Text] = []
    dokumentmedium: Dokumentmedium | None = None
    oppbevaringssted: list[Text] = []
    opprettetDato: AwareDatetime
    opprettetAv: Text
    avsluttetDato: AwareDatetime
    avsluttetAv: Text
    referanseArkivdel: list[SystemId] = []
    part: list[Part] = []
    kryssreferanse: list[Kryssreferanse] = []
    merknad: list[Merknad] = []
    kassasjon: Kassasjon | None = None
    skjerming: Skjerming | None = None
    mappe: list[Saksmappe | Mappe] = []
    registrering: list[Journalpost | Registrering] = []


class Saksmappe(Mappe):
    """Case number saksaar/sakssekvensnummer. Its own fields follow the inherited children."""

    xsi_type: ClassVar[str | None] = "saksmappe"

    saksaar: int
    sakssekvensnummer: int
    saksdato: date
    administrativEnhet: Text
    saksansvarlig: Text
    journalenhet: Text | None = None
    saksstatus: Saksstatus
    utlaantDato: date | None = None
    utlaantTil: Text | None = None
    referanseSekundaerKlassifikasjon: list[SystemId] = []


class Klasse(NoarkModel):
    tag: ClassVar[str] = "klasse"
    children_fields: ClassVar[tuple[str, ...]] = ("klasse", "mappe", "registrering")

    systemID: SystemId = Field(default_factory=new_system_id)
    klasseID: Text
    tittel: Text
    beskrivelse: Text | None = None
    noekkelord: list[Text] = []
    opprettetDato: AwareDatetime
    opprettetAv: Text
    avsluttetDato: AwareDatetime | None = None
    avsluttetAv: Text | None = None
    kryssreferanse: list[Kryssreferanse] = []
    kassasjon: Kassasjon | None = None
    skjerming: Skjerming | None = None
    klasse: list[Klasse] = []
    mappe: list[Saksmappe | Mappe] = []
    registrering: list[Journalpost | Registrering] = []


class Klassifikasjonssystem(NoarkModel):
    tag: ClassVar[str] = "klassifikasjonssystem"
    children_fields: ClassVar[tuple[str, ...]] = ("klasse",)

    systemID: SystemId = Field(default_factory=new_system_id)
    klassifikasjonstype: Klassifikasjonstype | None = None
    tittel: Text
    beskrivelse: Text | None = None
    opprettetDato: AwareDatetime
    opprettetAv: Text
    avsluttetDato: AwareDatetime | None = None
    avsluttetAv: Text | None = None
    klasse: list[Klasse] = []


class Arkivdel(NoarkModel):
    tag: ClassVar[str] = "arkivdel"
    children_fields: ClassVar[tuple[str, ...]] = ("klassifikasjonssystem", "mappe", "registrering")

    systemID: SystemId = Field(default_factory=new_system_id)
    tittel: Text
    beskrivelse: Text | None = None
    arkivdelstatus: Arkivdelstatus
    dokumentmedium: Dokumentmedium | None = None
    oppbevaringssted: list[Text] = []
    opprettetDato: AwareDatetime
    opprettetAv: Text
    avsluttetDato: AwareDatetime
    avsluttetAv: Text
    arkivperiodeStartDato: date | None = None
    arkivperiodeSluttDato: date | None = None
    referanseForloeper: SystemId | None = None
    referanseArvtaker: SystemId | None = None
    kassasjon: Kassasjon | None = None
    skjerming: Skjerming | None = None
    klassifikasjonssystem: list[Klassifikasjonssystem] = []
    mappe: list[Saksmappe | Mappe] = []
    registrering: list[Journalpost | Registrering] = []


class Arkivskaper(NoarkModel):
    tag: ClassVar[str] = "arkivskaper"

    arkivskaperID: Text
    arkivskaperNavn: Text
    beskrivelse: Text | None = None


class Arkiv(NoarkModel):
    """The root of arkivstruktur.xml; holds arkivdeler or, rarely, sub-archives."""

    tag: ClassVar[str] = "arkiv"
    children_fields: ClassVar[tuple[str, ...]] = ("arkiv", "arkivdel")

    systemID: SystemId = Field(default_factory=new_system_id)
    tittel: Text
    beskrivelse: Text | None = None
    arkivstatus: Arkivstatus | None = None
    dokumentmedium: Dokumentmedium | None = None
    oppbevaringssted: list[Text] = []
    opprettetDato: AwareDatetime
    opprettetAv: Text
    avsluttetDato: AwareDatetime
    avsluttetAv: Text
    arkivskaper: list[Arkivskaper] = Field(min_length=1)
    arkiv: list[Arkiv] = []
    arkivdel: list[Arkivdel] = []


Mappe.model_rebuild()
