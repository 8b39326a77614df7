"""The post mailbox: take new mail into the inbox folder, and clear it once journaled.

Three sources, one rule set, in their own modules:

- IMAP (`intake/imap.py`: `fetch_imap`, `dispose_fetched`): the folder in `[arkivskaper.imap]`.
- Microsoft Graph (`intake/graph.py`: `fetch_graph`, `dispose_graph`): the Microsoft 365
  mailbox folder in `[arkivskaper.graph]`.
- A maildir on the server's own disk (`intake/maildir.py`: `fetch_maildir`, `dispose_maildir`).

This module holds what they share: the reports, the inbox file names, the
atomic write and the `fetched_message` bookkeeping.

Fetching writes each message unchanged as an .eml file into the inbox, under
a hidden `.fetch-*` name that is fsynced and then renamed, so the nightly run
never sees half a message. Every message taken is recorded in
`fetched_message` *after* its file is in place: a crash in between means the
message is fetched once more, and the second copy is recognised downstream by
its SHA-256, so nothing is lost and nothing journaled twice.

A message is taken once. Its UID (within the folder's UIDVALIDITY), Graph id or
maildir key is recorded, and a message under a new UID whose Message-ID or SHA-256 was
already taken from the same mailbox (the server renumbered the folder, or
someone put a copy back) is recorded against the inbox file it was first taken
in as, without a new file, so it is cleared together with it.

Messages larger than `max_file_mb` are not taken (IMAP asks their size first,
Graph stops the download at the limit) and not recorded: they stay in the
mailbox untouched and are listed in `FetchReport.too_large` on
every run until someone raises the limit or handles them by hand.

Nothing is moved, flagged or deleted on the server at fetch time. Disposal
(move to `move_to`, or set \\Seen / isRead when `after_fetch = 'flag'`) happens
only for messages whose inbox file has been journaled, filed or quarantined.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import select

from noarkpipe.clock import utcnow
from noarkpipe.core.context import IntakeLimits
from noarkpipe.files.safety import safe_filename
from noarkpipe.store import tables
from noarkpipe.store.engine import Store
from noarkpipe.store.tables import ItemState

log = logging.getLogger(__name__)

TEMP_PREFIX = ".fetch-"
SETTLED_STATES = (ItemState.journaled, ItemState.filed, ItemState.quarantined)
"""`IntakeItem.state` values after which a message may leave the mailbox."""


class FetchReport(BaseModel):
    mailbox: str
    fetched: list[str] = Field(default_factory=list, description="inbox file names written")
    skipped_already_fetched: int = Field(default=0, description="messages in the mailbox already taken in")
    too_large: list[str] = Field(default_factory=list, description="messages left in the mailbox: over max_file_mb")
    errors: list[str] = Field(default_factory=list, description="messages that could not be taken this time")


class DisposeReport(BaseModel):
    mailbox: str
    disposed: int = Field(default=0, description="messages moved or flagged now")
    waiting: int = Field(default=0, description="fetched messages not yet journaled or quarantined")
    errors: list[str] = Field(default_factory=list)


# ---- shared by both sources -------------------------------------------------


def inbox_name(moment: datetime, source: str, uidvalidity: int, key: str) -> str:
    """`20261123T060102Z-imap-1795450929-17.eml`: sortable by arrival, unique per message.

    A Graph id is some 150 characters of base64: the name carries a short digest of it instead.
    """
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    if source == "imap":
        middle = f"{source}-{uidvalidity}-{key}"
    elif source == "graph":
        middle = f"{source}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    else:
        middle = f"{source}-{key}"
    return safe_filename(f"{stamp}-{middle}.eml", f"{stamp}-{source}.eml")


def message_id_of(content: bytes) -> str | None:
    """The Message-ID header, as written (angle brackets kept), or None."""
    head = re.split(rb"\r?\n\r?\n", content, maxsplit=1)[0]
    value = BytesHeaderParser(policy=compat32).parsebytes(head).get("Message-ID")
    text = " ".join(str(value or "").split())
    return text or None


def write_atomically(folder: Path, name: str, content: bytes) -> Path:
    """Put `content` at folder/name so that the name only ever shows the whole file."""
    final = folder / name
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    temporary = folder / f"{TEMP_PREFIX}{name}"
    try:
        with temporary.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return final


def prepare_inbox(inbox: Path) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    # Only a fetch that was killed half-way leaves these behind, and they are incomplete.
    for leftover in inbox.glob(f"{TEMP_PREFIX}*"):
        leftover.unlink(missing_ok=True)


def settled_in_intake(store: Store, arkivskaper_id: int) -> Callable[[str], bool]:
    """True for the SHA-256 of an inbox file the nightly run has journaled, filed or quarantined."""

    def settled(sha256: str) -> bool:
        with store.read() as session:
            state = session.scalar(
                select(tables.IntakeItem.state)
                .where(tables.IntakeItem.arkivskaper_id == arkivskaper_id)
                .where(tables.IntakeItem.sha256 == sha256)
            )
        return state in SETTLED_STATES

    return settled


def known_keys(store: Store, mailbox: str, uidvalidity: int) -> set[str]:
    with store.read() as session:
        return set(
            session.scalars(
                select(tables.FetchedMessage.message_key)
                .where(tables.FetchedMessage.mailbox == mailbox)
                .where(tables.FetchedMessage.uidvalidity == uidvalidity)
            )
        )


def _earlier_copy(store: Store, mailbox: str, sha256: str, message_id: str | None) -> tables.FetchedMessage | None:
    condition = tables.FetchedMessage.sha256 == sha256
    if message_id:
        condition = condition | (tables.FetchedMessage.message_id == message_id)
    with store.read() as session:
        return session.scalars(
            select(tables.FetchedMessage)
            .where(tables.FetchedMessage.mailbox == mailbox)
            .where(condition)
            .order_by(tables.FetchedMessage.id)
            .limit(1)
        ).first()


def take(
    content: bytes,
    *,
    key: str,
    uidvalidity: int,
    source: str,
    mailbox: str,
    inbox: Path,
    arkivskaper_id: int,
    store: Store,
    actor: str,
    report: FetchReport,
) -> None:
    """Write one downloaded message into the inbox (unless taken before) and record it."""
    sha256 = hashlib.sha256(content).hexdigest()
    message_id = message_id_of(content)
    earlier = _earlier_copy(store, mailbox, sha256, message_id)
    now = utcnow()
    if earlier is not None:
        sha256, name = earlier.sha256, earlier.inbox_name
        report.skipped_already_fetched += 1
    else:
        name = inbox_name(now, source, uidvalidity, key)
        write_atomically(inbox, name, content)
        report.fetched.append(name)
    with store.write(actor) as session:
        session.add(
            tables.FetchedMessage(
                arkivskaper_id=arkivskaper_id,
                mailbox=mailbox,
                uidvalidity=uidvalidity,
                message_key=key,
                message_id=message_id,
                sha256=sha256,
                inbox_name=name,
                fetched_at=now,
            )
        )


def undisposed(store: Store, mailbox: str) -> list[tables.FetchedMessage]:
    with store.read() as session:
        return list(
            session.scalars(
                select(tables.FetchedMessage)
                .where(tables.FetchedMessage.mailbox == mailbox)
                .where(tables.FetchedMessage.disposed_at.is_(None))
                .order_by(tables.FetchedMessage.id)
            )
        )


def mark_disposed(store: Store, actor: str, ids: Iterable[int]) -> None:
    now = utcnow()
    with store.write(actor) as session:
        for row_id in ids:
            row = session.get(tables.FetchedMessage, row_id)
            assert row is not None  # the ids are of rows read from this table, whose rows are never deleted
            row.disposed_at = now


def too_large(what: str, size: int, limits: IntakeLimits) -> str:
    text = f"{what}: {size / 1024 / 1024:.1f} MB, over max_file_mb = {limits.max_file_mb}; left in the mailbox"
    log.warning(text)
    return text
