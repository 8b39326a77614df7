"""HTML's archival copy: rendered to PDF/A by WeasyPrint, with no network and no scripts.

Intake writes the main document of an HTML e-mail as one self-contained
file (`files/email_html.py`): every image it shows is a `data:` URI of the
message's own parts, every other reference is gone. This module lays it out
on A4 pages and has WeasyPrint write the PDF/A itself (`pdf_variant`, the
part of `ConversionOptions.pdfa_profile`), so the copy is a pure function of
the file.

Any other HTML or XHTML document (an attachment of an e-mail or of an e-form
delivery) and any SVG image is rendered the same way,
never kept as its own archival copy: HTML is an accepted archival format,
but a copy that keeps `<script>`, frames and remote references is not inert,
and shows something else each time it is opened. `clean_document` first
runs it through the same cleaner as the e-mail (scripts, frames, objects,
event attributes, `<link>`, `<base>`, `@import` and every URL that is not a
`data:` URI go; a remote image becomes a visible placeholder naming its
host), an SVG as an image of a page of its own. The original stays beside
the copy as Produksjonsformat.

No network, ever, whatever the file says: WeasyPrint gets `DataUrisOnly`
as its URL fetcher, which serves `data:` URIs from the string itself and
refuses every other URL (http, https, ftp, file, relative) without opening
anything. WeasyPrint runs no scripts. What it refused is counted, so the
conversion can say so.

Two things WeasyPrint writes that PDF/A verification cannot accept are put
right here, not left for verification to refuse:

- images drawn with /Interpolate true (CSS `image-rendering: auto`), which
  PDF/A forbids: the archival stylesheet asks for `crisp-edges`, so every
  image is drawn exactly as its pixels are;
- empty /Pattern and /Shading resource dictionaries, which name nothing but
  make pikepdf's validator answer 'not checked' for the whole page: they are
  removed with pikepdf, so its rules are really checked;
- for PDF/A-1, which forbids all transparency: images with an alpha channel
  are served painted on white (as `images.py` does for image attachments),
  CSS opacity is set to 1, and what is left (semi-transparent colours, a
  page's transparency group) is written opaque with pikepdf. The page looks
  as it would printed on white paper; PDF/A-2 and -3 keep the transparency.

Time and size: a document longer than `max_pages` is refused after layout,
before a PDF is written; WeasyPrint cannot be interrupted inside a call, so
a pathological file is stopped by the conversion worker's hard time limit
(`LocalExecutor(time_limit_s=...)`), like any other tool that hangs.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes
from urllib.request import Request

import pikepdf
import weasyprint
from lxml import etree
from PIL import Image, UnidentifiedImageError
from weasyprint.formatting_structure.boxes import TextBox
from weasyprint.urls import URLFetcher, URLFetcherResponse

from noarkpipe.convert.images import FLATTENED, frame_changes, on_white
from noarkpipe.convert.options import PdfaProfile
from noarkpipe.core.charsets import decode_text
from noarkpipe.errors import InputFileError
from noarkpipe.files.email_html import HtmlBody, build_main_document

TOOL_NAME = "WeasyPrint"
TOOL_VERSION = weasyprint.__version__
ARCHIVAL_CSS = """
@page { size: A4 !important; margin: 18mm 20mm 18mm 20mm !important;
  @bottom-right { content: "Side " counter(page) " av " counter(pages) !important;
    font-family: "DejaVu Sans", sans-serif !important; font-size: 8pt !important; color: #6e6e6e !important; } }
html { font-family: "DejaVu Sans", sans-serif; font-size: 10pt; }
* { image-rendering: crisp-edges !important; }
"""
"""The page and the rules PDF/A needs; user-level !important, so the sender's CSS cannot override them."""
OPAQUE_CSS = "* { opacity: 1 !important; }"
"""Added for PDF/A-1, which forbids transparency groups."""
SVG_MEDIA_TYPE = "image/svg+xml"
_SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_DECLARED_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# WeasyPrint warns about every CSS property of mail programs it does not know
# and every URL it was refused: expected, and no news for the run log.
logging.getLogger("weasyprint").setLevel(logging.ERROR)


class RefusedUrl(ValueError):
    """A URL the archival rendering does not fetch."""


class DataUrisOnly(URLFetcher):
    """A WeasyPrint URL fetcher that serves `data:` URIs and refuses everything else, opening nothing.

    The refused URLs are kept in `refused`, in order. With `opaque_images`
    (PDF/A-1), images with transparency are served painted on white.
    """

    def __init__(self, *, opaque_images: bool = False) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False)
        self.refused: list[str] = []
        self.opaque_images = opaque_images

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if url[:5].lower() != "data:":
            self.refused.append(url)
            raise RefusedUrl(f"not fetched (an archival copy holds only the message's own parts): {url[:100]}")
        media_type, content = decode_data_uri(url)
        if self.opaque_images and media_type.lower().startswith("image/"):
            content, media_type = _on_white(content, media_type)
        return URLFetcherResponse(url, body=content, headers={"Content-Type": media_type})

    def open(self, url: str | Request, data: bytes | None = None, timeout: float | None = None) -> URLFetcherResponse:
        # The inherited opener would reach the network; everything goes through fetch.
        return self.fetch(url if isinstance(url, str) else url.full_url)


def _on_white(content: bytes, media_type: str) -> tuple[bytes, str]:
    """An image with transparency painted on white, as PNG; other images (and unreadable ones) as they are."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            if FLATTENED not in frame_changes(image.mode, "transparency" in image.info):
                return content, media_type
            flat = on_white(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return content, media_type
    buffer = io.BytesIO()
    flat.save(buffer, "PNG")
    return buffer.getvalue(), "image/png"


def decode_data_uri(url: str) -> tuple[str, bytes]:
    """The media type and bytes of a `data:` URI (RFC 2397); RefusedUrl if it is not one."""
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise RefusedUrl("a data: URI without a comma holds no data")
    parameters = [p.strip() for p in header.split(";")]
    is_base64 = bool(parameters) and parameters[-1].lower() == "base64"
    if is_base64:
        parameters = parameters[:-1]
    media_type = ";".join(parameters) or "text/plain;charset=US-ASCII"
    raw = unquote_to_bytes(payload)
    if not is_base64:
        return media_type, raw
    try:
        return media_type, base64.b64decode(b"".join(raw.split()), validate=False)
    except ValueError as exc:
        raise RefusedUrl(f"a data: URI whose base64 cannot be decoded: {exc}") from exc


@dataclass(frozen=True)
class Rendered:
    """What WeasyPrint made: page count, the text laid out on each page, the URLs it was refused."""

    pages: int
    page_texts: list[str]
    refused: list[str]


@dataclass(frozen=True)
class CleanDocument:
    """A document made ready to render: the cleaned HTML page, and the text an SVG on it draws."""

    markup: str
    drawn_text: str = ""
    """The text of an SVG's `<text>` elements: drawn on the page as text, but no layout box holds it."""


def clean_document(content: bytes, media_type: str, *, title: str, svg: bool = False) -> CleanDocument:
    """An HTML, XHTML or SVG document as one self-contained, cleaned HTML page to render.

    `media_type` is the identified one; its charset is a guess from the bytes
    (libmagic), so a byte-order mark or the document's own `<meta charset>`
    goes first. Outside a message there are no `cid:` parts to inline, so
    every reference but a `data:` URI becomes a placeholder or goes. An SVG
    is the one image of its page (what it references is refused by the
    fetcher like any URL; WeasyPrint runs none of its scripts): `svg` says
    the document is one, whatever its media type.
    """
    _mime, _, parameters = media_type.partition(";")
    drawn = ""
    if svg:
        uri = f"data:{SVG_MEDIA_TYPE};base64,{base64.b64encode(content).decode('ascii')}"
        markup = f'<html><body><img src="{uri}" style="max-width: 100%; max-height: 250mm"></body></html>'
        drawn = _svg_text(content)
    else:
        markup = _decoded(content, parameters)
    built = build_main_document(HtmlBody(markup=markup, parts_by_cid={}), [], title, [], inline_budget=0)
    return CleanDocument(markup=built.content.decode("utf-8"), drawn_text=drawn)


def _svg_text(content: bytes) -> str:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except (etree.XMLSyntaxError, ValueError):
        return ""
    return " ".join(
        "".join(element.itertext()) for element in root.iter(f"{{{_SVG_NAMESPACE}}}text")
    )


def _decoded(content: bytes, parameters: str) -> str:
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return content[len(bom):].decode(encoding, "replace")
    declared = _DECLARED_CHARSET.search(content[:4096])
    if declared:
        charset = declared.group(1).decode("ascii")
    else:
        charset = next((value.strip(' "') for key, _, value in (p.strip().partition("=") for p in parameters.split(";"))
                        if key.lower() == "charset"), None)
    return decode_text(content, charset)


def render_pdfa(
    markup: str, target: Path, *, profile: PdfaProfile, max_pages: int, what: str = "the e-mail"
) -> Rendered:
    """Lay out `markup` on A4 and write it to `target` as PDF/A of `profile`; InputFileError if it cannot be.

    `what` names the document in those errors ('the e-mail', 'the document program.html').
    """
    opaque = profile.startswith("1")
    fetcher = DataUrisOnly(opaque_images=opaque)
    css = ARCHIVAL_CSS + (OPAQUE_CSS if opaque else "")
    try:
        document = weasyprint.HTML(string=markup, url_fetcher=fetcher, media_type="screen").render(
            stylesheets=[weasyprint.CSS(string=css, url_fetcher=fetcher)], presentational_hints=True,
        )
        pages = len(document.pages)
        if pages > max_pages:
            raise InputFileError(
                f"{what} lays out on {pages} pages, more than the {max_pages} allowed",
                hint="raise [convert] max_pages if such documents are expected",
            )
        texts = [_page_text(page) for page in document.pages]
        document.write_pdf(target, pdf_variant=f"pdf/a-{profile}")
    except RecursionError as exc:
        raise InputFileError(
            f"the HTML of {what} is nested too deeply to lay out", hint="ask the sender for it as PDF"
        ) from exc
    _tidy(target, opaque=opaque)
    return Rendered(pages=pages, page_texts=texts, refused=fetcher.refused)


def _page_text(page: weasyprint.Page) -> str:
    """The text WeasyPrint laid out on a page, from its boxes: what the copy's text layer must hold."""
    root = getattr(page, "_page_box", None)
    if root is None:
        return ""
    texts = [
        box.text for box in root.descendants()
        if isinstance(box, TextBox) and box.style["visibility"] == "visible"
    ]
    return " ".join(texts)


def _tidy(path: Path, *, opaque: bool) -> None:
    """Empty resource dictionaries removed; with `opaque`, every transparency written opaque."""
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        for obj in pdf.objects:
            if not isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                continue
            resources = obj.get("/Resources")
            if isinstance(resources, pikepdf.Dictionary):
                for key in ("/Pattern", "/Shading"):
                    entry = resources.get(key)
                    if isinstance(entry, pikepdf.Dictionary) and len(entry.keys()) == 0:
                        del resources[key]
                states = resources.get("/ExtGState")
                if opaque and isinstance(states, pikepdf.Dictionary):
                    for state in states.values():
                        _opaque_state(state)
            group = obj.get("/Group")
            if opaque and isinstance(group, pikepdf.Dictionary) and group.get("/S") == "/Transparency":
                del obj["/Group"]
        pdf.save(path)


def _opaque_state(state: pikepdf.Object) -> None:
    if not isinstance(state, pikepdf.Dictionary):
        return
    for key in ("/CA", "/ca"):
        if key in state:
            state[key] = 1
    if "/SMask" in state:
        state["/SMask"] = pikepdf.Name("/None")
