"""The operations of noarkpipe as functions; the CLI is a thin layer over these."""

from __future__ import annotations

import logging
import os
import threading
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select

from noarkpipe.clock import utcnow
from noarkpipe.config import DEFAULT_CONFIG_NAME, ConvertSettings, Settings, load_settings
from noarkpipe.errors import ConfigError, ExitCode, InputFileError
from noarkpipe.journal import review
from noarkpipe.store import tables
from noarkpipe.core.codes import Journalstatus
from noarkpipe.store.engine import Store
from noarkpipe.run.nightly import ItemState, NightlyRun, Progress, RunSummary
from noarkpipe.run.workarea import inbox_items
from noarkpipe.run.lock import RunLock
from noarkpipe.xml.schemas import altered_schemas
from noarkpipe.ops import health as ops_health
from noarkpipe.ops.runlog import RunLog
from noarkpipe.run.timing import StageTimer

log = logging.getLogger(__name__)

TEMPLATE_FILES = (DEFAULT_CONFIG_NAME, "k-koder.csv", "klassifisering.toml")


def init(directory: str | Path, *, force: bool = False) -> Path:
    """Write a commented sample config, a class list and the data folders; return the config path."""
    target = Path(directory).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    existing = [name for name in TEMPLATE_FILES if (target / name).exists()]
    if existing and not force:
        raise ConfigError(
            f"{target / existing[0]} already exists; noarkpipe init does not overwrite",
            hint="choose an empty folder or pass --force to overwrite the sample files",
        )
    templates = resources.files("noarkpipe.templates")
    for name in TEMPLATE_FILES:
        (target / name).write_bytes(templates.joinpath(name).read_bytes())
    settings = load_settings(target / DEFAULT_CONFIG_NAME)
    for creator in settings.arkivskaper:
        creator.inbox.mkdir(parents=True, exist_ok=True)
        creator.quarantine.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return target / DEFAULT_CONFIG_NAME


def open_store(settings: Settings) -> Store:
    return Store.open(settings.store_url)


