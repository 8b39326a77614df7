"""Reading KS Fiks Arkiv arkivmeldinger: the samples, other systems' ways of writing one, and hostile messages."""

from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pypdf
import pytest
from lxml import etree

from noarkpipe.errors import ArkivmeldingRefused
from noarkpipe.intake.arkivmelding import (
    ARKIVMELDING_NAME,
    SCHEMA_DIR,
    derived_melding_id,
    is_arkivmelding_message,
    read_arkivmelding,
    read_message,
)
from noarkpipe.xml.schemas import safe_parser

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sample-fiks"
AM = "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/arkivmelding/opprett/v1"
MDK = "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/metadatakatalog/v1"
TOP_SCHEMAS = (
    "no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett.xsd",
    "no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett.kvittering.xsd",
    "no.ks.fiks.arkiv.v1.feilmelding.ugyldigforespoersel.xsd",
    "no.ks.fiks.arkiv.v1.feilmelding.ikkefunnet.xsd",
    "no.ks.fiks.arkiv.v1.feilmelding.serverfeil.xsd",
)


def members(name: str) -> dict[str, bytes]:
    with zipfile.ZipFile(SAMPLES / name) as zipped:
        return {info.filename: zipped.read(info) for info in zipped.infolist()}


def with_xml(name: str, edit) -> dict[str, bytes]:
    """The sample's members with arkivmelding.xml changed by `edit(text) -> text`."""
    found = members(name)
    found[ARKIVMELDING_NAME] = edit(found[ARKIVMELDING_NAME].decode("utf-8")).encode("utf-8")
    return found


def refusal(call) -> ArkivmeldingRefused:
    with pytest.raises(ArkivmeldingRefused) as caught:
        call()
    return caught.value


# -- the shipped schemas


@pytest.mark.parametrize("name", TOP_SCHEMAS)
def test_each_shipped_top_schema_compiles_from_the_folder_alone(name):
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name), safe_parser()))
    assert schema.error_log.last_error is None


