"""Archival copies: format identification, PDF/A with OCR text, verification, refusals and timeouts.

Everything runs for real: fido on the bytes, OCRmyPDF with tesseract
('nor+eng': the Norwegian model is what reads æøå), Ghostscript, and
LibreOffice headless. Samples come from `convertfactory`, once per module;
each kind of conversion runs once and several tests look at its result,
which keeps the module within a minute on two cores.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Self

import pikepdf
import pytest
from pypdf import PdfReader, PdfWriter

from helpers import convertfactory as factory
from noarkpipe._exec import ghostscript, libreoffice, ocrmypdf
from noarkpipe.clock import utcnow
from noarkpipe.convert import (
    ConversionError,
    ConversionJob,
    ConversionOptions,
    ConversionOutcome,
    FormatId,
    archival_copy,
    convert_document,
    plan,
    previous_outcome,
    verify_pdfa,
)
from noarkpipe.convert.images import FLATTENED, frame_changes
from noarkpipe.convert.normalise import expected_text, sidecar_pages
from noarkpipe.convert.pdfa import Route
from noarkpipe.convert.typeset import glyphs_missing, split_email_text
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.email_document import MAIN_FILENAME
from noarkpipe.core.submission import DocumentRole, SubmissionDocument
from noarkpipe.errors import InputFileError, MissingDependencyError
from noarkpipe.files.identify import identify, is_accepted
from noarkpipe.files.verify import pdfa_claim, text_check
from noarkpipe.intake.email import with_forwarded_main

REPO = Path(__file__).resolve().parents[1]

PDFA_PUIDS = {"1b": "fmt/354", "2b": "fmt/477", "3b": "fmt/480"}
ODT_PUIDS = {"fmt/136", "fmt/290", "fmt/291", "fmt/1756"}
ODS_PUIDS = {"fmt/137", "fmt/294", "fmt/295", "fmt/1755"}
RTF_PUIDS = {"fmt/45", "fmt/50", "fmt/51", "fmt/52", "fmt/53", "fmt/355"}


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("samples")
    made = {
        "text_pdf": factory.text_pdf(folder / "brukstillatelse.pdf"),
        "standard_font_pdf": factory.standard_font_pdf(folder / "vedtak.pdf"),
        "scanned_pdf": factory.scanned_pdf(folder / "klage-skannet.pdf"),
        "jpeg": factory.jpeg_scan(folder / "brev.jpg"),
        "png": factory.png_scan(folder / "melding.png"),
        "tiff": factory.tiff_scan(folder / "klage.tif"),
        "corrupt_pdf": factory.corrupt_pdf(folder / "skadet.pdf"),
        "zip": factory.zip_file(folder / "vedlegg.zip"),
        "exe": factory.windows_executable(folder / "faktura.exe"),
    }
    made["encrypted_pdf"] = factory.encrypted_pdf(made["text_pdf"], folder / "passord.pdf")
    made["restricted_pdf"] = factory.encrypted_pdf(made["text_pdf"], folder / "begrenset.pdf", user_password="")
    made["truncated_pdf"] = factory.truncated_pdf(made["text_pdf"], folder / "avbrutt.pdf")
    made["xml"] = folder / "skjema.xml"
    made["xml"].write_text(factory.XML, encoding="utf-8")
    made["text"] = folder / "referat.txt"
    made["text"].write_text(factory.TEXT, encoding="utf-8")
    made["latin1_text"] = folder / "gammel.txt"
    made["latin1_text"].write_bytes(factory.TEXT.encode("latin-1"))
    made.update({f"office_{suffix}": path for suffix, path in factory.office_documents(folder / "office").items()})
    made["password_docx"] = factory.password_docx(made["office_docx"], folder / "passord.docx")
    made["forwarded"] = factory.forwarded_email(folder / "Vannlekkasje i Fjellvegen.eml")
    made["calendar"] = factory.calendar_invitation(folder / "befaring.ics")
    made["false_pdfa"] = factory.claims_pdfa(made["standard_font_pdf"], folder / "ikke-pdfa.pdf")
    return made


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scratch")


def convert_in_parallel(paths: dict[str, Path], scratch: Path) -> dict:
    """Two workers sharing one scratch folder, as the nightly run's executor uses the layer."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(archival_copy, path, scratch=scratch) for key, path in paths.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.fixture(scope="module")
def converted(samples, scratch):
    """Each document that has an archival copy, converted once with the default options."""
    kinds = ("scanned_pdf", "tiff", "jpeg", "png", "text_pdf", "standard_font_pdf")
    return convert_in_parallel({kind: samples[kind] for kind in kinds}, scratch)


