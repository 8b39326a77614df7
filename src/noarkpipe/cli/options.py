"""Options several commands share, spelt the same everywhere."""

from __future__ import annotations

import os
from pathlib import Path

import click

CONFIG_OPTION = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="noarkpipe.toml",
    show_default=True,
    envvar="NOARKPIPE_CONFIG",
    help="The config file (or set NOARKPIPE_CONFIG).",
)
ARKIVSKAPER_OPTION = click.option(
    "--arkivskaper", "-a", "kode", metavar="KODE", help="Which municipality (needed when several share the installation)."
)
ACCEPT_GAP_OPTION = click.option(
    "--accept-gap", is_flag=True,
    help="Journal it although a document has no archival copy (recorded in the change log and the export).",
)
BY_OPTION = click.option(
    "--by", default=lambda: os.environ.get("USER") or "arkivar", show_default="$USER",
    help="Who decides: recorded as endretAv in the change log.",
)
