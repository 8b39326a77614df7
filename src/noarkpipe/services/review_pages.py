"""What the review desk shows of a letter: its pages as images, its files to download, the classes the model suggests.

Everything is resolved from the journalpost: a document by its number in
that journalpost, a file through that document's own dokumentobjekter,
never from a checksum or path a caller names, so a desk user reaches
exactly the files of the letters the desk lets them see.

Pages are rendered from the archival copy (PDF/A) by PDFium, under the
lock the PDF/A checks use (PDFium is not thread-safe, and the desk may
serve several requests and replace a part at once). A rendered page is
cached under data_dir/cache/pages, named by the copy's SHA-256, the page
and the width, so it never goes stale: other bytes have another name.
Each file is written to a temporary name and renamed into place; the
cache may be deleted at any time, and a page is then rendered again.
Beside the pages, the copy's page count (`page_count`, which the desk asks
for every document it lists) is cached the same way.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
from pathlib import Path

import pypdfium2
from pydantic import BaseModel
from sqlalchemy import select

from noarkpipe.classify.learned import ClassModel, compose_text
from noarkpipe.classify.policy import model_path
from noarkpipe.classify.screenrules import default_screening_rules, load_screening_rules
from noarkpipe.core.codes import Korrespondanseparttype, Variantformat
from noarkpipe.errors import ReviewError, StoreError
from noarkpipe.files.safety import safe_filename
from noarkpipe.files.verify import PDFIUM_LOCK
from noarkpipe.journal import review
from noarkpipe.services.installation import Installation
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore

MIN_WIDTH = 200
MAX_WIDTH = 2000
MAX_HEIGHT = 8000
"""Tallest image rendered: a page far taller than wide (a till roll) is drawn narrower than asked instead."""
PDF_MIME = "application/pdf"
FALLBACK_MIME = "application/octet-stream"

_SHA256 = re.compile(r"[0-9a-f]{64}")
# type/subtype and parameters in ASCII, spaces but no other white space: the value goes into a header.
_MIME = re.compile(r"[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+(?: *; *[A-Za-z0-9.+-]+=(?:[A-Za-z0-9.+-]+|\"[A-Za-z0-9.+ -]*\"))*")


class PageImage(BaseModel):
    png: bytes
    page: int
    """1-based."""
    pages: int
    """Of the archival copy."""


def document_views(opened: Installation, kode: str, journalnummer: str) -> list[review.DocumentView]:
    with opened.store.read() as session:
        return review.documents(session, opened.kode(kode), journalnummer)


def page_image(
    opened: Installation, kode: str, journalnummer: str, dokumentnummer: int, page: int, width: int = 1000
) -> PageImage:
    """Page `page` (from 1) of the document's archival copy as a PNG `width` pixels wide (kept within 200-2000)."""
    width = min(max(width, MIN_WIDTH), MAX_WIDTH)
    document = _document(document_views(opened, kode, journalnummer), journalnummer, dokumentnummer)
    copy = document.archival_copy
    if copy is None:
        raise ReviewError(
            f"document {dokumentnummer} of journalpost {journalnummer} has no archival copy to show"
            + (f": {document.archival_gap}" if document.archival_gap else ""),
            hint="download the file as received instead",
        )
    if not _is_pdf(copy):
        raise ReviewError(
            f"the archival copy of document {dokumentnummer} of journalpost {journalnummer} is "
            f"{copy.format or copy.mime}, not a PDF: it has no pages to show",
            hint="download it instead",
        )
    source = _stored(opened, copy.sha256)
    cache = opened.settings.data_dir / "cache" / "pages" / copy.sha256[:2]
    count = _cached_page_count(cache, copy.sha256)
    if count is not None:
        _require_page(page, count, dokumentnummer, journalnummer)
        try:
            return PageImage(png=(cache / f"{copy.sha256}-{page}-{width}.png").read_bytes(), page=page, pages=count)
        except FileNotFoundError:
            pass
    png, count = _render(source, page, width, dokumentnummer, journalnummer)
    _write_atomically(cache / f"{copy.sha256}.pages", str(count).encode())
    _write_atomically(cache / f"{copy.sha256}-{page}-{width}.png", png)
    return PageImage(png=png, page=page, pages=count)