@pytest.fixture(scope="module")
def converted_office(samples, scratch):
    suffixes = ("docx", "odt", "doc", "rtf", "xlsx", "ods")
    return convert_in_parallel({suffix: samples[f"office_{suffix}"] for suffix in suffixes}, scratch)


@pytest.fixture(scope="module")
def converted_email(scratch):
    document = SubmissionDocument(
        filename=MAIN_FILENAME,
        media_type="text/plain; charset=utf-8",
        content=factory.email_text().encode("utf-8"),
        role=DocumentRole.main,
        title="Søknad om dispensasjon – gnr. 12 bnr. 7",
    )
    return archival_copy(document, scratch=scratch)


def text_of(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def pages_of(path: Path) -> int:
    return len(PdfReader(path).pages)


def font_names(path: Path) -> set[str]:
    names = set()
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            for font in page.Resources.get("/Font", {}).values():
                names.add(str(font.get("/BaseFont")).split("+")[-1])
    return names


# --- Identification -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "puids", "accepted"),
    [
        ("text_pdf", {"fmt/17"}, False),
        ("scanned_pdf", {"fmt/17"}, False),
        ("jpeg", {"fmt/43"}, True),
        ("png", {"fmt/11"}, True),
        ("tiff", {"fmt/353"}, True),
        ("office_docx", {"fmt/412"}, True),
        ("office_xlsx", {"fmt/214"}, True),
        ("office_odt", ODT_PUIDS, True),
        ("office_ods", ODS_PUIDS, True),
        ("office_doc", {"fmt/40"}, False),
        ("office_rtf", RTF_PUIDS, False),
        ("xml", {"fmt/101"}, True),
        ("text", {"x-fmt/111"}, True),
        ("zip", {"x-fmt/263"}, True),
        ("exe", {"x-fmt/411"}, False),
    ],
)
def test_formats_are_identified_from_the_bytes(samples, tmp_path, kind, puids, accepted):
    found = identify(samples[kind])
    assert found.puid in puids
    assert found.accepted is accepted
    assert found.basis in ("signature", "container", "text")
    # A misleading name changes nothing: the extension is never read.
    disguised = tmp_path / "dokument.pdf"
    disguised.write_bytes(samples[kind].read_bytes())
    assert identify(disguised) == found


def test_a_small_pdf_is_not_given_a_text_charset(tmp_path):
    # libmagic calls a small PDF of mostly ASCII 'charset=iso-8859-1'; that is no property of a PDF.
    mail = (REPO / "fixtures" / "sample-inbox" / "fjellvik" / "01-byggesak-soknad.eml").read_bytes()
    message = email.message_from_bytes(mail, policy=email.policy.default)
    [pdf, *_] = [part.get_payload(decode=True) for part in message.walk() if part.get_content_type() == "application/pdf"]
    path = tmp_path / "vedlegg.pdf"
    path.write_bytes(pdf)
    assert identify(path).mime == "application/pdf"


def test_identification_gives_mime_types_and_charsets(samples):
    assert identify(samples["office_docx"]).mime == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert identify(samples["text"]).mime == "text/plain; charset=utf-8"
    assert identify(samples["latin1_text"]).mime == "text/plain; charset=iso-8859-1"
    assert identify(samples["office_docx"]).basis == "container"


def test_text_that_mentions_a_pdf_header_is_text_and_a_pdf_after_junk_is_a_pdf(tmp_path, samples):
    # libmagic calls a file a PDF when '%PDF-' stands anywhere in its first kilobyte.
    letter = tmp_path / "e-post.txt"
    letter.write_bytes(b"Emne: Vedlegget er %PDF-1.7\nFra: ola@example.no\n\nHei, se vedlagt.\n")
    assert identify(letter).puid == "x-fmt/111"
    assert identify(letter).mime.startswith("text/plain")
    # A writer's junk before the header is allowed by the PDF specification: never taken for text.
    junk_first = tmp_path / "med-rusk.pdf"
    junk_first.write_bytes(b"junk before the header\n" + samples["text_pdf"].read_bytes())
    assert not identify(junk_first).mime.startswith("text/")


def test_empty_and_unknown_files_are_not_accepted(tmp_path):
    empty = tmp_path / "tom.pdf"
    empty.write_bytes(b"")
    noise = tmp_path / "stoy.pdf"
    noise.write_bytes(bytes(range(256)) * 4)
    assert identify(empty).puid is None and not identify(empty).accepted
    assert identify(noise).puid is None and not identify(noise).accepted


