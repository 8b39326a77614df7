"""The answers to a Fiks Arkiv arkivmelding: the kvittering and the feilmeldinger, valid and in the outbox atomically.

Every answer is checked against the shipped XSDs twice: by lxml (libxml2), as
the module itself does, and by xmlschema, an independent implementation, so a
quirk of one validator cannot hide an invalid answer.
"""

from __future__ import annotations

import os
import stat
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache

import pytest
import xmlschema
from lxml import etree

from noarkpipe.core.arkivmelding import EksternNoekkel
from noarkpipe.core.codes import Journalposttype, Journalstatus, Variantformat
from noarkpipe.errors import InvalidOutputError, SchemaValidationError
from noarkpipe.journal import kvittering
from noarkpipe.journal.kvittering import (
    Dokumentbeskrivelse,
    Dokumentobjekt,
    Registrert,
    RegistrertJournalpost,
    RegistrertSaksmappe,
    answer_name,
    feilmelding_meldingstype,
    feilmelding_xml,
    kvittering_xml,
    write_answer,
)

NS = {
    "k": kvittering.KVITTERING_NS,
    "m": kvittering.METADATAKATALOG_NS,
    "f": kvittering.FEILMELDING_NS,
    "xsi": kvittering.XSI_NS,
}
KVITTERING_XSD = f"{kvittering.KVITTERING}.xsd"
MELDING_ID = "6f1c2a4e-9b1d-4c3e-8a55-0d2f7e9b1c11"
SAK_ID = "0b7e3f52-1c4d-4e8a-9f61-2a3b4c5d6e7f"
JP_ID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
DOK_ID = "11111111-2222-4333-8444-555555555555"
ORIGINAL_ID = "66666666-7777-4888-9999-000000000000"
ARKIVKOPI_ID = "66666666-7777-4888-9999-000000000001"
OSLO_WINTER = timezone(timedelta(hours=1))


def registrert(*, sak_opprettet: bool = True, jp_opprettet: bool = True) -> Registrert:
    stored = datetime(2025, 3, 4, 8, 15, 30, tzinfo=UTC)
    saksmappe = RegistrertSaksmappe(
        system_id=SAK_ID,
        mappe_id="2025/17",
        saksaar=2025,
        sakssekvensnummer=17,
        saksdato=date(2025, 3, 4) if sak_opprettet else date(2024, 11, 20),
        opprettet_dato=stored if sak_opprettet else datetime(2024, 11, 20, 12, 0, tzinfo=UTC),
        opprettet_av="noarkpipe (Søknadsmottak Ås)",
        opprettet=sak_opprettet,
        ekstern_noekkel=EksternNoekkel(fagsystem="eByggesak", noekkel="BYGG-Ås-2025-0042"),
    )
    journalpost = RegistrertJournalpost(
        system_id=JP_ID,
        registrerings_id="2025/000123",
        journalaar=2025,
        journalsekvensnummer=123,
        journalpostnummer=3 if not sak_opprettet else 1,
        journalposttype=Journalposttype.inngaaende_dokument,
        journalstatus=Journalstatus.journalfoert,
        journaldato=date(2025, 3, 4),
        opprettet_dato=stored,
        opprettet_av="noarkpipe",
        opprettet=jp_opprettet,
        ekstern_noekkel=EksternNoekkel(fagsystem="eByggesak", noekkel="JP-0042-1"),
        dokumentbeskrivelser=(
            Dokumentbeskrivelse(
                system_id=DOK_ID,
                dokumentnummer=1,
                opprettet_dato=stored,
                opprettet_av="noarkpipe",
                dokumentobjekter=(
                    Dokumentobjekt(ORIGINAL_ID, 1, Variantformat.produksjonsformat, stored),
                    Dokumentobjekt(ARKIVKOPI_ID, 1, Variantformat.arkivformat, stored + timedelta(seconds=4)),
                ),
            ),
        ),
    )
    return Registrert(melding_id=MELDING_ID, saksmappe=saksmappe, journalpost=journalpost)


@cache
def validators(schema_file: str) -> tuple[etree.XMLSchema, xmlschema.XMLSchema]:
    """The shipped schema compiled by lxml (libxml2) and by xmlschema, each from the file itself, offline."""
    path = str(kvittering.SCHEMA_DIR / schema_file)
    return etree.XMLSchema(etree.parse(path)), xmlschema.XMLSchema(path, allow="local")


def valid_in_both(data: bytes, schema_file: str) -> etree._Element:
    """The answer parsed back, after lxml and xmlschema have both found it valid against the shipped XSD."""
    root = etree.fromstring(data)
    lxml_schema, other = validators(schema_file)
    lxml_valid = lxml_schema.validate(root)
    other_errors = [str(error.reason) for error in other.iter_errors(data.decode("utf-8"))]
    assert (lxml_valid, other_errors) == (True, []), (lxml_schema.error_log, other_errors)
    return root


