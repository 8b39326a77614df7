"""`noarkpipe journal publish`: one arkivskaper's public journal for a journaldato range, as XML and HTML."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel

from noarkpipe import publish as public
from noarkpipe.classify.policy import load_policy
from noarkpipe.errors import ConfigError
from noarkpipe.services.installation import Installation
from noarkpipe.store import queries


class PublishedJournal(BaseModel):
    arkivskaper: str
    xml: str | None
    html: str
    entries: int
    screened: int


def publish(installation: Installation, kode: str | None, date_from: date, date_to: date, output: Path) -> PublishedJournal:
    settings = installation.settings
    creator = installation.creator(kode)
    rules = load_policy(settings, creator).screening_rules
    output.mkdir(parents=True, exist_ok=True)
    stem = f"offentligJournal-{creator.kode}-{date_from:%Y%m%d}-{date_to:%Y%m%d}"
    with installation.store.read() as session:
        arkivskaper_id = queries.arkivskaper_id(session, creator.kode)
        if arkivskaper_id is None:
            raise ConfigError(f"'{creator.kode}' has journaled nothing yet", hint="run 'noarkpipe run' first")
        header = public.public_journal_header(session, arkivskaper_id, date_from, date_to)

        def entries():
            return public.public_entries(session, arkivskaper_id, date_from, date_to, rules=rules)

        html_path = output / f"{stem}.html"
        summary = public.write_html(entries(), html_path, header=header)
        xml_path = output / f"{stem}.xml"
        try:
            public.write_offentlig_journal(entries(), xml_path, header=header)
            xml: str | None = str(xml_path)
        except public.EmptyPublicJournalError:
            xml = None  # the schema needs at least one entry; the HTML says the period is empty
    return PublishedJournal(
        arkivskaper=creator.kode,
        xml=xml,
        html=str(html_path),
        entries=summary.antall,
        screened=summary.skjermet,
    )
