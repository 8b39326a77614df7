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
from typing import cast

from sqlalchemy import Executable, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from noarkpipe.store.tables import NumberSeries

SAK = "sak"
JOURNAL = "journal"


def dokument_series(saksmappe_system_id: str) -> str:
    """The series of journalpostnummer within one saksmappe (year 0: not yearly)."""
    return f"saksmappe:{saksmappe_system_id}"


def _upsert(insert: Callable[[Table], postgresql.Insert | sqlite.Insert]) -> Executable:
    series = cast(Table, NumberSeries.__table__)
    return (
        insert(series)
        .values(arkivskaper_id=bindparam("arkivskaper_id"), series=bindparam("series"), year=bindparam("year"),
                last_value=1)
        .on_conflict_do_update(
            index_elements=["arkivskaper_id", "series", "year"],
            set_={"last_value": series.c.last_value + 1},
        )
        .returning(series.c.last_value)
    )


# Both dialects' INSERT has the upsert (ON CONFLICT … DO UPDATE), the generic one has not. Built once, and on
# the table rather than the entity: a journalpost takes three numbers, and a statement built anew for each, then
# handled by the ORM, cost some 200 µs a number, several times what running it costs.
_UPSERTS = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


def next_number(session: Session, arkivskaper_id: int, series: str, year: int) -> int:
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get(dialect)
    if statement is None:
        raise NotImplementedError(f"numbering on {dialect}")
    # The caller's pending changes go first, as the ORM flushes them before a statement on an entity (autoflush).
    session.flush()
    parameters = {"arkivskaper_id": arkivskaper_id, "series": series, "year": year}
    return session.execute(statement, parameters).scalar_one()
