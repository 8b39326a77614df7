"""Names, sizes and files from untrusted input, made safe before anything uses them."""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from noarkpipe.core.printable import ZERO_WIDTH, is_unsafe, printable
from noarkpipe.errors import InputFileError

MAX_FILENAME_CHARS = 150
_RESERVED = re.compile(r'[<>:"|?*\\/]')


def safe_filename(name: str | None, fallback: str) -> str:
    """A bare file name for a document: no folders, no control or invisible characters, never empty.

    `../../etc/passwd`, `C:\\temp\\x.pdf` and `/abs/x` keep only their last
    part; the result can never address anything outside the folder it is put in.
    Controls, bidi overrides and other invisible formatting become `_`, so
    `faktura\\u202etxt.exe` is stored as `faktura_txt.exe`, never shown as
    "fakturaexe.txt"; zero-width characters are dropped.
    """
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name)
    last = PureWindowsPath(PurePosixPath(name.replace("\\", "/")).name).name
    visible = "".join("" if c in ZERO_WIDTH else "_" if is_unsafe(c) else c for c in last)
    cleaned = _RESERVED.sub("_", visible).strip().strip(".")
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


def describe_entry(mode: int, link_target: str | None = None) -> str:
    """What a directory entry that is not a regular file is, in words, for a quarantine reason."""
    if stat.S_ISLNK(mode):
        return "a symbolic link" + (f" (to {printable(link_target)})" if link_target is not None else "")
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a UNIX socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "of an unknown kind"


def not_regular_reason(what: str) -> str:
    """The quarantine reason for an entry that is not a regular file (`what` from `describe_entry`)."""
    if what.startswith("a symbolic link"):
        return f"not a regular file: {what}; noarkpipe never follows links out of the inbox"
    return f"not a regular file: {what}; noarkpipe reads only regular files"


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading, if it is a regular file itself: never a link's target, a FIFO or a device.

    The inbox is scanned with lstat and only regular files are claimed; this is
    the second wall, where the pipeline first reads a claimed file. O_NOFOLLOW
    refuses a symbolic link, O_NONBLOCK makes opening a FIFO return at once
    instead of waiting for a writer, and the type is then checked on the open
    descriptor itself, so nothing can be swapped in between. A look with
    lstat first keeps device files from being opened at all (opening some
    has effects of its own).
    """
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _refused(mode, _link_target(path) if stat.S_ISLNK(mode) else None)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise _refused(stat.S_IFLNK, _link_target(path)) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _refused(mode)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _refused(mode: int, link_target: str | None = None) -> InputFileError:
    hint = "put the file itself into the inbox" + (", not a link to it" if stat.S_ISLNK(mode) else "")
    return InputFileError(not_regular_reason(describe_entry(mode, link_target)), hint=hint)


def _link_target(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
