"""Only regular files are opened from the inbox; untrusted names and text never forge output.

Real runs on an inbox holding what an attacker with write access to it would
drop: symbolic links to a file outside, to /etc/passwd and to a folder, a
FIFO (which blocks a reader forever), a UNIX socket, names with a bidi
override, zero-width characters, a newline, ' + ', and terminal escape
sequences in a Subject. The ordinary mail beside them must be journaled.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers.inbox import drop, make_eml
from helpers.loopback import OpenWatch
from noarkpipe import api
from noarkpipe.core.printable import PrintableFormatter, printable, printable_block
from noarkpipe.files.safety import safe_filename
from noarkpipe.run.results import Outcome
from noarkpipe.run.workarea import CLAIM_SEPARATOR
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore
from noarkpipe.store.engine import Store

KODE = "fjellvik"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


def _cli(*args, timeout=180, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, **kwargs,
    )


def _bind_socket(path: Path) -> socket.socket:
    """A listening UNIX socket at `path` (bound from its folder: socket paths are limited to 108 bytes)."""
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path.name)
    finally:
        os.chdir(here)
    return server


def _every_file_under(root: Path):
    for folder, _dirs, files in os.walk(root):  # os.walk never follows links
        for name in files:
            path = Path(folder) / name
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def _quarantined(summary) -> dict[str, str]:
    return {i["origin_name"]: i["reason"] for i in summary["items"] if i["outcome"] == "quarantined"}


def test_links_fifos_and_sockets_are_quarantined_unopened_and_the_mail_beside_them_is_journaled(installation, tmp_path):
    creator = installation.creator(KODE)
    inbox = creator.inbox
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = b"HEMMELIG-UTENFOR-INNBOKSEN-7f3a9c"
    secret = make_eml(subject="Hemmelig brev utenfor innboksen", body=marker.decode())
    (outside / "hemmelig.eml").write_bytes(secret)
    drop(installation, KODE, "brev.eml", make_eml(subject="Vanlig brev ved siden av"))
    (inbox / "ut.eml").symlink_to(outside / "hemmelig.eml")
    (inbox / "passord.eml").symlink_to("/etc/passwd")
    (inbox / "mappe").symlink_to(outside, target_is_directory=True)
    (inbox / "post").mkdir()
    os.mkfifo(inbox / "post" / "pipe.eml")
    server = _bind_socket(inbox / "s.eml")
    watch = OpenWatch(outside)
    try:
        started = time.monotonic()
        done = _cli("run", "-c", installation.config_path, "--json", timeout=300)
        seconds = time.monotonic() - started
        opened = watch.events()
    finally:
        watch.close()
        server.close()
    assert done.returncode == 10, done.stderr  # items quarantined
    summary = json.loads(done.stdout)

    [journaled] = [i for i in summary["items"] if i["outcome"] in ("journaled", "needs_review")]
    assert journaled["origin_name"] == "brev.eml"
    reasons = _quarantined(summary)
    assert set(reasons) == {"ut.eml", "passord.eml", "mappe", "post/pipe.eml", "s.eml"}
    assert reasons["ut.eml"] == (
        f"not a regular file: a symbolic link (to {outside / 'hemmelig.eml'}); "
        "noarkpipe never follows links out of the inbox"
    )
    assert "a symbolic link (to /etc/passwd)" in reasons["passord.eml"]
    assert f"a symbolic link (to {outside})" in reasons["mappe"]
    assert "a FIFO (named pipe)" in reasons["post/pipe.eml"]
    assert "a UNIX socket" in reasons["s.eml"]
    assert all(i["sha256"] is None for i in summary["items"] if i["outcome"] == "quarantined")

    # The links and the FIFO themselves were moved; nothing was left behind, nothing was followed.
    quarantine = creator.quarantine
    assert os.readlink(quarantine / "ut.eml") == str(outside / "hemmelig.eml")
    assert os.readlink(quarantine / "passord.eml") == "/etc/passwd"
    assert os.readlink(quarantine / "mappe") == str(outside)
    assert stat.S_ISFIFO((quarantine / "pipe.eml").lstat().st_mode)
    assert stat.S_ISSOCK((quarantine / "s.eml").lstat().st_mode)
    for name in ("ut.eml", "passord.eml", "mappe", "pipe.eml", "s.eml"):
        text = (quarantine / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert "sha256: none (not opened)" in text and "reason: not a regular file: " in text
    assert sorted(p.name for p in inbox.rglob("*")) == ["post"]
    assert list((installation.work_dir / KODE).iterdir()) == []
    assert (outside / "hemmelig.eml").read_bytes() == secret

    # Not one byte of the outside file, or of /etc/passwd, was read into the data directory.
    assert opened == [], f"something opened or read files outside the inbox: {opened}"
    passwd = Path("/etc/passwd").read_bytes()
    documents = DocumentStore(installation.documents_dir)
    for content in (secret, passwd):
        assert not documents.path_for(hashlib.sha256(content).hexdigest()).exists()
    for path in _every_file_under(installation.data_dir):
        content = path.read_bytes()
        assert marker not in content, f"{path} holds the outside file's content"
    store = Store.open(installation.store_url)
    try:
        with store.read() as session:
            digests = set(session.scalars(select(tables.IntakeItem.sha256)))
            states = sorted(session.scalars(select(tables.IntakeItem.state)))
    finally:
        store.dispose()
    assert hashlib.sha256(secret).hexdigest() not in digests
    assert hashlib.sha256(passwd).hexdigest() not in digests
    assert states == ["filed"] + ["quarantined"] * 5
    assert seconds < 240  # bounded: a FIFO opened for reading would block until the timeout above


def test_a_fifo_left_in_the_work_area_by_an_older_run_does_not_hang_the_next(installation):
    work = installation.work_dir / KODE
    work.mkdir(parents=True, exist_ok=True)
    os.mkfifo(work / f"20261101T020000-0badf00d{CLAIM_SEPARATOR}gammel.eml")
    bundle = work / f"20261101T020000-0badf11d{CLAIM_SEPARATOR}S-1.json"
    bundle.mkdir()
    os.mkfifo(bundle / "S-1.json")
    (bundle / "S-1.pdf").write_bytes(b"%PDF-1.4 rendering")
    drop(installation, KODE, "brev.eml", make_eml(subject="Brev som kom samme natt"))

    done = _cli("run", "-c", installation.config_path, "--json", timeout=300)

    summary = json.loads(done.stdout)
    reasons = _quarantined(summary)
    assert set(reasons) == {"gammel.eml", "S-1.json + S-1.pdf"}
    assert all("a FIFO (named pipe)" in reason for reason in reasons.values())
    assert [i["origin_name"] for i in summary["items"] if i["journalpost"]] == ["brev.eml"]
    assert list(work.iterdir()) == []
    quarantine = installation.creator(KODE).quarantine
    assert stat.S_ISFIFO((quarantine / "gammel.eml").lstat().st_mode)
    assert stat.S_ISFIFO((quarantine / "S-1" / "S-1.json").lstat().st_mode)


def test_sigterm_stops_a_run_whose_inbox_holds_a_fifo(installation):
    os.mkfifo(installation.creator(KODE).inbox / "pipe.eml")
    for number in range(3):
        drop(installation, KODE, f"brev-{number}.eml", make_eml(subject=f"Brev {number}", body=f"Brev nummer {number}"))
    process = subprocess.Popen(
        [sys.executable, "-m", "noarkpipe.cli", "run", "-c", str(installation.config_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    fifo = installation.creator(KODE).inbox / "pipe.eml"
    deadline = time.monotonic() + 120
    while os.path.lexists(fifo) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until the run has claimed the FIFO (its SIGTERM handler is set by then)
    process.send_signal(signal.SIGTERM)
    try:
        _out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the run did not end after SIGTERM")
    assert process.returncode in (0, 10, 130), err  # finished, or stopped after the current item
    # The next run takes in what is left, the FIFO too, also if it waits in the work area now.
    again = _cli("run", "-c", installation.config_path, "--json", timeout=300)
    assert again.returncode == 10, again.stderr
    creator = installation.creator(KODE)
    assert stat.S_ISFIFO((creator.quarantine / "pipe.eml").lstat().st_mode)
    assert list(creator.inbox.iterdir()) == [] and list((installation.work_dir / KODE).iterdir()) == []
    store = Store.open(installation.store_url)
    try:
        with store.read() as session:
            assert sorted(session.scalars(select(tables.IntakeItem.state))) == ["filed"] * 3 + ["quarantined"]
    finally:
        store.dispose()


def test_safe_filename_takes_out_controls_bidi_and_zero_width_characters():
    assert safe_filename("faktura\u202etxt.exe", "x") == "faktura_txt.exe"
    assert safe_filename("\u2067skjult\u2069\u200e.pdf", "x") == "_skjult__.pdf"
    assert safe_filename("null\u200bbredde\ufeff\u2060.pdf", "x") == "nullbredde.pdf"
    assert safe_filename("linje\nskift\r\x1b[2J\x9b.pdf", "x") == "linje_skift__[2J_.pdf"
    assert safe_filename("a + b.xyz", "x") == "a + b.xyz"
    assert safe_filename("\u202e\u200b", "vedlegg") == "vedlegg"


def test_names_with_bidi_zero_width_newline_and_plus_keep_their_name_and_forge_no_line(installation):
    names = {
        "faktura\u202etxt.exe": "faktura_txt.exe",
        "a + b.xyz": "a + b.xyz",
        "null\u200bbredde.exe": "nullbredde.exe",
        "ny\nreason: godkjent av arkivar.xyz": "ny_reason_ godkjent av arkivar.xyz",
    }
    for name in names:
        drop(installation, KODE, name, b"MZ\x90\x00 not a letter")
    attachment = ("kvittering\u202efdp.exe", b"MZ\x90\x00 program", "application/octet-stream")
    drop(installation, KODE, "vedlegg.eml", make_eml(subject="Med et lurt vedlegg", attachments=[attachment]))

    summary = api.run(installation)

    quarantined = {i.origin_name: i for i in summary.items if i.outcome is Outcome.quarantined}
    assert set(quarantined) == {printable(name) for name in names}
    assert "ny\\nreason: godkjent av arkivar.xyz" in quarantined
    quarantine = installation.creator(KODE).quarantine
    for name, stored in names.items():
        assert (quarantine / stored).read_bytes() == b"MZ\x90\x00 not a letter"
        lines = (quarantine / f"{stored}.reason.txt").read_text(encoding="utf-8").splitlines()
        assert lines[0] == f"file: {printable(name)}"
        assert [line for line in lines if line.startswith("reason:")] == [f"reason: {quarantined[printable(name)].reason.splitlines()[0]}"]
        assert not any(c in line for line in lines for c in (*RAW_CONTROLS, "\u200b", "\r"))
    store = Store.open(installation.store_url)
    try:
        with store.read() as session:
            filenames = set(session.scalars(select(tables.Dokumentobjekt.filnavn)))
    finally:
        store.dispose()
    assert "kvittering_fdp.exe" in filenames, filenames
    assert not any(c in name for name in filenames for c in ("\u202e", "\u200b"))


def _eml_with_escapes() -> bytes:
    """An e-mail whose Subject and sender carry OSC (retitle the window), BEL and 'clear screen' sequences."""
    return (
        b"From: =?utf-8?q?Ond_=1B]0;pwned=07_Avsender?= <ond@example.no>\r\n"
        b"To: postmottak@fjellvik.kommune.no\r\n"
        b"Subject: =?utf-8?q?S=C3=B8knad_=1B]0;pwned=07_om_l=C3=B8yve_=1B[2J_=E2=80=AE_[bold]fet[/bold]?=\r\n"
        b"Date: Fri, 20 Nov 2026 14:03:00 +0000\r\n"
        b"Message-ID: <escapes@example.no>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"Hei, her er en s\xc3\xb8knad.\r\n"
    )


def test_escape_sequences_in_a_subject_and_a_file_name_reach_no_terminal(installation):
    drop(installation, KODE, "escapes.eml", _eml_with_escapes())
    drop(installation, KODE, "x\x1b]0;pwned\x07y.exe", b"MZ\x90\x00")
    config = installation.config_path

    ran = _cli("run", "-c", config, "--verbose", timeout=300)
    assert ran.returncode == 10, ran.stderr
    assert "x\\x1b]0;pwned\\x07y.exe quarantined" in ran.stderr  # the stderr warning cron mails
    listed = _cli("review", "list", "-c", config, "-a", KODE)
    as_json = _cli("review", "list", "-c", config, "-a", KODE, "--json")
    [queued] = json.loads(as_json.stdout)
    shown = _cli("review", "show", "-c", config, "-a", KODE, queued["journalnummer"])
    status = _cli("status", "-c", config)

    for done in (ran, listed, shown, status):
        assert done.returncode in (0, 10), done.stderr
        for stream in (done.stdout, done.stderr):
            assert not any(c in stream for c in RAW_CONTROLS), stream
    assert "\\x1b]0;pwned\\x07" in shown.stdout and "\\x1b[2J" in shown.stdout and "\\u202e" in shown.stdout
    assert "Ond \\x1b]0;pwned\\x07 Avsender" in shown.stdout
    assert "[bold]" in listed.stdout and "\\x1b" in listed.stdout  # escaped, and text, not rich markup
    assert "x\\x1b]0;pwned\\x07y.exe" in ran.stdout  # the run's summary table
    # JSON stays exact: the Subject as it was sent.
    assert "\x1b]0;pwned\x07" in queued["tittel"]


def test_classify_explain_escapes_what_the_file_says(installation, tmp_path):
    sample = tmp_path / "brev.eml"
    sample.write_bytes(_eml_with_escapes())
    explained = _cli("classify", "-c", installation.config_path, "-a", KODE, "--explain", sample, timeout=120)
    assert explained.returncode == 0, explained.stderr
    assert "\\x1b]0;pwned\\x07" in explained.stdout
    assert not any(c in explained.stdout for c in RAW_CONTROLS)


def test_printable_escapes_only_what_a_terminal_would_act_on():
    assert printable("Søknad om løyve – Åse\xa0Ødegård 😀") == "Søknad om løyve – Åse\xa0Ødegård 😀"
    assert printable("a\x1b]0;x\x07b\x1b[2J\x9b\x7f") == "a\\x1b]0;x\\x07b\\x1b[2J\\x9b\\x7f"
    assert printable("fil\u202etxt.exe\u2066\u200b\ufeff\u2028") == "fil\\u202etxt.exe\\u2066\\u200b\\ufeff\\u2028"
    assert printable("linje 1\nlinje 2\r\t") == "linje 1\\nlinje 2\\r\\t"
    assert printable("ugyldig \udce6 byte") == "ugyldig \\udce6 byte"
    assert printable("to\nlinjer", keep_newlines=True) == "to\nlinjer"
    assert printable_block("feil i x\nreason: falsk\n  hint: gjør y") == "feil i x\n  reason: falsk\n  hint: gjør y"


def test_the_stderr_log_formatter_keeps_every_record_on_one_printable_line():
    import logging

    formatter = PrintableFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("noarkpipe", logging.WARNING, __file__, 1, "%s quarantined", ("x\x1b[2J\nWARNING forged",), None)
    assert formatter.format(record) == "WARNING noarkpipe: x\\x1b[2J\\nWARNING forged quarantined"
    try:
        raise ValueError("emne \x1b]0;pwned\x07")
    except ValueError:
        record = logging.LogRecord("noarkpipe", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = formatter.format(record)
    assert "\x1b" not in text and "\x07" not in text and "emne \\x1b]0;pwned\\x07" in text
