"""Every intake channel through the nightly run, as an operator runs it.

One inbox gets e-mail (.eml, .msg), e-forms of all three shapes, a scan batch
and a pile of hostile files; the official mailbox is a real Dovecot server.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfWriter
from sqlalchemy import select

from helpers.dovecot import dovecot_binary, start_dovecot
from helpers.inbox import SAMPLE_INBOX, drop, make_eml
from helpers.msgfactory import Attachment, Message, outlook_message
from noarkpipe import api
from noarkpipe.errors import ExitCode
from noarkpipe.run.results import Outcome
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore
from noarkpipe.store.engine import Store

FIXTURES = SAMPLE_INBOX.parent
SECRET = "root:x:0:0"  # what /etc/passwd starts with: must never reach the store


def _xxe() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b'<eskjema xmlns="urn:noarkpipe:eskjema:1.0" version="1.0"><formType>&x;</formType></eskjema>'
    )


def _billion_laughs() -> bytes:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY l0 "ha">{entities}]>'
        '<eskjema xmlns="urn:noarkpipe:eskjema:1.0" version="1.0"><formType>&l9;</formType></eskjema>'
    ).encode()


def _blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


HOSTILE = {
    "tom.eml": (b"", "empty file"),
    "avkuttet.pdf": (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "PDF"),
    "program.pdf": (b"MZ\x90\x00" + bytes(200), "unsupported file type '.pdf'"),
    "ukjent.dat": (os.urandom(3000), "unsupported file type '.dat'"),
    "xxe.xml": (_xxe(), "DOCTYPE"),
    "latter.xml": (_billion_laughs(), "DOCTYPE"),
    "zipbombe.zip": (_zip({"manifest.json": b"{}", "bombe.bin": bytes(60 * 1024 * 1024)}), "zip"),
    "traversering.zip": (_zip({"manifest.json": b"{}", "../../../tmp/ut.txt": b"ut"}), ".."),
    "alene.json": (b'{"formType": "x"}', "JSON"),
}


@pytest.fixture
def mixed_inbox(installation):
    """Fjellvik's inbox after a night: every channel, and every kind of bad file."""
    for path in sorted((FIXTURES / "sample-inbox" / "fjellvik").glob("0[1-3]*.eml")):
        drop(installation, "fjellvik", path.name, path.read_bytes())
    outlook = Message(
        subject="Søknad om skjenkebevilling – Kaikanten",
        # A real (blank) one-page PDF: every attachment must get its archival copy.
        attachments=[Attachment("Søknad skjenking.pdf", _blank_pdf(), "application/pdf")],
    )
    drop(installation, "fjellvik", "outlook.msg", outlook_message(outlook))
    eforms = FIXTURES / "sample-eforms"
    inbox = installation.creator("fjellvik").inbox
    (inbox / "skjema").mkdir()
    for name in ("byggesak-fjellvik-ett-trinn.xml", "barnehageplass-FS-2026-120051.zip",
                 "skadedyr-FS-2026-120777.json", "skadedyr-FS-2026-120777.pdf", "startlan-latin1.xml"):
        shutil.copy(eforms / name, inbox / "skjema" / name)
    (inbox / "hostile").mkdir()
    for name, (content, _) in HOSTILE.items():
        (inbox / "hostile" / name).write_bytes(content)
    return installation


def test_every_channel_is_journaled_and_every_bad_file_quarantined(mixed_inbox):
    settings = mixed_inbox
    summary = api.run(settings)
    by_origin = {item.origin_name: item for item in summary.items}

    for name in ("01-byggesak-soknad.eml", "02-ettersending-deres-ref.eml", "03-klage-skoleskyss.eml", "outlook.msg",
                 "skjema/byggesak-fjellvik-ett-trinn.xml", "skjema/barnehageplass-FS-2026-120051.zip",
                 "skjema/skadedyr-FS-2026-120777.json + skadedyr-FS-2026-120777.pdf", "skjema/startlan-latin1.xml"):
        assert by_origin[name].outcome in (Outcome.journaled, Outcome.needs_review), (name, by_origin[name].reason)

    quarantine = settings.creator("fjellvik").quarantine
    for name, (_, reason) in HOSTILE.items():
        item = by_origin[f"hostile/{name}"]
        assert item.outcome is Outcome.quarantined, name
        assert reason.lower() in item.reason.lower(), (name, item.reason)
        kept = quarantine / name
        assert kept.read_bytes() == HOSTILE[name][0], name  # nothing lost, byte for byte
        assert f"reason: {item.reason.splitlines()[0]}" in (quarantine / f"{name}.reason.txt").read_text()

    # Nothing escaped the data directory, nothing from /etc/passwd was stored.
    assert not Path("/tmp/ut.txt").exists()
    documents = DocumentStore(settings.documents_dir)
    store = Store.open(settings.store_url)
    with store.read() as session:
        posts = {p.tittel: p for p in session.scalars(select(tables.Journalpost))}
        for post in posts.values():
            for beskrivelse in post.dokumentbeskrivelser:
                for objekt in beskrivelse.dokumentobjekter:
                    assert SECRET.encode() not in documents.path_for(objekt.sjekksum).read_bytes()
        sources = {i.origin_name: i.source for i in session.scalars(select(tables.IntakeItem))}
    store.dispose()
    assert sources["outlook.msg"] == "email" and sources["skjema/startlan-latin1.xml"] == "eform"
    assert sources["skjema/skadedyr-FS-2026-120777.json + skadedyr-FS-2026-120777.pdf"] == "eform"
    msg_post = posts["Søknad om skjenkebevilling – Kaikanten"]
    assert [d.dokumentobjekter[0].filnavn for d in msg_post.dokumentbeskrivelser] == ["e-post.txt", "Søknad skjenking.pdf"]
    # An e-form: rendering first, then its data as XML.
    form = next(p for t, p in posts.items() if "barnehageplass" in t.lower())
    files = [d.dokumentobjekter[0] for d in form.dokumentbeskrivelser]
    assert files[0].mimeType == "application/pdf" and files[1].filnavn.endswith(".xml")
    assert list(settings.creator("fjellvik").inbox.rglob("*.*")) == []
    assert list((settings.work_dir / "fjellvik").iterdir()) == []


