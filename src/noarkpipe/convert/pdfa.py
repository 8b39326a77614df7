"""Archival copies: every journaled document gets one at intake, in a format depots accept.

The original is kept as received (Produksjonsformat); this module makes the
Arkivformat variant and says how. What happens depends only on the format
identified from the document's bytes (`plan`):

- PDF: normalised to PDF/A (2b unless configured). When every page has
  text there is nothing to OCR, and pikepdf makes the PDF/A (output intent,
  XMP, repairs) and approves it with its own validator; otherwise, or when
  pikepdf cannot approve it, OCRmyPDF does, adding an OCR text layer to the
  pages that have no text and leaving other pages' text as it is. A PDF
  OCRmyPDF cannot make into approved PDF/A, usually because fonts are not
  embedded, is first rewritten by Ghostscript with every font embedded,
  then goes through OCRmyPDF again.
- Images (JPEG, PNG, TIFF in every variant, GIF, BMP, WebP, HEIC/HEIF,
  JPEG 2000): each frame a page, decoded and made fit for PDF/A by
  `images.page_images` (transparency on white, CMYK to RGB), embedded
  losslessly in a PDF (img2pdf), then as PDF, so they get OCR text. The
  konvertering record says what was done ('GIF, 3 frames → 3 pages').
- PDF/A that passes verification as it is and has text on every page:
  kept (OCR mode 'skip' only; 'redo' converts it again to replace its OCR).
- The e-mail's main document (our `e-post.txt`): typeset on A4 pages in
  DejaVu Sans, header block in bold, then as PDF.
- The HTML e-mail's main document (our `e-post.html`): rendered as it looked
  by WeasyPrint, which writes the PDF/A itself, with no network (`html.py`).
- Any other HTML or XHTML document (an attachment of an e-mail or an
  e-form, also written as XML) and SVG: cleaned like the e-mail (no
  scripts, frames or remote references), then rendered like it. HTML is an accepted format, but a copy
  with scripts and remote references is not inert, so it is never kept.
- A forwarded e-mail kept whole as an attachment (message/rfc822): the main
  document the e-mail intake laid out of it (header block, text, list of its
  attachments; `SubmissionDocument.rendered`) typeset like the e-mail's, or
  rendered like it when it is HTML. One that comes without it (not taken in
  through the inbox) is refused: the e-mail is read by the intake, never here.
- Text in a format depots do not accept (a calendar invitation, a vCard):
  typeset like the e-mail, so its text is readable as a page.
- Office documents (docx, doc, odt, rtf, xlsx, xls, ods): exported by
  LibreOffice as PDF/A, then as PDF, so scanned pages pasted into them get
  OCR text too.
- Plain text in UTF-8 (or ASCII), XML and other formats depots accept as
  they are: kept, no conversion. Plain text in another character set is
  re-encoded as UTF-8.
- Anything else: `InputFileError` saying why.

This module chooses the route and runs it; the steps have modules of their
own: a PDF made into PDF/A (`normalise.py`, where every route that ends in
PDF ends, Ghostscript embedding fonts OCRmyPDF would refuse), images as
pages (`images.py`), typesetting text (`typeset.py`), rendering HTML
(`html.py`), and what the steps share (`steps.py`). Every PDF/A is verified (`verify.verify_pdfa`) and identified
again before it is returned; a copy failing a check raises `ConversionError` and is
deleted. All steps of one document share one deadline (`timeout_s`); the
external programs are stopped when it passes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import img2pdf
import pikepdf
from lxml import etree

from noarkpipe import __version__ as noarkpipe_version
from noarkpipe._exec import libreoffice
from noarkpipe.clock import utcnow
from noarkpipe.convert.images import IMAGE_MIMES, page_images
from noarkpipe.convert.job import ConversionResult, is_email_body
from noarkpipe.convert.normalise import pdf_to_pdfa, pdfa_to_keep, verified_copy
from noarkpipe.convert.options import ConversionOptions
from noarkpipe.convert.steps import Deadline, ToolVersion
from noarkpipe.convert.typeset import typeset_pdfa
from noarkpipe.core.charsets import decode_text
from noarkpipe.core.email_document import HTML_MAIN_FILENAME
from noarkpipe.core.submission import SubmissionDocument
from noarkpipe.errors import ConversionError, InputFileError
from noarkpipe.files.identify import PLAIN_TEXT_PUID, FormatId, identify
from noarkpipe.files.verify import VerificationReport
from noarkpipe.store.docstore import sha256_file

_UTF8_CHARSETS = frozenset({"utf-8", "us-ascii"})
_CONTAINER_PUIDS = frozenset({"x-fmt/263", "x-fmt/265"})
"""ZIP and TAR: accepted by depots as packaging, but a journaled document must be one document."""
_OFFICE_TEXT = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/rtf": ".rtf",
    "text/rtf": ".rtf",
}
_OFFICE_SPREADSHEET = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
}
_MARKUP_MIMES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml"})
"""Rendered, never kept: scripts, frames and remote references would stay live in the copy."""
_XML_MIMES = frozenset({"application/xml", "text/xml"})
SVG_ROOT = "{http://www.w3.org/2000/svg}svg"
MARKUP_ROOTS = frozenset({"{http://www.w3.org/1999/xhtml}html", SVG_ROOT})
"""XHTML and SVG written as XML with a declaration, which identification calls plain XML (fmt/101)."""


class Route(StrEnum):
    keep = "keep"
    reencode_text = "reencode_text"
    pdf = "pdf"
    image = "image"
    email = "email"
    email_html = "email_html"
    html_document = "html_document"
    message = "message"
    text_document = "text_document"
    office_text = "office_text"
    office_spreadsheet = "office_spreadsheet"
    reject = "reject"


@dataclass(frozen=True)
class Plan:
    route: Route
    reason: str


def plan(fmt: FormatId, *, email_body: bool, xml_root: str | None = None) -> Plan:
    """What to do with a document in format `fmt`; `xml_root` is an XML document's root element, '{ns}name'."""
    mime = fmt.mime.split(";")[0].strip().lower()
    label = f"{fmt.name} ({fmt.puid})" if fmt.puid else fmt.name
    if mime == "application/pdf":
        return Plan(Route.pdf, f"{label} is normalised to PDF/A with OCR text where pages have none")
    if email_body and mime == "text/html":
        return Plan(Route.email_html, "the HTML e-mail is rendered as it looked, as PDF/A, by WeasyPrint")
    if mime in _MARKUP_MIMES or (mime in _XML_MIMES and xml_root in MARKUP_ROOTS):
        return Plan(
            Route.html_document,
            f"{label} is cleaned (no scripts, nothing fetched) and rendered as PDF/A by WeasyPrint",
        )
    if email_body and fmt.puid == PLAIN_TEXT_PUID:
        return Plan(Route.email, "the e-mail's text is typeset as a PDF/A document")
    if mime == "message/rfc822":
        return Plan(Route.message, "the forwarded e-mail is typeset as a PDF/A document with its header block")
    if mime in IMAGE_MIMES:
        return Plan(Route.image, f"{label} is embedded in PDF/A with OCR text")
    if mime in _OFFICE_TEXT:
        return Plan(Route.office_text, f"{label} is exported to PDF/A by LibreOffice")
    if mime in _OFFICE_SPREADSHEET:
        return Plan(Route.office_spreadsheet, f"{label} is exported to PDF/A by LibreOffice")
    if mime == "application/encrypted":
        return Plan(Route.reject, "the document is protected by a password, so its content cannot be read")
    if fmt.puid in _CONTAINER_PUIDS:
        return Plan(
            Route.reject,
            f"{label} is a container of other files, not a document; "
            "unpack it so that each file is journaled and converted on its own",
        )
    if fmt.puid == PLAIN_TEXT_PUID:
        if _charset(fmt.mime) in _UTF8_CHARSETS:
            return Plan(Route.keep, "plain text in UTF-8 is an archival format as it is")
        charset = _charset(fmt.mime) or "an unknown character set"
        return Plan(Route.reencode_text, f"plain text in {charset} is re-encoded as UTF-8")
    if mime.startswith("text/") and not fmt.accepted:
        return Plan(Route.text_document, f"{label} is text depots do not accept as it is; it is typeset as PDF/A")
    if fmt.accepted:
        return Plan(Route.keep, f"{label} is an accepted archival format as it is")
    return Plan(Route.reject, f"{label} is not an accepted archival format, and noarkpipe cannot convert it")


