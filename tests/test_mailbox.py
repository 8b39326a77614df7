"""Taking mail from a real Dovecot IMAP server and from a maildir, and clearing it once journaled."""

from __future__ import annotations

import glob
import imaplib
import mailbox as stdlib_mailbox
import os
import re
import shutil
import socket
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers.dovecot import Dovecot, dovecot_binary, free_port, start_dovecot
from helpers.msgfactory import MINIMAL_PDF
from noarkpipe.config import ImapSettings
from noarkpipe.errors import ConfigError, ExitCode, SourceUnavailableError
from noarkpipe.intake import IntakeLimits
from noarkpipe.intake.imap import dispose_fetched, fetch_imap, imap_mailbox_key, imap_password, imap_utf7, uid_set
from noarkpipe.intake.mailbox import inbox_name
from noarkpipe.intake.maildir import dispose_maildir, fetch_maildir, seen_name
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

LIMITS = IntakeLimits()
NAME = re.compile(r"^\d{8}T\d{6}Z-imap-\d+-\d+\.eml$")
NO_MOVE = "protocol imap {\n  imap_capability = IMAP4rev1 LITERAL+ UIDPLUS\n}\n"
NO_MOVE_NO_UIDPLUS = "protocol imap {\n  imap_capability = IMAP4rev1 LITERAL+\n}\n"
PASSWORD = "hemmelig-passord"
NON_ASCII_PASSWORD = "blåbærsyltetøy-2026"
# One fresh mailbox per test; every server knows them all.
USERS = {f"postmottak{n}": PASSWORD for n in range(1, 60)} | {"kari": NON_ASCII_PASSWORD}
_unused = iter(name for name in USERS if name != "kari")


def _server(extra_config: str = ""):
    if dovecot_binary() is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    server = start_dovecot(USERS, extra_config)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="module")
def dovecot():
    yield from _server()


@pytest.fixture(scope="module")
def dovecot_without_move():
    yield from _server(NO_MOVE)


@pytest.fixture(scope="module")
def dovecot_without_move_or_uidplus():
    yield from _server(NO_MOVE_NO_UIDPLUS)


@pytest.fixture
def store(tmp_path):
    """A fresh journal store with the records creator Fjellvik kommune."""
    store = Store.open(f"sqlite:///{tmp_path}/s.sqlite")
    with store.write("test") as session:
        session.add(tables.Arkivskaper(arkivskaperID="fjellvik", arkivskaperNavn="Fjellvik kommune"))
    yield store
    store.dispose()


@pytest.fixture
def creator(store) -> int:
    return _creator_id(store)


class Account:
    """One mailbox user on a test server, and what the test needs to talk to it."""

    def __init__(self, server: Dovecot, user: str | None = None) -> None:
        self.server = server
        self.user = user or next(_unused)
        self.password = server.users[self.user]

    def settings(self, tls: str = "ssl", **overrides) -> ImapSettings:
        port = self.server.imaps_port if tls == "ssl" else self.server.imap_port
        values = {
            "host": "127.0.0.1", "port": port, "tls": tls, "username": self.user, "password_env": "NOARKPIPE_TEST_IMAP",
            "cafile": self.server.cafile, "timeout_s": 10,
        }
        return ImapSettings(**(values | overrides))

    def connect(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.server.imap_port, timeout=10)
        imap.authenticate("PLAIN", lambda _: f"\0{self.user}\0{self.password}".encode())
        return imap

    def deliver(self, *messages: bytes) -> None:
        imap = self.connect()
        try:
            for message in messages:
                assert imap.append("INBOX", None, None, message)[0] == "OK"
        finally:
            imap.logout()

    def folder(self, name: str = "INBOX") -> list[tuple[bytes, set[str]]]:
        """(message bytes, flags) of every message in a folder, looked at read-only."""
        imap = self.connect()
        try:
            status, _ = imap.select('"' + imap_utf7(name) + '"', readonly=True)
            if status != "OK":
                return []
            messages = []
            uids = imap.uid("SEARCH", "ALL")[1][0].split()
            for uid in uids:
                _, data = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
                meta, content = data[0]
                flags = re.search(rb"FLAGS \(([^)]*)\)", meta + (data[1] if len(data) > 1 else b""))
                messages.append((content, set(flags.group(1).decode().split()) if flags else set()))
            return messages
        finally:
            imap.logout()


