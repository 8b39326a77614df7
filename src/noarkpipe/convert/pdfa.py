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
- A forwarded e-mail kept whole as an attachment (message/rfc822): read by
  the e-mail intake, then typeset like the main document (header block,
  text, list of its attachments), or rendered like it when it is HTML.
- Text in a format depots do not accept (a calendar invitation, a vCard):
  typeset like the e-mail, so its text is readable as a page.
- Office documents (docx, doc, odt, rtf, xlsx, xls, ods): exported by
  LibreOffice as PDF/A, then as PDF, so scanned pages pasted into them get
  OCR text too.
- Plain text in UTF-8 (or ASCII), XML and other formats depots accept as
  they are: kept, no conversion. Plain text in another character set is
  re-encoded as UTF-8.
- Anything else: `InputFileError` saying why.

A PDF that names fonts without embedding them goes to Ghostscript first
(which embeds metric-compatible replacements), since OCRmyPDF would only
refuse it. Every PDF/A is verified (`verify.verify_pdfa`) and identified
again before it is returned; a copy failing a check raises `ConversionError` and is
deleted. All steps of one document share one deadline (`timeout_s`); the
external programs are stopped when it passes.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import fpdf
import img2pdf
import pikepdf
import pikepdf.pdfa
from fontTools.ttLib import TTFont
from fpdf.fonts import SubsetMap, TTFFont
from lxml import etree
from pydantic import BaseModel, ConfigDict
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from noarkpipe import __version__ as noarkpipe_version
from noarkpipe._exec import ghostscript, libreoffice, ocrmypdf
from noarkpipe.clock import utcnow
from noarkpipe.store.docstore import sha256_file
from noarkpipe.errors import InputFileError, MissingDependencyError
from noarkpipe.core.context import IntakeContext
from noarkpipe.intake.email import MAIN_FILENAME, decode_text, parse_eml
from noarkpipe.intake.email_html import HTML_MAIN_FILENAME
from noarkpipe.intake.scan import looks_truncated_pdf
from noarkpipe.core.submission import DocumentRole, SubmissionDocument
from noarkpipe.files.identify import PLAIN_TEXT_PUID, FormatId, identify
from noarkpipe.convert.images import IMAGE_MIMES, page_images
from noarkpipe.convert.options import ConversionOptions, PdfaProfile
from noarkpipe.files.verify import (
    ConversionError,
    VerificationReport,
    page_texts,
    pdfa_claim_of,
    unembedded_fonts,
    verify_pdfa,
)

FONT_PACKAGE = "fonts-dejavu-core"
_FONT_FAMILY = "DejaVu"
_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
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
_PDFA_PUIDS = frozenset({"fmt/95", "fmt/354", "fmt/476", "fmt/477", "fmt/478", "fmt/479", "fmt/480", "fmt/481"})
"""PDF/A-1, -2 and -3 at every conformance level, as PRONOM tells them apart."""
# fontTools warns about the 'modified' date in the head table of every DejaVu
# subset fpdf2 writes; it says nothing about the document, and would fill the run log.
logging.getLogger("fontTools.ttLib.tables._h_e_a_d").setLevel(logging.ERROR)

_OCR_SKIPPED = re.compile(r"^\s*\[OCR skipped on page\(s\) (\d+)(?:-(\d+))?\]\s*$")
_EMAIL_HEADER = re.compile(r"^(Fra|Til|Kopi|Dato|Emne):\s*(.*)$")


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


class ToolVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str


class ConversionResult(BaseModel):
    """What became of one document: the konvertering record, and the file if one was made."""

    model_config = ConfigDict(frozen=True)

    source_name: str
    action: Literal["kept", "converted"]
    reason: str
    output: Path | None
    """The archival copy under the scratch folder, for the caller to move; None when the original is kept."""
    from_format: FormatId
    to_format: FormatId
    source_sha256: str
    output_sha256: str | None
    tools: tuple[ToolVersion, ...]
    started: datetime
    finished: datetime
    verification: VerificationReport | None
    warnings: tuple[str, ...] = ()

    @property
    def tool(self) -> str:
        """The konverteringsverktøy: the programs that made the copy, in order."""
        return " + ".join(tool.name for tool in self.tools)

    @property
    def tool_version(self) -> str:
        return ", ".join(f"{tool.name} {tool.version}" for tool in self.tools)


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


