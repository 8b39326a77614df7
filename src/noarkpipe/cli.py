"""The `noarkpipe` command: argument parsing and presentation only; the work is in api.py.

Whatever it prints for a person may quote a sender's text (a Subject, a file
name, a mail server's answer), so every such string passes through
`printable` on its way to the terminal (`_echo`, `_cell`, `_line`) and the
stderr log uses `PrintableFormatter`: an ESC, a newline or a bidi override
shows as an escape and cannot rewrite the archivist's terminal or forge a
line. Table cells are `Text`, never markup, so `[link=...]` in a Subject is
text too. JSON output is printed as it is: JSON escapes by itself.
"""

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
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from noarkpipe import __version__, api
from noarkpipe.errors import ExitCode, NoarkpipeError
from noarkpipe.journal.review import ReviewError
from noarkpipe.run.nightly import Outcome, RunSummary
from noarkpipe.core.printable import PrintableFormatter, printable, printable_block

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


def _echo(text: object, *, err: bool = False) -> None:
    """One line of human-facing text, with anything a terminal would act on escaped."""
    click.echo(printable(text), err=err)


def _cell(value: object) -> Text:
    """A table cell: printable, and plain text, so brackets in a Subject are not taken as rich markup."""
    return Text(printable("" if value is None else value))


