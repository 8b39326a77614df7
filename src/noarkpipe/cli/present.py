"""What the commands print for a person: lines, tables and summaries, in one place.

Whatever is printed may quote a sender's text (a Subject, a file name, a mail
server's answer), so every such string passes through `printable` on its way
to the terminal (`echo`, `cell`, `line`): an ESC, a newline or a bidi
override shows as an escape and cannot rewrite the archivist's terminal or
forge a line. Table cells are `Text`, never markup, so `[link=...]` in a
Subject is text too. JSON output is printed as it is: JSON escapes by itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from noarkpipe.core.printable import printable
from noarkpipe.run.results import Outcome, RunSummary

if TYPE_CHECKING:
    from noarkpipe.config import Settings
    from noarkpipe.services.setup import MailboxProbe
    from noarkpipe.services.status import StatusReport


def echo(text: object, *, err: bool = False) -> None:
    """One line of human-facing text, with anything a terminal would act on escaped."""
    click.echo(printable(text), err=err)


def cell(value: object) -> Text:
    """A table cell: printable, and plain text, so brackets in a Subject are not taken as rich markup."""
    return Text(printable("" if value is None else value))


def line(text: object, style: str = "") -> Text:
    return Text(printable(text), style=style)


def console() -> Console:
    # Piped into a log or a mail from cron, a summary is read in full: don't wrap it to 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def settings_summary(settings: Settings, warnings: list[str]) -> None:
    """check-config: what the config resolves to, then what will not work tonight (on stderr)."""
    echo(f"{settings.config_path}: OK")
    echo(f"  data_dir:  {settings.data_dir}")
    echo(f"  store_url: {settings.store_url}")
    for creator in settings.arkivskaper:
        system = creator.klassifikasjonssystem
        echo(
            f"  arkivskaper {creator.kode} ({creator.navn}): inbox {creator.inbox}, "
            f"quarantine {creator.quarantine}, {len(system.klasser)} classes, default {system.default_klasse}"
        )
        if creator.imap is not None:
            imap = creator.imap
            echo(
                f"    imap: {imap.username}@{imap.host}:{imap.effective_port} ({imap.tls}, {imap.auth}), folder {imap.folder}, "
                f"then {'move to ' + imap.move_to if imap.after_fetch == 'move' else 'flag as seen'}"
            )
        if creator.graph is not None:
            graph = creator.graph
            echo(
                f"    microsoft graph: {graph.mailbox}, folder {graph.folder}, app {graph.oauth2.client_id} in "
                f"tenant {graph.oauth2.tenant_id}, then "
                f"{'move to ' + graph.move_to if graph.after_fetch == 'move' else 'mark as read'}"
            )
        if creator.maildir is not None:
            echo(f"    maildir: {creator.maildir}")
        fiks = creator.fiks_arkiv
        known = ", ".join(f"{system.name} ({system.trust})" for system in fiks.systems) or "none listed"
        echo(
            f"    ks fiks arkiv: answers to {creator.outbox}; sending systems: {known}; "
            f"others: {'refused' if fiks.unknown_systems == 'refuse' else 'to review'}"
        )
    for warning in warnings:
        echo(f"  warning: {warning}", err=True)


def mailbox_probes(probes: list[MailboxProbe]) -> None:
    """check-config --probe: one line per mailbox, failures with their fix on stderr."""
    if not probes:
        echo("probe: no IMAP or Microsoft Graph mailbox in the config")
    for probe in probes:
        if probe.ok:
            echo(f"  probe {probe.arkivskaper} {probe.mailbox}: OK, {probe.said}")
        else:
            echo(f"  probe {probe.arkivskaper} {probe.mailbox}: FAILED: {probe.said}", err=True)
            if probe.hint:
                echo(f"    fix: {probe.hint}", err=True)


def run_summary(summary: RunSummary) -> None:
    out = console()
    table = Table(title=f"Run {summary.run_id}", show_lines=False)
    for column in ("arkivskaper", "file", "outcome", "journalpost", "case/doc", "note"):
        table.add_column(column, overflow="fold")
    for item in summary.items:
        style = {Outcome.quarantined: "red", Outcome.needs_review: "yellow", Outcome.duplicate: "dim"}.get(
            item.outcome, ""
        )
        table.add_row(
            *map(cell, (item.arkivskaper, item.origin_name, item.outcome.value, item.journalpost,
                        item.saksmappe, item.reason)),
            style=style,
        )
    if summary.items:
        out.print(table)
    out.print(
        f"journaled: {summary.journaled}  needs review: {summary.needs_review}  "
        f"quarantined: {summary.quarantined}  duplicates: {summary.duplicates}"
        + ("  (stopped early)" if summary.stopped_early else "")
    )
    if summary.archival_copies or summary.kept_as_archival or summary.documents_without_archival_copy:
        out.print(
            f"archival copies: {summary.archival_copies} made  {summary.kept_as_archival} kept as received  "
            f"{summary.documents_without_archival_copy} documents without archival copy (journaled as received, "
            "in review)"
        )
    for item in summary.items:
        for gap in item.archival_gaps:
            out.print(line(f"  {item.journalpost} {gap.document}: no archival copy: {gap.reason}", "yellow"))


def run_problems(summary: RunSummary) -> None:
    """What a run could not do, on stderr, whatever else was printed."""
    for problem in summary.unavailable_sources:
        echo(f"noarkpipe: mailbox not read: {problem}", err=True)
    for note in summary.notes:
        echo(f"noarkpipe: {note}", err=True)
    if summary.stopped_early:
        click.echo(
            f"noarkpipe: run {summary.run_id} stopped early (SIGTERM or Ctrl-C) after finishing the current item; "
            "what is left is taken in by the next run",
            err=True,
        )


def status_report(report: StatusReport) -> None:
    out = console()
    table = Table(title="noarkpipe status")
    for column in ("arkivskaper", "saksmapper", "journalposter", "review queue", "quarantined", "in inbox"):
        table.add_column(column, justify="right" if column != "arkivskaper" else "left")
    for c in report.creators:
        table.add_row(
            cell(f"{c.kode} ({c.navn})"),
            str(c.saksmapper),
            str(c.journalposter),
            str(c.review_queue),
            str(c.quarantined_files),
            str(c.waiting_in_inbox),
        )
    out.print(table)
    last = report.last_run
    if last is None:
        out.print("No run yet.")
    else:
        out.print(line(
            f"Last run {last.run_id}: {last.outcome}, started {last.started_at:%Y-%m-%d %H:%M:%S %Z}, "
            f"journaled {last.journaled}, needs review {last.needs_review}, "
            f"quarantined {last.quarantined}, duplicates {last.duplicates}"
        ))
    out.print(line(f"Store: {report.store_url} (schema revision {report.schema_revision})"))
    if report.altered_schemas:
        out.print(line(f"Shipped schemas altered: {', '.join(report.altered_schemas)}", "red"))
    health = report.health
    if health is not None:
        out.print("Health: " + ("[green]OK[/green]" if health.healthy else "[red]NOT OK[/red]"), highlight=False)
        for problem in health.problems:
            out.print(f"  [red]problem:[/red] {escape(printable(problem))}")
        for note in health.notes:
            out.print(f"  note: {escape(printable(note))}")


def review_queue(items) -> None:
    if not items:
        click.echo("The review queue is empty.")
        return
    table = Table(title=f"Review queue ({len(items)})")
    for column in ("journalnr.", "dato", "tittel", "avsender", "klasse", "skjermet", "why"):
        table.add_column(column, overflow="fold")
    for i in items:
        table.add_row(*map(cell, (i.journalnummer, f"{i.journaldato:%d.%m.%Y}", i.tittel, i.avsender, i.klasse,
                                  "ja" if i.skjermet else "", i.note)))
    console().print(table)


def review_detail(d) -> None:
    lines = [
        f"Journalpost {d.journalnummer} ({d.registreringsID}), {d.journalstatus}",
        f"  Tittel:     {d.tittel}",
        f"  Sak:        {d.saksmappe_tittel} (klasse {d.klasse})",
        f"  Avsender:   {d.avsender or '-'}",
        f"  Mottatt:    {d.mottattDato:%d.%m.%Y %H:%M}" if d.mottattDato else "  Mottatt:    -",
        f"  Skjerming:  {d.skjermingshjemmel or 'ingen'}"
        + (f" (offentlig tittel: {d.offentligTittel})" if d.offentligTittel else ""),
        f"  Why:        {d.note or '-'}",
        "  Dokumenter:",
        *[f"    {entry}" for entry in d.dokumenter],
    ]
    if d.archival_gaps:
        lines += ["  Uten arkivformat (no archival copy):", *[f"    {entry}" for entry in d.archival_gaps]]
    if d.endringer:
        lines += ["  Endringer:", *[f"    {entry}" for entry in d.endringer]]
    # Line by line: a newline in a Subject shows as \n and cannot add a line of its own.
    click.echo("\n".join(map(printable, lines)))


def decided(item) -> None:
    echo(f"{item.journalnummer} ({item.registreringsID}): {item.journalstatus}, klasse {item.klasse}")


def published(journal) -> None:
    echo(f"{journal.arkivskaper}: {journal.entries} journalposter, {journal.screened} skjermet")
    echo(f"  {journal.html}")
    echo(f"  {journal.xml}" if journal.xml else "  (no offentligJournal.xml: no journalposter in the period)")


def training(report, path: Path) -> None:
    click.echo(f"Trained on {report.n_train} items, tested on {report.n_test} held-out items ({len(report.classes)} classes).")
    click.echo(f"  accuracy {report.accuracy:.1%}, macro-F1 {report.macro_f1:.2f}")
    confident = f"{report.confident_accuracy:.1%}" if report.confident_accuracy is not None else "-"
    click.echo(f"  at threshold {report.threshold:.0%}: {confident} right on the items it would decide, "
               f"{report.deferred_share:.0%} sent to review")
    if report.excluded_classes:
        click.echo("  too few examples to learn (never suggested): "
                   + ", ".join(f"{k} ({n})" for k, n in sorted(report.excluded_classes.items())))
    echo(f"Saved {path}")


def validation(report, json_path: Path | None, html_path: Path | None, csv_path: Path | None,
               max_examples: int) -> None:
    from noarkpipe.validate.texts import texts, verdict_line, verdict_text  # loaded already by the validation

    words = texts(report.lang)
    out = console()
    version = report.version
    out.print(line(f"{report.input} ({report.input_kind}, Noark 5 {version.noark}"
                   + (f", package {report.package_uuid}" if report.package_uuid else "") + ")"))
    table = Table(show_lines=False)
    for column in ("col_id", "col_arkade", "col_check", "col_severity", "col_result", "col_findings", "col_detail"):
        table.add_column(words(column), overflow="fold")
    shown = [r for r in report.results if r.status in ("failed", "not_run")]
    for result in shown:
        style = {"error": "red", "warning": "yellow"}.get(result.severity.value, "") if result.status == "failed" else "dim"
        detail = result.examples[0].text() if result.examples else result.summary
        # Text, not markup: paths and messages come from the package and may hold [brackets].
        table.add_row(*(cell(value) for value in (
            result.id, " ".join(result.arkade), result.name, words.severity(result.severity.value),
            words.status(result.status), str(result.count or ""), detail)), style=style)
    if shown:
        out.print(table)
    if any(result.count > len(result.examples) for result in report.results) and csv_path is None:
        out.print(Text(words("console_examples_cut", count=max_examples)))
    if report.arkivdeler:
        per_arkivdel = Table(title=words("arkivdeler"), title_justify="left")
        for column in ("col_arkivdel", "col_systemid", "col_mapper", "col_registreringer", "col_dokumentobjekter"):
            per_arkivdel.add_column(words(column), overflow="fold",
                                    justify="left" if column in ("col_arkivdel", "col_systemid") else "right")
        for arkivdel in report.arkivdeler:
            per_arkivdel.add_row(cell(arkivdel.tittel), cell(arkivdel.systemID), words.number(arkivdel.mapper),
                                 words.number(arkivdel.registreringer), words.number(arkivdel.dokumentobjekter))
        out.print(per_arkivdel)
    passed = sum(1 for r in report.results if r.status in ("passed", "info"))
    not_run = sum(1 for r in report.results if r.status == "not_run")
    colour = "green" if report.passed else "red"
    out.print(Text(verdict_text(report, words), style=colour), Text(words(
        "console_totals", passed=passed, not_run=not_run, files=report.files,
        megabytes=words.decimal(report.bytes_read / 1e6), seconds=words.decimal(report.seconds))), sep="; ")
    for label, written in (("JSON", json_path), ("HTML", html_path), ("CSV", csv_path)):
        if written is not None:
            out.print(line(words("console_written", what=label, path=str(written))))
    # last, unstyled and unwrapped: the line scripts look for
    click.echo(verdict_line(report))


def arkivdeler(summaries) -> None:
    table = Table(title="Arkivdeler")
    for column in ("tittel", "status", "periode", "saksmapper (åpne)", "journalposter", "systemID"):
        table.add_column(column, overflow="fold")
    for s in summaries:
        end = f"{s.arkivperiodeSluttDato:%d.%m.%Y}" if s.arkivperiodeSluttDato else ""
        table.add_row(cell(s.tittel), s.arkivdelstatus, f"{s.arkivperiodeStartDato:%d.%m.%Y} – {end}",
                      f"{s.saksmapper} ({s.open_saksmapper})", str(s.journalposter), s.systemID)
    console().print(table)


def closing(done) -> None:
    closed, successor = done.closed, done.successor
    echo(f"'{closed.tittel}': {closed.arkivdelstatus}, {closed.arkivperiodeStartDato} – "
         f"{closed.arkivperiodeSluttDato}, {closed.saksmapper} saksmapper, {closed.journalposter} journalposter")
    echo(f"'{successor.tittel}': {successor.arkivdelstatus} from {successor.arkivperiodeStartDato}")
    if done.moved:
        echo(f"  moved to '{successor.tittel}': {len(done.moved)} case(s): {', '.join(done.moved[:20])}"
             + (" ..." if len(done.moved) > 20 else ""))
    if done.left_open:
        echo(f"  open in the overlap period: {len(done.left_open)} case(s); end it with 'noarkpipe period finish'")


def closed_cases(done) -> None:
    echo(f"closed {len(done.closed)} case(s)" + (f": {', '.join(done.closed[:30])}" if done.closed else ""))
    for number, reason in done.refused.items():
        echo(f"  not closed {number}: {reason}")


def export_result(result) -> None:
    echo(f"{result.tar} ({result.tar_size / 1e6:.1f} MB, sha256 {result.tar_sha256})")
    echo(result.submission_description)
    if result.info_xml:
        echo(result.info_xml)
    counts = result.counts
    echo(f"  {', '.join(result.arkivdeler)}: {counts.get('arkivstruktur.mappe', 0)} saksmapper, "
         f"{counts.get('arkivstruktur.registrering', 0)} journalposter, {result.documents} dokumentfiler, "
         f"{counts.get('endringslogg.endring', 0)} endringer; {result.seconds:.1f} s")
    if result.not_accepted_formats:
        click.echo(f"  {result.not_accepted_formats} document file(s) not in an accepted archival format "
                   "(see administrative_metadata/documentfile-formatinfo.csv)")
    for warning in result.warnings:
        echo(f"  warning: {warning}", err=True)