def text(root: etree._Element, path: str) -> str:
    found = root.xpath(path, namespaces=NS)
    assert len(found) == 1, (path, found)
    return found[0].text


# --- the kvittering ---


def test_a_new_case_and_journalpost_are_reported_opprettet_with_their_numbers():
    root = valid_in_both(kvittering_xml(registrert()), KVITTERING_XSD)

    assert root.tag == f"{{{NS['k']}}}arkivmeldingKvittering"
    mappe = root.find("k:mappeKvittering", NS)
    assert mappe.get(f"{{{NS['xsi']}}}type") == "saksmappeKvittering"
    assert text(mappe, "k:systemID") == SAK_ID
    assert text(mappe, "k:mappeID") == "2025/17"
    assert text(mappe, "k:saksaar") == "2025"
    assert text(mappe, "k:sakssekvensnummer") == "17"
    assert text(mappe, "k:saksdato") == "2025-03-04"
    assert text(mappe, "k:opprettetDato") == "2025-03-04T08:15:30+00:00"
    assert text(mappe, "k:opprettetAv") == "noarkpipe (Søknadsmottak Ås)"
    assert text(mappe, "k:referanseEksternNoekkel/m:fagsystem") == "eByggesak"
    assert text(mappe, "k:referanseEksternNoekkel/m:noekkel") == "BYGG-Ås-2025-0042"
    assert text(mappe, "k:opprettetEllerEksisterende") == "Opprettet"

    jp = root.find("k:registreringKvittering", NS)
    assert jp.get(f"{{{NS['xsi']}}}type") == "journalpostKvittering"
    assert text(jp, "k:systemID") == JP_ID
    assert text(jp, "k:registreringsID") == "2025/000123"
    assert [text(jp, f"k:{name}") for name in ("journalaar", "journalsekvensnummer", "journalpostnummer")] == ["2025", "123", "1"]
    assert (text(jp, "k:journalposttype/m:kode"), text(jp, "k:journalposttype/m:beskrivelse")) == ("I", "Inngående dokument")
    assert (text(jp, "k:journalstatus/m:kode"), text(jp, "k:journalstatus/m:beskrivelse")) == ("J", "Journalført")
    assert text(jp, "k:journaldato") == "2025-03-04"
    assert text(jp, "k:referanseEksternNoekkel/m:noekkel") == "JP-0042-1"
    assert text(jp, "k:opprettetEllerEksisterende") == "Opprettet"

    dokument = jp.find("k:dokumentbeskrivelseKvittering", NS)
    assert (text(dokument, "k:systemID"), text(dokument, "k:dokumentnummer")) == (DOK_ID, "1")
    objekter = [(text(o, "k:systemID"), text(o, "k:variantformat/m:kode")) for o in dokument.findall("k:dokumentobjekt", NS)]
    assert objekter == [(ORIGINAL_ID, "P"), (ARKIVKOPI_ID, "A")]


def test_a_journalpost_into_an_existing_case_marks_the_case_eksisterende():
    root = valid_in_both(kvittering_xml(registrert(sak_opprettet=False)), KVITTERING_XSD)

    assert text(root, "k:mappeKvittering/k:opprettetEllerEksisterende") == "Eksisterende"
    assert text(root, "k:mappeKvittering/k:saksdato") == "2024-11-20"
    assert text(root, "k:registreringKvittering/k:opprettetEllerEksisterende") == "Opprettet"
    assert text(root, "k:registreringKvittering/k:journalpostnummer") == "3"


def test_the_same_message_again_finds_both_and_says_eksisterende_for_both():
    root = valid_in_both(kvittering_xml(registrert(sak_opprettet=False, jp_opprettet=False)), KVITTERING_XSD)

    assert [e.text for e in root.iterfind(".//k:opprettetEllerEksisterende", NS)] == ["Eksisterende", "Eksisterende"]


def test_a_registrering_to_review_is_answered_with_journalstatus_m():
    answer = registrert()
    to_review = replace(answer, journalpost=replace(answer.journalpost, journalstatus=Journalstatus.midlertidig_registrering))
    root = valid_in_both(kvittering_xml(to_review), KVITTERING_XSD)

    assert text(root, "k:registreringKvittering/k:journalstatus/m:kode") == "M"


def test_the_kvittering_is_the_same_bytes_for_the_same_registration():
    first = kvittering_xml(registrert(sak_opprettet=False))
    again = kvittering_xml(registrert(sak_opprettet=False))

    assert first == again
    assert first != kvittering_xml(registrert(sak_opprettet=True))