def run(
    config: str | Path | Settings,
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
    settings = config if isinstance(config, Settings) else load_settings(config)
    if scheduler is not None:  # --scheduler: this run's conversions on a Dask cluster
        try:
            convert = ConvertSettings.model_validate({**settings.convert.model_dump(), "scheduler": scheduler})
        except ValidationError as exc:
            raise ConfigError(
                f"--scheduler {scheduler!r} is not a Dask scheduler address", hint="e.g. tcp://10.0.0.5:8786"
            ) from exc
        settings = settings.model_copy(update={"convert": convert})
    with RunLog(settings.json_log_path, config_path=settings.config_path) as runlog:

        def observe(event: str, item) -> None:
            if event == "item":
                runlog.item(item)
            if progress is not None:
                progress(event, item)

        with RunLock(settings.lock_path):
            store = open_store(settings)
            try:
                timer = StageTimer(on_start=runlog.run_started)
                summary = NightlyRun(settings, store, progress=observe, stop=stop, timer=timer).run()
                _report(settings, store, summary)
            finally:
                store.dispose()
        runlog.run_finished(summary, run_exit_code(summary))
    return summary


def run_exit_code(summary: RunSummary) -> ExitCode:
    """The documented exit code of a run that completed (see the README's table)."""
    if summary.stopped_early:
        return ExitCode.ctrl_c
    if summary.unavailable_sources:
        return ExitCode.source_unavailable
    if summary.quarantined:
        return ExitCode.items_quarantined
    return ExitCode.ok


def _report(settings: Settings, store: Store, summary: RunSummary) -> None:
    """Write the run report and mail it; trouble here is noted, the run's result stands."""
    from noarkpipe.ops.mail import MailError, send_report
    from noarkpipe.ops.report import build_report, render_html, report_paths, write_report

    try:
        report = build_report(settings, store, summary, run_exit_code(summary))
        write_report(report, settings.reports_dir)
    except Exception as exc:  # the journal is committed; a report bug must not turn that into a failure
        log.exception("run report not written")
        summary.notes.append(f"run report not written: {exc}")
        return
    if not settings.report.mail_to:
        return
    problem = None
    try:
        sent = send_report(settings.report, report, render_html(report), report.model_dump_json(indent=2))
        report.mail = str(sent)
        if sent.refused:
            problem = f"run report not mailed to {', '.join(sent.refused)}: the server refused them"
    except MailError as exc:
        problem = f"run report not mailed: {exc}"
    except Exception as exc:  # a bug in mailing must not fail a run that journaled everything
        log.exception("run report not mailed")
        problem = f"run report not mailed: internal error: {type(exc).__name__}: {exc}"
    if problem is not None:
        report.mail = report.mail or problem
        summary.notes.append(problem)
        report.notes.append(problem)
    try:
        write_report(report, settings.reports_dir)
    except OSError as exc:
        json_path, _html = report_paths(settings.reports_dir, report.run_id)
        summary.notes.append(f"run report {json_path} not updated with the mail result: {exc}")


class CreatorStatus(BaseModel):
    kode: str
    navn: str
    saksmapper: int
    journalposter: int
    by_journalstatus: dict[str, int]
    review_queue: int
    quarantined_files: int
    in_quarantine_folder: int = 0
    waiting_in_inbox: int


class LastRun(BaseModel):
    run_id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    journaled: int
    needs_review: int
    quarantined: int
    duplicates: int


class StatusReport(BaseModel):
    config_path: str
    store_url: str
    schema_revision: str | None
    creators: list[CreatorStatus]
    last_run: LastRun | None
    altered_schemas: list[str]
    health: ops_health.Health | None = None


def _count(session, statement) -> int:
    return session.scalar(statement) or 0


def status(config: str | Path | Settings, *, max_age: timedelta | None = None) -> StatusReport:
    """Counts, the last run, and its health (with `max_age`: also whether it is recent enough)."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    store = open_store(settings)
    try:
        with store.read() as session:
            creators = []
            for creator in settings.arkivskaper:
                arkivskaper_id = session.scalar(
                    select(tables.Arkivskaper.id).where(tables.Arkivskaper.arkivskaperID == creator.kode)
                )
                by_status = dict(
                    session.execute(
                        select(tables.Journalpost.journalstatus, func.count())
                        .where(tables.Journalpost.arkivskaper_id == arkivskaper_id)
                        .group_by(tables.Journalpost.journalstatus)
                    ).all()
                )
                creators.append(
                    CreatorStatus(
                        kode=creator.kode,
                        navn=creator.navn,
                        saksmapper=_count(
                            session,
                            select(func.count()).where(tables.Saksmappe.arkivskaper_id == arkivskaper_id),
                        ),
                        journalposter=sum(by_status.values()),
                        by_journalstatus=by_status,
                        review_queue=by_status.get(Journalstatus.midlertidig_registrering.value, 0),
                        quarantined_files=_count(
                            session,
                            select(func.count())
                            .where(tables.IntakeItem.arkivskaper_id == arkivskaper_id)
                            .where(tables.IntakeItem.state == ItemState.quarantined),
                        ),
                        waiting_in_inbox=len(inbox_items(creator.inbox)),
                    )
                )
            last = session.scalar(select(tables.Run).order_by(tables.Run.id.desc()).limit(1))
            last_run = (
                LastRun(
                    run_id=last.id,
                    started_at=last.started_at,
                    finished_at=last.finished_at,
                    outcome=last.outcome,
                    journaled=last.journaled,
                    needs_review=last.needs_review,
                    quarantined=last.quarantined,
                    duplicates=last.duplicates,
                )
                if last
                else None
            )
            facts = ops_health.last_run_facts(last, settings.reports_dir, settings.runs_dir) if last else None
        for creator_status, creator in zip(creators, settings.arkivskaper, strict=True):
            creator_status.in_quarantine_folder = ops_health.quarantine_files([creator.quarantine])
        health = ops_health.assess(
            facts,
            now=utcnow(),
            max_age=max_age,
            review_queue=sum(c.review_queue for c in creators),
            quarantine_files=sum(c.in_quarantine_folder for c in creators),
        )
        return StatusReport(
            config_path=str(settings.config_path),
            store_url=store.engine.url.render_as_string(hide_password=True),
            schema_revision=store.schema_revision(),
            creators=creators,
            last_run=last_run,
            altered_schemas=altered_schemas(),
            health=health,
        )
    finally:
        store.dispose()


def check_config(config: str | Path) -> Settings:
    """Load and validate a config file; raises ConfigError naming the bad key."""
    return load_settings(config)


def config_warnings(settings: Settings) -> list[str]:
    """What is valid but will not work tonight: unset password variables, missing folders."""
    warnings = []
    for creator in settings.arkivskaper:
        imap = creator.imap
        if imap is not None and imap.password_env and imap.password_env not in os.environ:
            warnings.append(
                f"arkivskaper '{creator.kode}': the environment variable {imap.password_env} (imap.password_env) "
                "is not set here; set it where 'noarkpipe run' runs (cron, systemd EnvironmentFile)"
            )
        if creator.maildir is not None and not (creator.maildir / "new").is_dir():
            warnings.append(f"arkivskaper '{creator.kode}': maildir {creator.maildir} has no new/ folder")
    report = settings.report
    if report.mail_to and report.username and report.password_env not in os.environ:
        warnings.append(
            f"the environment variable {report.password_env} ([report] password_env) is not set here; "
            "the run report will not be mailed unless it is set where 'noarkpipe run' runs"
        )
    return warnings


def separator_sheet(output: str | Path) -> Path:
    """Write the QR separator sheet as a one-page PDF, to print and put between scanned letters."""
    from noarkpipe.intake.separator import separator_sheet_pdf

    target = Path(output).expanduser()
    if target.is_dir():
        target = target / "skilleark.pdf"
    target.write_bytes(separator_sheet_pdf())
    return target


def _creator_kode(settings: Settings, kode: str | None) -> str:
    if kode:
        return settings.creator(kode).kode
    if len(settings.arkivskaper) == 1:
        return settings.arkivskaper[0].kode
    raise ConfigError(
        "several municipalities share this installation: say which one",
        hint="pass --arkivskaper with one of: " + ", ".join(a.kode for a in settings.arkivskaper),
    )


def review_list(config: str | Path | Settings, kode: str | None = None) -> list[review.ReviewItem]:
    """The review queue (status M) of one arkivskaper, oldest first."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    store = open_store(settings)
    try:
        with store.read() as session:
            return review.queue(session, _creator_kode(settings, kode))
    finally:
        store.dispose()


def review_show(config: str | Path | Settings, number: str, kode: str | None = None) -> review.ReviewDetail:
    settings = config if isinstance(config, Settings) else load_settings(config)
    store = open_store(settings)
    try:
        with store.read() as session:
            return review.detail(session, _creator_kode(settings, kode), number)
    finally:
        store.dispose()


def review_decide(
    config: str | Path | Settings, decision: str, number: str, *, kode: str | None = None, by: str, **arguments
) -> review.ReviewItem:
    """One review decision ('approve', 'reclassify', 'attach', 'reject') in one transaction, logged as `by`.

    approve and attach take `accept_gap=True` to journal a post with a document that has no archival copy.
    """
    settings = config if isinstance(config, Settings) else load_settings(config)
    store = open_store(settings)
    kode = _creator_kode(settings, kode)
    accept_gap = bool(arguments.get("accept_gap"))
    try:
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
    finally:
        store.dispose()


def review_drop_part(
    config: str | Path | Settings, number: str, dokumentnummer: int, *, reason: str, kode: str | None = None, by: str
) -> tuple[review.ReviewItem, Path]:
    """Take document DOKUMENTNUMMER out of journalpost NUMBER; its original goes to quarantine with the reason.

    The quarantine copy is written inside the transaction, before it commits:
    if the copy fails, the document stays in the journalpost.
    """
    from noarkpipe.store.docstore import DocumentStore
    from noarkpipe.run.workarea import quarantine_copy

    settings = config if isinstance(config, Settings) else load_settings(config)
    kode = _creator_kode(settings, kode)
    creator = settings.creator(kode)
    store = open_store(settings)
    try:
        with store.write(by) as session:
            dropped = review.drop_part(session, kode, number, dokumentnummer, reason, by)
            original = DocumentStore(settings.documents_dir).path_for(dropped.sha256)
            kept = quarantine_copy(
                original, creator.quarantine, dropped.filename,
                f"dropped from journalpost {dropped.item.journalnummer} by {by}: {dropped.reason}",
                dropped.sha256, f"journalpost {dropped.item.journalnummer} ({dropped.item.registreringsID})",
            )
            return dropped.item, kept
    finally:
        store.dispose()


def review_replace_part(
    config: str | Path | Settings, number: str, dokumentnummer: int, path: str | Path, *, kode: str | None = None, by: str
) -> review.ReviewItem:
    """Attach FILE, the sender's replacement, as the next version of a document, with its archival copy.

    The copy is made by the nightly run's own conversion (`convert_document`),
    verified the same way, and stored before the journal changes.
    """
    from tempfile import TemporaryDirectory

    from noarkpipe.convert import ConversionJob, convert_document
    from noarkpipe.store.docstore import DocumentStore, sha256_file
    from noarkpipe.errors import MissingDependencyError
    from noarkpipe.files.safety import safe_filename
    from noarkpipe.core.submission import DocumentRole, SubmissionDocument
    from noarkpipe.run.nightly import conversion_options, store_converted

    settings = config if isinstance(config, Settings) else load_settings(config)
    kode = _creator_kode(settings, kode)
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"no such file: {path}", hint="give the path of the file the sender sent")
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with TemporaryDirectory(dir=settings.work_dir, prefix=".replace-") as scratch:
        sha, _size = sha256_file(path)
        job = ConversionJob(
            source=path, source_sha256=sha, filename=path.name, email_body=False,
            target=Path(scratch) / "copy", scratch=Path(scratch) / "work", options=conversion_options(settings),
        )
        outcome = convert_document(job)
        if outcome.result is None:
            if outcome.failure_kind == "missing_dependency":
                raise MissingDependencyError(f"no archival copy of {path.name} could be made: {outcome.failure}")
            if outcome.failure_kind == "settings":
                raise ConfigError(f"no archival copy of {path.name} could be made: {outcome.failure}")
            raise review.ReviewError(
                f"the replacement {path.name} gets no archival copy either: {outcome.failure}",
                hint="ask the sender for the document in PDF or another format noarkpipe can convert",
            )
        document = SubmissionDocument(
            filename=safe_filename(path.name, "erstatning"), media_type=outcome.result.from_format.mime,
            content=b"", role=DocumentRole.attachment, title=path.stem,
        )
        stored = store_converted(DocumentStore(settings.documents_dir), path, sha, document, outcome.result)
    store = open_store(settings)
    try:
        with store.write(by) as session:
            return review.replace_part(session, kode, number, dokumentnummer, stored, by)
    finally:
        store.dispose()


