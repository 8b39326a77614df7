"""The post mailbox on Microsoft 365, as an IT operator sets it up: nightly runs against real servers on loopback.

Fjellvik reads its mailbox over IMAP with an OAuth2 token (SASL XOAUTH2) from a
real Dovecot that checks each token at the stand-in's introspection endpoint;
Strandby reads its mailbox through the Microsoft Graph stand-in
(`helpers/m365.py`). Both sign in as one app registration by the client
credentials flow. Nothing leaves the machine.
"""

from __future__ import annotations

import imaplib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers.dovecot import dovecot_binary, start_dovecot
from helpers.inbox import make_eml
from helpers.m365 import M365
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.errors import ExitCode
from noarkpipe.run.results import Outcome
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

SECRET_ENV = "NOARKPIPE_TEST_M365_SECRET"
IMAP_USER = "postmottak"
GRAPH_MAILBOX = "postmottak@strandby.kommune.no"


@pytest.fixture
def m365():
    if dovecot_binary() is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    with M365() as stand_in:
        stand_in.grant_imap(IMAP_USER)
        stand_in.add_mailbox(GRAPH_MAILBOX)
        stand_in.grant(GRAPH_MAILBOX)
        server = start_dovecot({IMAP_USER: "only-for-the-test-to-append"},
                               oauth2_introspection_url=stand_in.introspection_url)
        try:
            stand_in.dovecot = server
            yield stand_in
        finally:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)


def _app(m365: M365) -> str:
    return (
        f'tenant_id = "{m365.tenant}"\nclient_id = "{m365.client_id}"\nclient_secret_env = "{SECRET_ENV}"\n'
        f'authority_host = "{m365.authority_host}"\ncafile = "{m365.cafile}"\n'
    )


@pytest.fixture
def site(installation, m365) -> Path:
    """The sample installation with Fjellvik on IMAP + XOAUTH2 and Strandby on Graph."""
    config = installation.config_path
    text = config.read_text(encoding="utf-8")
    server = m365.dovecot
    imap = (
        "\n[arkivskaper.imap]\n"
        f'host = "127.0.0.1"\nport = {server.imaps_port}\ntls = "ssl"\nusername = "{IMAP_USER}"\n'
        f'auth = "xoauth2"\ncafile = "{server.cafile}"\nmove_to = "Journalført"\n'
        "[arkivskaper.imap.oauth2]\n" + _app(m365)
    )
    graph = (
        "\n[arkivskaper.graph]\n"
        f'mailbox = "{GRAPH_MAILBOX}"\nbase_url = "{m365.graph_url}"\ncafile = "{m365.cafile}"\n'
        'move_to = "Journalført"\nmax_retry_wait_s = 20\n'
        "[arkivskaper.graph.oauth2]\n" + _app(m365)
    )
    head, marker, tail = text.partition('[[arkivskaper]]\nkode = "strandby"')
    config.write_text(head + imap + "\n" + marker + tail + graph, encoding="utf-8")
    return config


def _imap_append(m365: M365, *messages: bytes) -> None:
    server = m365.dovecot
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port)
    try:
        imap.login(IMAP_USER, server.users[IMAP_USER])
        for message in messages:
            assert imap.append("INBOX", None, None, message)[0] == "OK"
    finally:
        imap.logout()


def _imap_count(m365: M365, folder: str) -> int:
    server = m365.dovecot
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port)
    try:
        imap.login(IMAP_USER, server.users[IMAP_USER])
        status, data = imap.select(folder, readonly=True)
        return int(data[0]) if status == "OK" else 0
    finally:
        imap.logout()


def _graph_folder(m365: M365, name: str) -> list:
    folders = {folder.display_name: folder for folder in m365.folders(GRAPH_MAILBOX)}
    return m365.messages(GRAPH_MAILBOX, folders[name].id) if name in folders else []


def _titles(config: Path) -> list[str]:
    """The journalposts' titles in the store, sorted."""
    store = Store.open(load_settings(config).store_url)
    with store.read() as session:
        return sorted(session.scalars(select(tables.Journalpost.tittel)))


def _letters(prefix: str, count: int) -> list[bytes]:
    return [make_eml(subject=f"{prefix} {n}: søknad om støtte", body=f"Brev {n} fra {prefix}") for n in range(count)]


