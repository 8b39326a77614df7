"""Which intake source reads a claimed item: decided by its content, then its name.

A file's extension is a hint from whoever named it; the bytes decide. An
executable named `.pdf` is refused, and a `.txt` that is a MIME message is
read as e-mail. What nothing reads is refused with what the file seems to be.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import magic

from ..errors import InputFileError
from .context import IntakeContext
from .email import parse_eml
from .eform import parse_eform_pair, parse_eform_xml, parse_eform_zip, sniff_eform
from .msg import OLE_SIGNATURE, parse_msg
from .scan import parse_scan, sniff_format
from .submission import Source, Submission

Parser = Callable[[Path, IntakeContext], list[Submission]]

SUPPORTED = (
    "e-mail (.eml, .msg), e-forms (e-skjema XML, zip delivery, JSON + PDF pair), "
    "scanned mail (PDF, TIFF, JPEG, PNG)"
)
_EMAIL_HEADERS = (
    b"from:", b"received:", b"return-path:", b"message-id:", b"date:", b"subject:",
    b"mime-version:", b"delivered-to:", b"to:",
)


def _head(path: Path, size: int = 8192) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def looks_like_email(head: bytes) -> bool:
    """Starts with RFC 5322 header lines (not just contains the word 'From:')."""
    first_line = head.lstrip(b"\r\n").split(b"\n", 1)[0].lower()
    return b"\x00" not in head[:2048] and (
        first_line.startswith(_EMAIL_HEADERS) or first_line.startswith(b"x-") and b":" in first_line
    )


def _bundle_parser(bundle: Path, context: IntakeContext) -> list[Submission]:
    files = {p.suffix.lower(): p for p in bundle.iterdir()}
    return parse_eform_pair(files[".json"], files[".pdf"], context)


def _lone_json(path: Path, context: IntakeContext) -> list[Submission]:
    raise InputFileError(
        f"e-form data {path.name} arrived without its PDF rendering",
        hint=f"deliver {Path(context.origin_name).stem}.pdf into the same folder first, then the JSON",
    )


def _unsupported(path: Path, original_name: str, head: bytes) -> InputFileError:
    suffix = Path(original_name).suffix.lower() or "(no extension)"
    try:
        seen = magic.from_buffer(head) if head else "empty"
    except magic.MagicException:
        seen = "unknown data"
    return InputFileError(
        f"unsupported file type '{suffix}' (content: {seen}); noarkpipe reads {SUPPORTED}",
        hint="move the file to the right inbox or journal it by hand",
    )


def choose_parser(path: Path, original_name: str) -> tuple[Source, Parser]:
    """The source and parser for a claimed item; InputFileError when nothing reads it."""
    if path.is_dir():
        return Source.eform, _bundle_parser
    suffix = Path(original_name).suffix.lower()
    head = _head(path)
    if not head:
        raise InputFileError(f"empty file (0 bytes): '{original_name}' has no content")
    if head.startswith(OLE_SIGNATURE):
        if suffix == ".msg":
            return Source.email, parse_msg
        raise _unsupported(path, original_name, head)
    if sniff_format(head):
        return Source.scan, parse_scan
    eform = sniff_eform(path)
    if eform == "xml":
        return Source.eform, parse_eform_xml
    if eform == "zip":
        return Source.eform, parse_eform_zip
    if eform == "json":
        return Source.eform, _lone_json
    if suffix == ".eml" or looks_like_email(head):
        return Source.email, parse_eml
    raise _unsupported(path, original_name, head)
