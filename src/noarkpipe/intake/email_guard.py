"""What an e-mail must pass before it is taken in: headers within bounds, and the file whole.

Both checks quarantine the file with a reason naming the setting or the rule;
neither ever lets a part of the e-mail through as if it were all of it.

**Bounded headers.** The stdlib parser (`email.policy.default`) turns a header
value into a parse tree only when it is asked for, and that costs far more than
the header: 200,000 RFC 2047 encoded words in a 3.8 MB Subject take 5.65 GB,
a Cc of 100,000 addresses 131 s; an address list, a comment or a Content-Type
parameter list takes time quadratic in its tokens, and parentheses nested a
thousand deep overflow the stack. So every header block is measured as raw
text before any value in it is parsed: the file's own block straight from its
bytes (`check_head`, before the parser sees the file), and every block the
parser meets inside it (a part, an attached message, a delivery-status group)
as the parser stores it (`_LimitedMessage.set_raw`), by the same rules:

- `max_header_kb`, `max_headers`, `max_encoded_words`: per header block;
- `max_addresses`: per address field, counted from its text (its `@` signs
  or its comma- and semicolon-separated items outside quotes, whichever is more);
- `max_header_tokens`: the words and symbols of all the fields intake has
  the stdlib parse (addresses, Subject, Date, Message-ID, Content-*), in the
  whole e-mail together: one field's parse stays well under seconds however
  its tokens are arranged, and so does the sum over a thousand parts.

A parsed header is kept (a small cache per e-mail), so a Content-Type is
parsed once rather than at every `get_content_type()` the library makes.

**Whole, not cut off** (`require_whole`). A mail fetcher or gateway that
gives up leaves a file that ends inside a part; the stdlib parser reads it
without complaint and hands back what there is, undecoded base64 and all. The
rules, from the evidence of real mail (CPython's e-mail corpus carries a
missing closing boundary that is no truncation, msg_38, and base64 with junk
or short padding that decodes, msg_39 and fixtures/email-corpus c13):

1. The outermost multipart has no closing boundary (the file ended inside it:
   a nested one cut short by its parent's boundary is a quirk, not a cut), and
   the part the file ends in shows it was cut: base64 stopping inside a group
   of four characters, or a PDF, JPEG, PNG or zip without its end marker. A
   missing closing boundary after a last part that is whole is a lenient
   sender's habit, and is accepted.
2. A base64 part that does not decode at all (the stdlib would hand back the
   base64 text itself as the "decoded" content).
3. A base64 part declared `application/pdf` whose decoded bytes have no
   `%PDF` header and are no other format either (text, or nothing
   recognisable): what a cut or mangled transfer leaves; a mislabelled JPEG
   or .docx is left to conversion, which goes by the bytes. A PDF without `%%EOF` in a whole e-mail is for the PDF
   check at conversion (convert/pdfa.py), as for any PDF.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import errors
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from typing import cast

import magic

from noarkpipe.core.context import IntakeLimits
from noarkpipe.errors import InputFileError

ADDRESS_FIELDS = frozenset({
    "from", "sender", "reply-to", "to", "cc", "bcc",
    "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc",
})
STRUCTURED_FIELDS = ADDRESS_FIELDS | {
    "date", "resent-date", "orig-date", "message-id", "mime-version",
    "content-type", "content-disposition", "content-transfer-encoding",
}
"""The fields `email.headerregistry` parses into trees (time quadratic in their tokens at worst)."""
PARSED_FIELDS = STRUCTURED_FIELDS | {"subject", "content-id"}
"""The fields intake asks the stdlib for: the rest are only ever read as raw text."""

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_TOKEN = re.compile(r'[()<>@,;:\\".\[\]]|[^\s()<>@,;:\\".\[\]]+')
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_FIELD_NAME = re.compile(rb"[\041-\071\073-\176]+:")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_PARSED_KEPT = 64
_TRUNCATED_HINT = "ask the sender to send the e-mail again; the file as received is kept in quarantine"


@dataclass
class _Block:
    fields: int = 0
    size: int = 0
    words: int = 0


class HeaderGuard:
    """The limits as one e-mail's header blocks are read: counts per block, parsed-field tokens in total."""

    def __init__(self, limits: IntakeLimits) -> None:
        self.limits = limits
        self.tokens = 0
        self.root: Message | None = None
        # Parsed headers by (name, raw value); a few dozen cover every part's Content-* while it is walked.
        self._parsed: OrderedDict[tuple[str, str], object] = OrderedDict()

    def field(self, block: _Block, name: str, value: str, where: str) -> None:
        """One header field of a block; InputFileError naming the setting it goes over."""
        limits, lowered = self.limits, name.lower()
        block.fields += 1
        block.size += len(name) + len(value) + 2
        block.words += sum(1 for _ in _ENCODED_WORD.finditer(value))
        if block.fields > limits.max_headers:
            raise over_limit(f"{where} has more than {limits.max_headers} fields", "max_headers", limits.max_headers)
        if block.size > limits.max_header_kb * 1024:
            raise over_limit(f"{where} has more than {limits.max_header_kb} KB", "max_header_kb", limits.max_header_kb)
        if block.words > limits.max_encoded_words:
            raise over_limit(f"{where} has more than {limits.max_encoded_words} RFC 2047 encoded words",
                             "max_encoded_words", limits.max_encoded_words)
        if lowered in ADDRESS_FIELDS and (count := address_count(value)) > limits.max_addresses:
            raise over_limit(f"{where} has {count} addresses in its {name} field", "max_addresses",
                             limits.max_addresses)
        if lowered in PARSED_FIELDS:
            self.tokens += sum(1 for _ in _TOKEN.finditer(value))
            if self.tokens > limits.max_header_tokens:
                raise over_limit(
                    "the parsed header fields of the e-mail (addresses, Subject, Date, Content-*) have more than "
                    f"{limits.max_header_tokens} words and symbols together", "max_header_tokens",
                    limits.max_header_tokens,
                )

    def parsed(self, name: str, value: str, parse: Callable[[], object]) -> object:
        """The parsed header for a raw value, parsed once: the library asks for Content-Type again and again."""
        key = (name.lower(), value)
        if key in self._parsed:
            self._parsed.move_to_end(key)
            return self._parsed[key]
        header = self._parsed[key] = parse()
        if len(self._parsed) > _PARSED_KEPT:
            self._parsed.popitem(last=False)
        return header


