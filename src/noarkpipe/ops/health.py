"""Health: did the last run go well, and recently enough?

A monitoring check (Nagios/Icinga, Zabbix, a systemd timer of its own) runs
`noarkpipe status --max-age 26h` and alerts on exit code 14. Unhealthy means:
no run recorded; the last run failed, was stopped, or died half-way (its
row still says "running" but its process on this host is gone); a mailbox
could not be read; or the last run ended longer ago than --max-age (the
timer or cron job is not firing, or a run hangs). Quarantined items and a
long review queue are reported but are the archivists' work, not an outage.

`assess` is a pure function of what status gathered, so every rule is tested
without a clock or a database.
"""

from __future__ import annotations

import json
import os
import re
import socket
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from noarkpipe.errors import ExitCode

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_max_age(text: str) -> timedelta:
    """'26h', '90m', '1d12h', '3600' (seconds) -> timedelta; ValueError with the accepted forms."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned.isdigit():
        seconds = int(cleaned)
    elif re.fullmatch(r"(\d+[smhdw])+", cleaned):
        seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)([smhdw])", cleaned))
    else:
        raise ValueError(f"'{text}' is not a duration: write e.g. 26h, 90m, 1d12h or a number of seconds")
    if seconds <= 0:
        raise ValueError(f"'{text}': the maximum age must be more than zero")
    return timedelta(seconds=seconds)


def process_alive(pid: int, host: str) -> bool | None:
    """Whether the run's process still exists: None when it ran on another host (we cannot tell)."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        # A recycled pid belongs to some other program: the run is gone all the same.
        return b"noarkpipe" in cmdline.read_bytes()
    except OSError:
        return True


class LastRunFacts(BaseModel):
    run_id: int
    outcome: str = Field(description="as recorded: running, completed, stopped, failed")
    started_at: datetime
    finished_at: datetime | None
    alive: bool | None = Field(default=None, description="for a 'running' row: is its process still there")
    exit_code: int | None = Field(default=None, description="from the run's report, when this host wrote one")
    unavailable_sources: list[str] = Field(default_factory=list)


class Health(BaseModel):
    healthy: bool
    problems: list[str]
    notes: list[str] = Field(default_factory=list, description="worth knowing, not an outage")
    last_run_id: int | None = None
    last_run_state: str | None = Field(default=None, description="completed, stopped, failed, interrupted, running")
    last_run_at: datetime | None = None
    age_seconds: float | None = None
    max_age_seconds: float | None = None
    review_queue: int = 0
    quarantine_files: int = 0


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} d {hours % 24} h"


def assess(
    last: LastRunFacts | None,
    *,
    now: datetime,
    max_age: timedelta | None,
    review_queue: int,
    quarantine_files: int,
) -> Health:
    problems: list[str] = []
    notes: list[str] = []
    if review_queue:
        notes.append(f"{review_queue} item(s) wait in the review queue")
    if quarantine_files:
        notes.append(f"{quarantine_files} file(s) lie in the quarantine folders")
    base = {
        "review_queue": review_queue,
        "quarantine_files": quarantine_files,
        "max_age_seconds": max_age.total_seconds() if max_age else None,
    }
    if last is None:
        return Health(healthy=False, problems=["no run has been recorded yet"], notes=notes, **base)

    state = last.outcome
    if state == "running" and last.alive is False:
        state = "interrupted"
    if state == "failed":
        problems.append(f"the last run ({last.run_id}) failed; see the run log and the journal of the service")
    elif state == "stopped":
        problems.append(f"the last run ({last.run_id}) was stopped before it finished (SIGTERM or Ctrl-C)")
    elif state == "interrupted":
        problems.append(
            f"the last run ({last.run_id}) died half-way (its process is gone); the next run finishes its items"
        )
    if last.exit_code == ExitCode.source_unavailable or last.unavailable_sources:
        shown = "; ".join(last.unavailable_sources[:3]) or "see the run report"
        problems.append(f"the last run could not read a mailbox: {shown}")
    elif last.exit_code == ExitCode.items_quarantined:
        notes.append(f"the last run ({last.run_id}) quarantined items")

    at = last.finished_at or last.started_at
    age = (now - at).total_seconds()
    if max_age is not None and age > max_age.total_seconds():
        allowed = _age(max_age.total_seconds())
        if state == "running":
            problems.append(f"run {last.run_id} has been running for {_age(age)}, more than {allowed}: does it hang?")
        else:
            problems.append(
                f"the last run ({last.run_id}) ended {_age(age)} ago, more than {allowed}: "
                "is the timer or cron job firing?"
            )
    return Health(
        healthy=not problems,
        problems=problems,
        notes=notes,
        last_run_id=last.run_id,
        last_run_state=state,
        last_run_at=at,
        age_seconds=round(age, 1),
        **base,
    )


def last_run_facts(run_row, reports_dir: Path, runs_dir: Path) -> LastRunFacts:
    """What the store's `run` row says, completed by the run's own report (or summary) on this host."""
    facts = LastRunFacts(
        run_id=run_row.id, outcome=run_row.outcome, started_at=run_row.started_at, finished_at=run_row.finished_at
    )
    if run_row.outcome == "running":
        facts.alive = process_alive(run_row.pid, run_row.host)
    for path in (reports_dir / f"run-{run_row.id:06d}.json", runs_dir / f"run-{run_row.id:06d}.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # written on another host, removed, or half a file
        if not isinstance(record, dict):
            continue
        code = record.get("exit_code")
        facts.exit_code = code if isinstance(code, int) else None
        facts.unavailable_sources = [
            f"{m.get('arkivskaper')}: {m.get('mailbox')}: {e}"
            for m in record.get("mailboxes") or []
            if isinstance(m, dict)
            for e in m.get("errors") or []
        ]
        break
    return facts


def quarantine_files(folders: list[Path]) -> int:
    """Files waiting in quarantine folders for a person to look at (not counting the reason files)."""
    count = 0
    for folder in folders:
        if folder.is_dir():
            count += sum(1 for p in folder.iterdir() if not p.name.endswith(".reason.txt") and not p.name.startswith("."))
    return count
