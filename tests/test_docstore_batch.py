"""The document store's batches: an item's files synced together, each durable before the batch ends.

The order is what makes a crash safe (see `docstore`'s docstring): a file's
bytes are synced before its name appears, and every folder that got a new
entry is synced before the batch returns, so a journal row written after it
never names a file a power cut could take away. The order is checked on
the real system calls, recorded as they happen.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from noarkpipe.store import docstore
from noarkpipe.store.docstore import INCOMING, DocumentStore


def _record_syscalls(monkeypatch) -> list[tuple[str, str]]:
    """('fsync', path) and ('rename', target) in the order they happen; the calls themselves still run."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source, target) -> None:
        real_replace(source, target)
        calls.append(("rename", str(target)))

    monkeypatch.setattr(docstore.os, "fsync", fsync)
    monkeypatch.setattr(docstore.os, "replace", replace)
    return calls


def test_batch_syncs_files_then_renames_then_each_folder_once(tmp_path: Path, monkeypatch) -> None:
    store = DocumentStore(tmp_path / "documents")
    contents = [b"brev %d" % n for n in range(4)]
    calls = _record_syscalls(monkeypatch)
    with store.batch() as batch:
        blobs = [batch.put_bytes(content) for content in contents]
        assert batch.put_bytes(contents[0]) == blobs[0]  # the same bytes twice: one file
        assert not any(blob.path.exists() for blob in blobs), "no name may appear before its bytes are synced"
    for blob, content in zip(blobs, contents, strict=True):
        assert blob.path.read_bytes() == content and blob.sha256 == hashlib.sha256(content).hexdigest()
    renames = [i for i, (kind, _) in enumerate(calls) if kind == "rename"]
    file_syncs = [i for i, (kind, path) in enumerate(calls) if kind == "fsync" and f"/{INCOMING}/" in path]
    folder_syncs = [path for kind, path in calls if kind == "fsync" and f"/{INCOMING}/" not in path]
    assert len(renames) == len(file_syncs) == len(contents)
    assert max(file_syncs) < min(renames), "every file's bytes are synced before any is renamed into place"
    assert all(calls[i][0] == "fsync" for i in range(max(renames) + 1, len(calls)))
    assert len(folder_syncs) == len(set(folder_syncs)), "each folder is synced once"
    expected = {str(blob.path.parent) for blob in blobs} | {str(blob.path.parent.parent) for blob in blobs}
    assert expected | {str(store.root)} == set(folder_syncs), "the new folders' entries are synced too"


def test_failed_batch_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    with pytest.raises(RuntimeError), store.batch() as batch:
        blob = batch.put_bytes(b"halvferdig")
        raise RuntimeError("the item failed before its files were in place")
    assert not blob.path.exists()
    assert list((store.root / INCOMING).iterdir()) == []


def test_file_already_stored_is_synced_again(tmp_path: Path, monkeypatch) -> None:
    store = DocumentStore(tmp_path / "documents")
    source = tmp_path / "vedlegg.pdf"
    source.write_bytes(b"%PDF-1.7 vedlegg")
    first = store.put_file(source)
    calls = _record_syscalls(monkeypatch)
    again = store.put_file(source)
    assert again == first
    # A writer killed between renaming it and syncing its folder may have left it not yet durable.
    assert ("fsync", str(first.path)) in calls and ("fsync", str(first.path.parent)) in calls
    assert not any(kind == "rename" for kind, _ in calls)
