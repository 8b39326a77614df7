"""The desk's other pages: the last runs' reports, the quarantine (and releasing an item from it), the public journal.

Runs: `recent_runs` reads the store's run table and finds each run's report
files where the run wrote them (`ops.report.report_paths` in
data_dir/reports); `run_report_html` gives a report page as the run wrote it.
A report covers the whole installation. Its titles of screened
journalposts are their offentligTittel, but the file names beside them (the
inbox file, the documents without an archival copy) and the review reasons
are not screened, so a report can hold screened content: `report_access`
says which arkivskaper a report shows items of, and for which of them it
shows screened journalposts, so the desk can ask for the grant and the
clearance each needs.

Quarantine: the nightly run moves an item it cannot take into the
arkivskaper's quarantine folder under its own (safe) name, with
`<name>.reason.txt` beside it (`run.workarea.quarantine_item`; a document
dropped in review is copied there the same way). Every item is an entry at
the top of that folder: a file, or a folder for a bundle (an e-form's
`X.json` + `X.pdf`, a KS Fiks Arkiv message folder), or, for an inbox entry
that was not a regular file, the link or FIFO itself. `quarantine` lists
them, `release` moves one back into the inbox, where the next run takes it
up again as a new claim (its bytes were never journaled, so nothing is
skipped as a duplicate).

A released item's reason file is kept beside where the item was, renamed
`<name>.released-<UTC time>.reason.txt` with the release (when, by whom)
appended. Beside it, not in a `released/` folder: the run names a new
quarantine so that it never takes a name whose reason file exists, and the
health check counts every entry of the folder that does not end in
`.reason.txt` as an item waiting; a record ending in `.reason.txt` is
neither an item nor in the way of one, and an item quarantined again
under the same name shows its earlier reasons as `QuarantinedFile.releases`.

Journal: `journal_preview` is the public journal exactly as `noarkpipe
journal publish` writes it (`services.publish`, written into a private
temporary folder of the work area and read back), with the same checks
against screened content.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import stat
import tempfile
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import select

from noarkpipe.clock import utcnow
from noarkpipe.core.printable import printable
from noarkpipe.errors import InputFileError, NoarkpipeError, ReviewError, StoreError
from noarkpipe.files.safety import open_regular
from noarkpipe.ops.redact import mask_identity_numbers
from noarkpipe.ops.report import RunReport, report_paths
from noarkpipe.services import publish as publishing
from noarkpipe.services.installation import Installation
from noarkpipe.store import tables
from noarkpipe.store.docstore import fsync_path

log = logging.getLogger("noarkpipe.desk")

REASON_SUFFIX = ".reason.txt"
RELEASED_MARK = ".released-"
MAX_REASON_BYTES = 64 * 1024
COPY_CHUNK = 1024 * 1024


# ---------------------------------------------------------------- runs


class RunEntry(BaseModel):
    run_id: int
    started: datetime
    finished: datetime | None
    outcome: str = Field(description="running, completed, stopped or failed, as the run table has it")
    exit_code: int | None = Field(description="from the run's report; None without one (a run still going, or one that died)")
    exit_name: str | None = Field(default=None, description="the exit code's name (ok, items_quarantined, ...)")
    counts: dict[str, int] = Field(description="journaled, needs_review, quarantined, duplicates")
    html: Path | None
    json_path: Path | None


def recent_runs(opened: Installation, limit: int = 20) -> list[RunEntry]:
    """The last `limit` runs, newest first, with their report files where they exist."""
    with opened.store.read() as session:
        rows = session.scalars(select(tables.Run).order_by(tables.Run.id.desc()).limit(limit)).all()
        runs = [
            (row.id, row.started_at, row.finished_at, row.outcome,
             {"journaled": row.journaled, "needs_review": row.needs_review,
              "quarantined": row.quarantined, "duplicates": row.duplicates})
            for row in rows
        ]
    entries = []
    for run_id, started, finished, outcome, counts in runs:
        json_path, html_path = report_paths(opened.settings.reports_dir, run_id)
        exit_code, exit_name = _exit_of(json_path)
        entries.append(RunEntry(
            run_id=run_id, started=started, finished=finished, outcome=outcome, exit_code=exit_code,
            exit_name=exit_name, counts=counts, html=html_path if html_path.is_file() else None,
            json_path=json_path if json_path.is_file() else None,
        ))
    return entries


def _exit_of(json_path: Path) -> tuple[int | None, str | None]:
    try:
        report = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    code, name = report.get("exit_code"), report.get("exit_name")
    return (code if isinstance(code, int) else None), (name if isinstance(name, str) else None)


def run_report_html(opened: Installation, run_id: int) -> str:
    """The run's HTML report as the run wrote it (one self-contained page); ReviewError when there is none.

    It is the report of the whole installation and it can hold screened
    content: the titles of screened journalposts are their offentligTittel,
    but their inbox file names, the names of their documents without an
    archival copy and the review reasons are shown as they are (identity
    numbers masked, nothing else). Show it only as `report_access` allows.
    """
    _json_path, html_path = report_paths(opened.settings.reports_dir, run_id)
    try:
        with open_regular(html_path) as handle:
            return handle.read().decode("utf-8", "replace")
    except (OSError, InputFileError):
        raise ReviewError(
            f"run {run_id} has no report", hint="a run writes its report when it ends; one that died left none"
        ) from None


class ReportAccess(BaseModel):
    creators: frozenset[str] = Field(description="arkivskaper whose items the report lists")
    screened: frozenset[str] = Field(
        description="arkivskaper of which the report lists a journalpost screened now (its file and document names)"
    )


def report_access(opened: Installation, run_id: int) -> ReportAccess:
    """Whose items a run's report shows, and of whom it shows screened journalposts.

    A user should have a grant for every arkivskaper in `creators` and be
    cleared for every one in `screened`. Whether a journalpost is screened is
    asked of the store now, so skjerming set in review after the run counts.
    A report whose JSON cannot be read counts as showing screened content of
    every arkivskaper of the installation.
    """
    json_path, _html = report_paths(opened.settings.reports_dir, run_id)
    everyone = frozenset(a.kode for a in opened.settings.arkivskaper)
    try:
        report = RunReport.model_validate_json(json_path.read_bytes())
    except (OSError, ValueError):
        return ReportAccess(creators=everyone, screened=everyone)
    items = [*report.registered, *report.quarantine, *report.duplicate_items]
    creators = {i.arkivskaper for i in items} | {m.arkivskaper for m in report.mailboxes if m.errors}
    numbered = {(i.arkivskaper, i.journalpost) for i in [*report.registered, *report.duplicate_items] if i.journalpost}
    return ReportAccess(creators=frozenset(creators), screened=frozenset(_screened_creators(opened, numbered)))


def report_has_screened_content(opened: Installation, run_id: int) -> bool:
    """True when the run's report shows a journalpost that is screened: show it only to users cleared for it."""
    return bool(report_access(opened, run_id).screened)


