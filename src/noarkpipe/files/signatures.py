"""File signatures at their real place: what the first bytes of a file say it is.

Pure functions over a file's head (its first bytes), shared by the channel
choice (`dispatch.py`) and the scan intake's own check (`scan.sniff_format`).

A signature counts only where its format puts it. Binary formats put theirs
at offset 0 (a ZIP's local file header or empty-archive record, OLE, TIFF,
JPEG, PNG, an executable), a tar archive at offset 257 ('ustar'), and a PDF
its header `%PDF-` at 0 as well; a byte string found anywhere else is data
inside some other file (a stored zip member, a quoted Subject, a MIME part).
The one tolerance is the PDF's: ISO 32000 lets readers accept bytes before
the header within the first 1024 bytes, and scan stations and web uploads do
write such junk. `pdf_header_in_window` finds it there, but only for a file
no leading signature claims; whether the text before it makes the file
something else (an e-mail header block, markup) is the dispatcher's
question, decided by the order written in its docstring.
"""

from __future__ import annotations

PDF_HEADER = b"%PDF-"
PDF_HEADER_WINDOW = 1024
"""ISO 32000-1 §7.5.2 and its implementation notes: readers find the header within the first 1024 bytes."""

_AT_OFFSET: tuple[tuple[str, int, tuple[bytes, ...]], ...] = (
    ("zip", 0, (b"PK\x03\x04", b"PK\x05\x06")),
    ("ole", 0, (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    ("pdf", 0, (PDF_HEADER,)),
    ("tiff", 0, (b"II*\x00", b"MM\x00*")),
    ("jpeg", 0, (b"\xff\xd8\xff",)),
    ("png", 0, (b"\x89PNG\r\n\x1a\n",)),
    # ELF, PE (MZ), Mach-O 32/64 and universal (also Java classes), scripts with a #! line.
    ("executable", 0, (b"\x7fELF", b"MZ", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"#!")),
    ("tar", 257, (b"ustar",)),
)
"""Each format whose signature stands at a fixed offset; the first that matches names the file."""

SCAN_FORMATS = frozenset({"pdf", "tiff", "jpeg", "png"})


def leading_signature(head: bytes) -> str | None:
    """The format whose signature stands at its own offset in `head`: 'zip', 'pdf', 'executable', ...; else None."""
    for kind, offset, signatures in _AT_OFFSET:
        if head[offset:].startswith(signatures):
            return kind
    return None


def pdf_header_in_window(head: bytes) -> bool:
    """True when `%PDF-` starts within the first 1024 bytes of a file no leading signature claims."""
    return leading_signature(head) is None and PDF_HEADER in head[: PDF_HEADER_WINDOW + len(PDF_HEADER) - 1]
