"""HTML e-mail as it looked: e-post.html from intake, rendered to PDF/A by WeasyPrint, with no network.

Real parts throughout: the e-mail intake, the conversion job the nightly run
hands its workers, WeasyPrint, the PDF/A verification, pypdfium2 to look at
the page, and a real HTTP listener on loopback that must see no connection.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image
from pypdf import PdfReader

from helpers.loopback import Listener
from noarkpipe.convert import ConversionJob, ConversionOptions, convert_document, is_email_body, plan
from noarkpipe.convert.html import DataUrisOnly, RefusedUrl, decode_data_uri
from noarkpipe.convert.pdfa import Route
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.email_document import HTML_MAIN_FILENAME
from noarkpipe.core.submission import DocumentRole, SubmissionDocument
from noarkpipe.files import email_html
from noarkpipe.files.identify import FormatId
from noarkpipe.intake.email import parse_eml, with_forwarded_main

RECEIVED = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
LOGO_COLOUR = (212, 17, 155)
PHOTO_COLOUR = (18, 150, 72)


@pytest.fixture
def listener():
    with Listener(_png((40, 40), (0, 0, 255))) as running:
        yield running


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def _newsletter(port: int) -> bytes:
    remote = f"http://127.0.0.1:{port}"
    markup = f"""<html><head>