def page_count(opened: Installation, kode: str, journalnummer: str, dokumentnummer: int) -> int:
    """How many pages `page_image` can show of the document: 0 without an archival copy in PDF, or one PDFium cannot open.

    From the cache when a page of the copy was counted before.
    """
    document = _document(document_views(opened, kode, journalnummer), journalnummer, dokumentnummer)
    return copy_pages(opened, document)


def copy_pages(opened: Installation, document: review.DocumentView) -> int:
    """`page_count` of a document already read (`document_views`)."""
    copy = document.archival_copy
    if copy is None or not _is_pdf(copy):
        return 0
    source = _stored(opened, copy.sha256)
    cache = opened.settings.data_dir / "cache" / "pages" / copy.sha256[:2]
    count = _cached_page_count(cache, copy.sha256)
    if count is None:
        with PDFIUM_LOCK:
            try:
                pdf = pypdfium2.PdfDocument(source)
            except pypdfium2.PdfiumError:
                return 0
            try:
                count = len(pdf)
            finally:
                pdf.close()
        _write_atomically(cache / f"{copy.sha256}.pages", str(count).encode())
    return count


def original_file(
    opened: Installation,
    kode: str,
    journalnummer: str,
    dokumentnummer: int,
    versjonsnummer: int | None = None,
    variantformat: str = Variantformat.produksjonsformat.value,
) -> tuple[Path, str, str]:
    """(path in the document store, the file name to offer, its mime type) of one of the document's variants.

    The newest version in `variantformat` unless `versjonsnummer` is given.
    The name has no folders, control characters or quotes, so it can go into
    a Content-Disposition header; it may hold letters outside ASCII (æøå),
    which the header needs as filename* (RFC 6266). A mime type that is not
    a plain type/subtype is given as application/octet-stream.
    """
    document = _document(document_views(opened, kode, journalnummer), journalnummer, dokumentnummer)
    matching = [
        v for v in document.variants
        if v.variantformat == variantformat and (versjonsnummer is None or v.versjonsnummer == versjonsnummer)
    ]
    if not matching:
        held = ", ".join(f"version {v.versjonsnummer} {v.variantformat}" for v in document.variants) or "none"
        wanted = f"version {versjonsnummer} " if versjonsnummer is not None else ""
        raise ReviewError(
            f"document {dokumentnummer} of journalpost {journalnummer} has no {wanted}{variantformat}",
            hint=f"it holds: {held}",
        )
    chosen = max(matching, key=lambda v: v.versjonsnummer)
    name = safe_filename(chosen.filnavn, f"dokument-{dokumentnummer}")
    mime = chosen.mime.strip() if chosen.mime and _MIME.fullmatch(chosen.mime.strip()) else FALLBACK_MIME
    return _stored(opened, chosen.sha256), name, mime


def class_suggestions(opened: Installation, kode: str, journalnummer: str, limit: int = 3) -> list[tuple[str, str, float]]:
    """(klasseID, class title, confidence 0-1) from the arkivskaper's learned model, likeliest first; [] without one.

    The model is asked what the nightly run asks it (classify/learned.py
    `submission_text`): the title and the sender's name when the sender is
    an organisation. Classes the model knows that the case's classification
    system does not are left out: the desk could not move the case there.
    """
    kode = opened.kode(kode)
    model = _model(model_path(opened.settings, kode))
    if model is None or limit <= 0:
        return []
    with opened.store.read() as session:
        post = review.find_journalpost(session, kode, journalnummer)
        organisations = [
            p.korrespondansepartNavn for p in post.korrespondanseparter
            if p.organisasjonsnummer and p.korrespondanseparttype == Korrespondanseparttype.avsender.value
        ]
        text = compose_text(post.tittel, *organisations[:1])
        titles: dict[str, str] = dict(
            session.execute(
                select(tables.Klasse.klasseID, tables.Klasse.tittel).where(
                    tables.Klasse.klassifikasjonssystem_id == post.saksmappe.klasse.klassifikasjonssystem_id
                )
            ).all()
        )
    row = model.probabilities([text])[0]
    ranked = sorted(zip(model.classes, row.tolist()), key=lambda pair: -pair[1])
    return [(klasse, titles[klasse], float(p)) for klasse, p in ranked if klasse in titles][:limit]


def _document(views: list[review.DocumentView], journalnummer: str, dokumentnummer: int) -> review.DocumentView:
    found = next((v for v in views if v.dokumentnummer == dokumentnummer), None)
    if found is None:
        numbers = ", ".join(str(v.dokumentnummer) for v in views) or "none"
        raise ReviewError(
            f"journalpost {journalnummer} has no document {dokumentnummer}",
            hint=f"its documents are numbered {numbers}",
        )
    return found