def letter(number: int, *, size: int = 0) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = "Åse Ødegård <ase.odegard@example.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = f"Søknad nr. {number} om dispensasjon – gnr. 12 bnr. {number}"
    message["Date"] = "Fri, 20 Nov 2026 15:03:00 +0100"
    message["Message-ID"] = f"<soknad-{number}@example.no>"
    message.set_content(f"Hei,\n\nVedlagt følger søknad nr. {number}.\n\nHilsen Åse")
    message.add_attachment(MINIMAL_PDF, maintype="application", subtype="pdf", filename=f"søknad-{number}.pdf")
    if size:
        message.add_attachment(os.urandom(size), maintype="application", subtype="octet-stream", filename="stor.bin")
    return message.as_bytes()


def fetch(account: Account, store: Store, inbox: Path, limits: IntakeLimits = LIMITS, **settings):
    return fetch_imap(
        account.settings(**settings), account.password, inbox,
        arkivskaper_id=_creator_id(store), store=store, actor="test", limits=limits,
    )


def dispose(account: Account, store: Store, done=None, **settings):
    return dispose_fetched(
        account.settings(**settings), account.password,
        arkivskaper_id=_creator_id(store), store=store, actor="test", done=done,
    )


def _creator_id(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(tables.Arkivskaper.id))


def rows(store: Store) -> list[tables.FetchedMessage]:
    with store.read() as session:
        return list(session.scalars(select(tables.FetchedMessage).order_by(tables.FetchedMessage.id)))


def test_fetch_takes_every_message_once(dovecot, store, tmp_path, creator):
    account = Account(dovecot)
    sent = [letter(n) for n in (1, 2, 3)]
    account.deliver(*sent)
    inbox = tmp_path / "inbox"

    report = fetch(account, store, inbox)

    assert len(report.fetched) == 3 and not report.errors and not report.too_large
    assert report.mailbox == f"imaps://{account.user}@127.0.0.1:{dovecot.imaps_port}/INBOX"
    assert sorted(p.name for p in inbox.iterdir()) == sorted(report.fetched)
    assert all(NAME.match(name) for name in report.fetched)
    by_uid = sorted(report.fetched, key=lambda name: int(name.rsplit("-", 1)[1].removesuffix(".eml")))
    assert [(inbox / name).read_bytes() for name in by_uid] == sent
    recorded = rows(store)
    assert [(r.message_key, r.message_id, r.inbox_name) for r in recorded] == [
        (str(uid), f"<soknad-{uid}@example.no>", name) for uid, name in zip((1, 2, 3), by_uid)
    ]
    assert all(r.disposed_at is None and r.arkivskaper_id == creator for r in recorded)
    # Fetching changed nothing on the server: all there, none marked seen.
    assert [(content, "\\Seen" in flags) for content, flags in account.folder()] == [(m, False) for m in sent]

    again = fetch(account, store, inbox)
    assert (again.fetched, again.skipped_already_fetched) == ([], 3)
    assert len(list(inbox.iterdir())) == 3 and len(rows(store)) == 3


@pytest.mark.parametrize("tls", ["starttls", "none"])
def test_fetch_over_starttls_and_plain_loopback(dovecot, store, tmp_path, tls):
    account = Account(dovecot)
    account.deliver(letter(1))
    report = fetch(account, store, tmp_path / "inbox", tls=tls)
    assert len(report.fetched) == 1
    assert report.mailbox.startswith(f"imap://{account.user}@127.0.0.1:{dovecot.imap_port}/")


