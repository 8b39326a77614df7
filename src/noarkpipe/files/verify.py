"""Does an archival copy hold up as PDF/A? Checks on the file itself, one result per check.

veraPDF, the reference PDF/A validator, is not available here (it needs a
Java runtime and is not packaged for Debian), so no check below is a full
ISO 19005 validation; a depot that runs veraPDF may still find problems
these checks cannot see. What is checked instead:

- opens: pypdf reads the file and its page tree.
- not_encrypted: PDF/A forbids encryption.
- page_count: as many pages as the source had; a page lost in conversion is
  the worst thing a conversion can do unnoticed.
- pdfa_identification: the XMP metadata claims the PDF/A part asked for, at
  conformance B or a stricter one (A, U).
- fonts_embedded: every font used by a page, a form XObject, a pattern, a
  Type 3 glyph or an annotation appearance has its font program in the file.
- text_layer: each page whose text is known beforehand (the source's own
  text, or what OCR recognised) has that text in the copy, letter for
  letter within a small tolerance. This catches a missing OCR layer and
  text garbled on the way (Ghostscript 10.0-10.02 can do that while the
  page still looks right). The text is read by PDFium (`page_texts`), for
  the source as for the copy: six times faster than pypdf, whose reading
  is the fall-back when PDFium cannot open the file or counts other pages.
- pdfa_rules: pikepdf's PDF/A allowlist validator. It approves only
  constructs it knows conform, so 'passed' is strong evidence; it reports
  constructs it does not know as 'not_checked' rather than guessing, and
  only its definite violations fail the copy. A copy written by
  `pikepdf.pdfa.save` was validated by it already: save validates the bytes
  it wrote and puts only approved bytes in place, so its report is taken
  (`written_by_pikepdf`) instead of validating the same bytes again.

A report that has a failed check means the copy is refused
(`ConversionError`), never quietly used.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterator, Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Literal

import pikepdf.pdfa
import pypdfium2
from lxml import etree
from pydantic import BaseModel, ConfigDict
from pypdf import PdfReader
from pypdf.errors import PyPdfError

PdfaProfile = Literal["1b", "2b", "3b"]
"""PDF/A part and conformance level B; the levels OCRmyPDF and LibreOffice both produce."""

PDFAID_NAMESPACE = "http://www.aiim.org/pdfa/ns/id/"
TEXT_SIMILARITY = 0.9
"""Share of a page's expected letters and digits that must be in the copy's text for that page."""
_CONFORMANCE_AT_LEAST_B = frozenset({"A", "B", "U"})
_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")
_SHOWN_FINDINGS = 5

Outcome = Literal["passed", "failed", "not_checked"]


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    outcome: Outcome
    detail: str


class VerificationReport(BaseModel):
    """The checks run on one archival copy; `passed` unless one of them failed."""

    model_config = ConfigDict(frozen=True)

    file: str
    profile: PdfaProfile
    pages: int | None
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.outcome == "failed")

    def summary(self) -> str:
        lines = [f"PDF/A-{self.profile} checks of {self.file}:"]
        lines += [f"  {check.id}: {check.outcome} - {check.detail}" for check in self.checks]
        return "\n".join(lines)


def verify_pdfa(
    path: Path,
    *,
    expected_pages: int | None,
    profile: PdfaProfile,
    expected_text: Sequence[str] | None = None,
    written_by_pikepdf: pikepdf.pdfa.Report | None = None,
) -> VerificationReport:
    """Check the PDF at `path` as an archival copy; see the module docstring for what each check means.

    `expected_text` holds, per page, text the copy must contain ('' where
    nothing is known, e.g. a photo OCR found no words on).
    `written_by_pikepdf` is the report `pikepdf.pdfa.save` returned when it
    wrote exactly the file at `path`, for `profile`; the rules are then not
    validated a second time.
    """
    checks: list[Check] = []
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            checks.append(Check(id="opens", outcome="passed", detail="pypdf opens it"))
            checks.append(Check(id="not_encrypted", outcome="failed", detail="the file is encrypted"))
            return _report(path, profile, None, checks)
        pages = len(reader.pages)
    except (PyPdfError, OSError, ValueError, KeyError) as exc:
        checks.append(Check(id="opens", outcome="failed", detail=f"pypdf cannot read it: {exc}"))
        return _report(path, profile, None, checks)
    checks.append(Check(id="opens", outcome="passed", detail=f"pypdf reads {pages} page(s)"))
    checks.append(Check(id="not_encrypted", outcome="passed", detail="no encryption"))
    checks.append(page_count_check(pages, expected_pages))
    checks.append(identification_check(_xmp(reader), profile))
    checks.append(_fonts(reader))
    checks.append(text_check(page_texts(path, reader), expected_text))
    if written_by_pikepdf is not None and written_by_pikepdf.flavour.value == profile:
        checks.append(rules_check(written_by_pikepdf, profile))
    else:
        checks.append(rules_check(pikepdf.pdfa.validate_written(path, profile), profile))
    return _report(path, profile, pages, checks)


def page_count_check(pages: int, expected: int | None) -> Check:
    if expected is None:
        return Check(id="page_count", outcome="not_checked", detail=f"{pages} page(s); the source's count is unknown")
    if pages != expected:
        return Check(id="page_count", outcome="failed", detail=f"{pages} page(s), but the source has {expected}")
    return Check(id="page_count", outcome="passed", detail=f"{pages} page(s), as the source")


def identification_check(xmp: bytes | None, profile: PdfaProfile) -> Check:
    """The XMP metadata must claim PDF/A of the profile's part at conformance B or stricter."""
    if xmp is None:
        return Check(id="pdfa_identification", outcome="failed", detail="no XMP metadata stream")
    part, conformance = pdfa_claim(xmp)
    if part is None:
        return Check(id="pdfa_identification", outcome="failed", detail="the XMP metadata has no pdfaid:part")
    claim = f"PDF/A-{part}{(conformance or '?').lower()}"
    if part != profile[0] or (conformance or "").upper() not in _CONFORMANCE_AT_LEAST_B:
        return Check(id="pdfa_identification", outcome="failed", detail=f"claims {claim}, expected PDF/A-{profile}")
    return Check(id="pdfa_identification", outcome="passed", detail=f"claims {claim}")


