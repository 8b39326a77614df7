"""The nightly run: claim inbox files, parse, convert, store, journal, file or quarantine.

Each item moves through durable states. The claimed file sits in
work/<arkivskaper>/ until it is journaled (then removed) or quarantined (then
moved with a reason file), so a run that dies half-way leaves its items in
work/, and the next run picks them up first. The SHA-256 of the claimed file
is the idempotency key: bytes journaled once are never journaled again.

Every document gets its archival copy before its item is journaled. The
copies are made by an executor (`execution.py`), several at once, while
this loop goes on parsing the next items: it keeps a window of items in
flight, and journals them in the order they were claimed, each in one
transaction, as soon as the first in line has all its copies. Copies are
kept in the item's archival folder with a record of how they were made
(state `converted` once all are there), so a run killed before journaling
does not make them again. Documents of one item with the same bytes share
one conversion, so no two tasks ever write the same copy.

The letter comes first: a document that cannot get an archival copy (a
format neither accepted nor convertible, a damaged or empty file, a
conversion that failed or ran out of time) is journaled as received,
without Arkivformat, with the reason on the document, and its journalpost
goes to the review queue (status M). In a file of several letters (a scan
batch) the other letters go to review too, since a page may be missing
from them. Whole-item quarantine is for what intake cannot read at all or
refuses as hostile (`InputFileError` from a parser), and for a file whose
reading runs past its time or memory: each item is read in a child process
that is stopped at the [intake] limits (`isolation.py`), so no file can
hang the run or take the machine's memory. A missing program or a
setting the converter refuses is no fault of the document: it stops the
run (exit 5) with the item left in work/.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from noarkpipe.run import isolation
from noarkpipe.files import pdfstreams
from noarkpipe.run import workarea
from noarkpipe._exec import ocrmypdf, sandbox
from noarkpipe.classify.policy import Policy, load_policy
from noarkpipe.clock import utcnow
from noarkpipe.config import ArkivskaperSettings, Settings
from noarkpipe.convert import (
    ConversionJob,
    ConversionOptions,
    ConversionOutcome,
    ConversionResult,
    FormatId,
    convert_document,
    is_email_body,
    previous_outcome,
)
from noarkpipe.convert.job import received_format
from noarkpipe.store.docstore import DocumentStore, StoreBatch, StoredBlob, sha256_file
from noarkpipe.errors import (
    ConfigError,
    InputFileError,
    MissingDependencyError,
    NoarkpipeError,
    SourceUnavailableError,
    StoreError,
)
from noarkpipe.run.execution import Executor, LocalExecutor, Task, TaskOutcome
from noarkpipe.intake import mailbox
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.intake.dispatch import choose_parser
from noarkpipe.core.submission import Source, Submission, SubmissionDocument
from noarkpipe.store import tables
from noarkpipe.journal.journaling import (
    ArchivalVariant,
    KonverteringRecord,
    StoredDocument,
    Structure,
    ensure_structure,
    journal_submission,
)
from noarkpipe.store.engine import Store
from noarkpipe.core.codes import Journalstatus
from noarkpipe.run.timing import StageTime, StageTimer
from noarkpipe.store.tables import ItemState


class Outcome(StrEnum):
    journaled = "journaled"
    needs_review = "needs_review"
    quarantined = "quarantined"
    duplicate = "duplicate"


log = logging.getLogger(__name__)

PRELOAD = (
    "noarkpipe.convert.preload", "ocrmypdf", "noarkpipe.run.nightly", "noarkpipe.intake.msg", "noarkpipe.intake.tnef",
    "click", "rich.console", "rich.progress", "rich.table", "noarkpipe.api", "noarkpipe.core.printable",
)
"""What the fork server imports once for the conversion workers and the parse children (one server, one list).

Besides the parsers, what they import only when needed (the Outlook and
TNEF readers, 30 ms), and what the CLI imports: every child runs the main
module again (multiprocessing does, to find what it defines), which costs an
item 40 ms unless its imports (click, rich, the API) are already in the
server. Not `noarkpipe.cli` itself: run as `python -m noarkpipe.cli`, the
child would find it imported already and warn on stderr, which cron mails.
"""

HARD_LIMIT_GRACE_SECONDS = 60
"""How long past [convert] timeout_s a conversion may run before its worker is killed.

