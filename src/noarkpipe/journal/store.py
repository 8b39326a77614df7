"""Opening the journal store: engine, migrations, transactions.

SQLite runs in WAL mode and every transaction starts with BEGIN IMMEDIATE,
so two processes journaling into one file are serialised by SQLite's write
lock instead of failing halfway with "database is locked". PostgreSQL relies
on row locks taken by the numbering upsert (see numbering.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import StoreError
from . import endringslogg, tables

SQLITE_BUSY_TIMEOUT_MS = 60_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"store_url '{url}' is not a database URL",
            hint="e.g. sqlite:////var/lib/noarkpipe/noarkpipe.sqlite",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ImportError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"the database driver for '{parsed.drivername}' is not installed: {exc}",
            hint="for PostgreSQL: pip install 'psycopg[binary]' and use postgresql+psycopg://",
        ) from exc


def _alembic_config(connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", "noarkpipe.journal:migrations")
    config.attributes["connection"] = connection
    return config


class Store:
    """The journal store: call `Store.open(url)`, then use `write()` / `read()` sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        event.listen(self._sessions, "before_flush", endringslogg.record_changes)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        store = cls(make_engine(url))
        try:
            if migrate:
                store.migrate()
            else:
                store.require_current_schema()
        except OperationalError as exc:
            raise StoreError(
                f"cannot open the journal store {make_url(url).render_as_string(hide_password=True)}: "
                f"{exc.orig}",
                hint="check store_url, that the folder is writable and the server is running",
            ) from exc
        return store

    def migrate(self) -> None:
        with self.engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "head")

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str:
        with self.engine.connect() as connection:
            return ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()

    def require_current_schema(self) -> None:
        current, head = self.schema_revision(), self.head_revision()
        if current != head:
            raise StoreError(
                f"the journal store is at schema revision {current}, this noarkpipe needs {head}",
                hint="run 'noarkpipe run' or 'noarkpipe status --migrate' once to upgrade it",
            )

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    @contextmanager
    def write(self, actor: str) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on error."""
        session = self._sessions()
        session.info["actor"] = actor
        try:
            with session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"journal store transaction failed: {exc}") from exc
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only look; objects stay readable (detached) after the block."""
        session = self._sessions()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Store", "make_engine", "tables"]
