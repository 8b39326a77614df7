import io
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from pydantic import ValidationError

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
from noarkpipe.core.noark import (
    Arkiv,
    Arkivdel,
    Arkivskaper,
    Dokumentbeskrivelse,
    Dokumentobjekt,
    Journalpost,
    Kassasjon,
    Klasse,
    Klassifikasjonssystem,
    Konvertering,
    Korrespondansepart,
    Kryssreferanse,
    Mappe,
    Merknad,
    Part,
    Registrering,
    Saksmappe,
    Skjerming,
)
from noarkpipe.errors import SchemaValidationError
from noarkpipe.xml.entity_xml import (
    ARKIVSTRUKTUR_SCHEMA,
    NAMESPACE,
    arkivstruktur_bytes,
    close_tag_fields,
    open_tag_fields,
    stream_arkivstruktur,
    stream_entity,
    to_element,
    validate_arkivstruktur,
    write_entity,
)
from noarkpipe.xml.schemas import safe_parser, schema_path, validation_problems

OSLO = ZoneInfo("Europe/Oslo")
XS = "{http://www.w3.org/2001/XMLSchema}"
DOMAIN_MD = Path(__file__).resolve().parents[2] / "shared" / "docs" / "domain.md"
ACTOR = "Åse Ødegård"
NORWEGIAN = "æøåÆØÅ"


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, 15, tzinfo=OSLO)


def xsd_sequence(type_name: str) -> list[str]:
    """Element names of an arkivstruktur complexType in XSD order, base type first."""
    xsd = etree.parse(str(schema_path(ARKIVSTRUKTUR_SCHEMA)))
    ctype = xsd.find(f"{XS}complexType[@name='{type_name}']")
    extension = ctype.find(f"{XS}complexContent/{XS}extension")
    if extension is not None:
        return xsd_sequence(extension.get("base")) + [e.get("name") for e in extension.iter(f"{XS}element")]
    return [e.get("name") for e in ctype.iter(f"{XS}element")]


def local_names(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element]


def runs(names: list[str]) -> list[str]:
    """Repeated elements collapsed: ['a', 'b', 'b', 'c'] -> ['a', 'b', 'c']."""
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def make_journalpost(klasse_id: str) -> Journalpost:
    skjerming = Skjerming(
        tilgangsrestriksjon="13",
        skjermingshjemmel="Offl. § 13 jf. fvl. § 13 første ledd nr. 1",
        skjermingMetadata=[
            SkjermingMetadata.navn_avsender,
            SkjermingMetadata.tittel_registrering_utvalgte_ord,
        ],
        skjermingsvarighet=60,
    )
    produksjon = Dokumentobjekt(
        versjonsnummer=1,
        variantformat=Variantformat.produksjonsformat,
        format="fmt/412",
        formatDetaljer="Microsoft Word for Windows 2007 onwards",
        opprettetDato=at(2),
        opprettetAv=ACTOR,
        referanseDokumentfil="dokumenter/5000000.docx",
        sjekksum="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        filstoerrelse=48213,
    )
    arkiv = Dokumentobjekt(
        versjonsnummer=1,
        variantformat=Variantformat.arkivformat,
        format="fmt/476",
        formatDetaljer="PDF/A-2b",
        opprettetDato=at(2, 10),
        opprettetAv="noarkpipe",
        referanseDokumentfil="dokumenter/5000001.pdf",
        sjekksum="60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
        filstoerrelse=120977,
        konvertering=[
            Konvertering(
                konvertertDato=at(2, 10),
                konvertertAv="noarkpipe",
                konvertertFraFormat="fmt/412",
                konvertertTilFormat="fmt/476",
                konverteringsverktoey="LibreOffice 7.6 + OCRmyPDF 16",
                konverteringskommentar="Arkivformat laget ved mottak",
            )
        ],
    )
    return Journalpost(
        opprettetDato=at(2),
        opprettetAv=ACTOR,
        arkivertDato=at(20),
        arkivertAv=ACTOR,
        part=[Part(partNavn="Bjørn Æsøy", partRolle="Søker", postnummer="9990", poststed="Fjellvik")],
        skjerming=skjerming,
        dokumentbeskrivelse=[
            Dokumentbeskrivelse(
                dokumenttype=Dokumenttype.brev,
                dokumentstatus=Dokumentstatus.ferdigstilt,
                tittel=f"Søknad om skoleskyss for elev ved Øvre Ålvik skole ({NORWEGIAN})",
                opprettetDato=at(2),
                opprettetAv=ACTOR,
                tilknyttetRegistreringSom=TilknyttetRegistreringSom.hoveddokument,
                dokumentnummer=1,
                tilknyttetDato=at(2),
                tilknyttetAv=ACTOR,
                dokumentobjekt=[produksjon, arkiv],
            )
        ],
        tittel=f"Søknad om skoleskyss - Bjørn Æsøy ({NORWEGIAN})",
        offentligTittel="Søknad om skoleskyss - *****",
        merknad=[
            Merknad(
                merknadstekst="Mottatt på e-post, vedlegg mangler",
                merknadstype="Merknad fra postmottak",
                merknadsdato=at(2, 11),
                merknadRegistrertAv=ACTOR,
            )
        ],
        kryssreferanse=[Kryssreferanse(referanseTilKlasse=klasse_id)],
        korrespondansepart=[
            Korrespondansepart(
                korrespondanseparttype=Korrespondanseparttype.avsender,
                korrespondansepartNavn="Bjørn Æsøy",
                postadresse=["Ærfuglveien 3"],
                postnummer="9990",
                poststed="Fjellvik",
                epostadresse="bjorn.aesoy@example.no",
                administrativEnhet="Oppvekst og kultur",
                saksbehandler="Ørjan Åberg",
            )
        ],
        journalaar=2026,
        journalsekvensnummer=345,
        journalpostnummer=1,
        journalposttype=Journalposttype.inngaaende_dokument,
        journalstatus=Journalstatus.midlertidig_registrering,
        journaldato=date(2026, 3, 2),
        dokumentetsDato=date(2026, 2, 27),
        mottattDato=at(2, 8),
        antallVedlegg=0,
        journalenhet="Postmottak",
    )