The conversion stops its own external programs at timeout_s; the executor's
hard limit is for what it cannot stop itself, and must not cut short the
checks that follow the last program.
"""


class ArchivalGap(BaseModel):
    """A document journaled as received, without an archival copy, and why."""

    document: str = Field(description="the document's file name")
    reason: str


class ItemResult(BaseModel):
    arkivskaper: str
    origin_name: str
    outcome: Outcome
    sha256: str | None = None
    journalpost: str | None = Field(default=None, description="journalaar/journalsekvensnummer")
    saksmappe: str | None = None
    journalstatus: str | None = None
    reason: str | None = None
    quarantine_path: str | None = None
    archival_gaps: list[ArchivalGap] = Field(
        default_factory=list, description="documents of this journalpost kept without an archival copy"
    )


class MailboxResult(BaseModel):
    """What one mailbox (IMAP folder or maildir) gave and took back in this run."""

    arkivskaper: str
    mailbox: str
    fetched: int = 0
    already_fetched: int = 0
    too_large: list[str] = Field(default_factory=list)
    disposed: int = 0
    errors: list[str] = Field(default_factory=list)


class RunSummary(BaseModel):
    run_id: int
    started_at: datetime
    finished_at: datetime | None = None
    stopped_early: bool = False
    items: list[ItemResult] = Field(default_factory=list)
    mailboxes: list[MailboxResult] = Field(default_factory=list)
    stages: dict[str, StageTime] = Field(default_factory=dict, description="wall time per stage of the loop")
    archival_copies: int = Field(default=0, description="documents given an archival copy in this run")
    kept_as_archival: int = Field(default=0, description="documents already in an archival format, kept as they are")
    conversion_failures: int = Field(default=0, description="documents that could not get an archival copy")
    documents_without_archival_copy: int = Field(
        default=0, description="documents journaled as received without an archival copy; their journalposts wait in review"
    )
    notes: list[str] = Field(default_factory=list, description="problems after the run, e.g. report not mailed")

    @property
    def unavailable_sources(self) -> list[str]:
        """Mailbox problems an operator must look at (the run itself went on)."""
        return [f"{m.arkivskaper}: {m.mailbox}: {e}" for m in self.mailboxes for e in m.errors]

    def count(self, outcome: Outcome, arkivskaper: str | None = None) -> int:
        return sum(
            1
            for item in self.items
            if item.outcome is outcome and (arkivskaper is None or item.arkivskaper == arkivskaper)
        )

    @property
    def journaled(self) -> int:
        return self.count(Outcome.journaled)

    @property
    def needs_review(self) -> int:
        return self.count(Outcome.needs_review)

    @property
    def quarantined(self) -> int:
        return self.count(Outcome.quarantined)

    @property
    def duplicates(self) -> int:
        return self.count(Outcome.duplicate)


Progress = Callable[[str, ItemResult | None], None]
"""Called with ('start', None) per creator batch size unknown, and ('item', result) per item."""


def conversion_options(settings: Settings) -> ConversionOptions:
    """The [convert] and [intake] settings as the conversion takes them."""
    try:
        return ConversionOptions(
            **settings.convert.model_dump(exclude={"workers", "scheduler", "max_worker_memory_mb"}),
            ocr_languages=settings.intake.ocr_languages,
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ConfigError(
            f"{settings.config_path}: {'.'.join(map(str, problem['loc']))}: "
            f"{problem['msg'].removeprefix('Value error, ')}",
            hint="see the [intake] and [convert] sections of the sample config ('noarkpipe init')",
        ) from None


def _mailbox_result(kode: str, report) -> MailboxResult:
    return MailboxResult(
        arkivskaper=kode,
        mailbox=report.mailbox,
        fetched=len(report.fetched),
        already_fetched=report.skipped_already_fetched,
        too_large=report.too_large,
        errors=report.errors,
    )


class NightlyRun:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        timer: StageTimer | None = None,
        executor: Executor | None = None,
    ) -> None:
        """`executor` runs the conversions; by default a `LocalExecutor` with [convert] workers, for this run."""
        self.settings = settings
        self.store = store
        self.timer = timer or StageTimer()
        self.documents = DocumentStore(settings.documents_dir)
        self.progress = progress or (lambda _event, _item: None)
        self.stop = stop or threading.Event()
        self.conversion = conversion_options(settings)
        self._executor = executor
        self._own_executor = executor is None
        self._submitted: list[Task[ConversionOutcome]] = []
        self._convert_scratch = settings.work_dir / ".scratch" / "convert"
        self._parser: isolation.IsolatedWorker | None = None
        """The child process items are read in (`_parse_isolated`), started with the first."""

    def run(self) -> RunSummary:
        actor = self.settings.actor
        started = utcnow()
        with self.store.write(actor) as session:
            run_row = tables.Run(
                started_at=started, outcome="running", host=socket.gethostname(), pid=os.getpid()
            )
            session.add(run_row)
            session.flush()
            run_id = run_row.id
        self.timer.started(run_id)
        # Under the run lock: no other run of this installation is writing documents now.
        for path in self.documents.remove_stale_temporaries():
            log.info("removed %s, left by a run that was killed while storing it", path.name)
        summary = RunSummary(run_id=run_id, started_at=started)
        try:
            for creator in self.settings.arkivskaper:
                if self.stop.is_set():
                    break
                self._run_creator(creator, summary)
            summary.stopped_early = self.stop.is_set()
            outcome = "stopped" if summary.stopped_early else "completed"
        except BaseException:
            outcome = "failed"
            raise
        finally:
            if self._parser is not None:
                self._parser.close()
            self._close_executor()
            summary.finished_at = utcnow()
            summary.stages = self.timer.totals()
            self._finish(run_id, summary, outcome)
        return summary

    def _finish(self, run_id: int, summary: RunSummary, outcome: str) -> None:
        try:
            with self.store.write(self.settings.actor) as session:
                run_row = session.get(tables.Run, run_id)
                run_row.finished_at = summary.finished_at
                run_row.outcome = outcome
                run_row.journaled = summary.journaled
                run_row.needs_review = summary.needs_review
                run_row.quarantined = summary.quarantined
                run_row.duplicates = summary.duplicates
        finally:
            self.settings.runs_dir.mkdir(parents=True, exist_ok=True)
            path = self.settings.runs_dir / f"run-{run_id:06d}.json"
            path.write_text(summary.model_dump_json(indent=2), encoding="utf-8")

    def _run_creator(self, creator: ArkivskaperSettings, summary: RunSummary) -> None:
        now = utcnow()
        with self.store.write(self.settings.actor) as session:
            structure = ensure_structure(session, creator, self.settings.actor, now)
        policy = load_policy(self.settings, creator)
        work = self.settings.work_dir / creator.kode
        work.mkdir(parents=True, exist_ok=True)
        creator.inbox.mkdir(parents=True, exist_ok=True)
        with self.timer.stage("fetch"):
            mailboxes = [] if self.stop.is_set() else self._fetch_mailboxes(creator, structure)
        summary.mailboxes.extend(mailboxes)
        # Items a killed run left behind come first, then the new ones.
        workarea.recover_interrupted_claims(work, creator.inbox)
        pending = workarea.pending_items(work)
        for sources in workarea.inbox_items(creator.inbox):
            if self.stop.is_set():
                break
            with self.timer.stage("claim"):
                pending.append(workarea.claim(sources, creator.inbox, work))
        workarea.remove_orphaned_archival_folders(work)
        # Items are parsed and their conversions submitted up to a window ahead
        # of journaling, which takes them in claim order.
        window: deque[_Item] = deque()
        ahead = 2 * (self._executor.workers if self._executor else self.settings.convert.workers)
        for claimed in pending:
            if self.stop.is_set():
                break
            if (refused := workarea.not_regular(claimed)) is not None:  # a link, a FIFO: never opened
                self._report([self._quarantine_unopened(claimed, creator, structure, summary.run_id, refused)], summary)
                continue
            window.append(self._begin(claimed, creator, structure, summary.run_id))
            while window and (len(window) > ahead or window[0].ready()):
                self._report(self._complete(window.popleft(), creator, structure, policy, summary), summary)
        while window:
            item = window.popleft()
            if self.stop.is_set() and not item.ready():
                continue  # its conversions were not finished: it waits in work/ for the next run
            self._report(self._complete(item, creator, structure, policy, summary), summary)
        if not self.stop.is_set():
            self._file_journaled_leftovers(structure, summary.run_id)
        with self.timer.stage("dispose"):
            self._dispose_mailboxes(creator, structure, mailboxes)

    def _file_journaled_leftovers(self, structure: Structure, run_id: int) -> None:
        """Items an earlier, killed run journaled and removed from work/ but did not get to mark filed.

        Every item still in work/ has been through this run by now, so a journaled
        item of another run has no file left: filing it is all that remained.
        """
        with self.store.write(self.settings.actor) as session:
            for row in session.scalars(
                select(tables.IntakeItem)
                .where(tables.IntakeItem.arkivskaper_id == structure.arkivskaper_id)
                .where(tables.IntakeItem.state == ItemState.journaled)
                .where(tables.IntakeItem.run_id != run_id)
            ):
                row.state, row.updated_at = ItemState.filed, utcnow()

    def _fetch_mailboxes(self, creator: ArkivskaperSettings, structure: Structure) -> list[MailboxResult]:
        """New mail from the creator's IMAP folder and maildir into its inbox, each message once."""
        results = []
        common = dict(
            arkivskaper_id=structure.arkivskaper_id,
            store=self.store,
            actor=self.settings.actor,
            limits=self.settings.intake.limits,
        )
        if creator.imap is not None:
            key = mailbox.imap_mailbox_key(creator.imap)
            try:
                password = mailbox.imap_password(creator.imap)
                report = mailbox.fetch_imap(creator.imap, password, creator.inbox, **common)
                results.append(_mailbox_result(creator.kode, report))
            except (SourceUnavailableError, ConfigError) as exc:  # e.g. the password variable is unset
                log.warning("%s: %s", creator.kode, exc)
                results.append(MailboxResult(arkivskaper=creator.kode, mailbox=key, errors=[str(exc)]))
        if creator.maildir is not None:
            report = mailbox.fetch_maildir(creator.maildir, creator.inbox, **common)
            results.append(_mailbox_result(creator.kode, report))
        return results

    def _dispose_mailboxes(
        self, creator: ArkivskaperSettings, structure: Structure, results: list[MailboxResult]
    ) -> None:
        """Move or flag on the server what is now journaled or quarantined, and only that."""
        by_key = {r.mailbox: r for r in results}
        common = dict(arkivskaper_id=structure.arkivskaper_id, store=self.store, actor=self.settings.actor)
        if creator.imap is not None:
            key = mailbox.imap_mailbox_key(creator.imap)
            result = by_key.get(key)
            if result is None or result.errors:
                return  # the server was not reachable at the start; try again next run
            try:
                report = mailbox.dispose_fetched(creator.imap, mailbox.imap_password(creator.imap), **common)
                result.disposed, result.errors = report.disposed, result.errors + report.errors
            except SourceUnavailableError as exc:
                result.errors.append(str(exc))
        if creator.maildir is not None:
            report = mailbox.dispose_maildir(creator.maildir, **common)
            result = by_key.get(report.mailbox)
            if result is not None:
                result.disposed, result.errors = report.disposed, result.errors + report.errors

    def _report(self, results: list[ItemResult], summary: RunSummary) -> None:
        for result in results:
            summary.items.append(result)
            self.progress("item", result)

    def _begin(self, claimed: Path, creator: ArkivskaperSettings, structure: Structure, run_id: int) -> _Item:
        """Register the item, parse it and submit its documents' conversions; finished at once if it cannot go on."""
        origin = workarea.origin_of(claimed)
        sha, size = workarea.item_digest(claimed)
        now = utcnow()
        actor = self.settings.actor
        item = _Item(claimed=claimed, origin=origin, sha=sha, now=now)
        with self.store.write(actor) as session:
            row = session.scalar(
                select(tables.IntakeItem)
                .where(tables.IntakeItem.arkivskaper_id == structure.arkivskaper_id)
                .where(tables.IntakeItem.sha256 == sha)
            )
            if row is not None and row.state in (ItemState.journaled, ItemState.filed):
                journalpost = session.get(tables.Journalpost, row.journalpost_id)
                existing = f"{journalpost.journalaar}/{journalpost.journalsekvensnummer}"
                refiled = row.id if row.state == ItemState.journaled else None
            else:
                existing = None
                if row is None:
                    row = tables.IntakeItem(
                        arkivskaper_id=structure.arkivskaper_id,
                        sha256=sha,
                        size=size,
                        source="unknown",
                        origin_name=origin,
                        claimed_at=now,
                    )
                    session.add(row)
                row.state, row.reason, row.run_id, row.updated_at = ItemState.claimed, None, run_id, now
                session.flush()
                item.item_id = row.id
        if existing is not None:
            # The same bytes are already journaled and stored: dropping the copy loses nothing.
            workarea.remove_item(claimed)
            if refiled is not None:  # a run killed between journaling and filing this very item
                with self.store.write(actor) as session:
                    session.get(tables.IntakeItem, refiled).state = ItemState.filed
            item.results = [
                ItemResult(
                    arkivskaper=creator.kode,
                    origin_name=origin,
                    outcome=Outcome.duplicate,
                    sha256=sha,
                    journalpost=existing,
                    reason=f"already journaled as {existing}",
                )
            ]
            return item

        # Outside the try: a missing program is no fault of the item, and stops the run.
        executor = self._executor_for_run()
        scratch = self.settings.work_dir / ".scratch" / f"{creator.kode}-{item.item_id}"
        try:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            context = IntakeContext(
                origin_name=origin,
                received=now,
                scratch=scratch,
                limits=self.settings.intake.limits,
                ocr_languages=self.settings.intake.ocr_languages,
                sandbox=self.settings.convert.sandbox,
            )
            folder = workarea.archival_folder(claimed)
            with self.timer.stage("parse"):
                parsed = _read_parsed(folder) or self._parse_isolated(claimed, origin, context, folder)
            if parsed is None:
                item.results = []  # the run is stopping: the item waits in work/ for the next run
                return item
        except NoarkpipeError as exc:
            item.results = [self._quarantine(claimed, creator, item.item_id, sha, origin, str(exc))]
            return item
        except Exception as exc:  # one broken item must not stop the night
            detail = "".join(traceback.format_exception_only(exc)).strip()
            item.results = [self._quarantine(claimed, creator, item.item_id, sha, origin, f"internal error: {detail}")]
            return item
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        # Outside the try: an executor that cannot take work is no fault of the item.
        item.source, item.submissions = parsed.source, parsed.submissions
        shared: dict[str, _Document] = {}
        with self.timer.stage("convert"):
            item.documents = [
                [self._submit(folder, document, blob, executor, shared) for document, blob in zip(s.documents, blobs)]
                for s, blobs in zip(parsed.submissions, parsed.documents, strict=True)
            ]
        return item

    def _parse_isolated(self, claimed: Path, origin: str, context: IntakeContext, folder: Path) -> ParsedItem | None:
        """The item read in a child process within the [intake] limits (`isolation.py`); None if the run is stopping.

        The child writes what it read into the item's archival folder; it is
        read back from there, checked like a description an earlier run left.
        """
        limits = context.limits
        if self._parser is None:
            self._parser = isolation.IsolatedWorker(memory_mb=limits.max_parse_memory_mb, preload=PRELOAD)
        outcome = self._parser.call(
            parse_item, (claimed, origin, context, folder), seconds=limits.max_parse_seconds, stop=self.stop
        )
        if outcome.ending is isolation.Ending.stopped:
            return None
        if outcome.ending is isolation.Ending.refused:
            raise outcome.error
        if outcome.ending is isolation.Ending.failed:  # a bug in a parser: the item's failure, as before
            raise InputFileError(parse_failure(outcome, limits))
        if outcome.ending is not isolation.Ending.returned:
            raise InputFileError(parse_failure(outcome, limits), hint=_PARSE_LIMIT_HINT)
        parsed = _read_parsed(folder)
        if parsed is None:
            raise InputFileError(f"what was read from the file could not be read back from {folder}")
        return parsed

    def _submit(
        self, folder: Path, document: SubmissionDocument, blob: str, executor: Executor, shared: dict[str, _Document]
    ) -> _Document:
        """The conversion of a document, whose bytes wait in the item's archival folder: submitted, or done before.

        `shared` holds the item's conversions by job key: a document with the
        same bytes and role as one before it takes that one's task and copy.
        """
        job = ConversionJob(
            source=folder / RECEIVED / blob,
            source_sha256=blob,
            filename=document.filename,
            email_body=is_email_body(document.role, document.filename),
            target=folder,
            scratch=self._convert_scratch,
            options=self.conversion,
        )
        if document.archival_gap:  # intake already knows: kept as received, nothing to convert
            refused = ConversionOutcome(
                filename=document.filename, options=self.conversion, failure=document.archival_gap, failure_kind="refused"
            )
            return _Document(document=document, job=job, previous=refused)
        if job.key in shared:
            earlier = shared[job.key]
            return _Document(document=document, job=job, task=earlier.task, previous=earlier.previous)
        previous = previous_outcome(job)
        if previous is not None:
            converted = _Document(document=document, job=job, previous=previous)
        else:
            task = executor.submit(convert_document, job)
            self._submitted.append(task)
            converted = _Document(document=document, job=job, task=task)
        shared[job.key] = converted
        return converted

    def _complete(
        self, item: _Item, creator: ArkivskaperSettings, structure: Structure, policy: Policy, summary: RunSummary
    ) -> list[ItemResult]:
        """Wait for the item's archival copies, then journal it in one transaction, or quarantine it."""
        if item.results is not None:
            return item.results
        claimed, origin, sha, item_id, now = item.claimed, item.origin, item.sha, item.item_id, item.now
        actor = self.settings.actor
        with self.timer.stage("convert"):
            outcomes = [[document.outcome() for document in documents] for documents in item.documents]
        flat = [
            (document, outcome)
            for documents, row in zip(item.documents, outcomes, strict=True)
            for document, outcome in zip(documents, row, strict=True)
        ]
        if any(outcome.cancelled for _, outcome in flat):
            return []  # the run was stopped before this item's conversions ran: it waits in work/
        _raise_if_installation_problem([outcome for _, outcome in flat])
        gaps = {id(document): _gap_text(outcome) for document, outcome in flat if _conversion_of(outcome) is None}
        summary.conversion_failures += len(gaps)
        try:
            with self.timer.stage("store"):
                # Every copy is checked before anything is stored: a refusal then leaves no file behind.
                for document, outcome in flat:
                    if (result := _conversion_of(outcome)) is not None:
                        _check_copy(document, result)
                # One batch: the item's files are synced together, and durable before it is journaled.
                with self.documents.batch() as batch:
                    stored = [
                        [
                            self._store(batch, document, _conversion_of(outcome))
                            if id(document) not in gaps
                            else self._store_as_received(batch, document, outcome, gaps[id(document)])
                            for document, outcome in zip(documents, row)
                        ]
                        for documents, row in zip(item.documents, outcomes)
                    ]
                    for path in workarea.item_files(claimed):
                        batch.put_file(path)
            with self.store.write(actor) as session:
                session.get(tables.IntakeItem, item_id).state = ItemState.converted
        except NoarkpipeError as exc:
            return [self._quarantine(claimed, creator, item_id, sha, origin, str(exc))]
        except OSError as exc:
            raise StoreError(
                f"cannot write {origin} and its archival copies to the document store {self.documents.root}: {exc}",
                hint="check free space and permissions; the item stays in the work area for the next run",
            ) from exc
        for document, outcome in flat:
            result = _conversion_of(outcome)
            if result is None:
                summary.documents_without_archival_copy += 1
            elif result.action == "converted":
                summary.archival_copies += 1
            else:
                summary.kept_as_archival += 1

        results = []
        with self.timer.stage("journal"), self.store.write(actor) as session:
            # All letters of one file are journaled together or not at all.
            first_id = None
            submissions = item.submissions
            flagged = [n for n, documents in enumerate(stored, start=1) if any(d.archival_gap for d in documents)]
            for number, (submission, documents) in enumerate(zip(submissions, stored, strict=True), start=1):
                journalpost, placement = journal_submission(
                    session, structure, submission, documents, actor=actor, now=now, policy=policy,
                    review_reasons=_batch_reasons(number, len(submissions), flagged),
                )
                first_id = first_id or journalpost.id
                part = f" (letter {number} of {len(submissions)})" if len(submissions) > 1 else ""
                results.append(
                    ItemResult(
                        arkivskaper=creator.kode,
                        origin_name=origin + part,
                        outcome=(
                            Outcome.journaled
                            if journalpost.journalstatus == Journalstatus.journalfoert
                            else Outcome.needs_review
                        ),
                        sha256=sha,
                        journalpost=f"{journalpost.journalaar}/{journalpost.journalsekvensnummer}",
                        saksmappe=journalpost.registreringsID,
                        journalstatus=journalpost.journalstatus,
                        reason=placement.reason,
                        archival_gaps=[
                            ArchivalGap(document=d.document.filename, reason=d.archival_gap)
                            for d in documents
                            if d.archival_gap
                        ],
                    )
                )
            row = session.get(tables.IntakeItem, item_id)
            row.state, row.journalpost_id, row.source, row.updated_at = (
                ItemState.journaled, first_id, item.source.value, now
            )
        with self.timer.stage("file"):
            workarea.remove_item(claimed)
            with self.store.write(actor) as session:
                session.get(tables.IntakeItem, item_id).state = ItemState.filed
        return results

    def _store(self, batch: StoreBatch, document: _Document, result: ConversionResult) -> StoredDocument:
        return store_converted(batch, document.job.source, document.job.source_sha256, document.document, result)

    def _store_as_received(
        self, batch: StoreBatch, document: _Document, outcome: TaskOutcome[ConversionOutcome], gap: str
    ) -> StoredDocument:
        """A document without archival copy: the original alone, described as exactly as its bytes allow."""
        original = batch.put_file(document.job.source, document.job.source_sha256)
        received_as = outcome.value.received_format if outcome.value is not None else None
        received_as = received_as or received_format(document.job.source)
        return StoredDocument(
            document=document.document,
            blob=original,
            media_type=received_as.mime if received_as else document.document.media_type,
            format=_format_code(received_as) if received_as else document.document.media_type,
            format_details=_format_details(received_as) if received_as else None,
            archival=None,
            archival_gap=gap,
        )

    def _executor_for_run(self) -> Executor:
        if self._executor is None:
            # What every archival copy needs, checked once before the first is asked for.
            ocrmypdf.require(self.conversion.ocr_languages)
            sandbox.require(self.conversion.sandbox)
            if self.settings.convert.scheduler:
                from noarkpipe.run.execution_dask import DaskExecutor

                self._executor = DaskExecutor(
                    self.settings.convert.scheduler,
                    time_limit_s=self.conversion.timeout_s + HARD_LIMIT_GRACE_SECONDS,
                )
                return self._executor
            self._executor = LocalExecutor(
                self.settings.convert.workers,
                time_limit_s=self.conversion.timeout_s + HARD_LIMIT_GRACE_SECONDS,
                preload=PRELOAD,
                memory_limit_mb=self.settings.convert.max_worker_memory_mb,
            )
        return self._executor

    def _close_executor(self) -> None:
        """Let the conversions still running finish (their copies are kept for the next run), then tidy up."""
        if self._executor is not None and self._own_executor:
            self._executor.close(cancel=True)
            self._executor = None
        else:
            for task in self._submitted:
                task.outcome()
        self._submitted.clear()
        shutil.rmtree(self._convert_scratch, ignore_errors=True)

    def _quarantine_unopened(
        self, claimed: Path, creator: ArkivskaperSettings, structure: Structure, run_id: int, reason: str
    ) -> ItemResult:
        """An item that is not a regular file, quarantined as it is (the link or FIFO itself), without reading it.

        It has no content digest: its row is keyed by a digest of its claimed
        name, unique per claim, so it is registered like any item and a rerun
        after a kill finds the same row.
        """
        origin, now = workarea.origin_of(claimed), utcnow()
        key = hashlib.sha256(b"not a regular file\0" + os.fsencode(claimed.name)).hexdigest()
        with self.timer.stage("quarantine"):
            with self.store.write(self.settings.actor) as session:
                row = session.scalar(
                    select(tables.IntakeItem)
                    .where(tables.IntakeItem.arkivskaper_id == structure.arkivskaper_id)
                    .where(tables.IntakeItem.sha256 == key)
                ) or tables.IntakeItem(
                    arkivskaper_id=structure.arkivskaper_id, sha256=key, size=0, source="unknown",
                    origin_name=origin, claimed_at=now,
                )
                row.state, row.reason, row.run_id, row.updated_at = ItemState.quarantined, reason, run_id, now
                session.add(row)
            target = workarea.quarantine_item(claimed, creator.quarantine, origin, reason, None)
        return ItemResult(
            arkivskaper=creator.kode, origin_name=origin, outcome=Outcome.quarantined, reason=reason,
            quarantine_path=str(target),
        )

    def _quarantine(
        self, claimed: Path, creator: ArkivskaperSettings, item_id: int, sha: str, origin: str, reason: str
    ) -> ItemResult:
        with self.timer.stage("quarantine"):
            target = workarea.quarantine_item(claimed, creator.quarantine, origin, reason, sha)
            now = utcnow()
            with self.store.write(self.settings.actor) as session:
                item = session.get(tables.IntakeItem, item_id)
                item.state, item.reason, item.updated_at = ItemState.quarantined, reason, now
        return ItemResult(
            arkivskaper=creator.kode,
            origin_name=origin,
            outcome=Outcome.quarantined,
            sha256=sha,
            reason=reason,
            quarantine_path=str(target),
        )


