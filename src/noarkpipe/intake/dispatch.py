"""Which intake source reads a claimed file: decided by its content, then its name.

A file's extension is a hint from whoever named it; the bytes decide. A PDF
named `.eml` is not an e-mail, and a `.txt` that is a MIME message is one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import InputFileError
from .context import IntakeContext
from .email import parse_eml
from .submission import Source, Submission

Parser = Callable[[Path, IntakeContext], list[Submission]]

_EMAIL_SUFFIXES = (".eml",)


def _head(path: Path, size: int = 8192) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _looks_like_email(head: bytes) -> bool:
    first = head.lstrip()[:2048].lower()
    return any(
        first.startswith(prefix) or b"\n" + prefix in first
        for prefix in (b"from:", b"received:", b"return-path:", b"message-id:", b"date:", b"subject:", b"mime-version:", b"delivered-to:", b"x-")
    ) and b"\x00" not in first


def choose_parser(path: Path, original_name: str) -> tuple[Source, Parser]:
    """The source and parser for a claimed file; InputFileError when nothing reads it."""
    suffix = Path(original_name).suffix.lower()
    head = _head(path)
    if suffix in _EMAIL_SUFFIXES or _looks_like_email(head):
        return Source.email, parse_eml
    raise InputFileError(
        f"unsupported file type '{suffix or '(no extension)'}': noarkpipe reads .eml e-mail",
        hint="move the file to the right inbox or journal it by hand",
    )
