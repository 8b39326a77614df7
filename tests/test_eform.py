"""E-form intake: the three delivery shapes, and everything a hostile or broken delivery can try."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import socket
import stat
import struct
import threading
import time
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from noarkpipe.errors import InputFileError
from noarkpipe.intake import DocumentRole, IntakeContext, IntakeLimits, Source
from noarkpipe.intake.archive import read_zip
from noarkpipe.intake.eform import parse_eform_pair, parse_eform_xml, parse_eform_zip, sniff_eform
from noarkpipe.intake.eform_envelope import schema_problems
from noarkpipe.xml.schemas import safe_parser

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sample-eforms"
BYGGESAK = SAMPLES / "byggesak-fjellvik-ett-trinn.xml"
BARNEHAGE = SAMPLES / "barnehageplass-FS-2026-120051.zip"
SKADEDYR_JSON = SAMPLES / "skadedyr-FS-2026-120777.json"
SKADEDYR_PDF = SAMPLES / "skadedyr-FS-2026-120777.pdf"
STARTLAN = SAMPLES / "startlan-latin1.xml"
PDF = SKADEDYR_PDF.read_bytes()
FNR = "23858734541"


def context(tmp_path: Path, name: str = "delivery", **limits) -> IntakeContext:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return IntakeContext(
        origin_name=name,
        received=datetime(2026, 11, 24, 2, 0, tzinfo=UTC),
        scratch=scratch,
        limits=IntakeLimits(**limits),
    )


def form(**changes) -> dict:
    """The metadata and fields of a small valid form, as in X.json or manifest.json."""
    value = {
        "formType": "melding-skadedyr",
        "title": "Melding om skadedyr",
        "submissionId": "FS-1",
        "submittedAt": "2026-11-22T19:42:10+01:00",
        "submitter": {"type": "person", "name": "Jørgen Bråten", "email": "jorgen@example.no"},
        "fields": [{"name": "skadedyr", "label": "Type skadedyr", "value": "Rotter"}],
    }
    value.update(changes)
    return value


def write_pair(tmp_path: Path, metadata: dict | bytes, pdf: bytes = PDF) -> tuple[Path, Path]:
    json_path, pdf_path = tmp_path / "X.json", tmp_path / "X.pdf"
    json_path.write_bytes(metadata if isinstance(metadata, bytes) else json.dumps(metadata, ensure_ascii=False).encode())
    pdf_path.write_bytes(pdf)
    return json_path, pdf_path


def pair(tmp_path: Path, metadata: dict | bytes, pdf: bytes = PDF, **limits):
    return parse_eform_pair(*write_pair(tmp_path, metadata, pdf), context(tmp_path, "X.json", **limits))


def envelope(
    *,
    title: str = "Søknad om tillatelse i ett trinn",
    submitted_at: str = "2026-11-20T14:03:00+01:00",
    name: str = "Åse Ødegård",
    fields: str = '<field name="gnr" label="Gårdsnummer" type="number">12</field>',
    rendering: bytes = PDF,
    attachments: str = "",
    doctype: str = "",
    encoding: str = "UTF-8",
) -> bytes:
    content = base64.b64encode(rendering).decode()
    text = f"""<?xml version="1.0" encoding="{encoding}"?>
{doctype}<eskjema xmlns="urn:noarkpipe:eskjema:1.0" version="1.0">
  <formType>byggesak-ett-trinn</formType>
  <title>{title}</title>
  <submissionId>FS-7</submissionId>
  <submittedAt>{submitted_at}</submittedAt>
  <about>gnr. 12 bnr. 7, Fjellvik</about>
  <submitter><person><name>{name}</name><fodselsnummer>{FNR}</fodselsnummer></person></submitter>
  <fields>{fields}</fields>
  <rendering filename="soknad.pdf"><content>{content}</content></rendering>
  {attachments}