def store_converted(
    documents: DocumentStore | StoreBatch,
    source: Path,
    source_sha256: str,
    document: SubmissionDocument,
    result: ConversionResult,
) -> StoredDocument:
    """The original and its archival copy into the document store, described for journaling.

    Also used by the review desk for a replacement the sender sent (`api.review_replace_part`).
    """
    original = documents.put_file(source, source_sha256)
    received_as = result.from_format
    if result.output is None:
        archival = _archival_variant(original, document.filename, result.to_format, None)
    else:
        copy = documents.put_file(result.output, result.output_sha256)
        name = f"{Path(document.filename).stem or 'dokument'}{result.output.suffix}"
        archival = _archival_variant(copy, name, result.to_format, _konvertering(result))
    return StoredDocument(
        document=document,
        blob=original,
        media_type=received_as.mime,
        format=_format_code(received_as),
        format_details=_format_details(received_as),
        archival=archival,
    )


RECEIVED = "received"
"""The folder in an item's archival folder that holds its documents as parsed, named by SHA-256."""
PARSED = "parsed.json"


class ParsedItem(BaseModel):
    """An item as its intake source read it, kept in its archival folder so that a later run need not read it again.

    Reading again is not only slower (a scan batch is OCR'd), it may not give
    the same bytes (a scan's letters are new PDFs each time), which would
    make every archival copy again. The documents' bytes are in RECEIVED;
    `documents` gives each one's SHA-256, per submission.
    """

    source: Source
    submissions: list[Submission]
    documents: list[list[str]]


