"""The `noarkpipe` command: argument parsing and presentation only; the work is in api.py."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__, api
from .errors import ExitCode, NoarkpipeError
from .nightly import Outcome, RunSummary

log = logging.getLogger("noarkpipe")

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


def _console() -> Console:
    # Piped into a log or a mail from cron, a summary is read in full: don't wrap it to 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="noarkpipe")
@click.option("-v", "--verbose", is_flag=True, help="Log each step to stderr.")
def cli(verbose: bool) -> None:
    """Nightly intake and Noark 5 journaling for municipal post rooms.

    \b
    Typical use:
      noarkpipe init /srv/noarkpipe          write a sample config and folders
      noarkpipe run -c /srv/noarkpipe/noarkpipe.toml     the nightly job (cron/systemd)
      noarkpipe status -c ...                what happened, what waits for review

    Exit codes are listed in the README ("Exit codes").
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite sample files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Create DIRECTORY with a commented sample config, a K-code list and data folders.

    The sample sets up two municipalities sharing one installation; edit
    noarkpipe.toml to match yours, then check it with 'noarkpipe check-config'.
    """
    config_path = api.init(directory, force=force)
    click.echo(f"Wrote {config_path}")
    click.echo(f"Next: edit it, drop files into the inbox folders, then: noarkpipe run -c {config_path}")


@cli.command("check-config")
@CONFIG_OPTION
def check_config(config_path: Path) -> None:
    """Validate the config file and show what it resolves to."""
    settings = api.check_config(config_path)
    click.echo(f"{settings.config_path}: OK")
    click.echo(f"  data_dir:  {settings.data_dir}")
    click.echo(f"  store_url: {settings.store_url}")
    for creator in settings.arkivskaper:
        system = creator.klassifikasjonssystem
        click.echo(
            f"  arkivskaper {creator.kode} ({creator.navn}): inbox {creator.inbox}, "
            f"quarantine {creator.quarantine}, {len(system.klasser)} classes, default {system.default_klasse}"
        )
        if creator.imap is not None:
            imap = creator.imap
            click.echo(
                f"    imap: {imap.username}@{imap.host}:{imap.effective_port} ({imap.tls}), folder {imap.folder}, "
                f"then {'move to ' + imap.move_to if imap.after_fetch == 'move' else 'flag as seen'}"
            )
        if creator.maildir is not None:
            click.echo(f"    maildir: {creator.maildir}")
    for warning in api.config_warnings(settings):
        click.echo(f"  warning: {warning}", err=True)


@cli.command()
@CONFIG_OPTION
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success (for cron).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def run(config_path: Path, quiet: bool, as_json: bool) -> None:
    """The nightly job: take in every inbox file and journal it.

    Each file is claimed, parsed, stored with its checksum and journaled as an
    incoming journalpost, once: files already journaled are recognised by
    their SHA-256. Files that cannot be taken in go to the quarantine folder
    with a .reason.txt. Only one run per data directory at a time: a second
    one exits at once with code 75. SIGTERM or Ctrl-C stops after the
    current item.
    """
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    interactive = sys.stderr.isatty() and not quiet and not as_json
    if interactive:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed} items"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("Journaling", total=None)

            def progress(_event, item):
                bar.update(task, advance=1, description=f"{item.arkivskaper}: {item.origin_name[:40]}")

            summary = api.run(config_path, progress=progress, stop=stop)
    else:
        summary = api.run(config_path, stop=stop)

    if as_json:
        click.echo(summary.model_dump_json(indent=2))
    elif not quiet:
        _print_summary(summary)
    for problem in summary.unavailable_sources:
        click.echo(f"noarkpipe: mailbox not read: {problem}", err=True)
    if summary.stopped_early:
        sys.exit(ExitCode.ctrl_c)
    if summary.unavailable_sources:
        sys.exit(ExitCode.source_unavailable)
    if summary.quarantined:
        sys.exit(ExitCode.items_quarantined)


def _print_summary(summary: RunSummary) -> None:
    console = _console()
    table = Table(title=f"Run {summary.run_id}", show_lines=False)
    for column in ("arkivskaper", "file", "outcome", "journalpost", "case/doc", "note"):
        table.add_column(column, overflow="fold")
    for item in summary.items:
        style = {Outcome.quarantined: "red", Outcome.needs_review: "yellow", Outcome.duplicate: "dim"}.get(
            item.outcome, ""
        )
        table.add_row(
            item.arkivskaper,
            item.origin_name,
            item.outcome.value,
            item.journalpost or "",
            item.saksmappe or "",
            item.reason or "",
            style=style,
        )
    if summary.items:
        console.print(table)
    console.print(
        f"journaled: {summary.journaled}  needs review: {summary.needs_review}  "
        f"quarantined: {summary.quarantined}  duplicates: {summary.duplicates}"
        + ("  (stopped early)" if summary.stopped_early else "")
    )


@cli.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output for monitoring.")
def status(config_path: Path, as_json: bool) -> None:
    """Counts per municipality, the review queue, quarantine and the last run."""
    report = api.status(config_path)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    console = _console()
    table = Table(title="noarkpipe status")
    for column in ("arkivskaper", "saksmapper", "journalposter", "review queue", "quarantined", "in inbox"):
        table.add_column(column, justify="right" if column != "arkivskaper" else "left")
    for c in report.creators:
        table.add_row(
            f"{c.kode} ({c.navn})",
            str(c.saksmapper),
            str(c.journalposter),
            str(c.review_queue),
            str(c.quarantined_files),
            str(c.waiting_in_inbox),
        )
    console.print(table)
    last = report.last_run
    if last is None:
        console.print("No run yet.")
    else:
        console.print(
            f"Last run {last.run_id}: {last.outcome}, started {last.started_at:%Y-%m-%d %H:%M:%S %Z}, "
            f"journaled {last.journaled}, needs review {last.needs_review}, "
            f"quarantined {last.quarantined}, duplicates {last.duplicates}"
        )
    console.print(f"Store: {report.store_url} (schema revision {report.schema_revision})")
    if report.altered_schemas:
        console.print(f"[red]Shipped schemas altered: {', '.join(report.altered_schemas)}[/red]")


ARKIVSKAPER_OPTION = click.option(
    "--arkivskaper", "-a", "kode", metavar="KODE", help="Which municipality (needed when several share the installation)."
)
BY_OPTION = click.option(
    "--by", default=lambda: os.environ.get("USER") or "arkivar", show_default="$USER",
    help="Who decides: recorded as endretAv in the change log.",
)


@cli.group()
def review() -> None:
    """The review queue: temporary registrations (status M) awaiting an archivist.

    \b
      noarkpipe review list                      what waits, oldest first
      noarkpipe review show 2026/345             one item with documents and changes
      noarkpipe review approve 2026/345 2026/346 journal as they are (status J)
      noarkpipe review reclassify 2026/345 L42   move the case to another class
      noarkpipe review attach 2026/345 2026/12   put it into an existing case
      noarkpipe review reject 2026/345 --reason "reklame"

    Every decision is written to the change log (endringslogg) with --by.
    """


@review.command("list")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def review_list(config_path: Path, kode: str | None, as_json: bool) -> None:
    """List the review queue."""
    items = api.review_list(config_path, kode)
    if as_json:
        click.echo(json.dumps([i.model_dump(mode="json") for i in items], ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("The review queue is empty.")
        return
    table = Table(title=f"Review queue ({len(items)})")
    for column in ("journalnr.", "dato", "tittel", "avsender", "klasse", "skjermet", "why"):
        table.add_column(column, overflow="fold")
    for i in items:
        table.add_row(i.journalnummer, f"{i.journaldato:%d.%m.%Y}", i.tittel, i.avsender or "", i.klasse,
                      "ja" if i.skjermet else "", i.note or "")
    _console().print(table)


@review.command("show")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@click.argument("number")
def review_show(config_path: Path, kode: str | None, number: str) -> None:
    """Show one journalpost (by journal number, e.g. 2026/345) with its documents and changes."""
    d = api.review_show(config_path, number, kode)
    lines = [
        f"Journalpost {d.journalnummer} ({d.registreringsID}), {d.journalstatus}",
        f"  Tittel:     {d.tittel}",
        f"  Sak:        {d.saksmappe_tittel} (klasse {d.klasse})",
        f"  Avsender:   {d.avsender or '-'}",
        f"  Mottatt:    {d.mottattDato:%d.%m.%Y %H:%M}" if d.mottattDato else "  Mottatt:    -",
        f"  Skjerming:  {d.skjermingshjemmel or 'ingen'}" + (f" (offentlig tittel: {d.offentligTittel})" if d.offentligTittel else ""),
        f"  Why:        {d.note or '-'}",
        "  Dokumenter:",
        *[f"    {line}" for line in d.dokumenter],
    ]
    if d.endringer:
        lines += ["  Endringer:", *[f"    {line}" for line in d.endringer]]
    click.echo("\n".join(lines))


def _decided(item) -> None:
    click.echo(f"{item.journalnummer} ({item.registreringsID}): {item.journalstatus}, klasse {item.klasse}")


@review.command("approve")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("numbers", nargs=-1, required=True)
def review_approve(config_path: Path, kode: str | None, by: str, numbers: tuple[str, ...]) -> None:
    """Journal the items as registered (status M → Journalført). Numbers stay as they are."""
    for number in numbers:
        _decided(api.review_decide(config_path, "approve", number, kode=kode, by=by))


@review.command("reclassify")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("number")
@click.argument("klasse")
def review_reclassify(config_path: Path, kode: str | None, by: str, number: str, klasse: str) -> None:
    """Move the item's case to class KLASSE (a klasseID, e.g. L42); it stays in review."""
    _decided(api.review_decide(config_path, "reclassify", number, kode=kode, by=by, klasse=klasse))