def test_the_shipped_schemas_are_the_bytes_source_md_names():
    source = (SCHEMA_DIR / "SOURCE.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+\.xsd)` \| `[0-9a-f]{40}` \| `([0-9a-f]{64})` \|$", source, re.MULTILINE))
    shipped = sorted(p.name for p in SCHEMA_DIR.glob("*.xsd"))
    assert sorted(rows) == shipped and len(shipped) == 7
    for name, digest in rows.items():
        assert hashlib.sha256((SCHEMA_DIR / name).read_bytes()).hexdigest() == digest, name
    assert (SCHEMA_DIR / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


# -- the samples


def test_byggesak_soknad_asks_for_a_new_keyed_case_with_class_matrikkel_party_and_two_documents():
    melding, files = read_message(members("01-byggesak-soknad.zip"))
    assert melding.system == "eByggesak" and melding.antall_filer == 2
    case = melding.saksmappe
    assert case.tittel.startswith("Byggesøknad – tilbygg") and "gnr. 41 bnr. 12" in case.offentlig_tittel
    assert (case.ekstern_noekkel.fagsystem, case.ekstern_noekkel.noekkel) == ("eByggesak", "BS-2026-0042")
    assert [(k.klassifikasjonssystem, k.klasse_id) for k in case.klassifikasjoner] == [
        ("GBNR", "1234-41/12"), ("K-koder", "L42"),
    ]
    assert case.matrikkelnummer == ["1234-41/12"]
    [tiltakshaver] = case.parter
    assert (tiltakshaver.navn, tiltakshaver.partrolle, tiltakshaver.organisasjonsnummer) == (
        "Fjellvik Eiendom AS", "TH", "923456783",
    )
    assert case.system_id is None and case.saksaar is None and case.skjerming is None

    assert melding.journalposttype == "I" and melding.journalstatus is None
    assert melding.ekstern_noekkel.noekkel == "BS-2026-0042-1"
    assert melding.dokumentets_dato == date(2026, 11, 19)
    assert melding.mottatt_dato.utcoffset() == timedelta(hours=1) and melding.mottatt_dato.hour == 9
    assert melding.tidspunkt == melding.mottatt_dato  # the registrering's opprettetDato
    [avsender] = melding.korrespondanseparter
    assert (avsender.korrespondanseparttype, avsender.navn, avsender.organisasjonsnummer) == (
        "EA", "Fjellvik Bygg og Anlegg AS", "912345688",
    )
    assert (avsender.postadresse, avsender.postnummer, avsender.poststed) == ("Industriveien 4", "9990", "Fjellvik")
    assert avsender.epostadresse == "post@fjellvikbygg.example"
    assert [(d.tittel, d.tilknyttet_registrering_som, d.dokumenttype, d.filnavn, d.format) for d in melding.dokumenter] == [
        ("Søknad om tillatelse til tiltak", "Hoveddokument", "SØKNAD", "soknad.pdf", "PDF"),
        ("Situasjonsplan", "Vedlegg", "KART", "situasjonsplan.pdf", "PDF"),
    ]
    assert melding.dokumenter[0].opprinnelig_filnavn == "Søknad om tillatelse til tiltak.pdf"
    assert list(files) == ["soknad.pdf", "situasjonsplan.pdf"]


def test_tilleggsdokumentasjon_names_01s_case_only_by_the_senders_key_and_has_a_key_of_its_own():
    first, _ = read_message(members("01-byggesak-soknad.zip"))
    melding, files = read_message(members("02-byggesak-tilleggsdokumentasjon.zip"))
    case = melding.saksmappe
    assert case.ekstern_noekkel == first.saksmappe.ekstern_noekkel
    assert case.tittel is None and case.klassifikasjoner == [] and case.system_id is None
    assert melding.ekstern_noekkel != first.ekstern_noekkel
    assert melding.melding_id != first.melding_id
    assert [d.tilknyttet_registrering_som for d in melding.dokumenter] == ["Hoveddokument"]
    assert list(files) == ["fasader.pdf"]


def test_elevmappe_keeps_the_skjerming_of_case_and_journalpost_and_the_pupil_as_part():
    melding, _ = read_message(members("03-elevmappe.zip"))
    case = melding.saksmappe
    assert melding.system == "Visma Flyt Skole"
    for skjerming in (case.skjerming, melding.skjerming):
        assert skjerming.tilgangsrestriksjon == "13"
        assert skjerming.skjermingshjemmel == "Offl. § 13, jf. fvl. § 13 første ledd nr. 1"
    [elev] = case.parter
    assert (elev.navn, elev.partrolle, elev.foedselsnummer) == ("Sander Nilsen Berg", "ELEV", "14831234548")
    assert case.offentlig_tittel == "Elevmappe" and melding.offentlig_tittel == "Vedtak om spesialundervisning"
    assert melding.journalposttype == "U" and melding.sendt_dato is not None and melding.mottatt_dato is None
    assert [p.korrespondanseparttype for p in melding.korrespondanseparter] == ["EM"]


@pytest.mark.parametrize("name", ["01-byggesak-soknad.zip", "02-byggesak-tilleggsdokumentasjon.zip", "03-elevmappe.zip"])
def test_the_samples_documents_are_real_pdfs_with_text(name):
    melding, files = read_message(members(name))
    for dokument in melding.dokumenter:
        reader = pypdf.PdfReader(io.BytesIO(files[dokument.filnavn]))
        text = " ".join(page.extract_text() for page in reader.pages)
        assert dokument.tittel.split()[0].casefold() in text.casefold()


def test_the_same_message_gets_the_same_derived_melding_id_and_a_given_one_is_kept():
    found = members("01-byggesak-soknad.zip")
    assert read_message(found)[0].melding_id == read_message(dict(found))[0].melding_id
    assert read_message(found, melding_id="fiks-io-1")[0].melding_id == "fiks-io-1"
    assert derived_melding_id(b"<a/>") != derived_melding_id(b"<b/>")


def test_is_arkivmelding_message_wants_the_file_at_the_top():
    assert is_arkivmelding_message(["soknad.pdf", "arkivmelding.xml"])
    assert not is_arkivmelding_message(["melding/arkivmelding.xml"])
    assert not is_arkivmelding_message(["Arkivmelding.XML", "manifest.json"])


# -- bad messages: refused as ugyldigforespoersel, with the reason and the meldingId when the XML was there


def test_the_schema_invalid_sample_is_refused_with_the_schema_error():
    error = refusal(lambda: read_message(members("90-ugyldig.zip")))
    assert error.feiltype == "ugyldigforespoersel" and error.melding_id
    assert "schema" in error.message and "line " in error.message
    assert "tittel" in error.message  # what the schema expected where the tittel is missing


def test_the_sample_missing_a_file_is_refused_naming_it():
    error = refusal(lambda: read_message(members("91-mangler-fil.zip")))
    assert error.feiltype == "ugyldigforespoersel" and error.melding_id
    assert "'situasjonsplan.pdf'" in error.message and "not in the message" in error.message


def test_antall_filer_that_does_not_match_the_files_is_refused():
    found = with_xml("02-byggesak-tilleggsdokumentasjon.zip", lambda t: t.replace("<antallFiler>1<", "<antallFiler>3<"))
    error = refusal(lambda: read_message(found))
    assert "antallFiler is 3, but the message holds 1 file besides arkivmelding.xml" in error.message


def test_a_file_no_dokumentobjekt_references_is_refused():
    found = with_xml("02-byggesak-tilleggsdokumentasjon.zip", lambda t: t.replace("<antallFiler>1<", "<antallFiler>2<"))
    found["ekstra.pdf"] = b"%PDF-1.4 not announced"
    error = refusal(lambda: read_message(found))
    assert "no dokumentobjekt references 'ekstra.pdf'" in error.message


@pytest.mark.parametrize(
    "name", ["../fasader.pdf", "dokumenter/fasader.pdf", "/etc/passwd", "C:\\temp\\x.pdf", "..", "fa\u202esader.pdf"]
)
def test_a_member_that_is_not_a_bare_file_name_is_refused(name):
    found = members("02-byggesak-tilleggsdokumentasjon.zip")
    found[name] = found.pop("fasader.pdf")
    error = refusal(lambda: read_message(found))
    assert error.feiltype == "ugyldigforespoersel"
    assert "the member" in error.message and error.melding_id  # known: derived from arkivmelding.xml
    assert "\u202e" not in error.message


def test_a_message_without_arkivmelding_xml_is_refused():
    found = members("02-byggesak-tilleggsdokumentasjon.zip")
    found["melding.xml"] = found.pop(ARKIVMELDING_NAME)
    error = refusal(lambda: read_message(found))
    assert "no arkivmelding.xml" in error.message and error.melding_id is None


def test_two_registreringer_are_refused():
    def twice(text):
        start, end = text.index("<registrering"), text.index("</registrering>") + len("</registrering>")
        return text[:end] + text[start:end] + text[end:]

    error = refusal(lambda: read_message(with_xml("02-byggesak-tilleggsdokumentasjon.zip", twice)))
    assert error.feiltype == "ugyldigforespoersel" and "registrering" in error.message


def test_a_doctype_with_an_external_entity_is_refused_and_the_file_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-4711", encoding="utf-8")

    def xxe(text):
        text = text.replace("?>\n", f'?>\n<!DOCTYPE arkivmelding [<!ENTITY x SYSTEM "file://{secret}">]>\n', 1)
        return text.replace("<tittel>Tilleggsdokumentasjon", "<tittel>&x; Tilleggsdokumentasjon")

    found = with_xml("02-byggesak-tilleggsdokumentasjon.zip", xxe)
    error = refusal(lambda: read_message(found))
    assert "DOCTYPE" in error.message and error.feiltype == "ugyldigforespoersel"
    assert "TOPSECRET" not in str(error)
    parsed = etree.tostring(etree.fromstring(found[ARKIVMELDING_NAME], safe_parser()))
    assert b"TOPSECRET" not in parsed  # the parser leaves the entity unexpanded: the file is not read


def test_a_billion_laughs_is_refused_at_once():
    entities = '<!ENTITY l0 "ha">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    xml = (
        f'<?xml version="1.0"?>\n<!DOCTYPE arkivmelding [{entities}]>\n'
        f'<arkivmelding xmlns="{AM}"><system>&l9;</system><antallFiler>0</antallFiler></arkivmelding>'
    ).encode()
    started = time.monotonic()
    error = refusal(lambda: read_arkivmelding(xml))
    assert time.monotonic() - started < 2
    assert "DOCTYPE" in error.message and error.melding_id == derived_melding_id(xml)