_PARSE_LIMIT_HINT = (
    "the file is probably hostile or damaged; if it is an ordinary file, raise the limit under [intake] "
    "and put it back into the inbox"
)


def parse_item(claimed: Path, origin: str, context: IntakeContext, folder: Path) -> None:
    """Read the claimed item and keep what was read in its archival folder: the work of the parse child."""
    source, parse = choose_parser(claimed, origin)
    submissions = parse(claimed, context)
    if not submissions:
        raise InputFileError("nothing to journal was found in the file")
    for submission in submissions:
        for document in submission.documents:
            # Every channel's PDFs, before a converter renders them (a scan's pages were measured while read).
            if document.content.startswith(b"%PDF-") and source is not Source.scan:
                pdfstreams.require_bounded(
                    document.content, context.limits.max_decompressed_mb, f"document '{document.filename}'"
                )
    _keep_parsed(folder, source, submissions)


def parse_failure(outcome: isolation.ChildOutcome, limits: IntakeLimits) -> str:
    """Why reading an item gave nothing, naming the [intake] setting that stopped it."""
    if outcome.ending is isolation.Ending.timed_out:
        return f"reading the file took longer than max_parse_seconds = {limits.max_parse_seconds} ([intake]); it was stopped"
    memory = f"max_parse_memory_mb = {limits.max_parse_memory_mb} ([intake])"
    if outcome.ending is isolation.Ending.out_of_memory:
        return f"reading the file needed more memory than {memory}; it was stopped"
    if outcome.ending is isolation.Ending.died:
        how = f"signal {outcome.signal}" if outcome.signal else outcome.detail
        return f"the process reading the file died ({how}): a parser crash, or more memory than {memory}"
    return f"internal error: {outcome.detail}"