def _is_pdf(variant: review.DocumentVariant) -> bool:
    return (variant.mime or "").split(";")[0].strip().lower() == PDF_MIME


def _stored(opened: Installation, sha256: str) -> Path:
    path = DocumentStore(opened.settings.documents_dir).path_for(sha256) if _SHA256.fullmatch(sha256) else None
    if path is None or not path.is_file():
        raise StoreError(
            f"the document store has no file {sha256!r}, which the journal names",
            hint=f"restore {opened.settings.documents_dir} from backup; 'noarkpipe export' checks every file",
        )
    return path


def _require_page(page: int, pages: int, dokumentnummer: int, journalnummer: str) -> None:
    if not 1 <= page <= pages:
        raise ReviewError(
            f"document {dokumentnummer} of journalpost {journalnummer} has {pages} page(s), no page {page}",
            hint=f"pages are numbered 1 to {pages}",
        )


def _render(source: Path, page: int, width: int, dokumentnummer: int, journalnummer: str) -> tuple[bytes, int]:
    with PDFIUM_LOCK:
        try:
            pdf = pypdfium2.PdfDocument(source)
        except pypdfium2.PdfiumError as exc:
            raise ReviewError(
                f"the archival copy of document {dokumentnummer} of journalpost {journalnummer} "
                f"cannot be shown: PDFium cannot open it ({exc})",
                hint="download it instead",
            ) from exc
        try:
            count = len(pdf)
            _require_page(page, count, dokumentnummer, journalnummer)
            pdf_page = pdf[page - 1]
            try:
                # Width and height as displayed, after the page's /Rotate.
                page_width, page_height = pdf_page.get_width(), pdf_page.get_height()
                scale = min(width / page_width, MAX_HEIGHT / page_height)
                image = pdf_page.render(scale=scale).to_pil()
            finally:
                pdf_page.close()
        finally:
            pdf.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), count


def _cached_page_count(folder: Path, sha256: str) -> int | None:
    try:
        text = (folder / f"{sha256}.pages").read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _write_atomically(path: Path, content: bytes) -> None:
    """The file complete under its name or not at all; no fsync: the cache is rebuilt from the store when lost."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_MODELS: dict[Path, tuple[tuple[int, int], ClassModel]] = {}
_MODELS_LOCK = threading.Lock()


def _model(path: Path) -> ClassModel | None:
    """The model saved at `path`, loaded once per file version (a retrained model is a new file: its mtime changes)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        with _MODELS_LOCK:
            _MODELS.pop(path, None)
        return None
    version = (stat.st_mtime_ns, stat.st_size)
    with _MODELS_LOCK:
        cached = _MODELS.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
    model = ClassModel.load(path)
    with _MODELS_LOCK:
        _MODELS[path] = (version, model)
    return model


class ScreeningChoice(BaseModel):
    """One hjemmel an archivist may screen with: what one of the arkivskaper's screening rules gives."""

    name: str
    tilgangsrestriksjon: str
    skjermingshjemmel: str
    skjermingMetadata: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.tilgangsrestriksjon}|{self.skjermingshjemmel}"


def screening_choices(opened: Installation, kode: str) -> list[ScreeningChoice]:
    """The arkivskaper's screening rules' hjemler, each once, in the rules' order (identity numbers first)."""
    creator = opened.creator(kode)
    rules = load_screening_rules(creator.screening_rules) if creator.screening_rules else default_screening_rules()
    number = rules.identity_number
    found = [ScreeningChoice(name="identity_number", tilgangsrestriksjon=number.tilgangsrestriksjon,
                             skjermingshjemmel=number.skjermingshjemmel,
                             skjermingMetadata=tuple(str(v) for v in number.skjermingMetadata))]
    for rule in rules.rules:
        found.append(ScreeningChoice(name=rule.name, tilgangsrestriksjon=rule.tilgangsrestriksjon,
                                     skjermingshjemmel=rule.skjermingshjemmel,
                                     skjermingMetadata=tuple(str(v) for v in rule.skjermingMetadata)))
    unique: dict[str, ScreeningChoice] = {}
    for choice in found:
        unique.setdefault(choice.key, choice)
    return list(unique.values())
