"""The nightly run: claim inbox files, parse, convert, store, journal, file or quarantine.

Each item moves through durable states. The claimed file sits in
work/<arkivskaper>/ until it is journaled (then removed) or quarantined (then
moved with a reason file), so a run that dies half-way leaves its items in
work/, and the next run picks them up first. The SHA-256 of the claimed file
is the idempotency key: bytes journaled once are never journaled again.

Every document gets its archival copy before its item is journaled. The
copies are made by an executor (`converting.py`), several at once, while
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

A KS Fiks Arkiv arkivmelding names its own case: where it goes is settled
before its documents are stored (a refusal stores nothing and is answered
with a feilmelding), a registrering key already journaled is answered, not
journaled again, and every message journaled gets its kvittering once the
transaction committed (`answers.py`).

This module is the loop and the order of work; each step it takes is kept
in a module of its own: `workarea.py` (where an item's files are),
`items.py` (its row and states in the store), `reading.py` (the parse
child's work, kept in the archival folder), `converting.py` (the archival
copies, through an executor), `storing.py` (the document store),
`mailboxes.py` (fetching and clearing mail), `answers.py` (kvitteringer and
feilmeldinger to KS Fiks Arkiv senders), and `results.py` (what the run gives back).
"""

from __future__ import annotations

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
from pathlib import Path

from noarkpipe.classify.policy import Policy, load_policy
from noarkpipe.clock import utcnow
from noarkpipe.config import ArkivskaperSettings, Settings
from noarkpipe.core.codes import Journalstatus
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.progress import Progress, no_progress
from noarkpipe.core.submission import Source, Submission
from noarkpipe.errors import ArkivmeldingRefused, InputFileError, NoarkpipeError, StoreError
from noarkpipe.intake.fiks_arkiv import is_fiks_message
from noarkpipe.journal.arkivmelding import journalposttype, registered
from noarkpipe.journal.journaling import Structure, ensure_structure, journal_submission, place_arkivmelding
from noarkpipe.run import answers, isolation, workarea
from noarkpipe.run.converting import Conversions, ItemDocument, conversion_of, gap_text, raise_if_installation_problem
from noarkpipe.run.execution import Executor
from noarkpipe.run.items import ItemRecords, mark_journaled
from noarkpipe.run.mailboxes import CreatorMailboxes
from noarkpipe.run.reading import PARSE_LIMIT_HINT, ParsedItem, parse_failure, parse_item, read_parsed
from noarkpipe.run.results import ArchivalGap, ItemResult, Outcome, RunSummary
from noarkpipe.run.storing import check_copy, store_document
from noarkpipe.run.timing import StageTimer
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore
from noarkpipe.store.engine import Store
from noarkpipe.store.tables import ItemState

log = logging.getLogger(__name__)

PRELOAD = (
    "noarkpipe.convert.preload", "noarkpipe.convert.pdfa", "ocrmypdf", "noarkpipe.run.execution_local",
    "noarkpipe.run.reading", "noarkpipe.intake.dispatch", "noarkpipe.files.pdfstreams", "noarkpipe.intake.msg",
    "noarkpipe.intake.tnef", "click", "rich.console", "rich.progress", "rich.table", "noarkpipe.api",
    "noarkpipe.core.printable",
)
"""What the fork server imports once for the conversion workers and the parse children (one server, one list).

For the workers, the fonts and signatures (`convert.preload`) and the
converters, which this process never imports (`convert/job.py`); for the
parse children, the parsers `reading.parse_item` imports when it runs, also
those imported only when needed (the Outlook and TNEF readers, 30 ms). And
what the CLI imports: every child runs the main module again
(multiprocessing does, to find what it defines), which costs an item 40 ms
unless its imports (click, rich, the API) are already in the server. Not
`noarkpipe.cli` itself: run as `python -m noarkpipe.cli`, the child would
find it imported already and warn on stderr, which cron mails. Not this
module either: the journal store, classification and journaling are this
process's work, and no child's.
"""


