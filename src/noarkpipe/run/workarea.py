"""The inbox, the work area and quarantine: where an item's files are at each moment.

An item is one inbox file, or a *bundle* of files that belong together
(an e-form's `X.json` with its rendering `X.pdf`; a KS Fiks Arkiv message
folder holding `arkivmelding.xml` and its files, claimed by renaming the
folder itself, which its writer must have renamed into the inbox complete,
from a hidden name). Claiming moves an item
out of the inbox with `rename`, which is atomic on one file system: a bundle
is first gathered in a hidden staging folder and then renamed into place,
so the work area never shows half a bundle, and a staging folder left by a
crash is put back into the inbox by the next run.

Each claimed item has an archival folder beside it (hidden, named by a
digest of the item's name, which may be in any encoding) that holds its documents as parsed and their archival copies with
their conversion records. It goes when the item is filed or quarantined;
while the item waits in the work area (a run was killed) it keeps the
conversions done so far, so the next run does not make them again.

Only regular files are ever opened. The inbox is walked with lstat: a
symbolic link (to a file, to a folder, to /etc/passwd), a FIFO, a socket or a
device file is never followed and never opened, not even to read its first
byte (a FIFO would block the run forever). Such an entry is claimed like any
other item, since `rename` moves the link or the FIFO itself, and
`not_regular` gives the reason it is quarantined with. Where a claimed file
is first read (`item_digest`), it is opened with O_NOFOLLOW and its type
checked on the open descriptor (`intake.safety.open_regular`): a second
wall, should anything be swapped in after the scan.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import uuid
from pathlib import Path

from noarkpipe.clock import utcnow
from noarkpipe.core.printable import printable, printable_block
from noarkpipe.errors import StoreError
from noarkpipe.files.safety import describe_entry, not_regular_reason, safe_filename
from noarkpipe.intake.arkivmelding import ARKIVMELDING_NAME
from noarkpipe.store.docstore import sha256_file

log = logging.getLogger(__name__)

CLAIM_SEPARATOR = "__"
STAGING_PREFIX = ".claiming-"
ARCHIVAL_PREFIX = ".archival-"
IGNORED_SUFFIXES = (".part", ".tmp", ".partial", "~")
MAX_ORIGIN_BYTES = 200
# An e-form delivered as data + rendering: both halves are one item.
BUNDLE_PAIRS = ((".json", ".pdf"),)


def _ready(name: str) -> bool:
    return not name.startswith(".") and not name.endswith(IGNORED_SUFFIXES)


def _walk(inbox: Path) -> tuple[list[Path], list[Path]]:
    """Regular files ready for intake, and the other entries (links, FIFOs, sockets, devices), in name order.

    Only real folders are entered: a symbolic link to a folder is an entry
    like any other link. Each folder's entries come before its sub-folders'.
    """
    regular: list[Path] = []
    other: list[Path] = []
    folders = [inbox]
    while folders:
        folder = folders.pop(0)
        try:
            with os.scandir(folder) as scan:
                entries = sorted((e for e in scan if _ready(e.name)), key=lambda e: e.name)
        except OSError as exc:  # one unreadable folder must not stop the night; its files wait
            log.warning("cannot read the inbox folder %s (%s); its files are left for a later run", folder, exc.strerror)
            continue
        subfolders: list[Path] = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                # A KS Fiks Arkiv message folder is one item, claimed whole (moved as it is).
                (regular if _is_message_folder(Path(entry.path)) else subfolders).append(Path(entry.path))
                continue
            (regular if entry.is_file(follow_symlinks=False) else other).append(Path(entry.path))
        folders[:0] = subfolders
    return regular, other


def _is_message_folder(folder: Path) -> bool:
    """A folder holding `arkivmelding.xml` (a regular file, not a link): a KS Fiks Arkiv message."""
    try:
        return stat.S_ISREG((folder / ARKIVMELDING_NAME).lstat().st_mode)
    except OSError:
        return False


def inbox_files(inbox: Path) -> list[Path]:
    """Regular files ready for intake, oldest name first; hidden and partial uploads are left alone."""
    if not inbox.is_dir():
        return []
    return _walk(inbox)[0]


def inbox_items(inbox: Path) -> list[tuple[Path, ...]]:
    """Ready entries grouped into items: `X.json` + `X.pdf` in one folder are one bundle.

    An entry that is not a regular file is an item of its own, never part of
    a bundle, and comes after the regular items: it is claimed to be
    quarantined (see `not_regular`).
    """
    if not inbox.is_dir():
        return []
    files, others = _walk(inbox)
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
    return items + [(other,) for other in others]


def not_regular(claimed: Path) -> str | None:
    """Why a claimed item is not made of regular files only, as a quarantine reason; None if it is.

    Looked at with lstat only: nothing is followed or opened. A bundle is a
    real folder of regular files; anything else in it refuses the whole item.
    """
    if _is_bundle(claimed):
        return next(filter(None, map(_not_regular_file, sorted(claimed.iterdir()))), None)
    return _not_regular_file(claimed)


def _not_regular_file(path: Path) -> str | None:
    mode = path.lstat().st_mode
    if stat.S_ISREG(mode):
        return None
    return not_regular_reason(describe_entry(mode, os.readlink(path) if stat.S_ISLNK(mode) else None))


def _is_bundle(claimed: Path) -> bool:
    """A real folder in the work area (never a link to one: that is quarantined as it is)."""
    return stat.S_ISDIR(claimed.lstat().st_mode)


def _origin_name(source: Path, inbox: Path) -> str:
    origin = source.relative_to(inbox).as_posix().replace("/", "%2F")
    # Keep the claimed name within the 255-byte limit of common file systems.
    return os.fsencode(origin)[-MAX_ORIGIN_BYTES:].decode("utf-8", "surrogateescape")


def claim(sources: tuple[Path, ...], inbox: Path, work: Path) -> Path:
    """Move an item from the inbox into the work area; return its claimed path."""
    # Microseconds: items a killed run left behind sort back into the order they were
    # claimed in, so the next run journals (and numbers) them in the same order.
    stamp = f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
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
    return sorted(claimed.iterdir()) if _is_bundle(claimed) else [claimed]


def item_digest(claimed: Path) -> tuple[str, int]:
    """SHA-256 and size of an item: of the file, or of a bundle's (name, file digest) list.

    The first read of a claimed item: a file that is not regular is refused
    here (`InputFileError`) without being followed or waited on.
    """
    if not _is_bundle(claimed):
        return sha256_file(claimed)
    digest, size = hashlib.sha256(), 0
    for path in item_files(claimed):
        file_sha, file_size = sha256_file(path)
        digest.update(f"{path.name}\0{file_sha}\n".encode("utf-8", "surrogateescape"))
        size += file_size
    return digest.hexdigest(), size


def _claimed_origin(claimed: Path) -> str:
    """The inbox-relative name of the item's (first) file, decoded; it may hold any character."""
    _, _, origin = claimed.name.partition(CLAIM_SEPARATOR)
    return os.fsencode((origin or claimed.name).replace("%2F", "/")).decode("utf-8", "replace")


