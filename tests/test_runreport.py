"""The run report (JSON + self-contained HTML) and mailing it through a real SMTP server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from lxml import html as lxml_html

from helpers.dovecot import make_certificate
from helpers.inbox import SAMPLE_INBOX, drop, make_eml
from helpers.smtpserver import free_port, start_smtp
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.errors import ConfigError, ExitCode
from noarkpipe.ops.mail import _plain_text
from noarkpipe.ops.report import RunReport, render_html
from noarkpipe.run.results import Outcome

FNR = "15038740110"  # a valid (synthetic) fødselsnummer
SMTP_PASSWORD = "blåbær-Søndag 2026!"


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True, text=True, timeout=120, env=env
    )


def _with_report_section(settings, body: str):
    with settings.config_path.open("a", encoding="utf-8") as config:
        config.write("\n[report]\n" + body)
    return load_settings(settings.config_path)


def _copy(settings, kode: str, *names: str) -> None:
    for name in names:
        shutil.copy2(SAMPLE_INBOX / kode / name, settings.creator(kode).inbox / name)


@pytest.fixture
def night(installation):
    """A second night with a journaled, a review, a quarantined and a duplicate item.

    Few items on purpose: every journaled e-mail gets an archival copy, which takes seconds.
    """
    _copy(installation, "fjellvik", "01-byggesak-soknad.eml")
    api.run(installation)  # the first night
    shutil.copy2(SAMPLE_INBOX / "fjellvik" / "01-byggesak-soknad.eml", installation.creator("fjellvik").inbox / "igjen.eml")
    drop(installation, "fjellvik", "tom.eml", b"")
    drop(installation, "fjellvik", "ny.eml", make_eml(subject="Spørsmål om feiing på Øvre Ås"))
    drop(installation, "strandby", "03-klage.eml", make_eml(subject="Klage på vedtak om skoleskyss", body="klage"))
    return installation


@pytest.fixture
def quarantine_night(installation):
    """A night whose only item is quarantined: exit code 10, nothing to convert (fast)."""
    drop(installation, "fjellvik", "tom.eml", b"")
    return installation


def test_report_json_holds_classes_review_quarantine_and_stages(installation):
    _copy(installation, "fjellvik", "01-byggesak-soknad.eml", "10-soknad-tilskudd.eml")
    _copy(installation, "strandby", "01-innsyn.eml")
    drop(installation, "strandby", f"skjema {FNR}.exe", b"MZ\x90\x00" + b"\x00" * 64)
    summary = api.run(installation)
    json_path = installation.reports_dir / f"run-{summary.run_id:06d}.json"
    report = json.loads(json_path.read_text(encoding="utf-8"))

    assert report["run_id"] == summary.run_id and report["exit_code"] == 10
    assert report["exit_name"] == "items_quarantined" and report["outcome"] == "completed"
    creators = {c["kode"]: c for c in report["creators"]}
    for kode in ("fjellvik", "strandby"):
        c = creators[kode]
        assert c["journaled"] == summary.count(Outcome.journaled, kode)
        assert c["needs_review"] == summary.count(Outcome.needs_review, kode)
        assert sum(k["journaled"] + k["needs_review"] for k in c["by_klasse"]) == c["journaled"] + c["needs_review"]
        assert c["review_queue"] == c["needs_review"]  # nothing waited from before
    # The rule 'byggesak-epost' puts building applications in L42 (klasse and its title from k-koder.csv).
    l42 = next(k for k in creators["fjellvik"]["by_klasse"] if k["klasse"] == "L42")
    assert l42["journaled"] >= 1 and l42["tittel"]
    registered = report["registered"]
    assert len(registered) == summary.journaled + summary.needs_review
    assert all(r["klasse"] and r["journalpost"] and r["tittel"] for r in registered)
    [bad] = report["quarantine"]
    assert bad["arkivskaper"] == "strandby" and bad["item"] == "skjema *****.exe"
    assert "unsupported file type" in bad["reason"] and FNR not in json.dumps(report)
    stages = report["stages"]
    assert stages["parse"]["count"] == len(registered) + 1 and stages["journal"]["count"] == len(registered)
    assert stages["quarantine"]["count"] == 1 and all(s["seconds"] >= 0 for s in stages.values())


def test_report_html_is_self_contained_with_charts_and_escaped_text(night):
    summary = api.run(night)
    html_path = night.reports_dir / f"run-{summary.run_id:06d}.html"
    text = html_path.read_text(encoding="utf-8")
    page = lxml_html.fromstring(text)
    assert page.findtext(".//title") == f"noarkpipe run {summary.run_id}"
    # No scripts, no external resources: it must read the same mailed or archived.
    assert not page.xpath("//script") and not page.xpath("//link") and not page.xpath("//img")
    assert not [a for a in page.xpath("//@src | //@href") if "://" in a]
    svgs = page.xpath("//svg")
    assert len(svgs) == 2  # outcomes per arkivskaper, time per stage
    assert any("Fjellvik kommune" in t for t in svgs[0].xpath(".//text()"))
    body = page.text_content()
    assert "Spørsmål om feiing på Øvre Ås" in body  # the review item, æøå intact
    assert "Duplicates: 1" in body and "igjen.eml" in body
    assert "Quarantined: 1" in body and "tom.eml" in body
    # A file name with markup is shown as text, never as markup.
    report = RunReport.model_validate_json(
        (night.reports_dir / f"run-{summary.run_id:06d}.json").read_text(encoding="utf-8")
    )
    hostile = report.model_copy(update={"notes": ['<script>alert("x")</script> & co']})
    rendered = render_html(hostile)
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    # The mail's plain-text part, read in a terminal as often as not: senders' text escaped.
    [entry] = report.quarantine
    forged = entry.model_copy(update={"item": "tom\x1b]0;pwned\x07.eml", "reason": "empty\nreason: all is well"})
    plain = _plain_text(report.model_copy(update={"quarantine": [forged], "notes": ["note \x1b[2J"]}))
    assert "\x1b" not in plain and "\x07" not in plain
    assert "tom\\x1b]0;pwned\\x07.eml" in plain and "empty\\nreason: all is well" in plain
    assert not any(line.startswith("reason:") for line in plain.splitlines())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("smtp-cert"))


def test_report_is_mailed_over_starttls_with_login(night, tls_files, tmp_path, monkeypatch):
    cert, key = tls_files
    server = start_smtp(tmp_path / "spool", cert=cert, key=key, user="noarkpipe@fjellvik.kommune.no",
                        password=SMTP_PASSWORD)
    try:
        settings = _with_report_section(night, f"""