def _screened_creators(opened: Installation, numbered: set[tuple[str, str]]) -> set[str]:
    """The koder among (kode, 'år/nr') whose journalpost is screened, or not found (then assumed screened)."""
    if not numbered:
        return set()
    wanted: dict[tuple[str, int, int], str] = {}
    for kode, number in numbered:
        year, _, sequence = number.partition("/")
        if not (year.isdigit() and sequence.isdigit()):
            return {k for k, _ in numbered}
        wanted[(kode, int(year), int(sequence))] = kode
    J, A = tables.Journalpost, tables.Arkivskaper
    with opened.store.read() as session:
        rows = session.execute(
            select(A.arkivskaperID, J.journalaar, J.journalsekvensnummer, J.tilgangsrestriksjon)
            .join(A, A.id == J.arkivskaper_id)
            .where(A.arkivskaperID.in_({kode for kode, _, _ in wanted}))
            .where(J.journalaar.in_({year for _, year, _ in wanted}))
            .where(J.journalsekvensnummer.in_({sequence for _, _, sequence in wanted}))
        ).all()
    found = {(kode, year, sequence): restriksjon for kode, year, sequence, restriksjon in rows}
    return {kode for key, kode in wanted.items() if key not in found or found[key] is not None}


# ---------------------------------------------------------------- quarantine


class Release(BaseModel):
    """An earlier stay in quarantine under the same name, ended by a release."""

    released: datetime | None
    by: str | None
    reason: str | None


class QuarantinedFile(BaseModel):
    name: str = Field(description="the entry's name in the arkivskaper's quarantine folder")
    size: int = Field(description="bytes; of a bundle folder, of all its files")
    quarantined: datetime = Field(description="when it was quarantined (its reason file says), else its mtime")
    reason: str | None = Field(description="the reason the run gave, with its hint; None without a readable reason file")
    kind: str = Field(description="file, folder (a bundle) or other (a link, FIFO, ... moved as it was)")
    releasable: bool = Field(description="only regular files and folders of them go back into the inbox")
    releases: list[Release] = Field(default_factory=list, description="earlier stays under this name, oldest first")


def quarantine(opened: Installation, kode: str) -> list[QuarantinedFile]:
    """What waits in `kode`'s quarantine, newest first; reason files and release records are not items.

    The names and reasons were never screened (the run did not get as far),
    so they are shown as the run recorded them.
    """
    folder = opened.creator(kode).quarantine
    try:
        with os.scandir(folder) as scan:
            entries = sorted(e.name for e in scan if not e.name.startswith(".") and not e.name.endswith(REASON_SUFFIX))
    except FileNotFoundError:
        return []
    records = _release_records(folder)
    found = [_listed(folder, name, records.get(name, [])) for name in entries]
    return sorted((f for f in found if f is not None), key=lambda f: (f.quarantined, f.name), reverse=True)


