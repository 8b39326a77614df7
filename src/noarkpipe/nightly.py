"""The nightly run: claim inbox files, parse, store, journal, file or quarantine.

Each item moves through durable states. The claimed file sits in
work/<arkivskaper>/ until it is journaled (then removed) or quarantined (then
moved with a reason file), so a run that dies half-way leaves its items in
work/, and the next run picks them up first. The SHA-256 of the claimed file
is the idempotency key: bytes journaled once are never journaled again.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import traceback
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import magic
from pydantic import BaseModel, Field
from sqlalchemy import select

from .clock import utcnow
from .config import ArkivskaperSettings, Settings
from . import workarea
from .workarea import ItemState
from .docstore import DocumentStore
from .errors import ConfigError, InputFileError, NoarkpipeError, SourceUnavailableError
from .classify.policy import Policy, load_policy
from .model.codes import Journalstatus
from .intake import mailbox
from .intake.context import IntakeContext
from .intake.dispatch import choose_parser
from .journal import tables
from .journal.journaling import StoredDocument, Structure, ensure_structure, journal_submission
from .journal.store import Store



class Outcome(StrEnum):
    journaled = "journaled"
    needs_review = "needs_review"
    quarantined = "quarantined"
    duplicate = "duplicate"


log = logging.getLogger(__name__)


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
    ) -> None:
        self.settings = settings
        self.store = store
        self.documents = DocumentStore(settings.documents_dir)
        self.progress = progress or (lambda _event, _item: None)
        self.stop = stop or threading.Event()
        self.magic = magic.Magic(mime=True)

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
            summary.finished_at = utcnow()
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
        mailboxes = [] if self.stop.is_set() else self._fetch_mailboxes(creator, structure)
        summary.mailboxes.extend(mailboxes)
        # Items a killed run left behind come first, then the new ones.
        workarea.recover_interrupted_claims(work, creator.inbox)
        pending = workarea.pending_items(work)
        for sources in workarea.inbox_items(creator.inbox):
            if self.stop.is_set():
                break
            pending.append(workarea.claim(sources, creator.inbox, work))
        for claimed in pending:
            if self.stop.is_set():
                break
            for result in self._process(claimed, creator, structure, policy, summary.run_id):
                summary.items.append(result)
                self.progress("item", result)
        self._dispose_mailboxes(creator, structure, mailboxes)

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

    def _process(
        self, claimed: Path, creator: ArkivskaperSettings, structure: Structure, policy: Policy, run_id: int
    ) -> list[ItemResult]:
        origin = workarea.origin_of(claimed)
        sha, size = workarea.item_digest(claimed)
        now = utcnow()
        actor = self.settings.actor
        with self.store.write(actor) as session:
            item = session.scalar(
                select(tables.IntakeItem)
                .where(tables.IntakeItem.arkivskaper_id == structure.arkivskaper_id)
                .where(tables.IntakeItem.sha256 == sha)
            )
            if item is not None and item.state in (ItemState.journaled, ItemState.filed):
                journalpost = session.get(tables.Journalpost, item.journalpost_id)
                existing = f"{journalpost.journalaar}/{journalpost.journalsekvensnummer}"
                duplicate = True
            else:
                duplicate = False
                if item is None:
                    item = tables.IntakeItem(
                        arkivskaper_id=structure.arkivskaper_id,
                        sha256=sha,
                        size=size,
                        source="unknown",
                        origin_name=origin,
                        claimed_at=now,
                    )
                    session.add(item)
                item.state, item.reason, item.run_id, item.updated_at = ItemState.claimed, None, run_id, now
                session.flush()
                item_id = item.id
        if duplicate:
            # The same bytes are already journaled and stored: dropping the copy loses nothing.
            workarea.remove_item(claimed)
            return [
                ItemResult(
                    arkivskaper=creator.kode,
                    origin_name=origin,
                    outcome=Outcome.duplicate,
                    sha256=sha,
                    journalpost=existing,
                    reason=f"already journaled as {existing}",
                )
            ]

        scratch = self.settings.work_dir / ".scratch" / f"{creator.kode}-{item_id}"
        try:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            context = IntakeContext(
                origin_name=origin,
                received=now,
                scratch=scratch,
                limits=self.settings.intake.limits,
                ocr_languages=self.settings.intake.ocr_languages,
            )
            source, parse = choose_parser(claimed, origin)
            submissions = parse(claimed, context)
            if not submissions:
                raise InputFileError("nothing to journal was found in the file")
            for path in workarea.item_files(claimed):
                self.documents.put_file(path)
            stored = [[self._store_document(d) for d in s.documents] for s in submissions]
        except NoarkpipeError as exc:
            return [self._quarantine(claimed, creator, item_id, sha, origin, str(exc))]
        except Exception as exc:  # one broken item must not stop the night
            detail = "".join(traceback.format_exception_only(exc)).strip()
            return [self._quarantine(claimed, creator, item_id, sha, origin, f"internal error: {detail}")]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

        results = []
        with self.store.write(actor) as session:
            # All letters of one file are journaled together or not at all.
            first_id = None
            for number, (submission, documents) in enumerate(zip(submissions, stored, strict=True), start=1):
                journalpost, placement = journal_submission(
                    session, structure, submission, documents, actor=actor, now=now, policy=policy
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
                    )
                )
            item = session.get(tables.IntakeItem, item_id)
            item.state, item.journalpost_id, item.source, item.updated_at = (
                ItemState.journaled, first_id, source.value, now
            )
        workarea.remove_item(claimed)
        with self.store.write(actor) as session:
            session.get(tables.IntakeItem, item_id).state = ItemState.filed
        return results

    def _store_document(self, document) -> StoredDocument:
        blob = self.documents.put_bytes(document.content)
        # The bytes decide the type; a sender's declared type only fills in where libmagic can't tell.
        detected = self.magic.from_buffer(document.content[:65536])
        media_type = document.media_type if detected == "application/octet-stream" else detected
        return StoredDocument(document=document, blob=blob, media_type=media_type, format=media_type)

    def _quarantine(
        self, claimed: Path, creator: ArkivskaperSettings, item_id: int, sha: str, origin: str, reason: str
    ) -> ItemResult:
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
