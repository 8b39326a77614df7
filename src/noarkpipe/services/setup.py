"""`noarkpipe init` and `check-config`: a new installation's files, and what a valid config still lacks."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from noarkpipe.config import DEFAULT_CONFIG_NAME, Settings, load_settings
from noarkpipe.errors import ConfigError

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