def xml_root(path: Path) -> str | None:
    """The root element of an XML file as '{namespace}name', read without DTDs, entities or network; None if none."""
    try:
        for _event, element in etree.iterparse(
            str(path), events=("start",), resolve_entities=False, no_network=True, load_dtd=False
        ):
            return element.tag if isinstance(element.tag, str) else None
    except (etree.XMLSyntaxError, OSError, ValueError):
        return None
    return None


def _is_xml(fmt: FormatId) -> bool:
    return fmt.mime.split(";")[0].strip().lower() in _XML_MIMES


def archival_copy(
    document: SubmissionDocument | Path,
    *,
    scratch: Path,
    options: ConversionOptions | None = None,
    filename: str | None = None,
    email_body: bool | None = None,
    rendered: Path | None = None,
) -> ConversionResult:
    """The archival copy of one document: made under `scratch`, verified, or kept as it is.

    `document` is a received document, or a file with `filename` as its
    name (default: the file's own). The e-mail's main document is typeset;
    for a `SubmissionDocument` that is decided from its role and name, for a
    path the caller says so with `email_body`. A forwarded e-mail's copy is
    made from the main document intake laid out of it: the document's
    `rendered`, or for a path the file `rendered` (named e-post.txt or
    e-post.html). `scratch` may be shared by
    the documents one worker converts in turn: LibreOffice's profile is
    kept there per process and thread, everything else is removed.
    """
    options = options or ConversionOptions()
    started = utcnow()
    deadline = Deadline(options.timeout_s)
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="convert-", dir=scratch))
    output = scratch / f"{work.name}.pdf"
    if isinstance(document, SubmissionDocument):
        name = filename or document.filename
        is_email = is_email_body(document.role, document.filename)
    else:
        name = filename or document.name
        is_email = False
    if email_body is not None:
        is_email = email_body
    try:
        if isinstance(document, SubmissionDocument):
            source = work / "received"
            source.write_bytes(document.content)
            if document.rendered is not None:
                (work / "rendered").mkdir()
                rendered = work / "rendered" / document.rendered.filename
                rendered.write_bytes(document.rendered.content)
        else:
            source = document
        if source.stat().st_size == 0:
            raise InputFileError(f"{name} is empty (0 bytes)", hint="ask the sender to send the document again")
        source_sha256, _ = sha256_file(source)
        from_format = identify(source)
        decision = plan(from_format, email_body=is_email, xml_root=xml_root(source) if _is_xml(from_format) else None)
        if decision.route is Route.reject:
            raise InputFileError(f"no archival copy of {name}: {decision.reason}", hint=_reject_hint(from_format))
        kept_pdfa = pdfa_to_keep(source, from_format, options) if decision.route is Route.pdf else None
        if decision.route is Route.keep or kept_pdfa is not None:
            return ConversionResult(
                source_name=name, action="kept",
                reason=decision.reason if kept_pdfa is None else "PDF/A that passes verification is kept as it is",
                output=None, from_format=from_format, to_format=from_format, source_sha256=source_sha256,
                output_sha256=None, tools=(), started=started, finished=utcnow(), verification=kept_pdfa,
            )
        if decision.route is Route.reencode_text:
            output = output.with_suffix(".txt")
            tools, report, warnings = _reencode(source, from_format, output), None, ()
        elif decision.route is Route.image:
            tools, report, warnings, done = _image_to_pdfa(source, name, output, work, options, deadline)
            decision = Plan(decision.route, f"{decision.reason}: {done}")
        else:
            tools, report, warnings = _to_pdfa(
                decision.route, source, from_format, output, work, options, deadline, name=name, rendered=rendered
            )
        to_format = identify(output)
        if not to_format.accepted:
            raise ConversionError(
                f"the archival copy of {name} is identified as {to_format.name} ({to_format.puid}), "
                "which depots do not accept",
                report=report,
            )
        output_sha256, _ = sha256_file(output)
        return ConversionResult(
            source_name=name, action="converted", reason=decision.reason, output=output,
            from_format=from_format, to_format=to_format, source_sha256=source_sha256, output_sha256=output_sha256,
            tools=tools, started=started, finished=utcnow(), verification=report, warnings=warnings,
        )
    except InputFileError as exc:
        output.unlink(missing_ok=True)
        if deadline.expired():
            raise InputFileError(
                f"the archival copy of {name} was not finished within {options.timeout_s:g} seconds: {exc.message}",
                hint="raise [convert] timeout_s for very long documents, or check the file in a viewer",
            ) from exc
        raise
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _to_pdfa(
    route: Route, source: Path, fmt: FormatId, output: Path, work: Path, options: ConversionOptions, deadline: Deadline,
    *, name: str, rendered: Path | None,
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...]]:
    if route is Route.pdf:
        return pdf_to_pdfa(source, output, work, options, deadline, expected_pages=None, first_tools=())
    if route in (Route.email, Route.text_document):
        return typeset_pdfa(decode_text(source.read_bytes(), _charset(fmt.mime)), output, work, options, deadline, ())
    if route is Route.email_html:
        return _render_html(source.read_text(encoding="utf-8", errors="replace"), output, options, deadline, ())
    if route is Route.html_document:
        from noarkpipe.convert import html  # WeasyPrint is slow to import; see _render_html

        cleaner = ToolVersion(name="noarkpipe HTML cleaner", version=noarkpipe_version)
        svg = fmt.mime.split(";")[0].strip().lower() == html.SVG_MEDIA_TYPE or (
            _is_xml(fmt) and xml_root(source) == SVG_ROOT
        )
        clean = html.clean_document(source.read_bytes(), fmt.mime, title=name, svg=svg)
        return _render_html(
            clean.markup, output, options, deadline, (cleaner,), what=f"the document {name}", drawn_text=clean.drawn_text
        )
    if route is Route.message:
        if rendered is None:
            raise InputFileError(
                f"no archival copy of {name}: the forwarded e-mail came without the main document "
                "the e-mail intake lays out of it",
                hint="take the e-mail in through the inbox, so that the e-mail intake reads it",
            )
        # The intake read the message; the record names its reader first, as when conversion read it.
        reader = ToolVersion(name="noarkpipe e-mail reader", version=noarkpipe_version)
        main = rendered.read_bytes().decode("utf-8")
        if rendered.name == HTML_MAIN_FILENAME:
            return _render_html(main, output, options, deadline, (reader,))
        return typeset_pdfa(main, output, work, options, deadline, (reader,))
    program, version = libreoffice.require()
    family: libreoffice.Family = "text" if route is Route.office_text else "spreadsheet"
    mime = fmt.mime.split(";")[0].strip().lower()
    # LibreOffice picks its import filter partly by extension; this one matches the bytes.
    named = work / f"document{(_OFFICE_TEXT | _OFFICE_SPREADSHEET)[mime]}"
    shutil.copyfile(source, named)
    pdf = libreoffice.to_pdf(
        program, named, work / "libreoffice", family=family, pdfa_part=options.pdfa_part,
        profile=_libreoffice_profile(output.parent), timeout=deadline.left(), sandbox_mode=options.sandbox,
    )
    tool = ToolVersion(name="LibreOffice", version=".".join(map(str, version)))
    return pdf_to_pdfa(pdf, output, work, options, deadline, expected_pages=None, first_tools=(tool,))


