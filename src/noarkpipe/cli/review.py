"""`noarkpipe review`: the archivists' decisions on the review queue (status M).

What the commands print for a person is in the installation's language
(`[noarkpipe] lang`, else the locale; see `present`), so each command reads
its config once, first, and hands the settings on. The help stays English,
as all the command line's help does; `--json` is the same in every language.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.options import ACCEPT_GAP_OPTION, ARKIVSKAPER_OPTION, BY_OPTION, CONFIG_OPTION
from noarkpipe.core import language
from noarkpipe.errors import ReviewError

if TYPE_CHECKING:
    from noarkpipe.config import Settings
    from noarkpipe.core.language import Language


def _installation(config_path: Path) -> tuple[Settings, Language]:
    """The settings of --config, and the language the archivist reads: [noarkpipe] lang, else the locale."""
    settings = api.check_config(config_path)
    return settings, language.choose(None, settings.lang, os.environ)


@contextmanager
def _refused(lang: Language) -> Iterator[None]:
    """A decision the journal refuses (ReviewError): its message and hint in `lang`, and exit 2."""
    try:
        yield
    except ReviewError as exc:
        present.review_error(exc, lang)
        sys.exit(int(exc.exit_code))


@click.group()
def review() -> None:
    """The review queue: temporary registrations (status M) awaiting an archivist.

    \b
      noarkpipe review list                      what waits, oldest first
      noarkpipe review show 2026/345             one item with documents and changes
      noarkpipe review approve 2026/345 2026/346 journal as they are (status J)
      noarkpipe review reclassify 2026/345 L42   move the case to another class
      noarkpipe review attach 2026/345 2026/12   put it into an existing case
      noarkpipe review reject 2026/345 --reason "reklame"

    A document that got no archival copy (shown as NO ARCHIVAL COPY, in bokmål UTEN ARKIVFORMAT) keeps
    its journalpost here until one of:
    \b
      noarkpipe review approve 2026/345 --accept-gap    journal it as received; the gap is logged and exported
      noarkpipe review drop-part 2026/345 2 --reason "tom fil"   document 2 out; the file goes to quarantine
      noarkpipe review replace-part 2026/345 2 ny.pdf  the sender's new file, with its archival copy

    Every decision is written to the change log (endringslogg) with --by.
    """


@review.command("list")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def review_list(config_path: Path, kode: str | None, as_json: bool) -> None:
    """List the review queue."""
    settings, lang = _installation(config_path)
    with _refused(lang):
        items = api.review_list(settings, kode)
    if as_json:
        click.echo(json.dumps([i.model_dump(mode="json") for i in items], ensure_ascii=False, indent=2))
        return
    present.review_queue(items, lang)


@review.command("show")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.argument("number")
def review_show(config_path: Path, kode: str | None, number: str) -> None:
    """Show one journalpost (by journal number, e.g. 2026/345) with its documents and changes."""
    settings, lang = _installation(config_path)
    with _refused(lang):
        detail = api.review_show(settings, number, kode)
    present.review_detail(detail, lang)


@review.command("approve")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@ACCEPT_GAP_OPTION
@click.argument("numbers", nargs=-1, required=True)
def review_approve(config_path: Path, kode: str | None, by: str, accept_gap: bool, numbers: tuple[str, ...]) -> None:
    """Journal the items as registered (status M → Journalført). Numbers stay as they are.

    An item with a document that has no archival copy is refused unless
    --accept-gap is given; then the change log records, per document, that it
    was journaled without archival copy and why, and the export says so in a
    merknad. Items after a refused one are still decided.
    """
    settings, lang = _installation(config_path)
    refused = None
    for number in numbers:
        try:
            item = api.review_decide(settings, "approve", number, kode=kode, by=by, accept_gap=accept_gap)
        except ReviewError as exc:
            present.review_error(exc, lang)
            refused = exc
            continue
        present.decided(item, lang)
    if refused is not None:
        sys.exit(int(refused.exit_code))


@review.command("reclassify")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("number")
@click.argument("klasse")
def review_reclassify(config_path: Path, kode: str | None, by: str, number: str, klasse: str) -> None:
    """Move the item's case to class KLASSE (a klasseID, e.g. L42); it stays in review."""
    settings, lang = _installation(config_path)
    with _refused(lang):
        item = api.review_decide(settings, "reclassify", number, kode=kode, by=by, klasse=klasse)
    present.decided(item, lang)


@review.command("attach")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@ACCEPT_GAP_OPTION
@click.argument("number")
@click.argument("saksnummer")
def review_attach(config_path: Path, kode: str | None, by: str, accept_gap: bool, number: str, saksnummer: str) -> None:
    """Put the item into the existing case SAKSNUMMER (e.g. 2026/12) and journal it."""
    settings, lang = _installation(config_path)
    with _refused(lang):
        item = api.review_decide(settings, "attach", number, kode=kode, by=by, saksnummer=saksnummer,
                                 accept_gap=accept_gap)
    present.decided(item, lang)


@review.command("drop-part")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("number")
@click.argument("dokumentnummer", type=click.IntRange(min=1))
@click.option("--reason", required=True, help="Why the document is taken out (kept in the change log and beside the file).")
def review_drop_part(config_path: Path, kode: str | None, by: str, number: str, dokumentnummer: int, reason: str) -> None:
    """Take document DOKUMENTNUMMER out of journalpost NUMBER (e.g. an empty file, a stray signature).

    The original goes to the municipality's quarantine folder with a
    .reason.txt, and stays in the document store; the other documents keep
    their numbers. The journalpost stays in review.
    """
    settings, lang = _installation(config_path)
    with _refused(lang):
        item, kept = api.review_drop_part(settings, number, dokumentnummer, reason=reason, kode=kode, by=by)
    present.decided(item, lang)
    present.part_dropped(dokumentnummer, kept, lang)


@review.command("replace-part")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("number")
@click.argument("dokumentnummer", type=click.IntRange(min=1))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def review_replace_part(config_path: Path, kode: str | None, by: str, number: str, dokumentnummer: int, file: Path) -> None:
    """Attach FILE, a replacement the sender sent, as the next version of document DOKUMENTNUMMER.

    FILE gets its archival copy made and verified as in the nightly run; that
    closes the document's gap. The version received first is kept. The
    journalpost stays in review: approve it when it is complete.
    """
    settings, lang = _installation(config_path)
    # The operator's own argument may be a link (intake never follows one, so it is resolved here).
    with _refused(lang):
        item = api.review_replace_part(settings, number, dokumentnummer, file.resolve(), kode=kode, by=by)
    present.decided(item, lang)


@review.command("reject")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("number")
@click.option("--reason", required=True, help="Why it is not journaled (kept in the change log).")
def review_reject(config_path: Path, kode: str | None, by: str, number: str, reason: str) -> None:
    """Reject the item (status Utgår), e.g. advertising or a copy sent twice."""
    settings, lang = _installation(config_path)
    with _refused(lang):
        item = api.review_decide(settings, "reject", number, kode=kode, by=by, reason=reason)
    present.decided(item, lang)
