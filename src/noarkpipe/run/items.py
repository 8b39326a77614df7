"""An item's row in the journal store (`tables.IntakeItem`) and the states it goes through in a run.

claimed → converted → journaled → filed, or quarantined at any step before
journaling. Each change is its own transaction, durable before the next
step begins, except `journaled`, which is written in the transaction that
journals the item, so that a journalpost and its item's state are never
apart. The SHA-256 of the claimed file keys the row per arkivskaper: bytes
journaled once are recognised when they come again, and a run killed
between two steps finds the row where the last one left it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, Table, Update, bindparam, select, update
from sqlalchemy.orm import Session

from noarkpipe.clock import utcnow
from noarkpipe.store import tables
from noarkpipe.store.engine import Store
from noarkpipe.store.tables import ItemState

_ITEMS = cast(Table, tables.IntakeItem.__table__)
_SET_STATE = update(_ITEMS).where(_ITEMS.c.id == bindparam("item_id")).values(state=bindparam("new_state"))
_SET_JOURNALED = _SET_STATE.values(
    journalpost_id=bindparam("journalpost_id"), source=bindparam("new_source"), updated_at=bindparam("now")
)
"""Built once: each item's row changes three times, and loading it to change a column cost more than the change."""


@dataclass(frozen=True)
class Registration:
    """What the store knew of an item's bytes when the run took it up."""

    item_id: int | None = None
    """The item's row, now claimed by this run; None when the bytes are journaled already."""
    existing: str | None = None
    """journalaar/journalsekvensnummer of the journalpost these bytes already are."""
    refile: int | None = None
    """The row of those bytes when a run was killed between journaling and filing them."""
    journalpost_id: int | None = None
    """The journalpost of `existing`."""


class ItemRecords:
    """The rows of the items of one run, each change written as `actor`."""

    def __init__(self, store: Store, actor: str) -> None:
        self.store = store
        self.actor = actor

    def register(
        self, arkivskaper_id: int, sha: str, size: int, origin: str, now: datetime, run_id: int
    ) -> Registration:
        """The item's row, made or taken over as claimed by this run, unless its bytes are journaled already."""
        with self.store.write(self.actor) as session:
            row = _row(session, arkivskaper_id, sha)
            if row is not None and row.state in (ItemState.journaled, ItemState.filed):
                journalpost = session.get(tables.Journalpost, row.journalpost_id)
                assert journalpost is not None  # a journaled item's journalpost: never deleted
                return Registration(
                    existing=f"{journalpost.journalaar}/{journalpost.journalsekvensnummer}",
                    refile=row.id if row.state == ItemState.journaled else None,
                    journalpost_id=journalpost.id,
                )
            if row is None:
                row = tables.IntakeItem(
                    arkivskaper_id=arkivskaper_id,
                    sha256=sha,
                    size=size,
                    source="unknown",
                    origin_name=origin,
                    claimed_at=now,
                )
                session.add(row)
            row.state, row.reason, row.run_id, row.updated_at = ItemState.claimed, None, run_id, now
            session.flush()
            return Registration(item_id=row.id)

    def set_state(self, item_id: int, state: ItemState) -> None:
        with self.store.write(self.actor) as session:
            _update_row(session, _SET_STATE, {"item_id": item_id, "new_state": state.value})

    def mark_quarantined(self, item_id: int, reason: str, now: datetime) -> None:
        with self.store.write(self.actor) as session:
            item = session.get(tables.IntakeItem, item_id)
            item.state, item.reason, item.updated_at = ItemState.quarantined, reason, now

    def mark_quarantined_unopened(
        self, arkivskaper_id: int, claimed_name: str, origin: str, reason: str, now: datetime, run_id: int
    ) -> None:
        """An item that was never opened: it has no content digest.

        Its row is keyed by a digest of its claimed name, unique per claim, so
        it is registered like any item and a rerun after a kill finds the same row.
        """
        key = hashlib.sha256(b"not a regular file\0" + os.fsencode(claimed_name)).hexdigest()
        with self.store.write(self.actor) as session:
            row = _row(session, arkivskaper_id, key) or tables.IntakeItem(
                arkivskaper_id=arkivskaper_id, sha256=key, size=0, source="unknown",
                origin_name=origin, claimed_at=now,
            )
            row.state, row.reason, row.run_id, row.updated_at = ItemState.quarantined, reason, run_id, now
            session.add(row)

    def file_journaled_leftovers(self, arkivskaper_id: int, run_id: int) -> None:
        """Mark filed the items of other runs that were journaled and removed from work/ but not marked filed."""
        with self.store.write(self.actor) as session:
            for row in session.scalars(
                select(tables.IntakeItem)
                .where(tables.IntakeItem.arkivskaper_id == arkivskaper_id)
                .where(tables.IntakeItem.state == ItemState.journaled)
                .where(tables.IntakeItem.run_id != run_id)
            ):
                row.state, row.updated_at = ItemState.filed, utcnow()


def mark_journaled(session: Session, item_id: int, journalpost_id: int | None, source: str, now: datetime) -> None:
    """The item journaled, in the transaction that journals it: its first journalpost and its intake source."""
    _update_row(session, _SET_JOURNALED, {
        "item_id": item_id, "new_state": ItemState.journaled.value, "journalpost_id": journalpost_id,
        "new_source": source, "now": now,
    })


def _update_row(session: Session, statement: Update, parameters: dict) -> None:
    changed = cast(CursorResult, session.execute(statement, parameters)).rowcount
    assert changed == 1  # the row `register` made or took over


_ROW = (
    select(tables.IntakeItem)
    .where(tables.IntakeItem.arkivskaper_id == bindparam("arkivskaper_id"))
    .where(tables.IntakeItem.sha256 == bindparam("sha"))
)


def _row(session: Session, arkivskaper_id: int, sha: str) -> tables.IntakeItem | None:
    return session.scalar(_ROW, {"arkivskaper_id": arkivskaper_id, "sha": sha})
