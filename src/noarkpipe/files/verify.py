"""Does an archival copy hold up as PDF/A? Checks on the file itself, one result per check.

veraPDF, the reference PDF/A validator, is not available here (it needs a
Java runtime and is not packaged for Debian), so no check below is a full
ISO 19005 validation; a depot that runs veraPDF may still find problems
these checks cannot see. What is checked instead:

- opens: pikepdf (qpdf) reads the file and its page tree.
- not_encrypted: PDF/A forbids encryption.
- page_count: as many pages as the source had; a page lost in conversion is
  the worst thing a conversion can do unnoticed.
- pdfa_identification: the XMP metadata claims the PDF/A part asked for, at
  conformance B or a stricter one (A, U).
- fonts_embedded: every font used by a page, a form XObject, a pattern, a
  Type 3 glyph or an annotation appearance has its font program in the file.
  A structure the walk cannot read (a font that is not a dictionary, an
  entry of the wrong type) fails the check rather than passing unseen.
- text_layer: each page whose text is known beforehand (the source's own
  text, or what OCR recognised) has that text in the copy, letter for
  letter within a small tolerance. This catches a missing OCR layer and
  text garbled on the way (Ghostscript 10.0-10.02 can do that while the
  page still looks right). The text is read by PDFium (`page_texts`), for
  the source as for the copy: six times faster than pypdf, whose reading
  is the fall-back when PDFium cannot open the file or counts other pages
  than pikepdf. When neither reads as many pages as pikepdf counts, the
  check fails.
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
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pikepdf
import pikepdf.pdfa
import pypdfium2
from lxml import etree

from noarkpipe.files.results import Check, PdfaProfile, VerificationReport

PDFAID_NAMESPACE = "http://www.aiim.org/pdfa/ns/id/"
TEXT_SIMILARITY = 0.9
"""Share of a page's expected letters and digits that must be in the copy's text for that page."""
_CONFORMANCE_AT_LEAST_B = frozenset({"A", "B", "U"})
_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")
_SHOWN_FINDINGS = 5
_KINDS = (
    (pikepdf.Stream, "a stream"), (pikepdf.Dictionary, "a dictionary"), (pikepdf.Array, "an array"),
    (pikepdf.Name, "a name"), (pikepdf.String, "a string"),
)
"""What a PDF object is, for a message saying it is not what the fonts walk expects."""
_UNINSPECTABLE = (pikepdf.PikepdfError, ValueError, KeyError, TypeError, AttributeError, IndexError)


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
    encrypted = [
        Check(id="opens", outcome="passed", detail="pikepdf opens it"),
        Check(id="not_encrypted", outcome="failed", detail="the file is encrypted"),
    ]
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError:
        return _report(path, profile, None, encrypted)
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        checks.append(Check(id="opens", outcome="failed", detail=f"pikepdf cannot read it: {exc}"))
        return _report(path, profile, None, checks)
    with pdf:
        if pdf.is_encrypted:
            return _report(path, profile, None, encrypted)
        try:
            pages = len(pdf.pages)
        except (pikepdf.PdfError, ValueError, KeyError) as exc:
            checks.append(Check(id="opens", outcome="failed", detail=f"pikepdf cannot read it: {exc}"))
            return _report(path, profile, None, checks)
        checks.append(Check(id="opens", outcome="passed", detail=f"pikepdf reads {pages} page(s)"))
        checks.append(Check(id="not_encrypted", outcome="passed", detail="no encryption"))
        checks.append(page_count_check(pages, expected_pages))
        checks.append(identification_check(_xmp(pdf), profile))
        checks.append(_fonts(pdf))
    try:
        texts = page_texts(path, pages)
    except ValueError as exc:
        checks.append(Check(id="text_layer", outcome="failed", detail=f"the text of its pages cannot be read: {exc}"))
    else:
        checks.append(text_check(texts, expected_text))
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


def unembedded_fonts(pdf: Path | pikepdf.Pdf) -> tuple[str, ...]:
    """The fonts a PDF (a file, or one open in pikepdf) uses without their font program, sorted.

    () also when the PDF cannot be inspected: this only chooses a route,
    and the copy's own fonts check fails on what cannot be inspected.
    """
    try:
        if isinstance(pdf, pikepdf.Pdf):
            return tuple(sorted(_unembedded_fonts(pdf)))
        with pikepdf.open(pdf) as opened:
            return tuple(sorted(_unembedded_fonts(opened)))
    except (*_UNINSPECTABLE, OSError):
        return ()


def pdfa_claim_of(path: Path) -> tuple[str | None, str | None]:
    """The PDF/A part and conformance the PDF at `path` claims; (None, None) if it claims none or cannot be read."""
    try:
        with pikepdf.open(path) as pdf:
            xmp = _xmp(pdf)
    except (pikepdf.PikepdfError, OSError, ValueError):
        return None, None
    return pdfa_claim(xmp) if xmp is not None else (None, None)


def _fonts(pdf: pikepdf.Pdf) -> Check:
    try:
        return fonts_check(_unembedded_fonts(pdf))
    except _UNINSPECTABLE as exc:
        # A check that cannot be carried out does not approve the file.
        return Check(id="fonts_embedded", outcome="failed", detail=f"the fonts could not be inspected: {exc}")


def fonts_check(unembedded: set[str]) -> Check:
    if unembedded:
        names = ", ".join(sorted(unembedded))
        return Check(id="fonts_embedded", outcome="failed", detail=f"not embedded: {names}")
    return Check(id="fonts_embedded", outcome="passed", detail="every font used is embedded")


def text_check(page_texts: Sequence[str], expected: Sequence[str] | None) -> Check:
    """Each page with expected text must contain it, compared on letters and digits only."""
    found_letters = [_letters(text) for text in page_texts]
    wanted_letters = [_letters(text) for text in expected or ()]
    with_text = sum(1 for letters in found_letters if letters)
    if not any(wanted_letters):
        return Check(
            id="text_layer",
            outcome="not_checked",
            detail=f"no text was expected; text on {with_text} of {len(page_texts)} page(s)",
        )
    short = []
    compared = 0
    for number, (wanted, found) in enumerate(zip(wanted_letters, found_letters, strict=False), start=1):
        if not wanted:
            continue
        compared += 1
        similarity = _shared(wanted, found)
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


def _xmp(pdf: pikepdf.Pdf) -> bytes | None:
    """The catalog's XMP metadata, decoded; None if there is no such stream or it cannot be decoded."""
    try:
        metadata = pdf.Root.get("/Metadata")
        return metadata.read_bytes() if isinstance(metadata, pikepdf.Stream) else None
    except (pikepdf.PdfError, ValueError, KeyError, AttributeError):
        return None