def classify_explain(config: str | Path | Settings, path: str | Path, kode: str | None = None) -> str:
    """Why an inbox file would be classified and screened as it would, without journaling it."""
    from tempfile import TemporaryDirectory

    from sqlalchemy import select as _select

    from noarkpipe.classify.learned import submission_text
    from noarkpipe.classify.policy import load_policy
    from noarkpipe.core.references import find_case_references
    from noarkpipe.classify.rules import explain_text
    from noarkpipe.classify.screening import decide_screening, screening_input
    from noarkpipe.clock import utcnow
    from noarkpipe.core.context import IntakeContext
    from noarkpipe.intake.dispatch import choose_parser

    settings = config if isinstance(config, Settings) else load_settings(config)
    creator = settings.creator(_creator_kode(settings, kode))
    policy = load_policy(settings, creator)
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"no such file: {path}")
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with TemporaryDirectory(dir=settings.work_dir, prefix=".explain-") as scratch:
        source, parse = choose_parser(path, path.name)
        context = IntakeContext(
            origin_name=path.name, received=utcnow(), scratch=Path(scratch),
            limits=settings.intake.limits, ocr_languages=settings.intake.ocr_languages,
            sandbox=settings.convert.sandbox,
        )
        submissions = parse(path, context)
        previews = [
            [_archival_preview(document, Path(scratch) / f"preview-{n}-{m}") for m, document in enumerate(s.documents)]
            for n, s in enumerate(submissions)
        ]
    store = open_store(settings)
    sections = []
    try:
        with store.read() as session:
            arkivskaper_id = session.scalar(
                _select(tables.Arkivskaper.id).where(tables.Arkivskaper.arkivskaperID == creator.kode)
            )
            for number, submission in enumerate(submissions, start=1):
                lines = [f"== {path.name}" + (f", letter {number} of {len(submissions)}" if len(submissions) > 1 else "")
                         + f" ({source.value}) for {creator.kode}"]
                refs = find_case_references(f"{submission.subject}\n{submission.body_text}")
                for ref in refs:
                    exists = arkivskaper_id is not None and session.scalar(
                        _select(tables.Saksmappe.mappeID)
                        .where(tables.Saksmappe.arkivskaper_id == arkivskaper_id)
                        .where(tables.Saksmappe.saksaar == ref.saksaar)
                        .where(tables.Saksmappe.sakssekvensnummer == ref.sakssekvensnummer)
                    )
                    lines.append(f"case reference {ref} ({ref.quoted!r}): "
                                 + ("exists: the item joins that case, no rule needed" if exists else "no such case here"))
                if policy.classification_rules is not None:
                    lines.append(explain_text(submission, policy.classification_rules))
                else:
                    lines.append("no classification rules configured (klassifikasjonssystem.rules)")
                if policy.model is not None:
                    suggestion = policy.model.suggest(submission_text(submission))
                    verdict = "confident" if suggestion.confidence >= policy.model_threshold else "below threshold: review"
                    lines.append(f"learned model: klasse {suggestion.klasse_id} ({suggestion.confidence:.0%}, {verdict})")
                decision = decide_screening(screening_input(submission), policy.screening_rules)
                if decision.screened:
                    lines.append(f"skjerming: {decision.skjermingshjemmel} (tilgangsrestriksjon {decision.tilgangsrestriksjon})")
                    lines += [f"  because: {reason}" for reason in decision.reasons]
                    lines.append(f"  offentligTittel: {decision.offentlig_tittel}")
                else:
                    lines.append("skjerming: none")
                lines.append("documents:")
                lines += [f"  {line}" for line in previews[number - 1]]
                if any("NO ARCHIVAL COPY" in line for line in previews[number - 1]):
                    lines.append("  → journaled as received, without archival copy for those: the journalpost goes to review (M)")
                sections.append("\n".join(lines))
    finally:
        store.dispose()
    return "\n\n".join(sections)