def _keep_parsed(folder: Path, source: Source, submissions: list[Submission]) -> ParsedItem:
    """Write the documents' bytes and the item's description into its archival folder; the description, bytes left out."""
    received = folder / RECEIVED
    received.mkdir(parents=True, exist_ok=True)
    documents, described = [], []
    for submission in submissions:
        blobs = []
        for document in submission.documents:
            blob = hashlib.sha256(document.content).hexdigest()
            if not (received / blob).exists():
                _write_atomically(received / blob, document.content)
            blobs.append(blob)
        documents.append(blobs)
        # The bytes are on disk now; the window of items in flight holds only their description.
        described.append(submission.model_copy(update={
            "documents": [d.model_copy(update={"content": b""}) for d in submission.documents]
        }))
    parsed = ParsedItem(source=source, submissions=described, documents=documents)
    try:
        text = parsed.model_dump_json()
    except ValueError:
        # Text UTF-8 cannot hold (undecodable bytes in a name, kept as lone surrogates): JSON escapes keep it.
        text = json.dumps(parsed.model_dump(mode="json"), ensure_ascii=True)
    _write_atomically(folder / PARSED, text.encode("utf-8"))
    return parsed


def _read_parsed(folder: Path) -> ParsedItem | None:
    """The item as an earlier, interrupted run read it, if its description and every document are intact."""
    try:
        text = (folder / PARSED).read_bytes()
        try:
            parsed = ParsedItem.model_validate_json(text)
        except ValueError:
            parsed = ParsedItem.model_validate(json.loads(text))  # lone surrogates, escaped (see _keep_parsed)
    except (OSError, ValueError):
        return None
    for blob in {blob for blobs in parsed.documents for blob in blobs}:
        path = folder / RECEIVED / blob
        if not path.is_file() or sha256_file(path)[0] != blob:
            return None
    return parsed


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(content)
    os.replace(temporary, path)