def test_acceptance_follows_the_validity_period():
    # Plain PDF 1.3 was accepted until the end of 2008; PDF/A-2b has no end.
    assert is_accepted("fmt/17", date(2008, 6, 1))
    assert not is_accepted("fmt/17", date(2009, 1, 1))
    assert is_accepted("fmt/477", date(2026, 11, 20))
    assert not is_accepted("fmt/690", date(2026, 11, 20))
    assert not is_accepted(None, date(2026, 11, 20))


# --- Decisions (pure) ------------------------------------------------------------------------------


def fmt(puid: str | None, mime: str, accepted: bool = False, name: str = "format") -> FormatId:
    return FormatId(puid=puid, name=name, mime=mime, accepted=accepted, basis="signature")


@pytest.mark.parametrize(
    ("format_id", "email_body", "route"),
    [
        (fmt("fmt/477", "application/pdf", True), False, Route.pdf),
        (fmt("fmt/17", "application/pdf"), False, Route.pdf),
        (fmt("fmt/43", "image/jpeg", True), False, Route.image),
        (fmt("fmt/353", "image/tiff", True), False, Route.image),
        (fmt("fmt/412", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", True), False,
         Route.office_text),
        (fmt("fmt/50", "application/rtf; charset=us-ascii"), False, Route.office_text),
        (fmt("fmt/61", "application/vnd.ms-excel"), False, Route.office_spreadsheet),
        (fmt("x-fmt/111", "text/plain; charset=utf-8", True), True, Route.email),
        (fmt("x-fmt/111", "text/plain; charset=utf-8", True), False, Route.keep),
        (fmt("x-fmt/111", "text/plain; charset=us-ascii", True), False, Route.keep),
        (fmt("x-fmt/111", "text/plain; charset=iso-8859-1", True), False, Route.reencode_text),
        (fmt("fmt/101", "application/xml; charset=utf-8", True), False, Route.keep),
        (fmt("x-fmt/263", "application/zip", True), False, Route.reject),
        (fmt("x-fmt/411", "application/vnd.microsoft.portable-executable"), False, Route.reject),
        (fmt(None, "application/octet-stream"), False, Route.reject),
        (fmt("fmt/950", "message/rfc822"), False, Route.message),
        (fmt("fmt/388", "text/calendar; charset=utf-8"), False, Route.text_document),
        (fmt("fmt/96", "text/html; charset=utf-8", True), False, Route.html_document),  # rendered: never kept live
        (fmt("fmt/111", "application/encrypted"), False, Route.reject),
    ],
)
def test_plan_follows_the_format(format_id, email_body, route):
    assert plan(format_id, email_body=email_body).route is route


def test_ocr_text_is_matched_to_pages():
    sidecar = "[OCR skipped on page(s) 1-3]\fSide fire\fSide fem\f[OCR skipped on page(s) 6]"
    assert sidecar_pages(sidecar, 6) == [None, None, None, "Side fire", "Side fem", None]
    assert sidecar_pages(sidecar, 7) is None
    assert sidecar_pages("", 1) == [""]
    source = ["en", "to", "tre", "", "", "seks"]
    assert expected_text(source, sidecar_pages(sidecar, 6)) == ["en", "to", "tre", "Side fire", "Side fem", "seks"]
    assert expected_text(source, None) == source


def test_email_text_is_split_into_header_body_and_attachments():
    header, body, attachments = split_email_text(factory.email_text())
    assert [label for label, _ in header] == ["Fra", "Til", "Kopi", "Dato", "Emne"]
    assert dict(header)["Emne"] == "Søknad om dispensasjon – gnr. 12 bnr. 7"
    assert body.startswith("Hei,") and body.endswith("Tlf. 900 12 345")
    assert attachments == ["situasjonsplan.pdf", "nabosamtykke.jpg"]
    # Text without the header shape is all body, and a 'Vedlegg:' in the text stays in it.
    assert split_email_text("Vedlegg:\nse under\n") == ([], "Vedlegg:\nse under", [])


def test_characters_the_email_font_lacks_are_named():
    assert glyphs_missing("Søknad – «Ærø» 20 € ✓") == ""
    assert glyphs_missing("Hei 中文, 中 igjen") == "中文"


def test_transparency_is_flattened_for_every_profile():
    # The page must look the same under each profile, and PDF/A-1 forbids soft masks (see convert/images.py).
    assert frame_changes("RGBA", False) == (FLATTENED,)
    assert frame_changes("P", True) == (FLATTENED,)
    assert frame_changes("L", False) == ()


def test_tool_versions_and_ghostscript_regression_range():
    assert ghostscript.parse_version("10.00.0\n") == (10, 0, 0)
    assert ghostscript.garbles_existing_text((10, 0, 0))
    assert ghostscript.garbles_existing_text((10, 2))
    assert not ghostscript.garbles_existing_text((10, 2, 1))
    assert not ghostscript.garbles_existing_text((9, 56, 1))
    assert ocrmypdf.pdfa_backend((10, 0, 0)) == "internal"
    assert ocrmypdf.pdfa_backend((10, 5, 1)) == "auto"
    assert libreoffice.parse_version("LibreOffice 7.4.7.2 40(Build:2)") == (7, 4, 7, 2)
    assert ocrmypdf.parse_version("17.13.0") == (17, 13, 0)
    assert libreoffice.export_target("spreadsheet", 1) == 'pdf:calc_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"1"}}'


def test_missing_programs_name_the_packages_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingDependencyError) as libre:
        libreoffice.require()
    assert "apt-get install --no-install-recommends libreoffice-writer-nogui libreoffice-calc-nogui" in str(libre.value)
    with pytest.raises(MissingDependencyError) as gs:
        ghostscript.require()
    assert "apt-get install ghostscript" in str(gs.value)


