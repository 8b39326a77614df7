"""The package being validated, read where it lies: an extract folder or a DIAS tar, never unpacked.

A depot receives tars of hundreds of GB; unpacking one first would need
twice its size on disk and follow whatever its members point at. The tar
is read in place instead: its headers once (seeking over the data, so a
multi-GB tar is listed in seconds), then each member by its data offset
through a file handle of its own (threads read in parallel without sharing
a position).

Every member is listed, but only regular files with a plain relative name
count as package files. Anything else is *reported and never followed*:
names with `..` segments or absolute (also drive-letter) paths, symbolic and
hard links, device nodes, FIFOs, sparse members, and members whose data
runs past the end of the tar. A folder is walked without following
symbolic links, and only regular files are opened (a FIFO would block the
read forever). File names that are not valid UTF-8 are shown readably
(backslash escapes) and still read by their original bytes.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from noarkpipe.errors import InputFileError
from noarkpipe.validate.messages import Message, msg

FILE = "file"
UNSAFE_KINDS = {
    "symlink": msg("a symbolic link"),
    "hardlink": msg("a hard link"),
    "device": msg("a device node"),
    "fifo": msg("a FIFO (named pipe)"),
    "sparse": msg("a sparse member"),
    "other": msg("an unusual member type"),
}
_DRIVE = re.compile(r"^[A-Za-z]:")


class ReadStream(Protocol):
    """A member opened for reading: bytes, read-only, closed on leaving `with` (a file, a slice of the tar)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None, /
    ) -> None: ...


@dataclass(frozen=True)
class Member:
    """One entry of the package: its name relative to the package root, kind and size."""

    name: str
    kind: str
    size: int
    offset: int = -1
    link: str = ""
    raw: bytes | None = None
    """The original name's bytes, when they are not valid UTF-8."""
    problem: Message | None = None
    """Why the member is unsafe (None for an ordinary file or folder), in words for the report."""


def readable(name: str) -> tuple[str, bytes | None]:
    """A name as valid text (undecodable bytes as \\xNN), and its raw bytes when that changed it."""
    try:
        name.encode("utf-8")
        return name, None
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "backslashreplace"), raw


