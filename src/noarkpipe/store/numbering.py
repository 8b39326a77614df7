"""Case, journal and document numbers: unique and gap-free per records creator and year.

A number is taken by one upsert on `number_series` inside the caller's
journaling transaction. It runs under the store's one-writer-at-a-time lock
(SQLite: BEGIN IMMEDIATE; PostgreSQL: the advisory lock store.py takes), and on
PostgreSQL the upsert also locks its series row until commit, so even a writer
that bypassed the store could not read the same last value. Concurrent writers
queue up; a rollback gives the number back, so no gaps appear.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from noarkpipe.store.tables import NumberSeries

SAK = "sak"
JOURNAL = "journal"


def dokument_series(saksmappe_system_id: str) -> str:
    """The series of journalpostnummer within one saksmappe (year 0: not yearly)."""
    return f"saksmappe:{saksmappe_system_id}"


def next_number(session: Session, arkivskaper_id: int, series: str, year: int) -> int:
    # both dialects' INSERT has the upsert (ON CONFLICT … DO UPDATE), the generic one has not
    upserts: dict[str, Callable[[type[NumberSeries]], postgresql.Insert | sqlite.Insert]] = {
        "postgresql": postgresql.insert,
        "sqlite": sqlite.insert,
    }
    insert = upserts.get(session.get_bind().dialect.name)
    if insert is None:
        raise NotImplementedError(f"numbering on {session.get_bind().dialect.name}")
    statement = (
        insert(NumberSeries)
        .values(arkivskaper_id=arkivskaper_id, series=series, year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=["arkivskaper_id", "series", "year"],
            set_={"last_value": NumberSeries.last_value + 1},
        )
        .returning(NumberSeries.last_value)
    )
    return session.execute(statement).scalar_one()