def test_messages_are_moved_only_once_settled(dovecot, store, tmp_path, creator):
    account = Account(dovecot)
    sent = [letter(n) for n in (1, 2, 3)]
    account.deliver(*sent)
    fetch(account, store, tmp_path / "inbox")
    first, second, third = rows(store)
    target = "Journalført"

    nothing = dispose(account, store, done=lambda sha: False, move_to=target)
    assert (nothing.disposed, nothing.waiting) == (0, 3)
    assert len(account.folder()) == 3 and account.folder(target) == []

    one = dispose(account, store, done=lambda sha: sha == first.sha256, move_to=target)
    assert (one.disposed, one.waiting) == (1, 2)
    assert [m for m, _ in account.folder()] == sent[1:]
    assert [m for m, _ in account.folder(target)] == sent[:1]

    # By default the intake_item table decides: journaled counts, claimed does not yet.
    now = datetime.now(UTC)
    with store.write("test") as session:
        for row, state in ((second, "journaled"), (third, "claimed")):
            session.add(tables.IntakeItem(
                arkivskaper_id=creator, sha256=row.sha256, size=1, source="email",
                origin_name=row.inbox_name, state=state, claimed_at=now, updated_at=now,
            ))
    by_intake = dispose(account, store, move_to=target)
    assert (by_intake.disposed, by_intake.waiting) == (1, 1)
    assert [m for m, _ in account.folder()] == sent[2:]
    assert [m for m, _ in account.folder(target)] == sent[:2]
    assert [r.disposed_at is not None for r in rows(store)] == [True, True, False]

    assert fetch(account, store, tmp_path / "inbox").fetched == []


@pytest.mark.parametrize("variant", ["without MOVE", "without MOVE or UIDPLUS"])
def test_move_without_the_move_extension(request, store, tmp_path, variant):
    server = request.getfixturevalue(
        "dovecot_without_move" if variant == "without MOVE" else "dovecot_without_move_or_uidplus"
    )
    account = Account(server)
    sent = [letter(1), letter(2)]
    account.deliver(*sent)
    fetch(account, store, tmp_path / "inbox")
    first = rows(store)[0]
    # Someone in the post room deleted message 2 in their client without expunging: it must survive.
    imap = account.connect()
    imap.select("INBOX")
    imap.uid("STORE", "2", "+FLAGS", r"(\Deleted)")
    imap.logout()

    report = dispose(account, store, done=lambda sha: sha == first.sha256)

    assert report.disposed == 1
    assert [m for m, _ in account.folder("Journalfoert")] == sent[:1]
    inbox = account.folder()
    if variant == "without MOVE":
        assert [m for m, _ in inbox] == sent[1:] and not report.errors
    else:
        assert [(m, "\\Deleted" in flags) for m, flags in inbox] == [(sent[0], True), (sent[1], True)]
        assert "neither MOVE nor UIDPLUS" in report.errors[0]


def test_flag_mode_marks_seen_only_once_settled(dovecot, store, tmp_path):
    account = Account(dovecot)
    account.deliver(letter(1), letter(2))
    fetch(account, store, tmp_path / "inbox", after_fetch="flag")
    first = rows(store)[0]
    assert not any("\\Seen" in flags for _, flags in account.folder())

    report = dispose(account, store, done=lambda sha: sha == first.sha256, after_fetch="flag")

    assert (report.disposed, report.waiting) == (1, 1)
    assert [("\\Seen" in flags) for _, flags in account.folder()] == [True, False]
    assert account.folder("Journalfoert") == []


def test_message_over_the_size_limit_is_left_alone(dovecot, store, tmp_path):
    account = Account(dovecot)
    small, big = letter(1), letter(2, size=1_200_000)
    account.deliver(small, big)
    limits = IntakeLimits(max_file_mb=1)

    report = fetch(account, store, tmp_path / "inbox", limits=limits)

    assert len(report.fetched) == 1 and len(report.too_large) == 1
    assert "UID 2" in report.too_large[0] and "over max_file_mb = 1" in report.too_large[0]
    assert [r.message_key for r in rows(store)] == ["1"]
    assert dispose(account, store, done=lambda sha: True).disposed == 1
    assert [m for m, flags in account.folder()] == [big]
    assert len(fetch(account, store, tmp_path / "inbox", limits=limits).too_large) == 1