def _render_html(
    markup: str, output: Path, options: ConversionOptions, deadline: Deadline, first_tools: tuple[ToolVersion, ...],
    *, what: str = "the e-mail", drawn_text: str = "",
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...]]:
    # Imported here: WeasyPrint takes a second to import, which every CLI command would pay otherwise;
    # the conversion workers have it already (convert/preload.py).
    from noarkpipe.convert import html

    deadline.left()
    rendered = html.render_pdfa(markup, output, profile=options.pdfa_profile, max_pages=options.max_pages, what=what)
    deadline.left()
    tools = (*first_tools, ToolVersion(name=html.TOOL_NAME, version=html.TOOL_VERSION),
             ToolVersion(name="pikepdf", version=pikepdf.__version__))
    texts = [f"{drawn_text} {rendered.page_texts[0]}", *rendered.page_texts[1:]] if drawn_text else rendered.page_texts
    report = verified_copy(output, rendered.pages, options, texts)
    warnings = (f"{len(rendered.refused)} reference(s) to content outside {what} were not fetched",) \
        if rendered.refused else ()
    return tools, report, warnings


def _image_to_pdfa(
    source: Path, name: str, output: Path, work: Path, options: ConversionOptions, deadline: Deadline
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...], str]:
    """An image file's frames as PDF/A pages, and the line that says what was done to them."""
    frames = work / "frames"
    frames.mkdir()
    prepared = page_images(source, frames, name=name, max_pages=options.max_pages, before_frame=deadline.left)
    pdf = work / "image.pdf"
    try:
        pdf.write_bytes(img2pdf.convert([str(file) for file in prepared.files], layout_fun=prepared.layout))
    except (img2pdf.ImageOpenError, img2pdf.PdfTooLargeError, img2pdf.AlphaChannelError, ValueError, OSError) as exc:
        raise InputFileError(
            f"the image {name} cannot be put in a PDF: {exc}", hint="open it in an image viewer"
        ) from exc
    tool = ToolVersion(name="img2pdf", version=img2pdf.__version__)
    tools, report, warnings = pdf_to_pdfa(
        pdf, output, work, options, deadline, expected_pages=prepared.pages, first_tools=(tool,)
    )
    return tools, report, warnings, prepared.description


def _reencode(source: Path, fmt: FormatId, output: Path) -> tuple[ToolVersion, ...]:
    output.write_text(decode_text(source.read_bytes(), _charset(fmt.mime)), encoding="utf-8")
    return (ToolVersion(name="noarkpipe", version=noarkpipe_version),)


def _charset(mime: str) -> str | None:
    for parameter in mime.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip().lower()
    return None


def _reject_hint(fmt: FormatId) -> str:
    if fmt.mime == "application/encrypted":
        return "ask the sender for a copy without password"
    if fmt.puid in _CONTAINER_PUIDS:
        return "unpack the files and take them in one by one, or ask the sender to send them separately"
    return "ask the sender for the document as PDF, or in another format listed in archive-file-formats.json"


def _libreoffice_profile(scratch: Path) -> Path:
    # One profile per worker: two LibreOffice processes must never share one.
    return scratch / f"libreoffice-profile-{os.getpid()}-{threading.get_ident()}"


