"""`noarkpipe status`: counts per arkivskaper, the last run, and its health."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from noarkpipe.clock import utcnow
from noarkpipe.core.codes import Journalstatus
from noarkpipe.ops import health as ops_health
from noarkpipe.run.workarea import inbox_items
from noarkpipe.services.installation import Installation
from noarkpipe.store import queries
from noarkpipe.xml.schemas import altered_schemas


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


def status_report(installation: Installation, max_age: timedelta | None) -> StatusReport:
    settings, store = installation.settings, installation.store
    with store.read() as session:
        creators = []
        for creator in settings.arkivskaper:
            arkivskaper_id = queries.arkivskaper_id(session, creator.kode)
            by_status = queries.journalposter_by_status(session, arkivskaper_id)
            creators.append(
                CreatorStatus(
                    kode=creator.kode,
                    navn=creator.navn,
                    saksmapper=queries.saksmappe_count(session, arkivskaper_id),
                    journalposter=sum(by_status.values()),
                    by_journalstatus=by_status,
                    review_queue=by_status.get(Journalstatus.midlertidig_registrering.value, 0),
                    quarantined_files=queries.quarantined_count(session, arkivskaper_id),
                    waiting_in_inbox=len(inbox_items(creator.inbox)),
                )
            )
        last = queries.last_run(session)
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
