"""The operations of noarkpipe as functions; the CLI is a thin layer over these.

Each operation resolves its installation once (`services.installation`: the
settings, then the journal store on first use) and hands it to one service
or stage. An operation whose work pulls in a large stack (parsers and
converters, the journaling code, the learned model, the validator) imports
it inside the function, in one line saying so: `noarkpipe --help`, `status`
and the start of the nightly run must not load what they do not use.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from noarkpipe.clock import utcnow
from noarkpipe.config import Settings, load_settings
from noarkpipe.errors import ConfigError, ExitCode, InputFileError
from noarkpipe.services import setup
from noarkpipe.services.installation import Installation, installation, resolve_settings

if TYPE_CHECKING:
    from noarkpipe.classify.learned import TrainingReport
    from noarkpipe.core.progress import Progress
    from noarkpipe.export import ExportResult
    from noarkpipe.journal.review import RegistrationEdit, ReviewDetail, ReviewItem
    from noarkpipe.run.results import RunSummary
    from noarkpipe.services.publish import PublishedJournal
    from noarkpipe.services.setup import MailboxProbe
    from noarkpipe.services.status import StatusReport
    from noarkpipe.store.engine import Store
    from noarkpipe.validate import ValidationReport

Config = str | Path | Settings | Installation
"""A config file, the settings already loaded from one, or an installation a long-running process keeps open."""


def init(directory: str | Path, *, force: bool = False) -> Path:
    """Write a commented sample config, a class list and the data folders; return the config path."""
    return setup.init(directory, force=force)


def open_store(settings: Settings) -> Store:
    from noarkpipe.store.engine import Store  # SQLAlchemy and Alembic: not for --help, init or validate

    return Store.open(settings.store_url)


def run(
    config: Config,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    scheduler: str | None = None,
) -> RunSummary:
    """The nightly job. Raises AlreadyRunningError when another run holds the lock.

    Every invocation appends to the JSON run log; a run that completes writes its
    report to data_dir/reports and mails it when [report] mail_to is set. Problems
    with the report or the mail are noted in `summary.notes`, never raised.
    """
    from noarkpipe.services import nightly  # the whole run: parsers, converters, classification, journaling

    settings = resolve_settings(config)
    if scheduler is not None:  # --scheduler: this run's conversions on a Dask cluster
        settings = nightly.with_scheduler(settings, scheduler)
    return nightly.run(settings, progress, stop)


def run_exit_code(summary: RunSummary) -> ExitCode:
    """The documented exit code of a run that completed (see the README's table)."""
    from noarkpipe.services.nightly import run_exit_code  # loaded already by the run that made `summary`

    return run_exit_code(summary)


def status(config: Config, *, max_age: timedelta | None = None) -> StatusReport:
    """Counts, the last run, and its health (with `max_age`: also whether it is recent enough)."""
    from noarkpipe.services.status import status_report  # the store's tables: not for --help, init or validate

    with installation(config) as opened:
        return status_report(opened, max_age)


def check_config(config: str | Path) -> Settings:
    """Load and validate a config file; raises ConfigError naming the bad key."""
    return load_settings(config)


def config_warnings(settings: Settings) -> list[str]:
    """What is valid but will not work tonight: unset password variables, missing folders."""
    return setup.config_warnings(settings)


def probe_mailboxes(settings: Settings) -> list[MailboxProbe]:
    """Sign in to each IMAP and Microsoft Graph mailbox and open its folder, changing nothing: what works."""
    return setup.probe_mailboxes(settings)


def separator_sheet(output: str | Path) -> Path:
    """Write the QR separator sheet as a one-page PDF, to print and put between scanned letters."""
    from noarkpipe.intake.separator import separator_sheet_pdf  # the QR and PDF writers: only this command

    target = Path(output).expanduser()
    if target.is_dir():
        target = target / "skilleark.pdf"
    target.write_bytes(separator_sheet_pdf())
    return target


# ---------------------------------------------------------------- review


def review_list(config: Config, kode: str | None = None) -> list[ReviewItem]:
    """The review queue (status M) of one arkivskaper, oldest first."""
    from noarkpipe.journal import review  # the journaling stack: only the review commands use it

    with installation(config) as opened, opened.store.read() as session:
        return review.queue(session, opened.kode(kode))


def review_show(config: Config, number: str, kode: str | None = None) -> ReviewDetail:
    from noarkpipe.journal import review  # the journaling stack: only the review commands use it

    with installation(config) as opened, opened.store.read() as session:
        return review.detail(session, opened.kode(kode), number)


def review_decide(config: Config, decision: str, number: str, *, kode: str | None = None, by: str,
                  **arguments) -> ReviewItem:
    """One review decision ('approve', 'reclassify', 'attach', 'reject') in one transaction, logged as `by`.

    approve and attach take `accept_gap=True` to journal a post with a document that has no archival copy.
    """
    from noarkpipe.journal import review  # the journaling stack: only the review commands use it

    with installation(config) as opened:
        store = opened.store
        kode = opened.kode(kode)
        accept_gap = bool(arguments.get("accept_gap"))
        with store.write(by) as session:
            if decision == "approve":
                return review.approve(session, kode, number, accept_gap=accept_gap, actor=by)
            if decision == "reclassify":
                return review.reclassify(session, kode, number, arguments["klasse"], by)
            if decision == "attach":
                return review.attach(session, kode, number, arguments["saksnummer"], by, accept_gap=accept_gap)
            if decision == "reject":
                return review.reject(session, kode, number, arguments["reason"], by)
            raise ValueError(f"unknown review decision {decision!r}")


def review_edit(config: Config, number: str, change: RegistrationEdit, *, kode: str | None = None, by: str) -> ReviewItem:
    """Correct a journalpost in review (title, public title, parties, skjerming) in one transaction, logged as `by`."""
    from noarkpipe.journal import review  # the journaling stack: only the review commands use it

    with installation(config) as opened, opened.store.write(by) as session:
        return review.edit(session, opened.kode(kode), number, change, by)


def review_drop_part(config: Config, number: str, dokumentnummer: int, *, reason: str, kode: str | None = None,
                     by: str) -> tuple[ReviewItem, Path]:
    """Take document DOKUMENTNUMMER out of journalpost NUMBER; its original goes to quarantine with the reason.

    The quarantine copy is written inside the transaction, before it commits:
    if the copy fails, the document stays in the journalpost.
    """
    from noarkpipe.services import parts  # the journaling stack and the work area: only these review commands

    with installation(config) as opened:
        return parts.drop_part(opened, opened.kode(kode), number, dokumentnummer, reason, by)


def review_replace_part(config: Config, number: str, dokumentnummer: int, path: str | Path, *,
                        kode: str | None = None, by: str) -> ReviewItem:
    """Attach FILE, the sender's replacement, as the next version of a document, with its archival copy.

    The copy is made by the nightly run's own conversion (`convert_document`),
    verified the same way, and stored before the journal changes.
    """
    from noarkpipe.services import parts  # the converters and the journaling stack: only these review commands

    with installation(config) as opened:
        return parts.replace_part(opened, opened.kode(kode), number, dokumentnummer, Path(path), by)


# ---------------------------------------------------------------- classification and the public journal


def classify_explain(config: Config, path: str | Path, kode: str | None = None) -> str:
    """Why an inbox file would be classified and screened as it would, without journaling it."""
    from noarkpipe.services import explain  # parsers, converters and classifiers: only --explain uses them

    with installation(config) as opened:
        return explain.explain(opened, Path(path), kode)


def classify_train(config: Config, kode: str | None = None, *, holdout: float = 0.2) -> tuple[TrainingReport, Path]:
    """Retrain one arkivskaper's class model on its journaled items; save it; return the report."""
    from noarkpipe.services import training  # scikit-learn: only training uses it

    with installation(config) as opened:
        return training.train(opened, kode, holdout)


def publish_journal(config: Config, date_from: date, date_to: date, output: str | Path,
                    kode: str | None = None) -> PublishedJournal:
    """The public journal (postliste) of one arkivskaper for a journaldato range: offentligJournal.xml and HTML.

    Only checked entries are published (not the review queue), screening applied twice
    (as stored, and recomputed), and the written files are scanned before they are kept.
    """
    from noarkpipe.services import publish  # the public-journal writers: only this command uses them

    if date_to < date_from:
        raise ConfigError(f"--to {date_to} is before --from {date_from}")
    with installation(config) as opened:
        return publish.publish(opened, kode, date_from, date_to, Path(output).expanduser())


# ---------------------------------------------------------------- period closing and export


def period_list(config: Config, kode: str | None = None):
    """The arkivdeler of one arkivskaper with status, period and counts (journal.period.ArkivdelSummary)."""
    from noarkpipe.journal import period  # the journaling stack: only the period commands use it

    with installation(config) as opened, opened.store.read() as session:
        return period.list_arkivdeler(session, opened.kode(kode))


def period_close(config: Config, end: date, *, method: str = "sharp", kode: str | None = None, by: str,
                 title: str | None = None):
    """Close the active arkivdel at `end` and open its successor (journal.period.close_period)."""
    from noarkpipe.journal import period  # the journaling stack: only the period commands use it

    with installation(config) as opened:
        kode = opened.kode(kode)
        with opened.store.write(by) as session:
            return period.close_period(
                session, kode, end=end, method=period.PeriodMethod(method), by=by, now=utcnow(), title=title
            )


def period_finish(config: Config, *, kode: str | None = None, by: str):
    """End an overlap period: its open cases move to the successor, and it is closed."""
    from noarkpipe.journal import period  # the journaling stack: only the period commands use it

    with installation(config) as opened:
        kode = opened.kode(kode)
        with opened.store.write(by) as session:
            return period.finish_overlap(session, kode, by=by, now=utcnow())


def period_close_cases(config: Config, saksnumre: list[str] | None, *, kode: str | None = None, by: str):
    """Close the named cases, or (None) every open case whose journalposter are all checked."""
    from noarkpipe.journal import period  # the journaling stack: only the period commands use it

    with installation(config) as opened:
        kode = opened.kode(kode)
        with opened.store.write(by) as session:
            return period.close_cases(session, kode, saksnumre, by=by, now=utcnow())


def package_time(timestamp: datetime | None = None) -> datetime | None:
    """The time a package states: `timestamp`, else SOURCE_DATE_EPOCH (UTC); None: the export takes it from
    the data (the arkivdel's closing), so the same store gives the same package."""
    if timestamp is not None:
        return (timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)).astimezone(UTC)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(
                f"SOURCE_DATE_EPOCH='{epoch}' is not a time in whole seconds since 1970",
                hint="e.g. SOURCE_DATE_EPOCH=$(date +%s), or unset it",
            ) from None
    return None