def test_a_scan_batch_becomes_one_journalpost_per_letter(installation):
    batch = FIXTURES / "sample-scans" / "skanning-2026-11-20.pdf"
    drop(installation, "fjellvik", "skanner/skanning-2026-11-20.pdf", batch.read_bytes())
    summary = api.run(installation)
    assert [i.outcome for i in summary.items] != [] and all(
        i.outcome in (Outcome.journaled, Outcome.needs_review) for i in summary.items
    ), [i.reason for i in summary.items]
    letters = len(summary.items)
    assert letters == 3
    assert [i.origin_name for i in summary.items] == [
        f"skanner/skanning-2026-11-20.pdf (letter {n} of 3)" for n in (1, 2, 3)
    ]
    # The same batch again is one duplicate, not three new letters.
    drop(installation, "fjellvik", "skanner/igjen.pdf", batch.read_bytes())
    again = api.run(installation)
    assert [i.outcome for i in again.items] == [Outcome.duplicate]


@pytest.fixture(scope="module")
def imap_server():
    if dovecot_binary() is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    server = start_dovecot({"postmottak": "natt-passord-æøå", "strandby": "annet"})
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


def _imap(server, user):
    import imaplib

    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    imap.authenticate("PLAIN", lambda _: f"\0{user}\0{server.users[user]}".encode())
    return imap


def _folder_count(server, user, folder):
    imap = _imap(server, user)
    try:
        status, data = imap.select(folder, readonly=True)
        return int(data[0]) if status == "OK" else 0
    finally:
        imap.logout()


def test_noarkpipe_run_fetches_the_post_mailbox_over_tls_and_moves_mail_only_once_journaled(installation, imap_server):
    config = installation.config_path
    text = config.read_text(encoding="utf-8")
    imap_block = (
        "\n[arkivskaper.imap]\n"
        f'host = "127.0.0.1"\nport = {imap_server.imaps_port}\ntls = "ssl"\nusername = "postmottak"\n'
        f'password_env = "FJELLVIK_IMAP_PASSORD"\ncafile = "{imap_server.cafile}"\nmove_to = "Journalført"\n'
    )
    # The first [[arkivskaper]] is Fjellvik: its imap table goes before Strandby's.
    head, marker, tail = text.partition('[[arkivskaper]]\nkode = "strandby"')
    config.write_text(head + imap_block + "\n" + marker + tail, encoding="utf-8")

    imap = _imap(imap_server, "postmottak")
    for n, subject in enumerate(["Søknad om tilskudd til kor", "Klage på brøyting", "Spørsmål om feiing"]):
        imap.append("INBOX", None, None, make_eml(subject=subject, body=f"Brev nummer {n}"))
    # Not an e-mail at all: quarantined, and then moved out of the mailbox too.
    assert imap.append("INBOX", None, None, b"dette er ikke en e-post\r\n")[0] == "OK"
    imap.logout()

    env = {**os.environ, "FJELLVIK_IMAP_PASSORD": "natt-passord-æøå"}
    run = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "run", "-c", str(config), "--json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode in (ExitCode.ok, ExitCode.items_quarantined), run.stderr
    summary = json.loads(run.stdout)
    outcomes = sorted(item["outcome"] for item in summary["items"])
    assert outcomes == ["needs_review", "needs_review", "needs_review", "quarantined"]
    assert summary["mailboxes"][0]["fetched"] == 4 and summary["mailboxes"][0]["disposed"] == 4
    assert _folder_count(imap_server, "postmottak", "INBOX") == 0
    assert _folder_count(imap_server, "postmottak", '"Journalf&APg-rt"') == 4

    # A second night: nothing new in the mailbox, nothing journaled twice.
    again = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "run", "-c", str(config), "--json"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == ExitCode.ok and json.loads(again.stdout)["items"] == []

    # The password variable missing (a cron environment without it): inbox files are still taken in.
    drop(installation, "fjellvik", "papir.eml", make_eml(subject="Levert for hånd"))
    broken = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "run", "-c", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert broken.returncode == ExitCode.source_unavailable == 11
    assert "FJELLVIK_IMAP_PASSORD" in broken.stderr
    assert "Levert for hånd" not in broken.stderr and not list(installation.creator("fjellvik").inbox.iterdir())