def _line(text: object, style: str = "") -> Text:
    return Text(printable(text), style=style)


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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite sample files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Create DIRECTORY with a commented sample config, a K-code list and data folders.

    The sample sets up two municipalities sharing one installation; edit
    noarkpipe.toml to match yours, then check it with 'noarkpipe check-config'.
    """
    config_path = api.init(directory, force=force)
    _echo(f"Wrote {config_path}")
    _echo(f"Next: edit it, drop files into the inbox folders, then: noarkpipe run -c {config_path}")


@cli.command("check-config")
@CONFIG_OPTION
def check_config(config_path: Path) -> None:
    """Validate the config file and show what it resolves to."""
    settings = api.check_config(config_path)
    _echo(f"{settings.config_path}: OK")
    _echo(f"  data_dir:  {settings.data_dir}")
    _echo(f"  store_url: {settings.store_url}")
    for creator in settings.arkivskaper:
        system = creator.klassifikasjonssystem
        _echo(
            f"  arkivskaper {creator.kode} ({creator.navn}): inbox {creator.inbox}, "
            f"quarantine {creator.quarantine}, {len(system.klasser)} classes, default {system.default_klasse}"
        )
        if creator.imap is not None:
            imap = creator.imap
            _echo(
                f"    imap: {imap.username}@{imap.host}:{imap.effective_port} ({imap.tls}), folder {imap.folder}, "
                f"then {'move to ' + imap.move_to if imap.after_fetch == 'move' else 'flag as seen'}"
            )
        if creator.maildir is not None:
            _echo(f"    maildir: {creator.maildir}")
    for warning in api.config_warnings(settings):
        _echo(f"  warning: {warning}", err=True)


@cli.command()
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
                bar.update(task, advance=1, description=escape(printable(f"{item.arkivskaper}: {item.origin_name[:40]}")))

            summary = api.run(config_path, progress=progress, stop=stop, scheduler=scheduler)
    else:
        summary = api.run(config_path, stop=stop, scheduler=scheduler)

    if as_json:
        click.echo(summary.model_dump_json(indent=2))
    elif not quiet and (verbose or sys.stdout.isatty()):
        _print_summary(summary)
    for problem in summary.unavailable_sources:
        _echo(f"noarkpipe: mailbox not read: {problem}", err=True)
    for note in summary.notes:
        _echo(f"noarkpipe: {note}", err=True)
    if summary.stopped_early:
        click.echo(
            f"noarkpipe: run {summary.run_id} stopped early (SIGTERM or Ctrl-C) after finishing the current item; "
            "what is left is taken in by the next run",
            err=True,
        )
    sys.exit(api.run_exit_code(summary))


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
            *map(_cell, (item.arkivskaper, item.origin_name, item.outcome.value, item.journalpost,
                         item.saksmappe, item.reason)),
            style=style,
        )
    if summary.items:
        console.print(table)
    console.print(
        f"journaled: {summary.journaled}  needs review: {summary.needs_review}  "
        f"quarantined: {summary.quarantined}  duplicates: {summary.duplicates}"
        + ("  (stopped early)" if summary.stopped_early else "")
    )
    if summary.archival_copies or summary.kept_as_archival or summary.documents_without_archival_copy:
        console.print(
            f"archival copies: {summary.archival_copies} made  {summary.kept_as_archival} kept as received  "
            f"{summary.documents_without_archival_copy} documents without archival copy (journaled as received, "
            "in review)"
        )
    for item in summary.items:
        for gap in item.archival_gaps:
            console.print(_line(f"  {item.journalpost} {gap.document}: no archival copy: {gap.reason}", "yellow"))


def _max_age(_ctx, _param, value: str | None):
    from noarkpipe.ops.health import parse_max_age

    try:
        return parse_max_age(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
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
        if unhealthy:
            sys.exit(ExitCode.unhealthy)
        return
    console = _console()
    table = Table(title="noarkpipe status")
    for column in ("arkivskaper", "saksmapper", "journalposter", "review queue", "quarantined", "in inbox"):
        table.add_column(column, justify="right" if column != "arkivskaper" else "left")
    for c in report.creators:
        table.add_row(
            _cell(f"{c.kode} ({c.navn})"),
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
        console.print(_line(
            f"Last run {last.run_id}: {last.outcome}, started {last.started_at:%Y-%m-%d %H:%M:%S %Z}, "
            f"journaled {last.journaled}, needs review {last.needs_review}, "
            f"quarantined {last.quarantined}, duplicates {last.duplicates}"
        ))
    console.print(_line(f"Store: {report.store_url} (schema revision {report.schema_revision})"))
    if report.altered_schemas:
        console.print(_line(f"Shipped schemas altered: {', '.join(report.altered_schemas)}", "red"))
    health = report.health
    if health is not None:
        console.print("Health: " + ("[green]OK[/green]" if health.healthy else "[red]NOT OK[/red]"), highlight=False)
        for problem in health.problems:
            console.print(f"  [red]problem:[/red] {escape(printable(problem))}")
        for note in health.notes:
            console.print(f"  note: {escape(printable(note))}")
    if unhealthy:
        sys.exit(ExitCode.unhealthy)


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

    A document that got no archival copy (shown as NO ARCHIVAL COPY) keeps
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
        table.add_row(*map(_cell, (i.journalnummer, f"{i.journaldato:%d.%m.%Y}", i.tittel, i.avsender, i.klasse,
                                   "ja" if i.skjermet else "", i.note)))
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
    if d.archival_gaps:
        lines += ["  Uten arkivformat (no archival copy):", *[f"    {line}" for line in d.archival_gaps]]
    if d.endringer:
        lines += ["  Endringer:", *[f"    {line}" for line in d.endringer]]
    # Line by line: a newline in a Subject shows as \n and cannot add a line of its own.
    click.echo("\n".join(map(printable, lines)))


def _decided(item) -> None:
    _echo(f"{item.journalnummer} ({item.registreringsID}): {item.journalstatus}, klasse {item.klasse}")


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
    refused = None
    for number in numbers:
        try:
            _decided(api.review_decide(config_path, "approve", number, kode=kode, by=by, accept_gap=accept_gap))
        except ReviewError as exc:
            click.echo(printable_block(f"noarkpipe: {exc}"), err=True)
            refused = exc
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
    _decided(api.review_decide(config_path, "reclassify", number, kode=kode, by=by, klasse=klasse))


@review.command("attach")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
@ACCEPT_GAP_OPTION
@click.argument("number")
@click.argument("saksnummer")
def review_attach(config_path: Path, kode: str | None, by: str, accept_gap: bool, number: str, saksnummer: str) -> None:
    """Put the item into the existing case SAKSNUMMER (e.g. 2026/12) and journal it."""
    _decided(api.review_decide(
        config_path, "attach", number, kode=kode, by=by, saksnummer=saksnummer, accept_gap=accept_gap
    ))


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
    item, kept = api.review_drop_part(config_path, number, dokumentnummer, reason=reason, kode=kode, by=by)
    _decided(item)
    _echo(f"document {dokumentnummer} kept in quarantine: {kept}")


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
    # The operator's own argument may be a link (intake never follows one, so it is resolved here).
    _decided(api.review_replace_part(config_path, number, dokumentnummer, file.resolve(), kode=kode, by=by))


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
        # The operator's own argument may be a link (intake never follows one, so it is resolved here).
        explained = api.classify_explain(config_path, explain.resolve(), kode)
        # A block of lines put together by classify; the Subject and names quoted in it are escaped here.
        click.echo(printable(explained, keep_newlines=True))


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
    _echo(f"{published.arkivskaper}: {published.entries} journalposter, {published.screened} skjermet")
    _echo(f"  {published.html}")
    _echo(f"  {published.xml}" if published.xml else "  (no offentligJournal.xml: no journalposter in the period)")


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
    _echo(f"Saved {path}")


@cli.command("validate")
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
    show_progress = sys.stderr.isatty() and not no_progress
    arguments = dict(submission_description=submission_description, json_path=json_path, html_path=html_path,
                     csv_path=csv_path, max_identify=max_identify, max_examples=max_examples, lang=lang,
                     config_path=config_path)
    if show_progress:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        ) as bar:
            task = bar.add_task("Listing the package", total=None)

            def progress(phase: str, done: int, total: int) -> None:
                bar.update(task, description=phase, completed=done, total=total or None)

            report = api.validate(path, progress=progress, **arguments)
    else:
        report = api.validate(path, **arguments)
    if to_stdout:
        click.echo(report.model_dump_json(indent=2))
    else:
        _print_validation(report, json_path, html_path, csv_path, max_examples)
    code = api.validation_exit_code(report)
    if code:
        sys.exit(code)


def _explain_check(check_id: str, lang: str | None, config_path: Path | None) -> None:
    from noarkpipe.validate.checks import all_checks

    try:
        click.echo(api.explain_check(check_id, lang=lang, config_path=config_path))
    except KeyError:
        from noarkpipe.validate.texts import texts

        words = texts(api.validation_lang(lang, config_path))
        click.echo(words("explain_unknown", id=check_id), err=True)
        click.echo("  " + " ".join(check.id for check in all_checks()), err=True)
        sys.exit(ExitCode.bad_args)


def _print_validation(report, json_path: Path | None, html_path: Path | None, csv_path: Path | None,
                      max_examples: int) -> None:
    from noarkpipe.validate.texts import texts, verdict_line, verdict_text

    words = texts(report.lang)
    console = _console()
    version = report.version
    console.print(_line(f"{report.input} ({report.input_kind}, Noark 5 {version.noark}"
                       + (f", package {report.package_uuid}" if report.package_uuid else "") + ")"))
    table = Table(show_lines=False)
    for column in ("col_id", "col_arkade", "col_check", "col_severity", "col_result", "col_findings", "col_detail"):
        table.add_column(words(column), overflow="fold")
    shown = [r for r in report.results if r.status in ("failed", "not_run")]
    for result in shown:
        style = {"error": "red", "warning": "yellow"}.get(result.severity.value, "") if result.status == "failed" else "dim"
        detail = result.examples[0].text() if result.examples else result.summary
        # Text, not markup: paths and messages come from the package and may hold [brackets].
        table.add_row(*(_cell(cell) for cell in (
            result.id, " ".join(result.arkade), result.name, words.severity(result.severity.value),
            words.status(result.status), str(result.count or ""), detail)), style=style)
    if shown:
        console.print(table)
    if any(result.count > len(result.examples) for result in report.results) and csv_path is None:
        console.print(Text(words("console_examples_cut", count=max_examples)))
    if report.arkivdeler:
        per_arkivdel = Table(title=words("arkivdeler"), title_justify="left")
        for column in ("col_arkivdel", "col_systemid", "col_mapper", "col_registreringer", "col_dokumentobjekter"):
            per_arkivdel.add_column(words(column), overflow="fold",
                                    justify="left" if column in ("col_arkivdel", "col_systemid") else "right")
        for arkivdel in report.arkivdeler:
            per_arkivdel.add_row(_cell(arkivdel.tittel), _cell(arkivdel.systemID), words.number(arkivdel.mapper),
                                 words.number(arkivdel.registreringer), words.number(arkivdel.dokumentobjekter))
        console.print(per_arkivdel)
    passed = sum(1 for r in report.results if r.status in ("passed", "info"))
    not_run = sum(1 for r in report.results if r.status == "not_run")
    colour = "green" if report.passed else "red"
    console.print(Text(verdict_text(report, words), style=colour), Text(words(
        "console_totals", passed=passed, not_run=not_run, files=report.files,
        megabytes=words.decimal(report.bytes_read / 1e6), seconds=words.decimal(report.seconds))), sep="; ")
    for label, written in (("JSON", json_path), ("HTML", html_path), ("CSV", csv_path)):
        if written is not None:
            console.print(_line(words("console_written", what=label, path=str(written))))
    # last, unstyled and unwrapped: the line scripts look for
    click.echo(verdict_line(report))


@cli.group()
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
    table = Table(title="Arkivdeler")
    for column in ("tittel", "status", "periode", "saksmapper (åpne)", "journalposter", "systemID"):
        table.add_column(column, overflow="fold")
    for s in summaries:
        end = f"{s.arkivperiodeSluttDato:%d.%m.%Y}" if s.arkivperiodeSluttDato else ""
        table.add_row(_cell(s.tittel), s.arkivdelstatus, f"{s.arkivperiodeStartDato:%d.%m.%Y} – {end}",
                      f"{s.saksmapper} ({s.open_saksmapper})", str(s.journalposter), s.systemID)
    _console().print(table)


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
    done = api.period_close(config_path, end.date(), method=method, kode=kode, by=by, title=title)
    _print_closing(done)


@period.command("finish")
@CONFIG_OPTION
@ARKIVSKAPER_OPTION
@BY_OPTION
def period_finish(config_path: Path, kode: str | None, by: str) -> None:
    """End an overlap period: its cases still open move to the successor; it is 'Avsluttet periode'."""
    _print_closing(api.period_finish(config_path, kode=kode, by=by))


def _print_closing(done) -> None:
    closed, successor = done.closed, done.successor
    _echo(f"'{closed.tittel}': {closed.arkivdelstatus}, {closed.arkivperiodeStartDato} – "
          f"{closed.arkivperiodeSluttDato}, {closed.saksmapper} saksmapper, {closed.journalposter} journalposter")
    _echo(f"'{successor.tittel}': {successor.arkivdelstatus} from {successor.arkivperiodeStartDato}")
    if done.moved:
        _echo(f"  moved to '{successor.tittel}': {len(done.moved)} case(s): {', '.join(done.moved[:20])}"
                   + (" ..." if len(done.moved) > 20 else ""))
    if done.left_open:
        _echo(f"  open in the overlap period: {len(done.left_open)} case(s); end it with 'noarkpipe period finish'")


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
    done = api.period_close_cases(config_path, None if close_all else list(saksnumre), kode=kode, by=by)
    _echo(f"closed {len(done.closed)} case(s)" + (f": {', '.join(done.closed[:30])}" if done.closed else ""))
    for number, reason in done.refused.items():
        _echo(f"  not closed {number}: {reason}")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


@cli.command("export")
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
    arguments = {"kode": kode, "arkivdeler": arkivdeler, "force": force, "package_id": package_id,
                 "timestamp": timestamp, "info_xml": info_xml, "identify_formats": not no_identify}
    if sys.stderr.isatty() and not quiet and not as_json:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        ) as bar:
            task = bar.add_task("Reading the journal store", total=None)

            def progress(stage: str, advance: int, total: int | None) -> None:
                if advance == 0:
                    bar.reset(task, description=stage, total=total)
                else:
                    bar.advance(task, advance)

            result = api.export(config_path, output, progress=progress, **arguments)
    else:
        result = api.export(config_path, output, **arguments)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    if quiet:
        return
    _echo(f"{result.tar} ({result.tar_size / 1e6:.1f} MB, sha256 {result.tar_sha256})")
    _echo(result.submission_description)
    if result.info_xml:
        _echo(result.info_xml)
    counts = result.counts
    _echo(f"  {', '.join(result.arkivdeler)}: {counts.get('arkivstruktur.mappe', 0)} saksmapper, "
          f"{counts.get('arkivstruktur.registrering', 0)} journalposter, {result.documents} dokumentfiler, "
          f"{counts.get('endringslogg.endring', 0)} endringer; {result.seconds:.1f} s")
    if result.not_accepted_formats:
        click.echo(f"  {result.not_accepted_formats} document file(s) not in an accepted archival format "
                   "(see administrative_metadata/documentfile-formatinfo.csv)")
    for warning in result.warnings:
        _echo(f"  warning: {warning}", err=True)


@cli.command("separator-sheet")
@click.argument("output", type=click.Path(path_type=Path), default="skilleark.pdf")
def separator_sheet(output: Path) -> None:
    """Write the separator sheet (skilleark) as a PDF to OUTPUT.

    Print it and put one sheet between the letters of a scan batch: the
    nightly run splits the batch there into one journalpost per letter and
    drops the sheet. A blank page separates letters too.
    """
    written = api.separator_sheet(output)
    _echo(f"Wrote {written}")


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
        click.echo(printable_block(f"noarkpipe: error: {exc}"), err=True)
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