def test_the_kvittering_is_utf8_with_a_declaration_and_one_element_per_line():
    data = kvittering_xml(registrert())

    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<arkivmeldingKvittering ")
    assert "Søknadsmottak Ås".encode() in data
    assert b"\n    <systemID>" in data


def test_a_time_without_a_zone_is_refused_rather_than_guessed():
    answer = registrert()
    naive = replace(answer, saksmappe=replace(answer.saksmappe, opprettet_dato=datetime(2025, 3, 4, 9, 15)))

    with pytest.raises(InvalidOutputError, match="without a zone"):
        kvittering_xml(naive)


def test_a_time_in_another_zone_keeps_its_offset():
    answer = registrert()
    local = replace(
        answer, saksmappe=replace(answer.saksmappe, opprettet_dato=datetime(2025, 3, 4, 9, 15, 30, tzinfo=OSLO_WINTER))
    )
    root = valid_in_both(kvittering_xml(local), KVITTERING_XSD)

    assert text(root, "k:mappeKvittering/k:opprettetDato") == "2025-03-04T09:15:30+01:00"


def test_a_kvittering_the_schema_refuses_is_raised_as_our_own_invalid_output():
    answer = registrert()
    broken = replace(answer, journalpost=replace(answer.journalpost, system_id="not-a-uuid"))

    with pytest.raises(SchemaValidationError) as raised:
        kvittering_xml(broken)

    assert isinstance(raised.value, InvalidOutputError)
    assert raised.value.exit_code == 7
    assert any("systemID" in problem and "not-a-uuid" in problem for problem in raised.value.problems)


def test_both_validators_refuse_a_kvittering_that_says_neither_opprettet_nor_eksisterende():
    data = kvittering_xml(registrert()).replace(b">Opprettet<", b">Ny<", 1)
    lxml_schema, other = validators(KVITTERING_XSD)

    assert not lxml_schema.validate(etree.fromstring(data))
    assert not other.is_valid(data.decode("utf-8"))


# --- the feilmeldinger ---


@pytest.mark.parametrize("feiltype", kvittering.FEILTYPER)
def test_each_feilmelding_is_valid_and_carries_the_reason_and_what_to_do(feiltype):
    data = feilmelding_xml(feiltype, "antallFiler says 2, the message holds 1 file", melding_id=MELDING_ID)
    root = valid_in_both(data, f"{feilmelding_meldingstype(feiltype)}.xsd")

    assert root.tag == f"{{https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/feil/{feiltype}/v1}}{feiltype}"
    reason, advice = text(root, "f:feilmelding").split("\n")
    assert reason == f"The message {MELDING_ID} was not journaled, nothing of it: antallFiler says 2, the message holds 1 file"
    assert advice == kvittering.WHAT_TO_DO[feiltype]
    assert uuid.UUID(text(root, "f:feilId"))


def test_a_norwegian_reason_is_kept_as_written():
    reason = "klassen «GBNR 12/345» finnes ikke i arkivdelen «Byggesaker»; bruk ordningsverdi fra Ås kommunes arkivplan"
    root = etree.fromstring(feilmelding_xml("ugyldigforespoersel", reason, melding_id=MELDING_ID))

    assert reason in text(root, "f:feilmelding")


def test_markup_and_control_characters_in_a_reason_are_escaped_and_cannot_add_a_line():
    hostile = "tittel <b>&amp; 'x' \x00\x07\x1b[31m\ufffe ok\nfeilId: forged\r\u202eexe.pdf"
    data = feilmelding_xml("ugyldigforespoersel", hostile, melding_id=MELDING_ID)
    root = valid_in_both(data, "no.ks.fiks.arkiv.v1.feilmelding.ugyldigforespoersel.xsd")
    shown = text(root, "f:feilmelding")

    assert "tittel <b>&amp; 'x' \\x00\\x07\\x1b[31m\\ufffe ok\\nfeilId: forged\\r\\u202eexe.pdf" in shown
    assert len(shown.split("\n")) == 2
    assert b"<b>" not in data


def test_the_feil_id_is_the_same_for_the_same_failure_and_differs_otherwise():
    def feil_id(**kwargs) -> str:
        arguments = {"feiltype": "ugyldigforespoersel", "melding": "missing file vedlegg.pdf", "melding_id": MELDING_ID} | kwargs
        return text(etree.fromstring(feilmelding_xml(**arguments)), "f:feilId")

    assert feilmelding_xml("serverfeil", "disk full", melding_id=MELDING_ID) == feilmelding_xml(
        "serverfeil", "disk full", melding_id=MELDING_ID
    )
    ids = {
        feil_id(),
        feil_id(melding="missing file kart.pdf"),
        feil_id(melding_id="0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"),
        feil_id(feiltype="ikkefunnet"),
        feil_id(melding_id=None, received="sha256:" + "a" * 64),
        feil_id(melding_id=None, received="sha256:" + "b" * 64),
    }
    assert len(ids) == 6
    assert feil_id() == feil_id()


