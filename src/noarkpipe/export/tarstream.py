"""The package tar, written front to back in one pass, hashed while it is written.

A POSIX (pax) tar whose headers the standard library's tarfile makes, with
everything that could differ between two runs fixed: member order is the
caller's, modification times are the package's creation time, owner and
group are 0 with no names, modes are 0644 and 0755. Two exports of the same
store with the same options therefore give the same bytes.

Each member's bytes are hashed as they are copied into the tar, and the tar's
own bytes as they reach the disk, so neither a document nor the tar is ever
read twice. A document whose bytes do not match the checksum the store holds
for it stops the export: the package would otherwise carry a file its own
metadata contradicts.

Two cores: this thread reads each document and hashes it; a second thread
(`_Spool`) hashes the tar and writes it, a megabyte at a time. hashlib and
file writes release the GIL, so the two hashes of every byte run side by
side. tarfile's own copy loop (a Python call per member, a list of every
member kept) is not used; the bytes are exactly what `tarfile.addfile` and
`close` write (a test compares them).
"""

from __future__ import annotations

import hashlib
import os
import queue
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from noarkpipe.errors import ExportRefusedError

COPY_BUFFER = 1 << 20
_SPOOLED_CHUNKS = 16  # how far the reader may run ahead of the writer: 16 MB
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_ZEROS = bytes(_RECORD)


def _ustar_header(name: str, mode: int, size: int, mtime: int, directory: bool) -> bytes | None:
    """The one ustar block tarfile writes in PAX format for a short ASCII name (None: let tarfile make it).

    tarfile builds every header field by field in Python; at hundreds of
    thousands of members that is most of the tar's own cost. Same layout,
    same bytes (a test compares them with `TarInfo.tobuf`).
    """
    if len(name) > 100 or not name.isascii() or size >= 8**11 or not 0 <= mtime < 8**11:
        return None
    block = bytearray(_BLOCK)
    block[0 : len(name)] = name.encode("ascii")
    block[100:108] = b"%07o\0" % mode
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"%011o\0" % mtime
    block[148:156] = b"        "
    block[156] = ord(tarfile.DIRTYPE if directory else tarfile.REGTYPE)
    block[257:265] = tarfile.POSIX_MAGIC
    block[148:155] = b"%06o\0" % sum(block)
    return bytes(block)


class _Spool:
    """The tar's output: chunks handed to a thread that hashes, counts and writes them, in order."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0
        self._pending = bytearray()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(_SPOOLED_CHUNKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="package tar writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:
                try:
                    self.digest.update(chunk)
                    self.raw.write(chunk)
                except BaseException as exc:
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self.stop()
            raise error

    def write(self, data) -> None:
        self._pending += data
        self.size += len(data)
        if len(self._pending) >= COPY_BUFFER:
            self._hand_over()

    def _hand_over(self) -> None:
        self._raise()
        if self._pending:
            self._chunks.put(bytes(self._pending))
            self._pending.clear()

    def finish(self) -> None:
        self._hand_over()
        self.stop()
        self._raise()
        self.raw.flush()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()


@dataclass(frozen=True)
class Member:
    """A file in the tar: path relative to the package folder, size and SHA-256 of its bytes."""

    path: str
    size: int
    sha256: str


class PackageTar:
    """`<top>/...` members appended in order; `close()` returns the tar's size and SHA-256."""

    def __init__(self, handle: BinaryIO, top: str, mtime: int) -> None:
        self._out = _Spool(handle)
        self.top = top
        self.mtime = mtime
        self._dirs: set[str] = set()
        self._closed = False

    def _header(self, path: str, *, directory: bool = False, size: int = 0) -> bytes:
        name = f"{self.top}/{path}" if path else self.top
        if directory:
            name += "/"
        header = _ustar_header(name, 0o755 if directory else 0o644, 0 if directory else size, self.mtime, directory)
        if header is not None:
            return header
        info = tarfile.TarInfo(name)
        info.mtime = self.mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if directory:
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
        else:
            info.mode = 0o644
            info.size = size
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def _pad(self, size: int) -> None:
        remainder = size % _BLOCK
        if remainder:
            self._out.write(_ZEROS[: _BLOCK - remainder])

    def add_dir(self, path: str) -> None:
        """A directory entry, once, with its parents first."""
        parts = path.strip("/").split("/") if path else []
        for depth in range(len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in self._dirs:
                self._dirs.add(folder)
                self._out.write(self._header(folder, directory=True))

    def _parent(self, path: str) -> None:
        self.add_dir(path.rsplit("/", 1)[0] if "/" in path else "")

    def add_file(self, path: str, source: Path, size: int, *, expected_sha256: str | None = None) -> Member:
        """Copy `source` (exactly `size` bytes) in as `path`, hashing it; check it against `expected_sha256`."""
        self._parent(path)
        digest = hashlib.sha256()
        try:
            with open(source, "rb", buffering=0) as raw:
                header = self._header(path, size=size)
                self._out.write(header)
                left = size
                while left:
                    chunk = raw.read(min(left, COPY_BUFFER))
                    if not chunk:
                        raise ExportRefusedError(
                            f"{source} became shorter than its recorded {size} bytes while the package was written "
                            f"({path})",
                            hint="the document store was changed during the export; check it and export again",
                        )
                    digest.update(chunk)
                    self._out.write(chunk)
                    left -= len(chunk)
        except FileNotFoundError:
            raise ExportRefusedError(
                f"{source} disappeared while the package was written ({path})",
                hint="something removed it from the document store; restore it and export again",
            ) from None
        self._pad(size)
        found = digest.hexdigest()
        if expected_sha256 is not None and found != expected_sha256:
            raise ExportRefusedError(
                f"{source} does not match its checksum: the store says sha256 {expected_sha256}, "
                f"the file has {found} ({path})",
                hint="the document file is damaged; restore it from backup before depositing",
            )
        return Member(path, size, found)

    def add_bytes(self, path: str, data: bytes) -> Member:
        self._parent(path)
        self._out.write(self._header(path, size=len(data)))
        self._out.write(data)
        self._pad(len(data))
        return Member(path, len(data), hashlib.sha256(data).hexdigest())

    def close(self) -> tuple[int, str]:
        """The end-of-archive blocks and the record padding (as tarfile writes them); the tar's size and SHA-256."""
        if not self._closed:
            self._closed = True
            self._out.write(_ZEROS[: 2 * _BLOCK])
            remainder = self._out.size % _RECORD
            if remainder:
                self._out.write(_ZEROS[: _RECORD - remainder])
            self._out.finish()
        return self._out.size, self._out.digest.hexdigest()

    def abort(self) -> None:
        """Stop the writer thread of a tar that will not be finished."""
        self._out.stop()


def fsync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
