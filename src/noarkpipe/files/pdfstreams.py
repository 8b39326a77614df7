"""How far a PDF's compressed streams inflate, measured before any library decodes them.

A PDF of one megabyte may hold a content stream that inflates to a
gibibyte of operators; PDFium, Ghostscript and pikepdf decode a stream
whole, so rendering or checking such a page takes gigabytes. Below intake
and conversion alike (like `imaging.py`), this module inflates each
Flate-compressed stream itself, in bounded chunks whose output is counted
and thrown away, and stops as soon as the count passes the limit: the
memory used is a chunk, whatever the stream declares. Two sums are judged:
each stream alone (images, fonts, form XObjects), and each page's content
streams together, since a renderer concatenates those.

Only Flate (by far the usual filter, and the one a bomb is made with) is
measured here; image codecs are bounded by the pixel limits where pages are
rendered, and what slips through (LZW, run-length) is bounded by the memory
limit of the process that reads the item (`isolation.py`).
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pikepdf

from noarkpipe.errors import InputFileError

CHUNK = 1024 * 1024
_FLATE = {"/FlateDecode", "/Fl"}


def largest_inflation(source: Path | bytes, limit: int) -> int:
    """The largest decoded size of one stream or of one page's content, counted no further than just past `limit`.

    A PDF pikepdf cannot open gives 0: whether it can be read at all is for
    the caller's own parser to say.
    """
    try:
        pdf = pikepdf.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (pikepdf.PdfError, pikepdf.PasswordError, OSError, ValueError):
        return 0
    with pdf:
        sizes: dict[tuple[int, int], int] = {}
        largest = 0
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream):
                sizes[obj.objgen] = size = _inflated_size(obj, limit)
                largest = max(largest, size)
                if largest > limit:
                    return largest
        for page in pdf.pages:
            contents = page.obj.get("/Contents")
            streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
            total = sum(
                sizes.get(s.objgen) or _inflated_size(s, limit) for s in streams if isinstance(s, pikepdf.Stream)
            )
            largest = max(largest, total)
            if largest > limit:
                return largest
        return largest


def _inflated_size(stream: pikepdf.Stream, limit: int) -> int:
    filters = stream.get("/Filter")
    first = filters[0] if isinstance(filters, pikepdf.Array) and len(filters) else filters
    if first is None or str(first) not in _FLATE:
        return 0
    try:
        data = stream.read_raw_bytes()
    except pikepdf.PdfError:
        return 0
    inflater = zlib.decompressobj()
    total = 0
    try:
        while True:
            out = inflater.decompress(data, CHUNK)
            total += len(out)
            if total > limit:
                return total
            data = inflater.unconsumed_tail
            if inflater.eof or (not data and not out):
                return total
    except zlib.error:
        return total  # damaged: the parser that reads it will say so


def require_bounded(source: Path | bytes, limit_mb: int, what: str) -> None:
    """Refuse (`InputFileError`) a PDF a stream or page of which inflates past [intake] max_decompressed_mb."""
    limit = limit_mb * 1024 * 1024
    if largest_inflation(source, limit) > limit:
        raise InputFileError(
            f"{what}: a compressed stream of the PDF inflates to more than {limit_mb} MB "
            f"(max_decompressed_mb = {limit_mb} ([intake])): a decompression bomb; nothing was rendered",
            hint="ask the sender for the document as an ordinary PDF; raise max_decompressed_mb under [intake] "
            "only if such documents are expected",
        )
