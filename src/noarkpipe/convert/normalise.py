"""A PDF made into PDF/A: pikepdf when every page has text, else OCRmyPDF, with Ghostscript to embed fonts.

Every route that ends in PDF (a received PDF, images embedded by img2pdf,
LibreOffice's export, the typeset e-mail) ends here (`pdf_to_pdfa`):

1. The PDF is opened once, by pikepdf (`_open_pdf`): cut off (no %%EOF),
   encrypted (PDF/A forbids it), without pages or over `max_pages` is
   refused; else the text of each page (read by PDFium) is kept, to compare
   with the copy's.
2. Entries only viewers use (/OpenAction, /DocChecksum, an empty /Info),
   which PDF/A validation cannot approve, are dropped from the open document.
3. A PDF naming fonts without embedding them goes to Ghostscript first
   (which embeds metric-compatible replacements), since OCRmyPDF would only
   refuse it.
4. When every page has text (OCR mode 'skip'), OCRmyPDF would OCR nothing:
   pikepdf makes the PDF/A and approves it with its own validator. When the
   fonts are embedded too (the common case), it does so from the document
   opened in step 1, so no file but the copy is written. Otherwise, or when
   pikepdf cannot approve it, OCRmyPDF does, adding a text layer to the
   pages that have none; a PDF OCRmyPDF cannot make into approved PDF/A
   (fonts not embedded) is rewritten by Ghostscript and tried once more.
   Ghostscript and OCRmyPDF read the stripped PDF from a file
   (`prepared.pdf`).
5. The copy is verified (`verify.verify_pdfa`: pages, PDF/A rules, the text
   of every page as read before, or as OCR recognised it); a copy failing
   a check raises `ConversionError`.

A PDF/A received fit to be kept (it passes every check and has text on
every page) is recognised by `pdfa_to_keep`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pikepdf
import pikepdf.pdfa

from noarkpipe._exec import ghostscript, ocrmypdf
from noarkpipe.convert.options import ConversionOptions, PdfaProfile
from noarkpipe.convert.steps import Deadline, ToolVersion
from noarkpipe.core.truncation import TAIL_BYTES, looks_truncated_pdf
from noarkpipe.errors import ConversionError, InputFileError
from noarkpipe.files.identify import FormatId
from noarkpipe.files.verify import VerificationReport, page_texts, pdfa_claim_of, unembedded_fonts, verify_pdfa

_PDFA_PUIDS = frozenset({"fmt/95", "fmt/354", "fmt/476", "fmt/477", "fmt/478", "fmt/479", "fmt/480", "fmt/481"})
"""PDF/A-1, -2 and -3 at every conformance level, as PRONOM tells them apart."""
_OCR_SKIPPED = re.compile(r"^\s*\[OCR skipped on page\(s\) (\d+)(?:-(\d+))?\]\s*$")


def pdfa_to_keep(source: Path, fmt: FormatId, options: ConversionOptions) -> VerificationReport | None:
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
    with _open_pdf(source, options) as pdf:
        texts = _source_texts(source, len(pdf.pages))
    if not all(has_letters(text) for text in texts):
        return None
    report = verify_pdfa(source, expected_pages=len(texts), profile=f"{part}b", expected_text=texts)
    rules = next(check for check in report.checks if check.id == "pdfa_rules")
    return report if report.passed and rules.outcome == "passed" else None


def has_letters(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def pdf_to_pdfa(
    source: Path,
    output: Path,
    work: Path,
    options: ConversionOptions,
    deadline: Deadline,
    *,
    expected_pages: int | None,
    first_tools: tuple[ToolVersion, ...],
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...]]:
    tools = list(first_tools)
    warnings: list[str] = []
    prepared = work / "prepared.pdf"
    with _open_pdf(source, options) as pdf:
        pages = len(pdf.pages)
        source_texts = _source_texts(source, pages)
        # Every page has text, so OCRmyPDF would OCR none: only the PDF/A remains to be made.
        text_everywhere = options.ocr_mode == "skip" and all(has_letters(text) for text in source_texts)
        _strip_viewer_extras(pdf)
        # OCRmyPDF refuses a PDF whose fonts are not embedded; asking it first would only cost a refusal.
        missing_fonts = unembedded_fonts(pdf)
        in_memory = text_everywhere and not missing_fonts
        if in_memory:
            # The common case: the open document is made PDF/A; no file in between is written and parsed again.
            written, refusal = _pikepdf_pdfa(pdf, output, options.pdfa_profile)
            if written is not None:
                return _pikepdf_copy(written, output, expected_pages or pages, options, source_texts, tools, warnings)
            warnings.append(f"pikepdf could not make it PDF/A ({refusal}), so OCRmyPDF did")
        else:
            _save_prepared(pdf, prepared)
    if in_memory:
        # pikepdf's repairs changed the open document before it was refused; OCRmyPDF gets the PDF as it came.
        with _open_pdf(source, options) as pdf:
            _strip_viewer_extras(pdf)
            _save_prepared(pdf, prepared)
    sidecar = work / "ocr.txt"
    if missing_fonts:
        because = "not embedded: " + ", ".join(missing_fonts)
        prepared = _embed_fonts(prepared, work, deadline, tools, warnings, because=because, options=options)
        if text_everywhere:
            written, refusal = _pikepdf_pdfa_of(prepared, output, options.pdfa_profile)
            if written is not None:
                return _pikepdf_copy(written, output, expected_pages or pages, options, source_texts, tools, warnings)
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
    report = verified_copy(output, expected_pages or pages, options, expected_text(source_texts, ocr_texts))
    return tuple(tools), report, tuple(warnings)


def verified_copy(
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


def _pikepdf_copy(
    written: pikepdf.pdfa.Report, output: Path, pages: int, options: ConversionOptions, texts: list[str],
    tools: list[ToolVersion], warnings: list[str],
) -> tuple[tuple[ToolVersion, ...], VerificationReport, tuple[str, ...]]:
    tools.append(ToolVersion(name="pikepdf", version=pikepdf.__version__))
    report = verified_copy(output, pages, options, texts, written_by_pikepdf=written)
    return tuple(tools), report, tuple(warnings)


def _pikepdf_pdfa_of(source: Path, output: Path, profile: PdfaProfile) -> tuple[pikepdf.pdfa.Report | None, str | None]:
    """`_pikepdf_pdfa` of the PDF in the file `source`."""
    try:
        with pikepdf.open(source) as pdf:
            return _pikepdf_pdfa(pdf, output, profile)
    except pikepdf.PdfError as exc:
        return None, str(exc)


def _pikepdf_pdfa(pdf: pikepdf.Pdf, output: Path, profile: PdfaProfile) -> tuple[pikepdf.pdfa.Report | None, str | None]:
    """Make `pdf` PDF/A with pikepdf alone (output intent, XMP, repairs): its validator's report, or why not.

    pikepdf writes the file only once its own validator approves the bytes
    written ('pass', never 'not checked'); what OCRmyPDF's internal PDF/A
    backend does, without the process and the page analysis OCR needs. The
    repairs change `pdf` even when it is refused.
    """
    try:
        return pikepdf.pdfa.save(pdf, output, profile), None
    except pikepdf.pdfa.PdfaError as refusal:
        output.unlink(missing_ok=True)
        return None, _findings(str(refusal))
    except pikepdf.PdfError as exc:
        output.unlink(missing_ok=True)
        return None, str(exc)


def _embed_fonts(
    source: Path, work: Path, deadline: Deadline, tools: list[ToolVersion], warnings: list[str], *, because: str,
    options: ConversionOptions,
) -> Path:
    program, version = ghostscript.require()
    embedded = work / "fonts-embedded.pdf"
    ghostscript.embed_fonts(program, source, embedded, timeout=deadline.left(), sandbox_mode=options.sandbox)
    tools.append(ToolVersion(name="Ghostscript", version=".".join(map(str, version))))
    warnings.append(f"rewritten by Ghostscript to embed fonts before PDF/A conversion, because: {because}")
    return embedded


def _ocrmypdf_after_embedding(
    source: Path, output: Path, sidecar: Path, options: ConversionOptions, deadline: Deadline
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
    source: Path, output: Path, sidecar: Path, options: ConversionOptions, deadline: Deadline
) -> ocrmypdf.Outcome:
    return ocrmypdf.make_pdfa(
        source, output, sidecar, pdfa_part=options.pdfa_part, languages=options.ocr_languages,
        mode=options.ocr_mode, timeout=deadline.left(), workdir=sidecar.parent, sandbox_mode=options.sandbox,
    )


def _open_pdf(path: Path, options: ConversionOptions) -> pikepdf.Pdf:
    """The PDF at `path` open in pikepdf, if it is fit to convert; InputFileError otherwise."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
        if looks_truncated_pdf(handle.read()):
            raise InputFileError(
                "the PDF is cut off: it does not end with the %%EOF marker every complete PDF has",
                hint="the transfer was probably interrupted; ask the sender to send the document again",
            )
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError as exc:
        raise _encrypted() from exc
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        raise _unreadable(exc) from exc
    try:
        if pdf.is_encrypted:
            raise _encrypted()
        pages = len(pdf.pages)
        if pages == 0:
            raise InputFileError("the PDF has no pages", hint="ask the sender to send the document again")
        if pages > options.max_pages:
            raise InputFileError(
                f"the PDF has {pages} pages, more than the {options.max_pages} allowed",
                hint="raise [convert] max_pages if such documents are expected",
            )
    except (pikepdf.PdfError, ValueError, KeyError) as exc:
        pdf.close()
        raise _unreadable(exc) from exc
    except BaseException:
        pdf.close()
        raise
    return pdf