@dataclass
class _Document:
    """One document of an item in flight: its description, its conversion job, and the task or earlier result."""

    document: SubmissionDocument
    job: ConversionJob
    task: Task[ConversionOutcome] | None = None
    previous: ConversionOutcome | None = None
    """The outcome recorded by an earlier run that was cut short, reused instead of converting again."""

    def done(self) -> bool:
        return self.task is None or self.task.done()

    def outcome(self) -> TaskOutcome[ConversionOutcome]:
        return TaskOutcome(value=self.previous) if self.task is None else self.task.outcome()


@dataclass
class _Item:
    """One claimed item between parsing and journaling."""

    claimed: Path
    origin: str
    sha: str
    now: datetime
    item_id: int | None = None
    source: Source | None = None
    submissions: list[Submission] = field(default_factory=list)
    documents: list[list[_Document]] = field(default_factory=list)
    results: list[ItemResult] | None = None
    """Set when the item was finished before conversion: a duplicate, or quarantined while parsing."""

    def ready(self) -> bool:
        return self.results is not None or all(d.done() for documents in self.documents for d in documents)


def _conversion_of(outcome: TaskOutcome[ConversionOutcome]) -> ConversionResult | None:
    """The conversion result, or None when the task or the conversion failed."""
    return outcome.value.result if outcome.ok and outcome.value is not None else None


