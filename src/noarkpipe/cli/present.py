"""What the commands print for a person: lines, tables and summaries, in one place.

Whatever is printed may quote a sender's text (a Subject, a file name, a mail
server's answer), so every such string passes through `printable` on its way
to the terminal (`echo`, `cell`, `line`): an ESC, a newline or a bidi
override shows as an escape and cannot rewrite the archivist's terminal or
forge a line. Table cells are `Text`, never markup, so `[link=...]` in a
Subject is text too. JSON output is printed as it is: JSON escapes by itself.

What the review commands print (`review_queue`, `review_detail`, `decided`,
`part_dropped`, `review_error`) is in bokmål or English, by the
installation's `[noarkpipe] lang`, else the locale (`core.language`): the
English texts here, marked `_()`, and their bokmål in `locale/nb.po`. The
other commands print English, as their logs do. What the journal gives as
data (statuses, the documents' and changes' lines, the classification's
reasons) is shown as stored.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from noarkpipe.core import language
from noarkpipe.core.language import N_, Language
from noarkpipe.core.printable import printable, printable_block
from noarkpipe.run.results import Outcome, RunSummary

if TYPE_CHECKING:
    from noarkpipe.config import Settings
    from noarkpipe.errors import NoarkpipeError
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


def review_words(lang: Language) -> Callable[..., str]:
    """gettext for what the review commands print, in `lang` (locale/nb.po of this package)."""
    return language.translator(__package__, "locale/{lang}.po", lang)


def review_queue(items, lang: Language = "en") -> None:
    _ = review_words(lang)
    if not items:
        echo(_("The review queue is empty."))
        return
    table = Table(title=_("Review queue (%(count)s)", count=len(items)))
    for column in (N_("journal no."), N_("date"), N_("title"), N_("sender"), N_("class"), N_("screened"),
                   N_("why it waits")):
        table.add_column(_(column), overflow="fold")
    for i in items:
        table.add_row(*map(cell, (i.journalnummer, i.journaldato.strftime("%d.%m.%Y"), i.tittel, i.avsender, i.klasse,
                                  _("yes") if i.skjermet else "", i.note)))
    console().print(table)


NO_ARCHIVAL_COPY = " NO ARCHIVAL COPY: "
"""How journal.review.detail marks a document without archival copy, at the end of its line."""


def review_detail(d, lang: Language = "en") -> None:
    _ = review_words(lang)
    screening = d.skjermingshjemmel or _("none")
    if d.offentligTittel:
        screening = _("%(hjemmel)s (public title: %(tittel)s)", hjemmel=screening, tittel=d.offentligTittel)
    fields = [
        (_("Title"), d.tittel),
        (_("Case"), _("%(tittel)s (class %(klasse)s)", tittel=d.saksmappe_tittel, klasse=d.klasse)),
        (_("Sender"), d.avsender or "-"),
        (_("Received"), d.mottattDato.strftime("%d.%m.%Y %H:%M") if d.mottattDato else "-"),
        (_("Screening"), screening),
        (_("Why it waits"), d.note or "-"),
    ]
    width = max(len(label) for label, _value in fields) + 1
    marker = " " + _("NO ARCHIVAL COPY") + ": "
    lines = [
        _("Journalpost %(number)s (%(id)s), %(status)s", number=d.journalnummer, id=d.registreringsID,
          status=d.journalstatus),
        *[f"  {label + ':':<{width}} {value}" for label, value in fields],
        "  " + _("Documents:"),
        *[f"    {_marked(entry, marker)}" for entry in d.dokumenter],
    ]
    if d.archival_gaps:
        lines += ["  " + _("No archival copy:"), *[f"    {entry}" for entry in d.archival_gaps]]
    if d.endringer:
        lines += ["  " + _("Changes:"), *[f"    {entry}" for entry in d.endringer]]
    # Line by line: a newline in a Subject shows as \n and cannot add a line of its own.
    click.echo("\n".join(map(printable, lines)))


def _marked(entry: str, marker: str) -> str:
    """A document's line with the journal's NO ARCHIVAL COPY mark (the last on the line) in the reader's language."""
    head, found, reason = entry.rpartition(NO_ARCHIVAL_COPY)
    return head + marker + reason if found else entry


def decided(item, lang: Language = "en") -> None:
    _ = review_words(lang)
    echo(_("%(number)s (%(id)s): %(status)s, class %(klasse)s", number=item.journalnummer, id=item.registreringsID,
           status=item.journalstatus, klasse=item.klasse))


