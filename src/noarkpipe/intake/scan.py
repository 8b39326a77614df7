"""Scanned paper mail: one batch from the scan station becomes one `Submission` per letter.

A batch is a PDF, a multi-page TIFF, or a single JPEG or PNG page. The post
room separates letters with a blank sheet or with the QR separator sheet
from `separator.py`; a run of several separators counts as one. Every other
page belongs to a letter. What a page is and where letters split is
decided in `scan_pages.py`; letter pages are read with tesseract, and the
sender, letter date, references and subject are picked from the text in
`letter_text.py`, both pure, so they can be tested on numbers and plain
strings. This module is the edge: it reads the batch file, renders and
measures its pages, runs OCR and writes each letter's PDF.

Each letter's main document is a PDF of its own pages as scanned: pages of a
PDF batch are copied over unchanged, image pages are embedded losslessly
(JPEG as is). Archival conversion (PDF/A) is a later stage's job.

A batch that cannot be taken in raises `InputFileError` (not a scan, empty,
truncated, encrypted, a page too large to decode safely, over the limits).
One page that cannot be decoded or read does not cost the readable
letters: the page is kept as its own document, exactly as received (the
page copied out of a PDF batch; the whole file for an image batch, whose
damaged frame cannot be cut out), marked as having no archival copy, in a
submission of its own, in page order. It counts as a boundary between
letters, and the nightly run sends every letter of the batch to review,
since the page may belong to any of them: nothing is lost, nothing is
moved between letters without someone looking. A batch with no readable
letter page at all is still refused as a whole.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import img2pdf
import pypdfium2
import pypdfium2.raw as pdfium_c
from PIL import Image, UnidentifiedImageError

from noarkpipe._exec import sandbox as converter_sandbox
from noarkpipe._exec import tesseract
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.paper import MAX_PAGE_PIXELS, page_dpi
from noarkpipe.core.submission import DocumentRole, Source, Submission, SubmissionDocument
from noarkpipe.core.truncation import TAIL_BYTES, looks_truncated_pdf
from noarkpipe.errors import InputFileError
from noarkpipe.files import pdfstreams
from noarkpipe.files.imaging import load_strictly
from noarkpipe.files.safety import require_size, safe_filename
from noarkpipe.files.signatures import SCAN_FORMATS, leading_signature, pdf_header_in_window
from noarkpipe.intake.letter_text import fallback_title, letter_fields, letter_filename, letter_sent, origin_path
from noarkpipe.intake.scan_pages import PageKind, is_blank, measure_ink, split_letters
from noarkpipe.intake.separator import is_separator_page, is_separator_text

OCR_DPI = 300
"""Pages go to tesseract at this resolution whatever they were scanned at.