class NightlyRun:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        progress: Progress | None = None,
        on_item: Callable[[ItemResult], None] | None = None,
        stop: threading.Event | None = None,
        timer: StageTimer | None = None,
        executor: Executor | None = None,
    ) -> None:
        """`executor` runs the conversions; by default a `LocalExecutor` with [convert] workers, for this run.

        `on_item` is given each item's result as it is finished (the run log's
        line); `progress` is told the item, and how many are finished so far.
        """
        self.settings = settings
        self.store = store
        self.timer = timer or StageTimer()
        self.documents = DocumentStore(settings.documents_dir)
        self.progress = progress or no_progress
        self.on_item = on_item or (lambda _result: None)
        self.stop = stop or threading.Event()
        self.conversions = Conversions(settings, executor, PRELOAD)
        self.records = ItemRecords(store, settings.actor)
        self._parser: isolation.IsolatedWorker | None = None
        """The child process items are read in (`_parse_isolated`), started with the first."""
        self.answer_failures: list[str] = []
        """Answers to KS Fiks Arkiv senders that could not be written (`run/answers.py`): notes in the summary."""

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
            self.conversions.close()
            summary.finished_at = utcnow()
            summary.stages = self.timer.totals()
            summary.notes.extend(self.answer_failures)
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
        for path in answers.remove_stale_temporaries(creator.outbox):
            log.info("removed %s, an answer a killed run was writing; the message is answered again", path.name)
        mailboxes = CreatorMailboxes(self.settings, self.store, creator, structure.arkivskaper_id)
        with self.timer.stage("fetch"):
            if not self.stop.is_set():
                summary.mailboxes.extend(mailboxes.fetch())
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
        ahead = 2 * self.conversions.workers
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
            # Every item still in work/ has been through this run by now, so a journaled
            # item of another run has no file left: filing it is all that remained.
            self.records.file_journaled_leftovers(structure.arkivskaper_id, summary.run_id)
        with self.timer.stage("dispose"):
            mailboxes.dispose()

    def _report(self, results: list[ItemResult], summary: RunSummary) -> None:
        for result in results:
            summary.items.append(result)
            self.on_item(result)
            self.progress(f"{result.arkivskaper}: {result.origin_name[:40]}", len(summary.items), None)

    def _begin(self, claimed: Path, creator: ArkivskaperSettings, structure: Structure, run_id: int) -> _Item:
        """Register the item, parse it and submit its documents' conversions; finished at once if it cannot go on."""
        origin = workarea.origin_of(claimed)
        sha, size = workarea.item_digest(claimed)
        now = utcnow()
        item = _Item(claimed=claimed, origin=origin, sha=sha, now=now)
        registration = self.records.register(structure.arkivskaper_id, sha, size, origin, now, run_id)
        item.item_id = registration.item_id
        if (existing := registration.existing) is not None:
            # The same bytes are already journaled and stored: dropping the copy loses nothing.
            if registration.journalpost_id is not None and is_fiks_message(claimed):
                self._answer_again(creator, registration.journalpost_id)  # its sender is waiting for an answer
            workarea.remove_item(claimed)
            if registration.refile is not None:  # a run killed between journaling and filing this very item
                self.records.set_state(registration.refile, ItemState.filed)
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
        executor = self.conversions.executor()
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
                parsed = read_parsed(folder) or self._parse_isolated(claimed, origin, context, folder)
            if parsed is None:
                item.results = []  # the run is stopping: the item waits in work/ for the next run
                return item
        except NoarkpipeError as exc:
            if isinstance(exc, ArkivmeldingRefused) or is_fiks_message(claimed):
                self._answer_refused(creator, exc, origin, sha)
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
        shared: dict[str, ItemDocument] = {}
        with self.timer.stage("convert"):
            item.documents = [
                [
                    self.conversions.submit(folder, document, blob, executor, shared)
                    for document, blob in zip(s.documents, blobs)
                ]
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
            raise InputFileError(parse_failure(outcome, limits), hint=PARSE_LIMIT_HINT)
        parsed = read_parsed(folder)
        if parsed is None:
            raise InputFileError(f"what was read from the file could not be read back from {folder}")
        return parsed

    def _complete(
        self, item: _Item, creator: ArkivskaperSettings, structure: Structure, policy: Policy, summary: RunSummary
    ) -> list[ItemResult]:
        """Wait for the item's archival copies, then journal it in one transaction, or quarantine it."""
        if item.results is not None:
            return item.results
        claimed, origin, sha, item_id, now = item.claimed, item.origin, item.sha, item.item_id, item.now
        assert item_id is not None  # every item not finished in `_begin` has its row
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
        raise_if_installation_problem([outcome for _, outcome in flat])
        melding = item.submissions[0].arkivmelding if item.source is Source.fiks_arkiv else None
        earlier: int | None = None
        if melding is not None:
            # Where the sender's journalpost goes is settled before anything is stored: a refusal leaves no file behind.
            try:
                with self.store.read() as session:
                    if (journaled := registered(session, structure.arkivskaper_id, melding.ekstern_noekkel)) is not None:
                        earlier = journaled.id
                    else:
                        place_arkivmelding(session, structure, melding, policy)
                        journalposttype(melding)
            except ArkivmeldingRefused as exc:
                self._answer_refused(creator, exc, origin, sha)
                return [self._quarantine(claimed, creator, item_id, sha, origin, str(exc))]
        if earlier is not None:
            return [self._registered_before(item, creator, earlier)]
        gaps = {id(document): gap_text(outcome) for document, outcome in flat if conversion_of(outcome) is None}
        summary.conversion_failures += len(gaps)
        try:
            with self.timer.stage("store"):
                # Every copy is checked before anything is stored: a refusal then leaves no file behind.
                for document, outcome in flat:
                    if (result := conversion_of(outcome)) is not None:
                        check_copy(document, result)
                # One batch: the item's files are synced together, and durable before it is journaled.
                with self.documents.batch() as batch:
                    stored = [
                        [
                            store_document(batch, document, outcome, gaps.get(id(document)))
                            for document, outcome in zip(documents, row)
                        ]
                        for documents, row in zip(item.documents, outcomes)
                    ]
                    for path in workarea.item_files(claimed):
                        batch.put_file(path)
            self.records.set_state(item_id, ItemState.converted)
        except NoarkpipeError as exc:
            return [self._quarantine(claimed, creator, item_id, sha, origin, str(exc))]
        except OSError as exc:
            raise StoreError(
                f"cannot write {origin} and its archival copies to the document store {self.documents.root}: {exc}",
                hint="check free space and permissions; the item stays in the work area for the next run",
            ) from exc
        for _, outcome in flat:
            result = conversion_of(outcome)
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
            mark_journaled(session, item_id, first_id, item.source.value, now)
        if melding is not None and first_id is not None:
            self._answer(creator, lambda: answers.answer_registered(
                self.store, creator.outbox, first_id, melding.melding_id, opprettet=True))
        with self.timer.stage("file"):
            workarea.remove_item(claimed)
            self.records.set_state(item_id, ItemState.filed)
        return results

    def _registered_before(self, item: _Item, creator: ArkivskaperSettings, journalpost_id: int) -> ItemResult:
        """An arkivmelding whose registrering key is journaled already (sent again, other bytes): answered, not journaled."""
        assert item.item_id is not None
        melding = item.submissions[0].arkivmelding
        assert melding is not None
        assert item.source is not None  # set when the item was read
        with self.store.write(self.settings.actor) as session:
            journalpost = session.get(tables.Journalpost, journalpost_id)
            assert journalpost is not None  # found by its key in this run
            number = f"{journalpost.journalaar}/{journalpost.journalsekvensnummer}"
            mark_journaled(session, item.item_id, journalpost_id, item.source.value, item.now)
        self._answer(creator, lambda: answers.answer_registered(
            self.store, creator.outbox, journalpost_id, melding.melding_id, opprettet=False))
        with self.timer.stage("file"):
            workarea.remove_item(item.claimed)
            self.records.set_state(item.item_id, ItemState.filed)
        return ItemResult(
            arkivskaper=creator.kode, origin_name=item.origin, outcome=Outcome.duplicate, sha256=item.sha,
            journalpost=number,
            reason=f"arkivmelding {melding.melding_id}: its registrering "
            f"{melding.ekstern_noekkel.fagsystem}:{melding.ekstern_noekkel.noekkel} is journaled already as {number}",
        )

    def _answer_again(self, creator: ArkivskaperSettings, journalpost_id: int) -> None:
        with self.store.read() as session:
            journalpost = session.get(tables.Journalpost, journalpost_id)
            melding_id = journalpost.message_id if journalpost is not None else None
        if melding_id:
            self._answer(creator, lambda: answers.answer_registered(
                self.store, creator.outbox, journalpost_id, melding_id, opprettet=True))

    def _answer_refused(self, creator: ArkivskaperSettings, error: NoarkpipeError, origin: str, sha: str) -> None:
        self._answer(creator, lambda: answers.answer_refused(creator.outbox, error, origin, sha))

    def _answer(self, creator: ArkivskaperSettings, write: Callable[[], Path]) -> None:
        """Write a sender's answer; one that cannot be written is logged, and the item goes on as it would."""
        try:
            written = write()
        except (OSError, NoarkpipeError) as exc:
            log.error("%s: the answer to a KS Fiks Arkiv sender could not be written to %s: %s",
                      creator.kode, creator.outbox, exc)
            self.answer_failures.append(f"{creator.kode}: an answer could not be written to {creator.outbox}: {exc}")
            return
        log.info("%s: answered in %s", creator.kode, written)

    def _quarantine_unopened(
        self, claimed: Path, creator: ArkivskaperSettings, structure: Structure, run_id: int, reason: str
    ) -> ItemResult:
        """An item that is not a regular file, quarantined as it is (the link or FIFO itself), without reading it."""
        origin, now = workarea.origin_of(claimed), utcnow()
        with self.timer.stage("quarantine"):
            self.records.mark_quarantined_unopened(structure.arkivskaper_id, claimed.name, origin, reason, now, run_id)
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
            self.records.mark_quarantined(item_id, reason, utcnow())
        return ItemResult(
            arkivskaper=creator.kode,
            origin_name=origin,
            outcome=Outcome.quarantined,
            sha256=sha,
            reason=reason,
            quarantine_path=str(target),
        )


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
    documents: list[list[ItemDocument]] = field(default_factory=list)
    results: list[ItemResult] | None = None
    """Set when the item was finished before conversion: a duplicate, or quarantined while parsing."""

    def ready(self) -> bool:
        return self.results is not None or all(d.done() for documents in self.documents for d in documents)


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