def make_arkiv() -> Arkiv:
    klasse_034 = Klasse(klasseID="034", tittel="Opplæring - skyss", opprettetDato=at(1), opprettetAv=ACTOR)
    saksmappe = Saksmappe(
        mappeID="2026/12",
        tittel=f"Skoleskyss {NORWEGIAN} - Bjørn Æsøy",
        offentligTittel="Skoleskyss - *****",
        noekkelord=["skoleskyss", "grunnskole"],
        opprettetDato=at(2),
        opprettetAv=ACTOR,
        avsluttetDato=at(20),
        avsluttetAv=ACTOR,
        part=[Part(partID="p-1", partNavn="Bjørn Æsøy", partRolle="Søker")],
        merknad=[
            Merknad(merknadstekst="Sak opprettet ved mottak", merknadsdato=at(2), merknadRegistrertAv=ACTOR)
        ],
        kassasjon=Kassasjon(
            kassasjonsvedtak=Kassasjonsvedtak.kasseres,
            kassasjonshjemmel="Bevarings- og kassasjonsvedtak for kommunal sektor",
            bevaringstid=10,
            kassasjonsdato=date(2036, 12, 31),
        ),
        registrering=[make_journalpost(klasse_id=klasse_034.systemID)],
        saksaar=2026,
        sakssekvensnummer=12,
        saksdato=date(2026, 3, 2),
        administrativEnhet="Oppvekst og kultur",
        saksansvarlig="Ørjan Åberg",
        journalenhet="Postmottak",
        saksstatus=Saksstatus.avsluttet,
    )
    klasse_034.klasse = [
        Klasse(
            klasseID="034.1",
            tittel="Skyss for elever på Øvre Ålvik",
            opprettetDato=at(1),
            opprettetAv=ACTOR,
            mappe=[saksmappe],
        )
    ]
    return Arkiv(
        tittel="Fjellvik kommunes arkiv",
        arkivstatus=Arkivstatus.avsluttet,
        dokumentmedium=Dokumentmedium.elektronisk,
        opprettetDato=at(1, 7),
        opprettetAv="noarkpipe",
        avsluttetDato=at(31),
        avsluttetAv="noarkpipe",
        arkivskaper=[Arkivskaper(arkivskaperID="fjellvik", arkivskaperNavn="Fjellvik kommune")],
        arkivdel=[
            Arkivdel(
                tittel="Sakarkiv 2026",
                arkivdelstatus=Arkivdelstatus.avsluttet_periode,
                opprettetDato=at(1, 7),
                opprettetAv="noarkpipe",
                avsluttetDato=at(31),
                avsluttetAv="noarkpipe",
                arkivperiodeStartDato=date(2026, 1, 1),
                arkivperiodeSluttDato=date(2026, 12, 31),
                klassifikasjonssystem=[
                    Klassifikasjonssystem(
                        klassifikasjonstype=Klassifikasjonstype.k_koder,
                        tittel="K-koder",
                        opprettetDato=at(1, 7),
                        opprettetAv="noarkpipe",
                        klasse=[
                            klasse_034,
                            Klasse(
                                klasseID="A20", tittel="Grunnskole", opprettetDato=at(1), opprettetAv=ACTOR
                            ),
                        ],
                    )
                ],
            )
        ],
    )


@pytest.fixture
def arkiv() -> Arkiv:
    return make_arkiv()


