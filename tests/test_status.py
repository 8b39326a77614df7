"""Health for monitoring: `noarkpipe status --max-age` and the exit codes scripts rely on."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers.inbox import drop
from noarkpipe import api
from noarkpipe.errors import ExitCode
from noarkpipe.ops.health import LastRunFacts, assess, parse_max_age, process_alive
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

README = Path(__file__).resolve().parents[1] / "README.md"
NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def _facts(outcome="completed", hours_ago=5.0, **more) -> LastRunFacts:
    finished = NOW - timedelta(hours=hours_ago)
    return LastRunFacts(
        run_id=7, outcome=outcome, started_at=finished - timedelta(minutes=3),
        finished_at=None if outcome == "running" else finished, **more,
    )


@pytest.mark.parametrize(
    "text, seconds",
    [("26h", 26 * 3600), ("90m", 5400), ("1d12h", 36 * 3600), ("3600", 3600), (" 2D ", 172800), ("1w", 604800)],
)
def test_max_age_forms(text, seconds):
    assert parse_max_age(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "abc", "26 timer", "-5h", "0", "h", "1.5h"])
def test_max_age_nonsense_is_refused_with_the_forms(text):
    with pytest.raises(ValueError, match="26h|more than zero"):
        parse_max_age(text)


def test_a_recent_completed_run_is_healthy_and_queues_are_notes_not_problems():
    health = assess(_facts(), now=NOW, max_age=timedelta(hours=26), review_queue=4, quarantine_files=2)
    assert health.healthy and health.problems == []
    assert health.notes == ["4 item(s) wait in the review queue", "2 file(s) lie in the quarantine folders"]
    assert health.last_run_state == "completed" and health.age_seconds == 5 * 3600


@pytest.mark.parametrize(
    "facts, expected",
    [
        (None, "no run has been recorded"),
        (_facts("failed"), "the last run (7) failed"),
        (_facts("stopped"), "stopped before it finished"),
        (_facts("running", alive=False), "died half-way"),
        (_facts(hours_ago=30), "ended 30 h ago, more than 26 h"),
        (_facts("running", hours_ago=27, alive=True), "has been running for 27 h"),
        (_facts(exit_code=11, unavailable_sources=["fjellvik: imaps://x/INBOX: login refused"]), "login refused"),
    ],
)
def test_what_makes_a_run_unhealthy(facts, expected):
    health = assess(facts, now=NOW, max_age=timedelta(hours=26), review_queue=0, quarantine_files=0)
    assert not health.healthy
    assert any(expected in problem for problem in health.problems), health.problems


def test_a_run_in_progress_within_the_age_is_healthy_and_quarantine_is_only_a_note():
    running = assess(_facts("running", hours_ago=1, alive=True), now=NOW, max_age=timedelta(hours=26),
                     review_queue=0, quarantine_files=0)
    assert running.healthy and running.last_run_state == "running"
    quarantined = assess(_facts(exit_code=10), now=NOW, max_age=None, review_queue=0, quarantine_files=1)
    assert quarantined.healthy and "the last run (7) quarantined items" in quarantined.notes
    # Without --max-age a run of any age is fine.
    assert assess(_facts(hours_ago=24 * 40), now=NOW, max_age=None, review_queue=0, quarantine_files=0).healthy


def test_a_dead_process_is_recognised():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_alive(child.pid, socket.gethostname()) is False
    assert process_alive(child.pid, "another-host.kommune.no") is None  # cannot tell from here


def _set_last_run(settings, **values) -> None:
    store = Store.open(settings.store_url)
    try:
        with store.write("test") as session:
            row = session.scalars(select(tables.Run).order_by(tables.Run.id.desc())).first()
            for key, value in values.items():
                setattr(row, key, value)
    finally:
        store.dispose()


def test_status_health_follows_the_runs(installation):
    day = parse_max_age("26h")
    fresh = api.status(installation, max_age=day)
    assert not fresh.health.healthy and "no run has been recorded" in fresh.health.problems[0]

    drop(installation, "fjellvik", "tom.eml", b"")  # quarantined: the run completes with exit code 10
    summary = api.run(installation)
    report = api.status(installation, max_age=day)
    assert report.health.healthy, report.health.problems
    assert report.health.last_run_id == summary.run_id and report.health.quarantine_files == 1
    assert report.creators[0].in_quarantine_folder == 1
    assert f"the last run ({summary.run_id}) quarantined items" in report.health.notes

    _set_last_run(installation, finished_at=datetime.now(UTC) - timedelta(days=2))
    old = api.status(installation, max_age=day)
    assert not old.health.healthy and "ended 2 d 0 h ago" in old.health.problems[0]
    assert api.status(installation).health.healthy  # no --max-age: age alone is no problem

    # A run killed half-way leaves its row 'running' with a pid that no longer exists.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    _set_last_run(installation, outcome="running", finished_at=None, pid=child.pid, host=socket.gethostname(),
                  started_at=datetime.now(UTC) - timedelta(hours=1))
    killed = api.status(installation, max_age=day)
    assert killed.health.last_run_state == "interrupted" and not killed.health.healthy


def test_status_cli_exit_codes_for_monitoring(installation):
    never = _cli("status", "-c", installation.config_path, "--max-age", "26h")
    assert never.returncode == ExitCode.unhealthy == 14
    assert "Health: NOT OK" in never.stdout and "no run has been recorded" in never.stdout

    api.run(installation)
    ok = _cli("status", "-c", installation.config_path, "--max-age", "26h", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    health = json.loads(ok.stdout)["health"]
    assert health["healthy"] is True and health["max_age_seconds"] == 26 * 3600

    _set_last_run(installation, outcome="failed")
    failed = _cli("status", "-c", installation.config_path, "--max-age", "26h", "--json")
    assert failed.returncode == ExitCode.unhealthy
    assert json.loads(failed.stdout)["health"]["problems"][0].startswith("the last run")

    bad = _cli("status", "-c", installation.config_path, "--max-age", "i morgen")
    assert bad.returncode == ExitCode.bad_args and "write e.g. 26h" in bad.stderr


def _readme_exit_codes() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    table = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(code): name for code, name in re.findall(r"^\| (\d+) \| (\w+) \|", table, flags=re.MULTILINE)}


def test_every_exit_code_is_documented_in_the_readme():
    assert _readme_exit_codes() == {code.value: code.name for code in ExitCode}


def test_a_run_with_quarantined_items_is_not_a_failed_run(installation):
    """Exit 10 means "completed, look at the quarantine"; the run is recorded as completed and healthy."""
    drop(installation, "fjellvik", "tom.eml", b"")
    done = _cli("run", "-c", installation.config_path)
    assert done.returncode == ExitCode.items_quarantined
    status = api.status(installation, max_age=parse_max_age("1h"))
    assert status.last_run.outcome == "completed" and status.health.healthy