def test_xml_that_is_not_well_formed_or_not_an_arkivmelding_is_refused():
    assert "not well-formed" in refusal(lambda: read_arkivmelding(b"<arkivmelding>")).message
    other = f'<kvittering xmlns="{AM}"/>'.encode()
    assert "root element is kvittering" in refusal(lambda: read_arkivmelding(other)).message


def test_a_schema_message_never_shows_a_number_that_could_be_a_fodselsnummer():
    found = with_xml("02-byggesak-tilleggsdokumentasjon.zip", lambda t: t.replace("<antallFiler>1<", "<antallFiler>14831234548<"))
    error = refusal(lambda: read_message(found))
    assert "antallFiler" in error.message and "14831234548" not in error.message


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda t: re.sub(r"<journalposttype>.*?</journalposttype>", "",
                          t.replace('xsi:type="journalpost"', 'xsi:type="arkivnotat"'), flags=re.DOTALL),
         "of xsi:type 'arkivnotat': only a journalpost"),
        (lambda t: re.sub(r"<referanseEksternNoekkel>\s*<n5mdk:fagsystem>eByggesak</n5mdk:fagsystem>\s*"
                          r"<n5mdk:noekkel>BS-2026-0042-2</n5mdk:noekkel>\s*</referanseEksternNoekkel>", "", t),
         "has no referanseEksternNoekkel"),
    ],
)
def test_a_registrering_that_is_no_keyed_journalpost_is_refused(edit, reason):
    error = refusal(lambda: read_message(with_xml("02-byggesak-tilleggsdokumentasjon.zip", edit)))
    assert error.feiltype == "ugyldigforespoersel" and "schema" not in error.message  # valid, but not for us
    assert reason in error.message