def origin_of(claimed: Path) -> str:
    """The inbox-relative name, made printable: odd encodings and hidden characters show readably.

    Undecodable bytes become U+FFFD; control, bidi and zero-width characters
    show as escapes (`\\n`, `\\u202e`), so the name cannot forge a line or
    read backwards wherever it is shown or recorded.
    """
    name = _claimed_origin(claimed)
    if _is_bundle(claimed):
        others = [p.name for p in item_files(claimed) if p.name != Path(name).name]
        name += "".join(f" + {os.fsencode(o).decode('utf-8', 'replace')}" for o in others)
    return printable(name)


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
    bundle = _is_bundle(claimed)
    for path in item_files(claimed):
        path.unlink()
    if bundle:
        claimed.rmdir()


def quarantine_item(claimed: Path, quarantine: Path, origin: str, reason: str, sha: str | None) -> Path:
    """Move a claimed item into quarantine with a `.reason.txt` beside it; never overwrite.

    The item keeps its own name (a bundle: its stem), made a safe file name;
    `sha` is None for an entry that was never opened (not a regular file).
    A link or a FIFO is moved as it is, not read.
    """
    quarantine.mkdir(parents=True, exist_ok=True)
    bundle = _is_bundle(claimed)
    name = Path(_claimed_origin(claimed)).name
    base = safe_filename(Path(name).stem if bundle else name, "item")
    target = _free_name(quarantine, base, whole=bundle)
    _write_reason(target, file=origin, sha256=sha or "none (not opened)", reason=reason)
    shutil.rmtree(archival_folder(claimed), ignore_errors=True)
    os.replace(claimed, target)
    return target


def quarantine_copy(source: Path, quarantine: Path, name: str, reason: str, sha: str, origin: str) -> Path:
    """A copy of a stored file in quarantine with its `.reason.txt` (a document dropped in review); never overwrite.

    The copy is written under a temporary name, fsynced and renamed, and the
    reason file is written first, so quarantine never shows a file without its reason.
    """
    quarantine.mkdir(parents=True, exist_ok=True)
    target = _free_name(quarantine, safe_filename(name, "dokument"), whole=False)
    _write_reason(target, file=name, **{"from": origin}, sha256=sha, reason=reason)
    temporary = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, temporary)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target


def _write_reason(target: Path, **fields: str) -> None:
    """The `.reason.txt` beside a quarantined file: a `key: value` line per field, then `quarantined:` and `reason:`.

    Every value is made printable and a reason's later lines (its hint) are
    indented, so a newline in a file name or a reason cannot add a line (a
    forged `reason:`) of its own.
    """
    fields = dict(fields)
    reason = fields.pop("reason")
    lines = [*(f"{key}: {printable(value)}" for key, value in fields.items()),
             f"quarantined: {utcnow().isoformat()}", f"reason: {printable_block(reason)}"]
    target.with_name(target.name + ".reason.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _free_name(quarantine: Path, base: str, *, whole: bool) -> Path:
    """`base` in the quarantine folder, numbered (name.1.ext) if it or its reason file is taken."""
    target = quarantine / base
    counter = 1
    while target.exists() or target.with_name(target.name + ".reason.txt").exists():
        stem, suffix = (base, "") if whole else (Path(base).stem, Path(base).suffix)
        target = quarantine / f"{stem}.{counter}{suffix}"
        counter += 1
    return target