def test_renumbered_folder_is_not_fetched_again(dovecot, store, tmp_path):
    account = Account(dovecot)
    sent = [letter(1), letter(2)]
    account.deliver(*sent)
    inbox = tmp_path / "inbox"
    fetch(account, store, inbox)
    old_validity = rows(store)[0].uidvalidity
    # Give the folder a new UIDVALIDITY with the same UIDs, as after a server restore.
    maildir = account.server.maildir(account.user)
    for index in glob.glob(str(maildir / "dovecot.index*")):
        os.remove(index)
    uidlist = maildir / "dovecot-uidlist"
    uidlist.write_text(re.sub(r" V\d+ ", " V1234 ", uidlist.read_text(), count=1))

    report = fetch(account, store, inbox)

    assert (report.fetched, report.skipped_already_fetched) == ([], 2)
    assert len(list(inbox.iterdir())) == 2
    old, new = rows(store)[:2], rows(store)[2:]
    assert {r.uidvalidity for r in old} == {old_validity} and {r.uidvalidity for r in new} == {1234}
    assert [(r.sha256, r.inbox_name) for r in new] == [(r.sha256, r.inbox_name) for r in old]
    assert dispose(account, store, done=lambda sha: True).disposed == 2
    assert account.folder() == [] and len(account.folder("Journalfoert")) == 2


def test_non_ascii_password(dovecot, store, tmp_path):
    account = Account(dovecot, user="kari")
    account.deliver(letter(1))
    assert len(fetch(account, store, tmp_path / "inbox").fetched) == 1


def test_wrong_password_is_a_clear_error(dovecot, store, tmp_path):
    account = Account(dovecot)
    account.password = "feil-passord"
    with pytest.raises(SourceUnavailableError, match=f"refused the login of {account.user}") as caught:
        fetch(account, store, tmp_path / "inbox")
    assert "feil-passord" not in str(caught.value)
    assert caught.value.exit_code is ExitCode.source_unavailable
    assert "NOARKPIPE_TEST_IMAP" in caught.value.hint


def test_missing_folder_is_a_clear_error(dovecot, store, tmp_path):
    with pytest.raises(SourceUnavailableError, match="cannot open the folder 'Finnes ikke'"):
        fetch(Account(dovecot), store, tmp_path / "inbox", folder="Finnes ikke")


def test_untrusted_certificate_is_a_clear_error(dovecot, store, tmp_path):
    with pytest.raises(SourceUnavailableError, match="certificate that is not trusted") as caught:
        fetch(Account(dovecot), store, tmp_path / "inbox", cafile=None)
    assert "cafile" in caught.value.hint


def test_server_down_is_a_clear_error(store, tmp_path, creator):
    settings = ImapSettings(host="127.0.0.1", port=free_port(), tls="none", username="x", password="y")
    with pytest.raises(SourceUnavailableError, match="cannot connect to the IMAP server 127.0.0.1"):
        fetch_imap(settings, "y", tmp_path / "inbox", arkivskaper_id=creator, store=store,
                   actor="test", limits=LIMITS)


def test_silent_server_times_out(store, tmp_path, creator):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = ImapSettings(host="127.0.0.1", port=silent.getsockname()[1], tls="ssl", username="x",
                                password="y", timeout_s=0.5)
        with pytest.raises(SourceUnavailableError, match="did not answer within 0.5 s"):
            fetch_imap(settings, "y", tmp_path / "inbox", arkivskaper_id=creator, store=store,
                       actor="test", limits=LIMITS)


def test_dispose_with_nothing_settled_does_not_connect(store, creator):
    settings = ImapSettings(host="127.0.0.1", port=free_port(), tls="none", username="x", password="y")
    report = dispose_fetched(settings, "y", arkivskaper_id=creator, store=store, actor="test")
    assert (report.disposed, report.waiting) == (0, 0)


def test_password_from_the_environment():
    settings = ImapSettings(host="mail.example.no", username="postmottak", password_env="FJELLVIK_IMAP")
    assert imap_password(settings, {"FJELLVIK_IMAP": "s3cret"}) == "s3cret"
    with pytest.raises(ConfigError, match="environment variable FJELLVIK_IMAP .* is not set"):
        imap_password(settings, {})
    inline = ImapSettings(host="mail.example.no", username="postmottak", password="inline")
    assert imap_password(inline, {}) == "inline"