def name_problem(name: str) -> Message | None:
    """Why a member name is unsafe to use as a path, or None."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return msg("an absolute path")
    if any(part == ".." for part in re.split(r"[/\\]", name)):
        return msg("a path that climbs out of its folder (..)")
    if "\x00" in name:
        return msg("a name with a NUL character")
    return None


class Source:
    """Common interface of a folder and a tar."""

    kind: str
    path: Path

    def members(self) -> Iterator[Member]:
        raise NotImplementedError

    def open(self, member: Member) -> ReadStream:
        raise NotImplementedError

    def total_size(self) -> int:
        raise NotImplementedError


class FolderSource(Source):
    kind = "folder"

    def __init__(self, path: Path) -> None:
        self.path = path

    def members(self) -> Iterator[Member]:
        stack = [("", self.path)]
        while stack:
            prefix, folder = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError as exc:
                yield Member(name=readable(prefix.rstrip("/"))[0], kind="other", size=0,
                             problem=msg("a folder that cannot be read ({reason})", reason=exc.strerror))
                continue
            for entry in entries:
                relative = prefix + entry.name
                name, raw = readable(relative)
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    yield Member(name=name, kind="other", size=0, raw=raw, problem=msg("unreadable ({reason})",
                                                                                       reason=exc.strerror))
                    continue
                mode = info.st_mode
                if stat.S_ISDIR(mode):
                    yield Member(name=name, kind="dir", size=0, raw=raw)
                    stack.append((relative + "/", Path(entry.path)))
                elif stat.S_ISREG(mode):
                    yield Member(name=name, kind=FILE, size=info.st_size, raw=raw)
                elif stat.S_ISLNK(mode):
                    target = os.readlink(entry.path)
                    yield Member(name=name, kind="symlink", size=0, link=readable(target)[0], raw=raw,
                                 problem=UNSAFE_KINDS["symlink"])
                elif stat.S_ISFIFO(mode):
                    yield Member(name=name, kind="fifo", size=0, raw=raw, problem=UNSAFE_KINDS["fifo"])
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    yield Member(name=name, kind="device", size=0, raw=raw, problem=UNSAFE_KINDS["device"])
                else:
                    yield Member(name=name, kind="other", size=0, raw=raw, problem=UNSAFE_KINDS["other"])

    def open(self, member: Member) -> ReadStream:
        relative = os.fsdecode(member.raw) if member.raw is not None else member.name
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        descriptor = os.open(self.path / relative, flags)
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise InputFileError(f"{member.name} is no longer a regular file; it was not read")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb", buffering=0)

    def total_size(self) -> int:
        return 0


class TarSource(Source):
    kind = "tar"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        try:
            with tarfile.open(path, "r:") as probe:
                probe.next()
        except tarfile.CompressionError as exc:
            raise InputFileError(f"{path}: {exc}") from exc
        except tarfile.ReadError as exc:
            hint = "DIAS packages are uncompressed POSIX tar files"
            with open(path, "rb") as stream:
                magic = stream.read(4)
            if magic[:2] == b"\x1f\x8b":
                hint = "this is a gzip-compressed file: unpack it with gunzip first (DIAS packages are plain tar)"
            raise InputFileError(f"{path} is not a readable tar file ({exc})", hint=hint) from exc

    def members(self) -> Iterator[Member]:
        with tarfile.open(self.path, "r:") as tar:
            while True:
                try:
                    info = tar.next()
                except tarfile.ReadError as exc:
                    yield Member(name="(end of tar)", kind="other", size=0,
                                 problem=msg("a damaged tar header after the last readable member ({error})",
                                             error=str(exc)))
                    return
                if info is None:
                    return
                # TarFile keeps every header it has read; a package of a million files must not.
                tar.members.clear()  # type: ignore[attr-defined]  # TarFile.members is not in typeshed
                yield self._member(info)

    def _member(self, info: tarfile.TarInfo) -> Member:
        raw_name = info.name.removeprefix("./")
        name, raw = readable(raw_name)
        problem = name_problem(raw_name)
        if info.isdir():
            return Member(name=name.rstrip("/"), kind="dir", size=0, raw=raw, problem=problem)
        if info.issym():
            return Member(name=name, kind="symlink", size=0, link=readable(info.linkname)[0], raw=raw,
                          problem=problem or UNSAFE_KINDS["symlink"])
        if info.islnk():
            return Member(name=name, kind="hardlink", size=0, link=readable(info.linkname)[0], raw=raw,
                          problem=problem or UNSAFE_KINDS["hardlink"])
        if info.ischr() or info.isblk():
            return Member(name=name, kind="device", size=0, raw=raw, problem=problem or UNSAFE_KINDS["device"])
        if info.isfifo():
            return Member(name=name, kind="fifo", size=0, raw=raw, problem=problem or UNSAFE_KINDS["fifo"])
        if info.issparse():
            return Member(name=name, kind="sparse", size=info.size, raw=raw, problem=problem or UNSAFE_KINDS["sparse"])
        if not info.isfile():
            return Member(name=name, kind="other", size=0, raw=raw, problem=problem or UNSAFE_KINDS["other"])
        if info.offset_data + info.size > self.size:
            problem = problem or msg("cut off: its data runs past the end of the tar ({size} bytes stated)",
                                     size=info.size)
        return Member(name=name, kind=FILE, size=info.size, offset=info.offset_data, raw=raw, problem=problem)

    def open(self, member: Member) -> ReadStream:
        return _Slice(self.path, member.offset, member.size)

    def total_size(self) -> int:
        return self.size


class _Slice:
    """A read-only file over `size` bytes at `offset` of a file, with its own handle."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._stream = open(path, "rb", buffering=0)  # noqa: SIM115 - owned by the slice, closed in close()
        self._stream.seek(offset)
        self._left = size

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = self._stream.read(size)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(path: Path) -> Source:
    """The folder or tar at `path`; InputFileError when it is neither."""
    if not path.exists():
        raise InputFileError(f"no such file or folder: {path}", hint="give the extract folder or the DIAS .tar")
    if path.is_dir():
        return FolderSource(path)
    if path.is_file():
        return TarSource(path)
    raise InputFileError(f"{path} is neither a folder nor a file", hint="give the extract folder or the DIAS .tar")
