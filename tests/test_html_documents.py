"""HTML, XHTML and SVG documents other than the e-mail's own body: an archival copy must be inert.

HTML is an accepted archival format, but a copy that keeps `<script>`,
frames and remote references is live: it shows something else, or reports
to its sender, each time it is opened. So such a document is cleaned and
rendered to PDF/A with no network, and the original stays as
Produksjonsformat. Real parts: the e-mail intake, the conversion job the
nightly run hands its workers, WeasyPrint, the PDF/A verification, the
export and the validator, and an HTTP listener on loopback that must see
no connection at all.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import zipfile
import zlib
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pikepdf
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from helpers.inbox import drop, oslo_today
from helpers.loopback import Listener
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.convert import (
    ConversionJob,
    ConversionOptions,
    convert_document,
    is_email_body,
    plan,
)
from noarkpipe.convert.pdfa import Route, xml_root
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.submission import DocumentRole, Source
from noarkpipe.files.identify import FormatId, identify
from noarkpipe.intake.dispatch import choose_parser
from noarkpipe.intake.email import parse_eml
from noarkpipe.store import tables

RECEIVED = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
EFORMS = Path(__file__).resolve().parents[1] / "fixtures" / "sample-eforms"
SCRIPT_MARK = "stjelInformasjon"
"""A word only the scripts hold: it must not be anywhere in an archival copy."""


@pytest.fixture
def listener():
    with Listener(b"p { color: red }", "text/css") as running:
        yield running


def hostile_html(url: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Program</title>"
        f"<link rel=stylesheet href={url}/stil.css><script src='{url}/x.js'></script>"
        f"<script>function {SCRIPT_MARK}() {{ fetch('{url}/fetch'); }} {SCRIPT_MARK}();</script>"
        f"<style>@import url('{url}/import.css'); h1 {{ color: #123456 }}</style>"
        f"</head><body onload=\"location='{url}/onload'\"><h1>Program for festivalen på Fjellvik</h1>"
        f"<p>Kart over området: <img src='{url}/x' width=200 height=100 alt=Kart></p>"
        f"<iframe src='{url}/ramme.html'></iframe><object data='{url}/film.swf'></object>"
        f"<p style=\"background: url('{url}/bakgrunn.png')\">Med hilsen Ola Nordmann</p></body></html>"
    )


def hostile_svg(url: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="400" height="200">'
        f'<script>function {SCRIPT_MARK}() {{ fetch("{url}/svg-fetch"); }}</script>'
        f'<image xlink:href="{url}/svg-bilde.png" width="100" height="100"/>'
        '<rect x="10" y="10" width="180" height="80" fill="#d4119b"/>'
        '<text x="20" y="150" font-size="24">Situasjonskart</text></svg>'
    ).encode()


def _email_with(url: str, attachments: list[tuple[str, bytes, str]]) -> bytes:
    message = EmailMessage()
    message["From"] = "Ola Nordmann <ola@example.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = "Program for festivalen"
    message["Date"] = "Fri, 20 Nov 2026 14:03:00 +0000"
    message.set_content("Hei,\n\nvedlagt er programmet.\n")
    for filename, content, mime in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def _attachment(tmp_path: Path, raw: bytes, filename: str):
    path = tmp_path / "post.eml"
    path.write_bytes(raw)
    [submission] = parse_eml(path, IntakeContext(origin_name=path.name, received=RECEIVED, scratch=tmp_path / "s"))
    return next(d for d in submission.documents if d.filename == filename)


def _convert(tmp_path: Path, document):
    """The archival copy as the nightly run makes it: one ConversionJob on the document's bytes."""
    source = tmp_path / "received" / hashlib.sha256(document.content).hexdigest()
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(document.content)
    job = ConversionJob(
        source=source, source_sha256=source.name, filename=document.filename,
        email_body=is_email_body(document.role, document.filename), target=tmp_path / "archival",
        scratch=tmp_path / "convert-scratch", options=ConversionOptions(),
    )
    return convert_document(job)


def _all_bytes(pdf: Path) -> bytes:
    """The PDF's bytes with every stream decoded: what a reader of the file could find in it."""
    parts = [pdf.read_bytes()]
    with pikepdf.open(pdf) as document:
        for obj in document.objects:
            if isinstance(obj, pikepdf.Stream):
                try:
                    parts.append(obj.read_bytes())
                except pikepdf.PdfError:
                    parts.append(zlib.decompress(obj.read_raw_bytes()))
    return b"\n".join(parts)