def part_dropped(dokumentnummer: int, kept: Path, lang: Language = "en") -> None:
    _ = review_words(lang)
    echo(_("document %(dokument)s kept in quarantine: %(path)s", dokument=dokumentnummer, path=kept))


REVIEW_ERRORS = (
    # journal/review.py
    N_("'%(text)s' is not a journal or case number"),
    N_("write it as YEAR/NUMBER, e.g. 2026/345"),
    N_("no arkivskaper '%(kode)s' in the journal store"),
    N_("see 'noarkpipe status' for the codes"),
    N_("%(kode)s: no journalpost %(number)s"),
    N_("no saksmappe %(number)s in this arkivskaper"),
    N_("journalpost %(number)s has status '%(status)s', not a temporary registration awaiting review"),
    N_("journalpost %(number)s has %(count)s document(s) without archival copy (%(listed)s)"),
    N_("journal it as it is with --accept-gap (recorded in the change log and the export), drop the part "
       "('review drop-part %(number)s NUMBER --reason ...') or attach the sender's replacement "
       "('review replace-part %(number)s NUMBER FILE')"),
    N_("journalpost %(number)s has no document %(dokument)s"),
    N_("its documents are numbered %(numbers)s; see 'noarkpipe review show'"),
    N_("dropping a document needs a reason"),
    N_("e.g. --reason 'tom fil, avsender varslet'"),
    N_("document %(dokument)s is the only document of journalpost %(number)s"),
    N_("reject the journalpost instead ('review reject ... --reason ...')"),
    N_("the replacement %(name)s has no archival copy either"),
    N_("ask the sender for the document in PDF or another format noarkpipe can convert"),
    N_("no class '%(klasse)s' in the classification system of case %(case)s"),
    N_("add it to the K-code list (klasser_csv) and run 'noarkpipe run' once to load it"),
    N_("journalpost %(number)s is already in case %(case)s"),
    N_("case %(case)s has status 'Utgår' and takes no new documents"),
    N_("a rejection needs a reason"),
    N_("e.g. --reason 'reklame, ikke arkivverdig'"),
    N_("the title cannot be empty"),
    N_("skjerming needs a tilgangsrestriksjon, a skjermingshjemmel and what it hides"),
    N_("choose one of the screening rules' hjemler"),
    N_("unknown skjermingMetadata %(value)s"),
    N_("say why the skjerming is lifted"),
    N_("the reason is kept in the change log"),
    N_("a screened journalpost needs a public title (offentligTittel) without what is screened"),
    N_("unknown korrespondanseparttype %(value)s"),
    N_("journalpost %(number)s has no party %(party)s"),
    N_("a party needs a name"),
    N_("tick 'remove' to take the party out"),
    # services/parts.py
    N_("the replacement %(name)s gets no archival copy either: %(failure)s"),
    N_("the replacement %(name)s cannot be read as an e-mail: %(gap)s"),
    N_("ask the sender for the letter again, or as PDF"),
)
"""The messages and hints of the review errors (ReviewError) as the journal writes them, with %(name)s for the values.

The journal raises them in English with the values in; `review_error` finds
the template an error was made from and prints its bokmål with the same
values. An error no template matches is printed as it is, in English.
"""

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def _template_pattern(template: str) -> re.Pattern[str]:
    """The English template as a pattern that matches its texts and captures the values."""
    parts, seen, end = [], set(), 0
    for found in _PLACEHOLDER.finditer(template):
        name = found.group(1)
        parts += [re.escape(template[end:found.start()]), f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"]
        seen.add(name)
        end = found.end()
    parts.append(re.escape(template[end:]))
    return re.compile("".join(parts), re.DOTALL)


def error_template(text: str) -> tuple[str, dict[str, str]] | None:
    """The REVIEW_ERRORS template `text` was made from, with its values; None for a text none matches."""
    for template in REVIEW_ERRORS:
        found = _template_pattern(template).fullmatch(text)
        if found:
            return template, found.groupdict()
    return None


def review_error(exc: NoarkpipeError, lang: Language = "en") -> None:
    """A review command's error and hint on stderr, in `lang`; in English the same lines `noarkpipe.cli.main` prints."""
    _ = review_words(lang)

    def translated(text: str) -> str:
        made = error_template(text) if lang != language.SOURCE_LANGUAGE else None
        return _(made[0], **made[1]) if made else text

    text = _("noarkpipe: error: %(message)s", message=translated(exc.message))
    if exc.hint:
        text += "\n  " + _("hint: %(hint)s", hint=translated(exc.hint))
    click.echo(printable_block(text), err=True)


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
