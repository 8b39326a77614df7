"""The command line as an operator meets it: help, init, check-config, status."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from noarkpipe import api
from noarkpipe.cli import cli

COMMANDS = sorted(cli.commands)


def _cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True, text=True, **kwargs
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    done = _cli(command, "--help")
    assert done.returncode == 0
    assert "Usage: noarkpipe " + command in done.stdout
    # A sentence of explanation, not just the option list.
    assert len(cli.commands[command].help or "") > 40


def test_top_level_help_and_version():
    done = _cli("--help")
    assert done.returncode == 0 and all(c in done.stdout for c in COMMANDS)
    assert _cli("--version").stdout.startswith("noarkpipe, version ")


def test_unknown_command_is_a_usage_error():
    done = _cli("journalfør")
    assert done.returncode == 2 and "No such command" in done.stderr


def test_init_check_config_status_on_a_fresh_installation(tmp_path):
    site = tmp_path / "kommune"
    done = _cli("init", site)
    assert done.returncode == 0, done.stderr
    config = site / "noarkpipe.toml"
    assert "Wrote " + str(config) in done.stdout
    checked = _cli("check-config", "-c", config)
    assert checked.returncode == 0 and "arkivskaper fjellvik (Fjellvik kommune)" in checked.stdout
    status = _cli("status", "--json", env={**os.environ, "NOARKPIPE_CONFIG": str(config)})
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["last_run"] is None
    assert [c["kode"] for c in report["creators"]] == ["fjellvik", "strandby"]
    migrations = Path(api.__file__).parent / "store" / "migrations" / "versions"
    newest = max(p.name.split("_")[0] for p in migrations.glob("[0-9]*_*.py"))
    assert report["schema_revision"] == newest and report["altered_schemas"] == []
    text = _cli("status", "-c", config)
    assert text.returncode == 0 and "No run yet." in text.stdout