def over_limit(found: str, setting: str, limit: int) -> InputFileError:
    """The error for a header over an [intake] limit: what was found, the setting, what to do."""
    return InputFileError(
        f"{found}, over {setting} = {limit} ([intake]): no letter has that many",
        hint=f"the file is kept in quarantine; if such mail is really expected, raise {setting} under [intake]",
    )


def address_count(value: str) -> int:
    """How many addresses an address field holds, as far as its raw text shows: never fewer than it has."""
    bare = _QUOTED.sub('""', value)
    items = sum(1 for item in re.split(r"[,;]", bare) if item.strip())
    return max(value.count("@"), items)


class _LimitedMessage(EmailMessage):
    """An EmailMessage whose header fields are measured as the parser stores them, before any is parsed."""

    def set_raw(self, name: str, value: str) -> None:
        guard = getattr(self.policy, "intake_guard", None)
        if guard is not None:
            if guard.root is None:
                guard.root = self
            where = "the e-mail's header" if guard.root is self else "the header of a part or attached message"
            guard.field(self.__dict__.setdefault("_intake_block", _Block()), name, value, where)
        super().set_raw(name, value)


class _LimitedPolicy(EmailPolicy):
    """`email.policy.default`, with the guard: header blocks measured on arrival, parsed headers kept."""

    intake_guard: HeaderGuard | None = None
    message_factory = _LimitedMessage

    def header_fetch_parse(self, name, value):
        guard = self.intake_guard
        if guard is None or hasattr(value, "name"):
            return super().header_fetch_parse(name, value)
        return guard.parsed(name, value, lambda: super(_LimitedPolicy, self).header_fetch_parse(name, value))


def parser(limits: IntakeLimits) -> BytesParser:
    """A parser for one e-mail whose header blocks are held to `limits` (a new guard per e-mail)."""
    # Policy takes any class attribute as a keyword; typeshed lists only the stdlib's own.
    return BytesParser(policy=_LimitedPolicy(intake_guard=HeaderGuard(limits)))  # type: ignore[call-overload]


def check_head(raw: bytes, limits: IntakeLimits, where: str = "the e-mail's header") -> None:
    """The top header block of `raw`, measured on its bytes before any parser sees the file."""
    guard, block = HeaderGuard(limits), _Block()
    for name, value in _raw_fields(raw, limits.max_header_kb * 1024, where, limits.max_header_kb):
        guard.field(block, name, value, where)


