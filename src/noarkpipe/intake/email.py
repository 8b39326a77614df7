"""E-mail (.eml, RFC 5322/MIME) → Submission.

The body becomes the main document: a readable UTF-8 text with the header
block (Fra, Til, Kopi, Dato, Emne), the text and the list of attachments.
Attachments and inline images become attachments. A forwarded message
(message/rfc822) is kept whole as its own `.eml` attachment, so it keeps its
structure, and its text is added to the body text for classification.

Mail from the wild is messy: headers in RFC 2047 encoded words, bodies in
charsets that lie (iso-8859-1 that is really windows-1252), dates that are
missing or nonsense. None of that stops intake; only a file that is not an
e-mail at all does.
"""

from __future__ import annotations

import re
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree, html

from dataclasses import replace

from ..errors import InputFileError
from . import archive
from .context import IntakeContext, IntakeLimits
from .safety import require_size, safe_filename
from .submission import DocumentRole, Party, Source, Submission, SubmissionDocument

LOCAL_TIME = ZoneInfo("Europe/Oslo")
MAIN_FILENAME = "e-post.txt"
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
_KNOWN_HEADERS = ("from", "to", "subject", "date", "message-id", "mime-version", "received")
# Labels mislabelled in practice: windows-1252 is a superset of latin-1's printable range.
_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252"}


def parse_eml(path: Path, context: IntakeContext) -> list[Submission]:
    """One e-mail file → one Submission; InputFileError if it is not an e-mail."""
    size = path.stat().st_size
    if size == 0:
        raise InputFileError("empty file (0 bytes): not an e-mail", hint="ask the sender to send it again")
    require_size(size, context.limits.max_file_bytes, "the e-mail file")
    raw = path.read_bytes()
    message = _parse_message(raw)
    return [_submission(message, context)]


def _parse_message(raw: bytes) -> EmailMessage:
    head = raw[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    if b"\x00" in head:
        raise InputFileError("binary data where e-mail headers should be: not an RFC 5322 e-mail")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    present = {key.lower() for key in message.keys()}
    if not present & set(_KNOWN_HEADERS):
        raise InputFileError(
            "no e-mail headers (From, To, Subject, Date, Message-ID) found: not an RFC 5322 e-mail",
            hint="check that the file really is an e-mail; Outlook files must end in .msg",
        )
    return message


def _unescape(text: str) -> str:
    """Raw 8-bit header bytes arrive as surrogates: decode them as UTF-8, else windows-1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_text(text.encode("utf-8", "surrogateescape"), None)


def _header(message: Message, name: str) -> str:
    """A header as text. Raw 8-bit bytes (no RFC 2047) are decoded, not replaced by '?'."""
    raw = next((value for key, value in message.raw_items() if key.lower() == name), None)
    if raw is None:
        return ""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        text = _unescape(raw)
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


def _addresses(message: Message, name: str) -> list[Party]:
    try:
        header = message.get(name)
        addresses = list(header.addresses) if header is not None and hasattr(header, "addresses") else []
    except Exception:
        addresses = []
    if not addresses and message.get_all(name):
        raw = [str(v) for v in message.get_all(name)]
        return [
            Party(name=_unescape(n) or None, email=_unescape(e) or None) for n, e in getaddresses(raw) if n or e
        ]
    parties = []
    for address in addresses:
        if isinstance(address, Address):
            email = address.addr_spec if address.username else None
            parties.append(
                Party(name=_unescape(address.display_name) or None, email=_unescape(email) if email else None)
            )
    return [p for p in parties if p.name or p.email]


def _date(message: Message) -> datetime | None:
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


def decode_text(payload: bytes, charset: str | None) -> str:
    """Bytes of a text part → str, trusting the declared charset only as far as it works."""
    candidates = []
    if charset:
        candidates.append(_CHARSET_ALIASES.get(charset.lower(), charset))
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", "replace")


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    text = decode_text(payload, part.get_content_charset())
    return text.replace("\r\n", "\n")


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body; scripts, styles and remote content are ignored."""
    if not markup.strip():
        return ""
    try:
        parser = html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
        document = html.document_fromstring(markup, parser=parser)
    except (etree.ParserError, ValueError):
        return re.sub(r"<[^>]+>", " ", markup)
    for element in list(document.iter("script", "style", "head", "title")):
        element.drop_tree()
    for element in document.iter("td", "th"):
        element.tail = " " + (element.tail or "")
    for element in document.iter("li"):
        element.text = "- " + (element.text or "")
    for element in document.iter("br"):
        element.tail = "\n" + (element.tail or "")
    for element in document.iter("p", "div", "tr", "li", "h1", "h2", "h3", "h4", "blockquote"):
        element.tail = "\n" + (element.tail or "")
    text = document.text_content()
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/tiff": ".tif",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
}


