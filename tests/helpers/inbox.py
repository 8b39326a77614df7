"""An installation's inboxes: real e-mail files, dropped in as the post room would, and the date they are journaled on."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from noarkpipe.clock import LOCAL_TIME

REPO = Path(__file__).resolve().parents[2]
SAMPLE_INBOX = REPO / "fixtures" / "sample-inbox"


def make_eml(
    subject: str = "Søknad om dispensasjon – gnr. 12 bnr. 7",
    body: str = "Hei,\n\nVedlagt følger søknaden.\n\nMed vennlig hilsen\nÅse Ødegård",
    sender: str = "Åse Ødegård <ase.odegard@example.no>",
    to: str = "postmottak@fjellvik.kommune.no",
    attachments: list[tuple[str, bytes, str]] = (),
    date: datetime | None = datetime(2026, 11, 20, 14, 3, tzinfo=UTC),
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
    return datetime.now(LOCAL_TIME).date()


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