PDFIUM_LOCK = threading.Lock()
"""PDFium is not thread-safe, and a Dask worker may convert in several threads at once."""


def page_texts(path: Path, pages: int) -> list[str]:
    """The text of each of the `pages` pages (as pikepdf counts them) of the PDF at `path`.

    Read by PDFium; by pypdf only when PDFium cannot open the file or
    counts other pages. ValueError when neither reads `pages` pages.
    """
    try:
        with PDFIUM_LOCK:
            document = pypdfium2.PdfDocument(path)
            try:
                texts = [_pdfium_text(page) for page in document]
            finally:
                document.close()
    except pypdfium2.PdfiumError:
        texts = []
    return texts if len(texts) == pages else _pypdf_texts(path, pages)


def _pypdf_texts(path: Path, pages: int) -> list[str]:
    # Imported here: pypdf is only the fall-back, and slow to parse a PDF with.
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        found = len(reader.pages)
        if found == pages:
            return [_pypdf_text(page, PyPdfError) for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"PDFium cannot read its {pages} page(s), nor can pypdf ({exc})") from exc
    raise ValueError(f"pikepdf counts {pages} page(s), but neither PDFium nor pypdf does (pypdf: {found})")


def _pdfium_text(page: pypdfium2.PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        return textpage.get_text_bounded().replace("\r\n", "\n")
    finally:
        textpage.close()
        page.close()


def _pypdf_text(page: Any, pypdf_error: type[Exception]) -> str:
    try:
        return page.extract_text() or ""
    except (pypdf_error, ValueError, KeyError, TypeError):
        return ""


def _shared(wanted: str, found: str) -> float:
    """difflib's `SequenceMatcher.quick_ratio`: the letters both have, in any order, over both lengths.

    The same number, counted by `Counter` in C rather than letter by
    letter in Python, and without the index of `found` SequenceMatcher
    builds first, which quick_ratio never uses.
    """
    length = len(wanted) + len(found)
    return 2.0 * (Counter(wanted) & Counter(found)).total() / length if length else 1.0


def _letters(text: str) -> str:
    # NFKC turns ligatures (ﬁ) and compatibility forms into plain letters,
    # so a copy that writes them differently still compares equal.
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _unembedded_fonts(pdf: pikepdf.Pdf) -> set[str]:
    missing: set[str] = set()
    seen: set[tuple[int, int]] = set()
    for resources in _all_resources(pdf, seen):
        for name, font in _entries(resources.get("/Font"), "/Font"):
            if not isinstance(font, pikepdf.Dictionary):
                raise TypeError(f"the font {name} is {_kind(font)}, not a font dictionary")
            if _visited(font, seen):
                continue
            if font.get("/Subtype") == "/Type3":
                continue  # glyphs are drawn by content streams in the file; their resources are walked too
            if not _has_font_program(font):
                missing.add(str(font.get("/BaseFont", "(unnamed font)")).lstrip("/"))
    return missing


def _all_resources(pdf: pikepdf.Pdf, seen: set[tuple[int, int]]) -> Iterator[pikepdf.Dictionary]:
    """Every resource dictionary reachable from the pages, each once."""
    pending: list[Any] = []
    for page in pdf.pages:
        pending.append(page.obj.get("/Resources"))
        annotations = page.obj.get("/Annots")
        if annotations is not None and not isinstance(annotations, pikepdf.Array):
            raise TypeError(f"a page's /Annots is {_kind(annotations)}, not an array")
        for annotation in annotations or ():
            pending.extend(_appearance_resources(annotation))
    while pending:
        resources = pending.pop()
        if resources is None:
            continue
        if not isinstance(resources, pikepdf.Dictionary):
            raise TypeError(f"a /Resources is {_kind(resources)}, not a dictionary")
        if _visited(resources, seen):
            continue
        yield resources
        for group in ("/XObject", "/Pattern", "/Font"):
            # Form XObjects, tiling patterns and Type 3 fonts draw with resources of their own.
            for name, item in _entries(resources.get(group), group):
                if not isinstance(item, pikepdf.Dictionary | pikepdf.Stream):
                    raise TypeError(f"{group} {name} is {_kind(item)}, not a dictionary or stream")
                pending.append(item.get("/Resources"))


def _appearance_resources(annotation: Any) -> list[Any]:
    """The resources of an annotation's appearance streams (/AP: /N, /R, /D, each a stream or one per state)."""
    if annotation is None:
        return []
    if not isinstance(annotation, pikepdf.Dictionary):
        raise TypeError(f"an annotation is {_kind(annotation)}, not a dictionary")
    found = []
    for kind, appearance in _entries(annotation.get("/AP"), "/AP"):
        if isinstance(appearance, pikepdf.Stream):
            found.append(appearance.get("/Resources"))
            continue
        for state, stream in _entries(appearance, f"/AP {kind}"):
            if not isinstance(stream, pikepdf.Stream):
                raise TypeError(f"the appearance /AP {kind} {state} is {_kind(stream)}, not a stream")
            found.append(stream.get("/Resources"))
    return found


def _entries(value: Any, what: str) -> Iterable[tuple[str, Any]]:
    """The entries of a dictionary that may be absent; anything but a dictionary cannot be inspected.

    An entry whose value is null (or refers to no object) is kept, as None,
    for the caller to refuse: what it names cannot be shown to be harmless.
    """
    if value is None:
        return ()
    if not isinstance(value, pikepdf.Dictionary):
        raise TypeError(f"{what} is {_kind(value)}, not a dictionary")
    return value.items()


def _has_font_program(font: pikepdf.Dictionary) -> bool:
    described: pikepdf.Object = font
    if font.get("/Subtype") == "/Type0":
        descendants = font.get("/DescendantFonts")
        if not isinstance(descendants, pikepdf.Array) or len(descendants) == 0:
            return False
        described = descendants[0]
        if not isinstance(described, pikepdf.Dictionary):
            return False
    descriptor = described.get("/FontDescriptor")
    return isinstance(descriptor, pikepdf.Dictionary) and any(
        isinstance(descriptor.get(key), pikepdf.Stream) for key in _FONT_FILES
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return next((kind for cls, kind in _KINDS if isinstance(value, cls)), repr(value))


def _visited(obj: pikepdf.Object, seen: set[tuple[int, int]]) -> bool:
    """True if the indirect object `obj` was walked before; a direct object has one parent, so it is never seen twice."""
    if not obj.is_indirect:
        return False
    if obj.objgen in seen:
        return True
    seen.add(obj.objgen)
    return False
