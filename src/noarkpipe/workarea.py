"""The inbox, the work area and quarantine: where an item's files are at each moment.

An item is one inbox file, or a *bundle* of files that belong together
(an e-form's `X.json` with its rendering `X.pdf`). Claiming moves an item
out of the inbox with `rename`, which is atomic on one file system: a bundle
is first gathered in a hidden staging folder and then renamed into place,
so the work area never shows half a bundle, and a staging folder left by a
crash is put back into the inbox by the next run.

Each claimed item has an archival folder beside it (hidden, named by a
digest of the item's name, which may be in any encoding) that holds its documents as parsed and their archival copies with
their conversion records. It goes when the item is filed or quarantined;
while the item waits in the work area (a run was killed) it keeps the
conversions done so far, so the next run does not make them again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from enum import StrEnum
from pathlib import Path

from .clock import utcnow
from .docstore import sha256_file
from .errors import StoreError

CLAIM_SEPARATOR = "__"
STAGING_PREFIX = ".claiming-"
ARCHIVAL_PREFIX = ".archival-"
IGNORED_SUFFIXES = (".part", ".tmp", ".partial", "~")
MAX_ORIGIN_BYTES = 200
# An e-form delivered as data + rendering: both halves are one item.
BUNDLE_PAIRS = ((".json", ".pdf"),)


class ItemState(StrEnum):
    """Where an intake item is; each state is committed before the next step starts."""

    claimed = "claimed"
    converted = "converted"
    """Every document has its archival copy in the item's archival folder; journaling is next."""
    journaled = "journaled"
    filed = "filed"
    quarantined = "quarantined"


def _ready(name: str) -> bool:
    return not name.startswith(".") and not name.endswith(IGNORED_SUFFIXES)


def inbox_files(inbox: Path) -> list[Path]:
    """Files ready for intake, oldest name first; hidden and partial uploads are left alone."""
    if not inbox.is_dir():
        return []
    ready = []
    for root, dirs, files in os.walk(inbox):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        ready.extend(Path(root) / name for name in sorted(files) if _ready(name))
    return ready


def inbox_items(inbox: Path) -> list[tuple[Path, ...]]:
    """Ready files grouped into items: `X.json` + `X.pdf` in one folder are one bundle."""
    files = inbox_files(inbox)
    by_key = {(f.parent, f.stem.lower(), f.suffix.lower()): f for f in files}
    taken: set[Path] = set()
    items: list[tuple[Path, ...]] = []
    for path in files:
        if path in taken:
            continue
        group = (path,)
        for data_suffix, rendering_suffix in BUNDLE_PAIRS:
            if path.suffix.lower() in (data_suffix, rendering_suffix):
                data = by_key.get((path.parent, path.stem.lower(), data_suffix))
                rendering = by_key.get((path.parent, path.stem.lower(), rendering_suffix))
                if data and rendering:
                    group = (data, rendering)
        taken.update(group)
        items.append(group)
    return items


def _origin_name(source: Path, inbox: Path) -> str:
    origin = source.relative_to(inbox).as_posix().replace("/", "%2F")
    # Keep the claimed name within the 255-byte limit of common file systems.
    return os.fsencode(origin)[-MAX_ORIGIN_BYTES:].decode("utf-8", "surrogateescape")


def claim(sources: tuple[Path, ...], inbox: Path, work: Path) -> Path:
    """Move an item from the inbox into the work area; return its claimed path."""
    stamp = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    claimed = work / f"{stamp}{CLAIM_SEPARATOR}{_origin_name(sources[0], inbox)}"
    try:
        if len(sources) == 1:
            os.rename(sources[0], claimed)
            return claimed
        staging = work / f"{STAGING_PREFIX}{stamp}"
        staging.mkdir()
        for source in sources:
            os.rename(source, staging / source.name)
        os.rename(staging, claimed)
        return claimed
    except OSError as exc:
        raise StoreError(
            f"cannot move {sources[0]} into the work area {work}: {exc}",
            hint="inbox and data directory must be writable and on the same file system",
        ) from exc


def recover_interrupted_claims(work: Path, inbox: Path) -> list[Path]:
    """Put the files of a bundle whose claim was cut short back into the inbox."""
    restored = []
    for staging in sorted(work.glob(f"{STAGING_PREFIX}*")):
        for path in sorted(staging.iterdir()):
            target = inbox / path.name
            counter = 1
            while target.exists():
                target = inbox / f"{path.stem}.{counter}{path.suffix}"
                counter += 1
            os.rename(path, target)
            restored.append(target)
        staging.rmdir()
    return restored