class _Collector:
    """Walks the MIME tree once: body text, attachments, forwarded messages."""

    def __init__(self, limits: IntakeLimits) -> None:
        self.limits = limits
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[SubmissionDocument] = []
        self.forwarded_text: list[str] = []
        self.signed = False
        self._names: set[str] = set()

    def walk(self, part: Message, depth: int = 0) -> None:
        if depth > self.limits.max_nesting:
            raise InputFileError(
                f"forwarded messages nested deeper than {self.limits.max_nesting} levels",
                hint="raise intake max_nesting in the config if such mail is expected",
            )
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        if content_type == "message/rfc822":
            self._forwarded(part, depth)
        elif content_type.startswith("message/"):
            # Delivery reports and the like: keep their text as received.
            body = part.as_bytes(policy=policy.default.clone(max_line_length=None)).split(b"\n\n", 1)[-1]
            self._add(body, "text/plain", f"{content_type.split('/')[1]}.txt", content_type)
        elif content_type in SIGNATURE_TYPES and not part.is_multipart():
            # A detached S/MIME signature signs the message; it is no document of its own.
            # The message is kept whole as received, signature included (the stored original).
            self.signed = True
        elif part.is_multipart():
            children = part.get_payload()
            if content_type == "multipart/alternative":
                children = self._preferred_alternative(children)
            for child in children:
                self.walk(child, depth)
        elif disposition == "attachment" or (part.get_filename() and disposition != "inline"):
            self._attachment(part, "Vedlegg")
        elif content_type == "text/plain":
            self.plain.append(_part_text(part))
        elif content_type == "text/html":
            self.html.append(_part_text(part))
        else:
            self._attachment(part, "Innebygd vedlegg" if disposition == "inline" else "Vedlegg")

    @staticmethod
    def _preferred_alternative(children: list[Message]) -> list[Message]:
        # The plain version is what the sender wrote as text; HTML only when there is none.
        plain = [c for c in children if c.get_content_type() == "text/plain"]
        rest = [c for c in children if c.get_content_type() not in ("text/plain", "text/html")]
        if plain:
            return plain[:1] + rest
        return children

    def _forwarded(self, part: Message, depth: int) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if inner is None:
            self._attachment(part, "Videresendt melding")
            return
        raw = inner.as_bytes(policy=policy.default.clone(max_line_length=None))
        subject = _header(inner, "subject") or "(uten emne)"
        self._add(
            raw,
            "message/rfc822",
            part.get_filename() or f"{subject}.eml",
            f"Videresendt melding: {subject}",
        )
        nested = _Collector(self.limits)
        nested.walk(inner, depth + 1)
        header = "\n".join(
            f"{label}: {_header(inner, name)}"
            for label, name in (("Fra", "from"), ("Dato", "date"), ("Emne", "subject"))
            if _header(inner, name)
        )
        self.forwarded_text.append(f"--- Videresendt melding ---\n{header}\n\n{nested.body_text()}")
        self.forwarded_text.extend(nested.forwarded_text)

    def _attachment(self, part: Message, title_prefix: str) -> None:
        content = part.get_payload(decode=True)
        if content is None:
            payload = part.get_payload()
            content = payload.encode("utf-8") if isinstance(payload, str) else b""
        name = _unescape(part.get_filename() or "")
        extension = _EXTENSIONS.get(part.get_content_type(), ".bin")
        if not name and part.get("content-id"):
            name = str(part["content-id"]).strip("<> ").split("@")[0] + extension
        fallback = f"vedlegg-{len(self.attachments) + 1}{extension}"
        filename = safe_filename(name, fallback)
        self._add(content, part.get_content_type(), filename, f"{title_prefix}: {filename}" if title_prefix != "Vedlegg" else filename)

    def _add(self, content: bytes, media_type: str, filename: str, title: str) -> None:
        require_size(len(content), self.limits.max_document_bytes, f"attachment '{filename}'")
        if len(self.attachments) + 1 >= self.limits.max_documents:
            raise InputFileError(
                f"more than {self.limits.max_documents - 1} attachments",
                hint="raise intake max_documents in the config if such mail is expected",
            )
        filename = self._unique(safe_filename(filename, "vedlegg"))
        self.attachments.append(
            SubmissionDocument(
                filename=filename, media_type=media_type, content=content, role=DocumentRole.attachment, title=title
            )
        )

    def _unique(self, filename: str) -> str:
        stem, dot, suffix = filename.rpartition(".")
        if not dot:
            stem, suffix = filename, ""
        candidate, counter = filename, 2
        while candidate.lower() in self._names or candidate.lower() == MAIN_FILENAME:
            candidate = f"{stem}-{counter}{dot}{suffix}"
            counter += 1
        self._names.add(candidate.lower())
        return candidate

    def unpack_zips(self, context: IntakeContext) -> None:
        """Zip attachments become their files: a zip is a wrapper, not a document a depot accepts.

        Read with the same checks as a zip delivery (archive.read_zip: no climbing
        paths, links, encryption or bombs; nested zips unpacked within the limits).
        The e-mail as received, zip and all, is kept as the item's original.
        """
        unpacked: list[SubmissionDocument] = []
        for document in self.attachments:
            if not archive.is_archive(document.content):
                unpacked.append(document)
                continue
            label = f"attachment '{document.filename}'"
            members = archive.read_zip(document.content, replace(context, origin_name=label), expand_nested=True)
            if not members:
                raise InputFileError(f"{label} is an empty zip", hint="ask the sender to send the files themselves")
            for member in members:
                name = member.name.replace("/", " - ")
                unpacked.append(SubmissionDocument(
                    filename=safe_filename(name, "vedlegg"), media_type="application/octet-stream",
                    content=member.content, role=DocumentRole.attachment,
                    title=f"{document.filename}: {member.name}",
                ))
        if len(unpacked) + 1 > self.limits.max_documents:
            raise InputFileError(
                f"more than {self.limits.max_documents - 1} attachments once zips are unpacked",
                hint="raise intake max_documents in the config if such mail is expected",
            )
        self._names = set()
        self.attachments = []
        for document in unpacked:
            self.attachments.append(document.model_copy(update={"filename": self._unique(document.filename)}))

    def body_text(self) -> str:
        if any(text.strip() for text in self.plain):
            text = "\n\n".join(self.plain)
        else:
            text = "\n\n".join(html_to_text(markup) for markup in self.html)
        if self.signed:
            text = f"{text.strip()}\n\n{SIGNED_NOTE}"
        return text.strip()