def test_bad_ocr_languages_are_refused_as_configuration():
    with pytest.raises(ValueError):
        ConversionOptions(ocr_languages="nor eng")
    with pytest.raises(ValueError):
        ConversionOptions(pdfa_profile="4f")


# --- PDF/A copies ---------------------------------------------------------------------------------


def assert_archival_pdfa(result, pages: int, profile: str = "2b") -> None:
    assert result.action == "converted"
    assert result.output is not None and result.output.is_file()
    assert result.to_format.puid == PDFA_PUIDS[profile]
    assert result.to_format.accepted
    assert result.verification.passed, result.verification.summary()
    outcomes = {check.id: check.outcome for check in result.verification.checks}
    assert outcomes["pdfa_rules"] == "passed"
    assert outcomes["fonts_embedded"] == outcomes["pdfa_identification"] == outcomes["page_count"] == "passed"
    assert pages_of(result.output) == pages
    assert result.output_sha256 and result.output_sha256 != result.source_sha256
    assert result.started <= result.finished


def test_text_pdf_keeps_its_text_and_pages(converted, samples):
    result = converted["text_pdf"]
    assert_archival_pdfa(result, pages=3)
    assert result.from_format.puid == "fmt/17"
    # Text on every page: nothing to OCR, so pikepdf makes the PDF/A without OCRmyPDF.
    assert result.tool == "pikepdf"
    text = text_of(result.output)
    for heading, _ in factory.LETTER_PAGES:
        assert heading in text
    outcomes = {check.id: check.outcome for check in result.verification.checks}
    assert outcomes["text_layer"] == "passed"
    assert result.source_sha256 == hashlib.sha256(samples["text_pdf"].read_bytes()).hexdigest()  # untouched


def test_standard_fonts_are_embedded_by_ghostscript_first(converted):
    result = converted["standard_font_pdf"]
    assert_archival_pdfa(result, pages=1)
    assert result.tool == "Ghostscript + pikepdf"
    assert "Ghostscript" in result.tool_version
    # Found before OCRmyPDF is asked (it would only refuse): the warning names the font itself.
    assert any("embed fonts" in warning and "not embedded: Helvetica" in warning for warning in result.warnings)
    assert "Søknaden om skjenkebevilling er innvilget" in text_of(result.output)


def test_scanned_pdf_gets_norwegian_ocr_text(converted):
    result = converted["scanned_pdf"]
    assert_archival_pdfa(result, pages=2)
    text = text_of(result.output)
    for word in ("Ødegård", "eiendomsskatt", "Øvre Fjellvei", "målsatte", "på nytt"):
        assert word in text
    outcomes = {check.id: check for check in result.verification.checks}
    assert outcomes["text_layer"].outcome == "passed"