def _raw_fields(raw: bytes, budget: int, where: str, limit_kb: int) -> Iterator[tuple[str, str]]:
    """(name, value) of each field of the header block at the start of `raw`, read as the stdlib's feedparser does.

    The block ends at an empty line or at the first line that is neither a
    field nor a continuation. Only twice `budget` bytes are looked at: a block
    going on past them is over `max_header_kb` without being read further.
    """
    window = raw[: 2 * budget]
    whole = len(window) == len(raw)
    lines = _LINE_END.split(window)
    if not whole:
        lines.pop()  # it may go on past the window
    name, value, ended = None, [], False
    for number, line in enumerate(lines):
        if name is not None and line[:1] in (b" ", b"\t"):
            value.append(line)
            continue
        if name is not None:
            yield name, _text(b"\n".join(value))
            name, value = None, []
        if number == 0 and line.startswith(b"From "):
            continue  # the mbox envelope line
        field = _FIELD_NAME.match(line)
        if not field:
            ended = True
            break
        name, value = _text(field.group()[:-1]), [line[field.end():].lstrip(b" \t")]
    else:
        ended = whole
    if name is not None:
        yield name, _text(b"\n".join(value))
    if not ended:
        raise over_limit(f"{where} has more than {limit_kb} KB", "max_header_kb", limit_kb)


def _text(data: bytes) -> str:
    return data.decode("ascii", "surrogateescape")


# --- Whole, not cut off ------------------------------------------------------------------------------

_PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
_NO_FORMAT = ("text/", "application/octet-stream", "inode/x-empty", "application/x-empty")


def require_whole(message: Message) -> None:
    """InputFileError if the e-mail was cut off on the way or a part of it cannot be decoded (rules in the docstring)."""
    if message.is_multipart() and _has(message, errors.CloseBoundaryNotFoundDefect):
        last = _last_part(message)
        content = _decoded(last)
        if evidence := _cut_evidence(last, content):
            raise InputFileError(
                f"the e-mail is truncated: it ends inside {_label(last)} without the closing MIME boundary, "
                f"and {evidence}",
                hint=_TRUNCATED_HINT,
            )
    for part in message.walk():
        if part.is_multipart():
            continue
        base64 = str(part.get("content-transfer-encoding", "")).strip().lower() == "base64"
        declared_pdf = part.get_content_type() in _PDF_TYPES
        if not (base64 or declared_pdf):
            continue
        content = _decoded(part)
        if base64 and _has(part, errors.InvalidBase64LengthDefect):
            raise InputFileError(
                f"the e-mail is truncated or damaged: the base64 of {_label(part)} does not decode "
                "(its characters do not make whole groups of four)",
                hint=_TRUNCATED_HINT,
            )
        if base64 and declared_pdf and content and b"%PDF" not in content[:1024] and _no_other_format(content):
            raise InputFileError(
                f"the e-mail is truncated or damaged: {_label(part)} is declared a PDF but holds no PDF "
                f"(it begins {content[:12]!r})",
                hint=_TRUNCATED_HINT,
            )


def _decoded(part: Message) -> bytes:
    """The part's content with its transfer encoding undone (b"" for a multipart, where the stdlib gives None)."""
    return cast("bytes | None", part.get_payload(decode=True)) or b""


def _has(part: Message, defect: type) -> bool:
    return any(isinstance(found, defect) for found in part.defects)


def _last_part(message: Message) -> Message:
    """The part the file ends in: the last child, down through multiparts and attached messages."""
    part = message
    # the payload of a multipart (or an attached message) is the list of its parts
    while part.is_multipart() and (children := cast("list[Message]", part.get_payload())):
        part = children[-1]
    return part


def _cut_evidence(part: Message, content: bytes) -> str | None:
    """What shows that `part` stops short, or None when it is whole as far as can be seen."""
    if _has(part, errors.InvalidBase64PaddingDefect) or _has(part, errors.InvalidBase64LengthDefect):
        return "its base64 stops inside a group of four characters"
    tail = content.rstrip(b"\x00\r\n\t ")
    if b"%PDF-" in content[:1024] and b"%%EOF" not in tail[-2048:]:
        return "the PDF in it has no end (%%EOF)"
    if content.startswith(b"\xff\xd8\xff") and not tail.endswith(b"\xff\xd9"):
        return "the JPEG image in it has no end marker"
    if content.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" not in tail[-16:]:
        return "the PNG image in it has no end chunk"
    if content.startswith(b"PK\x03\x04") and b"PK\x05\x06" not in content[-65557:]:
        return "the zip in it has no central directory"
    return None


def _no_other_format(content: bytes) -> bool:
    """Whether the bytes are text or nothing recognisable (a mislabelled JPEG or .docx is another format)."""
    try:
        found = magic.from_buffer(content[:65536], mime=True) or ""
    except magic.MagicException:
        return True
    return found.startswith(_NO_FORMAT)


def _label(part: Message) -> str:
    name = part.get_filename()
    return f"attachment '{name}'" if name else f"its {part.get_content_type()} part"
