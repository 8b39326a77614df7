"""Content-addressed document files: documents/ab/cd/<sha256>.

A file is written to a temporary name in documents/.incoming/, fsynced and
then renamed into its folder (one file system, so the rename is atomic): a
crash never leaves a half-written document under a real name, and what a
killed writer left behind is all in one folder, where the next run removes
it (`remove_stale_temporaries`). Storing the same bytes twice stores them once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024
INCOMING = ".incoming"
# Another host's temporary file (shared storage) is only taken for abandoned after this long.
FOREIGN_TEMPORARY_AGE_S = 24 * 3600


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    path: Path


def sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_bytes(self, content: bytes) -> StoredBlob:
        sha = hashlib.sha256(content).hexdigest()
        target = self.path_for(sha)
        if not target.exists():
            self._write_atomically(target, lambda handle: handle.write(content))
        return StoredBlob(sha, len(content), target)

    def put_file(self, source: Path, sha256: str | None = None) -> StoredBlob:
        if sha256 is None:
            sha256, _ = sha256_file(source)
        target = self.path_for(sha256)
        if not target.exists():
            def copy(handle):
                with open(source, "rb") as src:
                    while chunk := src.read(CHUNK):
                        handle.write(chunk)
            self._write_atomically(target, copy)
        return StoredBlob(sha256, target.stat().st_size, target)

    def _write_atomically(self, target: Path, write) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = self.root / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=incoming, prefix=f"{socket.gethostname()}.{os.getpid()}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
            fsync_dir(target.parent)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete what killed writers left in .incoming/: this host's dead processes', and old foreign ones."""
        incoming = self.root / INCOMING
        if not incoming.is_dir():
            return []
        host, removed = socket.gethostname(), []
        for path in incoming.iterdir():
            parts = path.name.split(".")
            pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
            writer_host = ".".join(parts[:-2])
            if writer_host == host and pid is not None:
                stale = pid != os.getpid() and not _alive(pid)
            else:
                stale = time.time() - path.stat().st_mtime > FOREIGN_TEMPORARY_AGE_S
            if stale:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def verify(self, sha256: str) -> bool:
        path = self.path_for(sha256)
        return path.is_file() and sha256_file(path)[0] == sha256


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