def pending_items(work: Path) -> list[Path]:
    """Claimed items not finished yet (left by a killed run, or just claimed)."""
    return sorted(p for p in work.iterdir() if not p.name.startswith("."))


def item_files(claimed: Path) -> list[Path]:
    return sorted(claimed.iterdir()) if claimed.is_dir() else [claimed]


def item_digest(claimed: Path) -> tuple[str, int]:
    """SHA-256 and size of an item: of the file, or of a bundle's (name, file digest) list."""
    if not claimed.is_dir():
        return sha256_file(claimed)
    digest, size = hashlib.sha256(), 0
    for path in item_files(claimed):
        file_sha, file_size = sha256_file(path)
        digest.update(f"{path.name}\0{file_sha}\n".encode("utf-8", "surrogateescape"))
        size += file_size
    return digest.hexdigest(), size


def origin_of(claimed: Path) -> str:
    """The inbox-relative name, made printable: names in odd encodings keep a readable form."""
    _, _, origin = claimed.name.partition(CLAIM_SEPARATOR)
    raw = os.fsencode((origin or claimed.name).replace("%2F", "/"))
    name = raw.decode("utf-8", "replace")
    if claimed.is_dir():
        others = [p.name for p in item_files(claimed) if p.name != Path(name).name]
        name += "".join(f" + {os.fsencode(o).decode('utf-8', 'replace')}" for o in others)
    return name


def archival_folder(claimed: Path) -> Path:
    """Where the item's parsed documents and archival copies wait until it is journaled."""
    digest = hashlib.sha256(os.fsencode(claimed.name)).hexdigest()[:32]
    return claimed.parent / f"{ARCHIVAL_PREFIX}{digest}"


def remove_orphaned_archival_folders(work: Path) -> list[Path]:
    """Archival folders whose item is gone (a run killed between filing an item and tidying up)."""
    wanted = {archival_folder(item) for item in pending_items(work)}
    removed = []
    for folder in sorted(work.glob(f"{ARCHIVAL_PREFIX}*")):
        if folder not in wanted:
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def remove_item(claimed: Path) -> None:
    shutil.rmtree(archival_folder(claimed), ignore_errors=True)
    for path in item_files(claimed):
        path.unlink()
    if claimed.is_dir():
        claimed.rmdir()


def quarantine_item(claimed: Path, quarantine: Path, origin: str, reason: str, sha: str) -> Path:
    """Move a claimed item into quarantine with a `.reason.txt` beside it; never overwrite."""
    quarantine.mkdir(parents=True, exist_ok=True)
    base = Path(origin.split(" + ")[0]).name or "item"
    if claimed.is_dir():
        base = Path(base).stem or "item"
    target = _free_name(quarantine, base, whole=claimed.is_dir())
    reason_file = target.with_name(target.name + ".reason.txt")
    reason_file.write_text(
        f"file: {origin}\nsha256: {sha}\nquarantined: {utcnow().isoformat()}\nreason: {reason}\n",
        encoding="utf-8",
    )
    shutil.rmtree(archival_folder(claimed), ignore_errors=True)
    os.replace(claimed, target)
    return target


def quarantine_copy(source: Path, quarantine: Path, name: str, reason: str, sha: str, origin: str) -> Path:
    """A copy of a stored file in quarantine with its `.reason.txt` (a document dropped in review); never overwrite.

    The copy is written under a temporary name, fsynced and renamed, and the
    reason file is written first, so quarantine never shows a file without its reason.
    """
    quarantine.mkdir(parents=True, exist_ok=True)
    target = _free_name(quarantine, Path(name).name or "dokument", whole=False)
    target.with_name(target.name + ".reason.txt").write_text(
        f"file: {name}\nfrom: {origin}\nsha256: {sha}\nquarantined: {utcnow().isoformat()}\nreason: {reason}\n",
        encoding="utf-8",
    )
    temporary = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, temporary)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target


def _free_name(quarantine: Path, base: str, *, whole: bool) -> Path:
    """`base` in the quarantine folder, numbered (name.1.ext) if it or its reason file is taken."""
    target = quarantine / base
    counter = 1
    while target.exists() or target.with_name(target.name + ".reason.txt").exists():
        stem, suffix = (base, "") if whole else (Path(base).stem, Path(base).suffix)
        target = quarantine / f"{stem}.{counter}{suffix}"
        counter += 1
    return target