def _archival_preview(document, scratch: Path) -> str:
    """What the run would do with one document's archival copy, from its format alone (nothing is converted)."""
    from noarkpipe.convert import is_email_body, plan
    from noarkpipe.files.identify import identify
    from noarkpipe.convert.pdfa import Route

    name = f"{document.filename} ({document.role.value})"
    if document.archival_gap:
        return f"{name}: NO ARCHIVAL COPY: {document.archival_gap}"
    if not document.content:
        return f"{name}: NO ARCHIVAL COPY: the file is empty (0 bytes)"
    scratch.write_bytes(document.content)
    try:
        fmt = identify(scratch)
    except InputFileError as exc:
        return f"{name}: NO ARCHIVAL COPY: {exc.message}"
    decision = plan(fmt, email_body=is_email_body(document.role, document.filename))
    if decision.route is Route.reject:
        return f"{name}: NO ARCHIVAL COPY: {decision.reason}"
    return f"{name}: {decision.reason}"


class PublishedJournal(BaseModel):
    arkivskaper: str
    xml: str | None
    html: str
    entries: int
    screened: int


def publish_journal(
    config: str | Path | Settings, date_from: date, date_to: date, output: str | Path, kode: str | None = None
) -> PublishedJournal:
    """The public journal (postliste) of one arkivskaper for a journaldato range: offentligJournal.xml and HTML.

    Only checked entries are published (not the review queue), screening applied twice
    (as stored, and recomputed), and the written files are scanned before they are kept.
    """
    from noarkpipe.classify.policy import load_policy
    from noarkpipe.publish import journal as public

    if date_to < date_from:
        raise ConfigError(f"--to {date_to} is before --from {date_from}")
    settings = config if isinstance(config, Settings) else load_settings(config)
    creator = settings.creator(_creator_kode(settings, kode))
    rules = load_policy(settings, creator).screening_rules
    folder = Path(output).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"offentligJournal-{creator.kode}-{date_from:%Y%m%d}-{date_to:%Y%m%d}"
    store = open_store(settings)
    try:
        with store.read() as session:
            arkivskaper_id = session.scalar(
                select(tables.Arkivskaper.id).where(tables.Arkivskaper.arkivskaperID == creator.kode)
            )
            if arkivskaper_id is None:
                raise ConfigError(f"'{creator.kode}' has journaled nothing yet", hint="run 'noarkpipe run' first")
            header = public.public_journal_header(session, arkivskaper_id, date_from, date_to)

            def entries():
                return public.public_entries(session, arkivskaper_id, date_from, date_to, rules=rules)

            html_path = folder / f"{stem}.html"
            summary = public.write_html(entries(), html_path, header=header)
            xml_path = folder / f"{stem}.xml"
            try:
                public.write_offentlig_journal(entries(), xml_path, header=header)
            except public.EmptyPublicJournalError:
                xml_path = None  # the schema needs at least one entry; the HTML says the period is empty
    finally:
        store.dispose()
    return PublishedJournal(
        arkivskaper=creator.kode,
        xml=str(xml_path) if xml_path else None,
        html=str(html_path),
        entries=summary.antall,
        screened=summary.skjermet,
    )


