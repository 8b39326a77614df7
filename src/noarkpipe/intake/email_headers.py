"""Header values of mail from the wild, read as the sender meant them.

Headers arrive in RFC 2047 encoded words, or as raw 8-bit bytes no standard
allows (which the stdlib parser keeps as surrogates and would show as '?'),
with address lists the header registry cannot parse and dates that are
missing or nonsense. The e-mail intake reads every header value, address,
date, part text and attachment file name through these functions, so a
letter's Fra, Emne and file names read the same wherever they are shown;
none of them stops intake.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from noarkpipe.clock import LOCAL_TIME
from noarkpipe.core.charsets import decode_text
from noarkpipe.core.submission import Party

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:\\|\\\\)")
_FILENAME_PARAM = re.compile(r'(?:^|;)\s*(?:file)?name\s*=\s*"([^"]*)"', re.IGNORECASE)


def unescape(text: str) -> str:
    """Raw 8-bit header bytes arrive as surrogates: decode them as UTF-8, else windows-1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_text(text.encode("utf-8", "surrogateescape"), None)


def header_text(message: Message, name: str) -> str:
    """A header as text. Raw 8-bit bytes (no RFC 2047) are decoded, not replaced by '?'."""
    raw = next((value for key, value in message.raw_items() if key.lower() == name), None)
    if raw is None:
        return ""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        text = unescape(raw)
        try:
            text = str(make_header(decode_header(text)))
        except (HeaderParseError, LookupError, UnicodeDecodeError):
            pass
    else:
        try:
            text = str(message.get(name))
        except Exception:  # the header registry raises on some malformed headers
            text = raw
    return re.sub(r"\s+", " ", text).strip()


def parties_of(message: Message, name: str) -> list[Party]:
    """The parties of an address header (From, To, Cc, Sender), also when the header registry cannot parse it."""
    try:
        header = message.get(name)
        addresses = list(header.addresses) if header is not None and hasattr(header, "addresses") else []
    except Exception:
        addresses = []
    if not addresses and message.get_all(name):
        raw = [str(v) for v in message.get_all(name)]
        return [
            Party(name=unescape(n) or None, email=unescape(e) or None) for n, e in getaddresses(raw) if n or e
        ]
    parties = []
    for address in addresses:
        if isinstance(address, Address):
            email = address.addr_spec if address.username else None
            parties.append(
                Party(name=unescape(address.display_name) or None, email=unescape(email) if email else None)
            )
    return [p for p in parties if p.name or p.email]


def sent_date(message: Message) -> datetime | None:
    """The Date header, if it is a date between 1970 and 2100; without a zone it is Oslo time."""
    raw = message.get_all("date")
    if not raw:
        return None
    try:
        sent = parsedate_to_datetime(str(raw[0]))
    except (TypeError, ValueError, IndexError):
        return None
    if sent is None or not 1970 <= sent.year <= 2100:
        return None
    return sent.replace(tzinfo=LOCAL_TIME) if sent.tzinfo is None else sent


def part_text(part: Message) -> str:
    """A text part decoded by its declared charset as far as that works (`decode_text`), with Unix line ends."""
    payload = part.get_payload(decode=True) or b""
    text = decode_text(payload, part.get_content_charset())
    return text.replace("\r\n", "\n")


def part_filename(part: Message) -> str:
    """The part's file name as the sender's program wrote it.

    A quoted name holding a Windows path ("C:\\TEMP\\x.png") loses its
    backslashes to quoted-string unescaping ("C:TEMPx.png"); the raw header
    keeps them, so the base name survives.
    """
    name = unescape(part.get_filename() or "")
    for key, value in part.raw_items():
        if key.lower() in ("content-disposition", "content-type"):
            quoted = _FILENAME_PARAM.search(str(value))
            if quoted and _WINDOWS_PATH.match(quoted.group(1)):
                return unescape(quoted.group(1))
    return name


def quoted_headers(part: Message) -> Message:
    """A text/rfc822-headers part read as the header block it quotes."""
    payload = part.get_payload(decode=True) or b""
    return BytesParser(policy=part.policy).parsebytes(payload.lstrip(b"\r\n"), headersonly=True)
