"""Opening the journal store: engine, migrations, transactions.

SQLite runs in WAL mode and every transaction starts with BEGIN IMMEDIATE,
so two processes journaling into one file are serialised by SQLite's write
lock instead of failing halfway with "database is locked".

PostgreSQL gets the same guarantee from a transaction-scoped advisory lock
that every write transaction (and a migration) takes first. The numbering
upsert alone would keep numbers unique there (it locks its series row), but
the journaling code also finds-or-creates rows (the arkivskaper's structure,
intake items) and was written for one writer at a time: with several hosts or
processes sharing one database, two of them would otherwise both see "missing"
and both insert. Write transactions are short (parsing and conversion happen
outside them), so queueing them costs little; readers are never blocked. A
writer waits at most `LOCK_TIMEOUT_S` for the lock, like SQLite's busy timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from noarkpipe.errors import StoreError
from noarkpipe.store import endringslogg, tables

SQLITE_BUSY_TIMEOUT_MS = 60_000
LOCK_TIMEOUT_S = 60
PG_CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key of "one writer at a time" (any bigint; this one spells "noarkwr").
PG_WRITE_LOCK_KEY = int.from_bytes(b"noarkwr", "big")


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
            "store_url is not a database URL",
            hint="e.g. sqlite:////var/lib/noarkpipe/noarkpipe.sqlite or "
            "postgresql+psycopg://noarkpipe:PASSWORD@dbhost/noarkpipe (percent-encode special characters)",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if parsed.drivername == "postgresql":
        # Plain postgresql:// would mean psycopg2; noarkpipe ships psycopg (v3).
        parsed = parsed.set(drivername="postgresql+psycopg")
    connect_args = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    try:
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (ImportError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"the database driver for '{parsed.drivername}' is not installed: {exc}",
            hint="for PostgreSQL: pip install 'psycopg[binary]' and use postgresql+psycopg://",
        ) from exc


def serialise_writers(connection) -> None:
    """Queue behind any other write transaction on this database (PostgreSQL; SQLite does it itself)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'"))
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY})


def _alembic_config(connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", "noarkpipe.store:migrations")
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
            store.dispose()
            raise StoreError(
                f"cannot open the journal store {make_url(url).render_as_string(hide_password=True)}: "
                f"{exc.orig}",
                hint="check store_url, that the folder is writable and the server is running",
            ) from exc
        except SQLAlchemyError as exc:
            store.dispose()
            raise StoreError(
                f"cannot migrate the journal store {make_url(url).render_as_string(hide_password=True)}: {exc}",
                hint="the database user needs the right to create tables; see the server log",
            ) from exc
        return store

    def migrate(self) -> None:
        with self.engine.begin() as connection:
            # Two processes opening a fresh PostgreSQL database at once: one migrates, the other waits.
            serialise_writers(connection)
            command.upgrade(_alembic_config(connection), "head")

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str:
        with self.engine.connect() as connection:
            head = ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()
        assert head is not None  # the migrations shipped in store/migrations have a head
        return head

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
                serialise_writers(session.connection())
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
