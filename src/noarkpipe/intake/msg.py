"""Outlook .msg files: one e-mail saved from Outlook becomes one Submission.

The message body becomes the main document, a readable UTF-8 text file with
the sender, recipients, date and subject on top, so the archival copy says who
wrote to whom even without the original mail client. Every attachment becomes
an attachment document as received. An attached (forwarded) Outlook message
becomes an `.eml` document written from what it says (`as_eml`), so it gets an
archival copy typeset like any forwarded e-mail (no depot takes .msg), and its
text is added to `body_text` so classification sees it. The original .msg
stays inside the stored original file. `read_attached` reads a .msg that
arrived as an attachment of an .eml the same way.

extract-msg does the reading of the OLE compound file and its MAPI properties;
everything it raises is turned into an `InputFileError` saying what is wrong
with the file, so a broken file is quarantined, never half taken in.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address, Group
from email.message import EmailMessage
from email.parser import HeaderParser
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path

import extract_msg
from extract_msg.attachments import EmbeddedMsgAttachment, WebAttachment
from extract_msg.enums import ErrorBehavior
from extract_msg.msg_classes import MessageBase
from extract_msg.null_date import NullDate

from noarkpipe.clock import LOCAL_TIME
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.email_document import MAIN_FILENAME, TEXT_MEDIA_TYPE, render_main_document
from noarkpipe.core.submission import DocumentRole, Party, Source, Submission, SubmissionDocument
from noarkpipe.errors import InputFileError, UnreadableMessage
from noarkpipe.files.safety import require_size, safe_filename
from noarkpipe.intake import email_guard
from noarkpipe.intake.attachment_names import OLE_SIGNATURE
from noarkpipe.intake.email import html_to_text

MSG_MEDIA_TYPE = "application/vnd.ms-outlook"

# MAPI property tags read directly ([MS-OXPROPS]); extract-msg has no accessor
# that keeps name and address apart or prefers the "on behalf of" sender.
_SENT_REPRESENTING_NAME = "__substg1.0_0042"
_SENT_REPRESENTING_SMTP = "__substg1.0_5D02"
_SENT_REPRESENTING_ADDRESS = "__substg1.0_0065"
_SENDER_NAME = "__substg1.0_0C1A"
_SENDER_SMTP = "__substg1.0_5D01"
_SENDER_ADDRESS = "__substg1.0_0C1F"
_INTERNET_CPID = "3FDE0003"
_HTML = "__substg1.0_10130102"
_RECIPIENT_TO, _RECIPIENT_CC = 1, 2


@dataclass(frozen=True)
class _Mail:
    """What one message (the file, or a message attached to it) says, read out of extract-msg."""

    subject: str
    sender: Party | None
    to: tuple[Party, ...]
    cc: tuple[Party, ...]
    sent: datetime | None
    message_id: str | None
    body: str
    attachment_names: tuple[str, ...]
    links: tuple[str, ...]
    forwarded: tuple[_Mail, ...]


@dataclass(frozen=True)
class _File:
    name: str | None
    media_type: str | None
    content: bytes
    mail: _Mail | None = None
    """For an attached Outlook message: what it says."""


def parse_msg(path: Path, context: IntakeContext) -> list[Submission]:
    """One Submission for the Outlook message in `path`; `InputFileError` if it cannot be taken in."""
    _require_ole_file(path, context.limits)
    mail, files = _read(path, path.name, context.limits)
    return [_submission(mail, files, context)]


def read_attached(content: bytes, label: str, limits: IntakeLimits, depth: int) -> tuple[_Mail, list[_File]]:
    """An Outlook message that arrived as an attachment, `depth` messages deep.

    `UnreadableMessage` if it is not one or is damaged (the caller keeps it as a
    part), `InputFileError` if it goes over the limits (the item is refused).
    """
    if not content.startswith(OLE_SIGNATURE):
        raise UnreadableMessage(f"{label} is not an Outlook .msg file: {_what_it_looks_like(content[:512])}")
    if depth > limits.max_nesting:
        raise InputFileError(
            f"messages are attached inside each other more than {limits.max_nesting} levels deep",
            hint="raise max_nesting under [intake] in the config if such mail is expected",
        )
    return _read(content, label, limits, depth)


def _require_ole_file(path: Path, limits: IntakeLimits) -> None:
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read: {exc.strerror or exc}") from exc
    if size == 0:
        raise InputFileError(f"{path.name} is empty (0 bytes)", hint="ask the sender to send it again")
    require_size(size, limits.max_file_bytes, path.name)
    if not head.startswith(OLE_SIGNATURE):
        raise InputFileError(
            f"{path.name} is not an Outlook .msg file: {_what_it_looks_like(head)}",
            hint="if it is another kind of file, give it the right extension and put it back in the inbox",
        )


def _what_it_looks_like(head: bytes) -> str:
    if head.startswith(b"%PDF"):
        return "it is a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "it is a zip file (or a .docx/.xlsx)"
    text = head.lstrip().lower()
    if re.match(rb"(received|return-path|from|date|subject|message-id|mime-version|delivered-to|to):", text):
        return "it looks like an .eml e-mail file (rename it to .eml)"
    if len(head) < len(OLE_SIGNATURE):
        return f"it has only {len(head)} bytes"
    return "it does not start with the OLE compound-file signature"


def _read(source: Path | bytes, label: str, limits: IntakeLimits, depth: int = 0) -> tuple[_Mail, list[_File]]:
    try:
        # RTFDE trips over some real-world RTF; then the RTF body is read by `rtf_to_text` instead.
        opened = str(source) if isinstance(source, Path) else source
        msg = extract_msg.openMsg(opened, errorBehavior=ErrorBehavior.RTFDE)
    except Exception as exc:
        raise UnreadableMessage(f"{label} cannot be opened as an Outlook message: {_reason(exc)}") from exc
    try:
        if not isinstance(msg, MessageBase):
            raise UnreadableMessage(
                f"{label} is an Outlook '{msg.classType}' item, not an e-mail",
                hint="save the e-mail itself from Outlook (File > Save As > Outlook Message Format)",
            )
        mail = _read_mail(msg, limits, depth=depth)
        return mail, _read_files(msg, mail, limits)
    except InputFileError:
        raise
    except Exception as exc:
        raise UnreadableMessage(f"{label} is a damaged Outlook message: {_reason(exc)}") from exc
    finally:
        msg.close()


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    # Only the wording depends on these library messages; any exception is an unreadable file.
    if "not an MSG file" in text or "does not contain a property stream" in text:
        return "it is an OLE compound file but not an Outlook message (an old Word or Excel file?)"
    if "not an OLE2 structured storage" in text:
        return "it is not an OLE compound file"
    return text


def _read_mail(msg: MessageBase, limits: IntakeLimits, depth: int) -> _Mail:
    _require_bounded_headers(msg, limits)
    names, links, forwarded = [], [], []
    for attachment in msg.attachments:
        if isinstance(attachment, WebAttachment):
            links.append(f"{attachment.name or 'lenke'}: {attachment.url or '(ingen adresse)'}")
            continue
        names.append(attachment.name or "")
        if isinstance(attachment, EmbeddedMsgAttachment) and isinstance(attachment.data, MessageBase):
            if depth + 1 > limits.max_nesting:
                raise InputFileError(
                    f"messages are attached inside each other more than {limits.max_nesting} levels deep",
                    hint="raise max_nesting under [intake] in the config if such mail is expected",
                )
            forwarded.append(_read_mail(attachment.data, limits, depth + 1))
    to, cc = _recipients(msg)
    for field, parties in (("To", to), ("Cc", cc)):
        # Written into the .eml of a forwarded message (as_eml), which the stdlib parses again.
        if len(parties) > limits.max_addresses:
            raise email_guard.over_limit(f"the Outlook message has {len(parties)} recipients in its {field} field",
                                         "max_addresses", limits.max_addresses)
    return _Mail(
        subject=_clean(msg.subject or ""),
        sender=_sender(msg),
        to=to,
        cc=cc,
        sent=_sent(msg),
        message_id=(msg.messageId or "").strip() or None,
        body=_body(msg),
        attachment_names=tuple(names),
        links=tuple(links),
        forwarded=tuple(forwarded),
    )


def _require_bounded_headers(msg: MessageBase, limits: IntakeLimits) -> None:
    """The e-mail header limits (intake/email_guard.py) on what of the message the stdlib parses.

    That is the Internet header block Outlook kept (parsed for From and Date)
    and the subject, which `as_eml` writes into a header; both measured as
    text before any parser reads them.
    """
    if text := msg.headerText:
        head = text.removeprefix("Microsoft Mail Internet Headers Version 2.0").lstrip()
        email_guard.check_head(head.encode("utf-8", "surrogateescape"), limits,
                               where="the Internet headers kept in the Outlook message")
    subject = msg.subject or ""
    if len(subject.encode("utf-8", "surrogateescape")) > limits.max_header_kb * 1024:
        raise email_guard.over_limit(f"the subject of the Outlook message has more than {limits.max_header_kb} KB",
                                     "max_header_kb", limits.max_header_kb)


def _read_files(msg: MessageBase, mail: _Mail, limits: IntakeLimits) -> list[_File]:
    attachments = [a for a in msg.attachments if not isinstance(a, WebAttachment)]
    if 1 + len(attachments) > limits.max_documents:
        raise InputFileError(
            f"the message has {len(attachments)} attachments; at most {limits.max_documents - 1} are taken in",
            hint="raise max_documents under [intake] in the config if such mail is expected",
        )
    files = []
    forwarded = iter(mail.forwarded)  # in the order _read_mail met them
    for attachment in attachments:
        inner = None
        if isinstance(attachment, EmbeddedMsgAttachment):
            name = attachment.name or "melding.msg"
            content, media_type = attachment.data.exportBytes(), MSG_MEDIA_TYPE
            if isinstance(attachment.data, MessageBase):
                inner = next(forwarded, None)
        else:
            name, content, media_type = attachment.name, attachment.data, attachment.mimetype
        if not isinstance(content, bytes):
            raise InputFileError(f"the attachment '{name}' has no readable content ({type(attachment).__name__})")
        require_size(len(content), limits.max_document_bytes, f"the attachment '{name}'")
        files.append(_File(name=name, media_type=media_type, content=content, mail=inner))
    return files


def _sender(msg: MessageBase) -> Party | None:
    header_from = _header(msg, "From")
    addresses = getattr(header_from, "addresses", ())
    if addresses:
        return Party(name=_clean(addresses[0].display_name) or None, email=_smtp(addresses[0].addr_spec))
    # "Sent representing" is whom the mail is from when a secretary sends on someone's behalf.
    name = msg.getStringStream(_SENT_REPRESENTING_NAME) or msg.getStringStream(_SENDER_NAME)
    address = next(
        filter(None, (_smtp(msg.getStringStream(s)) for s in (
            _SENT_REPRESENTING_SMTP, _SENT_REPRESENTING_ADDRESS, _SENDER_SMTP, _SENDER_ADDRESS,
        ))),
        None,
    )
    if not name and not address:
        return None
    return Party(name=_clean(name or "") or None, email=address)


def _recipients(msg: MessageBase) -> tuple[tuple[Party, ...], tuple[Party, ...]]:
    # Bcc is left out: on received mail it can only name the post mailbox itself.
    to, cc = [], []
    for recipient in msg.recipients:
        party = Party(name=_clean(recipient.name or "") or None, email=_smtp(recipient.email))
        kind = int(recipient.type)
        if kind == _RECIPIENT_TO:
            to.append(party)
        elif kind == _RECIPIENT_CC:
            cc.append(party)
    return tuple(to), tuple(cc)


def _sent(msg: MessageBase) -> datetime | None:
    sent = msg.date
    if sent is None or isinstance(sent, NullDate):
        header_date = _header(msg, "Date")
        sent = getattr(header_date, "datetime", None)
    if sent is None:
        return None
    # A FILETIME is UTC; only dates before 1970 come back from olefile without a zone.
    return sent.replace(tzinfo=UTC) if sent.tzinfo is None else sent.astimezone(UTC)


def _header(msg: MessageBase, name: str):
    """The parsed header `name` of the Internet headers Outlook kept, if it kept them and it parses."""
    text = msg.headerText
    if not text:
        return None
    text = text.removeprefix("Microsoft Mail Internet Headers Version 2.0").lstrip()
    try:
        return HeaderParser(policy=default_policy).parsestr(text).get(name)
    except (TypeError, ValueError, IndexError, AttributeError):
        return None


def _body(msg: MessageBase) -> str:
    if msg.body:
        text = msg.body
    elif html := msg.getStream(_HTML):
        text = html_to_text(decode_html(html, msg.getPropertyVal(_INTERNET_CPID)))
    elif msg.htmlBody:
        # HTML unwrapped from the RTF body by RTFDE, which hands it back as UTF-8.
        text = html_to_text(msg.htmlBody.decode("utf-8", errors="replace"))
    elif msg.rtfBody:
        text = rtf_to_text(msg.rtfBody)
    else:
        text = ""
    return _clean_block(text)


def _smtp(address: str | None) -> str | None:
    """An Internet address, or None for Exchange-internal ones ('/O=ORG/OU=...')."""
    address = (address or "").strip()
    return address if "@" in address and not address.startswith("/") else None


def _clean(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def _clean_block(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _submission(mail: _Mail, files: list[_File], context: IntakeContext) -> Submission:
    """The Submission for a message read out of a .msg file; pure.

    The main document and the text of forwarded messages are laid out as for
    .eml mail (`core.email_document.render_main_document`), so both read the same in the archive.
    """
    documents = _documents(files, {MAIN_FILENAME}, context.limits, depth=1, prefix="")
    body = mail.body
    if mail.links:
        body += "\n\nLenker til delte filer (ikke vedlagt):\n" + "\n".join(f"- {link}" for link in mail.links)
    main_text = render_main_document(
        [mail.sender] if mail.sender else [], list(mail.to), list(mail.cc), mail.sent, mail.subject, body, documents
    )
    main = SubmissionDocument(
        filename=MAIN_FILENAME,
        media_type=TEXT_MEDIA_TYPE,
        content=main_text.encode("utf-8"),
        role=DocumentRole.main,
        title=mail.subject or "E-post uten emne",
    )
    return Submission(
        source=Source.email,
        origin_name=context.origin_name,
        sender=mail.sender,
        recipients=[*mail.to, *mail.cc],
        subject=mail.subject,
        sent=mail.sent,
        received=context.received,
        body_text="\n\n".join([mail.body, *_forwarded_texts(mail)]).strip(),
        message_id=mail.message_id,
        documents=[main, *documents],
    )


def _documents(
    files: list[_File], taken: set[str], limits: IntakeLimits, depth: int, prefix: str
) -> list[SubmissionDocument]:
    """The attachments as documents; an attached message as its .eml, then its own attachments.

    The .eml gets an archival copy like every forwarded e-mail (no depot takes
    .msg); the files it carried are titled after its subject, to `max_nesting`.
    """
    documents = []
    for number, file in enumerate(files, start=1):
        fallback = f"vedlegg-{number}{mimetypes.guess_extension(file.media_type or '') or '.bin'}"
        if file.mail is not None:
            stem = Path(safe_filename(file.name, f"melding-{number}.msg")).stem
            filename = unique_filename(f"{stem}.eml", taken)
            taken.add(filename)
            documents.append(SubmissionDocument(
                filename=filename, media_type="message/rfc822", content=as_eml(file.mail),
                role=DocumentRole.attachment, title=f"Videresendt melding: {file.mail.subject or stem}",
            ))
            _, inner_files = read_attached(file.content, f"the attached message '{file.name}'", limits, depth)
            documents += _documents(inner_files, taken, limits, depth + 1, file.mail.subject or stem)
            continue
        filename = unique_filename(safe_filename(file.name, fallback), taken)
        taken.add(filename)
        documents.append(
            SubmissionDocument(
                filename=filename,
                media_type=file.media_type or mimetypes.guess_type(filename)[0] or "application/octet-stream",
                content=file.content,
                role=DocumentRole.attachment,
                title=f"{prefix}: {filename}" if prefix else filename,
            )
        )
    if len(documents) + 1 > limits.max_documents:
        raise InputFileError(
            f"the message and the messages attached to it have {len(documents)} attachments; "
            f"at most {limits.max_documents - 1} are taken in",
            hint="raise max_documents under [intake] in the config if such mail is expected",
        )
    return documents


def unique_filename(name: str, taken: set[str]) -> str:
    """`name`, or `name-2.ext`, `name-3.ext`, ... if a document of the submission already has it."""
    used = {t.lower() for t in taken}
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, dot, suffix = name, "", ""
    candidate, counter = name, 2
    while candidate.lower() in used:
        candidate, counter = f"{stem}-{counter}{dot}{suffix}", counter + 1
    return candidate


def _forwarded_texts(mail: _Mail) -> list[str]:
    """The messages attached to `mail`, nested ones after their parent, as text for classification."""
    texts = []
    for inner in mail.forwarded:
        texts.append(forwarded_text(inner))
        texts.extend(_forwarded_texts(inner))
    return texts


def forwarded_text(mail: _Mail) -> str:
    """One forwarded message as text for classification: a short header block, then its body."""
    header = [f"Fra: {_format_party(mail.sender)}"] if mail.sender else []
    if mail.sent:
        header.append(f"Dato: {mail.sent.astimezone(LOCAL_TIME):%d.%m.%Y %H:%M}")
    header.append(f"Emne: {mail.subject}")
    if mail.attachment_names:
        header.append("Vedlegg: " + ", ".join(mail.attachment_names))
    return "--- Videresendt melding ---\n" + "\n".join(header) + "\n\n" + mail.body


def as_eml(mail: _Mail) -> bytes:
    """An Outlook message written as the .eml a mail program would have saved: headers and text.

    Its attachments are not repeated inside: they are documents of their own,
    and the .msg itself, attachments and all, stays in the stored original. The
    body lists their names, so the typeset copy says what came with it.
    """
    message = EmailMessage(policy=default_policy)
    # The header block a mail program writes, so format identification knows the file:
    # PRONOM's MIME Email (fmt/950) wants MIME-Version, From, To, Date and Content-Type,
    # and libmagic knows an e-mail by its first header. A message saved without
    # recipients (a draft, a Bcc-only mail) gets the empty group RFC 5322 has for it.
    message["From"] = _addresses([mail.sender] if mail.sender else [], "undisclosed-sender")
    message["To"] = _addresses(mail.to, "undisclosed-recipients")
    if mail.cc:
        message["Cc"] = _addresses(mail.cc, "undisclosed-recipients")
    if mail.sent:
        # No date is made up for a message that has none; without it the file is no fmt/950.
        message["Date"] = format_datetime(mail.sent)
    message["Subject"] = mail.subject
    if mail.message_id:
        message["Message-ID"] = mail.message_id
    message["MIME-Version"] = "1.0"
    body = mail.body
    names = [n for n in mail.attachment_names if n]
    if names:
        body += "\n\nVedlegg i den opprinnelige meldingen:\n" + "\n".join(f"- {n}" for n in names)
    if mail.links:
        body += "\n\nLenker til delte filer (ikke vedlagt):\n" + "\n".join(f"- {link}" for link in mail.links)
    message.set_content(body or "(ingen tekst)", charset="utf-8")
    return message.as_bytes(policy=default_policy.clone(linesep="\r\n"))


def _addresses(parties, empty: str) -> Group:
    """Parties as a header value; one without an Internet address becomes an empty group named after it."""
    members, names = [], []
    for party in parties:
        try:
            if not party.email:
                raise ValueError("no address")
            members.append(Address(display_name=party.name or "", addr_spec=party.email))
        except (ValueError, IndexError, HeaderParseError):
            names.append(party.name or party.email or "")
    if members:
        return Group(None, members)
    return Group(", ".join(filter(None, names)) or empty, ())


def _format_party(party: Party) -> str:
    if party.name and party.email:
        return f"{party.name} <{party.email}>"
    return party.name or party.email or ""


def decode_html(data: bytes, codepage: int | None) -> str:
    """HTML bytes as text: the charset the HTML declares, else the message's code page, else UTF-8."""
    declared = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.IGNORECASE)
    candidates = [declared.group(1).decode("ascii") if declared else None]
    if codepage:
        candidates.append("utf-8" if codepage == 65001 else f"cp{codepage}")
    for encoding in [*filter(None, candidates), "utf-8"]:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")


