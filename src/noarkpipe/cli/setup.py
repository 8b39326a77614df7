"""`noarkpipe init`, `check-config` and `separator-sheet`: setting an installation up."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.options import CONFIG_OPTION
from noarkpipe.errors import ExitCode


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite sample files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Create DIRECTORY with a commented sample config, a K-code list and data folders.

    The sample sets up two municipalities sharing one installation; edit
    noarkpipe.toml to match yours, then check it with 'noarkpipe check-config'.
    """
    config_path = api.init(directory, force=force)
    present.echo(f"Wrote {config_path}")
    present.echo(f"Next: edit it, drop files into the inbox folders, then: noarkpipe run -c {config_path}")


@click.command("check-config")
@CONFIG_OPTION
@click.option(
    "--probe",
    is_flag=True,
    help="Also sign in to each IMAP and Microsoft 365 mailbox and open its folder (changes nothing); "
    "exit 11 when one fails.",
)
def check_config(config_path: Path, probe: bool) -> None:
    """Validate the config file and show what it resolves to."""
    settings = api.check_config(config_path)
    present.settings_summary(settings, api.config_warnings(settings))
    if probe:
        probes = api.probe_mailboxes(settings)
        present.mailbox_probes(probes)
        if not all(p.ok for p in probes):
            sys.exit(ExitCode.source_unavailable)


@click.command("separator-sheet")
@click.argument("output", type=click.Path(path_type=Path), default="skilleark.pdf")
def separator_sheet(output: Path) -> None:
    """Write the separator sheet (skilleark) as a PDF to OUTPUT.

    Print it and put one sheet between the letters of a scan batch: the
    nightly run splits the batch there into one journalpost per letter and
    drops the sheet. A blank page separates letters too.
    """
    written = api.separator_sheet(output)
    present.echo(f"Wrote {written}")