</eskjema>
"""
    return text.encode(encoding)


def parse_xml_bytes(tmp_path: Path, data: bytes, **limits):
    path = tmp_path / "envelope.xml"
    path.write_bytes(data)
    return parse_eform_xml(path, context(tmp_path, "envelope.xml", **limits))


def write_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zipped:
        for name, content in members:
            zipped.writestr(name, content)
    return path


def manifest_zip(tmp_path: Path, documents: list[dict], members: list[tuple[str, bytes]], **changes) -> Path:
    manifest = json.dumps(form(documents=documents, **changes), ensure_ascii=False).encode()
    return write_zip(tmp_path / "delivery.zip", [("manifest.json", manifest), *members])


def main_entry(filename: str = "skjema.pdf", **extra) -> dict:
    return {"filename": filename, "mediaType": "application/pdf", "role": "main", **extra}


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, content in members:
            zipped.writestr(name, content)
    return buffer.getvalue()


def patch_headers(data: bytes, **fields: int) -> bytes:
    """Overwrite header fields of every member, in both the local and the central headers."""
    local = {"flags": (6, "<H"), "compress_size": (18, "<I"), "file_size": (22, "<I")}
    central = {"flags": (8, "<H"), "compress_size": (20, "<I"), "file_size": (24, "<I")}
    patched = bytearray(data)
    for signature, layout in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        start = 0
        while (start := patched.find(signature, start)) >= 0:
            for field, value in fields.items():
                offset, fmt = layout[field]
                if field == "flags":
                    value = value(struct.unpack_from(fmt, patched, start + offset)[0])
                struct.pack_into(fmt, patched, start + offset, value)
            start += 4
    return bytes(patched)


def corrupt_member(data: bytes) -> bytes:
    """The zip with the start of its first member's packed data overwritten: not valid deflate."""
    start = 30 + struct.unpack_from("<H", data, 26)[0] + struct.unpack_from("<H", data, 28)[0]
    return data[:start] + b"\xff" * 8 + data[start + 8 :]


# --- The sample deliveries ---


def test_sniff_decides_by_content_not_extension(tmp_path):
    for source, kind in ((BYGGESAK, "xml"), (STARTLAN, "xml"), (BARNEHAGE, "zip"), (SKADEDYR_JSON, "json")):
        assert sniff_eform(source) == kind
        renamed = tmp_path / f"{source.stem}.dat"
        shutil.copy(source, renamed)
        assert sniff_eform(renamed) == kind


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?><arkivstruktur xmlns="http://www.arkivverket.no/standarder/noark5/arkivstruktur"/>',
        b'<eskjema version="1.0"/>',
        zip_bytes([("skjema.pdf", PDF), ("annet.xml", b"<a/>")]),
        b'[{"formType": "x", "fields": []}]',
        b'{"title": "Melding om skadedyr"}',
        PDF,
        b"From: a@example.no\r\nSubject: hei\r\n\r\ntekst",
        b"",
        b"PK\x03\x04 broken",
        corrupt_member(zip_bytes([("eskjema.xml", b"<eskjema>" + b"<x>abc</x>" * 5000)])),
    ],
    ids=[
        "other-xml", "no-namespace", "zip-without-manifest", "json-array", "json-other-keys", "pdf", "eml", "empty",
        "broken-zip", "corrupt-member",
    ],
)
def test_sniff_says_none_for_other_files(tmp_path, content):
    path = tmp_path / "file.xml"
    path.write_bytes(content)
    assert sniff_eform(path) is None
    assert sniff_eform(tmp_path / "missing.json") is None


def test_building_application_envelope(tmp_path):
    [submission] = parse_eform_xml(BYGGESAK, context(tmp_path, "fjellvik/byggesak-fjellvik-ett-trinn.xml"))
    assert submission.source is Source.eform
    assert submission.form_type == "byggesak-ett-trinn"
    assert submission.subject == "Søknad om tillatelse i ett trinn – gnr. 12 bnr. 7, Fjellvik – tilbygg til bolig"
    assert submission.sent == datetime(2026, 11, 20, 14, 3, 27, tzinfo=timezone(timedelta(hours=1)))
    assert submission.received == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert submission.message_id == "FS-2026-118734"
    sender = submission.sender
    assert (sender.name, sender.organisasjonsnummer, sender.email) == (
        "Fjellvik Bygg og Anlegg AS", "998765432", "post@fjellvikbygg.example.no"
    )
    assert (sender.postal_address, sender.postal_code, sender.city) == ("Sjøgata 14", "5570", "Fjellvik")
    data = submission.form_data
    assert data["eiendom"] == {"kommunenummer": "4699", "gnr": 12, "bnr": 7, "adresse": "Bjørkeveien 3, 5570 Fjellvik"}
    assert data["bruksareal"] == 24.5 and data["dispensasjon"] is False
    assert data["nabovarsel"] == ["Gnr. 12 bnr. 8", "Gnr. 12 bnr. 15"]
    assert "  Gårdsnummer: 12\n" in submission.body_text
    assert "Søkes det om dispensasjon?: Nei" in submission.body_text
    assert [(d.role, d.filename, d.media_type, d.title) for d in submission.documents] == [
        (DocumentRole.main, "soknad-ett-trinn.pdf", "application/pdf", "Søknad om tillatelse i ett trinn"),
        (DocumentRole.attachment, "byggesak-fjellvik-ett-trinn.xml", "application/xml", "Skjemadata (XML)"),
        (DocumentRole.attachment, "situasjonsplan.pdf", "application/pdf", "Situasjonsplan"),
    ]
    main, data_document, plan = submission.documents
    assert main.content.startswith(b"%PDF-") and plan.content.startswith(b"%PDF-") and main.content != plan.content
    assert data_document.content == BYGGESAK.read_bytes()