def test_a_mappe_without_registrering_is_refused():
    def no_registrering(text):
        return text[: text.index("<registrering")] + text[text.index("</registrering>") + len("</registrering>"):]

    found = with_xml("01-byggesak-soknad.zip", no_registrering)
    error = refusal(lambda: read_message(found))
    assert "no registrering" in error.message


def test_mappe_and_registrering_naming_different_cases_are_refused():
    reference = (
        '<opprettetDato>2026-11-20T09:14:00+01:00</opprettetDato>\n    <referanseForelderMappe>'
        "<n5mdk:referanseEksternNoekkel><n5mdk:fagsystem>eByggesak</n5mdk:fagsystem>"
        "<n5mdk:noekkel>BS-2026-0099</n5mdk:noekkel></n5mdk:referanseEksternNoekkel></referanseForelderMappe>"
    )

    def both(text):
        head, _, tail = text.partition("<registrering")
        return head + "<registrering" + tail.replace("<opprettetDato>2026-11-20T09:14:00+01:00</opprettetDato>", reference, 1)

    error = refusal(lambda: read_message(with_xml("01-byggesak-soknad.zip", both)))
    assert "name different cases" in error.message


# -- other systems' ways of writing a valid message

FOREIGN = f"""<?xml version="1.0" encoding="UTF-8"?>
<a:arkivmelding xmlns:a="{AM}" xmlns:m="{MDK}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <a:system>Acos Fagsystem</a:system>
  <a:regel>standard</a:regel>
  <a:antallFiler>1</a:antallFiler>
  <a:mappe>
    <a:mappeID>26/117</a:mappeID>
    <a:tittel>Søknad om skjenkebevilling, Kafé Ærlig</a:tittel>
  </a:mappe>
  <a:registrering i:type="a:journalpost">
    <a:arkivdel><m:kode>SAK</m:kode></a:arkivdel>
    <a:dokumentbeskrivelse>
      <a:tittel>Søknad</a:tittel>
      <a:tilknyttetRegistreringSom><m:kode>Hoveddokument</m:kode></a:tilknyttetRegistreringSom>
      <a:dokumentobjekt>
        <a:filnavn>søknad.pdf</a:filnavn>
        <a:referanseDokumentfil>1.pdf</a:referanseDokumentfil>
      </a:dokumentobjekt>
    </a:dokumentbeskrivelse>
    <a:tittel>Søknad om skjenkebevilling – Kafé Ærlig</a:tittel>
    <a:korrespondansepart>
      <a:korrespondanseparttype><m:kode>EA</m:kode></a:korrespondanseparttype>
      <a:korrespondansepartNavn>Kafé Ærlig AS</a:korrespondansepartNavn>
      <a:postadresse>Storgata 1</a:postadresse>
      <a:postadresse>Bakgården</a:postadresse>
    </a:korrespondansepart>
    <a:referanseEksternNoekkel><m:fagsystem>Acos</m:fagsystem><m:noekkel>77</m:noekkel></a:referanseEksternNoekkel>
    <a:journalposttype><m:kode>I</m:kode></a:journalposttype>
    <a:mottattDato>2026-11-20T09:14:00</a:mottattDato>
  </a:registrering>
</a:arkivmelding>
"""


