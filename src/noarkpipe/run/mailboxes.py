"""A creator's mailboxes in the run: new mail fetched into its inbox first, the server cleared last.

Before the creator's inbox is read, each message of its IMAP folder and
maildir not fetched before is written into the inbox (`intake/imap.py`, `intake/maildir.py`
keeps the record of what was fetched). After its items are done, only the
messages now journaled or quarantined are moved or flagged on the server,
so a message whose item waits in the work area is still there for the
next run. A mailbox that cannot be reached is a problem in the run's
summary, never a stop: the inbox is read all the same.
"""

from __future__ import annotations

import logging

from noarkpipe.config import ArkivskaperSettings, Settings
from noarkpipe.errors import ConfigError, SourceUnavailableError
from noarkpipe.intake import imap, maildir
from noarkpipe.run.results import MailboxResult
from noarkpipe.store.engine import Store

log = logging.getLogger(__name__)


def fetch_mailboxes(
    settings: Settings, store: Store, creator: ArkivskaperSettings, arkivskaper_id: int
) -> list[MailboxResult]:
    """New mail from the creator's IMAP folder and maildir into its inbox, each message once."""
    results = []
    common = {
        "arkivskaper_id": arkivskaper_id,
        "store": store,
        "actor": settings.actor,
        "limits": settings.intake.limits,
    }
    if creator.imap is not None:
        key = imap.imap_mailbox_key(creator.imap)
        try:
            password = imap.imap_password(creator.imap)
            report = imap.fetch_imap(creator.imap, password, creator.inbox, **common)
            results.append(_mailbox_result(creator.kode, report))
        except (SourceUnavailableError, ConfigError) as exc:  # e.g. the password variable is unset
            log.warning("%s: %s", creator.kode, exc)
            results.append(MailboxResult(arkivskaper=creator.kode, mailbox=key, errors=[str(exc)]))
    if creator.maildir is not None:
        report = maildir.fetch_maildir(creator.maildir, creator.inbox, **common)
        results.append(_mailbox_result(creator.kode, report))
    return results


def dispose_mailboxes(
    settings: Settings, store: Store, creator: ArkivskaperSettings, arkivskaper_id: int, results: list[MailboxResult]
) -> None:
    """Move or flag on the server what is now journaled or quarantined, and only that."""
    by_key = {r.mailbox: r for r in results}
    common = {"arkivskaper_id": arkivskaper_id, "store": store, "actor": settings.actor}
    if creator.imap is not None:
        key = imap.imap_mailbox_key(creator.imap)
        result = by_key.get(key)
        if result is None or result.errors:
            return  # the server was not reachable at the start; try again next run
        try:
            report = imap.dispose_fetched(creator.imap, imap.imap_password(creator.imap), **common)
            result.disposed, result.errors = report.disposed, result.errors + report.errors
        except SourceUnavailableError as exc:
            result.errors.append(str(exc))
    if creator.maildir is not None:
        report = maildir.dispose_maildir(creator.maildir, **common)
        result = by_key.get(report.mailbox)
        if result is not None:
            result.disposed, result.errors = report.disposed, result.errors + report.errors


def _mailbox_result(kode: str, report) -> MailboxResult:
    return MailboxResult(
        arkivskaper=kode,
        mailbox=report.mailbox,
        fetched=len(report.fetched),
        already_fetched=report.skipped_already_fetched,
        too_large=report.too_large,
        errors=report.errors,
    )
