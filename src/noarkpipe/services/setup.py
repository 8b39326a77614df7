"""`noarkpipe init` and `check-config`: a new installation's files, what a valid config still lacks, and
whether its mailboxes can be signed in to (`check-config --probe`)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from noarkpipe.config import DEFAULT_CONFIG_NAME, ArkivskaperSettings, OAuth2Settings, Settings, load_settings
from noarkpipe.errors import ConfigError, SourceUnavailableError

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
        for table, oauth2 in _app_registrations(creator):
            if oauth2.client_secret_env and oauth2.client_secret_env not in os.environ:
                warnings.append(
                    f"arkivskaper '{creator.kode}': the environment variable {oauth2.client_secret_env} "
                    f"({table}.client_secret_env) is not set here; set it where 'noarkpipe run' runs"
                )
            if oauth2.certificate and not oauth2.certificate.is_file():
                warnings.append(f"arkivskaper '{creator.kode}': {table}.certificate {oauth2.certificate} does not exist")
        if creator.maildir is not None and not (creator.maildir / "new").is_dir():
            warnings.append(f"arkivskaper '{creator.kode}': maildir {creator.maildir} has no new/ folder")
    report = settings.report
    if report.mail_to and report.username and report.password_env not in os.environ:
        warnings.append(
            f"the environment variable {report.password_env} ([report] password_env) is not set here; "
            "the run report will not be mailed unless it is set where 'noarkpipe run' runs"
        )
    return warnings


def _app_registrations(creator: ArkivskaperSettings) -> list[tuple[str, OAuth2Settings]]:
    found = []
    if creator.imap is not None and creator.imap.oauth2 is not None:
        found.append(("imap.oauth2", creator.imap.oauth2))
    if creator.graph is not None:
        found.append(("graph.oauth2", creator.graph.oauth2))
    return found


class MailboxProbe(BaseModel):
    """Whether one mailbox can be signed in to and read, as the nightly run would."""

    arkivskaper: str
    mailbox: str
    ok: bool
    said: str
    """What works (ok), or what failed."""
    hint: str | None = None
    """The fix, when it failed."""


def probe_mailboxes(settings: Settings) -> list[MailboxProbe]:
    """Sign in to every IMAP and Graph mailbox of the config and open its folder; nothing changes on the servers."""
    from noarkpipe.intake import graph, imap  # msal and the sign-in: only the probe and the run need them

    probes = []
    for creator in settings.arkivskaper:
        attempts = []
        if creator.imap is not None:
            settings_imap = creator.imap
            attempts.append(
                (imap.imap_mailbox_key(settings_imap),
                 lambda s=settings_imap: imap.probe_imap(s, imap.imap_credential(s)))
            )
        if creator.graph is not None:
            settings_graph = creator.graph
            attempts.append(
                (graph.graph_mailbox_key(settings_graph),
                 lambda s=settings_graph: graph.probe_graph(s, graph.graph_tokens(s)))
            )
        for key, attempt in attempts:
            try:
                probes.append(MailboxProbe(arkivskaper=creator.kode, mailbox=key, ok=True, said=attempt()))
            except (SourceUnavailableError, ConfigError) as exc:
                probes.append(
                    MailboxProbe(arkivskaper=creator.kode, mailbox=key, ok=False, said=exc.message, hint=exc.hint)
                )
    return probes