def export(
    config: Config,
    output: str | Path,
    *,
    kode: str | None = None,
    arkivdeler: tuple[str, ...] = (),
    force: bool = False,
    package_id: str | None = None,
    timestamp: datetime | None = None,
    info_xml: bool = False,
    identify_formats: bool = True,
    progress: Progress | None = None,
) -> ExportResult:
    """Export closed arkivdeler of one arkivskaper as a DIAS transfer package (export.export_package)."""
    from noarkpipe.services import export as exporting  # the extract writers: only export uses them

    with installation(config) as opened:
        return exporting.export(
            opened, kode, Path(output), arkivdeler=arkivdeler, force=force, package_id=package_id,
            created=lambda: package_time(timestamp), info_xml=info_xml, identify_formats=identify_formats,
            progress=progress,
        )


# ---------------------------------------------------------------- validation (of any system's package)


def validate(
    path: str | Path,
    *,
    submission_description: str | Path | None = None,
    json_path: str | Path | None = None,
    html_path: str | Path | None = None,
    csv_path: str | Path | None = None,
    max_identify: int = 500,
    max_examples: int = 25,
    lang: str | None = None,
    config_path: str | Path | None = None,
    progress: Progress | None = None,
) -> ValidationReport:
    """Validate a Noark 5 extract folder or DIAS tar; write the JSON, HTML and CSV reports asked for; return the report.

    The report's display texts are in `lang` ('nb' or 'en'; default from the
    config's [noarkpipe] lang when `config_path` is given, else the locale,
    see `validation_lang`). `max_examples` example locations are kept per
    check (0: all); `csv_path` gets every finding. The exit code for the
    caller is `validation_exit_code(report)`: 0 without errors, 12
    (validation_errors) when a check of severity error failed. Unusable input
    raises InputFileError (4).
    """
    from noarkpipe.validate import ValidateOptions  # the validator: only validate uses it
    from noarkpipe.validate import validate as run_validation
    from noarkpipe.validate.html import render
    from noarkpipe.validate.texts import localize

    chosen = validation_lang(lang, config_path)
    options = ValidateOptions(
        path=Path(path),
        submission_description=Path(submission_description) if submission_description else None,
        max_identify=max_identify,
        max_examples=max_examples,
        findings_csv=Path(csv_path) if csv_path is not None else None,
        lang=chosen,
    )
    report = localize(run_validation(options, progress), chosen)
    if json_path is not None and str(json_path) != "-":
        _write_report(Path(json_path), report.model_dump_json(indent=2))
    if html_path is not None:
        _write_report(Path(html_path), render(report))
    return report


