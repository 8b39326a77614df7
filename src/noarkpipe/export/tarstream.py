"""The package tar, written front to back in one pass, hashed while it is written.

A POSIX (pax) tar made with the standard library's tarfile, with everything
that could differ between two runs fixed: member order is the caller's,
modification times are the package's creation time, owner and group are 0
with no names, modes are 0644 and 0755. Two exports of the same store with the
same options therefore give the same bytes.

Each member's bytes are hashed as they are copied into the tar, and the tar's
own bytes as they reach the disk, so neither a document nor the tar is ever
read twice. A document whose bytes do not match the checksum the store holds
for it stops the export: the package would otherwise carry a file its own
metadata contradicts.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import ExportRefusedError

COPY_BUFFER = 1 << 20


class _HashingWriter:
    """The tar's file object: hashes and counts every byte on its way to disk."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()


class _HashingReader:
    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


@dataclass(frozen=True)
class Member:
    """A file in the tar: path relative to the package folder, size and SHA-256 of its bytes."""

    path: str
    size: int
    sha256: str


class PackageTar:
    """`<top>/...` members appended in order; `close()` returns the tar's size and SHA-256."""

    def __init__(self, handle: BinaryIO, top: str, mtime: int) -> None:
        self._out = _HashingWriter(handle)
        self._tar = tarfile.open(  # noqa: SIM115 - closed by close()
            fileobj=self._out, mode="w", format=tarfile.PAX_FORMAT, copybufsize=COPY_BUFFER
        )
        self.top = top
        self.mtime = mtime
        self._dirs: set[str] = set()

    def _added(self) -> None:
        # tarfile keeps every member it wrote in a list, for reading back: hundreds of
        # thousands of them here, and nothing reads them back.
        self._tar.members.clear()

    def _info(self, path: str, *, directory: bool = False, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{self.top}/{path}" if path else self.top)
        info.mtime = self.mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if directory:
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
        else:
            info.mode = 0o644
            info.size = size
        return info

    def add_dir(self, path: str) -> None:
        """A directory entry, once, with its parents first."""
        parts = path.strip("/").split("/") if path else []
        for depth in range(len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in self._dirs:
                self._dirs.add(folder)
                self._tar.addfile(self._info(folder, directory=True))
                self._added()

    def _parent(self, path: str) -> None:
        self.add_dir(path.rsplit("/", 1)[0] if "/" in path else "")

    def add_file(self, path: str, source: Path, size: int, *, expected_sha256: str | None = None) -> Member:
        """Copy `source` (exactly `size` bytes) in as `path`, hashing it; check it against `expected_sha256`."""
        self._parent(path)
        try:
            with open(source, "rb") as raw:
                reader = _HashingReader(raw)
                self._tar.addfile(self._info(path, size=size), reader)
                self._added()
        except FileNotFoundError:
            raise ExportRefusedError(
                f"{source} disappeared while the package was written ({path})",
                hint="something removed it from the document store; restore it and export again",
            ) from None
        except OSError as exc:
            if "unexpected end of data" in str(exc):
                raise ExportRefusedError(
                    f"{source} became shorter than its recorded {size} bytes while the package was written ({path})",
                    hint="the document store was changed during the export; check it and export again",
                ) from None
            raise
        digest = reader.digest.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise ExportRefusedError(
                f"{source} does not match its checksum: the store says sha256 {expected_sha256}, "
                f"the file has {digest} ({path})",
                hint="the document file is damaged; restore it from backup before depositing",
            )
        return Member(path, size, digest)

    def add_bytes(self, path: str, data: bytes) -> Member:
        self._parent(path)
        self._tar.addfile(self._info(path, size=len(data)), io.BytesIO(data))
        self._added()
        return Member(path, len(data), hashlib.sha256(data).hexdigest())

    def close(self) -> tuple[int, str]:
        self._tar.close()
        self._out.flush()
        return self._out.size, self._out.digest.hexdigest()


def fsync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