def classify_train(config: str | Path | Settings, kode: str | None = None, *, holdout: float = 0.2):
    """Retrain one arkivskaper's class model on its journaled items; save it; return the report."""
    from noarkpipe.classify import learned
    from noarkpipe.classify.policy import model_path

    settings = config if isinstance(config, Settings) else load_settings(config)
    creator = settings.creator(_creator_kode(settings, kode))
    store = open_store(settings)
    try:
        with store.read() as session:
            arkivskaper_id = session.scalar(
                select(tables.Arkivskaper.id).where(tables.Arkivskaper.arkivskaperID == creator.kode)
            )
            examples = learned.training_examples(session, arkivskaper_id) if arkivskaper_id else []
    finally:
        store.dispose()
    report = learned.train(examples, holdout=holdout, threshold=creator.klassifikasjonssystem.model_threshold)
    path = model_path(settings, creator.kode)
    path.parent.mkdir(parents=True, exist_ok=True)
    report.model.save(path)
    return report, path


# ---------------------------------------------------------------- period closing and export


def period_list(config: str | Path | Settings, kode: str | None = None):
    """The arkivdeler of one arkivskaper with status, period and counts (journal.period.ArkivdelSummary)."""
    from noarkpipe.journal import period

    settings = config if isinstance(config, Settings) else load_settings(config)
    store = open_store(settings)
    try:
        with store.read() as session:
            return period.list_arkivdeler(session, _creator_kode(settings, kode))
    finally:
        store.dispose()