@pytest.mark.parametrize(
    ("kind", "pages", "words"),
    [
        ("jpeg", 1, ("Rørleggerservice", "Bjørkeveien", "samsvarserklæring")),
        ("png", 1, ("Miljø", "Førde", "slamavskillere", "Øystein Løvås")),
        ("tiff", 2, ("Ødegård", "eiendomsskatt", "skriftlig svar")),
    ],
)
def test_images_become_pdfa_with_ocr_text(converted, kind, pages, words):
    result = converted[kind]
    assert_archival_pdfa(result, pages=pages)
    assert result.tool == "img2pdf + OCRmyPDF"
    text = text_of(result.output)
    for word in words:
        assert word in text


def test_email_text_becomes_a_readable_pdfa(converted_email):
    result = converted_email
    pages = pages_of(result.output)
    assert pages >= 2
    assert_archival_pdfa(result, pages=pages)
    assert result.from_format.puid == "x-fmt/111"
    assert result.tool == "fpdf2 + pikepdf"
    text = text_of(result.output)
    for expected in ("Åse Ødegård", "Søknad om dispensasjon – gnr. 12 bnr. 7", "Bjørn Ærø", "nabosamtykke.jpg",
                     "Side 2 av"):
        assert expected in text
    assert {"DejaVuSansBold", "DejaVuSansBook"} <= font_names(result.output)


@pytest.mark.parametrize(
    ("suffix", "puids", "words"),
    [
        ("docx", {"fmt/412"}, ("Søknad om tilskudd", "Øvre Seim")),
        ("odt", ODT_PUIDS, ("Søknad om tilskudd", "førtito")),
        ("doc", {"fmt/40"}, ("skolekorps", "Øvre Seim")),
        ("rtf", RTF_PUIDS, ("Klage på vedtak", "Øvre Fjellvei", "færre")),
        ("xlsx", {"fmt/214"}, ("Åse Ødegård", "48000")),
        ("ods", ODS_PUIDS, ("Øystein Løvås", "6500")),
    ],
)
def test_office_documents_are_exported_to_pdfa(converted_office, suffix, puids, words):
    result = converted_office[suffix]
    assert_archival_pdfa(result, pages=pages_of(result.output))
    assert result.from_format.puid in puids
    assert result.tool == "LibreOffice + pikepdf"
    text = text_of(result.output)
    for word in words:
        assert word in text


@pytest.mark.parametrize("profile", ["1b", "3b"])
def test_other_pdfa_profiles(samples, tmp_path, profile):
    result = archival_copy(samples["text_pdf"], scratch=tmp_path, options=ConversionOptions(pdfa_profile=profile))
    assert_archival_pdfa(result, pages=3, profile=profile)
    with pikepdf.open(result.output) as pdf:
        assert pdfa_claim(pdf.Root.Metadata.read_bytes()) == (profile[0], "B")


def test_transparency_is_painted_on_white_for_pdfa_1b(tmp_path):
    screenshot = factory.transparent_png(tmp_path / "kvittering.png")
    result = archival_copy(screenshot, scratch=tmp_path / "scratch", options=ConversionOptions(pdfa_profile="1b"))
    assert_archival_pdfa(result, pages=1, profile="1b")
    assert "Kvittering for innsendt søknad" in text_of(result.output)
    with pikepdf.open(result.output) as pdf:
        images = list(pdf.pages[0].get_images().values())
        assert images and all("/SMask" not in image for image in images)


def test_redo_mode_replaces_an_earlier_ocr_layer(converted, tmp_path):
    earlier = converted["jpeg"].output
    result = archival_copy(earlier, scratch=tmp_path, options=ConversionOptions(ocr_mode="redo"))
    assert_archival_pdfa(result, pages=1)
    assert result.from_format.puid == "fmt/477"
    assert "Bjørkeveien" in text_of(result.output)


def test_a_pdf_with_a_page_without_text_goes_through_ocr(samples, tmp_path):
    # A typed letter with a scanned page appended: only OCR can make that page's text.
    writer = PdfWriter(clone_from=samples["text_pdf"])
    writer.append(samples["scanned_pdf"], pages=(0, 1))
    mixed = tmp_path / "blandet.pdf"
    writer.write(mixed)
    result = archival_copy(mixed, scratch=tmp_path / "scratch")
    assert_archival_pdfa(result, pages=4)
    assert result.tool == "OCRmyPDF"
    pages = [page.extract_text() for page in PdfReader(result.output).pages]
    assert factory.LETTER_PAGES[0][0] in pages[0]
    assert "Ødegård" in pages[3]


