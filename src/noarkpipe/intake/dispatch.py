"""Which intake source reads a claimed item: decided by its content, then its name.

A file's extension is a hint from whoever named it; the bytes decide. An
executable named `.pdf` is refused, and a `.txt` that is a MIME message is
read as e-mail. What nothing reads is refused with what the file seems to be.
"""

from __future__ import annotations

import re
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
    b"from", b"received", b"return-path", b"message-id", b"date", b"subject",
    b"mime-version", b"delivered-to", b"to", b"content-type",
)
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_MBOX_FROM = re.compile(rb"^From \S+ +\S")


def looks_like_email(head: bytes) -> bool:
    """Starts with an e-mail header, or with a block of header lines that names one.

    Not just any text holding the word 'From:': either the first line is a known
    e-mail header, or every line up to the first empty one is a header field
    (a MIME entity starting 'Content-Type:', 'X-Mailer:', ...). An mbox
    'From sender date' line in front (mail saved by Unix mail programs) is allowed.
    """
    if b"\x00" in head[:2048]:
        return False
    lines = head.lstrip(b"\r\n").replace(b"\r\n", b"\n").split(b"\n")
    if lines and _MBOX_FROM.match(lines[0]):
        lines = lines[1:]
    complete = len(head) < 8192 or b"\n\n" in head.replace(b"\r\n", b"\n")
    if not complete:
        lines = lines[:-1]  # the last line may be cut off by the read
    first = _FIELD.match(lines[0]) if lines else None
    if first is not None and first.group(1).lower() in _EMAIL_HEADERS:
        return True
    names = []
    for line in lines:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and names:
            continue
        field = _FIELD.match(line)
        if field is None:
            return False
        names.append(field.group(1).lower())
    return any(name in _EMAIL_HEADERS for name in names)


def _head(path: Path, size: int = 8192) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


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
