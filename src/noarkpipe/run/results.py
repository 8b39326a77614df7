"""What a nightly run gives back: one result per item and per mailbox, and the run's summary.

Plain data with no heavy imports, kept apart from the loop that makes them
(`nightly.py`): the CLI prints them, the API returns them, the run log and
the report (`ops/`) read them after the run, and none of those needs the
orchestrator, its stages or its executors to import a data class. The
summary is also written as data_dir/runs/run-NNNNNN.json.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from noarkpipe.run.timing import StageTime


class Outcome(StrEnum):
    journaled = "journaled"
    needs_review = "needs_review"
    quarantined = "quarantined"
    duplicate = "duplicate"


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