def test_kindergarten_zip_with_manifest(tmp_path):
    [submission] = parse_eform_zip(BARNEHAGE, context(tmp_path, "barnehageplass.zip"))
    assert submission.form_type == "barnehageplass"
    assert submission.subject == "Søknad om barnehageplass – Nora Ødegård Hansen"
    assert submission.sent == datetime(2026, 11, 21, 8, 15, tzinfo=UTC)
    assert submission.form_data["barnehage"] == ["Solsikken barnehage", "Trollskogen barnehage"]
    assert submission.form_data["heltid"] is True
    assert [(d.role, d.filename, d.title) for d in submission.documents] == [
        (DocumentRole.main, "skjema.pdf", "Søknad om barnehageplass"),
        (DocumentRole.attachment, "skjemadata.xml", "Skjemadata (XML)"),
        (DocumentRole.attachment, "dokumentasjon-særskilte-behov.pdf", "Dokumentasjon på særskilte behov"),
    ]
    rendered = etree.fromstring(submission.documents[1].content, safe_parser())
    assert schema_problems(rendered) == []
    ns = {"e": "urn:noarkpipe:eskjema:1.0"}
    assert rendered.xpath("string(e:title)", namespaces=ns) == "Søknad om barnehageplass"
    assert rendered.xpath("string(e:rendering/e:reference)", namespaces=ns) == "skjema.pdf"
    assert rendered.xpath("string(e:attachments/e:attachment/@sha256)", namespaces=ns) == hashlib.sha256(
        submission.documents[2].content
    ).hexdigest()


def test_pest_report_json_and_pdf_pair(tmp_path):
    [submission] = parse_eform_pair(SKADEDYR_JSON, SKADEDYR_PDF, context(tmp_path, SKADEDYR_JSON.name))
    assert submission.form_type == "melding-skadedyr"
    assert submission.subject == "Melding om skadedyr – Rotter i kjeller, Storgata 5"
    assert submission.sender.name == "Jørgen Bråten"
    assert submission.form_data["antallBoenheter"] == 6 and submission.form_data["tiltakIverksatt"] is None
    assert "Type skadedyr: Rotter" in submission.body_text
    main, data = submission.documents
    assert (main.filename, main.content) == (SKADEDYR_PDF.name, PDF)
    assert data.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert schema_problems(etree.fromstring(data.content, safe_parser())) == []


def test_latin1_sample_envelope_keeps_norwegian_letters(tmp_path):
    [submission] = parse_eform_xml(STARTLAN, context(tmp_path, STARTLAN.name))
    assert submission.subject == "Søknad om startlån – Øystein Ærø"
    assert submission.sender.name == "Øystein Ærø" and submission.sender.postal_address == "Fjordgløtt 9"
    assert submission.form_data["medsoker"]["navn"] == "Bjørg Ærø"
    assert submission.documents[1].content == STARTLAN.read_bytes()


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252", "UTF-16"])
def test_envelope_in_other_declared_encodings(tmp_path, encoding):
    fields = '<field name="sted" label="Stedsnavn">Bjørkåsen Ærfuglvik</field>'
    data = envelope(title="Søknad om ærfugl-øy", name="Åse Ødegård", fields=fields, encoding=encoding)
    [submission] = parse_xml_bytes(tmp_path, data)
    assert submission.subject == "Søknad om ærfugl-øy – gnr. 12 bnr. 7, Fjellvik"
    assert submission.sender.name == "Åse Ødegård"
    assert submission.form_data["sted"] == "Bjørkåsen Ærfuglvik"
    assert "Stedsnavn: Bjørkåsen Ærfuglvik" in submission.body_text


@pytest.mark.parametrize(
    "written", [FNR, f"{FNR[:6]} {FNR[6:]}", f"{FNR[:2]}.{FNR[2:4]}.{FNR[4:6]} {FNR[6:9]} {FNR[9:]}", f"{FNR[:6]}-{FNR[6:]}"]
)
def test_fodselsnummer_stays_out_of_name_and_subject(tmp_path, written):
    metadata = form(
        about=f"Kari Nordmann ({written}), gnr. 12 bnr. 7",
        submitter={"type": "person", "name": f"Kari Nordmann {written}", "fodselsnummer": FNR},
        fields=[{"name": "fodselsnummer", "label": "Fødselsnummer", "value": FNR}],
    )
    [submission] = pair(tmp_path, metadata)
    assert submission.sender.name == "Kari Nordmann"
    assert submission.subject == "Melding om skadedyr – Kari Nordmann, gnr. 12 bnr. 7"
    assert FNR[-5:] not in submission.subject + submission.sender.model_dump_json()
    assert submission.form_data["fodselsnummer"] == FNR
    assert submission.form_data["_submission"]["submitter"]["fodselsnummer"] == FNR