def test_an_html_attachment_becomes_an_inert_verified_pdfa_and_nothing_is_fetched(tmp_path, listener):
    url = listener.base
    document = _attachment(tmp_path, _email_with(url, [("program.html", hostile_html(url).encode(), "text/html")]),
                           "program.html")
    outcome = _convert(tmp_path, document)
    assert outcome.failure is None, outcome.failure
    result = outcome.result
    assert result.action == "converted" and result.to_format.puid == "fmt/477"  # PDF/A-2b, not HTML kept
    assert result.tool == "noarkpipe HTML cleaner + WeasyPrint + pikepdf"
    checks = {check.id: check.outcome for check in result.verification.checks}
    assert result.verification.passed and checks["pdfa_rules"] == "passed", result.verification.summary()
    text = "\n".join(page.extract_text() for page in PdfReader(result.output).pages)
    assert "Program for festivalen på Fjellvik" in text and "Med hilsen Ola Nordmann" in text
    assert "[eksternt bilde ikke hentet: 127.0.0.1] Kart" in text  # the remote image, shown as not fetched
    copy = _all_bytes(result.output)
    assert SCRIPT_MARK.encode() not in copy and b"<script" not in copy.lower() and b"/JavaScript" not in copy
    assert url.encode() not in copy
    assert listener.connections == []


def test_an_svg_attachment_is_drawn_not_kept_and_fetches_nothing(tmp_path, listener):
    url = listener.base
    document = _attachment(tmp_path, _email_with(url, [("kart.svg", hostile_svg(url), "image/svg+xml")]), "kart.svg")
    outcome = _convert(tmp_path, document)
    assert outcome.failure is None, outcome.failure
    assert outcome.result.verification.passed and outcome.result.to_format.puid == "fmt/477"
    assert "Situasjonskart" in PdfReader(outcome.result.output).pages[0].extract_text()
    assert SCRIPT_MARK.encode() not in _all_bytes(outcome.result.output)
    # Its remote image was refused, and the konvertering record says so.
    assert outcome.result.warnings == ("1 reference(s) to content outside the document kart.svg were not fetched",)
    assert listener.connections == []


@pytest.mark.parametrize(
    ("puid", "mime", "accepted"),
    [("fmt/471", "text/html; charset=utf-8", True), ("fmt/96", "text/html", True),
     ("fmt/102", "application/xhtml+xml", True), ("fmt/91", "image/svg+xml", False)],
)
def test_html_xhtml_and_svg_are_rendered_never_kept(puid, mime, accepted):
    fmt = FormatId(puid=puid, name="markup", mime=mime, accepted=accepted, basis="signature")
    assert plan(fmt, email_body=False).route is Route.html_document