@pytest.mark.parametrize(
    "xml",
    [
        FOREIGN.encode("utf-8"),
        b"\xef\xbb\xbf" + FOREIGN.encode("utf-8"),
        FOREIGN.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("–", "-").encode("iso-8859-1"),
    ],
    ids=["prefixed", "utf-8-bom", "iso-8859-1"],
)
def test_a_message_in_another_systems_conventions_reads_the_same(xml):
    melding, files = read_message({ARKIVMELDING_NAME: xml, "1.pdf": b"%PDF-1.7"})
    case = melding.saksmappe
    assert case.tittel == "Søknad om skjenkebevilling, Kafé Ærlig"
    assert (case.saksaar, case.sakssekvensnummer) == (2026, 117)  # from mappeID '26/117'
    assert case.arkivdel == "SAK" and case.klassifikasjoner == [] and case.parter == []
    assert melding.tittel.startswith("Søknad om skjenkebevilling") and melding.tittel.endswith("Kafé Ærlig")
    [part] = melding.korrespondanseparter
    assert part.navn == "Kafé Ærlig AS" and part.postadresse == "Storgata 1, Bakgården"
    assert melding.mottatt_dato.utcoffset() == timedelta(hours=1)  # no zone given: Norwegian time
    assert melding.tidspunkt is None and melding.dokumentets_dato is None and melding.skjerming is None
    [dokument] = melding.dokumenter
    assert (dokument.tilknyttet_registrering_som, dokument.filnavn, dokument.opprinnelig_filnavn) == (
        "Hoveddokument", "1.pdf", "søknad.pdf",
    )
    assert list(files) == ["1.pdf"]


def test_a_mappe_id_that_is_no_saksnummer_or_disagrees_is_refused():
    odd = FOREIGN.replace("<a:mappeID>26/117</a:mappeID>", "<a:mappeID>ABC-117</a:mappeID>").encode()
    assert "is not a saksnummer" in refusal(lambda: read_arkivmelding(odd)).message
    other = FOREIGN.replace(
        "<a:registrering i:type=\"a:journalpost\">\n    <a:arkivdel><m:kode>SAK</m:kode></a:arkivdel>",
        "<a:registrering i:type=\"a:journalpost\">\n    <a:referanseForelderMappe><m:saksnummer><m:saksaar>2026"
        "</m:saksaar><m:sakssekvensnummer>118</m:sakssekvensnummer></m:saksnummer></a:referanseForelderMappe>",
    ).encode()
    assert "name different cases" in refusal(lambda: read_arkivmelding(other)).message
