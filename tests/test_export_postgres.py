"""The export from a PostgreSQL journal store gives the very package the SQLite store gives."""

from __future__ import annotations

from datetime import UTC, datetime

from helpers.exportfactory import generate
from noarkpipe import api
from test_postgres import use_store

WHEN = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_the_same_archive_exports_byte_identically_from_sqlite_and_postgresql(installation, pg_url, tmp_path):
    generate(installation.store_url, installation.documents_dir, registrations=60, seed=11)
    from_sqlite = api.export(installation, tmp_path / "sqlite", kode="fjellvik", timestamp=WHEN)

    on_postgres = use_store(installation, pg_url)
    assert on_postgres.store_url.startswith("postgresql")
    generate(on_postgres.store_url, tmp_path / "pg-documents", registrations=60, seed=11)
    on_postgres = on_postgres.model_copy(update={"data_dir": tmp_path / "pg-data"})
    (tmp_path / "pg-data").mkdir()
    (tmp_path / "pg-documents").rename(on_postgres.documents_dir)
    from_postgres = api.export(on_postgres, tmp_path / "postgres", kode="fjellvik", timestamp=WHEN)

    assert from_postgres.uuid == from_sqlite.uuid
    assert from_postgres.tar.read_bytes() == from_sqlite.tar.read_bytes()
    assert from_postgres.counts == from_sqlite.counts
