"""Zip deliveries read without trusting them.

A zip from outside is refused as a whole (`InputFileError`, the item is
quarantined) when any member could escape or exhaust the machine: an
absolute or climbing path, a symlink, encryption, more members or unpacked
bytes than the limits allow, or an archive that inflates far beyond its
packed size. The order is cheap first: every member's name and kind and the
member count are checked before a byte is unpacked; then the sizes the
directory declares are judged as a whole (their sum against max_unpacked_mb,
and against the archive's own size for max_compression_ratio), so that a
small file listing 150 distinct megabytes is refused on its directory;
then, since headers are written by the sender, the same limits are applied
again to the bytes actually inflated while streaming.

Members are streamed into the item's scratch folder, never held in memory
as a whole archive; an `ArchiveMember` reads its bytes from there when asked.
Zips inside the zip are checked the same way, to `limits.max_nesting` levels
and within the same budget (the ratio is the whole delivery's: everything
unpacked at every level over the outer archive's size); document formats
that happen to be zips (OOXML, ODF, ASiC-E signature containers) are left alone.
"""

from __future__ import annotations

import io
import lzma
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.errors import InputFileError
from noarkpipe.files.safety import is_unsafe_member_path, require_size

CHUNK = 64 * 1024
RATIO_FLOOR_BYTES = 1024 * 1024
"""A short repetitive text legitimately packs a hundredfold; the ratio only counts above this size."""

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_DOCUMENT_CONTAINER_MARKERS = {"[Content_Types].xml", "mimetype"}
_ENCRYPTED = 0x1
_UTF8_NAMES = 0x800
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, OSError, ValueError)
"""What zipfile raises, besides RuntimeError for encryption, on a damaged or unsupported archive."""
_HINT = "ask the sender to deliver the files again in an ordinary zip"


@dataclass(eq=False)
class ArchiveMember:
    name: str
    """Path inside the zip with '/' separators; for an unpacked inner zip 'inner.zip/path'."""
    path: Path
    """The member's bytes, unpacked into the scratch folder."""
    size: int

    @cached_property
    def content(self) -> bytes:
        return self.path.read_bytes()


@dataclass
class _Budget:
    """What one delivery has used so far, counted across every nesting level."""

    limits: IntakeLimits
    packed: int
    """The outer archive's size: what the whole delivery's ratio is judged against."""
    folder: Path
    members: int = 0
    unpacked: int = 0
    files: int = 0

    def next_path(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files += 1
        return self.folder / f"{self.files:05d}"


def is_archive(content: bytes) -> bool:
    """True for a zip that is a bundle of files, not a document format built on zip (.docx, .odt, .asice)."""
    if content[:4] not in _ZIP_MAGIC:
        return False
    return _is_bundle(io.BytesIO(content))


def _is_archive_file(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.read(4) not in _ZIP_MAGIC:
            return False
    return _is_bundle(path)


def _is_bundle(source: Path | io.BytesIO) -> bool:
    try:
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
    except ZIP_ERRORS:
        return True
    return not names & _DOCUMENT_CONTAINER_MARKERS


def read_zip(source: Path | bytes, context: IntakeContext, *, expand_nested: bool = False) -> list[ArchiveMember]:
    """Every file member of a zip, in archive order, after all safety checks, unpacked into `context.scratch`.

    Directory entries are left out. An inner zip is checked to the nesting
    limit; with `expand_nested` its members replace it, named 'inner.zip/...'.
    """
    limits = context.limits
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
        except OSError as error:
            raise InputFileError(f"{context.origin_name}: cannot be read ({error.strerror})") from error
        require_size(size, limits.max_file_bytes, context.origin_name)
        opened: Path | io.BytesIO = source
    else:
        size, opened = len(source), io.BytesIO(source)
    context.scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".zip-", dir=context.scratch))
    folder.rmdir()  # made again when the first member is unpacked
    try:
        return _read(opened, size, context.origin_name, 0, _Budget(limits, max(size, 1), folder), expand_nested)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a refused zip leaves nothing behind
        raise


@contextmanager
def unpacked(
    source: Path | bytes, context: IntakeContext, *, expand_nested: bool = False
) -> Iterator[list[ArchiveMember]]:
    """`read_zip`, with the unpacked files removed when the block ends: read what is needed inside it."""
    members = read_zip(source, context, expand_nested=expand_nested)
    try:
        yield members
    finally:
        for folder in {member.path.parent for member in members}:
            shutil.rmtree(folder, ignore_errors=True)