def _raise_if_installation_problem(outcomes: list[TaskOutcome[ConversionOutcome]]) -> None:
    """A missing program or a setting OCRmyPDF refuses is no fault of the document: the run stops."""
    for outcome in outcomes:
        value = outcome.value
        if value is None or value.failure_kind is None or value.failure_kind == "refused":
            continue
        error = MissingDependencyError if value.failure_kind == "missing_dependency" else ConfigError
        raise error(f"no archival copy of {value.filename} could be made: {value.failure}")


def _gap_text(outcome: TaskOutcome[ConversionOutcome]) -> str:
    """Why a document has no archival copy, on one line, with what to do about it."""
    value = outcome.value
    if value is not None and value.failure:
        text = value.failure.removeprefix(f"no archival copy of {value.filename}: ")
    elif outcome.timed_out:
        text = f"the conversion {outcome.failure}"
    else:
        text = f"the conversion failed: {outcome.failure}"
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _batch_reasons(number: int, count: int, flagged: list[int]) -> list[str]:
    """Why a letter without gaps of its own goes to review: another letter of the same file has one."""
    others = [n for n in flagged if n != number]
    if count < 2 or not others or number in flagged:
        return []
    which = ", ".join(str(n) for n in others)
    return [(
        f"letter {which} of the same file has a document without archival copy: "
        f"check that no page of this letter ({number} of {count}) is missing"
    )]


