"""A creator's mailboxes in the run: new mail fetched into its inbox first, the server cleared last.

Before the creator's inbox is read, each message of its IMAP folder, Microsoft
Graph mailbox and maildir not fetched before is written into the inbox
(`intake/imap.py`, `intake/graph.py`, `intake/maildir.py`; `intake/mailbox.py`
keeps the record of what was fetched). After its items are done, only the
messages now journaled or quarantined are moved or flagged on the server,
so a message whose item waits in the work area is still there for the
next run. A mailbox that cannot be reached, or whose sign-in is refused, is
a problem in the run's summary (exit 11), never a stop: the inbox is read
all the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from noarkpipe.config import ArkivskaperSettings, Settings
from noarkpipe.errors import ConfigError, SourceUnavailableError
from noarkpipe.intake.mailbox import DisposeReport, FetchReport
from noarkpipe.run.results import MailboxResult
from noarkpipe.store.engine import Store

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class MailboxSource:
    """One mailbox of a creator: how to fetch from it and how to clear it, with one sign-in for both."""

    key: str
    fetch: Callable[..., FetchReport]
    dispose: Callable[..., DisposeReport]
    remote: bool
    """A server (its errors are the operator's to look at), not a folder on this machine's disk."""


def mailbox_sources(creator: ArkivskaperSettings) -> list[MailboxSource]:
    """The creator's IMAP folder, Graph mailbox and maildir, in that order; credentials are read on first use.

    Each client is imported only for a mailbox that uses it (Graph's loads requests).
    """
    sources = []
    if creator.imap is not None:
        from noarkpipe.intake import imap

        settings = creator.imap
        credential = _once(lambda: imap.imap_credential(settings))
        sources.append(
            MailboxSource(
                key=imap.imap_mailbox_key(settings),
                fetch=lambda inbox, **common: imap.fetch_imap(settings, credential(), inbox, **common),
                dispose=lambda **common: imap.dispose_fetched(settings, credential(), **common),
                remote=True,
            )
        )
    if creator.graph is not None:
        from noarkpipe.intake import graph

        graph_settings = creator.graph
        tokens = _once(lambda: graph.graph_tokens(graph_settings))
        sources.append(
            MailboxSource(
                key=graph.graph_mailbox_key(graph_settings),
                fetch=lambda inbox, **common: graph.fetch_graph(graph_settings, tokens(), inbox, **common),
                dispose=lambda **common: graph.dispose_graph(graph_settings, tokens(), **common),
                remote=True,
            )
        )
    if creator.maildir is not None:
        from noarkpipe.intake import maildir

        folder = creator.maildir
        sources.append(
            MailboxSource(
                key=maildir.maildir_mailbox_key(folder),
                fetch=lambda inbox, **common: maildir.fetch_maildir(folder, inbox, **common),
                dispose=lambda **common: maildir.dispose_maildir(folder, **common),
                remote=False,
            )
        )
    return sources


def _once(make: Callable[[], T]) -> Callable[[], T]:
    """`make()` on the first call, the same object after: a token source is kept from fetch to disposal."""
    made: list[T] = []

    def get() -> T:
        if not made:
            made.append(make())
        return made[0]

    return get


class CreatorMailboxes:
    """A creator's mailboxes through one run: `fetch()` before its inbox is read, `dispose()` after."""

    def __init__(self, settings: Settings, store: Store, creator: ArkivskaperSettings, arkivskaper_id: int) -> None:
        self.creator = creator
        self.sources = mailbox_sources(creator)
        self.results: list[MailboxResult] = []
        self._common = {"arkivskaper_id": arkivskaper_id, "store": store, "actor": settings.actor}
        self._limits = settings.intake.limits

    def fetch(self) -> list[MailboxResult]:
        """New mail from each mailbox into the creator's inbox, each message once."""
        for source in self.sources:
            try:
                report = source.fetch(self.creator.inbox, limits=self._limits, **self._common)
            except (SourceUnavailableError, ConfigError) as exc:  # unreachable, sign-in refused, secret unset
                log.warning("%s: %s", self.creator.kode, exc)
                self.results.append(MailboxResult(arkivskaper=self.creator.kode, mailbox=source.key, errors=[str(exc)]))
                continue
            self.results.append(_mailbox_result(self.creator.kode, report))
        return self.results

    def dispose(self) -> None:
        """Move or flag on the server what is now journaled or quarantined, and only that."""
        by_key = {r.mailbox: r for r in self.results}
        for source in self.sources:
            result = by_key.get(source.key)
            if result is None or (source.remote and result.errors):
                continue  # not fetched in this run, or the server failed at the start: next run
            try:
                report = source.dispose(**self._common)
            except (SourceUnavailableError, ConfigError) as exc:
                result.errors.append(str(exc))
                continue
            result.disposed, result.errors = report.disposed, result.errors + report.errors


def _mailbox_result(kode: str, report: FetchReport) -> MailboxResult:
    return MailboxResult(
        arkivskaper=kode,
        mailbox=report.mailbox,
        fetched=len(report.fetched),
        already_fetched=report.skipped_already_fetched,
        too_large=report.too_large,
        errors=report.errors,
    )