def _read(
    source: Path | io.BytesIO, size: int, label: str, nesting: int, budget: _Budget, expand: bool
) -> list[ArchiveMember]:
    limits = budget.limits
    members: list[ArchiveMember] = []
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            budget.members += len(infos)
            if budget.members > limits.max_archive_members:
                raise InputFileError(
                    f"{label}: the zip holds more than {limits.max_archive_members} members "
                    f"(max_archive_members = {limits.max_archive_members} ([intake]))",
                    hint="raise max_archive_members under [intake] if such deliveries are expected",
                )
            seen: set[str] = set()
            files = []
            for info in infos:
                name = member_name(info)
                _check_member(info, name, label)
                if name in seen:
                    raise InputFileError(f"{label}: the zip holds '{name}' twice", hint=_HINT)
                seen.add(name)
                if not info.is_dir():
                    files.append((info, name))
            # What the directory declares, judged before anything is unpacked.
            for info, name in files:
                _judge_member(info.file_size, min(info.compress_size, size), name, label, budget, "is declared to unpack")
            _judge_total(budget.unpacked + sum(info.file_size for info, _ in files), budget, label, "is declared to unpack")
            for info, name in files:
                path = _unpack_member(archive, info, name, label, budget, min(info.compress_size, size))
                if _is_archive_file(path):
                    if nesting + 1 > limits.max_nesting:
                        raise InputFileError(
                            f"{label}: '{name}' is a zip nested more than {limits.max_nesting} levels deep "
                            f"(max_nesting = {limits.max_nesting} ([intake]))",
                            hint=_HINT,
                        )
                    inner = _read(path, path.stat().st_size, f"{label}/{name}", nesting + 1, budget, expand)
                    if expand:
                        members.extend(ArchiveMember(f"{name}/{m.name}", m.path, m.size) for m in inner)
                        continue
                members.append(ArchiveMember(name, path, path.stat().st_size))
    except ZIP_ERRORS as error:
        raise InputFileError(f"{label}: not a readable zip archive ({_reason(error)})", hint=_HINT) from error
    return members


def _judge_member(unpacked: int, packed: int, name: str, label: str, budget: _Budget, verb: str) -> None:
    """One member against max_compression_ratio (above the floor: short texts pack well) and max_document_mb."""
    limits = budget.limits
    if unpacked > RATIO_FLOOR_BYTES and unpacked / max(packed, 1) > limits.max_compression_ratio:
        raise InputFileError(
            f"{label}: member '{name}' {verb} to more than max_compression_ratio = "
            f"{limits.max_compression_ratio} ([intake]) times its packed size (a zip bomb); nothing was kept",
            hint=_HINT,
        )
    if unpacked > limits.max_document_bytes:
        raise InputFileError(
            f"{label}: member '{name}' {verb} to more than {limits.max_document_mb} MB "
            f"(max_document_mb = {limits.max_document_mb} ([intake])); nothing was kept",
            hint="raise max_document_mb under [intake] if such documents are expected",
        )


def _judge_total(unpacked: int, budget: _Budget, label: str, verb: str) -> None:
    """The whole delivery's unpacked bytes against max_unpacked_mb and, above the floor, max_compression_ratio."""
    limits = budget.limits
    if unpacked > limits.max_unpacked_bytes:
        raise InputFileError(
            f"{label}: the zip {verb} to more than {limits.max_unpacked_mb} MB in all "
            f"(max_unpacked_mb = {limits.max_unpacked_mb} ([intake])); nothing was kept",
            hint="raise max_unpacked_mb under [intake] if such deliveries are expected",
        )
    if unpacked > RATIO_FLOOR_BYTES and unpacked / budget.packed > limits.max_compression_ratio:
        raise InputFileError(
            f"{label}: the zip {verb} to {unpacked / budget.packed:.0f} times its packed size, more than "
            f"max_compression_ratio = {limits.max_compression_ratio} ([intake]) (a zip bomb); nothing was kept",
            hint=_HINT,
        )


def _reason(error: Exception) -> str:
    if isinstance(error, EOFError):
        return "it ends before its members do"
    return str(error) or type(error).__name__


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's path, also when a Windows tool wrote UTF-8 without saying so."""
    if info.flag_bits & _UTF8_NAMES:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.filename


def _check_member(info: zipfile.ZipInfo, name: str, label: str) -> None:
    if is_unsafe_member_path(name):
        raise InputFileError(
            f"{label}: member '{name}' has an absolute path, a drive letter or '..'; nothing was unpacked",
            hint=_HINT,
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise InputFileError(f"{label}: member '{name}' is a symbolic link; nothing was unpacked", hint=_HINT)
    if info.flag_bits & _ENCRYPTED:
        raise InputFileError(
            f"{label}: member '{name}' is encrypted and cannot be read",
            hint="ask the sender to deliver the files without a password",
        )


def _unpack_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, label: str, budget: _Budget, packed: int
) -> Path:
    """The member streamed to a file of its own; `packed` is its packed size, no more than the whole archive."""
    packed = max(packed, 1)
    size = 0
    path = budget.next_path()
    with archive.open(info) as stream, path.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            budget.unpacked += len(chunk)
            _judge_member(size, packed, name, label, budget, "unpacks")
            _judge_total(budget.unpacked, budget, label, "unpacks")
            out.write(chunk)
    return path