def test_json_rendering_reads_back_as_a_zipped_envelope(tmp_path):
    metadata = form(
        caseReference="2026/123",
        fields=[
            {"name": "antall", "value": 3},
            {"name": "andel", "value": 0.25},
            {"name": "haster", "label": "Haster", "value": True},
            {"name": "merknad", "value": None},
            {"name": "adresse", "label": "Adresse", "fields": [{"name": "gate", "value": "Storgata 5\nFjellvik"}]},
        ],
    )
    [first] = pair(tmp_path, metadata)
    assert first.our_reference == "2026/123"
    main, data = first.documents
    delivery = write_zip(tmp_path / "again.zip", [("eskjema.xml", data.content), (main.filename, main.content)])
    assert sniff_eform(delivery) == "zip"
    [second] = parse_eform_zip(delivery, context(tmp_path, "again.zip"))
    assert second.form_data == first.form_data
    assert (second.form_type, second.subject, second.sent, second.sender) == (
        first.form_type, first.subject, first.sent, first.sender
    )
    assert second.body_text == first.body_text
    assert [d.content for d in second.documents] == [main.content, data.content]


# --- Hostile and broken XML ---


def listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    return server, server.getsockname()[1]


@pytest.mark.parametrize("shape", ["xml", "zip"])
def test_external_entities_are_refused_never_resolved(tmp_path, shape):
    server, port = listener()
    doctype = (
        f'<!DOCTYPE eskjema [<!ENTITY passwd SYSTEM "file:///etc/passwd">'
        f'<!ENTITY remote SYSTEM "http://127.0.0.1:{port}/x"><!ENTITY % dtd SYSTEM "http://127.0.0.1:{port}/d.dtd"> %dtd;]>\n'
    )
    data = envelope(title="&passwd;&remote;", doctype=doctype)
    path = tmp_path / "xxe.xml"
    if shape == "zip":
        write_zip(path, [("eskjema.xml", data)])
    else:
        path.write_bytes(data)
    outcome: dict = {}

    def attempt():
        parse = parse_eform_zip if shape == "zip" else parse_eform_xml
        try:
            outcome["result"] = parse(path, context(tmp_path, "xxe.xml"))
        except InputFileError as error:
            outcome["error"] = error

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    server.settimeout(0.2)
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()
    assert sniff_eform(path) == shape
    error = outcome["error"]
    assert "DOCTYPE" in str(error)
    passwd_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert passwd_line not in str(error)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_entity_expansion_bomb_is_refused_at_once(tmp_path):
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10)
    )
    data = envelope(title="&lol9;", doctype=f"<!DOCTYPE eskjema [{entities}]>\n")
    started = time.monotonic()
    with pytest.raises(InputFileError, match="DOCTYPE"):
        parse_xml_bytes(tmp_path, data)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (envelope(submitted_at="2026-11-20T14:03:00"), r"line 6: .*submittedAt"),
        (envelope(submitted_at="i går"), r"line 6: .*submittedAt"),
        (envelope(fields='<field label="uten navn">x</field>'), r"line 9: .*field.*name"),
        (envelope(fields='<field name="9feil">x</field>'), r"line 9: .*name"),
        (envelope().replace(b"<formType>byggesak-ett-trinn</formType>", b""), r"line 4: .*title.*formType"),
        (envelope(attachments="<attachments/>"), r"line 11: .*attachments"),
    ],
    ids=["naive-time", "not-a-time", "field-without-name", "bad-field-name", "missing-form-type", "empty-attachments"],
)
def test_envelope_not_valid_against_schema_names_line_and_element(tmp_path, data, expected):
    with pytest.raises(InputFileError, match=expected) as caught:
        parse_xml_bytes(tmp_path, data)
    assert "not a valid e-skjema 1.0 envelope" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<eskjema", "not well-formed XML"),
        (b'<eskjema xmlns="urn:other" version="1.0"/>', "root element is {urn:other}eskjema"),
        (envelope(fields='<field name="antall" type="number">mange</field>'), "line 9: field 'antall' has type number"),
        (envelope(fields='<group name="a">' * 11 + "</group>" * 11), "nested deeper than 10"),
        (envelope(rendering=b"Hello, this is not a PDF"), "'soknad.pdf' is not a PDF"),
    ],
    ids=["truncated", "wrong-namespace", "number-not-a-number", "groups-too-deep", "rendering-not-pdf"],
)
def test_broken_envelopes(tmp_path, data, expected):
    with pytest.raises(InputFileError) as caught:
        parse_xml_bytes(tmp_path, data)
    assert expected in str(caught.value)


