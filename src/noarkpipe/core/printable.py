"""Untrusted text made safe for a terminal, a log line or a one-line record.

A Subject, a sender, a file name or a mail server's answer is chosen by
whoever sent it. Printed as it is, an ESC starts a terminal control sequence
(retitle the window, clear the screen, fake a hyperlink or a prompt), a
newline or CR forges a line of a log or of a `.reason.txt`, and a bidi
override (U+202E) makes `faktura\\u202etxt.exe` read as "fakturaexe.txt".
Every human-facing output passes such text through `printable`, which shows
those characters as visible escapes (`\\x1b`, `\\n`, `\\u202e`) and leaves
everything else, Norwegian letters and all, as it is.

What counts as unsafe is decided here, once: the C0 and C1 controls and DEL
(Unicode category Cc), the invisible format characters (Cf: bidi embeddings,
overrides and isolates, LRM/RLM, zero-width space and joiners, word joiner,
BOM, soft hyphen), the line and paragraph separators (Zl, Zp) and lone
surrogates (Cs: undecodable bytes of a file name), which a UTF-8 terminal
cannot even encode. Stored file names (`intake.safety.safe_filename`) use the
same test. JSON output needs none of this (JSON escapes by itself), nor does
HTML output (escaped by its templates).
"""

from __future__ import annotations

import logging
import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
"""Invisible characters that only join or separate: a stored name loses them rather than showing `_`."""

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_unsafe(character: str) -> bool:
    """True for a character that must not reach a terminal, a log line or a file name as it is."""
    return unicodedata.category(character) in UNSAFE_CATEGORIES


def _escape(character: str) -> str:
    if character in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[character]
    code = ord(character)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """`text` (anything, as `str()` gives it) with every unsafe character shown as a visible escape.

    `keep_newlines` leaves "\\n" alone, for a block of lines this program put
    together (a traceback, an explanation); each untrusted field inside such a
    block should have passed through `printable` without it first, so that it
    cannot add a line of its own.
    """
    text = text if isinstance(text, str) else str(text)
    # Nearly all text is printable: one C-level scan, no per-character work.
    if text.isprintable() or not any(is_unsafe(c) for c in text):
        return text
    return "".join(
        _escape(c) if is_unsafe(c) and not (keep_newlines and c == "\n") else c for c in text
    )


def printable_block(text: object, indent: str = "  ") -> str:
    """Text of several lines (an error with its hint, a quarantine reason), printable, every later line indented.

    A line of a sender's making can then never start at the left margin,
    where a reader or a program looks for `reason:` or `noarkpipe: error:`;
    lines already indented (an error's `  hint:`) stay as they are.
    """
    first, *rest = printable(text, keep_newlines=True).split("\n")
    return "\n".join([first, *(line if not line or line[0].isspace() else indent + line for line in rest)])


class PrintableFormatter(logging.Formatter):
    """A log formatter for stderr (which cron mails): every record on one line, nothing unsafe in it.

    The message, with its arguments, is escaped whole, so a file name with a
    newline cannot start a log line of its own; a traceback keeps its lines,
    each made printable (an exception's message may quote a Subject).
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei) -> str:
        return printable(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), keep_newlines=True)