def period_close(
    config: str | Path | Settings,
    end: date,
    *,
    method: str = "sharp",
    kode: str | None = None,
    by: str,
    title: str | None = None,
):
    """Close the active arkivdel at `end` and open its successor (journal.period.close_period)."""
    from noarkpipe.journal import period

    settings = config if isinstance(config, Settings) else load_settings(config)
    kode = _creator_kode(settings, kode)
    store = open_store(settings)
    try:
        with store.write(by) as session:
            return period.close_period(
                session, kode, end=end, method=period.PeriodMethod(method), by=by, now=utcnow(), title=title
            )
    finally:
        store.dispose()


def period_finish(config: str | Path | Settings, *, kode: str | None = None, by: str):
    """End an overlap period: its open cases move to the successor, and it is closed."""
    from noarkpipe.journal import period

    settings = config if isinstance(config, Settings) else load_settings(config)
    kode = _creator_kode(settings, kode)
    store = open_store(settings)
    try:
        with store.write(by) as session:
            return period.finish_overlap(session, kode, by=by, now=utcnow())
    finally:
        store.dispose()


def period_close_cases(
    config: str | Path | Settings, saksnumre: list[str] | None, *, kode: str | None = None, by: str
):
    """Close the named cases, or (None) every open case whose journalposter are all checked."""
    from noarkpipe.journal import period

    settings = config if isinstance(config, Settings) else load_settings(config)
    kode = _creator_kode(settings, kode)
    store = open_store(settings)
    try:
        with store.write(by) as session:
            return period.close_cases(session, kode, saksnumre, by=by, now=utcnow())
    finally:
        store.dispose()