def test_comments_and_ten_levels_of_groups_are_fine(tmp_path):
    fields = '<group name="a">' * 10 + '<field name="b"><!-- merknad -->verdi</field>' + "</group>" * 10
    [submission] = parse_xml_bytes(tmp_path, envelope(title="Søknad <!-- kommentar --> om", fields=fields))
    assert submission.subject == "Søknad om – gnr. 12 bnr. 7, Fjellvik"
    value = submission.form_data
    for _ in range(10):
        value = value["a"]
    assert value == {"b": "verdi"}


def test_inline_document_too_large_to_embed(tmp_path):
    with pytest.raises(InputFileError, match="too large to embed as base64"):
        parse_xml_bytes(tmp_path, envelope(rendering=PDF + bytes(8 * 1024 * 1024)))


def test_reference_in_an_envelope_on_its_own_is_refused(tmp_path):
    data = envelope(attachments='<attachments><attachment filename="a.pdf" mediaType="application/pdf">'
                    "<reference>a.pdf</reference></attachment></attachments>")
    with pytest.raises(InputFileError, match="envelope came on its own"):
        parse_xml_bytes(tmp_path, data)


def test_attachment_names_are_sanitised(tmp_path):
    plan = base64.b64encode(b"%PDF-1.4 plan").decode()
    data = envelope(attachments=(
        '<attachments>'
        f'<attachment filename="../../etc/cron.d/evil.pdf" mediaType="application/pdf"><content>{plan}</content></attachment>'
        f'<attachment filename="C:\\Windows\\plan\x7f&#9;tegning.pdf" mediaType="application/pdf"><content>{plan}</content></attachment>'
        f'<attachment filename="evil.pdf" mediaType="application/pdf"><content>{plan}</content></attachment>'
        '</attachments>'
    ))
    [submission] = parse_xml_bytes(tmp_path, data)
    assert [d.filename for d in submission.documents[2:]] == ["evil.pdf", "plan__tegning.pdf", "evil (2).pdf"]
    assert [d.title for d in submission.documents[2:]] == ["evil.pdf", "plan__tegning.pdf", "evil (2).pdf"]


def test_zip_member_with_control_characters_gets_a_safe_name(tmp_path):
    name = "vedlegg/plan\x01tegning.pdf"
    path = manifest_zip(
        tmp_path,
        [main_entry(), {"filename": name, "mediaType": "application/pdf", "role": "attachment"}],
        [("skjema.pdf", PDF), (name, PDF)],
    )
    [submission] = parse_eform_zip(path, context(tmp_path))
    assert submission.documents[2].filename == "plan_tegning.pdf"


def test_inline_zip_bomb_attachment_is_refused(tmp_path):
    bomb = base64.b64encode(zip_bytes([("nuller.bin", bytes(20 * 1024 * 1024))])).decode()
    data = envelope(attachments=(
        f'<attachments><attachment filename="tegninger.zip" mediaType="application/zip"><content>{bomb}</content>'
        "</attachment></attachments>"
    ))
    with pytest.raises(InputFileError, match="'tegninger.zip': member 'nuller.bin' .* zip bomb"):
        parse_xml_bytes(tmp_path, data)


# --- Zip deliveries ---


def test_zip_unlisted_member_becomes_an_attachment(tmp_path):
    path = manifest_zip(tmp_path, [main_entry()], [("skjema.pdf", PDF), ("ekstra/kart.png", b"\x89PNG\r\n")])
    [submission] = parse_eform_zip(path, context(tmp_path))
    extra = submission.documents[2]
    assert (extra.filename, extra.media_type, extra.content) == ("kart.png", "image/png", b"\x89PNG\r\n")
    assert "ikke oppført" in extra.title