def _source_texts(path: Path, pages: int) -> list[str]:
    try:
        return page_texts(path, pages)
    except ValueError as exc:
        raise _unreadable(exc) from exc


def _encrypted() -> InputFileError:
    return InputFileError(
        "the PDF is encrypted; PDF/A forbids encryption, so no archival copy can be made",
        hint="ask the sender for a copy without password or restrictions",
    )


def _unreadable(exc: Exception) -> InputFileError:
    return InputFileError(
        f"the PDF cannot be read: {exc}", hint="open it in a viewer; the sender may need to send it again"
    )


def _strip_viewer_extras(pdf: pikepdf.Pdf) -> None:
    """Drop the entries only viewers use, which PDF/A validation cannot approve, from the open `pdf`.

    A catalog /OpenAction that is a destination only chooses the first view
    (fpdf2 and LibreOffice always write one); LibreOffice's trailer
    /DocChecksum is its own bookkeeping. Neither changes what a page shows.
    An empty /Info dictionary goes too: Ghostscript 10.0 calls the trailer
    bad then and, told to stop on errors, will not embed the fonts.
    """
    try:
        if "/DocChecksum" in pdf.trailer:
            del pdf.trailer["/DocChecksum"]
        info = pdf.trailer.get("/Info")
        if isinstance(info, pikepdf.Dictionary) and len(info.keys()) == 0:
            del pdf.trailer["/Info"]
        if isinstance(pdf.Root.get("/OpenAction"), pikepdf.Array):
            del pdf.Root["/OpenAction"]
    except pikepdf.PdfError as exc:
        raise _unreadable(exc) from exc


def _save_prepared(pdf: pikepdf.Pdf, target: Path) -> None:
    """The stripped PDF written for the programs that read files (Ghostscript, OCRmyPDF)."""
    try:
        pdf.save(target)
    except pikepdf.PdfError as exc:
        target.unlink(missing_ok=True)
        raise _unreadable(exc) from exc


def _findings(message: str) -> str:
    """The validator's findings from OCRmyPDF's refusal ('[unsupported] ... not embedded'), else its first line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    findings = [line for line in lines if line.startswith(("[unsupported]", "[violation]"))]
    return "; ".join(findings) if findings else (lines[0] if lines else "no reason given")
