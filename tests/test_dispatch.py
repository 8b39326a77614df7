"""The channel of a claimed file, by each format's real signature at its real place, in a fixed order.

One row per kind of file, the bytes built here: what `choose_parser` must
answer (source and parser, or refusal with the words of its reason). The
hostile rows hold `%PDF-` within their first kilobyte without being PDFs;
the row checks that they really do, so the table cannot go soft.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from noarkpipe.errors import InputFileError
from noarkpipe.files.signatures import leading_signature
from noarkpipe.intake import IntakeContext, Source
from noarkpipe.intake.dispatch import choose_parser
from noarkpipe.intake.scan import sniff_format

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sample-eforms"
PDF = (SAMPLES / "skadedyr-FS-2026-120777.pdf").read_bytes()
ENVELOPE = (SAMPLES / "byggesak-fjellvik-ett-trinn.xml").read_bytes()
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
BOM = b"\xef\xbb\xbf"
REFUSED = "refused"


def _email(subject: str = "Søknad om dispensasjon", *, attachment: bytes | None = None, cte: str = "base64") -> bytes:
    message = EmailMessage()
    message["From"] = "Åse Ødegård <ase@example.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = subject
    message["Date"] = "Fri, 20 Nov 2026 14:03:00 +0000"
    message.set_content("Hei,\n\nse vedlegget.\n")
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="brev.pdf", cte=cte)
    return message.as_bytes()


def _email_with_binary_pdf() -> bytes:
    # The stdlib will not write a binary part, so the MIME is written out: the PDF's bytes are the body.
    return (
        b"From: Ase <ase@example.no>\r\nTo: postmottak@fjellvik.kommune.no\r\nSubject: Brev\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSe vedlegg.\r\n"
        b"--XX\r\nContent-Type: application/pdf; name=brev.pdf\r\nContent-Transfer-Encoding: binary\r\n"
        b"Content-Disposition: attachment; filename=brev.pdf\r\n\r\n" + PDF + b"\r\n--XX--\r\n"
    )


def _manifest() -> bytes:
    return json.dumps({
        "formType": "melding-skadedyr", "title": "Melding om skadedyr", "submissionId": "FS-1",
        "submittedAt": "2026-11-22T19:42:10+01:00",
        "submitter": {"type": "person", "name": "Jørgen Bråten", "email": "jorgen@example.no"},
        "fields": [{"name": "skadedyr", "label": "Type skadedyr", "value": "Rotter"}],
        "documents": [{"filename": "skjema.pdf", "mediaType": "application/pdf", "role": "main"}],
    }).encode()


def _zip(members: list[tuple[str, bytes]], *, first_pdf: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zipped:
        for name, content in sorted(members, key=lambda m: not m[0].endswith(".pdf")) if first_pdf else members:
            zipped.writestr(name, content)
    return buffer.getvalue()


def _tar(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@dataclass(frozen=True)
class Row:
    name: str
    content: bytes
    filename: str
    expected: tuple[Source, str] | str
    """(source, parser function name), or REFUSED."""
    reason: str = ""
    """For a refusal: words its reason must hold."""
    pdf_header_in_first_kb: bool | None = None
    """For a row about %PDF-: whether the bytes really hold it within the first 1024 (None: not checked)."""


SCAN, EML, MSG = (Source.scan, "parse_scan"), (Source.email, "parse_eml"), (Source.email, "parse_msg")
ZIP_EFORM, XML_EFORM, LONE_JSON = (
    (Source.eform, "parse_eform_zip"), (Source.eform, "parse_eform_xml"), (Source.eform, "_lone_json")
)

TABLE = [
    # 3. signatures at offset 0
    Row("pdf", PDF, "brev.pdf", SCAN),
    Row("pdf-named-txt", PDF, "brev.txt", SCAN),
    Row("tiff-little-endian", b"II*\x00\x08\x00" + b"\x00" * 64, "side.tif", SCAN),
    Row("tiff-big-endian", b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 64, "side.tif", SCAN),
    Row("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "side.jpg", SCAN),
    Row("png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "side.png", SCAN),
    Row("zip-manifest-stored-pdf-first", _zip([("manifest.json", _manifest()), ("skjema.pdf", PDF)], first_pdf=True),
        "levering.zip", ZIP_EFORM, pdf_header_in_first_kb=True),
    Row("zip-manifest-named-pdf", _zip([("manifest.json", _manifest()), ("skjema.pdf", PDF)]),
        "levering.pdf", ZIP_EFORM),
    Row("zip-without-manifest", _zip([("skjema.pdf", PDF)]), "levering.zip", REFUSED,
        "no e-form delivery", pdf_header_in_first_kb=True),
    Row("zip-empty-archive", _zip([]), "tom.zip", REFUSED, "no e-form delivery"),
    Row("ole-msg", OLE, "melding.msg", MSG),
    Row("ole-not-msg", OLE, "dokument.doc", REFUSED, "unsupported file type '.doc'"),
    Row("elf-named-pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 57 + b"%PDF-1.4\n", "faktura.pdf", REFUSED,
        "unsupported file type '.pdf'", pdf_header_in_first_kb=True),
    Row("pe-named-pdf", b"MZ\x90\x00" + b"\x00" * 60 + b"%PDF-1.4\n", "faktura.pdf", REFUSED,
        "unsupported file type '.pdf'", pdf_header_in_first_kb=True),
    Row("script-named-pdf", b"#!/bin/sh\n# %PDF-1.4\nrm -rf ~\n", "faktura.pdf", REFUSED,
        "unsupported file type '.pdf'", pdf_header_in_first_kb=True),
    Row("tar-holding-pdf", _tar("brev.pdf", PDF), "brev.pdf", REFUSED, "unsupported file type '.pdf'",
        pdf_header_in_first_kb=True),
    # 4. e-forms by a real parse from offset 0
    Row("xml-eform", ENVELOPE, "byggesak.xml", XML_EFORM),
    Row("xml-eform-with-bom", BOM + ENVELOPE, "byggesak.xml", XML_EFORM),
    Row("json-eform-alone", _manifest(), "skjema.json", LONE_JSON),
    # 5. e-mail: a header block from offset 0, before the PDF-after-junk tolerance
    Row("email-subject-names-pdf", _email("Vedlagt fil %PDF-1.7 kan ikke åpnes"), "melding.eml", EML,
        pdf_header_in_first_kb=True),
    Row("email-subject-names-pdf-no-extension", _email("%PDF-1.7"), "melding", EML, pdf_header_in_first_kb=True),
    Row("email-with-binary-pdf-part", _email_with_binary_pdf(), "melding.eml", EML, pdf_header_in_first_kb=True),
    Row("email-with-8bit-pdf-part", _email_with_binary_pdf().replace(b"binary", b"8bit"), "melding.eml", EML,
        pdf_header_in_first_kb=True),
    Row("email-with-base64-pdf", _email(attachment=PDF), "melding.eml", EML, pdf_header_in_first_kb=False),
    Row("txt-that-is-email", _email(), "melding.txt", EML),
    Row("mbox-from-line", b"From ase@example.no Fri Nov 20 14:03:00 2026\n" + _email("Brev %PDF-1.4"),
        "melding.mbox", EML, pdf_header_in_first_kb=True),
    # 6. other markup or JSON is no scan, whatever it quotes
    Row("html-quoting-pdf", b"<html><body><pre>%PDF-1.4\n1 0 obj</pre></body></html>", "side.pdf", REFUSED,
        "unsupported file type '.pdf'", pdf_header_in_first_kb=True),
    Row("json-quoting-pdf", b'{"data": "%PDF-1.4"}', "data.pdf", REFUSED, "unsupported file type '.pdf'",
        pdf_header_in_first_kb=True),
    # 7. the PDF header after junk, as ISO 32000 allows
    Row("pdf-after-junk", b"\x00\x00\x13\x37 skannerstasjon 4 \r\n" + PDF, "skann.pdf", SCAN,
        pdf_header_in_first_kb=True),
    Row("pdf-after-http-headers", b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n\r\n" + PDF, "skann", SCAN,
        pdf_header_in_first_kb=True),
    Row("pdf-after-bom", BOM + PDF, "skann.pdf", SCAN),
    Row("eml-name-but-pdf-after-junk", b"lagret av skanner\n" + PDF, "skann.eml", SCAN, pdf_header_in_first_kb=True),
    Row("pdf-header-past-first-kb", b"x" * 1100 + PDF, "skann.pdf", REFUSED, "unsupported file type '.pdf'",
        pdf_header_in_first_kb=False),
    # 8., 9. the name, then refusal
    Row("eml-name-only", b"dette er ingen e-post\n", "melding.eml", EML),
    Row("plain-text", b"Send Ppp mailing list submissions to\r\n\tppp@zzz.org\r\n", "notat.txt", REFUSED,
        "unsupported file type '.txt'"),
    Row("empty", b"", "brev.pdf", REFUSED, "empty file (0 bytes)"),
]


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_the_channel_is_chosen_by_signature_at_its_place(tmp_path, row):
    if row.pdf_header_in_first_kb is not None:
        assert (b"%PDF-" in row.content[:1024]) is row.pdf_header_in_first_kb, "the row does not test what it says"
    # The scan intake's own check agrees: what goes to it is a scan format, and a file another
    # signature claims (a zip storing a PDF, an executable) is none, whatever it holds.
    if row.expected == SCAN:
        assert sniff_format(row.content[:1024]) is not None
    elif leading_signature(row.content) is not None:
        assert sniff_format(row.content[:1024]) is None
    path = tmp_path / "claimed"
    path.write_bytes(row.content)
    if row.expected == REFUSED:
        with pytest.raises(InputFileError) as refused:
            choose_parser(path, row.filename)
        assert row.reason in refused.value.message
        return
    source, parser = choose_parser(path, row.filename)
    assert (source, parser.__name__) == row.expected


def _context(tmp_path: Path, name: str) -> IntakeContext:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return IntakeContext(origin_name=name, received=datetime(2026, 11, 24, 2, 0, tzinfo=UTC), scratch=scratch)


def test_an_email_whose_subject_names_a_pdf_header_is_read_as_the_letter_it_is(tmp_path):
    path = tmp_path / "melding.eml"
    path.write_bytes(_email("Vedlagt fil %PDF-1.7 kan ikke åpnes"))
    source, parser = choose_parser(path, path.name)
    [submission] = parser(path, _context(tmp_path, path.name))
    assert source is Source.email
    assert (submission.subject, submission.sender.email) == ("Vedlagt fil %PDF-1.7 kan ikke åpnes", "ase@example.no")


def test_an_email_carrying_a_binary_pdf_part_keeps_the_pdf_as_its_attachment(tmp_path):
    path = tmp_path / "melding.eml"
    path.write_bytes(_email_with_binary_pdf())
    [submission] = choose_parser(path, path.name)[1](path, _context(tmp_path, path.name))
    [attachment] = [d for d in submission.documents if d.filename == "brev.pdf"]
    assert attachment.content.rstrip(b"\r\n") == PDF.rstrip(b"\r\n")


def test_a_zip_delivery_storing_its_pdf_uncompressed_keeps_its_form_data(tmp_path):
    path = tmp_path / "levering.zip"
    path.write_bytes(_zip([("manifest.json", _manifest()), ("skjema.pdf", PDF)], first_pdf=True))
    source, parser = choose_parser(path, path.name)
    [submission] = parser(path, _context(tmp_path, path.name))
    assert source is Source.eform
    assert submission.form_data["skadedyr"] == "Rotter"
    assert submission.main_document.content == PDF
