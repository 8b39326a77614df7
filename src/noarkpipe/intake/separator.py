"""The separator sheet (skilleark) the post room puts between letters in a scan batch.

The sheet carries a large QR code whose payload is exactly `SEPARATOR_MARKER`.
Only that payload splits a batch: letters themselves often carry QR codes
(payment slips, case portals) and must never be cut apart by them. The
marker is also printed as text below the code, so a sheet whose code is
smudged or torn is still recognised from the OCR text of the page.

The PDF is written by hand rather than through a drawing library: one page
of filled rectangles and three of the PDF standard fonts needs no font files
on the server and prints sharp at any size.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from itertools import groupby

import qrcode
from PIL import Image

from noarkpipe.errors import MissingDependencyError

SEPARATOR_MARKER = "NOARKPIPE:SEPARATOR:1"
"""The QR payload of a separator sheet; the trailing number is the sheet layout version."""

_MARKER_IN_TEXT = re.compile(r"NOARKPIPE\W{0,3}SEPARATOR", re.IGNORECASE)

A4_POINTS = (595.28, 841.89)
MM = 72 / 25.4
_COURIER_ADVANCE = 0.6
"""Every Courier glyph is 0.6 em wide, which is what lets the marker line be centred without font metrics."""
QR_SIDE_MM = 120
"""3.2 mm modules. Measured: still decodes at 75 dpi, skewed 8 degrees, or printed as pale as grey 170 of 255."""
QR_SEARCH_PIXELS = 1400
"""Pages are scaled down to at most this many pixels on their long side before decoding (about 120 dpi for A4)."""

CAPTION = "Skilleark – noarkpipe"
INSTRUCTIONS = (
    "Legg dette arket mellom to brev i skannebunken.",
    "Arket skiller brevene og blir ikke arkivert. Skriv ut i 100 % størrelse, ikke skriv på arket.",
)


def separator_sheet_pdf() -> bytes:
    """One A4 page: caption, instructions, the QR code and the marker in plain text."""
    width, height = A4_POINTS
    left = 25 * MM
    qr_side = QR_SIDE_MM * MM
    qr_left = (width - qr_side) / 2
    qr_bottom = height - 75 * MM - qr_side
    marker_left = (width - _COURIER_ADVANCE * 16 * len(SEPARATOR_MARKER)) / 2

    ops = [
        _text_op("F1", 28, left, height - 35 * MM, CAPTION),
        _text_op("F2", 12, left, height - 47 * MM, INSTRUCTIONS[0]),
        _text_op("F2", 12, left, height - 53 * MM, INSTRUCTIONS[1]),
        _qr_ops(_qr_matrix(), qr_left, qr_bottom, qr_side),
        _text_op("F3", 16, marker_left, qr_bottom - 14 * MM, SEPARATOR_MARKER),
    ]
    return _single_page_pdf("\n".join(ops).encode("ascii"), width, height)


def is_separator_page(image: Image.Image) -> bool:
    """True when the page shows a QR code carrying `SEPARATOR_MARKER`, in any orientation."""
    decode, qrcode_symbol = _zbar()
    gray = image.convert("L")
    scale = QR_SEARCH_PIXELS / max(gray.size)
    if scale < 1:
        gray = gray.resize(
            (max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
            Image.Resampling.BOX,
        )
    return any(symbol.data == SEPARATOR_MARKER.encode("ascii") for symbol in decode(gray, symbols=[qrcode_symbol]))


def is_separator_text(text: str) -> bool:
    """True when OCR text shows the printed marker: the fallback for a sheet whose QR code did not decode."""
    return _MARKER_IN_TEXT.search(text) is not None


@lru_cache(maxsize=1)
def _zbar():
    # pyzbar loads libzbar with ctypes when imported; without the library the
    # import fails, which should read as a missing system package, not a crash.
    try:
        from pyzbar.pyzbar import ZBarSymbol, decode
    except ImportError as exc:
        raise MissingDependencyError(
            f"the zbar library for reading separator sheets is not available ({exc})",
            hint="apt-get install libzbar0",
        ) from exc
    return decode, ZBarSymbol.QRCODE


def _qr_matrix() -> list[list[bool]]:
    # High error correction: the sheet goes through the scanner again and
    # again and collects folds, stamps and coffee.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, border=4)
    code.add_data(SEPARATOR_MARKER)
    code.make(fit=True)
    return code.get_matrix()


def _qr_ops(matrix: list[list[bool]], left: float, bottom: float, side: float) -> str:
    """Dark modules as filled rectangles, one per horizontal run to keep the stream short."""
    module = side / len(matrix)
    rects = []
    for row_index, row in enumerate(matrix):
        y = bottom + side - (row_index + 1) * module
        column = 0
        for dark, run in groupby(row):
            length = len(list(run))
            if dark:
                rects.append(f"{left + column * module:.2f} {y:.2f} {length * module:.2f} {module:.2f} re")
            column += length
    return "0 g\n" + "\n".join(rects) + "\nf"


def _text_op(font: str, size: int, x: float, y: float, text: str) -> str:
    # WinAnsiEncoding covers æøå and the en dash; a hex string needs no escaping.
    return f"BT /{font} {size} Tf {x:.2f} {y:.2f} Td <{text.encode('cp1252').hex()}> Tj ET"


def _single_page_pdf(content: bytes, width: float, height: float) -> bytes:
    stream = zlib.compress(content)
    # Objects 5, 6 and 7 are the fonts F1, F2 and F3 named in the page resources.
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width:.2f} {height:.2f}] "
            f"/Resources << /Font << /F1 5 0 R /F2 6 0 R /F3 7 0 R >> >> /Contents 4 0 R >>"
        ).encode("ascii"),
        f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode("ascii") + stream + b"\nendstream",
        *(
            f"<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>".encode("ascii")
            for name in ("Helvetica-Bold", "Helvetica", "Courier")
        ),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += b"".join(f"{offset:010d} 00000 n \n".encode("ascii") for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return bytes(out)
