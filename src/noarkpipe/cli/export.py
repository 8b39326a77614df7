"""`noarkpipe export`: a closed arkivdel as a DIAS transfer package for the depot."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.options import ARKIVSKAPER_OPTION, CONFIG_OPTION
from noarkpipe.cli.progress import progress_bar


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


@click.command("export")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.option("--out", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <UUID>.tar and <UUID>.xml (created if missing).")
@click.option("--arkivdel", "arkivdeler", multiple=True, metavar="SYSTEMID|TITLE",
              help="Which arkivdel (repeat for several); default: the latest closed one.")
@click.option("--force", is_flag=True, help="Export an arkivdel that is not closed: a test extract (prøveuttrekk).")
@click.option("--uuid", "package_id", metavar="UUID", help="The package's UUID (default: derived, reproducible).")
@click.option("--timestamp", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
              help="The package's time (default: SOURCE_DATE_EPOCH, else the arkivdel's closing); fixes every timestamp in it.")
@click.option("--info-xml", is_flag=True, help="Also write the older info.xml beside the tar.")
@click.option("--no-identify", is_flag=True, help="Do not identify document formats (PRONOM) for the CSV.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export(config_path: Path, kode: str | None, output: Path, arkivdeler: tuple[str, ...], force: bool,
           package_id: str | None, timestamp, info_xml: bool, no_identify: bool, quiet: bool, as_json: bool) -> None:
    """Write a closed arkivdel as a Noark 5 v5.0 extract in a DIAS transfer package for the depot.

    Writes <UUID>.tar (the DIAS SIP: dias-mets.xml, log.xml,
    administrative_metadata/, content/ with arkivstruktur.xml, endringslogg.xml,
    loependeJournal.xml, offentligJournal.xml, arkivuttrekk.xml, the official
    XSDs and dokumenter/) and <UUID>.xml, the submission description with the
    tar's SHA-256. Every XML file is validated against its official schema
    first. Refused (exit 13, nothing written) when the arkivdel is not closed
    (unless --force), documents are missing or the disk is too small. The same
    store and options give a byte-identical package.
    """
    # SIGTERM stops like Ctrl-C: temporary files are removed, nothing half-made is left.
    signal.signal(signal.SIGTERM, _interrupt)
    with progress_bar("Reading the journal store", wanted=not quiet and not as_json) as progress:
        result = api.export(config_path, output, kode=kode, arkivdeler=arkivdeler, force=force, package_id=package_id,
                            timestamp=timestamp, info_xml=info_xml, identify_formats=not no_identify,
                            progress=progress)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    if quiet:
        return
    present.export_result(result)