def is_email_body(role: DocumentRole, filename: str) -> bool:
    """True for the e-mail's main document as intake writes it (text or HTML), the one document that is typeset."""
    return role is DocumentRole.main and filename in (MAIN_FILENAME, HTML_MAIN_FILENAME)


def archival_copy(
    document: SubmissionDocument | Path,
    *,
    scratch: Path,
    options: ConversionOptions | None = None,
    filename: str | None = None,
    email_body: bool | None = None,
) -> ConversionResult:
    """The archival copy of one document: made under `scratch`, verified, or kept as it is.

    `document` is a received document, or a file with `filename` as its
    name (default: the file's own). The e-mail's main document is typeset;
    for a `SubmissionDocument` that is decided from its role and name, for a
    path the caller says so with `email_body`. `scratch` may be shared by
    the documents one worker converts in turn: LibreOffice's profile is
    kept there per process and thread, everything else is removed.
    """
    options = options or ConversionOptions()
    started = utcnow()
    deadline = _Deadline(options.timeout_s)
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
        else:
            source = document
        if source.stat().st_size == 0:
            raise InputFileError(f"{name} is empty (0 bytes)", hint="ask the sender to send the document again")
        source_sha256, _ = sha256_file(source)
        from_format = identify(source)
        decision = plan(from_format, email_body=is_email, xml_root=xml_root(source) if _is_xml(from_format) else None)
        if decision.route is Route.reject:
            raise InputFileError(f"no archival copy of {name}: {decision.reason}", hint=_reject_hint(from_format))
        kept_pdfa = _verified_pdfa(source, from_format, options) if decision.route is Route.pdf else None
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
                decision.route, source, from_format, output, work, options, deadline, name=name
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
    route: Route, source: Path, fmt: FormatId, output: Path, work: Path, options: ConversionOptions, deadline: _Deadline,
    *, name: str,
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...]]:
    if route is Route.pdf:
        return _pdf_to_pdfa(source, output, work, options, deadline, expected_pages=None, first_tools=())
    if route in (Route.email, Route.text_document):
        return _typeset(decode_text(source.read_bytes(), _charset(fmt.mime)), output, work, options, deadline, ())
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
        reader = ToolVersion(name="noarkpipe e-mail reader", version=noarkpipe_version)
        main = _forwarded_main(source, work)
        if main is not None and main.filename == HTML_MAIN_FILENAME:
            return _render_html(main.content.decode("utf-8"), output, options, deadline, (reader,))
        text = main.content.decode("utf-8") if main is not None else ""
        return _typeset(text, output, work, options, deadline, (reader,))
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
    return _pdf_to_pdfa(pdf, output, work, options, deadline, expected_pages=None, first_tools=(tool,))


def _typeset(
    text: str, output: Path, work: Path, options: ConversionOptions, deadline: _Deadline,
    first_tools: tuple[ToolVersion, ...],
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...]]:
    pdf = render_email(text, work / "typeset.pdf")
    tools = (*first_tools, ToolVersion(name="fpdf2", version=fpdf.__version__))
    tools, report, warnings = _pdf_to_pdfa(pdf, output, work, options, deadline, expected_pages=None, first_tools=tools)
    if missing := glyphs_missing(text):
        warnings = (f"left out of the PDF, as DejaVu Sans has no glyph for them: {missing}", *warnings)
    return tools, report, warnings