@pytest.mark.parametrize(
    ("documents", "members", "expected"),
    [
        ([main_entry(), {"filename": "mangler.pdf", "mediaType": "application/pdf", "role": "attachment"}],
         [("skjema.pdf", PDF)], "'mangler.pdf' is not in the zip"),
        ([main_entry(sha256=hashlib.sha256(b"something else").hexdigest())],
         [("skjema.pdf", PDF)], "'skjema.pdf' does not match its SHA-256"),
        ([main_entry(sha256="ab" * 10)], [("skjema.pdf", PDF)], "documents[0].sha256"),
        ([{"filename": "skjema.pdf", "mediaType": "application/pdf", "role": "attachment"}],
         [("skjema.pdf", PDF)], "exactly one document with role 'main'"),
        ([main_entry(), main_entry()], [("skjema.pdf", PDF)], "listed twice"),
        ([main_entry()], [("skjema.pdf", b"<html>not a pdf</html>")], "is not a PDF"),
    ],
    ids=["missing-document", "checksum-mismatch", "malformed-checksum", "no-main", "listed-twice", "main-not-pdf"],
)
def test_zip_manifest_problems(tmp_path, documents, members, expected):
    path = manifest_zip(tmp_path, documents, members)
    with pytest.raises(InputFileError) as caught:
        parse_eform_zip(path, context(tmp_path))
    assert expected in str(caught.value)


def test_zip_checksum_that_matches_is_accepted(tmp_path):
    path = manifest_zip(tmp_path, [main_entry(sha256=hashlib.sha256(PDF).hexdigest().upper())], [("skjema.pdf", PDF)])
    [submission] = parse_eform_zip(path, context(tmp_path))
    assert submission.main_document.content == PDF


def test_zip_without_manifest_or_envelope(tmp_path):
    path = write_zip(tmp_path / "x.zip", [("skjema.pdf", PDF)])
    with pytest.raises(InputFileError, match="neither manifest.json nor an e-skjema envelope"):
        parse_eform_zip(path, context(tmp_path))