SIGNATURE_TYPES = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature"})
SIGNED_NOTE = "[Meldingen var signert (S/MIME). Signaturen er bevart i den opprinnelige e-posten.]"


def _format_parties(parties: list[Party]) -> str:
    return ", ".join(
        f"{p.name} <{p.email}>" if p.name and p.email else (p.name or p.email or "") for p in parties
    )


def render_main_document(
    sender: list[Party], to: list[Party], cc: list[Party], sent: datetime | None, subject: str,
    body: str, attachments: list[SubmissionDocument],
) -> str:
    """The e-mail as a readable document: header block, text, list of attachments."""
    lines = [
        f"Fra:   {_format_parties(sender)}",
        f"Til:   {_format_parties(to)}",
    ]
    if cc:
        lines.append(f"Kopi:  {_format_parties(cc)}")
    lines.append(f"Dato:  {sent.astimezone(LOCAL_TIME):%d.%m.%Y %H:%M} " if sent else "Dato:  (ukjent)")
    lines.append(f"Emne:  {subject}")
    lines += ["", body or "(ingen tekst)", ""]
    if attachments:
        lines.append("Vedlegg:")
        lines += [f"  - {a.filename}" for a in attachments]
    return "\n".join(line.rstrip() for line in lines).strip() + "\n"


def _submission(message: EmailMessage, context: IntakeContext) -> Submission:
    collector = _Collector(context.limits)
    collector.walk(message)
    collector.unpack_zips(context)
    subject = _header(message, "subject")
    senders = _addresses(message, "from") or _addresses(message, "sender")
    to, cc = _addresses(message, "to"), _addresses(message, "cc")
    sent = _date(message)
    body = collector.body_text()
    main = SubmissionDocument(
        filename=MAIN_FILENAME,
        media_type=TEXT_MEDIA_TYPE,
        content=render_main_document(senders, to, cc, sent, subject, body, collector.attachments).encode("utf-8"),
        role=DocumentRole.main,
        title=subject or "E-post uten emne",
    )
    body_text = "\n\n".join([body, *collector.forwarded_text]).strip()
    return Submission(
        source=Source.email,
        origin_name=context.origin_name,
        sender=senders[0] if senders else None,
        recipients=to + cc,
        subject=subject,
        sent=sent,
        received=context.received,
        body_text=body_text,
        message_id=_header(message, "message-id") or None,
        documents=[main, *collector.attachments],
    )