def _listed(folder: Path, name: str, records: list[Path]) -> QuarantinedFile | None:
    path = folder / name
    try:
        mode = path.lstat()
    except FileNotFoundError:  # released or cleared away while we looked
        return None
    kind = "file" if stat.S_ISREG(mode.st_mode) else "folder" if stat.S_ISDIR(mode.st_mode) else "other"
    size = _folder_size(path) if kind == "folder" else mode.st_size
    fields = _reason_fields(folder / f"{name}{REASON_SUFFIX}")
    when = _moment(fields.get("quarantined")) or _mtime(folder / f"{name}{REASON_SUFFIX}") or _as_utc(mode.st_mtime)
    return QuarantinedFile(
        name=name, size=size, quarantined=when, reason=fields.get("reason"), kind=kind,
        releasable=kind == "file" or (kind == "folder" and _regular_tree(path)),
        releases=sorted((_release(record) for record in records),
                        key=lambda r: r.released or datetime.min.replace(tzinfo=UTC)),
    )


def _release_records(folder: Path) -> dict[str, list[Path]]:
    records: dict[str, list[Path]] = {}
    for path in folder.glob(f"*{RELEASED_MARK}*{REASON_SUFFIX}"):
        name, mark, _ = path.name.rpartition(RELEASED_MARK)
        if mark:
            records.setdefault(name, []).append(path)
    return records


def _release(record: Path) -> Release:
    fields = _reason_fields(record)
    return Release(released=_moment(fields.get("released")), by=fields.get("released_by"), reason=fields.get("reason"))


def _reason_fields(path: Path) -> dict[str, str]:
    """The `key: value` fields of a reason file, the reason with its indented lines (hint) as one value.

    Read as the run reads inbox files: the file itself only (never a link's
    target, a FIFO or a device), at most MAX_REASON_BYTES of it.
    """
    try:
        with open_regular(path) as handle:
            raw = handle.read(MAX_REASON_BYTES + 1)
    except (OSError, InputFileError):
        return {}
    text = raw[:MAX_REASON_BYTES].decode("utf-8", "replace")
    if len(raw) > MAX_REASON_BYTES:
        text += " …"
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if key is not None and line[:1].isspace():
            fields[key] += "\n" + line  # a reason's later lines are indented (`workarea._write_reason`)
            continue
        key, colon, value = line.partition(": ")
        if not colon or key in fields:
            key = None
            continue
        fields[key] = value
    return fields