def test_broken_and_truncated_zips(tmp_path):
    good = BARNEHAGE.read_bytes()
    for name, content in (("truncated.zip", good[: len(good) // 2]), ("garbage.zip", b"PK\x03\x04" + bytes(100)),
                          ("corrupt.zip", corrupt_member(good))):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InputFileError, match="not a readable zip archive"):
            parse_eform_zip(path, context(tmp_path, name))


# --- Safe zip reading (archive.py) ---


@pytest.mark.parametrize("name", ["../../evil.txt", "/etc/x", "C:\\x", "C:/x", "vedlegg/../../x", "..\\..\\x"])
def test_member_paths_that_escape_are_refused(tmp_path, name):
    path = write_zip(tmp_path / "evil.zip", [("manifest.json", b"{}"), (zipfile.ZipInfo(name), b"evil")])
    assert zipfile.ZipFile(path).namelist()[1] == name
    with pytest.raises(InputFileError, match="absolute path, a drive letter or '..'"):
        parse_eform_zip(path, context(tmp_path))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.zip", "scratch"]
    assert not Path("/etc/x").exists()


def test_member_name_twice_is_refused(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = write_zip(tmp_path / "twice.zip", [("skjema.pdf", PDF), ("skjema.pdf", b"%PDF-1.4 other")])
    with pytest.raises(InputFileError, match="holds 'skjema.pdf' twice"):
        read_zip(path, context(tmp_path))


def test_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("vedlegg.pdf")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = write_zip(tmp_path / "link.zip", [(link, b"/etc/passwd")])
    with pytest.raises(InputFileError, match="symbolic link"):
        read_zip(path, context(tmp_path))


def test_encrypted_member_is_refused(tmp_path):
    path = tmp_path / "locked.zip"
    path.write_bytes(patch_headers(zip_bytes([("skjema.pdf", PDF)]), flags=lambda flags: flags | 0x1))
    with pytest.raises(InputFileError, match="encrypted"):
        read_zip(path, context(tmp_path))


def test_too_many_members(tmp_path):
    path = write_zip(tmp_path / "many.zip", [(f"{i}.txt", b"x") for i in range(4)])
    assert len(read_zip(path, context(tmp_path, max_archive_members=4))) == 4
    with pytest.raises(InputFileError, match="more than 3 members"):
        read_zip(path, context(tmp_path, max_archive_members=3))


def test_zip_bomb_is_stopped_while_streaming(tmp_path):
    path = write_zip(tmp_path / "bomb.zip", [("nuller.bin", bytes(60 * 1024 * 1024))])
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(InputFileError, match="zip bomb"):
            read_zip(path, context(tmp_path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_header_sizes_are_not_trusted(tmp_path):
    bomb = zip_bytes([("nuller.bin", bytes(30 * 1024 * 1024))])
    small_claim, huge_packed_claim = tmp_path / "small.zip", tmp_path / "packed.zip"
    small_claim.write_bytes(patch_headers(bomb, file_size=10))
    huge_packed_claim.write_bytes(patch_headers(bomb, compress_size=0x7FFFFFFF))
    with pytest.raises(InputFileError, match="not a readable zip archive"):
        read_zip(small_claim, context(tmp_path))
    with pytest.raises(InputFileError, match="zip bomb|not a readable zip archive"):
        read_zip(huge_packed_claim, context(tmp_path))


def test_total_unpacked_size_is_limited(tmp_path):
    # Bytes that do not pack: a repeated digest would pack 300-fold and be refused by the whole-archive ratio.
    random_bytes = b"".join(hashlib.sha512(n.to_bytes(4, "big")).digest() for n in range(12_000))
    path = write_zip(tmp_path / "big.zip", [("a.bin", random_bytes), ("b.bin", random_bytes[::-1])])
    assert len(read_zip(path, context(tmp_path, max_unpacked_mb=2))) == 2
    with pytest.raises(InputFileError, match="more than 1 MB in all"):
        read_zip(path, context(tmp_path, max_unpacked_mb=1))


def test_nested_zips_are_checked_to_the_nesting_limit(tmp_path):
    inner = zip_bytes([("b.zip", zip_bytes([("c.txt", "Bjørn".encode())]))])
    path = write_zip(tmp_path / "outer.zip", [("a.zip", inner), ("notat.txt", b"hei")])
    with pytest.raises(InputFileError, match="'b.zip' is a zip nested more than 1 levels deep"):
        read_zip(path, context(tmp_path, max_nesting=1))
    kept = read_zip(path, context(tmp_path, max_nesting=2))
    assert [(m.name, m.content) for m in kept] == [("a.zip", inner), ("notat.txt", b"hei")]
    expanded = read_zip(path, context(tmp_path, max_nesting=2), expand_nested=True)
    assert [(m.name, m.content) for m in expanded] == [("a.zip/b.zip/c.txt", "Bjørn".encode()), ("notat.txt", b"hei")]


def test_documents_built_on_zip_are_not_unpacked(tmp_path):
    docx = zip_bytes([("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w:document/>")])
    path = write_zip(tmp_path / "d.zip", [("brev.docx", docx)])
    assert [(m.name, m.content) for m in read_zip(path, context(tmp_path), expand_nested=True)] == [("brev.docx", docx)]


def test_utf8_member_names_without_the_utf8_flag(tmp_path):
    path = tmp_path / "windows.zip"
    path.write_bytes(patch_headers(zip_bytes([("søknad.pdf", PDF)]), flags=lambda flags: flags & ~0x800))
    assert zipfile.ZipFile(path).namelist() != ["søknad.pdf"]
    assert [m.name for m in read_zip(path, context(tmp_path))] == ["søknad.pdf"]


# --- JSON deliveries ---


def nested_groups(depth: int) -> list[dict]:
    fields = [{"name": "verdi", "value": 1}]
    for _ in range(depth):
        fields = [{"name": "gruppe", "fields": fields}]
    return fields


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'["Melding om skadedyr"]', "expected a JSON object with the form's metadata, found an array"),
        (b'"tekst"', "found a string"),
        (json.dumps(form(submittedAt=5)).encode(), "submittedAt"),
        (json.dumps(form(submittedAt="2026-11-22T19:42:10")).encode(), "submittedAt: Input should have timezone info"),
        (json.dumps(form(fields="Rotter")).encode(), "fields: Input should be a valid list"),
        (json.dumps(form(fields=[{"name": "x", "value": {"a": 1}}])).encode(), "fields[0].value"),
        (json.dumps(form(submitter={"type": "firma", "name": "X"})).encode(), "submitter.type"),
        (json.dumps(form(formTyp="x")).encode(), "formTyp: Extra inputs are not permitted"),
        (json.dumps(form(fields=[{"name": "x", "value": "a\u0001b"}])).encode(), "control character U+0001"),
        (json.dumps(form(fields=[{"name": "x", "value": "a", "fields": []}])).encode(), "has both a value and fields"),
        (b'{"formType": "x", "fields": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper than 32 levels"),
        (b'{"formType": "x", "fields": ' + b"[" * 100 + b"]" * 100 + b"}", "nested deeper than 32 levels"),
        (json.dumps(form(fields=nested_groups(11))).encode(), "groups nested deeper than 10"),
        ('{"formType": "skadedyr", "title": "Møte"}'.encode("latin-1"), "not valid UTF-8 (bad byte at offset 36)"),
        (b'{"formType": "a", "formType": "b"}', "the key 'formType' appears twice"),
        (b'{"formType": "a", "fields": [{"name": "x", "value": NaN}]}', "NaN is not a JSON number"),
        (b'{"formType": ', "not valid JSON"),
        (json.dumps(form(fields=[{"name": "x", "value": 1e308}])).replace("1e+308", "1e999").encode(), "finite number"),
    ],
    ids=[
        "array", "string", "time-a-number", "naive-time", "fields-not-list", "value-object", "unknown-submitter-type",
        "unknown-key", "control-character", "value-and-fields", "very-deep", "deep", "groups-too-deep",
        "not-utf8", "duplicate-key", "nan", "truncated", "infinite",
    ],
)
def test_bad_json_metadata(tmp_path, content, expected):
    with pytest.raises(InputFileError) as caught:
        pair(tmp_path, content)
    assert expected in str(caught.value)
    assert str(caught.value).startswith("X.json: ")


def test_json_with_bom_is_fine(tmp_path):
    [submission] = pair(tmp_path, b"\xef\xbb\xbf" + json.dumps(form(), ensure_ascii=False).encode())
    assert submission.sender.name == "Jørgen Bråten"


@pytest.mark.parametrize(
    ("metadata", "pdf", "expected"),
    [
        (form(), b"GIF89a not a pdf", "the form's rendering 'X.pdf' is not a PDF"),
        (form(documents=[main_entry(sha256=hashlib.sha256(b"x").hexdigest())]), PDF, "'X.pdf' does not match its SHA-256"),
        (form(documents=[main_entry(), {"filename": "a.pdf", "mediaType": "application/pdf", "role": "attachment"}]),
         PDF, "a JSON + PDF pair carries only the PDF"),
    ],
    ids=["pdf-not-a-pdf", "pdf-checksum", "attachments-listed"],
)
def test_pair_problems(tmp_path, metadata, pdf, expected):
    with pytest.raises(InputFileError) as caught:
        pair(tmp_path, metadata, pdf)
    assert expected in str(caught.value)


def test_documents_get_the_extension_of_their_format(tmp_path):
    pdf_path, json_path = tmp_path / "skjema", tmp_path / "skjema.txt"
    pdf_path.write_bytes(PDF)
    json_path.write_text(json.dumps(form()))
    [submission] = parse_eform_pair(json_path, pdf_path, context(tmp_path))
    assert [d.filename for d in submission.documents] == ["skjema.pdf", "skjemadata.xml"]
    envelope_path = tmp_path / "innsending.dat"
    envelope_path.write_bytes(envelope())
    [submission] = parse_eform_xml(envelope_path, context(tmp_path, "innkommende/innsending.dat"))
    assert [d.filename for d in submission.documents] == ["soknad.pdf", "innsending.dat.xml"]


def test_limits_on_size_and_document_count(tmp_path):
    with pytest.raises(InputFileError, match="over the limit of 1 MB"):
        pair(tmp_path, form(), PDF + bytes(2 * 1024 * 1024), max_document_mb=1)
    members = [("skjema.pdf", PDF)] + [(f"v{i}.txt", b"x") for i in range(3)]
    path = manifest_zip(tmp_path, [main_entry()], members)
    with pytest.raises(InputFileError, match="5 documents, more than the limit of 4"):
        parse_eform_zip(path, context(tmp_path, max_documents=4))


def test_a_fodselsnummer_field_accepts_a_valid_number_however_spaced(tmp_path):
    spaced = f"{FNR[:6]}\u00a0{FNR[6:]}"
    [submission] = pair(tmp_path, form(submitter={"type": "person", "name": "Kari Nordmann", "fodselsnummer": spaced}))
    assert submission.form_data["_submission"]["submitter"]["fodselsnummer"] == FNR


@pytest.mark.parametrize("number", [FNR[:-1] + str((int(FNR[-1]) + 1) % 10), "12345678901", "3185873454"])
def test_a_fodselsnummer_field_with_a_wrong_check_digit_is_refused_without_quoting_it(tmp_path, number):
    metadata = form(submitter={"type": "person", "name": "Kari Nordmann", "fodselsnummer": number})
    with pytest.raises(InputFileError) as raised:
        pair(tmp_path, metadata)
    assert "submitter.fodselsnummer" in str(raised.value)
    assert number not in str(raised.value) + str(raised.value.hint)


@pytest.mark.parametrize(
    "written",
    [
        "12345678901",  # no valid check digits: taken out all the same, a miss leaks
        f"{FNR[:6]}\u2009{FNR[6:]}",  # thin space: the old eleven-digit pattern missed it
        FNR.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        f"{FNR[:4]} {FNR[4:8]} {FNR[8:]}",
    ],
)
def test_every_written_number_stays_out_of_name_and_subject(tmp_path, written):
    metadata = form(about=f"Kari Nordmann ({written})", submitter={"type": "person", "name": f"Kari {written}"})
    [submission] = pair(tmp_path, metadata)
    assert submission.sender.name == "Kari"
    assert submission.subject == "Melding om skadedyr – Kari Nordmann"
