"""`noarkpipe period`: close the cases, close the archive period, open the next."""

from __future__ import annotations

import json
from pathlib import Path

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.options import ARKIVSKAPER_OPTION, BY_OPTION, CONFIG_OPTION


@click.group()
def period() -> None:
    """Archive periods (periodisering): close the cases, close the period, open the next.

    \b
      noarkpipe period list                          the arkivdeler, their status and counts
      noarkpipe period close-cases --all             close every case whose documents are all checked
      noarkpipe period close --end 2026-12-31        sharp cut: open cases move to the new period
      noarkpipe period close --end 2026-12-31 --method soft   overlap: open cases are finished first
      noarkpipe period finish                        end the overlap; cases still open move on

    A closed period is what 'noarkpipe export' delivers to the depot.
    """


@period.command("list")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def period_list(config_path: Path, kode: str | None, as_json: bool) -> None:
    """List the arkivdeler (archive periods) with status, dates, systemID and counts."""
    summaries = api.period_list(config_path, kode)
    if as_json:
        click.echo(json.dumps([s.model_dump(mode="json") for s in summaries], ensure_ascii=False, indent=2))
        return
    present.arkivdeler(summaries)


@period.command("close")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day of the period (YYYY-MM-DD).")
@click.option("--method", type=click.Choice(["sharp", "soft"]), default="sharp", show_default=True,
              help="sharp: open cases move to the new period now; soft: an overlap period to finish them.")
@click.option("--title", help="Title of the new arkivdel (default: the old one's with the new start year).")
def period_close(config_path: Path, kode: str | None, by: str, end, method: str, title: str | None) -> None:
    """Close the active arkivdel at END and open its successor.

    The closed arkivdel gets status 'Avsluttet periode' (sharp) or
    'Overlappingsperiode' (soft); the two refer to each other, cases opened
    after END move to the successor, and every change goes to the change log.
    """
    present.closing(api.period_close(config_path, end.date(), method=method, kode=kode, by=by, title=title))


@period.command("finish")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
def period_finish(config_path: Path, kode: str | None, by: str) -> None:
    """End an overlap period: its cases still open move to the successor; it is 'Avsluttet periode'."""
    present.closing(api.period_finish(config_path, kode=kode, by=by))


@period.command("close-cases")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("saksnumre", nargs=-1)
@click.option("--all", "close_all", is_flag=True, help="Every open case whose journalposter are all checked.")
def period_close_cases(config_path: Path, kode: str | None, by: str, saksnumre: tuple[str, ...], close_all: bool) -> None:
    """Close cases (saksstatus 'Avsluttet'): SAKSNUMRE (e.g. 2026/12) or --all.

    A case with a journalpost still in the review queue is not closed; it is
    listed with the reason.
    """
    if bool(saksnumre) == close_all:
        raise click.UsageError("give case numbers (e.g. 2026/12) or --all, not both")
    present.closed_cases(api.period_close_cases(config_path, None if close_all else list(saksnumre), kode=kode, by=by))