<style>@import url("{remote}/import.css"); @import "{remote}/import2.css";
.banner {{ background-image: url('{remote}/bg.png'); border: 2px solid #333; }}
@font-face {{ font-family: Fjell; src: url({remote}/font.woff2); }}
h1 {{ font-family: Fjell, sans-serif; b\\61 ckground: u\\72l({remote}/escaped.png); }}</style>
<link rel="stylesheet" href="{remote}/style.css"><script src="{remote}/tracker.js"></script>
</head><body>
<img src="cid:logo@fjellvik.kommune.no" alt="Fjellvik kulturskole" width="90" height="30">
<h1>Nyhetsbrev fra Fjellvik kulturskole</h1>
<table border="1" cellpadding="4">
<tr><th>Kurs</th><th>Sted</th><th>Plasser</th></tr>
<tr><td>Gitar for nybegynnere</td><td>Øvre Bjørkåsen skole</td><td>12</td></tr>
<tr><td>Blåsekorps</td><td>Ærfuglhallen</td><td>8</td></tr>
</table>
<div class="banner" style="background: url({remote}/inline.png) no-repeat">Påmelding innen fredag</div>
<p>Bilde fra konserten:</p><img src="cid:konsert@fjellvik.kommune.no" alt="Konserten">
<img src="{remote}/x.png" alt="Kampanje">
<img src="{remote}/pixel.gif" width="1" height="1">
<iframe src="{remote}/frame.html"></iframe><object data="{remote}/flash.swf"></object>
<p><a href="https://fjellvik.kommune.no/kulturskole">Les mer på nettsidene</a></p>
</body></html>"""
    message = EmailMessage()
    message["From"] = "Fjellvik kulturskole <kulturskolen@fjellvik.kommune.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = "Nyhetsbrev: kurs våren 2027"
    message["Date"] = format_datetime(datetime(2026, 11, 20, 14, 3, tzinfo=UTC))
    message["Message-ID"] = "<nyhetsbrev-1@fjellvik.kommune.no>"
    message.set_content("Nyhetsbrev fra Fjellvik kulturskole. Gitar for nybegynnere: 12 plasser.")
    message.add_alternative(markup, subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(_png((90, 30), LOGO_COLOUR), "image", "png", cid="<logo@fjellvik.kommune.no>")
    html_part.add_related(_png((320, 240), PHOTO_COLOUR), "image", "png", cid="<konsert@fjellvik.kommune.no>",
                          filename="konsert.png")
    return message.as_bytes()


def _parse(tmp_path: Path, raw: bytes, name: str = "post.eml", limits: IntakeLimits = IntakeLimits()):
    path = tmp_path / name
    path.write_bytes(raw)
    context = IntakeContext(origin_name=name, received=RECEIVED, scratch=tmp_path / "scratch", limits=limits)
    [submission] = parse_eml(path, context)
    return submission


def _convert(tmp_path: Path, document, options: ConversionOptions = ConversionOptions()):
    """The archival copy as the nightly run makes it: one ConversionJob on the document's bytes."""
    source = tmp_path / "received" / hashlib.sha256(document.content).hexdigest()
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(document.content)
    rendered = None
    if document.rendered is not None:  # kept next to it, as the parse child keeps it
        rendered = tmp_path / "rendered" / source.name / document.rendered.filename
        rendered.parent.mkdir(parents=True, exist_ok=True)
        rendered.write_bytes(document.rendered.content)
    job = ConversionJob(
        source=source, source_sha256=source.name, filename=document.filename,
        email_body=is_email_body(document.role, document.filename), rendered=rendered, target=tmp_path / "archival",
        scratch=tmp_path / "convert-scratch", options=options,
    )
    return convert_document(job)


def _text(pdf: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(pdf).pages)


def _pixels_near(pdf: Path, colour: tuple[int, int, int], page: int = 0) -> int:
    document = pypdfium2.PdfDocument(str(pdf))
    try:
        image = document[page].render(scale=2).to_pil().convert("RGB")
    finally:
        document.close()
    return sum(
        count for count, pixel in image.getcolors(maxcolors=1 << 24)
        if all(abs(a - b) <= 12 for a, b in zip(pixel, colour))
    )


def test_html_newsletter_is_rendered_as_it_looked_and_nothing_is_fetched(tmp_path, listener):
    port = listener.port
    submission = _parse(tmp_path, _newsletter(port))
    main, *attachments = submission.documents
    assert (main.filename, main.media_type, main.role) == ("e-post.html", "text/html; charset=utf-8", DocumentRole.main)
    # The tiny logo is part of the letter; the photo is rendered and stays a document of its own.
    assert [a.filename for a in attachments] == ["konsert.png"]
    assert "Gitar for nybegynnere" in submission.body_text and "<" not in submission.body_text
    markup = main.content.decode("utf-8")
    assert f"127.0.0.1:{port}" not in markup  # the placeholders name the host only
    assert "<script" not in markup and "<iframe" not in markup and "<object" not in markup

    outcome = _convert(tmp_path, main)
    assert outcome.failure is None, outcome.failure
    result = outcome.result
    assert result.tool.startswith("WeasyPrint") and "fpdf2" not in result.tool
    report = result.verification
    assert report.passed and {c.id: c.outcome for c in report.checks}["pdfa_rules"] == "passed", report.summary()
    assert {c.id: c.outcome for c in report.checks}["text_layer"] == "passed"
    assert result.to_format.puid == "fmt/477"  # PDF/A-2b

    text = _text(result.output)
    for cell in ("Kurs", "Plasser", "Gitar for nybegynnere", "Øvre Bjørkåsen skole", "Blåsekorps", "Ærfuglhallen"):
        assert cell in text
    assert "Fra:" in text and "kulturskolen@fjellvik.kommune.no" in text
    assert "Emne:" in text and "Nyhetsbrev: kurs våren 2027" in text and "Dato:" in text and "20.11.2026" in text
    assert "Vedlegg:" in text and "konsert.png" in text
    assert "[eksternt bilde ikke hentet: 127.0.0.1] Kampanje" in text
    assert "Les mer på nettsidene" in text
    # The logo and the photo are drawn: their colours are on the page (the logo is 90x30 px at 96 dpi).
    assert _pixels_near(result.output, LOGO_COLOUR) > 4000
    assert _pixels_near(result.output, PHOTO_COLOUR) > 20000
    # Not one connection reached the listener: no GET, no OPTIONS, nothing, at intake or conversion.
    assert listener.connections == [] and listener.requests == []


def test_without_the_guard_weasyprint_would_have_fetched_from_the_listener(listener):
    """The no-request assertion above is only worth something if the same HTML, rendered naively, does reach out."""
    from email import message_from_bytes, policy

    import weasyprint

    message = message_from_bytes(_newsletter(listener.port), policy=policy.default)
    markup = message.get_body(("html",)).get_content()
    weasyprint.HTML(string=markup).write_pdf()
    assert listener.connections and any("/x.png" in path for _method, path in listener.requests)


def test_weasyprint_is_refused_every_url_that_is_not_data_even_in_a_hand_made_file(tmp_path, listener):
    """The fetcher is the last line: conversion of a file intake never cleaned still fetches nothing."""
    remote = f"http://127.0.0.1:{listener.port}"
    (tmp_path / "secret.png").write_bytes(_png((50, 50), LOGO_COLOUR))
    markup = f"""<!DOCTYPE html><html><head><link rel="stylesheet" href="{remote}/a.css">
<style>@import url({remote}/b.css); p {{ background: url({remote}/c.png) }}</style>
<base href="{remote}/"></head><body><p>Hånd&shy;laget</p><img src="{remote}/d.png"><img src="e.png">
<img src="file://{tmp_path}/secret.png"><img src="ftp://127.0.0.1/f.png"><a rel="attachment" href="{remote}/g.pdf">g</a>
<svg width="10" height="10"><image href="{remote}/h.png" width="10" height="10"/></svg></body></html>"""
    document = SubmissionDocument(
        filename="e-post.html", media_type="text/html", content=markup.encode(), role=DocumentRole.main, title="x"
    )
    outcome = _convert(tmp_path, document)
    assert outcome.failure is None, outcome.failure
    assert any("not fetched" in warning for warning in outcome.result.warnings)
    assert _pixels_near(outcome.result.output, LOGO_COLOUR) == 0
    assert listener.connections == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/x.png", "https://example.org/x.png", "file:///etc/passwd", "ftp://example.org/x",
            "FILE:///etc/hostname", "x.png", "//example.org/x.png", "cid:logo"],
)
def test_the_fetcher_refuses_everything_but_data_uris(url):
    fetcher = DataUrisOnly()
    with pytest.raises(RefusedUrl):
        fetcher.fetch(url)
    assert fetcher.refused == [url]


