"""What an attachment is and what it is called: its type from the bytes when the sender's says nothing.

Mail programs declare attachments as application/octet-stream and the like,
or name them without a useful extension ('20592.3', 'ATT00001.dat'). The
e-mail intake asks the bytes (libmagic) instead and gives such a name the
extension of what the bytes show, so identification, the archivist and the
depot see the same type. An Outlook message is told by its OLE signature,
whatever it was declared as.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import magic

from noarkpipe.files.safety import safe_filename

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/tiff": ".tif",
    "image/bmp": ".bmp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "message/rfc822": ".eml",
}
# Declared types that say nothing about the content: the bytes are asked instead.
_GENERIC_TYPES = frozenset({
    "application/octet-stream", "application/x-octet-stream", "application/unknown", "application/x-unknown",
    "application/binary", "application/download", "application/force-download", "application/x-download",
})
_GENERIC_SUFFIXES = frozenset({"", ".bin", ".dat", ".tmp", ".att"})
_SNIFFED_NOTHING = frozenset({"application/octet-stream", "inode/x-empty", "application/x-empty"})
MSG_MEDIA_TYPES = frozenset({"application/vnd.ms-outlook", "application/x-msg", "application/x-outlook-msg"})
OLE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
"""Start of an OLE compound file ([MS-CFB]): an Outlook .msg, or an old Office document."""


def sniff_media_type(content: bytes) -> str | None:
    """The media type the bytes show (libmagic), or None when they show nothing specific."""
    if not content:
        return None
    try:
        found = magic.from_buffer(content[:262144], mime=True)
    except magic.MagicException:
        return None
    return None if not found or found in _SNIFFED_NOTHING else found


def is_outlook_message(media_type: str, filename: str, content: bytes) -> bool:
    return content.startswith(OLE_SIGNATURE) and (
        media_type in MSG_MEDIA_TYPES or filename.lower().endswith(".msg") or media_type in _GENERIC_TYPES
    )


def typed_name(content: bytes, declared: str | None, name: str | None, number: int) -> tuple[str, str]:
    """The media type and a safe file name of the `number`th attachment, the extension fitting the bytes."""
    media_type = declared or "application/octet-stream"
    if media_type in _GENERIC_TYPES or not (media_type in _EXTENSIONS or mimetypes.guess_extension(media_type)):
        media_type = sniff_media_type(content) or media_type
    extension = _EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"
    filename = safe_filename(name, f"vedlegg-{number}{extension}")
    stem, suffix = Path(filename).stem, Path(filename).suffix.lower()
    if suffix in _GENERIC_SUFFIXES and extension != ".bin":
        filename = f"{stem}{extension}" if suffix else f"{filename}{extension}"
    elif (suffix not in _GENERIC_SUFFIXES and suffix != extension and suffix not in mimetypes.types_map
          and extension != ".bin"):
        filename = f"{filename}{extension}"  # "20592.3": the dot was no extension
    return media_type, filename