mail_to = ["arkiv@fjellvik.kommune.no", "Postmottak@strandby.kommune.no"]
mail_from = "noarkpipe@fjellvik.kommune.no"
smtp_host = "localhost"
smtp_port = {server.port}
username = "noarkpipe@fjellvik.kommune.no"
password_env = "NOARKPIPE_SMTP_PASSWORD"
cafile = "{cert}"
""")
        monkeypatch.setenv("NOARKPIPE_SMTP_PASSWORD", SMTP_PASSWORD)
        summary = api.run(settings)
        [(envelope, message)] = server.messages()
    finally:
        server.stop()
    assert summary.notes == []
    assert envelope["tls"] is True and envelope["login"] == "noarkpipe@fjellvik.kommune.no"
    assert envelope["rcpt_tos"] == ["arkiv@fjellvik.kommune.no", "Postmottak@strandby.kommune.no"]
    assert message["Subject"] == (
        f"noarkpipe run {summary.run_id}: {summary.journaled} journaled, {summary.needs_review} to review, "
        f"{summary.quarantined} quarantined"
    )
    html_part = message.get_body(preferencelist=("html",)).get_content()
    assert "Spørsmål om feiing på Øvre Ås" in html_part and "<svg" in html_part
    plain = message.get_body(preferencelist=("plain",)).get_content()
    assert "tom.eml" in plain and "Fjellvik kommune:" in plain
    [attachment] = list(message.iter_attachments())
    attached = json.loads(attachment.get_content())
    assert attachment.get_filename() == f"run-{summary.run_id:06d}.json" and attached["run_id"] == summary.run_id
    written = json.loads((settings.reports_dir / f"run-{summary.run_id:06d}.json").read_text(encoding="utf-8"))
    assert written["mail"].startswith("mailed to arkiv@fjellvik.kommune.no, Postmottak@strandby.kommune.no via localhost:")


@pytest.mark.parametrize("problem", ["server down", "wrong password", "no starttls", "password unset"])
def test_mail_failure_is_noted_and_does_not_change_the_exit_code(quarantine_night, tls_files, tmp_path, problem):
    night = quarantine_night
    cert, key = tls_files
    server = None
    port = free_port()
    if problem == "wrong password":
        server = start_smtp(tmp_path / "spool", cert=cert, key=key, user="noarkpipe", password="riktig")
    elif problem == "no starttls":
        server = start_smtp(tmp_path / "spool")  # plain only: our password must not go out in clear text
    if server is not None:
        port = server.port
    settings = _with_report_section(night, f"""