Measured on 200 dpi scans: read as they are, the English model wins over
the Norwegian one on short words ('pa' for 'på'); resampled to 300 dpi the
same scans read right.
"""
_FORMAT_NAMES = {
    "pdf": "PDF",
    "tiff": "TIFF image",
    "jpeg": "JPEG image",
    "png": "PNG image",
}


class _UnreadablePage(InputFileError):
    """One page cannot be decoded or read (not a bomb, not the file as a whole)."""


def sniff_format(head: bytes) -> str | None:
    """'pdf', 'tiff', 'jpeg' or 'png' from the first bytes of a file; None for anything else.

    Each by its signature at its own place (`signatures.py`): the image
    formats' at offset 0, the PDF header at 0 or, as the PDF standard allows,
    after junk within the first 1024 bytes, but never inside a file another
    signature claims (a zip storing a PDF member is a zip). The file name is
    not consulted: scan stations and people rename files.
    """
    kind = leading_signature(head)
    if kind in SCAN_FORMATS:
        return kind
    return "pdf" if pdf_header_in_window(head) else None


@dataclass(frozen=True)
class PageImage:
    image: Image.Image
    """8-bit grey."""
    dpi: float


class _Batch(Protocol):
    page_count: int

    def page(self, index: int) -> PageImage: ...

    def letter_pdf(self, indices: Sequence[int]) -> bytes: ...

    def page_as_received(self, index: int) -> bytes | None:
        """The page alone as the batch holds it, or None if it cannot be cut out."""
        ...

    def close(self) -> None: ...


def parse_scan(path: Path, context: IntakeContext) -> list[Submission]:
    """One `Submission` per letter in the scan batch at `path`, in page order."""
    program = tesseract.require(context.ocr_languages)
    kind = _check_file(path, context.limits)
    batch: _Batch = (
        _PdfBatch(path, context.limits)
        if kind == "pdf"
        else _ImageBatch(path, kind, context.limits, context.scratch / "scan-pages")
    )
    with closing(batch):
        kinds: list[PageKind] = []
        texts: list[str] = []
        for index in range(batch.page_count):
            try:
                page_kind, text = _read_page(batch, index, program, context.ocr_languages, context.sandbox)
            except _UnreadablePage as exc:
                page_kind, text = PageKind.unreadable, exc.message
            kinds.append(page_kind)
            texts.append(text)
        letters = split_letters(kinds)
        if not letters:
            unreadable = [i + 1 for i, kind in enumerate(kinds) if kind is PageKind.unreadable]
            if unreadable:
                first = kinds.index(PageKind.unreadable)
                raise InputFileError(texts[first], hint="the file is probably truncated or damaged; scan the batch again")
            raise InputFileError(
                f"the scan batch has {batch.page_count} page(s) but all are blank or separator sheets",
                hint="check that the letters were not fed face down or left out of the scan",
            )
        pieces = sorted(
            [(indices[0], indices) for indices in letters]
            + [(i, None) for i, kind in enumerate(kinds) if kind is PageKind.unreadable]
        )
        submissions = []
        for number, (first, indices) in enumerate(pieces, start=1):
            if indices is None:
                submissions.append(_unreadable_submission(context, path, batch, first, texts[first]))
                continue
            pdf = batch.letter_pdf(indices)
            require_size(len(pdf), context.limits.max_document_bytes, f"the PDF of letter {number}")
            submissions.append(_submission(context, number, len(pieces), [texts[i] for i in indices], pdf))
        return submissions


def _unreadable_submission(
    context: IntakeContext, path: Path, batch: _Batch, index: int, problem: str
) -> Submission:
    """A page that could not be read, kept as received and marked: it gets no archival copy."""
    stem = origin_path(context.origin_name).stem or "skanning"
    content, suffix, what = batch.page_as_received(index), ".pdf", f"page {index + 1} as received"
    if content is None:
        content, suffix, what = path.read_bytes(), path.suffix.lower() or ".bin", "the whole scan file as received"
    require_size(len(content), context.limits.max_document_bytes, f"page {index + 1} of the scan")
    title = f"Uleselig side {index + 1} i {origin_path(context.origin_name).name}"
    return Submission(
        source=Source.scan,
        origin_name=context.origin_name,
        subject=title,
        received=context.received,
        documents=[
            SubmissionDocument(
                filename=safe_filename(f"{stem}-side-{index + 1}-uleselig{suffix}", "uleselig-side"),
                media_type="application/pdf" if suffix == ".pdf" else "application/octet-stream",
                content=content,
                role=DocumentRole.main,
                title=title,
                archival_gap=(
                    f"page {index + 1} of the scan batch cannot be read ({problem}); {what} is kept: "
                    "check the paper original, scan that page again and attach it with 'review replace-part'"
                ),
            )
        ],
    )


def _check_file(path: Path, limits: IntakeLimits) -> str:
    size = path.stat().st_size
    if size == 0:
        raise InputFileError(
            "the scan file is empty (0 bytes)", hint="the upload from the scan station probably failed; scan again"
        )
    require_size(size, limits.max_file_bytes, "the scan file")
    with path.open("rb") as handle:
        head = handle.read(1024)
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read()
    kind = sniff_format(head)
    if kind is None:
        raise InputFileError(
            f"the file is not a PDF, TIFF, JPEG or PNG scan, whatever its name says (it starts with {head[:16]!r})",
            hint="only scan-station output belongs in the scan inbox",
        )
    if kind == "pdf" and looks_truncated_pdf(tail):
        raise InputFileError(
            "the PDF is truncated: it does not end with %%EOF",
            hint="the transfer from the scan station was probably cut off; send the file again",
        )
    return kind


def _read_page(
    batch: _Batch, index: int, program: str, languages: str, sandbox: converter_sandbox.Mode
) -> tuple[PageKind, str]:
    """What the page is, and its text if it belongs to a letter; the cheap checks go first."""
    page = batch.page(index)
    if is_blank(measure_ink(page.image, page.dpi)):
        return PageKind.blank, ""
    if is_separator_page(page.image):
        return PageKind.separator, ""
    buffer = io.BytesIO()
    _at_ocr_resolution(page).save(buffer, format="PNG", compress_level=1)
    try:
        text = tesseract.page_text(program, buffer.getvalue(), languages, OCR_DPI, sandbox_mode=sandbox)
    except InputFileError as exc:
        raise _UnreadablePage(f"page {index + 1}: {exc.message}", hint=exc.hint) from exc
    if is_separator_text(text):
        return PageKind.separator, ""
    return PageKind.letter, text.strip()


def _at_ocr_resolution(page: PageImage) -> Image.Image:
    if abs(page.dpi - OCR_DPI) < OCR_DPI / 20:
        return page.image
    scale = OCR_DPI / page.dpi
    size = (round(page.image.width * scale), round(page.image.height * scale))
    return page.image.resize(size, Image.Resampling.BICUBIC)


def _submission(
    context: IntakeContext, number: int, count: int, page_texts: list[str], pdf: bytes
) -> Submission:
    full_text = "\n\n".join(page_texts)
    fields = letter_fields(page_texts[0], full_text)
    title = fields.subject or fallback_title(context.origin_name, number, count)
    return Submission(
        source=Source.scan,
        origin_name=context.origin_name,
        sender=fields.sender,
        subject=title,
        sent=letter_sent(fields.letter_date),
        received=context.received,
        body_text=full_text,
        our_reference=fields.our_reference,
        their_reference=fields.their_reference,
        documents=[
            SubmissionDocument(
                filename=letter_filename(context.origin_name, number),
                media_type="application/pdf",
                content=pdf,
                role=DocumentRole.main,
                title=title,
            )
        ],
    )


def _bomb_error(detail: str) -> InputFileError:
    return InputFileError(
        f"a page is too large to decode safely ({detail})",
        hint=f"pages over {MAX_PAGE_PIXELS // 1_000_000} million pixels are refused; rescan at 300 dpi",
    )


def _require_page_count(count: int, limits: IntakeLimits) -> None:
    if count == 0:
        raise InputFileError("the scan file has no pages", hint="scan the batch again")
    if count > limits.max_pages:
        raise InputFileError(
            f"the scan batch has {count} pages, more than the limit of {limits.max_pages}",
            hint="split the batch at the scan station, or raise max_pages under [intake] in the config",
        )


class _PdfBatch:
    """A PDF batch read with PDFium: pages rendered for analysis and OCR, copied unchanged into letters."""

    def __init__(self, path: Path, limits: IntakeLimits) -> None:
        # Measured before PDFium sees it: PDFium decodes a page's content whole when it renders.
        pdfstreams.require_bounded(path, limits.max_decompressed_mb, "the scan file")
        try:
            self._pdf = pypdfium2.PdfDocument(path)
        except pypdfium2.PdfiumError as exc:
            if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
                raise _encrypted_error() from exc
            raise InputFileError(
                f"the PDF cannot be read: {exc}", hint="the file is damaged; scan the batch again"
            ) from exc
        try:
            # Also refused when only an owner password restricts it: PDF/A
            # forbids encryption, so the archival copy could not be made.
            if pdfium_c.FPDF_GetSecurityHandlerRevision(self._pdf) != -1:
                raise _encrypted_error()
            self.page_count = len(self._pdf)
            _require_page_count(self.page_count, limits)
        except InputFileError:
            self._pdf.close()
            raise

    def page(self, index: int) -> PageImage:
        try:
            page = self._pdf[index]
            images = [obj.get_metadata() for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])]
            for meta in images:
                if meta.width * meta.height > MAX_PAGE_PIXELS:
                    raise _bomb_error(f"page {index + 1} holds a {meta.width}x{meta.height} image")
            width, height = page.get_size()
            if width * height * (OCR_DPI / 72) ** 2 > MAX_PAGE_PIXELS:
                raise _bomb_error(f"page {index + 1} is {width / 72 * 25.4:.0f}x{height / 72 * 25.4:.0f} mm")
            image = page.render(scale=OCR_DPI / 72, grayscale=True).to_pil().convert("L")
        except pypdfium2.PdfiumError as exc:
            raise _UnreadablePage(
                f"page {index + 1} of the PDF cannot be read: {exc}", hint="scan the batch again"
            ) from exc
        return PageImage(image, OCR_DPI)

    def page_as_received(self, index: int) -> bytes | None:
        try:
            return self.letter_pdf([index])
        except pypdfium2.PdfiumError:
            return None

    def letter_pdf(self, indices: Sequence[int]) -> bytes:
        letter = pypdfium2.PdfDocument.new()
        try:
            letter.import_pages(self._pdf, pages=list(indices))
            buffer = io.BytesIO()
            letter.save(buffer)
            return buffer.getvalue()
        finally:
            letter.close()

    def close(self) -> None:
        self._pdf.close()


def _encrypted_error() -> InputFileError:
    return InputFileError(
        "the PDF is encrypted or password protected",
        hint="set the scan station to save PDFs without password or restrictions, and scan again",
    )


class _ImageBatch:
    """A TIFF (one page per frame), JPEG or PNG batch read with Pillow.

    Each page is kept in the scratch folder as it is read, so the letter PDFs
    are made without decoding the batch twice: a JPEG as the original bytes,
    other pages as lossless PNG, or CCITT G4 TIFF for black and white.
    """

    def __init__(self, path: Path, kind: str, limits: IntakeLimits, pages_dir: Path) -> None:
        self._path = path
        self._kind = kind
        self._pages_dir = pages_dir
        self._pages_dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[int, tuple[Path, float]] = {}
        try:
            self._image = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise _bomb_error(str(exc)) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise self._damaged(exc) from exc
        try:
            self.page_count = getattr(self._image, "n_frames", 1)
            _require_page_count(self.page_count, limits)
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            self._image.close()
            raise self._damaged(exc) from exc
        except InputFileError:
            self._image.close()
            raise

    def page(self, index: int) -> PageImage:
        try:
            self._image.seek(index)
            width, height = self._image.size
            if width * height > MAX_PAGE_PIXELS:
                raise _bomb_error(f"page {index + 1} is {width}x{height} pixels")
            load_strictly(self._image)
            frame = _eight_bit(self._image.copy())
        except Image.DecompressionBombError as exc:
            raise _bomb_error(str(exc)) from exc
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            damaged = self._damaged(exc, f"page {index + 1} of ")
            raise _UnreadablePage(damaged.message, hint=damaged.hint) from exc
        declared = self._image.info.get("dpi")
        # TIFF resolutions come as rationals; page_dpi works on plain numbers.
        dpi = page_dpi(frame.size, (float(declared[0]), float(declared[1])) if declared else None)
        self._files[index] = (self._keep(index, frame, dpi), dpi)
        return PageImage(frame if frame.mode == "L" else frame.convert("L"), dpi)

    def _keep(self, index: int, frame: Image.Image, dpi: float) -> Path:
        if self._kind == "jpeg":
            return self._path
        if frame.mode == "1":
            target = self._pages_dir / f"page-{index + 1:04d}.tif"
            frame.save(target, format="TIFF", compression="group4", dpi=(dpi, dpi))
            return target
        target = self._pages_dir / f"page-{index + 1:04d}.png"
        frame.save(target, format="PNG", dpi=(dpi, dpi))
        return target

    def letter_pdf(self, indices: Sequence[int]) -> bytes:
        letter = pypdfium2.PdfDocument.new()
        try:
            for index in indices:
                file, dpi = self._files[index]
                try:
                    single = img2pdf.convert(str(file), layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi)))
                except Exception as exc:  # img2pdf reports bad input with assorted exception types
                    raise InputFileError(
                        f"page {index + 1} cannot be put into a PDF: {exc}", hint="scan the batch again"
                    ) from exc
                page_pdf = pypdfium2.PdfDocument(single)
                letter.import_pages(page_pdf)
                page_pdf.close()
            buffer = io.BytesIO()
            letter.save(buffer)
            return buffer.getvalue()
        finally:
            letter.close()

    def page_as_received(self, index: int) -> bytes | None:
        return None  # a frame Pillow cannot decode cannot be cut out of the file either

    def close(self) -> None:
        self._image.close()

    def _damaged(self, exc: Exception, where: str = "") -> InputFileError:
        return InputFileError(
            f"{where}the {_FORMAT_NAMES[self._kind]} cannot be read: {exc}",
            hint="the file is probably truncated or damaged; scan the batch again",
        )


def _eight_bit(frame: Image.Image) -> Image.Image:
    """Modes img2pdf and tesseract both take: bilevel, grey or RGB; 16-bit scans are scaled, not clipped."""
    if frame.mode in {"1", "L", "RGB"}:
        return frame
    if frame.mode.startswith("I"):
        return frame.convert("I").point(lambda value: value / 256).convert("L")
    return frame.convert("RGB")
