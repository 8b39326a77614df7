"""The HTML e-mail as it looked: one self-contained, sanitized HTML document for its archival copy.

Below the stages (like `imaging.py`): the e-mail intake builds `e-post.html`
with it, and conversion cleans every other HTML, XHTML and SVG document it
renders with the same cleaner and page shell (`convert/html.py`), so neither
stage imports the other and there is one list of what is removed.

When a message's best part is HTML (HTML only, or a multipart/alternative
that has an HTML version, with or without a multipart/related around it),
its main document is `e-post.html` instead of the text `e-post.txt`: the
header block (Fra, Til, Kopi, Dato, Emne) as a table, the sender's HTML
body, and the list of attachments. Conversion renders that file to PDF/A
with WeasyPrint (`convert/html.py`); the text extracted from the body still
goes into `Submission.body_text` for classification, screening and search.

The file must render the same on any machine, today and in fifty years, and
nothing in it may reach out: the archival copy is a pure function of the
file. So it holds no reference to anything outside itself:

- `cid:` references to the message's own parts become `data:` URIs of
  those parts' bytes, so the inline images are in place;
- remote images (and any other `<img>` whose source is not in the message)
  become a visible bordered placeholder naming the host
  ("[eksternt bilde ikke hentet: host]"); nothing is fetched, ever;
- scripts, event attributes, frames, objects, embeds, forms' actions,
  `<link>`, `<base>`, `<meta>` (but our charset), CSS `@import` and
  `@font-face`, and every CSS `url()` that is not a message part go;
- links (`<a href>`) stay as links: they are shown, never followed.

Inline images are weighed by their pixels, because the archivist's question
is whether an image is a document of its own:

- a tracking pixel (at most `TRACKING_PIXEL_SIDE` pixels each way, or a
  remote image declared that small) is left out of the rendering;
- a tiny image (`is_tiny_image`: both sides at most 64 px, or at most
  10,000 px in all: signature logos, icons, rules) is part of the rendered
  letter only, not a document of its own;
- a larger image (a photo pasted in the body) is rendered in place and
  stays an attachment as well, so nothing is lost;

and the original .eml, kept whole as the item's original, holds them all.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from urllib.parse import unquote, urlsplit

import tinycss2
from lxml import etree, html
from PIL import Image, UnidentifiedImageError

from noarkpipe.core.context import IntakeLimits
from noarkpipe.core.email_document import HTML_MAIN_FILENAME, HTML_MEDIA_TYPE, header_block
from noarkpipe.core.submission import DocumentRole, Party, SubmissionDocument
from noarkpipe.files.imaging import is_tiny_image

TRACKING_PIXEL_SIDE = 2
"""An image at most this many pixels wide and high shows nothing a reader sees: a tracking pixel."""

_DROPPED_WITH_CONTENT = frozenset({
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "link", "meta", "base", "title",
    "template", "portal", "noembed", "param",
})
_MEDIA = frozenset({"audio", "video"})
_LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_URL_ATTRIBUTES = frozenset({
    "src", "href", "xlink:href", "background", "poster", "data", "lowsrc", "dynsrc", "longdesc", "cite",
    "usemap", "codebase", "archive", "profile", "manifest", "action", "formaction", "srcset", "ping", "itemtype",
})
_SAFE_COLOUR = re.compile(r"^#?[0-9a-zA-Z]{1,20}$")
_URL_FUNCTIONS = frozenset({"url", "src", "image", "image-set", "-webkit-image-set", "cross-fade", "element"})
_DROPPED_AT_RULES = frozenset({"import", "font-face", "namespace"})
_RULE_LIST_AT_RULES = frozenset({"media", "supports", "document", "-moz-document", "layer", "container"})

HEADER_CSS = """
table.noarkpipe-header { border-collapse: collapse; margin: 0 0 4mm 0; width: 100%;
  font-family: "DejaVu Sans", sans-serif; font-size: 10pt; border-bottom: 0.4pt solid #000; }
table.noarkpipe-header th, table.noarkpipe-header td { text-align: left; vertical-align: top;
  padding: 0.6mm 2mm 0.6mm 0; font-size: 10pt; color: #000; background: #fff; border: none; }
table.noarkpipe-header th { font-weight: bold; width: 18mm; white-space: nowrap; }
p.noarkpipe-note { margin-top: 4mm; font-family: "DejaVu Sans", sans-serif; font-size: 10pt; color: #000; }
div.noarkpipe-attachments { margin-top: 6mm; font-family: "DejaVu Sans", sans-serif; font-size: 10pt; }
span.noarkpipe-not-shown { display: inline-block; border: 1px dashed #777; padding: 1mm 2mm; margin: 0.5mm;
  color: #444; background: #f4f4f4; font-family: "DejaVu Sans", sans-serif; font-size: 8pt; }
img { max-width: 100%; }
"""
"""The header block and placeholders; after the sender's styles, so that theirs cannot hide ours."""


@dataclass(frozen=True)
class HtmlBody:
    """The HTML part a message is best shown by, and the message's parts that `cid:` can name."""

    markup: str
    parts_by_cid: dict[str, Message]


@dataclass
class HtmlMainDocument:
    """The built `e-post.html` and the inline images it took in as part of the letter."""

    content: bytes
    absorbed: list[bytes] = field(default_factory=list)
    """Contents of inline images that are part of the rendered letter only (tiny or tracking pixels)."""


@dataclass
class _Inliner:
    """The message's parts by Content-ID, turned into data: URIs within a budget of bytes.

    One image named a thousand times must not make a file of gigabytes.
    """

    parts: dict[str, Message]
    budget: int
    absorbed: list[bytes] = field(default_factory=list)

    def part(self, reference: str) -> Message | None:
        return self.parts.get(_cid_key(reference))

    def data_uri(self, content: bytes, media_type: str) -> str | None:
        uri = _data_uri(content, media_type)
        if len(uri) > self.budget:
            return None
        self.budget -= len(uri)
        return uri


def main_document(
    message: Message, text_of: Callable[[Message], str], sender: list[Party], to: list[Party], cc: list[Party],
    sent: datetime | None, subject: str, attachments: list[SubmissionDocument], notes: Sequence[str] = (),
    limits: IntakeLimits = IntakeLimits(),
) -> tuple[SubmissionDocument, list[SubmissionDocument]] | None:
    """`e-post.html` and the attachments that remain documents, if HTML is the message's best part; else None.

    `notes` are intake's remarks shown under the body, as in the text version
    ("[Meldingen var signert ...]"). The images inlined add up to at most
    `limits.max_document_bytes`; past that an image is a placeholder (and
    stays an attachment).
    """
    body = find_html_body(message, text_of)
    if body is None:
        return None
    built = build_main_document(
        body, header_block(sender, to, cc, sent, subject), subject, attachments, notes,
        inline_budget=limits.max_document_bytes,
    )
    main = SubmissionDocument(
        filename=HTML_MAIN_FILENAME, media_type=HTML_MEDIA_TYPE, content=built.content, role=DocumentRole.main,
        title=subject or "E-post uten emne",
    )
    return main, absorbed_removed(attachments, built)


def is_tracking_pixel(width: int, height: int) -> bool:
    return width <= TRACKING_PIXEL_SIDE and height <= TRACKING_PIXEL_SIDE


def find_html_body(message: Message, text_of: Callable[[Message], str]) -> HtmlBody | None:
    """The message's HTML body when HTML is its best part, else None (its text is the body).

    `text_of(part)` decodes a text part (the e-mail intake's charset rules).
    In a multipart/alternative the HTML version is preferred; in a
    multipart/mixed the first body part decides; a multipart/related is
    shown by its root. Forwarded messages are not looked into: each has its
    own rendering.
    """
    part = _best_part(message)
    if part is None:
        return None
    markup = text_of(part)
    if not markup.strip():
        return None
    return HtmlBody(markup=markup, parts_by_cid=dict(_parts_by_cid(message)))


def _best_part(part: Message) -> Message | None:
    content_type = part.get_content_type()
    if _is_attachment(part):
        return None
    if content_type == "text/html":
        return part
    if not part.is_multipart() or content_type.startswith("message/"):
        return None
    children = [child for child in part.get_payload() if isinstance(child, Message)]
    if content_type == "multipart/alternative":
        return next((found for child in reversed(children) if (found := _best_part(child)) is not None), None)
    if content_type == "multipart/related":
        start = (part.get_param("start") or "").strip()
        root = next((c for c in children if start and str(c.get("content-id", "")).strip() == start), None)
        return _best_part(root if root is not None else children[0]) if children else None
    # multipart/mixed, /signed and the like: the first part that is not an attachment is the body.
    for child in children:
        if _is_attachment(child) or child.get_content_type() in ("application/pkcs7-signature",):
            continue
        if child.is_multipart() or child.get_content_maintype() == "text":
            return _best_part(child)
    return None


def _is_attachment(part: Message) -> bool:
    # The e-mail intake's own rule: a named part is an attachment unless it says it is inline.
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or (bool(part.get_filename()) and disposition != "inline")


def _parts_by_cid(message: Message) -> Iterator[tuple[str, Message]]:
    for part in _leaves(message):
        cid = part.get("content-id")
        if cid:
            yield _cid_key(str(cid)), part


def _leaves(part: Message) -> Iterator[Message]:
    if part.get_content_type() == "message/rfc822":
        return
    if part.is_multipart():
        for child in part.get_payload():
            if isinstance(child, Message):
                yield from _leaves(child)
    else:
        yield part


def _cid_key(value: str) -> str:
    return unquote(value).strip().strip("<>").strip().lower()


def build_main_document(
    body: HtmlBody, header: list[tuple[str, str]], subject: str, attachments: Iterable[SubmissionDocument],
    notes: Sequence[str] = (), *, inline_budget: int = IntakeLimits().max_document_bytes,
) -> HtmlMainDocument:
    """`e-post.html`: header block, sanitized body with its inline images in place, attachment list.

    Inline images that become part of the letter only are listed in
    `absorbed`; the attachment list leaves them out.
    """
    inline = _Inliner(parts=body.parts_by_cid, budget=inline_budget)
    source = _parse(body.markup)
    styles = [_clean_stylesheet(style.text or "", inline) for style in source.iter("style")]
    for style in list(source.iter("style")):
        style.drop_tree()
    body_element = source.find("body")
    if body_element is None:
        body_element = source
    _clean_tree(body_element, inline)
    result = HtmlMainDocument(content=b"", absorbed=inline.absorbed)
    shown_attachments = absorbed_removed(list(attachments), result)

    document = html.Element("html", lang="no")
    head = etree.SubElement(document, "head")
    etree.SubElement(head, "meta", charset="utf-8")
    etree.SubElement(head, "title").text = subject or "E-post uten emne"
    for css in [*styles, HEADER_CSS]:
        if css.strip():
            etree.SubElement(head, "style").text = css
    page = etree.SubElement(document, "body")
    if header:  # a document that is not an e-mail (an HTML attachment, convert/html.py) has none
        page.append(_header_table(header))
    wrapper = etree.SubElement(page, "div", {"class": "noarkpipe-body"})
    _move_body(body_element, wrapper, inline)
    for note in notes:
        etree.SubElement(page, "p", {"class": "noarkpipe-note"}).text = _printable(note)
    if shown_attachments:
        listing = etree.SubElement(page, "div", {"class": "noarkpipe-attachments"})
        etree.SubElement(listing, "b").text = "Vedlegg:"
        items = etree.SubElement(listing, "ul")
        for attachment in shown_attachments:
            etree.SubElement(items, "li").text = attachment.filename
    result.content = html.tostring(document, doctype="<!DOCTYPE html>", encoding="utf-8", method="html")
    return result


def absorbed_removed(attachments: list[SubmissionDocument], built: HtmlMainDocument) -> list[SubmissionDocument]:
    """The attachments less the inline images that are part of the rendered letter only."""
    return [a for a in attachments if not any(a.content == content for content in built.absorbed)]


def _parse(markup: str) -> etree._Element:
    parser = html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, default_doctype=False)
    try:
        return html.document_fromstring(markup, parser=parser)
    except (etree.ParserError, ValueError):
        # Not even a fragment lxml can read (e.g. only a comment): keep the text as text.
        document = html.document_fromstring("<html><body><pre></pre></body></html>")
        document.find(".//pre").text = re.sub(r"<[^>]+>", " ", markup)
        return document


def _header_table(header: list[tuple[str, str]]) -> etree._Element:
    table = html.Element("table", {"class": "noarkpipe-header"})
    for label, value in header:
        row = etree.SubElement(table, "tr")
        etree.SubElement(row, "th").text = f"{label}:"
        etree.SubElement(row, "td").text = _printable(value)
    return table


def _move_body(body: etree._Element, wrapper: etree._Element, inline: _Inliner) -> None:
    """The body's content and look (style, bgcolor, text colour) into our wrapper div."""
    styles = []
    if body.tag == "body":
        if colour := _safe_colour(body.get("bgcolor")):
            styles.append(f"background-color: {colour}")
        if colour := _safe_colour(body.get("text")):
            styles.append(f"color: {colour}")
        if body.get("style"):
            styles.append(_clean_declarations(body.get("style", ""), inline))
    if styles:
        wrapper.set("style", "; ".join(s for s in styles if s.strip()))
    wrapper.text = body.text
    for child in list(body):
        wrapper.append(child)


def _safe_colour(value: str | None) -> str | None:
    return value.strip() if value and _SAFE_COLOUR.match(value.strip()) else None


def _clean_tree(root: etree._Element, inline: _Inliner) -> None:
    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions are removed by the parser; entities stay text
        tag = element.tag.lower().rpartition(":")[2]
        if tag in _DROPPED_WITH_CONTENT:
            element.drop_tree()
        elif tag in _MEDIA:
            _replace(element, _not_shown(f"[{'lyd' if tag == 'audio' else 'video'} ikke gjengitt]"))
        elif tag == "img":
            _clean_attributes(element, inline)
            _image(element, inline)
        elif tag == "input" and (element.get("type") or "").lower() == "image":
            element.drop_tree()
        else:
            _clean_attributes(element, inline)


def _clean_attributes(element: etree._Element, inline: _Inliner) -> None:
    tag = element.tag.lower()
    for name in list(element.attrib):
        value = element.attrib[name]
        key = name.lower()
        if key.startswith("on") or key in ("rel", "srcset", "ping", "formaction", "action"):
            # Event handlers never run (WeasyPrint runs no scripts), but they are no part of the letter;
            # rel="attachment" would make WeasyPrint embed a file, which PDF/A-2 forbids.
            del element.attrib[name]
        elif key == "style":
            element.attrib[name] = _clean_declarations(value, inline)
        elif key == "href" and tag in ("a", "area"):
            if not _is_link(value):
                del element.attrib[name]
        elif key == "src" and tag == "img":
            continue  # decided by _image
        elif key in _URL_ATTRIBUTES or key.endswith(":href"):
            resolved = _own_url(value, inline)
            if resolved is None:
                del element.attrib[name]
            else:
                element.attrib[name] = resolved


def _is_link(value: str) -> bool:
    value = value.strip()
    if value.startswith("#"):
        return True
    scheme = value.split(":", 1)[0].strip().lower() if ":" in value else ""
    return scheme in _LINK_SCHEMES


def _own_url(value: str, inline: _Inliner) -> str | None:
    """A URL that stays inside the file: a data: URI as it is, a cid: as the part's data: URI; else None."""
    value = value.strip()
    lower = value.lower()
    if lower.startswith("data:"):
        return value
    if lower.startswith("cid:"):
        part = inline.part(value[4:])
        if part is not None:
            return inline.data_uri(_content(part), part.get_content_type())
    return None


def _image(element: etree._Element, inline: _Inliner) -> None:
    src = (element.get("src") or "").strip()
    lower = src.lower()
    if lower.startswith("data:"):
        return
    if lower.startswith("cid:"):
        part = inline.part(src[4:])
        if part is None:
            _replace(element, _not_shown(f"[innebygd bilde mangler i meldingen: {src[4:]}]"))
            return
        content = _content(part)
        size = _pixel_size(content)
        if size is None:
            _replace(element, _not_shown(f"[innebygd bilde kan ikke leses: {part.get_filename() or src[4:]}]"))
            return
        if is_tracking_pixel(*size):
            inline.absorbed.append(content)
            element.drop_tree()
            return
        uri = inline.data_uri(content, part.get_content_type())
        if uri is None:
            _replace(element, _not_shown(f"[innebygd bilde ikke gjengitt, for mye bildedata: se vedlegget "
                                         f"{part.get_filename() or src[4:]}]"))
            return
        if is_tiny_image(*size):
            inline.absorbed.append(content)
        element.set("src", uri)
        return
    if _declared_tracking_pixel(element):
        element.drop_tree()
        return
    alt = (element.get("alt") or "").strip()
    label = f"[eksternt bilde ikke hentet: {_where(src)}]" + (f" {alt}" if alt else "")
    _replace(element, _not_shown(_printable(label)))


def _where(src: str) -> str:
    """Where a remote image would have come from, as the placeholder names it: the host, else the kind of address."""
    if not src:
        return "uten adresse"
    try:
        host = urlsplit(src).hostname
    except ValueError:
        host = None
    if host:
        return host
    scheme = src.split(":", 1)[0] if ":" in src.split("/", 1)[0] else ""
    return f"{scheme}:" if scheme else "relativ adresse"


def _declared_tracking_pixel(element: etree._Element) -> bool:
    def pixels(name: str) -> int | None:
        match = re.match(r"^\s*(\d+)\s*(px)?\s*$", element.get(name) or "")
        return int(match.group(1)) if match else None

    width, height = pixels("width"), pixels("height")
    return width is not None and height is not None and is_tracking_pixel(width, height)


def _pixel_size(content: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def _content(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _data_uri(content: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def _not_shown(text: str) -> etree._Element:
    span = html.Element("span", {"class": "noarkpipe-not-shown"})
    span.text = text
    return span


def _replace(element: etree._Element, replacement: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    replacement.tail = element.tail
    parent.replace(element, replacement)


def _clean_stylesheet(css: str, inline: _Inliner) -> str:
    """A <style> sheet without @import, @font-face and URLs outside the message."""
    rules = tinycss2.parse_stylesheet(css, skip_comments=True)
    return _safe_for_style_element(tinycss2.serialize(_clean_rules(rules, inline)))


def _clean_rules(rules: list, inline: _Inliner) -> list:
    kept = []
    for rule in rules:
        if rule.type == "at-rule":
            if rule.lower_at_keyword in _DROPPED_AT_RULES:
                continue
            rule.prelude = _clean_tokens(rule.prelude, inline)
            if rule.content is not None and rule.lower_at_keyword not in _RULE_LIST_AT_RULES:
                rule.content = _clean_tokens(rule.content, inline)
            elif rule.content is not None:
                nested = tinycss2.parse_stylesheet(tinycss2.serialize(rule.content), skip_comments=True)
                rule.content = tinycss2.parse_component_value_list(tinycss2.serialize(_clean_rules(nested, inline)))
        elif rule.type == "qualified-rule":
            rule.prelude = _clean_tokens(rule.prelude, inline)
            rule.content = _clean_tokens(rule.content, inline)
        elif rule.type == "error":
            continue
        kept.append(rule)
    return kept


def _clean_declarations(css: str, inline: _Inliner) -> str:
    tokens = tinycss2.parse_component_value_list(css, skip_comments=True)
    return tinycss2.serialize(_clean_tokens(tokens, inline))


def _clean_tokens(tokens: list, inline: _Inliner) -> list:
    """Tokens with every URL not in the message replaced by `none` (CSS escapes are resolved by the tokenizer)."""
    cleaned = []
    for token in tokens:
        if token.type == "url":
            cleaned.append(_url_token(token.value, token, inline))
        elif token.type == "function" and token.lower_name in _URL_FUNCTIONS:
            target = next((t for t in token.arguments if t.type in ("string", "url")), None)
            if token.lower_name in ("url", "src") and target is not None:
                cleaned.append(_url_token(target.value, token, inline))
            else:
                cleaned.append(tinycss2.ast.IdentToken(token.source_line, token.source_column, "none"))
        elif token.type == "at-keyword" and token.lower_value in _DROPPED_AT_RULES:
            cleaned.append(tinycss2.ast.IdentToken(token.source_line, token.source_column, "none"))
        elif hasattr(token, "content") and isinstance(token.content, list):  # () [] {} blocks
            token.content = _clean_tokens(token.content, inline)
            cleaned.append(token)
        elif hasattr(token, "arguments") and isinstance(token.arguments, list):
            token.arguments = _clean_tokens(token.arguments, inline)
            cleaned.append(token)
        else:
            cleaned.append(token)
    return cleaned


def _url_token(value: str, token: tinycss2.ast.Node, inline: _Inliner) -> tinycss2.ast.Node:
    own = _own_url(value, inline)
    if own is None:
        return tinycss2.ast.IdentToken(token.source_line, token.source_column, "none")
    return tinycss2.ast.URLToken(token.source_line, token.source_column, own, f"url({own})")


def _safe_for_style_element(css: str) -> str:
    # "</style>" inside a CSS string would end the element; in CSS, \3C is the same '<'.
    return css.replace("<", "\\3C ")


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")