mail_to = "arkiv@fjellvik.kommune.no"
smtp_host = "127.0.0.1"
smtp_port = {port}
username = "noarkpipe"
password_env = "NOARKPIPE_SMTP_PASSWORD"
cafile = "{cert}"
timeout_s = 5
""")
    env = {k: v for k, v in os.environ.items() if k != "NOARKPIPE_SMTP_PASSWORD"}
    if problem != "password unset":
        env["NOARKPIPE_SMTP_PASSWORD"] = "feil" if problem == "wrong password" else "hemmelig"
    try:
        done = _cli("run", "-c", settings.config_path, env=env)
        received = server.messages() if server else []
    finally:
        if server is not None:
            server.stop()
    assert done.returncode == ExitCode.items_quarantined, done.stderr  # the same as without mail
    assert received == []
    expected = {
        "server down": "cannot reach the SMTP server 127.0.0.1:",
        "wrong password": "refused the login of noarkpipe",
        "no starttls": "does not offer STARTTLS",
        "password unset": "NOARKPIPE_SMTP_PASSWORD ([report] password_env) is not set",
    }[problem]
    assert "noarkpipe: run report not mailed: " in done.stderr and expected in done.stderr
    log_end = json.loads(settings.json_log_path.read_text(encoding="utf-8").splitlines()[-1])
    assert log_end["exit_code"] == 10 and expected in log_end["notes"][0]
    report = json.loads(sorted(settings.reports_dir.glob("run-*.json"))[-1].read_text(encoding="utf-8"))
    assert expected in report["mail"] and expected in report["notes"][0]
    assert "hemmelig" not in done.stderr + json.dumps(report)


@pytest.mark.parametrize(
    "body, where",
    [
        ('mail_to = ["arkiv at kommune.no"]\n', "report.mail_to"),
        ('mail_to = ["a@b.no"]\nusername = "u"\n', "report"),
        ('mail_to = ["a@b.no"]\nsmtp_host = "smtp.kommune.no"\nstarttls = false\nusername = "u"\npassword_env = "P"\n',
         "report"),
        ('mail_to = ["a@b.no"]\nsmtp_port = 70000\n', "report.smtp_port"),
        ('mail_to = ["a@b.no"]\nsmpt_host = "x"\n', "report.smpt_host"),
    ],
)
def test_bad_report_settings_name_the_key(installation, body, where):
    with installation.config_path.open("a", encoding="utf-8") as config:
        config.write("\n[report]\n" + body)
    with pytest.raises(ConfigError) as caught:
        load_settings(installation.config_path)
    assert f": {where}" in str(caught.value)
    assert caught.value.exit_code == ExitCode.invalid_config


def test_check_config_reports_a_bad_report_setting_with_exit_code_3(installation):
    with installation.config_path.open("a", encoding="utf-8") as config:
        config.write('\n[report]\nmail_to = ["arkiv@fjellvik.kommune.no", "ikke en adresse"]\n')
    done = _cli("check-config", "-c", installation.config_path)
    assert done.returncode == ExitCode.invalid_config
    assert "report.mail_to: 'ikke en adresse' is not an e-mail address" in done.stderr


def test_check_config_warns_when_the_smtp_password_variable_is_unset(installation, monkeypatch):
    settings = _with_report_section(
        installation, 'mail_to = ["arkiv@fjellvik.kommune.no"]\nusername = "u"\npassword_env = "NOARKPIPE_SMTP_PW"\n'
    )
    monkeypatch.delenv("NOARKPIPE_SMTP_PW", raising=False)
    assert any("NOARKPIPE_SMTP_PW ([report] password_env) is not set" in w for w in api.config_warnings(settings))
    monkeypatch.setenv("NOARKPIPE_SMTP_PW", "x")
    assert not any("password_env" in w for w in api.config_warnings(settings))