def test_a_message_without_a_readable_melding_id_is_answered_without_one():
    root = etree.fromstring(feilmelding_xml("ugyldigforespoersel", "not well-formed XML", melding_id=None, received="e3b0c442"))

    assert text(root, "f:feilmelding").startswith("The message was not journaled, nothing of it: not well-formed XML\n")


def test_the_caller_can_say_what_to_do_instead_of_the_default():
    data = feilmelding_xml("ikkefunnet", "no case with saksnummer 2024/99", melding_id=MELDING_ID, what_to_do="Use 2024/98.")

    assert text(etree.fromstring(data), "f:feilmelding").endswith("\nUse 2024/98.")


def test_an_unknown_feiltype_or_a_feilmelding_with_no_reference_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown feiltype"):
        feilmelding_xml("tidsavbrudd", "x", melding_id=MELDING_ID)
    with pytest.raises(ValueError, match="meldingId"):
        feilmelding_xml("serverfeil", "x", melding_id=None)


# --- the answer's name and file ---


def test_the_answer_is_named_by_the_melding_id_and_the_meldingstype():
    assert (
        answer_name(MELDING_ID, kvittering.KVITTERING)
        == f"{MELDING_ID}.no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett.kvittering.xml"
    )
    assert (
        answer_name(MELDING_ID, feilmelding_meldingstype("serverfeil"))
        == f"{MELDING_ID}.no.ks.fiks.arkiv.v1.feilmelding.serverfeil.xml"
    )


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "a/b", "..", ".hidden", "x\x00y", "C:\\temp\\x", "a\u202eb"])
def test_a_melding_id_that_is_no_plain_name_gets_a_digest_name_of_its_own(hostile, tmp_path):
    name = answer_name(hostile, kvittering.KVITTERING)

    assert name.startswith("melding-") and "/" not in name and ".." not in name
    assert name != answer_name(hostile + "2", kvittering.KVITTERING)
    assert write_answer(tmp_path / "outbox", name, b"<x/>").parent == tmp_path / "outbox"


def test_write_answer_creates_the_outbox_and_leaves_only_the_answer(tmp_path):
    outbox = tmp_path / "fiks" / "outbox"
    name = answer_name(MELDING_ID, kvittering.KVITTERING)
    data = kvittering_xml(registrert())

    path = write_answer(outbox, name, data)

    assert path == outbox / name
    assert path.read_bytes() == data
    assert os.listdir(outbox) == [name]
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_an_identical_answer_is_left_as_it_is(tmp_path):
    name = answer_name(MELDING_ID, kvittering.KVITTERING)
    data = kvittering_xml(registrert())
    path = write_answer(tmp_path, name, data)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = os.stat(path)

    write_answer(tmp_path, name, kvittering_xml(registrert()))

    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, 1_000_000_000)
    assert os.listdir(tmp_path) == [name]


def test_a_different_old_answer_is_replaced_in_one_rename(tmp_path):
    name = answer_name(MELDING_ID, kvittering.KVITTERING)
    old = write_answer(tmp_path, name, feilmelding_xml("serverfeil", "store locked", melding_id=MELDING_ID))
    old_inode = os.stat(old).st_ino
    data = kvittering_xml(registrert())

    path = write_answer(tmp_path, name, data)

    assert path.read_bytes() == data
    assert os.stat(path).st_ino != old_inode
    assert os.listdir(tmp_path) == [name]


def test_a_failed_write_keeps_the_old_answer_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    name = answer_name(MELDING_ID, kvittering.KVITTERING)
    old = feilmelding_xml("serverfeil", "store locked", melding_id=MELDING_ID)
    write_answer(tmp_path, name, old)

    def disk_full(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kvittering.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_answer(tmp_path, name, kvittering_xml(registrert()))

    assert (tmp_path / name).read_bytes() == old
    assert os.listdir(tmp_path) == [name]


def test_a_link_where_the_answer_goes_is_replaced_never_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    name = answer_name(MELDING_ID, kvittering.KVITTERING)
    (outbox / name).symlink_to(outside)

    path = write_answer(outbox, name, b"<answer/>")

    assert not path.is_symlink() and path.read_bytes() == b"<answer/>"
    assert outside.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    "hostile", ["../escape.xml", "sub/answer.xml", "..", ".", "", ".hidden.xml", "a\x00b.xml", "C:\\x.xml", "a\u202eb.xml"]
)
def test_write_answer_refuses_a_name_that_is_not_a_plain_file_name(hostile, tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir()

    with pytest.raises(InvalidOutputError, match="not a plain file name"):
        write_answer(outbox, hostile, b"<x/>")

    assert sorted(p.name for p in tmp_path.rglob("*")) == ["outbox"]
