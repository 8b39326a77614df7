"""Shared test helpers: a fresh installation per test and real e-mail files."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from noarkpipe import api
from noarkpipe.config import load_settings

REPO = Path(__file__).resolve().parents[1]
SAMPLE_INBOX = REPO / "fixtures" / "sample-inbox"


@pytest.fixture
def installation(tmp_path):
    """A directory set up by `noarkpipe init`: two municipalities, empty inboxes."""
    config_path = api.init(tmp_path / "site")
    return load_settings(config_path)


def make_eml(
    subject: str = "Søknad om dispensasjon – gnr. 12 bnr. 7",
    body: str = "Hei,\n\nVedlagt følger søknaden.\n\nMed vennlig hilsen\nÅse Ødegård",
    sender: str = "Åse Ødegård <ase.odegard@example.no>",
    to: str = "postmottak@fjellvik.kommune.no",
    attachments: list[tuple[str, bytes, str]] = (),
    date: datetime | None = datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc),
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if date is not None:
        message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<{abs(hash((subject, body)))}@example.no>"
    message.set_content(body)
    for filename, content, mime in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def oslo_today() -> date:
    """Today where the archive is: journal dates are Oslo dates, and from 23:00 UTC (22:00 in summer) on they
    are tomorrow's UTC date, so a test comparing them with date.today() on a UTC machine would fail at night."""
    return datetime.now(ZoneInfo("Europe/Oslo")).date()


def drop(settings, kode: str, name: str, content: bytes) -> Path:
    path = settings.creator(kode).inbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def copy_sample_inbox(settings) -> int:
    count = 0
    for creator in settings.arkivskaper:
        source = SAMPLE_INBOX / creator.kode
        for eml in sorted(source.glob("*.eml")):
            shutil.copy2(eml, creator.inbox / eml.name)
            count += 1
    return count


def _postgres_required() -> bool:
    """CI and scripts/test.sh (which installs PostgreSQL) must not skip the PostgreSQL tests."""
    return bool(os.environ.get("CI") or os.environ.get("NOARKPIPE_REQUIRE_POSTGRES"))


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server on loopback for the whole test session (tests/pgserver.py)."""
    from pgserver import postgres_bindir, start_postgres

    if postgres_bindir() is None:
        message = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if _postgres_required():
            pytest.fail(message + "; CI / scripts/test.sh require them", pytrace=False)
        pytest.skip(message)
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres, request):
    """A fresh, empty PostgreSQL database for one test; its SQLAlchemy URL."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)
