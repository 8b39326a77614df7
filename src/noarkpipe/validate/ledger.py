"""A scratch index on disk, so memory stays flat whatever the extract's size.

Most checks compare things found far apart: a systemID seen twice a million
elements apart, a document reference and the file it names, a journal
entry and its journalpost. Keeping those in Python sets and dicts would
make memory grow with the extract (a deposit can hold 10^6 registrations
and several million files), so they are appended to SQLite tables in a
temporary folder and compared with SQL once the streaming pass is done.
Inserts are batched; indexes are built after loading, which is faster than
keeping them up to date. Each database's page cache is capped at 8 MB: a
larger cache was measured to make no difference to the time, only to the
memory (the scratch files stay in the OS page cache anyway).

Each thread that writes gets its own database file (SQLite connections do
not cross threads, and two writers on one file would wait on its lock);
the engine attaches them for the final queries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

BATCH = 5000


class Ledger:
    """Append-only tables in one SQLite file, queried once the pass is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "temp_store=FILE",
            "cache_size=-8192",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("BEGIN")
        self._pending: dict[str, list[tuple]] = {}
        self._statements: dict[str, str] = {}

    def table(self, name: str, columns: str) -> None:
        """Create a table: `columns` as in CREATE TABLE, e.g. 'system_id TEXT, line INTEGER'."""
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
        width = len(columns.split(","))
        self._statements[name] = f"INSERT INTO {name} VALUES ({', '.join('?' * width)})"
        self._pending[name] = []

    def add(self, name: str, row: tuple) -> None:
        pending = self._pending[name]
        pending.append(row)
        if len(pending) >= BATCH:
            self.db.executemany(self._statements[name], pending)
            pending.clear()

    def flush(self) -> None:
        for name, pending in self._pending.items():
            if pending:
                self.db.executemany(self._statements[name], pending)
                pending.clear()
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    def index(self, name: str, table: str, columns: str) -> None:
        self.db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")

    def attach(self, other: Ledger, alias: str) -> None:
        """Make another ledger's tables readable here as `alias.table` (the other is closed)."""
        other.flush()
        other.db.execute("COMMIT")
        other.db.close()
        self.attach_file(other.path, alias)

    def attach_file(self, path: Path, alias: str) -> None:
        self.flush()
        self.db.execute("COMMIT")
        self.db.execute(f"ATTACH DATABASE ? AS {alias}", (str(path),))
        self.db.execute("BEGIN")

    def query(self, sql: str, parameters: Iterable = ()) -> Iterator[tuple]:
        return iter(self.db.execute(sql, tuple(parameters)))

    def scalar(self, sql: str, parameters: Iterable = ()):
        row = self.db.execute(sql, tuple(parameters)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:
            pass