def test_submission_documents_are_converted_from_their_bytes(samples, tmp_path):
    # Named and typed as a Word file, but the bytes are a PDF: the bytes decide.
    document = SubmissionDocument(
        filename="brukstillatelse.docx",
        media_type="application/msword",
        content=samples["text_pdf"].read_bytes(),
        role=DocumentRole.attachment,
        title="Brukstillatelse",
    )
    result = archival_copy(document, scratch=tmp_path)
    assert result.source_name == "brukstillatelse.docx"
    assert result.from_format.puid == "fmt/17"
    assert_archival_pdfa(result, pages=3)
    assert sorted(path.name for path in tmp_path.iterdir()) == [result.output.name]  # nothing else left behind


def test_a_forwarded_email_becomes_a_pdfa_with_its_header_block(samples, tmp_path):
    received = SubmissionDocument(
        filename=samples["forwarded"].name, media_type="message/rfc822", content=samples["forwarded"].read_bytes(),
        role=DocumentRole.attachment, title="Videresendt melding",
    )
    (tmp_path / "intake").mkdir()
    context = IntakeContext(origin_name="brev.eml", received=utcnow(), scratch=tmp_path / "intake")
    document = with_forwarded_main(received, context)  # as the parse child lays it out
    assert document.rendered is not None and document.rendered.filename == MAIN_FILENAME
    result = archival_copy(document, scratch=tmp_path / "scratch")
    assert result.from_format.puid == "fmt/950"
    assert_archival_pdfa(result, pages=1)
    assert result.tool == "noarkpipe e-mail reader + fpdf2 + pikepdf"
    text = text_of(result.output)
    for expected in ("Øyvind Ærø <oyvind.aero@example.no>", "Emne: Vannlekkasje i Fjellvegen", "før frosten kommer",
                     "Vedlegg:", "kummen.jpg"):
        assert expected in text


def test_a_forwarded_email_without_the_main_document_intake_lays_out_is_refused(samples, tmp_path):
    with pytest.raises(InputFileError) as refused:
        archival_copy(samples["forwarded"], scratch=tmp_path)
    assert "came without the main document the e-mail intake lays out of it" in str(refused.value)


def test_text_depots_refuse_is_typeset_as_pdfa(samples, tmp_path):
    result = archival_copy(samples["calendar"], scratch=tmp_path)
    assert result.from_format.puid == "fmt/388" and not result.from_format.accepted
    assert_archival_pdfa(result, pages=1)
    assert "SUMMARY:Befaring på Øvre Seim" in text_of(result.output)


# --- Kept as they are ----------------------------------------------------------------------------


def test_a_pdfa_that_verifies_is_kept_as_it_is(converted, tmp_path):
    pdfa = converted["text_pdf"].output
    before = pdfa.read_bytes()
    result = archival_copy(pdfa, scratch=tmp_path)
    assert result.action == "kept" and result.output is None and result.tools == ()
    assert result.from_format.puid == result.to_format.puid == "fmt/477"
    assert result.verification.passed
    assert {check.id: check.outcome for check in result.verification.checks}["pdfa_rules"] == "passed"
    assert pdfa.read_bytes() == before
    assert list(tmp_path.iterdir()) == []


def test_a_pdf_that_only_claims_to_be_pdfa_is_converted(samples, tmp_path):
    # Identified as PDF/A-2b from its XMP claim, but Helvetica is not embedded: verification says no.
    assert identify(samples["false_pdfa"]).puid == "fmt/477"
    result = archival_copy(samples["false_pdfa"], scratch=tmp_path)
    assert_archival_pdfa(result, pages=1)
    assert result.tool == "Ghostscript + pikepdf"


@pytest.mark.parametrize(("kind", "puid"), [("text", "x-fmt/111"), ("xml", "fmt/101")])
def test_archival_formats_are_kept_untouched(samples, tmp_path, kind, puid):
    before = samples[kind].read_bytes()
    result = archival_copy(samples[kind], scratch=tmp_path)
    assert result.action == "kept"
    assert result.output is None and result.verification is None and result.tools == ()
    assert result.from_format == result.to_format
    assert result.to_format.puid == puid and result.to_format.accepted
    assert samples[kind].read_bytes() == before
    assert list(tmp_path.iterdir()) == []


def test_text_in_another_charset_is_reencoded_as_utf8(samples, tmp_path):
    result = archival_copy(samples["latin1_text"], scratch=tmp_path)
    assert result.action == "converted"
    assert result.output.read_text(encoding="utf-8") == factory.TEXT
    assert result.to_format.mime == "text/plain; charset=utf-8"
    assert result.tool == "noarkpipe"


