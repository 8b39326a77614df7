"""The shipped systemd units, cron file and logrotate file: they parse, and their commands run quietly."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from noarkpipe.errors import ExitCode

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
INSTALLED_BINARY = "/opt/noarkpipe/.venv/bin/noarkpipe"
INSTALLED_CONFIG = "/etc/noarkpipe/noarkpipe.toml"
OUR_BINARY = Path(sys.executable).parent / "noarkpipe"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / "systemd" / name).read_text(encoding="utf-8"))
    return parser


def _here(command: str, config: Path) -> list[str]:
    """An installed command line, pointed at this checkout and a test installation."""
    return shlex.split(command.replace(INSTALLED_BINARY, str(OUR_BINARY)).replace(INSTALLED_CONFIG, str(config)))


def _as_cron_runs_it(argv: list[str]) -> subprocess.CompletedProcess:
    # No terminal, a minimal environment: what cron and systemd give a job.
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=180)


def test_service_unit_is_a_hardened_oneshot_that_tolerates_quarantine_and_the_lock():
    service = _unit("noarkpipe.service")["Service"]
    assert service["Type"] == "oneshot" and service["User"] == "noarkpipe"
    assert service["ExecStart"] == f"{INSTALLED_BINARY} run --config {INSTALLED_CONFIG}"
    success = set(service["SuccessExitStatus"].split())
    assert success == {str(ExitCode.items_quarantined.value), str(ExitCode.already_running.value)}
    assert service["KillSignal"] == "SIGTERM"
    assert service["ProtectSystem"] == "strict" and service["StateDirectory"] == "noarkpipe"
    assert service["NoNewPrivileges"] == "yes" and service["PrivateTmp"] == "yes"
    # Options that would break LibreOffice or the converters' generated code are left out.
    assert "MemoryDenyWriteExecute" not in service and "PrivateUsers" not in service
    timer = _unit("noarkpipe.timer")
    assert timer["Timer"]["Persistent"] == "true" and timer["Install"]["WantedBy"] == "timers.target"
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d", timer["Timer"]["OnCalendar"])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_units_without_a_warning(tmp_path):
    service = (DEPLOY / "systemd" / "noarkpipe.service").read_text(encoding="utf-8")
    # verify checks that ExecStart exists: point it at this checkout's noarkpipe.
    (tmp_path / "noarkpipe.service").write_text(service.replace(INSTALLED_BINARY, str(OUR_BINARY)), encoding="utf-8")
    shutil.copy(DEPLOY / "systemd" / "noarkpipe.timer", tmp_path / "noarkpipe.timer")
    done = subprocess.run(
        ["systemd-analyze", "verify", "noarkpipe.service", "noarkpipe.timer"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    ours = [line for line in (done.stdout + done.stderr).splitlines() if "noarkpipe" in line]
    assert done.returncode == 0 and ours == [], done.stdout + done.stderr  # unknown keys are only warnings
    calendar = subprocess.run(
        ["systemd-analyze", "calendar", _unit("noarkpipe.timer")["Timer"]["OnCalendar"]],
        capture_output=True, text=True, timeout=30,
    )
    assert calendar.returncode == 0 and "Next elapse" in calendar.stdout


def _cron_jobs() -> list[tuple[list[str], str, str]]:
    jobs = []
    for line in (DEPLOY / "cron" / "noarkpipe.cron").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"a cron.d line has 5 time fields, a user and a command: {line!r}"
        jobs.append((fields[:5], fields[5], fields[6]))
    return jobs


def test_cron_file_lines_are_well_formed():
    jobs = _cron_jobs()
    assert len(jobs) == 2
    ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
    for times, user, command in jobs:
        assert user == "noarkpipe"
        for value, (low, high) in zip(times, ranges, strict=True):
            assert value == "*" or low <= int(value) <= high
        assert command.startswith(INSTALLED_BINARY + " ")
        assert INSTALLED_CONFIG in command and "%" not in command  # % would be a newline to cron


def test_the_installed_commands_run_quietly_as_cron_and_systemd_run_them(installation):
    config = installation.config_path
    run_line = next(c for _t, _u, c in _cron_jobs() if " run " in c)
    health_line = next(c for _t, _u, c in _cron_jobs() if " status " in c)
    exec_start = _unit("noarkpipe.service")["Service"]["ExecStart"]

    unhealthy = _as_cron_runs_it(_here(health_line, config))  # no run yet: cron must mail this
    assert unhealthy.returncode == ExitCode.unhealthy and "no run has been recorded" in unhealthy.stdout

    for command in (run_line, exec_start):
        done = _as_cron_runs_it(_here(command, config))
        assert done.returncode == 0, done.stderr
        assert done.stdout == "" and done.stderr == ""  # nothing to mail on a good night

    healthy = _as_cron_runs_it(_here(health_line, config))
    assert healthy.returncode == 0 and healthy.stdout == "" and healthy.stderr == ""


def test_logrotate_rotates_the_default_run_log_by_renaming():
    text = (DEPLOY / "logrotate" / "noarkpipe").read_text(encoding="utf-8")
    block = re.search(r"^(\S+) \{(.*?)^\}", text, flags=re.MULTILINE | re.DOTALL)
    assert block, "one 'path { ... }' block"
    pattern, body = block.group(1), block.group(2)
    assert Path("/var/log/noarkpipe/noarkpipe.jsonl").match(pattern)
    directives = {line.split()[0] for line in body.splitlines() if line.strip()}
    assert {"missingok", "notifempty", "delaycompress", "create"} <= directives
    assert "copytruncate" not in directives  # noarkpipe reopens the file every run; renaming is enough
    service = _unit("noarkpipe.service")["Service"]
    assert service["LogsDirectory"] == "noarkpipe"  # /var/log/noarkpipe, owned by the service user