def _check_copy(document: _Document, result: ConversionResult) -> None:
    """The copy in the archival folder must still be the one that was verified."""
    if result.output is None:
        return
    found, _ = sha256_file(result.output)
    if found != result.output_sha256:
        raise InputFileError(
            f"the archival copy of {document.document.filename} changed after it was verified "
            f"(SHA-256 {found}, verified as {result.output_sha256}); it is not used",
            hint="check the disk of the work area; then put the item back into the inbox to convert it again",
        )


def _format_code(fmt: FormatId) -> str:
    return fmt.puid or fmt.name


def _format_details(fmt: FormatId) -> str:
    return f"{fmt.name} {fmt.version}".strip()


def _archival_variant(blob: StoredBlob, filename: str, fmt: FormatId, konvertering: KonverteringRecord | None) -> ArchivalVariant:
    return ArchivalVariant(
        blob=blob,
        filename=filename,
        format=_format_code(fmt),
        format_details=_format_details(fmt),
        media_type=fmt.mime,
        konvertering=konvertering,
    )


def _konvertering(result: ConversionResult) -> KonverteringRecord:
    checks = ", ".join(f"{check.id} {check.outcome}" for check in result.verification.checks) if result.verification else ""
    comment = "; ".join(part for part in (result.reason, f"checks: {checks}" if checks else "", *result.warnings) if part)
    return KonverteringRecord(
        konvertertDato=result.finished,
        konvertertFraFormat=_format_code(result.from_format),
        konvertertTilFormat=_format_code(result.to_format),
        konverteringsverktoey=result.tool_version,
        konverteringskommentar=comment,
    )