def _render_html(
    markup: str, output: Path, options: ConversionOptions, deadline: _Deadline, first_tools: tuple[ToolVersion, ...],
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
    report = _verified(output, rendered.pages, options, texts)
    warnings = (f"{len(rendered.refused)} reference(s) to content outside {what} were not fetched",) \
        if rendered.refused else ()
    return tools, report, warnings


def _forwarded_main(source: Path, work: Path) -> SubmissionDocument | None:
    """A forwarded message laid out by the e-mail intake, as its main document: header block, text, attachments."""
    scratch = work / "e-mail"
    scratch.mkdir()
    context = IntakeContext(origin_name=source.name, received=utcnow(), scratch=scratch)
    return parse_eml(source, context)[0].main_document


def _verified_pdfa(source: Path, fmt: FormatId, options: ConversionOptions) -> VerificationReport | None:
    """The passing verification of a PDF/A fit to be kept as it is, or None if it must be converted.

    Fit means: identified as PDF/A, passes every check for the part it
    claims, and has text on every page (a page without text needs OCR).
    In OCR mode 'redo' every PDF is converted again.
    """
    if fmt.puid not in _PDFA_PUIDS or options.ocr_mode != "skip":
        return None
    part, _ = pdfa_claim_of(source)
    if part not in ("1", "2", "3"):
        return None
    texts = _read_pdf(source, options)
    if not all(_has_letters(text) for text in texts):
        return None
    report = verify_pdfa(source, expected_pages=len(texts), profile=f"{part}b", expected_text=texts)
    rules = next(check for check in report.checks if check.id == "pdfa_rules")
    return report if report.passed and rules.outcome == "passed" else None


def _has_letters(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _pdf_to_pdfa(
    source: Path,
    output: Path,
    work: Path,
    options: ConversionOptions,
    deadline: _Deadline,
    *,
    expected_pages: int | None,
    first_tools: tuple[ToolVersion, ...],
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...]]:
    source_texts = _read_pdf(source, options)
    pages = len(source_texts)
    prepared = work / "prepared.pdf"
    _strip_viewer_extras(source, prepared)
    sidecar = work / "ocr.txt"
    tools = list(first_tools)
    warnings: list[str] = []
    # OCRmyPDF refuses a PDF whose fonts are not embedded; asking it first would only cost a refusal.
    missing_fonts = unembedded_fonts(prepared)
    if missing_fonts:
        because = "not embedded: " + ", ".join(missing_fonts)
        prepared = _embed_fonts(prepared, work, deadline, tools, warnings, because=because, options=options)
    if options.ocr_mode == "skip" and all(_has_letters(text) for text in source_texts):
        # Every page has text, so OCRmyPDF would OCR none: only the PDF/A remains to be made.
        written, refusal = _pikepdf_pdfa(prepared, output, options.pdfa_profile)
        if written is not None:
            tools.append(ToolVersion(name="pikepdf", version=pikepdf.__version__))
            report = _verified(output, expected_pages or pages, options, source_texts, written_by_pikepdf=written)
            return tuple(tools), report, tuple(warnings)
        warnings.append(f"pikepdf could not make it PDF/A ({refusal}), so OCRmyPDF did")
    if missing_fonts:
        outcome = _ocrmypdf_after_embedding(prepared, output, sidecar, options, deadline)
    else:
        try:
            outcome = _ocrmypdf(prepared, output, sidecar, options, deadline)
        except ocrmypdf.PdfaNotApprovedError as refusal:
            embedded = _embed_fonts(
                prepared, work, deadline, tools, warnings, because=_findings(refusal.message), options=options
            )
            outcome = _ocrmypdf_after_embedding(embedded, output, sidecar, options, deadline)
    tools.append(ToolVersion(name="OCRmyPDF", version=outcome.version))
    warnings.extend(outcome.warnings)
    recognised = sidecar.read_text(encoding="utf-8", errors="replace") if sidecar.is_file() else ""
    ocr_texts = sidecar_pages(recognised, pages)
    if ocr_texts is None:
        warnings.append("the OCR text could not be matched to pages, so it was not compared with the copy")
    report = _verified(output, expected_pages or pages, options, expected_text(source_texts, ocr_texts))
    return tuple(tools), report, tuple(warnings)


def _verified(
    output: Path, pages: int, options: ConversionOptions, texts: list[str],
    written_by_pikepdf: pikepdf.pdfa.Report | None = None,
) -> VerificationReport:
    report = verify_pdfa(
        output, expected_pages=pages, profile=options.pdfa_profile, expected_text=texts,
        written_by_pikepdf=written_by_pikepdf,
    )
    if not report.passed:
        failed = "; ".join(f"{check.id}: {check.detail}" for check in report.failures)
        raise ConversionError(f"the PDF/A copy fails verification ({failed})", report=report)
    return report


def _pikepdf_pdfa(source: Path, output: Path, profile: PdfaProfile) -> tuple[pikepdf.pdfa.Report | None, str | None]:
    """Make `source` PDF/A with pikepdf alone (output intent, XMP, repairs): its validator's report, or why not.

    pikepdf writes the file only once its own validator approves the bytes
    written ('pass', never 'not checked'); what OCRmyPDF's internal PDF/A
    backend does, without the process and the page analysis OCR needs.
    """
    try:
        with pikepdf.open(source) as pdf:
            return pikepdf.pdfa.save(pdf, output, profile), None
    except pikepdf.pdfa.PdfaError as refusal:
        output.unlink(missing_ok=True)
        return None, _findings(str(refusal))
    except pikepdf.PdfError as exc:
        output.unlink(missing_ok=True)
        return None, str(exc)


def _embed_fonts(
    source: Path, work: Path, deadline: _Deadline, tools: list[ToolVersion], warnings: list[str], *, because: str,
    options: ConversionOptions,
) -> Path:
    program, version = ghostscript.require()
    embedded = work / "fonts-embedded.pdf"
    ghostscript.embed_fonts(program, source, embedded, timeout=deadline.left(), sandbox_mode=options.sandbox)
    tools.append(ToolVersion(name="Ghostscript", version=".".join(map(str, version))))
    warnings.append(f"rewritten by Ghostscript to embed fonts before PDF/A conversion, because: {because}")
    return embedded


def _ocrmypdf_after_embedding(
    source: Path, output: Path, sidecar: Path, options: ConversionOptions, deadline: _Deadline
) -> ocrmypdf.Outcome:
    try:
        return _ocrmypdf(source, output, sidecar, options, deadline)
    except ocrmypdf.PdfaNotApprovedError as refusal:
        raise ConversionError(
            f"no approved PDF/A could be made, even with the fonts embedded: {refusal.message}",
            hint="open the PDF in a viewer; print it to a new PDF if it looks right",
        ) from refusal


def sidecar_pages(sidecar: str, pages: int) -> list[str | None] | None:
    """OCRmyPDF's text file split per page: the recognised text, or None for a page OCR skipped.

    Pages are separated by form feeds, and a run of skipped pages is one
    '[OCR skipped on page(s) 3-5]' entry. None if the file does not add up
    to `pages` pages.
    """
    result: list[str | None] = []
    for entry in sidecar.split("\f"):
        skipped = _OCR_SKIPPED.match(entry)
        if skipped:
            first = int(skipped.group(1))
            last = int(skipped.group(2) or first)
            result.extend([None] * (last - first + 1))
        else:
            result.append(entry)
    return result if len(result) == pages else None


def expected_text(source_texts: list[str], ocr_texts: list[str | None] | None) -> list[str]:
    """Per page, the text the copy must hold: what OCR recognised if the page was OCR'd, else its own text."""
    if ocr_texts is None:
        return source_texts
    return [source if ocr is None else ocr for source, ocr in zip(source_texts, ocr_texts, strict=True)]


def _ocrmypdf(
    source: Path, output: Path, sidecar: Path, options: ConversionOptions, deadline: _Deadline
) -> ocrmypdf.Outcome:
    return ocrmypdf.make_pdfa(
        source, output, sidecar, pdfa_part=options.pdfa_part, languages=options.ocr_languages,
        mode=options.ocr_mode, timeout=deadline.left(), workdir=sidecar.parent, sandbox_mode=options.sandbox,
    )


def _read_pdf(path: Path, options: ConversionOptions) -> list[str]:
    """The text of each page of a PDF that is fit to convert; InputFileError otherwise."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 1024))
        if looks_truncated_pdf(handle.read()):
            raise InputFileError(
                "the PDF is cut off: it does not end with the %%EOF marker every complete PDF has",
                hint="the transfer was probably interrupted; ask the sender to send the document again",
            )
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise InputFileError(
                "the PDF is encrypted; PDF/A forbids encryption, so no archival copy can be made",
                hint="ask the sender for a copy without password or restrictions",
            )
        pages = len(reader.pages)
        if pages == 0:
            raise InputFileError("the PDF has no pages", hint="ask the sender to send the document again")
        if pages > options.max_pages:
            raise InputFileError(
                f"the PDF has {pages} pages, more than the {options.max_pages} allowed",
                hint="raise [convert] max_pages if such documents are expected",
            )
        return page_texts(path, reader)
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFileError(
            f"the PDF cannot be read: {exc}", hint="open it in a viewer; the sender may need to send it again"
        ) from exc


def _strip_viewer_extras(source: Path, target: Path) -> None:
    """Copy the PDF without entries only viewers use, which PDF/A validation cannot approve.

    A catalog /OpenAction that is a destination only chooses the first view
    (fpdf2 and LibreOffice always write one); LibreOffice's trailer
    /DocChecksum is its own bookkeeping. Neither changes what a page shows.
    An empty /Info dictionary goes too: Ghostscript 10.0 calls the trailer
    bad then and, told to stop on errors, will not embed the fonts.
    """
    try:
        with pikepdf.open(source) as pdf:
            if "/DocChecksum" in pdf.trailer:
                del pdf.trailer["/DocChecksum"]
            info = pdf.trailer.get("/Info")
            if isinstance(info, pikepdf.Dictionary) and len(info.keys()) == 0:
                del pdf.trailer["/Info"]
            if isinstance(pdf.Root.get("/OpenAction"), pikepdf.Array):
                del pdf.Root["/OpenAction"]
            pdf.save(target)
    except pikepdf.PdfError as exc:
        raise InputFileError(
            f"the PDF cannot be read: {exc}", hint="open it in a viewer; the sender may need to send it again"
        ) from exc


def _image_to_pdfa(
    source: Path, name: str, output: Path, work: Path, options: ConversionOptions, deadline: _Deadline
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
    tools, report, warnings = _pdf_to_pdfa(
        pdf, output, work, options, deadline, expected_pages=prepared.pages, first_tools=(tool,)
    )
    return tools, report, warnings, prepared.description


class _EmailPdf(fpdf.FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FONT_FAMILY, size=8)
        self.set_text_color(110)
        self.cell(0, 5, f"Side {self.page_no()} av {{nb}}", align="R")


def render_email(text: str, target: Path) -> Path:
    """The e-mail text from intake typeset on A4: header block bold, body wrapped, attachment list."""
    header, body, attachments = split_email_text(text)
    pdf = _EmailPdf(format="A4", unit="mm")
    for style, filename in _EMAIL_FONTS.items():
        _add_dejavu(pdf, style, filename)
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_lang("no")
    subject = dict(header).get("Emne")
    if subject:
        pdf.set_title(subject)
    pdf.add_page()
    label_width = 18
    pdf.set_font(_FONT_FAMILY, "B", 10)
    for label, value in header:
        pdf.cell(label_width, 5.5, f"{label}:")
        pdf.multi_cell(0, 5.5, value, align="L", new_x="LMARGIN", new_y="NEXT")
    if header:
        pdf.ln(2)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(4)
    pdf.set_font(_FONT_FAMILY, "", 10)
    if body:
        # Ragged right, as mail programs show it; justified lines stretch plain text oddly.
        pdf.multi_cell(0, 5, body, align="L", new_x="LMARGIN", new_y="NEXT")
    if attachments:
        pdf.ln(4)
        pdf.set_font(_FONT_FAMILY, "B", 10)
        pdf.cell(0, 5.5, "Vedlegg:", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FONT_FAMILY, "", 10)
        for attachment in attachments:
            pdf.multi_cell(0, 5, f"• {attachment}", align="L", new_x="LMARGIN", new_y="NEXT")
    _cut_from_common_outlines(pdf, _EMAIL_FONTS)
    pdf.output(str(target))
    return target


def _add_dejavu(pdf: fpdf.FPDF, style: str, filename: str) -> None:
    """DejaVu Sans in `style` for `pdf`, from a font parsed once per process.

    fpdf2's `add_font` parses the font file for every document, though what
    it reads (metrics, character map, descriptor) is the same each time. So
    it is read once, and each document gets a copy of that font with the
    state that is its own: the glyphs it uses, and a font object of its own
    for fpdf2 to cut the embedded subset from (subsetting changes the object
    it is given), loaded lazily from the file's bytes kept in memory. A font
    this cannot be done for exactly (one fpdf2 would change while reading it)
    is added by fpdf2 as usual.
    """
    parsed = _parsed_font(style, filename)
    if parsed is None:
        pdf.add_font(_FONT_FAMILY, style, str(_font_file(filename)))
        return
    template, data = parsed
    font = copy.copy(template)
    font.i = len(pdf.fonts) + 1
    font.ttfont = TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
    font.cw = template.cw.copy()
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    pdf.fonts[template.fontkey] = font


_EMAIL_FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
"""The styles e-mails are typeset in, and their font files."""


def preload_fonts() -> None:
    """Read the fonts e-mails are typeset in now, before a process forks its workers (nothing if not installed)."""
    for style, filename in _EMAIL_FONTS.items():
        try:
            _parsed_font(style, filename)
            _common_outlines(filename)
        except MissingDependencyError:
            return  # said when the first e-mail is typeset


def _cut_from_common_outlines(pdf: fpdf.FPDF, fonts: dict[str, str]) -> None:
    """Each DejaVu font of `pdf` (`fonts`: style -> file) cut from the common outlines when they hold every glyph it uses.

    fpdf2 embeds the subset of a font a document uses, cut by fontTools from
    the whole font (6,253 glyphs, with layout tables fontTools reads before it
    drops them): about 40 ms a font, most of the cost of typesetting an
    e-mail. The same cut from `_common_outlines` (about 400 glyphs, no
    layout tables) takes a quarter of that and embeds the same glyphs under
    the same names and in the same order. A document using a glyph outside
    them keeps the whole font.
    """
    for style, filename in fonts.items():
        font = pdf.fonts.get(f"{_FONT_FAMILY.lower()}{style}")
        common = _common_outlines(filename)
        if not isinstance(font, TTFFont) or common is None or _parsed_font(style, filename) is None:
            continue
        data, names = common
        if names.issuperset(font.subset.get_all_glyph_names()):
            font.ttfont = TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)


COMMON_SCRIPTS = (
    (0x0020, 0x007E), (0x00A0, 0x017F),  # Latin, Latin-1, Latin Extended-A (Sámi, Central Europe)
    (0x01E4, 0x01EF), (0x0218, 0x021B),  # Skolt Sámi ǥ ǧ ǩ ǯ, Romanian ș ț
    (0x2010, 0x2027), (0x2030, 0x203A), (0x20AC, 0x20AC),  # dashes, quotes, bullets, ellipsis, ‰, €
    (0x2122, 0x2122), (0xFFFD, 0xFFFD),  # ™, the replacement character
)
"""The characters `_common_outlines` keeps: the Latin letters most mail to a Norwegian municipality is written in.

A letter in Cyrillic or Greek, or with a symbol outside these, is typeset from the whole font: the same
result, at the cost of about 40 ms more a font."""


@cache
def _common_outlines(filename: str) -> tuple[bytes, frozenset[str]] | None:
    """DejaVu cut once per process to `COMMON_SCRIPTS`, glyph names kept, and the names it holds.

    The tables fpdf2 drops from every subset (layout, bitmaps, colour) are
    dropped here already; nothing else changes, so a subset cut from these
    bytes is the subset fpdf2 would cut from the whole font.
    """
    from fontTools import subset as ftsubset

    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True,
                               layout_features=[])
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC",
                            "EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR"]
    try:
        with TTFont(_font_file(filename), recalcTimestamp=False) as font:
            subsetter = ftsubset.Subsetter(options)
            subsetter.populate(unicodes=[code for first, last in COMMON_SCRIPTS for code in range(first, last + 1)])
            subsetter.subset(font)
            names = frozenset(font.getGlyphOrder())
            out = io.BytesIO()
            font.save(out)
    except Exception:  # noqa: BLE001 - a font fontTools cannot cut is embedded whole, as before
        return None
    return out.getvalue(), names


@cache
def _parsed_font(style: str, filename: str) -> tuple[TTFFont, bytes] | None:
    path = _font_file(filename)
    data = path.read_bytes()
    host = fpdf.FPDF()
    host.add_font(_FONT_FAMILY, style, str(path))
    template = host.fonts[f"{_FONT_FAMILY.lower()}{style}"]
    with TTFont(io.BytesIO(data), lazy=True) as font:
        # fpdf2 draws a .notdef glyph into a font that lacks one; a fresh load would not have it.
        has_notdef = ".notdef" in font.getGlyphOrder()
    if not isinstance(template, TTFFont) or not has_notdef or template.is_compressed or template.is_cff \
            or template.color_font is not None:
        return None
    return template, data


def split_email_text(text: str) -> tuple[list[tuple[str, str]], str, list[str]]:
    """The parts of the e-mail document `intake.email.render_main_document` writes.

    Header lines ('Fra:   ...') up to the first empty line, the body, and the
    closing 'Vedlegg:' list; text that does not have that shape is all body.
    """
    lines = _printable(text).split("\n")
    header: list[tuple[str, str]] = []
    while lines and (match := _EMAIL_HEADER.match(lines[0])):
        header.append((match.group(1), match.group(2).strip()))
        lines.pop(0)
    attachments: list[str] = []
    if "Vedlegg:" in lines:
        at = len(lines) - 1 - lines[::-1].index("Vedlegg:")
        tail = [line for line in lines[at + 1 :] if line.strip()]
        if all(line.startswith("  - ") for line in tail):
            attachments = [line[4:].strip() for line in tail]
            lines = lines[:at]
    return header, "\n".join(lines).strip("\n"), attachments


def _printable(text: str) -> str:
    # Tabs are expanded and other control characters dropped: fonts have no glyphs for them.
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    return "".join(ch for ch in text if ch == "\n" or ch.isprintable())


def glyphs_missing(text: str) -> str:
    """The characters of `text` DejaVu Sans cannot show, each once, in order of appearance."""
    covered = _covered_characters()
    return "".join(dict.fromkeys(ch for ch in _printable(text) if ch != "\n" and ord(ch) not in covered))


@lru_cache(maxsize=1)
def _covered_characters() -> frozenset[int]:
    with TTFont(_font_file("DejaVuSans.ttf"), lazy=True) as font:
        return frozenset(font.getBestCmap())


def _font_file(name: str) -> Path:
    for folder in _FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise MissingDependencyError(
        f"the font {name}, used to typeset e-mails for their archival copy, is not installed",
        hint=f"apt-get install {FONT_PACKAGE}",
    )


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


def _findings(message: str) -> str:
    """The validator's findings from OCRmyPDF's refusal ('[unsupported] ... not embedded'), else its first line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    findings = [line for line in lines if line.startswith(("[unsupported]", "[violation]"))]
    return "; ".join(findings) if findings else (lines[0] if lines else "no reason given")


class _Deadline:
    """One time budget for all the steps of one document."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left for the next step; InputFileError when none are."""
        remaining = self.ends - time.monotonic()
        if remaining <= 0:
            raise InputFileError("the time was used up before the next step could start")
        return remaining

    def expired(self) -> bool:
        return time.monotonic() >= self.ends
