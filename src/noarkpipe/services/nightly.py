"""`noarkpipe run`: the nightly job with its run log, lock, report and mail.

Every invocation appends to the JSON run log; a run that completes writes its
report to data_dir/reports and mails it when [report] mail_to is set. Problems
with the report or the mail are noted in `summary.notes`, never raised.
"""

from __future__ import annotations

import logging
import threading

from pydantic import ValidationError

from noarkpipe.config import ConvertSettings, Settings
from noarkpipe.core.progress import Progress
from noarkpipe.errors import ConfigError, ExitCode, MailError
from noarkpipe.ops.mail import send_report
from noarkpipe.ops.report import build_report, render_html, report_paths, write_report
from noarkpipe.ops.runlog import RunLog
from noarkpipe.run.lock import RunLock
from noarkpipe.run.nightly import NightlyRun
from noarkpipe.run.results import RunSummary
from noarkpipe.run.timing import StageTimer
from noarkpipe.store.engine import Store

log = logging.getLogger(__name__)


def with_scheduler(settings: Settings, scheduler: str) -> Settings:
    """The settings with this run's conversions on the Dask cluster at `scheduler` (--scheduler)."""
    try:
        convert = ConvertSettings.model_validate({**settings.convert.model_dump(), "scheduler": scheduler})
    except ValidationError as exc:
        raise ConfigError(
            f"--scheduler {scheduler!r} is not a Dask scheduler address", hint="e.g. tcp://10.0.0.5:8786"
        ) from exc
    return settings.model_copy(update={"convert": convert})


def run(settings: Settings, progress: Progress | None, stop: threading.Event | None) -> RunSummary:
    """The nightly job. Raises AlreadyRunningError when another run holds the lock."""
    with RunLog(settings.json_log_path, config_path=settings.config_path) as runlog:
        with RunLock(settings.lock_path):
            store = Store.open(settings.store_url)
            try:
                timer = StageTimer(on_start=runlog.run_started)
                summary = NightlyRun(
                    settings, store, progress=progress, on_item=runlog.item, stop=stop, timer=timer
                ).run()
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