def validation_lang(lang: str | None = None, config_path: str | Path | None = None) -> str:
    """The language of validation reports: `lang`, else the config's [noarkpipe] lang, else the locale, else 'en'."""
    from noarkpipe.validate.texts import choose_lang  # the validator's texts: only validate uses them

    configured = load_settings(config_path).lang if config_path is not None and not lang else None
    return choose_lang(lang, configured, os.environ)


def explain_check(check_id: str, *, lang: str | None = None, config_path: str | Path | None = None) -> str:
    """What check `check_id` does, why, and what usually causes it; KeyError (listing the ids) when unknown."""
    from noarkpipe.validate.checks import all_checks  # the validator's checks: only validate uses them
    from noarkpipe.validate.report import explain, find_check
    from noarkpipe.validate.texts import texts

    found = find_check(check_id, all_checks())
    if found is None:
        raise KeyError(check_id)
    return explain(found, texts(validation_lang(lang, config_path)))


def validation_exit_code(report) -> ExitCode:
    return ExitCode.ok if report.passed else ExitCode.validation_errors


def _write_report(target: Path, text: str) -> None:
    """Write a report file whole or not at all (a temporary file beside it, then renamed)."""
    target = target.expanduser()
    if target.is_dir():
        raise InputFileError(f"{target} is a folder; give a file name for the report")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)