def test_xhtml_in_latin1_is_read_in_its_declared_charset(tmp_path):
    content = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1"/></head>'
        "<body><p>Søknad om løyve for Ærøy</p></body></html>"
    ).encode("latin-1")
    document = _attachment(tmp_path, _email_with("http://127.0.0.1:9", [("s.xhtml", content, "application/xhtml+xml")]),
                           "s.xhtml")
    outcome = _convert(tmp_path, document)
    assert outcome.failure is None, outcome.failure
    assert "Søknad om løyve for Ærøy" in "".join(p.extract_text() for p in PdfReader(outcome.result.output).pages)


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_a_night_journals_the_html_as_produksjonsformat_and_exports_only_its_inert_copy(tmp_path, listener):
    url = listener.base
    settings = load_settings(api.init(tmp_path / "site"))
    drop(settings, "fjellvik", "program.eml",
         _email_with(url, [("program.html", hostile_html(url).encode(), "text/html")]))
    run = _cli("run", "-c", settings.config_path, "--quiet")
    assert run.returncode in (0, 10), run.stderr
    store = api.open_store(settings)
    try:
        with store.read() as session:
            objects = session.execute(
                select(tables.Dokumentobjekt.variantformat, tables.Dokumentobjekt.filnavn,
                       tables.Dokumentobjekt.mimeType, tables.Dokumentobjekt.format)
                .join(tables.Dokumentbeskrivelse).where(tables.Dokumentbeskrivelse.tittel == "program.html")
            ).all()
    finally:
        store.dispose()
    variants = {variant: (name, mime, fmt) for variant, name, mime, fmt in objects}
    assert variants["Produksjonsformat"][0] == "program.html"  # the original, kept as received
    assert variants["Arkivformat"][1:] == ("application/pdf", "fmt/477")
    for item in api.review_list(settings, "fjellvik"):
        api.review_decide(settings, "approve", item.journalnummer, kode="fjellvik", by="kari")
    config = settings.config_path
    for step in (("period", "close-cases", "--all"), ("period", "close", "--end", oslo_today().isoformat())):
        done = _cli(*step, "-c", config, "-a", "fjellvik", "--by", "kari")
        assert done.returncode == 0, done.stderr
    exported = _cli("export", "-c", config, "-a", "fjellvik", "--out", tmp_path / "out", "-q")
    assert exported.returncode == 0, exported.stderr
    [package] = (tmp_path / "out").glob("*.tar")
    with tarfile.open(package) as tar:
        documents = [m for m in tar.getmembers() if "/dokumenter/" in f"/{m.name}" and m.isfile()]
        contents = [tar.extractfile(m).read() for m in documents]
    assert documents and not any(m.name.endswith((".html", ".htm")) for m in documents)
    assert not any(SCRIPT_MARK.encode() in content for content in contents)
    validated = _cli("validate", package, "--json", "-")
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-2000:]
    assert listener.connections == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body><script>x()</script></body></html>',
         Route.html_document),
        (b'<?xml version="1.0"?>\n<!-- kart -->\n<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>',
         Route.html_document),
        (b'<?xml version="1.0"?>\n<faktura xmlns="urn:ehf"><sum>100</sum></faktura>', Route.keep),
        (b'<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd"><x/>', Route.keep),
    ],
    ids=["xhtml-as-xml", "svg-as-xml", "other-xml", "xml-with-remote-dtd"],
)
def test_xhtml_and_svg_identified_as_plain_xml_are_rendered_too(tmp_path, content, expected):
    path = tmp_path / "dokument.xml"
    path.write_bytes(content)
    fmt = identify(path)
    assert fmt.mime.startswith(("application/xml", "text/xml", "image/svg+xml")), fmt
    assert plan(fmt, email_body=False, xml_root=xml_root(path)).route is expected


def test_an_html_document_of_a_zip_delivery_is_rendered_too(tmp_path, listener):
    # The form's own rendering must be a PDF (the e-form intake refuses anything else); an HTML
    # document delivered with it goes the same way as an e-mail's HTML attachment.
    url = listener.base
    manifest = json.dumps({
        "formType": "arrangement", "title": "Søknad om arrangement", "submissionId": "FS-9",
        "submittedAt": "2026-11-22T19:42:10+01:00",
        "submitter": {"type": "person", "name": "Ola Nordmann", "email": "ola@example.no"},
        "fields": [{"name": "sted", "value": "Fjellvik"}],
        "documents": [{"filename": "skjema.pdf", "mediaType": "application/pdf", "role": "main"},
                      {"filename": "program.html", "mediaType": "text/html", "role": "attachment"}],
    }).encode()
    delivery = tmp_path / "levering.zip"
    with zipfile.ZipFile(delivery, "w") as zipped:
        zipped.writestr("manifest.json", manifest)
        zipped.writestr("skjema.pdf", (EFORMS / "skadedyr-FS-2026-120777.pdf").read_bytes())
        zipped.writestr("program.html", hostile_html(url))
    source, parse = choose_parser(delivery, delivery.name)
    scratch = tmp_path / "s"
    scratch.mkdir()
    [submission] = parse(delivery, IntakeContext(origin_name=delivery.name, received=RECEIVED, scratch=scratch))
    document = next(d for d in submission.documents if d.filename == "program.html")
    assert (source, document.role) == (Source.eform, DocumentRole.attachment)
    outcome = _convert(tmp_path, document)
    assert outcome.failure is None, outcome.failure
    assert outcome.result.action == "converted" and outcome.result.verification.passed
    assert SCRIPT_MARK.encode() not in _all_bytes(outcome.result.output)
    assert listener.connections == []