def package_time(timestamp: datetime | None = None) -> datetime | None:
    """The time a package states: `timestamp`, else SOURCE_DATE_EPOCH (UTC); None: the export takes it from
    the data (the arkivdel's closing), so the same store gives the same package."""
    from datetime import UTC

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
    config: str | Path | Settings,
    output: str | Path,
    *,
    kode: str | None = None,
    arkivdeler: tuple[str, ...] = (),
    force: bool = False,
    package_id: str | None = None,
    timestamp: datetime | None = None,
    info_xml: bool = False,
    identify_formats: bool = True,
    progress=None,
):
    """Export closed arkivdeler of one arkivskaper as a DIAS transfer package (export.export_package)."""
    import uuid as _uuid

    from noarkpipe.classify.policy import load_policy
    from noarkpipe.export import ExportOptions, export_package

    settings = config if isinstance(config, Settings) else load_settings(config)
    creator = settings.creator(_creator_kode(settings, kode))
    if settings.depot is None:
        raise ConfigError(
            f"{settings.config_path}: [depot] is missing; an export names the depot it is for",
            hint='add a [depot] table with navn = "..." (the regional archive) and avtale = "..." (the agreement)',
        )
    try:
        chosen_id = _uuid.UUID(package_id) if package_id else None
    except ValueError:
        raise ConfigError(f"--uuid '{package_id}' is not a UUID", hint="e.g. 3f2b8c1e-...; or leave it out") from None
    options = ExportOptions(
        arkivskaper=creator.kode,
        arkivdeler=tuple(arkivdeler),
        output=Path(output).expanduser().resolve(),
        force=force,
        created=package_time(timestamp),
        package_id=chosen_id,
        info_xml=info_xml,
        identify_formats=identify_formats,
    )
    open_store(settings).dispose()  # migrate the store before reading it
    return export_package(
        store_url=settings.store_url,
        documents_root=settings.documents_dir,
        options=options,
        depot=settings.depot,
        deponering=creator.deponering,
        rules=load_policy(settings, creator).screening_rules,
        actor=settings.actor,
        progress=progress,
    )


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
    progress=None,
):
    """Validate a Noark 5 extract folder or DIAS tar; write the JSON, HTML and CSV reports asked for; return the report.

    The report's display texts are in `lang` ('nb' or 'en'; default from the
    config's [noarkpipe] lang when `config_path` is given, else the locale,
    see `validation_lang`). `max_examples` example locations are kept per
    check (0: all); `csv_path` gets every finding. The exit code for the
    caller is `validation_exit_code(report)`: 0 without errors, 12
    (validation_errors) when a check of severity error failed. Unusable input
    raises InputFileError (4).
    """
    from noarkpipe.validate import ValidateOptions
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
    from noarkpipe.validate.texts import choose_lang

    configured = load_settings(config_path).lang if config_path is not None and not lang else None
    return choose_lang(lang, configured, os.environ)


def explain_check(check_id: str, *, lang: str | None = None, config_path: str | Path | None = None) -> str:
    """What check `check_id` does, why, and what usually causes it; KeyError (listing the ids) when unknown."""
    from noarkpipe.validate.checks import all_checks
    from noarkpipe.validate.report import explain, find_check
    from noarkpipe.validate.texts import texts

    checks = all_checks()
    found = find_check(check_id, checks)
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
