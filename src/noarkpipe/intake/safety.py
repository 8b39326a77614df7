"""Names and sizes from untrusted input, made safe before anything uses them."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath

from ..errors import InputFileError

MAX_FILENAME_CHARS = 150
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\/]')


def safe_filename(name: str | None, fallback: str) -> str:
    """A bare file name for a document: no folders, no control characters, never empty.

    `../../etc/passwd`, `C:\\temp\\x.pdf` and `/abs/x` keep only their last
    part; the result can never address anything outside the folder it is put in.
    """
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name)
    last = PureWindowsPath(PurePosixPath(name.replace("\\", "/")).name).name
    cleaned = _UNSAFE.sub("_", last).strip().strip(".")
    if not cleaned or set(cleaned) <= {"_", " "}:
        return fallback
    if len(cleaned) > MAX_FILENAME_CHARS:
        stem, dot, suffix = cleaned.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            cleaned = stem[: MAX_FILENAME_CHARS - len(suffix) - 1] + "." + suffix
        else:
            cleaned = cleaned[:MAX_FILENAME_CHARS]
    return cleaned


def is_unsafe_member_path(name: str) -> bool:
    """True for an archive member path that is absolute or climbs out with '..'."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return True
    return any(part == ".." for part in normalised.split("/"))


def require_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise InputFileError(
            f"{what} is {size / 1024 / 1024:.1f} MB, over the limit of {limit / 1024 / 1024:.0f} MB",
            hint="raise the limit under [intake] in the config if such files are expected",
        )
