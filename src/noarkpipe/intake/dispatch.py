"""Which intake source reads a claimed item: decided by its content, then its name.

A file's extension is a hint from whoever named it; the bytes decide, each
format by its real signature at its real place (`signatures.py`), never by a
byte string found somewhere in the first kilobyte. The order is fixed, and
`tests/test_dispatch.py` pins it with one row per kind of file:

1. A folder: a KS Fiks Arkiv message folder (arkivmelding.xml at its top), else an
   e-form pair bundle (X.json + X.pdf), as the claim made it.
2. An empty file: refused.
3. A signature at its own offset, which no text format can start with:
   ZIP (local file header `PK\x03\x04`, or `PK\x05\x06` of an empty
   archive) is a KS Fiks Arkiv message if it holds `arkivmelding.xml`, an
   e-form zip delivery if it holds `manifest.json` or an envelope, else refused, whatever PDF it stores; OLE is an Outlook `.msg`
   if so named, else refused; `%PDF-` at 0, TIFF, JPEG, PNG are scans; an
   executable or a tar archive is refused, whatever its name says.
4. An e-form in XML (the first element is the e-skjema envelope, after an
   optional BOM) or JSON (an object with formType and fields): both found by
   a real parse from offset 0.
5. An e-mail: a header block from offset 0 (`looks_like_email`), with an
   mbox 'From ' line in front allowed.
6. Other markup or JSON (starting with `<`, `{` or `[`): refused, even with
   a `%PDF-` further on; an HTML page quoting a PDF is no scan.
7. A PDF header after junk within the first 1024 bytes, as ISO 32000 lets
   readers accept: a scan.
8. A name ending `.eml`: the e-mail parser, which says what is wrong with it.
9. Anything else: refused with what the file seems to be.

Why the e-mail test (5) comes before the PDF-after-junk test (7): the junk
allowance is a tolerance for broken writers, while a header block from the
first byte is structure. A message whose Subject names `%PDF-1.7`, or that
carries a PDF part sent with `Content-Transfer-Encoding: binary` (or 8bit),
has the PDF header within its first kilobyte, but it is a letter: read as
e-mail, its PDF becomes an attachment with an archival copy of its own;
read as a scan it would be quarantined as a truncated PDF, or journaled as
a scanned letter without its sender, subject and text. The e-form tests (4)
come before it because they are a real parse, stricter than the header
heuristics, and no e-mail starts with `<` or `{`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import magic

from noarkpipe.core.context import IntakeContext
from noarkpipe.core.submission import Source, Submission
from noarkpipe.errors import InputFileError
from noarkpipe.files.safety import open_regular
from noarkpipe.files.signatures import SCAN_FORMATS, leading_signature, pdf_header_in_window
from noarkpipe.intake.eform import parse_eform_pair, parse_eform_xml, parse_eform_zip, sniff_eform
from noarkpipe.intake.email import parse_eml
from noarkpipe.intake.fiks_arkiv import is_fiks_message, is_fiks_zip, parse_fiks_folder, parse_fiks_zip
from noarkpipe.intake.msg import parse_msg
from noarkpipe.intake.scan import parse_scan

Parser = Callable[[Path, IntakeContext], list[Submission]]

SUPPORTED = (
    "e-mail (.eml, .msg), e-forms (e-skjema XML, zip delivery, JSON + PDF pair), KS Fiks Arkiv arkivmeldinger (zip), "
    "scanned mail (PDF, TIFF, JPEG, PNG)"
)
_EMAIL_HEADERS = (
    b"from", b"received", b"return-path", b"message-id", b"date", b"subject",
    b"mime-version", b"delivered-to", b"to", b"content-type",
)
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_MBOX_FROM = re.compile(rb"^From \S+ +\S")
_BOM = b"\xef\xbb\xbf"


def looks_like_email(head: bytes) -> bool:
    """Starts with an e-mail header, or with a block of header lines that names one.

    Not just any text holding the word 'From:': either the first line is a known
    e-mail header, or every line up to the first empty one is a header field
    (a MIME entity starting 'Content-Type:', 'X-Mailer:', ...). An mbox
    'From sender date' line in front (mail saved by Unix mail programs) is allowed.
    """
    text = head.lstrip(b"\r\n").replace(b"\r\n", b"\n")
    # A NUL in the header block makes it binary data; in the body it may be a part sent as binary.
    if b"\x00" in text.split(b"\n\n", 1)[0][:2048]:
        return False
    lines = text.split(b"\n")
    if lines and _MBOX_FROM.match(lines[0]):
        lines = lines[1:]
    complete = len(head) < 8192 or b"\n\n" in head.replace(b"\r\n", b"\n")
    if not complete:
        lines = lines[:-1]  # the last line may be cut off by the read
    first = _FIELD.match(lines[0]) if lines else None
    if first is not None and first.group(1).lower() in _EMAIL_HEADERS:
        return True
    names: list[bytes] = []
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
    with open_regular(path) as handle:  # never through a link, never blocked on a FIFO
        return handle.read(size)


def _bundle_parser(bundle: Path, context: IntakeContext) -> list[Submission]:
    files = {p.suffix.lower(): p for p in bundle.iterdir()}
    return parse_eform_pair(files[".json"], files[".pdf"], context)


def _lone_json(path: Path, context: IntakeContext) -> list[Submission]:
    raise InputFileError(
        f"e-form data {path.name} arrived without its PDF rendering",
        hint=f"deliver {Path(context.origin_name).stem}.pdf into the same folder first, then the JSON",
    )


def _unsupported(path: Path, original_name: str, head: bytes, seen: str | None = None) -> InputFileError:
    suffix = Path(original_name).suffix.lower() or "(no extension)"
    if seen is None:
        try:
            seen = magic.from_buffer(head) if head else "empty"
        except magic.MagicException:
            seen = "unknown data"
    return InputFileError(
        f"unsupported file type '{suffix}' (content: {seen}); noarkpipe reads {SUPPORTED}",
        hint="move the file to the right inbox or journal it by hand",
    )


def choose_parser(path: Path, original_name: str) -> tuple[Source, Parser]:
    """The source and parser for a claimed item, in the order of the module docstring; InputFileError when nothing reads it."""
    if path.is_dir():
        if is_fiks_message(path):
            return Source.fiks_arkiv, parse_fiks_folder
        return Source.eform, _bundle_parser
    suffix = Path(original_name).suffix.lower()
    head = _head(path)
    if not head:
        raise InputFileError(f"empty file (0 bytes): '{original_name}' has no content")
    signature = leading_signature(head)
    if signature == "zip":
        if is_fiks_zip(path):
            return Source.fiks_arkiv, parse_fiks_zip
        if sniff_eform(path) == "zip":
            return Source.eform, parse_eform_zip
        raise _unsupported(path, original_name, head, "a zip archive that is no e-form delivery (no manifest.json "
                                                       "or e-skjema envelope at its top level)")
    if signature == "ole" and suffix == ".msg":
        return Source.email, parse_msg
    if signature in SCAN_FORMATS:
        return Source.scan, parse_scan
    if signature is not None:
        raise _unsupported(path, original_name, head)
    eform = sniff_eform(path)
    if eform == "xml":
        return Source.eform, parse_eform_xml
    if eform == "json":
        return Source.eform, _lone_json
    if looks_like_email(head):
        return Source.email, parse_eml
    if head.removeprefix(_BOM).lstrip()[:1] in (b"<", b"{", b"["):
        raise _unsupported(path, original_name, head)
    if pdf_header_in_window(head):
        return Source.scan, parse_scan
    if suffix == ".eml":
        return Source.email, parse_eml
    raise _unsupported(path, original_name, head)
