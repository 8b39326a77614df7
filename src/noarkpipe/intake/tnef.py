"""winmail.dat (TNEF, application/ms-tnef): Outlook's wrapper, unwrapped into text and files.

Outlook and Exchange sometimes send a message's body and attachments inside
one `winmail.dat` that no other mail program opens. A depot cannot take it
as a document and a reader cannot see what it holds, so it is unwrapped: its
body becomes text of the letter (plain text, else HTML, else the RTF body
read as text by the same reader as .msg files use), and the files it carries
become ordinary attachments. tnefparse reads the stream; compressed-rtf (an
extract-msg dependency) unpacks the RTF body.

A TNEF stream that cannot be read raises `TnefError`: the caller keeps it as
the part it is (it gets no archival copy and is flagged) and says so in the
text; it never costs the letter. Limits (`IntakeLimits`) bound what it may
unpack, and an embedded message nests no deeper than `max_nesting`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tnefparse import TNEF
from tnefparse import properties as mapi

from noarkpipe.core.context import IntakeLimits
from noarkpipe.errors import InputFileError
from noarkpipe.intake.email import html_to_text
from noarkpipe.intake.msg import decode_html, rtf_to_text

TNEF_MEDIA_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
SIGNATURE = b"\x78\x9f\x3e\x22"

# tnefparse logs every checksum mismatch and unknown attribute as a warning; for
# intake a damaged stream is a TnefError, and the noise would only fill the run log.
logging.getLogger("tnefparse").setLevel(logging.ERROR)


class TnefError(ValueError):
    """The TNEF stream cannot be read; the reason is in the message."""


@dataclass(frozen=True)
class TnefFile:
    name: str
    content: bytes
    media_type: str | None


@dataclass
class TnefContent:
    """What a winmail.dat carries: the body as text and the files."""

    subject: str = ""
    text: str = ""
    files: list[TnefFile] = field(default_factory=list)
    embedded: list[TnefContent] = field(default_factory=list)
    """Messages attached inside the stream (an Outlook item forwarded as attachment)."""


def is_tnef(media_type: str, filename: str, content: bytes) -> bool:
    """A TNEF part by its declared type, its customary name or its signature."""
    return (
        media_type in TNEF_MEDIA_TYPES
        or filename.lower() in ("winmail.dat", "win.dat")
        or content[:4] == SIGNATURE
    )


def decode(content: bytes, limits: IntakeLimits, depth: int = 0) -> TnefContent:
    """The text and files inside a TNEF stream; TnefError if it cannot be read, InputFileError over the limits."""
    if content[:4] != SIGNATURE:
        raise TnefError("it does not start with the TNEF signature")
    try:
        stream = TNEF(content, do_checksum=False)
    except Exception as exc:  # tnefparse raises whatever its struct reads hit on damaged data
        raise TnefError(f"the TNEF stream is damaged ({type(exc).__name__}: {exc})") from exc
    found = _content(stream, limits, depth)
    if not (found.text or found.files or found.embedded):
        raise TnefError("it holds neither text nor files that can be read")
    return found


def _content(stream: TNEF, limits: IntakeLimits, depth: int) -> TnefContent:
    result = TnefContent(subject=_subject(stream), text=_text(stream))
    total = 0
    for attachment in stream.attachments:
        embedded = getattr(attachment, "embed", None)
        if embedded is not None:
            if depth + 1 > limits.max_nesting:
                raise InputFileError(
                    f"messages inside winmail.dat are nested more than {limits.max_nesting} levels deep",
                    hint="raise max_nesting under [intake] in the config if such mail is expected",
                )
            result.embedded.append(_content(embedded, limits, depth + 1))
            continue
        data = attachment.data if isinstance(attachment.data, bytes) else b""
        total += len(data)
        if total > limits.max_unpacked_bytes:
            raise InputFileError(
                f"winmail.dat unpacks to more than {limits.max_unpacked_mb} MB",
                hint="raise max_unpacked_mb under [intake] in the config if such mail is expected",
            )
        if len(result.files) + 1 >= limits.max_documents:
            raise InputFileError(
                f"winmail.dat carries more than {limits.max_documents - 1} files",
                hint="raise max_documents under [intake] in the config if such mail is expected",
            )
        result.files.append(TnefFile(name=_name(attachment), content=data, media_type=_mime_tag(attachment)))
    return result


def _subject(stream: TNEF) -> str:
    for prop in stream.msgprops:
        if prop.name == TNEF.ATTSUBJECT and isinstance(prop.data, str):
            return prop.data.strip()
    for prop in stream.mapiprops:
        if prop.name == mapi.MAPI_SUBJECT and isinstance(prop.data, str):
            return prop.data.strip()
    return ""


def _text(stream: TNEF) -> str:
    body = stream.body
    if isinstance(body, bytes):
        body = body.decode(stream.codepage or "cp1252", errors="replace")
    if body and body.strip("\x00 \r\n"):
        return body.replace("\x00", "").replace("\r\n", "\n").strip()
    html = stream.htmlbody
    if html:
        return html_to_text(html if isinstance(html, str) else decode_html(html, None))
    try:
        rtf = stream.rtfbody
    except Exception as exc:  # compressed-rtf raises on a damaged RTF body
        raise TnefError(f"its RTF body cannot be unpacked ({type(exc).__name__}: {exc})") from exc
    return rtf_to_text(rtf) if rtf else ""


def _name(attachment) -> str:
    try:
        name = attachment.long_filename()
    except UnicodeDecodeError:
        # tnefparse reads the short name as UTF-8; Outlook writes it in the ANSI code page.
        raw = attachment._name
        name = raw.decode("cp1252", errors="replace") if isinstance(raw, bytes) else str(raw)
    if isinstance(name, bytes):
        name = name.decode("cp1252", errors="replace")
    return (name or "").strip("\x00 ")


def _mime_tag(attachment) -> str | None:
    for prop in attachment.mapi_attrs:
        if prop.name == mapi.MAPI_ATTACH_MIME_TAG and isinstance(prop.data, str) and "/" in prop.data:
            return prop.data.strip().lower()
    return None