def test_pure_helpers():
    assert uid_set([9, 1, 2, 3, 7, 10, 3]) == "1:3,7,9:10"
    assert imap_utf7("Journalført") == "Journalf&APg-rt"
    assert imap_utf7("R&D/Ærlig talt") == "R&-D/&AMY-rlig talt"
    assert seen_name("1700.M1P2.host") == "1700.M1P2.host:2,S"
    assert seen_name("1700.M1P2.host:2,FR") == "1700.M1P2.host:2,FRS"
    assert seen_name("1700.M1P2.host:2,S") == "1700.M1P2.host:2,S"
    moment = datetime(2026, 11, 23, 6, 1, 2, tzinfo=UTC)
    assert inbox_name(moment, "imap", 1795450929, "17") == "20261123T060102Z-imap-1795450929-17.eml"
    assert inbox_name(moment, "maildir", 0, "1700.M1P2.host") == "20261123T060102Z-maildir-1700.M1P2.host.eml"
    settings = ImapSettings(host="mail.example.no", username="postmottak@fjellvik.kommune.no", password="x")
    assert imap_mailbox_key(settings) == "imaps://postmottak%40fjellvik.kommune.no@mail.example.no:993/INBOX"


def test_maildir_fetch_and_dispose(store, tmp_path, creator):
    source = stdlib_mailbox.Maildir(tmp_path / "Maildir", create=True)
    new_key = source.add(letter(1))
    flagged = stdlib_mailbox.MaildirMessage(letter(2))
    flagged.set_subdir("cur")
    flagged.add_flag("F")
    cur_key = source.add(flagged)
    inbox = tmp_path / "inbox"
    common = {"arkivskaper_id": creator, "store": store, "actor": "test"}

    report = fetch_maildir(tmp_path / "Maildir", inbox, limits=LIMITS, **common)

    assert len(report.fetched) == 2 and report.mailbox == f"maildir:{(tmp_path / 'Maildir').resolve()}"
    on_disk = sorted(source.get_bytes(key) for key in (new_key, cur_key))
    assert sorted((inbox / name).read_bytes() for name in report.fetched) == on_disk
    assert {r.message_key for r in rows(store)} == {new_key, cur_key}
    assert {r.uidvalidity for r in rows(store)} == {0}
    assert fetch_maildir(tmp_path / "Maildir", inbox, limits=LIMITS, **common).skipped_already_fetched == 2

    first = next(r for r in rows(store) if r.message_key == new_key)
    waiting = dispose_maildir(tmp_path / "Maildir", done=lambda sha: False, **common)
    assert (waiting.disposed, waiting.waiting) == (0, 2)
    assert os.listdir(tmp_path / "Maildir" / "new") == [new_key]

    done = dispose_maildir(tmp_path / "Maildir", done=lambda sha: True, **common)
    assert done.disposed == 2
    assert os.listdir(tmp_path / "Maildir" / "new") == []
    assert sorted(os.listdir(tmp_path / "Maildir" / "cur")) == sorted([f"{new_key}:2,S", f"{cur_key}:2,FS"])
    assert stdlib_mailbox.Maildir(tmp_path / "Maildir").get_bytes(first.message_key) in on_disk
    assert fetch_maildir(tmp_path / "Maildir", inbox, limits=LIMITS, **common).fetched == []


def test_maildir_over_the_size_limit_and_not_a_maildir(store, tmp_path, creator):
    source = stdlib_mailbox.Maildir(tmp_path / "Maildir", create=True)
    source.add(letter(1, size=1_200_000))
    common = {"arkivskaper_id": creator, "store": store, "actor": "test"}
    report = fetch_maildir(tmp_path / "Maildir", tmp_path / "inbox", limits=IntakeLimits(max_file_mb=1), **common)
    assert report.fetched == [] and len(report.too_large) == 1 and rows(store) == []
    with pytest.raises(SourceUnavailableError, match="is not a maildir"):
        fetch_maildir(tmp_path / "nowhere", tmp_path / "inbox", limits=LIMITS, **common)