def test_the_fetcher_serves_data_uris_from_the_string_itself():
    fetcher = DataUrisOnly()
    response = fetcher.fetch("data:image/png;base64,iVBORw0KGgo=")
    assert response.read() == b"\x89PNG\r\n\x1a\n" and response.content_type == "image/png"
    assert decode_data_uri("data:,H%C3%A5per") == ("text/plain;charset=US-ASCII", "Håper".encode())


def test_plain_text_mail_still_goes_the_fpdf2_way(tmp_path):
    message = EmailMessage()
    message["From"] = "ola@example.no"
    message["Subject"] = "Søknad om ferie"
    message.set_content("Hei,\n\nJeg søker om fri i uke 8.\n\nOla")
    submission = _parse(tmp_path, message.as_bytes())
    main = submission.documents[0]
    assert (main.filename, main.media_type) == ("e-post.txt", "text/plain; charset=utf-8")
    outcome = _convert(tmp_path, main)
    assert outcome.result.tool.startswith("fpdf2") and "WeasyPrint" not in outcome.result.tool
    assert "Jeg søker om fri i uke 8." in _text(outcome.result.output)


def test_alternative_with_html_prefers_html_and_keeps_the_plain_text_for_search(tmp_path):
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Tilbud"
    message.set_content("Teksten slik avsenderen skrev den.")
    message.add_alternative("<p>Teksten <b>i HTML</b>.</p>", subtype="html")
    submission = _parse(tmp_path, message.as_bytes())
    assert submission.documents[0].filename == "e-post.html"
    assert submission.body_text == "Teksten slik avsenderen skrev den."


def test_html_with_script_renders_without_the_script(tmp_path):
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Skript"
    message.set_content(
        "<html><head><script>document.write('SKRIPTET KJØRTE')</script></head><body>"
        "<p onclick=\"document.write('KLIKK')\" onload=\"alert(1)\">Søknaden følger vedlagt.</p>"
        "<a href=\"javascript:alert('LENKESKRIPT')\">Trykk her</a>"
        "<svg><script>alert('SVGSKRIPT')</script></svg><noscript>Uten skript</noscript></body></html>",
        subtype="html",
    )
    submission = _parse(tmp_path, message.as_bytes())
    markup = submission.documents[0].content.decode()
    assert "<script" not in markup and "onclick" not in markup and "onload" not in markup
    assert "javascript:" not in markup
    outcome = _convert(tmp_path, submission.documents[0])
    assert outcome.failure is None, outcome.failure
    text = _text(outcome.result.output)
    assert "Søknaden følger vedlagt." in text and "Trykk her" in text
    assert "SKRIPT" not in text and "KLIKK" not in text


