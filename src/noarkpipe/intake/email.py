"""E-mail (.eml, RFC 5322/MIME) → Submission.

The body becomes the main document: a readable UTF-8 text with the header
block (Fra, Til, Kopi, Dato, Emne), the text and the list of attachments.
Attachments and inline images become attachments. A forwarded message
(message/rfc822) is kept whole as its own `.eml` attachment, so it keeps its
structure; its text is added to the body text for classification and its own
attachments become attachments of the letter, titled after its subject, to
`max_nesting` levels; its archival copy is typeset from the main document this
intake lays out of it (`with_forwarded_main`). An attached Outlook `.msg` is read the same way and kept
as the `.eml` it amounts to (intake/msg.py), and a `winmail.dat` (TNEF) is
unwrapped into its text and files (intake/tnef.py).

Parts that are not documents are not made into documents, but said in the text:
a detached signature (S/MIME, PGP/MIME) or inline PGP; encryption (the encrypted
part is kept, it just cannot be read); the status parts of a bounce or read
receipt (intake/notices.py), which is titled after the message it is about.
A calendar invitation (intake/invitation.py) is said in the text too (what,
when in Oslo time, where, who invites); its `text/calendar` rendering in the
alternative and an attached .ics holding the same invitation make one document.
The original .eml is stored whole, so nothing of what was left out is lost.
Declared types that say nothing (application/octet-stream) are replaced by
what the bytes show, and a name without a useful extension gets one.

Mail from the wild is messy: headers in RFC 2047 encoded words, bodies in
charsets that lie (iso-8859-1 that is really windows-1252), dates that are
missing or nonsense. None of that stops intake; only a file that is not an
e-mail at all does, or one that is cut off on the way or whose headers go past
the [intake] limits (intake/email_guard.py: checked on the raw header text
before the stdlib parser reads a value, whose cost grows faster than the header).

This module walks the MIME tree and makes the Submission; its helpers sit
beside it: header values, addresses, dates and file names read leniently
(`email_headers.py`), an attachment's type and name from its bytes
(`attachment_names.py`), what is said of signed and encrypted parts
(`email_signed.py`). The main document's names and text layout are shared
with conversion (`core/email_document.py`), as is the HTML version's builder
(`files/email_html.py`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from pathlib import Path

from lxml import etree, html

from noarkpipe.core.charsets import decode_text
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.email_document import HTML_MAIN_FILENAME, MAIN_FILENAME, TEXT_MEDIA_TYPE, render_main_document
from noarkpipe.core.submission import DocumentRole, Source, Submission, SubmissionDocument
from noarkpipe.errors import InputFileError, UnreadableMessage
from noarkpipe.files import email_html
from noarkpipe.files.safety import require_size, safe_filename
from noarkpipe.intake import archive, email_guard, invitation, notices
from noarkpipe.intake.attachment_names import is_outlook_message, sniff_media_type, typed_name
from noarkpipe.intake.email_headers import header_text, part_filename, part_text, parties_of, quoted_headers, sent_date
from noarkpipe.intake.email_signed import (
    ENCRYPTED_NOTE,
    SIGNED_NOTES,
    SMIME_CONTAINER_TYPES,
    encrypted_gap,
    signature_kind,
)

_KNOWN_HEADERS = ("from", "to", "subject", "date", "message-id", "mime-version", "received")


def parse_eml(path: Path, context: IntakeContext) -> list[Submission]:
    """One e-mail file → one Submission; InputFileError if it is not an e-mail."""
    size = path.stat().st_size
    if size == 0:
        raise InputFileError("empty file (0 bytes): not an e-mail", hint="ask the sender to send it again")
    require_size(size, context.limits.max_file_bytes, "the e-mail file")
    return [_read(path.read_bytes(), context)]


def with_forwarded_main(document: SubmissionDocument, context: IntakeContext) -> SubmissionDocument:
    """A forwarded e-mail kept whole (message/rfc822) with the main document its archival copy is made from.

    Its copy is the letter as this intake lays it out (header block, text,
    list of its attachments, or its HTML), so the message is read here, in
    the parse child under the [intake] limits, and conversion only typesets
    it. One that cannot be read gets the reason as its archival gap; any
    other document is returned as it is.
    """
    if document.media_type != "message/rfc822" or not document.content or document.archival_gap:
        return document
    try:
        main = _read(document.content, context).main_document
    except InputFileError as exc:
        return document.model_copy(update={"archival_gap": str(exc)})
    except MemoryError:
        raise
    except Exception as exc:  # a parser bug on the forwarded message costs that part, not the letter
        return document.model_copy(update={
            "archival_gap": f"the forwarded e-mail could not be read ({type(exc).__name__}: {exc}); it is kept as received"
        })
    return document.model_copy(update={"rendered": main})


def _read(raw: bytes, context: IntakeContext) -> Submission:
    try:
        message = _parse_message(raw, context.limits)
        email_guard.require_whole(message)
        return _submission(message, context)
    except RecursionError as exc:
        # Comments or groups nested hundreds deep: the stdlib's header parser recurses once per level.
        raise InputFileError(
            "a header of the e-mail nests parentheses or groups too deep to be read: no mail program writes that",
            hint="the file is kept in quarantine; ask the sender to send the letter again from an ordinary mail program",
        ) from exc


def _parse_message(raw: bytes, limits: IntakeLimits) -> EmailMessage:
    head = raw[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    if b"\x00" in head:
        raise InputFileError("binary data where e-mail headers should be: not an RFC 5322 e-mail")
    # Headers measured before the parser reads them (email_guard), then again block by block as it does.
    email_guard.check_head(raw, limits)
    message = email_guard.parser(limits).parsebytes(raw)
    present = {key.lower() for key in message}
    if not present & set(_KNOWN_HEADERS):
        raise InputFileError(
            "no e-mail headers (From, To, Subject, Date, Message-ID) found: not an RFC 5322 e-mail",
            hint="check that the file really is an e-mail; Outlook files must end in .msg",
        )
    return message


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


def _recover_multipart(part: Message) -> Message | None:
    """A multipart whose boundary parameter is missing or cut off, parsed with the boundary its body uses.

    Real mail has it ("boundary" truncated by a broken gateway); the body still
    shows `--boundary` lines, and one that opens and recurs is taken.
    """
    payload = part.get_payload()
    if not isinstance(payload, str):
        return None
    body = payload.encode("utf-8", "surrogateescape")
    candidates = re.findall(rb"^--([ -~]{1,70}?)[ \t]*\r?$", body, re.MULTILINE)
    for candidate in dict.fromkeys(c.removesuffix(b"--") for c in candidates):
        if b'"' in candidate or body.count(b"--" + candidate) < 2:
            continue
        head = f'Content-Type: {part.get_content_type()}; boundary="{candidate.decode("ascii")}"\n\n'
        recovered = BytesParser(policy=part.policy).parsebytes(head.encode("ascii") + body)
        if recovered.is_multipart() and recovered.get_payload():
            return recovered
    return None


class _Collector:
    """Walks the MIME tree once: body text, attachments, forwarded messages, signatures, notices.

    `prefix` titles the attachments of a forwarded message after its subject;
    `returned` marks a bounce, whose attached message is the one returned.
    """

    def __init__(self, limits: IntakeLimits, prefix: str = "", returned: bool = False) -> None:
        self.limits = limits
        self.prefix = prefix
        self.returned = returned
        self.plain: list[str] = []
        self.html: list[str] = []
        self.outlook_text: list[str] = []
        self.attachments: list[SubmissionDocument] = []
        self.forwarded_text: list[str] = []
        self.signed: list[str] = []
        self.encrypted: list[str] = []
        self.notes: list[str] = []
        self.notice_status: list[list[tuple[str, str]]] = []
        self.notice_headers: list[list[tuple[str, str]]] = []
        self._names: set[str] = set()
        # Calendar documents so far, and whether each is the alternative's rendering of the message.
        self._calendars: list[tuple[SubmissionDocument, bool]] = []

    def walk(self, part: Message, depth: int = 0, parent: str = "") -> None:
        if depth > self.limits.max_nesting:
            raise InputFileError(
                f"forwarded messages nested deeper than {self.limits.max_nesting} levels",
                hint="raise intake max_nesting in the config if such mail is expected",
            )
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        if content_type.startswith("multipart/") and not part.is_multipart():
            self._unparsed_multipart(part, depth)
        elif content_type == "message/rfc822":
            self._forwarded(part, depth)
        elif content_type in ("message/delivery-status", "message/disposition-notification"):
            # The status of a bounce or receipt: text of the letter (see notices), not a document.
            self.notice_status.extend(notices.status_groups(part))
        elif content_type == "text/rfc822-headers":
            self.notice_headers.append(self._quoted_headers(quoted_headers(part)))
        elif content_type.startswith("message/"):
            # message/external-body, message/partial and the like: keep their text as received.
            body = part.as_bytes(policy=policy.default.clone(max_line_length=None)).split(b"\n\n", 1)[-1]
            self._add(body, "text/plain", f"{content_type.split('/')[1]}.txt", content_type)
        elif (kind := signature_kind(part, content_type, parent)) and not part.is_multipart():
            # A detached signature signs the message; it is no document of its own.
            # The message is kept whole as received, signature included (the stored original).
            self.signed.append(kind)
        elif content_type == "multipart/encrypted":
            self._encrypted(part, "PGP/MIME" if "pgp" in str(part.get_param("protocol") or "").lower() else "")
        elif content_type in SMIME_CONTAINER_TYPES:
            self._smime_container(part)
        elif part.is_multipart():
            children = part.get_payload()
            if content_type == "multipart/alternative":
                children = self._preferred_alternative(children)
            for child in children:
                self.walk(child, depth, content_type)
            for child in _parts_after_the_end(part):
                self.walk(child, depth, content_type)
        elif self._outlook_leftover(part, depth):
            pass
        elif parent == "multipart/alternative" and invitation.is_calendar(content_type, None):
            # The invitation as one rendering of the message: an attached copy of it takes its place.
            self._attachment(part, "Vedlegg", rendering=True)
        elif disposition == "attachment" or (part.get_filename() and disposition != "inline"):
            self._attachment(part, "Vedlegg")
        elif content_type == "text/plain":
            text = part_text(part)
            self._inline_pgp(text)
            self.plain.append(text)
        elif content_type == "text/html":
            self.html.append(part_text(part))
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

    def _unparsed_multipart(self, part: Message, depth: int) -> None:
        recovered = _recover_multipart(part)
        if recovered is not None:
            self.walk(recovered, depth)
            return
        # No boundary anywhere: the body is plain text as far as anyone can read it.
        # An empty container carries nothing; the original keeps even that.
        text = decode_text(str(part.get_payload()).encode("utf-8", "surrogateescape"), part.get_content_charset())
        if text.strip():
            self.plain.append(text.replace("\r\n", "\n"))

    def _quoted_headers(self, headers: Message) -> list[tuple[str, str]]:
        labels = (("Fra", "from"), ("Til", "to"), ("Kopi", "cc"), ("Dato", "date"), ("Emne", "subject"),
                  ("Message-ID", "message-id"))
        return [(label, header_text(headers, name)) for label, name in labels if header_text(headers, name)]

    def _inline_pgp(self, text: str) -> None:
        if "-----BEGIN PGP SIGNED MESSAGE-----" in text:
            self.signed.append("PGP")
        if "-----BEGIN PGP MESSAGE-----" in text:
            self.encrypted.append("PGP")

    def _encrypted(self, part: Message, kind: str) -> None:
        for child in part.get_payload() if part.is_multipart() else [part]:
            if child.get_content_type() == "application/pgp-encrypted":
                continue  # the control part: "Version: 1"
            gap = encrypted_gap(kind or "PGP/MIME")
            self._attachment(child, "Kryptert innhold", fallback="kryptert.asc", gap=gap)
        self.encrypted.append(kind or "PGP/MIME")

    def _smime_container(self, part: Message) -> None:
        smime_type = str(part.get_param("smime-type") or "").lower()
        if smime_type == "signed-data":
            # Signed and wrapped: the text is inside the PKCS #7 structure, kept as it came.
            self._attachment(part, "Signert innhold", fallback="smime.p7m")
            self.signed.append("S/MIME-innpakket")
        elif smime_type in ("compressed-data", "certs-only"):
            self._attachment(part, "Vedlegg", fallback="smime.p7m")
        else:
            self._attachment(part, "Kryptert innhold", fallback="smime.p7m", gap=encrypted_gap("S/MIME"))
            self.encrypted.append("S/MIME")

    def _outlook_leftover(self, part: Message, depth: int) -> bool:
        """winmail.dat and attached .msg files: unwrapped here; True if `part` was one."""
        content = part.get_payload(decode=True) or b""
        media_type, filename = part.get_content_type(), part_filename(part)
        # Imported here: both lay their text out with this module's helpers.
        from noarkpipe.intake import msg as outlook
        from noarkpipe.intake import tnef

        if tnef.is_tnef(media_type, filename, content):
            self._winmail(tnef, content, safe_filename(filename, "winmail.dat"), depth)
            return True
        if is_outlook_message(media_type, filename, content):
            self._outlook_message(outlook, content, safe_filename(filename, "melding.msg"), depth + 1)
            return True
        return False

    def _winmail(self, tnef, content: bytes, filename: str, depth: int) -> None:
        try:
            unwrapped = tnef.decode(content, self.limits, depth)
        except tnef.TnefError as exc:
            self._add(
                content, "application/ms-tnef", filename, f"Outlook-vedlegg som ikke kunne leses: {filename}",
                gap=f"{filename} is Outlook's TNEF wrapper and could not be unwrapped: {exc}",
            )
            self.notes.append(
                f"[Vedlegget {filename} er i Outlooks eget format (TNEF) og kunne ikke pakkes ut: {exc}. "
                "Det er bevart som det kom.]"
            )
            return
        self._unwrapped(unwrapped)

    def _unwrapped(self, unwrapped) -> None:
        """What tnef.decode found (limits already applied there)."""
        if unwrapped.text:
            self.outlook_text.append(unwrapped.text)
        for file in unwrapped.files:
            self._file(file.content, file.media_type, file.name, "Vedlegg")
        for inner in unwrapped.embedded:
            nested = _Collector(self.limits, prefix=inner.subject or self.prefix)
            nested._unwrapped(inner)
            self._take(nested)
            self.forwarded_text.append(f"--- Videresendt melding ---\nEmne: {inner.subject}\n\n{nested.body_text()}")

    def _outlook_message(self, outlook, content: bytes, filename: str, depth: int) -> None:
        try:
            mail, files = outlook.read_attached(content, f"attachment '{filename}'", self.limits, depth)
        except UnreadableMessage as exc:
            self._add(
                content, outlook.MSG_MEDIA_TYPE, filename, f"Outlook-melding som ikke kunne leses: {filename}",
                gap=f"{filename} looks like an Outlook message but cannot be read: {exc.message}",
            )
            self.notes.append(
                f"[Vedlegget {filename} ser ut som en Outlook-melding, men kunne ikke leses: {exc.message}]"
            )
            return
        subject = mail.subject or Path(filename).stem
        # Written as .eml, so it gets an archival copy like any forwarded e-mail.
        eml = outlook.as_eml(mail)
        self._add(eml, "message/rfc822", f"{Path(filename).stem}.eml", f"{self._forward_label()}: {subject}")
        self.forwarded_text.append(outlook.forwarded_text(mail))
        if self.returned:
            self.notice_headers.append(
                self._quoted_headers(BytesParser(policy=policy.default).parsebytes(eml, headersonly=True))
            )
        nested = _Collector(self.limits, prefix=subject)
        for file in files:
            if file.mail is not None:
                nested._outlook_message(outlook, file.content, safe_filename(file.name, "melding.msg"), depth + 1)
            else:
                nested._file(file.content, file.media_type, file.name, "Vedlegg")
        self._take(nested)
        self.forwarded_text.extend(nested.forwarded_text)

    def _forward_label(self) -> str:
        return "Returnert melding" if self.returned else "Videresendt melding"

    def _forwarded(self, part: Message, depth: int) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if inner is None:
            self._attachment(part, "Videresendt melding")
            return
        raw = inner.as_bytes(policy=policy.default.clone(max_line_length=None))
        subject = header_text(inner, "subject") or "(uten emne)"
        self._add(raw, "message/rfc822", part.get_filename() or f"{subject}.eml", f"{self._forward_label()}: {subject}")
        if self.returned:
            self.notice_headers.append(self._quoted_headers(inner))
        nested = _Collector(self.limits, prefix=subject)
        nested.walk(inner, depth + 1)
        self._take(nested)
        header = "\n".join(
            f"{label}: {header_text(inner, name)}"
            for label, name in (("Fra", "from"), ("Dato", "date"), ("Emne", "subject"))
            if header_text(inner, name)
        )
        self.forwarded_text.append(f"--- Videresendt melding ---\n{header}\n\n{nested.body_text()}")
        self.forwarded_text.extend(nested.forwarded_text)

    def _take(self, nested: _Collector) -> None:
        """The documents a forwarded message carries, as documents of this letter, titled after it.

        Not for the message a bounce returns: that is our own letter, its documents
        already journaled with it; the returned message is kept whole, as one document.
        """
        if self.returned:
            return
        for document in nested.attachments:
            self._add(document.content, document.media_type, document.filename, document.title, document.archival_gap)

    def _attachment(
        self, part: Message, title_prefix: str, fallback: str | None = None, gap: str | None = None,
        rendering: bool = False,
    ) -> None:
        content = part.get_payload(decode=True)
        if content is None:
            payload = part.get_payload()
            content = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
        name = part_filename(part)
        if not name and part.get("content-id"):
            # A Content-ID names no file type ("20592.1022586929.3@host"): the extension is added below.
            name = str(part["content-id"]).strip("<> ").split("@")[0] + ".bin"
        self._file(content, part.get_content_type(), name or fallback, title_prefix, gap, rendering)

    def _file(
        self, content: bytes, declared: str | None, name: str | None, title_prefix: str, gap: str | None = None,
        rendering: bool = False,
    ) -> None:
        """One attached file: its type from the bytes when the sender's says nothing, a safe unique name."""
        media_type, filename = typed_name(content, declared, name, len(self.attachments) + 1)
        if self.prefix:
            title = f"{self.prefix}: {filename}"
        else:
            title = f"{title_prefix}: {filename}" if title_prefix != "Vedlegg" else filename
        if invitation.is_calendar(media_type, filename) and not self._new_calendar(content, rendering):
            return
        self._add(content, media_type, filename, title, gap)
        if invitation.is_calendar(media_type, filename):
            self._calendars.append((self.attachments[-1], rendering))

    def _new_calendar(self, content: bytes, rendering: bool) -> bool:
        """Whether a calendar part becomes a document: not when it repeats one as a rendering.

        The alternative's text/calendar is the message shown as an invitation; an
        attachment with the same invitation (same text, or same UID and DTSTART) is
        the document, under the sender's file name, whichever came first. Two
        attachments stay two documents (each attachment part is kept). A new
        invitation is said in the letter's text.
        """
        for document, was_rendering in self._calendars:
            if not invitation.same_invitation(document.content, content):
                continue
            if rendering:
                return False
            if was_rendering:
                self.attachments = [a for a in self.attachments if a is not document]
                self._names.discard(document.filename.lower())
                self._calendars = [(d, r) for d, r in self._calendars if d is not document]
            return True
        if calendar := invitation.read(content):
            self.notes.extend(invitation.describe(calendar))
        return True

    def _add(self, content: bytes, media_type: str, filename: str, title: str, gap: str | None = None) -> None:
        """One document; `gap` says why it can get no archival copy, when intake already knows."""
        require_size(len(content), self.limits.max_document_bytes, f"attachment '{filename}'")
        if len(self.attachments) + 1 >= self.limits.max_documents:
            raise InputFileError(
                f"more than {self.limits.max_documents - 1} attachments",
                hint="raise intake max_documents in the config if such mail is expected",
            )
        filename = self._unique(safe_filename(filename, "vedlegg"))
        self.attachments.append(
            SubmissionDocument(
                filename=filename, media_type=media_type, content=content, role=DocumentRole.attachment, title=title,
                archival_gap=gap,
            )
        )

    def _unique(self, filename: str) -> str:
        stem, dot, suffix = filename.rpartition(".")
        if not dot:
            stem, suffix = filename, ""
        candidate, counter = filename, 2
        while candidate.lower() in self._names or candidate.lower() in (MAIN_FILENAME, HTML_MAIN_FILENAME):
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
            with archive.unpacked(document.content, replace(context, origin_name=label), expand_nested=True) as members:
                for member in members:
                    member.content  # noqa: B018 - read before the unpacked files are removed
            if not members:
                raise InputFileError(f"{label} is an empty zip", hint="ask the sender to send the files themselves")
            for member in members:
                name = member.name.replace("/", " - ")
                unpacked.append(SubmissionDocument(
                    filename=safe_filename(name, "vedlegg"),
                    media_type=sniff_media_type(member.content) or "application/octet-stream",
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

    def remarks(self) -> list[str]:
        """Intake's notes on the letter (signed, encrypted, an invitation, an unreadable part), shown under its text."""
        notes = [SIGNED_NOTES[kind] for kind in dict.fromkeys(self.signed)]
        notes += [ENCRYPTED_NOTE.format(kind=kind) for kind in dict.fromkeys(self.encrypted)]
        return notes + self.notes

    def body_text(self) -> str:
        if any(text.strip() for text in self.plain):
            text = "\n\n".join(self.plain)
        elif any(markup.strip() for markup in self.html):
            text = "\n\n".join(html_to_text(markup) for markup in self.html)
        else:
            text = "\n\n".join(self.outlook_text)
        notes = self.remarks()
        if notes:
            text = f"{text.strip()}\n\n" + "\n".join(notes)
        return text.strip()


def _parts_after_the_end(part: Message) -> list[Message]:
    """Parts a sender's program put after the closing boundary (reusing a nested part's boundary closes early)."""
    epilogue, boundary = part.epilogue or "", part.get_boundary()
    if not boundary or f"--{boundary}" not in epilogue:
        return []
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
    rest = epilogue[epilogue.index(f"--{boundary}"):]
    late = BytesParser(policy=part.policy).parsebytes((head + rest).encode("utf-8", "surrogateescape"))
    return late.get_payload() if late.is_multipart() else []


def _submission(message: EmailMessage, context: IntakeContext) -> Submission:
    subject = header_text(message, "subject")
    senders = parties_of(message, "from") or parties_of(message, "sender")
    kind = notices.notice_kind(
        message, subject, senders[0].email if senders else None, senders[0].name if senders else None
    )
    collector = _Collector(context.limits, returned=kind in notices.DELIVERY_KINDS)
    collector.walk(message)
    collector.unpack_zips(context)
    to, cc = parties_of(message, "to"), parties_of(message, "cc")
    sent = sent_date(message)
    body = collector.body_text()
    title, refers_to = subject, None
    if kind is not None:
        # A bounce or receipt: titled after the message it is about, its status as text (so not from HTML).
        quoted = next((headers for headers in collector.notice_headers if headers), [])
        notice = notices.finish(notices.Notice(kind, status=collector.notice_status, original=quoted))
        title, refers_to = notices.title(notice, subject), notice.original_message_id
        body = f"{body}\n\n{notices.describe(notice, subject)}".strip()
    # An HTML e-mail is kept as it looked (e-post.html); body_text stays its text, for search and screening.
    html_main = None if kind is not None else email_html.main_document(
        message, part_text, senders, to, cc, sent, subject, collector.attachments, notes=collector.remarks(),
        limits=context.limits,
    )
    if html_main is not None:
        main, collector.attachments = html_main
    else:
        main = SubmissionDocument(
            filename=MAIN_FILENAME,
            media_type=TEXT_MEDIA_TYPE,
            content=render_main_document(senders, to, cc, sent, subject, body, collector.attachments).encode("utf-8"),
            role=DocumentRole.main,
            title=title or "E-post uten emne",
        )
    body_text = "\n\n".join([body, *collector.forwarded_text]).strip()
    return Submission(
        source=Source.email,
        origin_name=context.origin_name,
        sender=senders[0] if senders else None,
        recipients=to + cc,
        subject=title,
        sent=sent,
        received=context.received,
        body_text=body_text,
        message_id=header_text(message, "message-id") or None,
        refers_to_message_id=refers_to,
        documents=[main, *collector.attachments],
    )
