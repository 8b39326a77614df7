"""The run under cron: quiet on success, problems on stderr, and a JSON-lines log that survives rotation."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.inbox import SAMPLE_INBOX, drop
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.errors import ConfigError, ExitCode
from noarkpipe.ops.runlog import RunLog
from noarkpipe.run.lock import RunLock
from noarkpipe.run.results import ItemResult, Outcome

FNR = "15038740110"  # a valid (synthetic) fødselsnummer


def _cli(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def _events(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]  # every line must be one JSON object


def _append_config(settings, text: str):
    with settings.config_path.open("a", encoding="utf-8") as config:
        config.write("\n" + text)
    return load_settings(settings.config_path)


def test_a_clean_run_without_a_terminal_prints_nothing_and_logs_every_item(installation):
    # A few items only: each is converted to PDF/A, which takes seconds.
    names = {"fjellvik": ["01-byggesak-soknad.eml", "10-soknad-tilskudd.eml"]}
    for kode, files in names.items():
        for name in files:
            drop(installation, kode, name, (SAMPLE_INBOX / kode / name).read_bytes())
    dropped = sum(len(files) for files in names.values())
    done = _cli("run", "-c", installation.config_path)
    assert done.returncode == ExitCode.ok, done.stderr
    assert done.stdout == "" and done.stderr == ""  # cron mails any output: nothing to say

    log = installation.data_dir / "logs" / "noarkpipe.jsonl"
    assert installation.json_log_path == log
    events = _events(log)
    assert [e["event"] for e in events] == ["run_start"] + ["item"] * dropped + ["run_end"]
    run_id = events[0]["run_id"]
    assert all(e["run_id"] == run_id for e in events)
    assert events[0]["pid"] > 0 and events[0]["config"] == str(installation.config_path)
    items = events[1:-1]
    assert sorted((e["arkivskaper"], e["item"]) for e in items) == sorted(
        (kode, name) for kode, files in names.items() for name in files
    )
    assert all(len(e["sha256"]) == 64 and e["outcome"] in ("journaled", "needs_review") for e in items)
    assert {e["outcome"] for e in items} == {"journaled", "needs_review"}
    assert all(e["journalpost"] and e["saksmappe"] and e["journalstatus"] for e in items)
    end = events[-1]
    assert end["outcome"] == "completed" and end["exit_code"] == 0 and end["exit_name"] == "ok"
    assert end["journaled"] + end["needs_review"] == dropped
    assert {"claim", "parse", "store", "journal", "file"} <= set(end["stages"])
    assert oct(log.stat().st_mode & 0o777) == oct(0o640)


def test_verbose_prints_the_summary_even_without_a_terminal(installation):
    drop(installation, "fjellvik", "tom.eml", b"")
    done = _cli("run", "-c", installation.config_path, "--verbose")
    assert done.returncode == ExitCode.items_quarantined
    assert "tom.eml" in done.stdout and "quarantined: 1" in done.stdout
    assert "fjellvik: tom.eml quarantined" in done.stderr


def test_each_item_is_one_human_line_at_info_level(tmp_path, caplog):
    journaled = ItemResult(arkivskaper="fjellvik", origin_name="søknad.eml", outcome=Outcome.journaled,
                           sha256="ab" * 32, journalpost="2026/7", saksmappe="2026/3-2")
    quarantined = ItemResult(arkivskaper="strandby", origin_name=f"{FNR}.pdf", outcome=Outcome.quarantined,
                             sha256="cd" * 32, reason=f"encrypted PDF from {FNR}")
    caplog.set_level(logging.INFO, logger="noarkpipe")
    with RunLog(tmp_path / "run.jsonl") as runlog:
        runlog.item(journaled)
        runlog.item(quarantined)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "noarkpipe.ops.runlog"]
    assert lines == [
        ("INFO", "fjellvik: søknad.eml journaled as 2026/7 (2026/3-2)"),
        ("WARNING", "strandby: *****.pdf quarantined: encrypted PDF from *****"),
    ]
    events = _events(tmp_path / "run.jsonl")
    assert [e["event"] for e in events] == ["item", "item", "run_end"]
    assert events[1]["sha256"] == "cd" * 32 and FNR not in json.dumps(events)
    assert events[2]["outcome"] == "failed"  # left without run_finished: recorded, not lost


def test_quarantine_goes_to_stderr_and_the_log_masks_identity_numbers(installation):
    drop(installation, "fjellvik", f"skjema {FNR[:6]} {FNR[6:]}.exe", b"MZ\x90\x00" + b"\x00" * 64)
    done = _cli("run", "-c", installation.config_path)
    assert done.returncode == ExitCode.items_quarantined
    assert done.stdout == ""
    assert "quarantined" in done.stderr and "skjema *****.exe" in done.stderr
    raw = installation.json_log_path.read_text(encoding="utf-8")
    assert FNR[:6] not in raw.replace(json.loads(raw.splitlines()[1])["sha256"], "")
    events = _events(installation.json_log_path)
    bad = next(e for e in events if e["event"] == "item" and e["outcome"] == "quarantined")
    assert bad["item"] == "skjema *****.exe" and "unsupported file type" in bad["reason"]
    assert events[-1]["exit_code"] == 10 and events[-1]["quarantined"] == 1


def test_runs_append_and_logrotate_may_rename_or_truncate_between_them(installation):
    # Items that are quarantined at once keep this test fast (no archival copies to make).
    log = installation.json_log_path
    drop(installation, "fjellvik", "1.bin", b"\x00\x01 first")
    api.run(installation)
    drop(installation, "fjellvik", "2.bin", b"\x00\x01 second")
    api.run(installation)
    runs = [e["run_id"] for e in _events(log) if e["event"] == "run_end"]
    assert len(runs) == 2 and runs[0] < runs[1]  # appended, the first run's lines kept

    log.rename(log.with_name("noarkpipe.jsonl.1"))  # logrotate's default: rename, the next run creates anew
    drop(installation, "fjellvik", "3.bin", b"\x00\x01 third")
    api.run(installation)
    assert [e["event"] for e in _events(log)] == ["run_start", "item", "run_end"]
    assert len(_events(log.with_name("noarkpipe.jsonl.1"))) == 6

    with log.open("r+") as handle:  # copytruncate: the file stays, emptied
        handle.truncate(0)
    drop(installation, "fjellvik", "4.bin", b"\x00\x01 fourth")
    api.run(installation)
    assert not log.read_bytes().startswith(b"\0")  # appended at the new end, no hole
    assert [e["event"] for e in _events(log)] == ["run_start", "item", "run_end"]


def test_a_run_that_never_started_still_ends_in_the_log(installation):
    with RunLock(installation.lock_path):
        done = _cli("run", "-c", installation.config_path)
    assert done.returncode == ExitCode.already_running
    assert "already running" in done.stderr
    events = _events(installation.json_log_path)
    assert [e["event"] for e in events] == ["run_end"]
    assert events[0]["outcome"] == "already_running" and events[0]["exit_code"] == 75


def test_a_store_that_cannot_be_opened_is_logged_as_failed(installation):
    text = installation.config_path.read_text(encoding="utf-8").replace(
        'store_url = ""', 'store_url = "postgresql+psycopg://noarkpipe:hemmelig@127.0.0.1:1/noarkpipe"'
    )
    installation.config_path.write_text(text, encoding="utf-8")
    done = _cli("run", "-c", installation.config_path)
    assert done.returncode == ExitCode.store_error, done.stderr
    assert "cannot open the journal store" in done.stderr and "hemmelig" not in done.stderr
    end = _events(installation.json_log_path)[-1]
    assert end["event"] == "run_end" and end["outcome"] == "failed" and end["exit_code"] == 6
    assert "hemmelig" not in json.dumps(end)


def test_warnings_from_the_run_are_captured_as_log_events(installation):
    env_name = "NOARKPIPE_TEST_UNSET_IMAP_PASSWORD"
    settings = _append_config(
        installation,
        f'[arkivskaper.imap]\nhost = "127.0.0.1"\ntls = "none"\nusername = "postmottak"\npassword_env = "{env_name}"\n',
    )
    env = {k: v for k, v in os.environ.items() if k != env_name}
    done = _cli("run", "-c", settings.config_path, env=env)
    assert done.returncode == ExitCode.source_unavailable
    assert env_name in done.stderr
    events = _events(settings.json_log_path)
    warnings = [e for e in events if e["event"] == "log"]
    assert warnings and warnings[0]["level"] == "WARNING" and env_name in warnings[0]["message"]
    assert events[-1]["exit_code"] == 11 and events[-1]["unavailable_sources"]


def test_json_file_setting_and_an_unwritable_log_is_a_config_error(installation, tmp_path):
    elsewhere = tmp_path / "var-log" / "noarkpipe.jsonl"
    settings = _append_config(installation, f'[logging]\njson_file = "{elsewhere}"\n')
    assert settings.json_log_path == elsewhere
    api.run(settings)
    assert _events(elsewhere)[-1]["event"] == "run_end"

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    text = settings.config_path.read_text(encoding="utf-8").replace(str(elsewhere), str(blocker / "x.jsonl"))
    settings.config_path.write_text(text, encoding="utf-8")
    done = _cli("run", "-c", settings.config_path)
    assert done.returncode == ExitCode.invalid_config == ConfigError.exit_code
    assert "cannot open the run log" in done.stderr and "json_file" in done.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_disk_under_the_log_does_not_stop_the_journaling(installation):
    settings = _append_config(installation, '[logging]\njson_file = "/dev/full"\n')
    drop(settings, "fjellvik", "tom.eml", b"")
    done = _cli("run", "-c", settings.config_path)
    assert done.returncode == ExitCode.items_quarantined  # the run's own result, not a log failure
    assert "the run log /dev/full cannot be written" in done.stderr
    assert "No space left on device" in done.stderr
