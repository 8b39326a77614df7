"""`noarkpipe status`: counts, the review queue, quarantine, the last run, and health for monitoring."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.options import CONFIG_OPTION
from noarkpipe.errors import ExitCode
from noarkpipe.ops.health import parse_max_age


def _max_age(_ctx, _param, value: str | None):
    try:
        return parse_max_age(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output for monitoring.")
@click.option(
    "--max-age", callback=_max_age, metavar="AGE",
    help="Health check: exit 14 unless the last run succeeded and ended less than AGE ago (e.g. 26h, 90m, 1d12h).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when healthy (for cron: mail only problems).")
def status(config_path: Path, as_json: bool, max_age, quiet: bool) -> None:
    """Counts per municipality, the review queue, quarantine, the last run and its health.

    \b
    For monitoring:
      noarkpipe status --max-age 26h            exit 0 healthy, 14 unhealthy (the reasons on stdout)
      noarkpipe status --max-age 26h --quiet    the same, silent when healthy (cron)
      noarkpipe status --max-age 26h --json     the same as JSON ("health": {"healthy": ...})
    """
    report = api.status(config_path, max_age=max_age)
    unhealthy = max_age is not None and report.health is not None and not report.health.healthy
    if quiet and (report.health is None or report.health.healthy):
        return
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        present.status_report(report)
    if unhealthy:
        sys.exit(ExitCode.unhealthy)
