"""Zip deliveries read without trusting them.

A zip from outside is refused as a whole (`InputFileError`, the item is
quarantined) when any member could escape or exhaust the machine: an
absolute or climbing path, a symlink, encryption, more members or unpacked
bytes than the limits allow, or a member that inflates far beyond its packed
size. Sizes are counted on the bytes actually decompressed while streaming,
never taken from the headers, which the sender writes. Members are read into
memory only; nothing is ever extracted to disk.

Zips inside the zip are checked the same way, to `limits.max_nesting` levels
and within the same budget; document formats that happen to be zips
(OOXML, ODF, ASiC-E signature containers) are left alone.
"""

from __future__ import annotations

import io
import lzma
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileError
from .context import IntakeContext, IntakeLimits
from .safety import is_unsafe_member_path, require_size

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


@dataclass(frozen=True)
class ArchiveMember:
    name: str
    """Path inside the zip with '/' separators; for an unpacked inner zip 'inner.zip/path'."""
    content: bytes


@dataclass
class _Budget:
    """What one delivery has used so far, counted across every nesting level."""

    limits: IntakeLimits
    members: int = 0
    unpacked: int = 0


def is_archive(content: bytes) -> bool:
    """True for a zip that is a bundle of files, not a document format built on zip (.docx, .odt, .asice)."""
    if content[:4] not in _ZIP_MAGIC:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except ZIP_ERRORS:
        return True
    return not names & _DOCUMENT_CONTAINER_MARKERS


def read_zip(source: Path | bytes, context: IntakeContext, *, expand_nested: bool = False) -> list[ArchiveMember]:
    """Every file member of a zip, in archive order, after all safety checks.

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
        return _read(source, size, context.origin_name, 0, _Budget(limits), expand_nested)
    return _read(io.BytesIO(source), len(source), context.origin_name, 0, _Budget(limits), expand_nested)


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
                    f"{label}: the zip holds more than {limits.max_archive_members} members",
                    hint="raise max_archive_members under [intake.limits] if such deliveries are expected",
                )
            seen: set[str] = set()
            for info in infos:
                name = member_name(info)
                _check_member(info, name, label)
                if name in seen:
                    raise InputFileError(f"{label}: the zip holds '{name}' twice", hint=_HINT)
                seen.add(name)
                if info.is_dir():
                    continue
                content = _read_member(archive, info, name, label, budget, min(info.compress_size, size))
                if is_archive(content):
                    if nesting + 1 > limits.max_nesting:
                        raise InputFileError(
                            f"{label}: '{name}' is a zip nested more than {limits.max_nesting} levels deep",
                            hint=_HINT,
                        )
                    inner = _read(io.BytesIO(content), len(content), f"{label}/{name}", nesting + 1, budget, expand)
                    if expand:
                        members.extend(ArchiveMember(f"{name}/{m.name}", m.content) for m in inner)
                        continue
                members.append(ArchiveMember(name, content))
    except ZIP_ERRORS as error:
        raise InputFileError(f"{label}: not a readable zip archive ({_reason(error)})", hint=_HINT) from error
    return members


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


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, label: str, budget: _Budget, packed: int
) -> bytes:
    """The member's bytes; `packed` is its packed size, no more than the whole archive whatever the header claims."""
    limits = budget.limits
    packed = max(packed, 1)
    chunks: list[bytes] = []
    size = 0
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            budget.unpacked += len(chunk)
            if size > RATIO_FLOOR_BYTES and size / packed > limits.max_compression_ratio:
                raise InputFileError(
                    f"{label}: member '{name}' unpacks to more than {limits.max_compression_ratio} times "
                    "its packed size (a zip bomb); unpacking was stopped",
                    hint=_HINT,
                )
            if size > limits.max_document_bytes:
                raise InputFileError(
                    f"{label}: member '{name}' unpacks to more than {limits.max_document_mb} MB",
                    hint="raise max_document_mb under [intake.limits] if such documents are expected",
                )
            if budget.unpacked > limits.max_unpacked_bytes:
                raise InputFileError(
                    f"{label}: the zip unpacks to more than {limits.max_unpacked_mb} MB in all",
                    hint="raise max_unpacked_mb under [intake.limits] if such deliveries are expected",
                )
            chunks.append(chunk)
    return b"".join(chunks)