def test_broken_html_still_renders(tmp_path):
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Ødelagt"
    message.set_content(
        "<html><body><table><tr><td>Ufullstendig <b>tabell<td>andre celle</tr><p>Avsnitt uten slutt"
        "<div><span>Åpne elementer <i>overalt</body></html></div></table></p>",
        subtype="html",
    )
    submission = _parse(tmp_path, message.as_bytes())
    outcome = _convert(tmp_path, submission.documents[0])
    assert outcome.failure is None, outcome.failure
    assert outcome.result.verification.passed
    text = _text(outcome.result.output)
    assert "Ufullstendig" in text and "andre celle" in text and "Åpne elementer" in text


def test_inline_images_are_weighed_tracking_pixels_dropped_tiny_absorbed_large_kept(tmp_path):
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Bilder"
    message.set_content(
        '<p>Logo <img src="cid:logo"> piksel <img src="cid:pixel"> bilde <img src="cid:photo">'
        ' mangler <img src="cid:borte"> ødelagt <img src="cid:broken"></p>',
        subtype="html",
    )
    message.add_related(_png((88, 31), LOGO_COLOUR), "image", "png", cid="<logo>")
    message.add_related(_png((1, 1), (255, 255, 255)), "image", "png", cid="<pixel>")
    message.add_related(_png((300, 200), PHOTO_COLOUR), "image", "png", cid="<photo>", filename="foto.png")
    message.add_related(b"\x89PNG not really", "image", "png", cid="<broken>", filename="skadet.png")
    submission = _parse(tmp_path, message.as_bytes())
    assert [d.filename for d in submission.documents[1:]] == ["foto.png", "skadet.png"]
    markup = submission.documents[0].content.decode()
    assert markup.count("<img") == 2  # logo and photo; the tracking pixel is left out
    assert "[innebygd bilde mangler i meldingen: borte]" in markup
    assert "[innebygd bilde kan ikke leses: skadet.png]" in markup


@pytest.mark.parametrize(
    ("size", "tiny", "tracking"),
    [((1, 1), True, True), ((2, 2), True, True), ((3, 2), True, False), ((88, 31), True, False),
     ((120, 80), True, False), ((64, 64), True, False), ((600, 2), True, False), ((200, 60), False, False),
     ((640, 480), False, False)],
)
def test_tiny_and_tracking_thresholds(size, tiny, tracking):
    assert email_html.is_tiny_image(*size) is tiny
    assert email_html.is_tracking_pixel(*size) is tracking


@pytest.mark.parametrize(
    "css",
    [
        "@import url(http://evil.example/a.css); p { color: red }",
        "p { background: url(http://evil.example/a.png) }",
        "p { background: u\\72l(http://evil.example/a.png) }",
        "p { background-image: image-set('http://evil.example/a.png' 1x) }",
        "@media screen { p { background: url('http://evil.example/a.png') } }",
        "@font-face { font-family: X; src: url(http://evil.example/f.woff) }",
    ],
)
def test_stylesheets_lose_every_remote_url(css):
    cleaned = email_html._clean_stylesheet(css, email_html._Inliner(parts={}, budget=10**6))
    assert "evil.example" not in cleaned and "@import" not in cleaned.lower()


def test_a_style_element_cannot_be_closed_from_inside_a_css_string(tmp_path):
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Stil"
    message.set_content(
        "<style>p::after { content: '</style><script>alert(1)</script>' }</style><p>Tekst</p>", subtype="html"
    )
    markup = _parse(tmp_path, message.as_bytes()).documents[0].content.decode()
    assert "<script" not in markup and "</style><script" not in markup


def test_a_forwarded_html_message_is_rendered_by_weasyprint_too(tmp_path, listener):
    inner = EmailMessage()
    inner["From"] = "Ola <ola@example.no>"
    inner["Subject"] = "Opprinnelig melding"
    inner.set_content(
        f"<table><tr><td>Gnr. 12</td><td>Bnr. 7</td></tr></table>"
        f"<img src='http://127.0.0.1:{listener.port}/spor.gif'>",
        subtype="html",
    )
    outer = EmailMessage()
    outer["From"] = "kari@example.no"
    outer["Subject"] = "Fwd: Opprinnelig melding"
    outer.set_content("Se videresendt melding.")
    outer.add_attachment(inner, filename="videresendt.eml")
    submission = _parse(tmp_path, outer.as_bytes())
    forwarded = submission.documents[1]
    assert forwarded.media_type == "message/rfc822"
    context = IntakeContext(origin_name="post.eml", received=RECEIVED, scratch=tmp_path / "scratch")
    forwarded = with_forwarded_main(forwarded, context)  # as the parse child lays it out
    assert forwarded.rendered is not None and forwarded.rendered.filename == HTML_MAIN_FILENAME
    outcome = _convert(tmp_path, forwarded)
    assert outcome.failure is None, outcome.failure
    assert "WeasyPrint" in outcome.result.tool and outcome.result.verification.passed
    text = _text(outcome.result.output)
    assert "Gnr. 12" in text and "Bnr. 7" in text and "Opprinnelig melding" in text
    assert listener.connections == []