@review.command("attach")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("number")
@click.argument("saksnummer")
def review_attach(config_path: Path, kode: str | None, by: str, number: str, saksnummer: str) -> None:
    """Put the item into the existing case SAKSNUMMER (e.g. 2026/12) and journal it."""
    _decided(api.review_decide(config_path, "attach", number, kode=kode, by=by, saksnummer=saksnummer))


@review.command("reject")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@click.argument("number")
@click.option("--reason", required=True, help="Why it is not journaled (kept in the change log).")
def review_reject(config_path: Path, kode: str | None, by: str, number: str, reason: str) -> None:
    """Reject the item (status Utgår), e.g. advertising or a copy sent twice."""
    _decided(api.review_decide(config_path, "reject", number, kode=kode, by=by, reason=reason))


@cli.group(invoke_without_command=True)
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
        click.echo(api.classify_explain(config_path, explain, kode))


@cli.group()
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
    published = api.publish_journal(config_path, date_from.date(), date_to.date(), output, kode)
    click.echo(f"{published.arkivskaper}: {published.entries} journalposter, {published.screened} skjermet")
    click.echo(f"  {published.html}")
    click.echo(f"  {published.xml}" if published.xml else "  (no offentligJournal.xml: no journalposter in the period)")


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
    click.echo(f"Trained on {report.n_train} items, tested on {report.n_test} held-out items ({len(report.classes)} classes).")
    click.echo(f"  accuracy {report.accuracy:.1%}, macro-F1 {report.macro_f1:.2f}")
    confident = f"{report.confident_accuracy:.1%}" if report.confident_accuracy is not None else "-"
    click.echo(f"  at threshold {report.threshold:.0%}: {confident} right on the items it would decide, "
               f"{report.deferred_share:.0%} sent to review")
    if report.excluded_classes:
        click.echo("  too few examples to learn (never suggested): "
                   + ", ".join(f"{k} ({n})" for k, n in sorted(report.excluded_classes.items())))
    click.echo(f"Saved {path}")


@cli.command("separator-sheet")
@click.argument("output", type=click.Path(path_type=Path), default="skilleark.pdf")
def separator_sheet(output: Path) -> None:
    """Write the separator sheet (skilleark) as a PDF to OUTPUT.

    Print it and put one sheet between the letters of a scan batch: the
    nightly run splits the batch there into one journalpost per letter and
    drops the sheet. A blank page separates letters too.
    """
    written = api.separator_sheet(output)
    click.echo(f"Wrote {written}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: map failures to the documented exit codes."""
    try:
        cli.main(args=argv, prog_name="noarkpipe", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.ctrl_c)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.bad_args)
    except NoarkpipeError as exc:
        click.echo(f"noarkpipe: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(ExitCode.ctrl_c)
    except Exception:
        log.exception("unexpected failure")
        click.echo(
            "noarkpipe: internal error (a bug): the traceback is above; please report it.", err=True
        )
        sys.exit(ExitCode.internal_error)


if __name__ == "__main__":
    main()