def saksmappe_of(arkiv: Arkiv) -> Saksmappe:
    return arkiv.arkivdel[0].klassifikasjonssystem[0].klasse[0].klasse[0].mappe[0]


# (a) a full tree validates against the official schema, in XSD order


def test_full_tree_validates_against_the_official_schema(arkiv):
    parsed = etree.fromstring(arkivstruktur_bytes(arkiv), safe_parser())
    assert validation_problems(parsed, ARKIVSTRUKTUR_SCHEMA) == []
    validate_arkivstruktur(arkiv)


def test_bytes_are_utf8_with_declaration_and_keep_norwegian_text(arkiv):
    data = arkivstruktur_bytes(arkiv)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert NORWEGIAN.encode("utf-8") in data
    assert b"Fjellvik kommune" in data
    root = etree.fromstring(data, safe_parser())
    assert root.tag == f"{{{NAMESPACE}}}arkiv"
    assert root.findtext(f".//{{{NAMESPACE}}}korrespondansepartNavn") == "Bjørn Æsøy"
    assert root.findtext(f".//{{{NAMESPACE}}}journalstatus") == Journalstatus.midlertidig_registrering.value
    assert root.findtext(f".//{{{NAMESPACE}}}mottattDato") == "2026-03-02T08:15:00+01:00"
    assert root.findtext(f".//{{{NAMESPACE}}}journaldato") == "2026-03-02"


def test_subtypes_carry_xsi_type(arkiv):
    data = arkivstruktur_bytes(arkiv)
    assert b'<mappe xsi:type="saksmappe">' in data
    assert b'<registrering xsi:type="journalpost">' in data


@pytest.mark.parametrize(("tag", "xsd_type"), [("mappe", "saksmappe"), ("registrering", "journalpost")])
def test_extension_elements_follow_the_inherited_xsd_sequence(arkiv, tag, xsd_type):
    root = etree.fromstring(arkivstruktur_bytes(arkiv), safe_parser())
    element = root.find(f".//{{{NAMESPACE}}}{tag}")
    written = runs(local_names(element))
    assert written == [name for name in xsd_sequence(xsd_type) if name in written]
    # The base type's children come before the extension's own fields.
    children = "registrering" if tag == "mappe" else "dokumentbeskrivelse"
    assert written.index(children) < written.index("saksaar" if tag == "mappe" else "journalaar")