def test_an_html_mail_longer_than_max_pages_is_refused_after_layout(tmp_path):
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Lang"
    message.set_content("".join(f"<p>Avsnitt {n}</p>" for n in range(400)), subtype="html")
    outcome = _convert(tmp_path, _parse(tmp_path, message.as_bytes()).documents[0], ConversionOptions(max_pages=2))
    assert outcome.failure_kind == "refused" and "more than the 2 allowed" in outcome.failure


def test_plan_renders_the_mails_own_html_as_the_email_and_other_html_cleaned():
    html = FormatId(puid="fmt/471", name="Hypertext Markup Language", mime="text/html; charset=utf-8",
                    accepted=True, basis="signature")
    assert plan(html, email_body=True).route is Route.email_html
    assert plan(html, email_body=False).route is Route.html_document  # cleaned first (tests/test_html_documents.py)
    assert is_email_body(DocumentRole.main, "e-post.html") and not is_email_body(DocumentRole.attachment, "e-post.html")


def test_pdfa_1b_copies_are_opaque_but_still_show_the_image(tmp_path):
    """PDF/A-1 forbids transparency: alpha images are painted on white, opacity and rgba() written opaque."""
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Gjennomsiktig"
    message.set_content(
        '<p style="opacity: 0.5">Halvt synlig</p><p style="color: rgba(200, 0, 0, 0.4)">Rosa tekst</p>'
        '<img src="cid:logo">',
        subtype="html",
    )
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 100), (*LOGO_COLOUR, 255)).save(buffer, "PNG")
    message.add_related(buffer.getvalue(), "image", "png", cid="<logo>", filename="logo.png")
    main = _parse(tmp_path, message.as_bytes()).documents[0]
    outcome = _convert(tmp_path, main, ConversionOptions(pdfa_profile="1b"))
    assert outcome.failure is None, outcome.failure
    assert outcome.result.verification.passed and outcome.result.to_format.puid == "fmt/354"  # PDF/A-1b
    assert "Halvt synlig" in _text(outcome.result.output)
    assert _pixels_near(outcome.result.output, LOGO_COLOUR) > 20000


def test_intake_notes_are_shown_under_the_html_body(tmp_path):
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Signert"
    message.set_content("<p>Brødtekst</p>", subtype="html")
    main, attachments = email_html.main_document(
        message, lambda part: part.get_content(), [], [], [], None, "Signert", [], notes=["[Meldingen var signert.]"]
    )
    assert attachments == [] and b'<p class="noarkpipe-note">[Meldingen var signert.]</p>' in main.content


def test_one_image_named_many_times_cannot_blow_up_the_html(tmp_path):
    """Each cid: reference inlines the part's bytes again: the total is bounded by max_document_mb."""
    import os

    noise = Image.frombytes("RGB", (300, 200), os.urandom(300 * 200 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Mange bilder"
    message.set_content(
        "<p>Bilder:</p>"
        + "".join('<img src="cid:foto"><div style="background: url(cid:foto)">x</div>' for _ in range(40)),
        subtype="html",
    )
    message.add_related(buffer.getvalue(), "image", "png", cid="<foto>", filename="foto.png")
    submission = _parse(tmp_path, message.as_bytes(), limits=IntakeLimits(max_document_mb=1))
    main = submission.documents[0]
    assert len(main.content) < 1.1 * 1024 * 1024
    one = len(email_html._data_uri(buffer.getvalue(), "image/png"))
    assert main.content.count(b"data:image/png;base64,") == 1024 * 1024 // one  # as many as the budget holds
    assert b"for mye bildedata: se vedlegget foto.png" in main.content
    assert [d.filename for d in submission.documents[1:]] == ["foto.png"]