def test_a_night_on_microsoft_365_fetches_journals_and_moves_despite_token_expiry_and_throttling(site, m365, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, m365.client_secret)
    _imap_append(m365, *_letters("IMAP", 3))
    for letter in _letters("Graph", 3):
        m365.add_message(GRAPH_MAILBOX, letter)
    m365.throttle(2, retry_after=1)  # Graph's first answers are 429 with Retry-After: 1

    expired: set[str] = set()

    def progress(stage: str, done: int, total: int | None) -> None:
        # Each creator's mailbox is fetched before its items, cleared after: at its first item, every token dies.
        kode = stage.partition(":")[0]
        if kode not in expired:
            m365.expire_tokens()
            expired.add(kode)

    summary = api.run(load_settings(site), progress=progress)

    assert expired == {"fjellvik", "strandby"}, "the tokens were not expired in the middle of both creators' turns"
    assert summary.unavailable_sources == []
    by_creator = {m.arkivskaper: m for m in summary.mailboxes}
    assert (by_creator["fjellvik"].fetched, by_creator["fjellvik"].disposed) == (3, 3)
    assert (by_creator["strandby"].fetched, by_creator["strandby"].disposed) == (3, 3)
    assert all(item.outcome in (Outcome.journaled, Outcome.needs_review) for item in summary.items), summary.items
    assert _titles(site) == sorted(f"{p} {n}: søknad om støtte" for p in ("Graph", "IMAP") for n in range(3))
    # Cleared on the servers, and only there: moved to Journalført in both.
    assert _imap_count(m365, "INBOX") == 0 and _imap_count(m365, '"Journalf&APg-rt"') == 3
    assert m365.messages(GRAPH_MAILBOX) == [] and len(_graph_folder(m365, "Journalført")) == 3
    # The 429s were waited out, and the expired token replaced by one new one per resource (not one per request).
    graph_calls = [path for method, path, _ in m365.requests if "/v1.0/" in path]
    assert len([p for p in graph_calls if p.endswith("$value")]) == 3
    assert m365.throttled == 2
    assert len(m365.token_requests) == 4  # IMAP and Graph: one token each before the expiry, one each after
    # Tokens never reach a log or the report.
    logs = "".join(p.read_text(encoding="utf-8", errors="replace") for p in (site.parent / "data").rglob("*")
                   if p.is_file() and p.suffix in (".log", ".json", ".jsonl", ".html", ".txt"))
    assert m365.client_secret not in logs and "Bearer" not in logs

    # The second night: the delta cursor asks Graph only for what came since; nothing twice.
    m365.add_message(GRAPH_MAILBOX, make_eml(subject="Graph 4: klage på vedtak", body="Ny"))
    before = len(m365.requests)
    second = api.run(load_settings(site))
    assert len(second.items) == 1 and second.unavailable_sources == []
    assert "Graph 4: klage på vedtak" in _titles(site) and len(_titles(site)) == 7
    later = [path for _, path, _ in m365.requests[before:]]
    assert any("deltatoken" in path for path in later), later
    assert len([p for p in later if p.endswith("$value")]) == 1


def test_a_revoked_secret_is_exit_11_with_the_fix_and_the_inbox_is_still_taken_in(site, m365):
    _imap_append(m365, make_eml(subject="Venter i postkassen", body="IMAP"))
    m365.add_message(GRAPH_MAILBOX, make_eml(subject="Venter i Graph", body="Graph"))
    installation = load_settings(site)
    (installation.creator("strandby").inbox / "levert-for-haand.eml").write_bytes(
        make_eml(subject="Levert for hånd", body="Papir")
    )
    m365.revoke_secret()

    env = {**os.environ, SECRET_ENV: m365.client_secret}
    run = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "run", "-c", str(site), "--json"],
                         capture_output=True, text=True, env=env, timeout=180)

    assert run.returncode == ExitCode.source_unavailable == 11, run.stderr
    summary = json.loads(run.stdout)
    assert len(summary["items"]) == 1 and _titles(site) == ["Levert for hånd"]
    errors = {m["arkivskaper"]: " ".join(m["errors"]) for m in summary["mailboxes"]}
    for kode, table in (("fjellvik", "imap.oauth2"), ("strandby", "graph.oauth2")):
        assert "AADSTS7000215" in errors[kode] and "revoked" in errors[kode]
        assert "create a new client secret" in errors[kode] and SECRET_ENV in errors[kode]
        assert table in errors[kode] or SECRET_ENV in errors[kode]
    assert m365.client_secret not in run.stdout + run.stderr
    # Nothing was taken from or changed in the mailboxes.
    assert _imap_count(m365, "INBOX") == 1 and len(m365.messages(GRAPH_MAILBOX)) == 1

    # check-config --probe says the same before the next night, and what still works.
    probe = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "check-config", "-c", str(site), "--probe"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert probe.returncode == 11
    assert probe.stderr.count("FAILED") == 2 and "fix: create a new client secret" in probe.stderr


def test_check_config_probe_signs_in_and_changes_nothing(site, m365):
    _imap_append(m365, make_eml(subject="Ligger i postkassen", body="IMAP"))
    m365.add_message(GRAPH_MAILBOX, make_eml(subject="Ligger i Graph", body="Graph"))
    env = {**os.environ, SECRET_ENV: m365.client_secret}
    probe = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "check-config", "-c", str(site), "--probe"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert probe.returncode == 0, probe.stderr
    lines = [line for line in probe.stdout.splitlines() if line.startswith("  probe ")]
    assert len(lines) == 2 and all(": OK, " in line for line in lines), probe.stdout
    assert "folder INBOX: 1 message;" in probe.stdout
    assert _imap_count(m365, "INBOX") == 1 and len(m365.messages(GRAPH_MAILBOX)) == 1
    assert not any(method in ("POST", "PATCH") for method, path, _ in m365.requests if "/v1.0/" in path)

    # A mailbox the app may not read (no Mail.ReadWrite, or outside its access policy): the fix named.
    m365.grant(GRAPH_MAILBOX, allowed=False)
    refused = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "check-config", "-c", str(site), "--probe"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 11
    assert "Mail.ReadWrite" in refused.stderr and refused.stderr.count("FAILED") == 1