def test_a_text_attachment_named_like_the_email_text_is_kept(tmp_path):
    content = factory.TEXT.encode("utf-8")
    attachment = SubmissionDocument(
        filename=MAIN_FILENAME, media_type="text/plain", content=content, role=DocumentRole.attachment, title="x"
    )
    assert archival_copy(attachment, scratch=tmp_path).action == "kept"


# --- Refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("encrypted_pdf", "encrypted"),
        ("restricted_pdf", "encrypted"),
        ("truncated_pdf", "cut off"),
        ("corrupt_pdf", "cannot be read"),
        ("zip", "container of other files"),
        ("exe", "not an accepted archival format"),
        ("password_docx", "protected by a password"),
    ],
)
def test_unusable_documents_are_refused_with_the_reason(samples, tmp_path, kind, message):
    with pytest.raises(InputFileError) as refused:
        archival_copy(samples[kind], scratch=tmp_path)
    assert message in str(refused.value)
    assert refused.value.hint
    assert list(tmp_path.iterdir()) == []


def test_empty_documents_are_refused(tmp_path):
    document = SubmissionDocument(
        filename="tom.pdf", media_type="application/pdf", content=b"", role=DocumentRole.attachment, title="tom"
    )
    with pytest.raises(InputFileError, match="empty"):
        archival_copy(document, scratch=tmp_path)


def test_too_many_pages_are_refused(samples, tmp_path):
    with pytest.raises(InputFileError, match="more than the 2 allowed"):
        archival_copy(samples["text_pdf"], scratch=tmp_path, options=ConversionOptions(max_pages=2))


# --- Verification --------------------------------------------------------------------------------


def test_verification_finds_what_is_not_pdfa(samples):
    report = verify_pdfa(samples["standard_font_pdf"], expected_pages=1, profile="2b")
    outcomes = {check.id: check for check in report.checks}
    assert not report.passed
    assert outcomes["fonts_embedded"].outcome == "failed" and "Helvetica" in outcomes["fonts_embedded"].detail
    assert outcomes["pdfa_identification"].outcome == "failed"
    assert outcomes["pdfa_rules"].outcome in ("failed", "not_checked")


def test_verification_checks_pages_profile_and_text(converted):
    output = converted["text_pdf"].output
    assert verify_pdfa(output, expected_pages=3, profile="2b").passed
    wrong_pages = verify_pdfa(output, expected_pages=4, profile="2b")
    assert [check.id for check in wrong_pages.failures] == ["page_count"]
    wrong_profile = verify_pdfa(output, expected_pages=3, profile="1b")
    assert "pdfa_identification" in [check.id for check in wrong_profile.failures]
    garbled = ["XdZediY`メYヤ " * 20, "", ""]
    wrong_text = verify_pdfa(output, expected_pages=3, profile="2b", expected_text=garbled)
    assert [check.id for check in wrong_text.failures] == ["text_layer"]


def test_fonts_are_checked_in_annotation_appearances_too(converted, tmp_path):
    # A comment box drawn in Courier, which is named but not embedded.
    with pikepdf.open(converted["text_pdf"].output) as pdf:
        courier = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                       BaseFont=pikepdf.Name.Courier))
        appearance = pdf.make_stream(
            b"BT /F9 10 Tf (OK) Tj ET", Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form, BBox=[0, 0, 40, 12],
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F9=courier)),
        )
        note = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.FreeText, Rect=[50, 50, 90, 62],
                                  AP=pikepdf.Dictionary(N=appearance), F=4)
        pdf.pages[0].Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(note)]))
        pdf.save(tmp_path / "kommentert.pdf")
    report = verify_pdfa(tmp_path / "kommentert.pdf", expected_pages=3, profile="2b")
    assert [(check.id, check.detail) for check in report.failures] == [("fonts_embedded", "not embedded: Courier")]


def test_text_check_compares_letters_not_layout():
    assert text_check(["Søknad om\nbrukstillatelse"], ["Søknad  om brukstillatelse"]).outcome == "passed"
    assert text_check(["ﬁnne"], ["finne"]).outcome == "passed"
    assert text_check([""], ["Søknad"]).outcome == "failed"
    assert text_check(["alt"], None).outcome == "not_checked"


def test_verification_of_an_encrypted_or_unreadable_file(samples):
    encrypted = verify_pdfa(samples["encrypted_pdf"], expected_pages=3, profile="2b")
    assert [check.id for check in encrypted.failures] == ["not_encrypted"]
    unreadable = verify_pdfa(samples["corrupt_pdf"], expected_pages=1, profile="2b")
    assert [check.id for check in unreadable.failures] == ["opens"]


