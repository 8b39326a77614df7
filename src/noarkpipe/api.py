"""The operations of noarkpipe as functions; the CLI is a thin layer over these."""

from __future__ import annotations

import os
import threading
from datetime import date, datetime
from importlib import resources
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import func, select

from .config import DEFAULT_CONFIG_NAME, Settings, load_settings
from .errors import ConfigError, InputFileError
from .journal import review, tables
from .model.codes import Journalstatus
from .journal.store import Store
from .nightly import ItemState, NightlyRun, Progress, RunSummary
from .workarea import inbox_items
from .runlock import RunLock
from .schemas import altered_schemas

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
) -> RunSummary:
    """The nightly job. Raises AlreadyRunningError when another run holds the lock."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    with RunLock(settings.lock_path):
        store = open_store(settings)
        try:
            return NightlyRun(settings, store, progress=progress, stop=stop).run()
        finally:
            store.dispose()


class CreatorStatus(BaseModel):
    kode: str
    navn: str
    saksmapper: int
    journalposter: int
    by_journalstatus: dict[str, int]
    review_queue: int
    quarantined_files: int
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


def _count(session, statement) -> int:
    return session.scalar(statement) or 0


def status(config: str | Path | Settings) -> StatusReport:
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
        return StatusReport(
            config_path=str(settings.config_path),
            store_url=store.engine.url.render_as_string(hide_password=True),
            schema_revision=store.schema_revision(),
            creators=creators,
            last_run=last_run,
            altered_schemas=altered_schemas(),
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
    return warnings


def separator_sheet(output: str | Path) -> Path:
    """Write the QR separator sheet as a one-page PDF, to print and put between scanned letters."""
    from .intake.separator import separator_sheet_pdf

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
    """One review decision ('approve', 'reclassify', 'attach', 'reject') in one transaction, logged as `by`."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    store = open_store(settings)
    kode = _creator_kode(settings, kode)
    try:
        with store.write(by) as session:
            if decision == "approve":
                return review.approve(session, kode, number)
            if decision == "reclassify":
                return review.reclassify(session, kode, number, arguments["klasse"], by)
            if decision == "attach":
                return review.attach(session, kode, number, arguments["saksnummer"], by)
            if decision == "reject":
                return review.reject(session, kode, number, arguments["reason"], by)
            raise ValueError(f"unknown review decision {decision!r}")
    finally:
        store.dispose()


def classify_explain(config: str | Path | Settings, path: str | Path, kode: str | None = None) -> str:
    """Why an inbox file would be classified and screened as it would, without journaling it."""
    from tempfile import TemporaryDirectory

    from sqlalchemy import select as _select

    from .classify.learned import submission_text
    from .classify.policy import load_policy
    from .classify.references import find_case_references
    from .classify.rules import explain_text
    from .classify.screening import decide_screening, screening_input
    from .clock import utcnow
    from .intake.context import IntakeContext
    from .intake.dispatch import choose_parser

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
        )
        submissions = parse(path, context)
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
                sections.append("\n".join(lines))
    finally:
        store.dispose()
    return "\n\n".join(sections)


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
    from .classify.policy import load_policy
    from .journal import public

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
    from .classify import learned
    from .classify.policy import model_path

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