# RTF destinations whose content is never body text.
_RTF_SKIP = {
    "fonttbl", "colortbl", "stylesheet", "info", "pict", "object", "header", "footer", "headerl",
    "headerr", "footerl", "footerr", "themedata", "colorschememapping", "datastore", "latentstyles",
    "listtable", "listoverridetable", "rsidtbl", "xmlnstbl", "generator", "filetbl", "revtbl",
    "mmathPr", "fldinst", "pgdsctbl", "operator", "author",
}
_RTF_TOKEN = re.compile(rb"\\([a-zA-Z]+)(-?\d+)? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|([^\\{}\r\n]+)|[\r\n]+", re.DOTALL)


def rtf_to_text(rtf: bytes) -> str:
    """Plain text of an RTF body that does not wrap HTML or text (Outlook's own RTF mail)."""
    codepage = "cp1252"
    out: list[str] = []
    skip_stack: list[tuple[bool, int]] = []
    skipping, unicode_skip, pending_skip = False, 1, 0
    star = False
    for word, argument, hex_byte, symbol, brace, text in _RTF_TOKEN.findall(rtf):
        if brace == b"{":
            skip_stack.append((skipping, unicode_skip))
            continue
        if brace == b"}":
            skipping, unicode_skip = skip_stack.pop() if skip_stack else (False, 1)
            continue
        if pending_skip and (text or hex_byte):
            # \uN is followed by N fallback characters for readers without Unicode.
            if text:
                dropped = min(pending_skip, len(text))
                text, pending_skip = text[dropped:], pending_skip - dropped
            else:
                pending_skip -= 1
                continue
        if word:
            name = word.decode("ascii")
            if name in _RTF_SKIP or star:
                skipping = True
                star = False
            elif name == "ansicpg" and argument:
                codepage = f"cp{int(argument)}"
            elif name == "uc" and argument:
                unicode_skip = int(argument)
            elif name == "u" and argument and not skipping:
                out.append(chr(int(argument) % 65536))
                pending_skip = unicode_skip
            elif name in ("par", "line", "sect", "row") and not skipping:
                out.append("\n")
            elif name in ("tab", "cell") and not skipping:
                out.append("\t")
        elif symbol == b"*":
            star = True
        elif skipping:
            continue
        elif hex_byte:
            out.append(bytes.fromhex(hex_byte.decode("ascii")).decode(codepage, errors="replace"))
        elif symbol:
            out.append({b"~": "\xa0", b"_": "-", b"-": ""}.get(symbol, symbol.decode("latin-1")))
        elif text:
            out.append(text.decode(codepage, errors="replace"))
    return _clean_block("".join(out))
