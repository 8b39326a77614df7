"""`noarkpipe run`: the nightly job, quiet under cron, a progress bar and a summary on a terminal."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.options import CONFIG_OPTION
from noarkpipe.cli.progress import progress_bar


@click.command()
@CONFIG_OPTION
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success, also on a terminal.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="Print the summary table and one log line per item to stderr.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
              help="Make the archival copies on this Dask cluster ([convert] scheduler in the config).")
def run(config_path: Path, quiet: bool, as_json: bool, verbose: bool, scheduler: str | None) -> None:
    """The nightly job: take in every inbox file and journal it.

    Each file is claimed, parsed, stored with its checksum and journaled as an
    incoming journalpost, once: files already journaled are recognised by
    their SHA-256. Files that cannot be taken in go to the quarantine folder
    with a .reason.txt. Only one run per data directory at a time: a second
    one exits at once with code 75. SIGTERM or Ctrl-C stops after the
    current item.

    Under cron or systemd (no terminal) a run that goes well prints nothing;
    problems go to stderr. Every run appends JSON lines to the run log
    ([logging] json_file) and writes data/reports/run-NNNNNN.json and .html.
    """
    if verbose:
        logging.getLogger().setLevel(logging.INFO)
    verbose = verbose or logging.getLogger().getEffectiveLevel() <= logging.INFO  # also `noarkpipe -v run`
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with progress_bar("Journaling", wanted=not quiet and not as_json, counts="items") as progress:
        summary = api.run(config_path, progress=progress, stop=stop, scheduler=scheduler)
    if as_json:
        click.echo(summary.model_dump_json(indent=2))
    elif not quiet and (verbose or sys.stdout.isatty()):
        present.run_summary(summary)
    present.run_problems(summary)
    sys.exit(api.run_exit_code(summary))