def test_conversion_error_is_an_input_file_error_with_the_report(converted):
    report = verify_pdfa(converted["text_pdf"].output, expected_pages=9, profile="2b")
    error = ConversionError("refused", report=report)
    assert isinstance(error, InputFileError)
    assert error.exit_code == InputFileError.exit_code
    assert error.report.failures[0].id == "page_count"


# --- Timeouts ------------------------------------------------------------------------------------


class Descendants:
    """Every process started under this test process while watching, polled from /proc."""

    def __init__(self) -> None:
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for pid, name in _descendants(os.getpid()).items():
                self.seen.setdefault(pid, name)
            time.sleep(0.02)

    def still_running(self) -> dict[int, str]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            running = {
                pid: name for pid, name in self.seen.items() if _running(pid) and name != "multiprocessing helper"
            }
            if not running:
                return {}
            time.sleep(0.05)
        return running


def _descendants(root: int) -> dict[int, str]:
    parents, names = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        # multiprocessing's fork server and resource tracker live as long as the test process.
        names[int(entry.name)] = "multiprocessing helper" if b"from multiprocessing." in command else name
    found, frontier = {}, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        found.update({pid: names[pid] for pid in frontier})
    return found


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has stopped; only its exit status is left


def test_a_hung_ocr_is_stopped_with_everything_it_started(tmp_path):
    long_scan = factory.long_scanned_pdf(tmp_path / "lang.pdf")
    started = time.monotonic()
    with Descendants() as watch, pytest.raises(InputFileError, match="not finished within 3 seconds: OCR"):
        archival_copy(long_scan, scratch=tmp_path / "scratch", options=ConversionOptions(timeout_s=3))
    assert time.monotonic() - started < 10
    assert "tesseract" in watch.seen.values()
    assert watch.still_running() == {}
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_hung_libreoffice_is_stopped_with_everything_it_started(samples, tmp_path):
    with Descendants() as watch, pytest.raises(InputFileError, match="not finished within 0.5 seconds: LibreOffice"):
        archival_copy(samples["office_docx"], scratch=tmp_path, options=ConversionOptions(timeout_s=0.5))
    assert {"oosplash", "soffice.bin"} & set(watch.seen.values())
    assert watch.still_running() == {}
    assert list(tmp_path.iterdir()) == []


# --- One conversion as a unit of work ------------------------------------------------------------


def job_for(path: Path, tmp_path: Path, **options) -> ConversionJob:
    return ConversionJob(
        source=path,
        source_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        filename=path.name,
        email_body=False,
        target=tmp_path / "arkiv",
        scratch=tmp_path / "scratch",
        options=ConversionOptions(**options),
    )


def test_a_job_leaves_its_copy_and_record_and_is_not_done_twice(samples, tmp_path):
    job = job_for(samples["office_rtf"], tmp_path)
    # Jobs and outcomes cross process boundaries: they must survive pickling.
    assert pickle.loads(pickle.dumps(job)) == job
    outcome = convert_document(job)
    assert pickle.loads(pickle.dumps(outcome)) == outcome
    result = outcome.result
    assert outcome.failure is None and result.action == "converted"
    assert result.output == job.target / f"{job.key}.pdf" and result.output.is_file()
    assert ConversionOutcome.model_validate_json((job.target / f"{job.key}.json").read_text()) == outcome
    assert previous_outcome(job) == outcome
    # Other settings, or a copy that is no longer what was verified: converted again.
    assert previous_outcome(job.model_copy(update={"options": ConversionOptions(pdfa_profile="1b")})) is None
    with open(result.output, "ab") as handle:
        handle.write(b"\n% changed\n")
    assert previous_outcome(job) is None


def test_a_refused_document_is_an_answer_not_a_crash(samples, tmp_path):
    outcome = convert_document(job_for(samples["encrypted_pdf"], tmp_path))
    assert outcome.result is None and outcome.failure_kind == "refused"
    assert "encrypted" in outcome.failure and "hint:" in outcome.failure
    assert not (tmp_path / "arkiv").exists()  # no record: the next run tries again


def test_a_missing_program_is_told_apart_from_a_bad_document(samples, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    outcome = convert_document(job_for(samples["office_docx"], tmp_path))
    assert outcome.failure_kind == "missing_dependency"
    assert "apt-get install --no-install-recommends libreoffice-writer-nogui" in outcome.failure