def _moment(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _mtime(path: Path) -> datetime | None:
    try:
        return _as_utc(path.lstat().st_mtime)
    except OSError:
        return None


def _as_utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _folder_size(folder: Path) -> int:
    total = 0
    for root, _folders, files in os.walk(folder):  # os.walk does not follow links to folders
        for name in files:
            info = os.lstat(os.path.join(root, name))
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def _regular_tree(folder: Path) -> bool:
    """A folder holding regular files and folders of them only: nothing the run would refuse unread."""
    for root, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            mode = os.lstat(os.path.join(root, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return False
    return True


def release(opened: Installation, kode: str, name: str, actor: str) -> Path:
    """Move the quarantined item `name` back into `kode`'s inbox for the next run; return where it is now.

    `name` must be an entry of the quarantine folder itself, as `quarantine`
    lists it: no path, no '..', not hidden, not a reason file, not a link or
    anything but a regular file or a folder of them (ReviewError). A name
    already in the inbox is refused. On one file system the item is moved
    with a rename (a hard link, which never replaces what is there, for a
    file); across file systems it is copied under a hidden name the run
    skips, synced, and renamed into place before the quarantined item goes.
    The reason file is kept as a release record (see the module's account).
    """
    creator = opened.creator(kode)
    folder, inbox = creator.quarantine, creator.inbox
    source = _item(folder, name, kode)
    target = inbox / name
    if os.path.lexists(target):
        raise ReviewError(
            f"'{printable(name)}' already waits in the inbox of {kode}; it is left in quarantine",
            hint="let the next run take the file in the inbox first, then release this one",
        )
    inbox.mkdir(parents=True, exist_ok=True)
    try:
        _move(source, target)
    except FileExistsError:
        raise ReviewError(f"'{printable(name)}' arrived in the inbox of {kode} just now; it is left in quarantine") from None
    except OSError as exc:
        raise StoreError(
            f"cannot move '{printable(name)}' from {folder} into the inbox {inbox}: {exc.strerror or exc}",
            hint="the desk must be able to write both folders",
        ) from exc
    _keep_reason(folder, name, actor)
    log.info("%s released %s of %s from quarantine into the inbox", printable(actor),
             mask_identity_numbers(printable(name)), kode)
    return target


def _item(folder: Path, name: str, kode: str) -> Path:
    refused = ReviewError(
        f"'{printable(name)}' is not an item in the quarantine of {kode}",
        hint="give the name as the quarantine page lists it",
    )
    if (
        not isinstance(name, str) or not name or name in (".", "..") or name.startswith(".")
        or any(c in name for c in "/\\\0") or name.endswith(REASON_SUFFIX)
    ):
        raise refused
    path = folder / name
    try:
        mode = path.lstat().st_mode
    except OSError:
        raise refused from None
    if stat.S_ISLNK(mode):
        raise ReviewError(
            f"'{printable(name)}' is a symbolic link; only files are released",
            hint="put the file itself into the inbox, not a link to it",
        )
    if not (stat.S_ISREG(mode) or (stat.S_ISDIR(mode) and _regular_tree(path))):
        raise ReviewError(f"'{printable(name)}' is not a regular file or a folder of them; it stays in quarantine")
    return path


def _move(source: Path, target: Path) -> None:
    if stat.S_ISDIR(source.lstat().st_mode):
        try:
            os.rename(source, target)  # fails on a folder of that name that holds anything
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _copy_folder(source, target)
            shutil.rmtree(source)
        return
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _copy_file(source, target)
        elif os.path.lexists(target):
            raise FileExistsError(target) from exc
        else:  # a file system without hard links
            os.rename(source, target)
            return
    source.unlink()


def _copy_file(source: Path, target: Path) -> None:
    partial = target.with_name(f".{target.name}.releasing-{uuid.uuid4().hex}")
    try:
        _copy_bytes(source, partial)
        os.link(partial, target, follow_symlinks=False)  # never over a file that came meanwhile
    finally:
        partial.unlink(missing_ok=True)
    fsync_path(target.parent)


def _copy_folder(source: Path, target: Path) -> None:
    partial = target.with_name(f".{target.name}.releasing-{uuid.uuid4().hex}")
    try:
        partial.mkdir()
        for root, folders, files in os.walk(source):
            into = partial / Path(root).relative_to(source)
            for name in folders:
                (into / name).mkdir()
            for name in files:
                _copy_bytes(Path(root) / name, into / name)
            fsync_path(into)
        os.rename(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    fsync_path(target.parent)


def _copy_bytes(source: Path, target: Path) -> None:
    try:
        reader = open_regular(source)
    except InputFileError as exc:
        raise OSError(errno.EINVAL, str(exc)) from exc
    with reader, open(target, "xb") as writer:
        while chunk := reader.read(COPY_CHUNK):
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copystat(source, target, follow_symlinks=False)


def _keep_reason(folder: Path, name: str, actor: str) -> Path:
    """The item's reason file renamed into its release record, with the release appended; one is made if it had none."""
    now = utcnow()
    stamp = f"{now:%Y%m%dT%H%M%SZ}"
    record = folder / f"{name}{RELEASED_MARK}{stamp}{REASON_SUFFIX}"
    counter = 1
    while os.path.lexists(record):
        record = folder / f"{name}{RELEASED_MARK}{stamp}.{counter}{REASON_SUFFIX}"
        counter += 1
    lines = f"released: {now.isoformat()}\nreleased_by: {printable(actor)}\n"
    reason = folder / f"{name}{REASON_SUFFIX}"
    try:
        os.rename(reason, record)
    except FileNotFoundError:
        lines = f"file: {printable(name)}\n" + lines
    try:
        fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    except OSError as exc:  # the reason file was a link: it is kept as it was, the release is in the log
        log.warning("release of %s not recorded in %s: %s", mask_identity_numbers(printable(name)), record, exc.strerror)
        return record
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(lines)
    return record


# ---------------------------------------------------------------- the public journal


def journal_preview(opened: Installation, kode: str, date_from: date, date_to: date) -> str:
    """The public journal's HTML page for journaldato `date_from`..`date_to`, exactly as `noarkpipe journal publish` writes it.

    Written by the publish service itself, with its checks, into a private
    temporary folder of the work area; nothing else is kept. ReviewError for
    a period that ends before it begins; ConfigError (from publish) when the
    arkivskaper has journaled nothing yet.
    """
    if date_to < date_from:
        raise ReviewError(f"the period ends ({date_to}) before it begins ({date_from})")
    work = opened.settings.work_dir
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix=".journal-preview-") as folder:
        published = publishing.publish(opened, kode, date_from, date_to, Path(folder))
        try:
            return Path(published.html).read_text(encoding="utf-8")
        except OSError as exc:
            raise NoarkpipeError(f"the public journal was written but cannot be read back: {exc}") from exc
