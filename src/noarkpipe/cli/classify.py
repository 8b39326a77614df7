"""`noarkpipe classify`: explain a classification, or retrain the learned model."""

from __future__ import annotations

from pathlib import Path

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.options import ARKIVSKAPER_OPTION, CONFIG_OPTION
from noarkpipe.core.printable import printable


@click.group(invoke_without_command=True)
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.option("--explain", "explain", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="FILE", help="Show how FILE would be classified and screened, and why.")
@click.pass_context
def classify(ctx: click.Context, config_path: Path, kode: str | None, explain: Path | None) -> None:
    """Classification: explain a decision, or train the learned model.

    \b
      noarkpipe classify --explain inbox/brev.eml    which rule matched and why (nothing is journaled)
      noarkpipe classify train                       retrain the model on journaled items
    """
    if ctx.invoked_subcommand is None:
        if explain is None:
            click.echo(ctx.get_help())
            return
        # The operator's own argument may be a link (intake never follows one, so it is resolved here).
        explained = api.classify_explain(config_path, explain.resolve(), kode)
        # A block of lines put together by classify; the Subject and names quoted in it are escaped here.
        click.echo(printable(explained, keep_newlines=True))


@classify.command("train")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.option("--json", "as_json", is_flag=True, help="The full training report as JSON.")
def classify_train(config_path: Path, kode: str | None, as_json: bool) -> None:
    """Retrain the learned class model on the journaled items and report its held-out accuracy.

    The model is used by the next run where no rule decides; a suggestion below
    klassifikasjonssystem.model_threshold sends the item to review instead.
    """
    report, path = api.classify_train(config_path, kode)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    present.training(report, path)