def pdfa_claim(xmp: bytes) -> tuple[str | None, str | None]:
    """pdfaid:part and pdfaid:conformance from XMP, written as elements or as attributes."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    try:
        root = etree.fromstring(xmp.strip(), parser)
    except etree.XMLSyntaxError:
        return None, None
    if root is None:
        return None, None
    return _pdfaid(root, "part"), _pdfaid(root, "conformance")


def unembedded_fonts(path: Path) -> tuple[str, ...]:
    """The fonts a PDF uses without their font program, sorted; () also when the file cannot be inspected."""
    try:
        return tuple(sorted(_unembedded_fonts(PdfReader(path))))
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return ()


def pdfa_claim_of(path: Path) -> tuple[str | None, str | None]:
    """The PDF/A part and conformance the PDF at `path` claims; (None, None) if it claims none or cannot be read."""
    try:
        xmp = _xmp(PdfReader(path))
    except (PyPdfError, OSError, ValueError, KeyError):
        return None, None
    return pdfa_claim(xmp) if xmp is not None else (None, None)


def _fonts(reader: PdfReader) -> Check:
    try:
        return fonts_check(_unembedded_fonts(reader))
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # A check that cannot be carried out does not approve the file.
        return Check(id="fonts_embedded", outcome="failed", detail=f"the fonts could not be inspected: {exc}")


def fonts_check(unembedded: set[str]) -> Check:
    if unembedded:
        names = ", ".join(sorted(unembedded))
        return Check(id="fonts_embedded", outcome="failed", detail=f"not embedded: {names}")
    return Check(id="fonts_embedded", outcome="passed", detail="every font used is embedded")


def text_check(page_texts: Sequence[str], expected: Sequence[str] | None) -> Check:
    """Each page with expected text must contain it, compared on letters and digits only."""
    with_text = sum(1 for text in page_texts if _letters(text))
    if expected is None or not any(_letters(text) for text in expected):
        return Check(
            id="text_layer",
            outcome="not_checked",
            detail=f"no text was expected; text on {with_text} of {len(page_texts)} page(s)",
        )
    short = []
    compared = 0
    for number, (wanted, found) in enumerate(zip(expected, page_texts, strict=False), start=1):
        wanted_letters = _letters(wanted)
        if not wanted_letters:
            continue
        compared += 1
        similarity = SequenceMatcher(None, wanted_letters, _letters(found), autojunk=False).quick_ratio()
        if similarity < TEXT_SIMILARITY:
            short.append(f"page {number} ({similarity:.0%} of the expected text)")
    if short:
        return Check(id="text_layer", outcome="failed", detail="text missing or changed on " + ", ".join(short))
    return Check(
        id="text_layer",
        outcome="passed",
        detail=f"expected text found on all {compared} page(s) that have any; text on {with_text} of {len(page_texts)}",
    )


def rules_check(report: pikepdf.pdfa.Report, profile: PdfaProfile) -> Check:
    """The pdfa_rules check from pikepdf's validator's report on the file."""
    if report.verdict == "pass":
        return Check(id="pdfa_rules", outcome="passed", detail=f"pikepdf approves it as PDF/A-{profile}")
    findings = report.violations if report.verdict == "fail" else report.unsupported
    shown = "; ".join(f"{finding.where}: {finding.message}" for finding in findings[:_SHOWN_FINDINGS])
    more = f" (and {len(findings) - _SHOWN_FINDINGS} more)" if len(findings) > _SHOWN_FINDINGS else ""
    if report.verdict == "fail":
        return Check(id="pdfa_rules", outcome="failed", detail=f"PDF/A violations: {shown}{more}")
    return Check(id="pdfa_rules", outcome="not_checked", detail=f"constructs pikepdf does not check: {shown}{more}")


def _report(path: Path, profile: PdfaProfile, pages: int | None, checks: list[Check]) -> VerificationReport:
    return VerificationReport(file=path.name, profile=profile, pages=pages, checks=tuple(checks))


def _pdfaid(root: etree._Element, name: str) -> str | None:
    qualified = f"{{{PDFAID_NAMESPACE}}}{name}"
    for element in root.iter():
        if element.tag == qualified and element.text and element.text.strip():
            return element.text.strip()
        if qualified in element.attrib:
            return element.attrib[qualified].strip()
    return None


def _xmp(reader: PdfReader) -> bytes | None:
    try:
        metadata = reader.trailer["/Root"].get_object().get("/Metadata")
        return metadata.get_object().get_data() if metadata is not None else None
    except (PyPdfError, ValueError, KeyError, AttributeError):
        return None


_PDFIUM = threading.Lock()
"""PDFium is not thread-safe, and a Dask worker may convert in several threads at once."""


def page_texts(path: Path, reader: PdfReader) -> list[str]:
    """The text of each page of the PDF at `path` (open in `reader`), read by PDFium, else by pypdf."""
    try:
        with _PDFIUM:
            document = pypdfium2.PdfDocument(path)
            try:
                texts = [_pdfium_text(page) for page in document]
            finally:
                document.close()
    except pypdfium2.PdfiumError:
        texts = []
    if len(texts) != len(reader.pages):
        return [_pypdf_text(page) for page in reader.pages]
    return texts


def _pdfium_text(page: pypdfium2.PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        return textpage.get_text_bounded().replace("\r\n", "\n")
    finally:
        textpage.close()
        page.close()


def _pypdf_text(page: Any) -> str:
    try:
        return page.extract_text() or ""
    except (PyPdfError, ValueError, KeyError, TypeError):
        return ""


def _letters(text: str) -> str:
    # NFKC turns ligatures (ﬁ) and compatibility forms into plain letters,
    # so a copy that writes them differently still compares equal.
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _unembedded_fonts(reader: PdfReader) -> set[str]:
    missing: set[str] = set()
    seen: set[Any] = set()
    for resources in _all_resources(reader, seen):
        fonts = _resolve(resources.get("/Font"))
        for font in (fonts or {}).values():
            font = _resolve(font)
            if font is None or _visited(font, seen):
                continue
            if font.get("/Subtype") == "/Type3":
                continue  # glyphs are drawn by content streams in the file; their resources are walked too
            if not _has_font_program(font):
                missing.add(str(font.get("/BaseFont", "(unnamed font)")).lstrip("/"))
    return missing


def _all_resources(reader: PdfReader, seen: set[Any]) -> Iterator[Any]:
    """Every resource dictionary reachable from the pages, each once."""
    pending = []
    for page in reader.pages:
        pending.append(page.get("/Resources"))
        for annotation in _resolve(page.get("/Annots")) or []:
            pending.extend(_appearance_resources(_resolve(annotation)))
    while pending:
        resources = _resolve(pending.pop())
        if resources is None or _visited(resources, seen):
            continue
        yield resources
        for group in ("/XObject", "/Pattern", "/Font"):
            # Form XObjects, tiling patterns and Type 3 fonts draw with resources of their own.
            for item in (_resolve(resources.get(group)) or {}).values():
                item = _resolve(item)
                if item is not None and item.get("/Resources") is not None:
                    pending.append(item.get("/Resources"))


def _appearance_resources(annotation: Any) -> list[Any]:
    """The resources of an annotation's appearance streams (/AP: /N, /R, /D, each a stream or one per state)."""
    found = []
    appearances = _resolve(annotation.get("/AP")) if annotation is not None else None
    for appearance in (appearances or {}).values():
        appearance = _resolve(appearance)
        streams = [appearance] if hasattr(appearance, "get_data") else list((appearance or {}).values())
        found.extend(_resolve(stream).get("/Resources") for stream in streams if _resolve(stream) is not None)
    return found


def _has_font_program(font: Any) -> bool:
    if font.get("/Subtype") == "/Type0":
        descendants = _resolve(font.get("/DescendantFonts")) or []
        if not descendants:
            return False
        font = _resolve(descendants[0])
    descriptor = _resolve(font.get("/FontDescriptor"))
    return descriptor is not None and any(key in descriptor for key in _FONT_FILES)


def _resolve(value: Any) -> Any:
    return value.get_object() if value is not None and hasattr(value, "get_object") else value


def _visited(obj: Any, seen: set[Any]) -> bool:
    reference = getattr(obj, "indirect_reference", None)
    key = (reference.idnum, reference.generation) if reference is not None else id(obj)
    if key in seen:
        return True
    seen.add(key)
    return False
