"""`noarkpipe journal publish`: the public journal (postliste)."""

from __future__ import annotations

from pathlib import Path

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.options import ARKIVSKAPER_OPTION, CONFIG_OPTION


@click.group()
def journal() -> None:
    """The journal: publish the public journal (postliste)."""


@journal.command("publish")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.option("--from", "date_from", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First journaldato (YYYY-MM-DD).")
@click.option("--to", "date_to", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last journaldato, included.")
@click.option("--out", "output", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True,
              help="Folder for offentligJournal-<kode>-<from>-<to>.xml and .html.")
def journal_publish(config_path: Path, kode: str | None, date_from, date_to, output: Path) -> None:
    """Write the postliste for a date range as offentligJournal.xml and a readable HTML page.

    Only journaled entries are published (the review queue is not); screened
    titles, names and identity numbers are replaced by *****, and both files
    are checked for leaks and against the official schema before they are kept.
    """
    present.published(api.publish_journal(config_path, date_from.date(), date_to.date(), output, kode))
