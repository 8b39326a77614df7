"""Content-addressed document files: documents/ab/cd/<sha256>.

A file is written to a temporary name in documents/.incoming/, fsynced and
then renamed into its folder (one file system, so the rename is atomic): a
crash never leaves a half-written document under a real name, and what a
killed writer left behind is all in one folder, where the next run removes
it (`remove_stale_temporaries`). Storing the same bytes twice stores them once.

The files of one item are stored as one batch (`DocumentStore.batch`): all
are written first, then each is fsynced, then each is renamed into place,
then every directory that gained an entry (the file's folder, and the
folders above it that were made for it) is fsynced once. The order per file
is the same as storing it alone (its bytes are durable before its name
appears, its name is durable before the batch ends). The syncs of one step
run side by side, so that they share the file system's journal commits and
the disk's cache flushes instead of each waiting for its own; they run on
threads the process keeps for that, not on new ones per batch. A caller
journals the item after the batch has ended, so its documents are durable
before the journal row that names them. A file that is already in place is
fsynced with its folder too: a writer killed after renaming it, before
syncing its folder, may have left it not yet durable.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from noarkpipe.files.safety import open_regular

CHUNK = 1024 * 1024
SYNC_THREADS = 8
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
    # Also the first read of a claimed inbox item: never through a link, never blocked on a FIFO.
    with open_regular(path) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def fsync_path(path: Path) -> None:
    """Make a file's content, or a folder's entries, durable.

    Any read-only descriptor will do: fsync flushes the file or folder, not the descriptor's writes.
    """
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
        """Store `content`; durable when this returns."""
        with self.batch() as batch:
            return batch.put_bytes(content)

    def put_file(self, source: Path, sha256: str | None = None) -> StoredBlob:
        """Store the file at `source` (whose SHA-256 the caller may know); durable when this returns."""
        with self.batch() as batch:
            return batch.put_file(source, sha256)

    @contextmanager
    def batch(self) -> Iterator[StoreBatch]:
        """Files put in the batch are in place and durable when the `with` block ends without an error.

        If it ends with one, the files not yet in place are removed (a file
        already renamed into place stays: it is complete, and named by its bytes).
        """
        batch = StoreBatch(self)
        try:
            yield batch
            batch.commit()
        finally:
            batch.discard()

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


class StoreBatch:
    """The files of one `DocumentStore.batch`: written at once, synced and renamed into place at its end."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self._pending: dict[str, tuple[Path, StoredBlob]] = {}
        """By SHA-256: the temporary file and the blob it becomes."""
        self._present: dict[str, StoredBlob] = {}
        """By SHA-256: files already in place, synced again at the end."""

    def put_bytes(self, content: bytes) -> StoredBlob:
        sha = hashlib.sha256(content).hexdigest()
        return self._put(sha, lambda handle: handle.write(content))

    def put_file(self, source: Path, sha256: str | None = None) -> StoredBlob:
        if sha256 is None:
            sha256, _ = sha256_file(source)

        def copy(handle: BinaryIO) -> None:
            with open(source, "rb") as src:
                while chunk := src.read(CHUNK):
                    handle.write(chunk)

        return self._put(sha256, copy)

    def _put(self, sha256: str, write: Callable[[BinaryIO], object]) -> StoredBlob:
        if sha256 in self._pending:
            return self._pending[sha256][1]
        if sha256 in self._present:
            return self._present[sha256]
        target = self.store.path_for(sha256)
        if target.exists():
            blob = StoredBlob(sha256, target.stat().st_size, target)
            self._present[sha256] = blob
            return blob
        incoming = self.store.root / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=incoming, prefix=f"{socket.gethostname()}.{os.getpid()}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                size = handle.tell()
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        blob = StoredBlob(sha256, size, target)
        self._pending[sha256] = (Path(temp), blob)
        return blob

    def commit(self) -> None:
        """Bytes durable, then names in place, then the names durable: see the module docstring."""
        files = [temp for temp, _ in self._pending.values()] + [blob.path for blob in self._present.values()]
        _sync_all(fsync_path, files)
        folders: dict[Path, None] = {blob.path.parent: None for blob in self._present.values()}
        for sha in list(self._pending):
            temp, blob = self._pending[sha]
            for made in _make_folders(blob.path.parent):
                folders[made.parent] = None  # the new folder's own name is an entry of its parent
            os.replace(temp, blob.path)
            del self._pending[sha]
            folders[blob.path.parent] = None
        _sync_all(fsync_path, list(folders))

    def discard(self) -> None:
        for temp, _ in self._pending.values():
            temp.unlink(missing_ok=True)
        self._pending.clear()


def _sync_all(sync: Callable[[Path], None], paths: list[Path]) -> None:
    """`sync` every path, side by side (see the module docstring); returns when all are done, failed or not."""
    if len(paths) <= 1:
        for path in paths:
            sync(path)
        return
    threads = _sync_threads()
    syncs = [threads.submit(sync, path) for path in paths]
    wait(syncs)
    for done in syncs:
        done.result()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _sync_threads() -> ThreadPoolExecutor:
    """The process's threads for syncing, started as needed: starting threads for every batch cost more than the syncs."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="noarkpipe-sync")
        return _pool


def _forget_sync_threads() -> None:
    """In a forked child: the parent's threads did not come along, so the child starts its own."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_sync_threads)


def _make_folders(folder: Path) -> list[Path]:
    """Make `folder` and the folders above it that are missing; the ones made."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return missing


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