MODELS = [
    Arkiv, Arkivskaper, Arkivdel, Klassifikasjonssystem, Klasse, Mappe, Saksmappe, Part,
    Registrering, Journalpost, Korrespondansepart, Dokumentbeskrivelse, Dokumentobjekt,
    Konvertering, Kryssreferanse, Merknad, Kassasjon, Skjerming,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_fields_are_xsd_elements_in_xsd_order(model):
    expected = xsd_sequence(model.xsi_type or model.tag)
    fields = list(model.model_fields)
    assert set(fields) <= set(expected)
    assert fields == [name for name in expected if name in model.model_fields]


def test_system_ids_default_to_fresh_uuids(arkiv):
    arkivdel = arkiv.arkivdel[0]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", arkivdel.systemID)
    assert make_arkiv().arkivdel[0].systemID != arkivdel.systemID


# (b) invalid input is rejected readably


def test_journalstatus_outside_the_code_list_is_rejected_naming_the_field(arkiv):
    journalpost = saksmappe_of(arkiv).registrering[0]
    with pytest.raises(ValidationError) as caught:
        Journalpost.model_validate({**journalpost.model_dump(), "journalstatus": "Journalfort"})
    assert "journalstatus" in str(caught.value)
    with pytest.raises(ValidationError, match="journalstatus"):
        journalpost.journalstatus = "Ferdig"


def test_naive_datetimes_and_empty_texts_are_rejected(arkiv):
    journalpost = saksmappe_of(arkiv).registrering[0]
    with pytest.raises(ValidationError, match="mottattDato"):
        journalpost.mottattDato = datetime(2026, 3, 2, 8, 15)
    with pytest.raises(ValidationError, match="tittel"):
        journalpost.tittel = ""


def test_one_kind_of_children_per_klasse():
    with pytest.raises(ValidationError, match="klasse or mappe or registrering"):
        Klasse(
            klasseID="034",
            tittel="Skyss",
            opprettetDato=at(1),
            opprettetAv=ACTOR,
            klasse=[Klasse(klasseID="034.1", tittel="Under", opprettetDato=at(1), opprettetAv=ACTOR)],
            mappe=[Mappe(mappeID="1", tittel="Mappe", opprettetDato=at(1), opprettetAv=ACTOR,
                         avsluttetDato=at(2), avsluttetAv=ACTOR)],
        )


def test_kryssreferanse_points_to_exactly_one_target():
    with pytest.raises(ValidationError, match="exactly one"):
        Kryssreferanse()


def test_missing_required_field_fails_schema_validation_with_element_and_line(arkiv):
    klasse = arkiv.arkivdel[0].klassifikasjonssystem[0].klasse[0].klasse[0]
    complete = klasse.mappe[0]
    without_tittel = {name: getattr(complete, name) for name in Saksmappe.model_fields if name != "tittel"}
    klasse.mappe = [Saksmappe.model_construct(**without_tittel)]
    with pytest.raises(SchemaValidationError) as caught:
        validate_arkivstruktur(arkiv)
    message = str(caught.value)
    assert "tittel" in message and "arkivstruktur.xsd" in message
    line = int(re.search(r"line (\d+):", message).group(1))
    # The line number points into the written file, at the element found instead of tittel.
    assert b"<offentligTittel>" in arkivstruktur_bytes(arkiv).splitlines()[line - 1]


# (c) code-list values are the exact Noark 5 strings of domain.md


def test_journalposttype_and_journalstatus_values_are_the_noark_strings():
    assert Journalposttype.inngaaende_dokument == "Inngående dokument"
    assert Journalposttype.organinternt_dokument_uten_oppfoelging == "Organinternt dokument uten oppfølging"
    assert Journalstatus.journalfoert == "Journalført"
    assert Journalstatus.midlertidig_registrering == "Midlertidig registrering av innkommet dokument"
    assert Journalstatus.utgaar == "Utgår"
    assert Variantformat.skjermet == "Dokument hvor deler av innholdet er skjermet"


def domain_md_values(field: str) -> list[str]:
    """The backticked values of one '- **field**: ...' item in domain.md."""
    match = re.search(rf"^- \*\*{field}\*\*:(.*?)(?=^- |^\s*$)", DOMAIN_MD.read_text("utf-8"), re.M | re.S)
    return re.findall(r"`([^`]+)`", match.group(1))


@pytest.mark.skipif(not DOMAIN_MD.is_file(), reason="shared/ not beside this checkout")
@pytest.mark.parametrize(
    ("field", "enum", "complete"),
    [
        ("journalposttype", Journalposttype, True),
        ("journalstatus", Journalstatus, True),
        ("saksstatus", Saksstatus, False),
        ("tilknyttetRegistreringSom", TilknyttetRegistreringSom, True),
        ("variantformat", Variantformat, True),
        ("korrespondanseparttype", Korrespondanseparttype, False),
        ("arkivdelstatus", Arkivdelstatus, False),
    ],
)
def test_code_lists_match_domain_md(field, enum, complete):
    listed = domain_md_values(field)
    assert listed
    values = [member.value for member in enum]
    assert set(listed) <= set(values)
    if complete:
        assert sorted(listed) == sorted(values)


# (d) the streaming path writes the same document


def stream(xf, entity, whole: type) -> None:
    """Stream the tree down to entities of type `whole`, which are written complete."""
    if isinstance(entity, whole):
        write_entity(xf, entity)
        return
    with stream_entity(xf, entity):
        for name in entity.children_fields:
            for child in getattr(entity, name):
                stream(xf, child, whole)


# Streaming below a saksmappe or journalpost exercises the fields written after the children.
@pytest.mark.parametrize("whole", [Mappe, Registrering, Dokumentbeskrivelse], ids=lambda t: t.__name__)
def test_streamed_arkivstruktur_is_canonically_equal_to_the_tree(arkiv, whole):
    out = io.BytesIO()
    with stream_arkivstruktur(out, arkiv) as xf:
        for arkivdel in arkiv.arkivdel:
            stream(xf, arkivdel, whole)
    streamed = etree.fromstring(out.getvalue(), safe_parser())
    assert etree.tostring(streamed, method="c14n") == etree.tostring(to_element(arkiv), method="c14n")
    assert validation_problems(streamed, ARKIVSTRUKTUR_SCHEMA) == []
    # Namespaces are declared once, on the root.
    assert out.getvalue().count(b"xmlns=") == 1


@pytest.mark.parametrize(
    ("path", "first_after_children"),
    [
        (lambda a: saksmappe_of(a), "saksaar"),
        (lambda a: saksmappe_of(a).registrering[0], "tittel"),
        (lambda a: a.arkivdel[0], None),
    ],
    ids=["saksmappe", "journalpost", "arkivdel"],
)
def test_open_and_close_fields_surround_the_children(arkiv, path, first_after_children):
    entity = path(arkiv)
    own = local_names(to_element(entity, with_children=False))
    opened = [etree.QName(e).localname for e in open_tag_fields(entity)]
    closed = [etree.QName(e).localname for e in close_tag_fields(entity)]
    assert opened + closed == own
    assert not set(entity.children_fields) & set(own)
    assert (closed[0] if closed else None) == first_after_children
