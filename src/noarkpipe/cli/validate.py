"""`noarkpipe validate`: check any system's Noark 5 extract or DIAS package, or explain a check."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from noarkpipe import api
from noarkpipe.cli import present
from noarkpipe.cli.progress import progress_bar
from noarkpipe.errors import ExitCode


@click.command("validate")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
              metavar="FILE", help="Write the full report as JSON to FILE ('-': standard output, no summary).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write a self-contained HTML report to FILE (to read, print or attach to a letter).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write every finding to FILE as CSV, sorted by file and line.")
@click.option("--lang", type=click.Choice(["nb", "en"]), default=None,
              help="Language of the reports: nb (bokmål) or en [default: the config's lang, else the locale].")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="A noarkpipe config whose [noarkpipe] lang sets the default language.")
@click.option("--max-examples", type=click.IntRange(min=0), default=25, show_default=True, metavar="N",
              help="Example locations kept per check in the console, JSON and HTML reports; 0: all.")
@click.option("--submission-description", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="The <UUID>.xml or info.xml delivered with the tar (default: looked for beside it).")
@click.option("--max-identify", type=click.IntRange(min=0), default=500, show_default=True, metavar="N",
              help="Identify the formats of at most N distinct document files (an even sample); 0: all.")
@click.option("--explain", "explain_id", metavar="ID",
              help="Print what check ID does, why, and what usually causes its findings; validate nothing.")
@click.option("--no-progress", is_flag=True, help="Show no progress bar (it is only shown on a terminal anyway).")
def validate(path: Path | None, json_path: Path | None, html_path: Path | None, csv_path: Path | None,
             lang: str | None, config_path: Path | None, max_examples: int, submission_description: Path | None,
             max_identify: int, explain_id: str | None, no_progress: bool) -> None:
    """Validate a Noark 5 extract (v5.0, v4.0, v3.1) or a DIAS deposit package for the depot.

    PATH is an extract folder, an unpacked DIAS package, or the DIAS .tar itself
    (read in place, never unpacked). Every XML file is validated against the
    official schemas, checksums and counts are recomputed, and the content is
    checked (empty folders, missing or unreferenced documents, duplicate
    systemIDs, journal control, change log, formats, ...): the README lists
    every check, and --explain ID explains one. The last line printed is
    'VERDICT: PASSED|FAILED errors=N warnings=N', the same in every language.
    Exit code 0: no errors; 12: errors found; 4: PATH unusable; 2: wrong usage.
    """
    if explain_id is not None:
        _explain_check(explain_id, lang, config_path)
        return
    if path is None:
        raise click.UsageError("give the PATH of an extract folder or DIAS package (or --explain ID)")
    to_stdout = json_path is not None and str(json_path) == "-"
    with progress_bar("Listing the package", wanted=not no_progress) as progress:
        report = api.validate(path, submission_description=submission_description, json_path=json_path,
                              html_path=html_path, csv_path=csv_path, max_identify=max_identify,
                              max_examples=max_examples, lang=lang, config_path=config_path,
                              progress=progress)
    if to_stdout:
        click.echo(report.model_dump_json(indent=2))
    else:
        present.validation(report, json_path, html_path, csv_path, max_examples)
    code = api.validation_exit_code(report)
    if code:
        sys.exit(code)


def _explain_check(check_id: str, lang: str | None, config_path: Path | None) -> None:
    try:
        click.echo(api.explain_check(check_id, lang=lang, config_path=config_path))
    except KeyError:
        from noarkpipe.validate.checks import all_checks  # the validator's checks: only to list the known ids
        from noarkpipe.validate.texts import texts

        words = texts(api.validation_lang(lang, config_path))
        click.echo(words("explain_unknown", id=check_id), err=True)
        click.echo("  " + " ".join(check.id for check in all_checks()), err=True)
        sys.exit(ExitCode.bad_args)
