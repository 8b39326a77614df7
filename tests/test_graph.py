"""Taking mail from a Microsoft 365 mailbox through Graph, and clearing it once journaled: against the stand-in.

tests/helpers/m365.py answers sign-in and the Graph mail calls on loopback over
verified TLS, records every request, and has switches for the failures a
tenant produces (expired tokens, throttling, withdrawn consent, forgotten
delta tokens). The few faults it has no switch for are made here by
subclassing it.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import m365 as standin
from helpers.m365 import M365
from helpers.msgfactory import MINIMAL_PDF
from noarkpipe.config import GraphSettings, OAuth2Settings
from noarkpipe.errors import ExitCode, SourceUnavailableError
from noarkpipe.intake import IntakeLimits
from noarkpipe.intake.graph import dispose_graph, fetch_graph, graph_mailbox_key, graph_tokens, probe_graph
from noarkpipe.intake.mailbox import DisposeReport, FetchReport
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

LIMITS = IntakeLimits()
ONE_MB = IntakeLimits(max_file_mb=1)
MAILBOX = "postmottak@fjellvik.kommune.no"
SECRET_ENV = "NOARKPIPE_TEST_GRAPH_SECRET"
NAME = re.compile(r"^\d{8}T\d{6}Z-graph-[0-9a-f]{16}\.eml$")


@contextmanager
def running(kind: type[M365] = M365) -> Iterator[M365]:
    with kind() as server:
        server.grant(MAILBOX)
        yield server
    # A failure inside the stand-in would otherwise pass as Graph's 500.
    assert server.errors == []


@pytest.fixture
def m365():
    with running() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    """A fresh journal store with the records creator Fjellvik kommune."""
    store = Store.open(f"sqlite:///{tmp_path}/s.sqlite")
    with store.write("test") as session:
        session.add(tables.Arkivskaper(arkivskaperID="fjellvik", arkivskaperNavn="Fjellvik kommune"))
    yield store
    store.dispose()


def graph_settings(server: M365, **overrides) -> GraphSettings:
    oauth2 = OAuth2Settings(
        tenant_id=server.tenant, client_id=server.client_id, client_secret_env=SECRET_ENV,
        authority_host=server.authority_host, cafile=server.cafile, timeout_s=10,
    )
    values = {"mailbox": MAILBOX, "oauth2": oauth2, "base_url": server.graph_url, "cafile": server.cafile, "timeout_s": 10}
    return GraphSettings(**(values | overrides))


class Post:
    """The post mailbox on the stand-in and noarkpipe's side of it: settings, tokens, store, inbox."""

    def __init__(self, server: M365, store: Store, inbox: Path, **overrides) -> None:
        self.server = server
        self.store = store
        self.inbox = inbox
        self.settings = graph_settings(server, **overrides)
        self.tokens = graph_tokens(self.settings, environ={SECRET_ENV: server.client_secret})
        with store.read() as session:
            self.creator = session.scalar(select(tables.Arkivskaper.id))

    def deliver(self, *messages: bytes, folder: str = "inbox") -> list[str]:
        return [self.server.add_message(MAILBOX, message, folder=folder) for message in messages]

    def fetch(self, limits: IntakeLimits = LIMITS) -> FetchReport:
        return fetch_graph(
            self.settings, self.tokens, self.inbox, arkivskaper_id=self.creator, store=self.store, actor="test",
            limits=limits,
        )

    def dispose(self, done=None) -> DisposeReport:
        return dispose_graph(
            self.settings, self.tokens, store=self.store, actor="test", arkivskaper_id=self.creator, done=done
        )

    def rows(self) -> list[tables.FetchedMessage]:
        with self.store.read() as session:
            return list(session.scalars(select(tables.FetchedMessage).order_by(tables.FetchedMessage.id)))

    def cursor(self) -> str | None:
        with self.store.read() as session:
            row = session.get(tables.MailboxCursor, graph_mailbox_key(self.settings))
            return None if row is None else row.cursor

    def taken(self) -> dict[str, bytes]:
        """Graph id → the bytes of the inbox file it was taken into."""
        return {row.message_key: (self.inbox / row.inbox_name).read_bytes() for row in self.rows()}

    def graph_requests(self, since: int = 0) -> list[tuple[str, str, dict]]:
        return [r for r in self.server.requests[since:] if r[1].startswith("/v1.0/")]


def downloads(requests_: list[tuple[str, str, dict]]) -> list[str]:
    return [path for _, path, _ in requests_ if path.endswith("/$value")]


def delta_requests(requests_: list[tuple[str, str, dict]]) -> list[str]:
    return [path for _, path, _ in requests_ if "/messages/delta" in path]


def letter(number: int, *, size: int = 0) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = "Åse Ødegård <ase.odegard@example.no>"
    message["To"] = MAILBOX
    message["Subject"] = f"Søknad nr. {number} om dispensasjon – gnr. 12 bnr. {number}"
    message["Date"] = "Fri, 20 Nov 2026 15:03:00 +0100"
    message["Message-ID"] = f"<soknad-{number}@example.no>"
    message.set_content(f"Hei,\n\nVedlagt følger søknad nr. {number}.\n\nHilsen Åse")
    message.add_attachment(MINIMAL_PDF, maintype="application", subtype="pdf", filename=f"søknad-{number}.pdf")
    if size:
        message.add_attachment(os.urandom(size), maintype="application", subtype="octet-stream", filename="stor.bin")
    return message.as_bytes()


# ---- fetch ----------------------------------------------------------------------------------------


def test_the_first_fetch_takes_every_message_once_as_sent_and_changes_nothing(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox")
    sent = [letter(n) for n in (1, 2, 3)]
    ids = post.deliver(*sent)

    report = post.fetch()

    assert report.mailbox == "graph://postmottak@fjellvik.kommune.no/inbox"
    assert len(report.fetched) == 3 and not report.errors and not report.too_large
    assert sorted(p.name for p in post.inbox.iterdir()) == sorted(report.fetched)
    assert all(NAME.match(name) for name in report.fetched)
    assert post.taken() == dict(zip(ids, sent))
    assert [(r.message_id, r.uidvalidity, r.disposed_at) for r in post.rows()] == [
        (f"<soknad-{n}@example.no>", 0, None) for n in (1, 2, 3)
    ]
    # Nothing changed on the server: all there, unread, under the same ids; only GETs were sent.
    assert [(m.id, m.mime, m.is_read) for m in m365.messages(MAILBOX)] == [(i, m, False) for i, m in zip(ids, sent)]
    graph = post.graph_requests()
    assert {method for method, _, _ in graph} == {"GET"}
    for _, _, headers in graph:
        assert headers["Authorization"].startswith("Bearer ")
        assert "odata.maxpagesize=50" in headers["Prefer"] and 'IdType="ImmutableId"' in headers["Prefer"]
    assert "$deltatoken=" in post.cursor()

    again = post.fetch()
    assert (again.fetched, again.skipped_already_fetched) == ([], 0)
    assert len(list(post.inbox.iterdir())) == 3 and len(post.rows()) == 3


def test_the_next_fetch_lists_from_the_delta_cursor_and_downloads_only_what_came_since(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox")
    post.deliver(letter(1), letter(2))
    post.fetch()
    cursor = post.cursor()
    start = len(m365.requests)
    later = [letter(3), letter(4)]
    later_ids = post.deliver(*later)

    report = post.fetch()

    assert len(report.fetched) == 2 and report.skipped_already_fetched == 0
    second_round = post.graph_requests(start)
    listed = delta_requests(second_round)
    token = cursor.split("$deltatoken=")[1]
    assert listed[0].endswith(f"$deltatoken={token}") and all("token=" in path for path in listed)
    assert sorted(downloads(second_round)) == sorted(f"/v1.0/users/{MAILBOX}/messages/{i}/$value" for i in later_ids)
    every_download = downloads(post.graph_requests())
    assert len(every_download) == len(set(every_download)) == 4
    assert {i: post.taken()[i] for i in later_ids} == dict(zip(later_ids, later))
    assert post.cursor() != cursor

    quiet_start = len(m365.requests)
    nothing = post.fetch()
    assert nothing.fetched == [] and downloads(post.graph_requests(quiet_start)) == []


def test_a_large_folder_is_read_page_by_page(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox", page_size=2)
    sent = [letter(n) for n in range(1, 6)]
    ids = post.deliver(*sent)

    report = post.fetch()

    assert len(report.fetched) == 5
    assert post.taken() == dict(zip(ids, sent))
    listed = delta_requests(post.graph_requests())
    assert len(listed) == 3 and ["$skiptoken=" in path for path in listed] == [False, True, True]
    assert all("odata.maxpagesize=2" in headers["Prefer"] for _, _, headers in post.graph_requests())


def test_a_message_over_max_file_mb_is_left_behind_and_the_cursor_waits_for_it(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox")
    post.deliver(letter(1), letter(2))
    post.fetch(ONE_MB)
    cursor = post.cursor()
    big = letter(3, size=1_500_000)
    big_id, small_id = post.deliver(big, letter(4))

    report = post.fetch(ONE_MB)

    assert len(report.fetched) == 1 and len(report.too_large) == 1
    assert "<soknad-3@example.no>" in report.too_large[0] and "over max_file_mb = 1" in report.too_large[0]
    assert {r.message_key for r in post.rows()} == set(post.taken()) and big_id not in post.taken()
    assert small_id in post.taken() and len(list(post.inbox.iterdir())) == 3
    assert post.cursor() == cursor  # a cursor past the big message would never list it again

    again = post.fetch(ONE_MB)
    assert (again.fetched, len(again.too_large), again.skipped_already_fetched) == ([], 1, 1)
    assert post.cursor() == cursor
    assert [(m.id, m.is_read) for m in m365.messages(MAILBOX) if m.id == big_id] == [(big_id, False)]

    raised = post.fetch(LIMITS)
    assert len(raised.fetched) == 1 and not raised.too_large
    assert post.taken()[big_id] == big
    assert post.cursor() != cursor


class _UnsizedHandler(standin._Handler):
    """Sends `$value` without Content-Length (as a chunked or proxied answer would), so only reading tells the size."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword == "Content-Length" and self.path.endswith("/$value"):
            keyword, value = "Connection", "close"  # the body then ends where the connection does
        super().send_header(keyword, value)


def test_a_download_without_a_size_is_stopped_at_the_limit(m365, store, tmp_path):
    m365._servers[0].RequestHandlerClass = _UnsizedHandler  # the HTTPS server; a fault the stand-in has no switch for
    post = Post(m365, store, tmp_path / "inbox")
    small = letter(1)
    small_id, big_id = post.deliver(small, letter(2, size=3_000_000))

    report = post.fetch(ONE_MB)

    assert len(report.fetched) == 1 and len(report.too_large) == 1
    assert "stopped reading after" in report.too_large[0] and "over max_file_mb = 1" in report.too_large[0]
    assert post.taken() == {small_id: small}
    assert [p.name for p in post.inbox.iterdir()] == report.fetched  # no half-written file left
    assert post.cursor() is None
    assert big_id in {m.id for m in m365.messages(MAILBOX)}


def test_a_top_level_folder_is_found_by_its_display_name_quoted_for_odata(m365, store, tmp_path):
    name = "Post til d'Arc og Ødegård"
    post = Post(m365, store, tmp_path / "inbox", folder=name)
    with m365.session() as session:
        created = session.post(
            f"{m365.graph_url}/users/{MAILBOX.replace('@', '%40')}/mailFolders", json={"displayName": name},
            headers={"Authorization": f"Bearer {post.tokens.token()}"}, timeout=10,
        )
    assert created.status_code == 201
    post.deliver(letter(1))  # stays in the inbox: not the folder read
    wanted = letter(2)
    [wanted_id] = post.deliver(wanted, folder=name)

    report = post.fetch()

    assert report.mailbox == "graph://postmottak@fjellvik.kommune.no/Post%20til%20d%27Arc%20og%20%C3%98deg%C3%A5rd"
    assert post.taken() == {wanted_id: wanted}
    filters = [path for _, path, _ in post.graph_requests() if "$filter=" in path]
    assert filters == [f"/v1.0/users/{MAILBOX}/mailFolders?$filter=displayName eq 'Post til d''Arc og Ødegård'"]


def test_a_missing_folder_names_graph_folder(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox", folder="Innkommende")
    with pytest.raises(SourceUnavailableError) as caught:
        post.fetch()
    assert "graph.folder" in caught.value.message and "Innkommende" in caught.value.message


def test_an_expired_delta_token_means_one_full_listing_without_duplicates(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox")
    post.deliver(letter(1), letter(2))
    post.fetch()
    cursor = post.cursor()
    m365.expire_delta_tokens()
    [new_id] = post.deliver(letter(3))
    start = len(m365.requests)

    report = post.fetch()

    assert (len(report.fetched), report.skipped_already_fetched) == (1, 2)
    listed = delta_requests(post.graph_requests(start))
    assert "$deltatoken=" in listed[0] and "token=" not in listed[1]  # refused (410), then the whole folder
    assert downloads(post.graph_requests(start)) == [f"/v1.0/users/{MAILBOX}/messages/{new_id}/$value"]
    assert len(post.rows()) == 3 and len(list(post.inbox.iterdir())) == 3
    assert post.cursor() not in (None, cursor)


# ---- dispose ----------------------------------------------------------------------------------------


def test_dispose_moves_only_settled_messages_to_a_folder_it_creates(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox", move_to="Journalført")
    ids = post.deliver(letter(1), letter(2), letter(3))
    post.fetch()
    first, second, _ = post.rows()

    nothing = post.dispose(done=lambda sha: False)
    assert (nothing.disposed, nothing.waiting) == (0, 3)
    assert post.graph_requests(len(m365.requests)) == [] and "Journalført" not in {f.display_name for f in m365.folders(MAILBOX)}

    settled = {first.sha256, second.sha256}
    report = post.dispose(done=lambda sha: sha in settled)

    assert (report.disposed, report.waiting, report.errors) == (2, 1, [])
    assert [f.display_name for f in m365.folders(MAILBOX)].count("Journalført") == 1
    # Immutable ids: the moved messages keep the ids recorded at fetch.
    assert [m.id for m in m365.messages(MAILBOX, "Journalført")] == ids[:2]
    assert [m.id for m in m365.messages(MAILBOX)] == ids[2:]
    assert [r.disposed_at is not None for r in post.rows()] == [True, True, False]
    creations = [r for r in post.graph_requests() if r[0] == "POST" and r[1].endswith("/mailFolders")]
    assert len(creations) == 1

    rest = post.dispose(done=lambda sha: True)
    assert (rest.disposed, rest.waiting) == (1, 0)
    assert [m.id for m in m365.messages(MAILBOX, "Journalført")] == ids
    assert len([r for r in post.graph_requests() if r[0] == "POST" and r[1].endswith("/mailFolders")]) == 1

    after = post.fetch()
    assert (after.fetched, after.too_large, after.errors) == ([], [], [])


def test_flag_mode_marks_journaled_messages_read_and_leaves_them_in_the_folder(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox", after_fetch="flag")
    ids = post.deliver(letter(1), letter(2))
    post.fetch()
    first = post.rows()[0]

    report = post.dispose(done=lambda sha: sha == first.sha256)

    assert (report.disposed, report.waiting) == (1, 1)
    assert [(m.id, m.is_read) for m in m365.messages(MAILBOX)] == [(ids[0], True), (ids[1], False)]
    assert {f.display_name for f in m365.folders(MAILBOX)} == set(standin._DEFAULT_FOLDERS.values())
    assert [r[0] for r in post.graph_requests() if r[0] != "GET"] == ["PATCH"]


class _RefusingM365(M365):
    """Refuses to move the messages named in `refused`, as Exchange does with one it cannot move (400)."""

    refused: set[str]

    def _mail(self, method, mailbox, rest, query, headers, body):
        if method == "POST" and rest[-1:] == ["move"] and rest[1] in self.refused:
            return standin._graph_error(400, "ErrorMoveCopyFailed", "The item cannot be moved.")
        return super()._mail(method, mailbox, rest, query, headers, body)


def test_a_message_already_gone_counts_as_cleared_and_a_refused_one_waits(store, tmp_path):
    with running(_RefusingM365) as server:
        post = Post(server, store, tmp_path / "inbox")
        gone, refused, moved = post.deliver(letter(1), letter(2), letter(3))
        post.fetch()
        server.delete_message(MAILBOX, gone)
        server.refused = {refused}

        report = post.dispose(done=lambda sha: True)

        assert report.disposed == 2 and len(report.errors) == 1
        refused_row = next(r for r in post.rows() if r.message_key == refused)
        assert refused_row.inbox_name in report.errors[0] and "ErrorMoveCopyFailed" in report.errors[0]
        assert [m.id for m in server.messages(MAILBOX, "Journalført")] == [moved]
        assert [r.message_key for r in post.rows() if r.disposed_at is None] == [refused]

        server.refused = set()
        again = post.dispose(done=lambda sha: True)
        assert (again.disposed, again.errors) == (1, [])
        assert {m.id for m in server.messages(MAILBOX, "Journalført")} == {moved, refused}


# ---- tokens, throttling and refusals ----------------------------------------------------------------


class _ExpiringM365(M365):
    """Lets every token issued so far expire right after the first message is downloaded."""

    expired_once = False

    def _mail(self, method, mailbox, rest, query, headers, body):
        reply = super()._mail(method, mailbox, rest, query, headers, body)
        if rest[-1:] == ["$value"] and not self.expired_once:
            self.expired_once = True
            self.expire_tokens()
        return reply


def test_a_token_expiring_mid_run_is_renewed_once_and_the_run_goes_on(store, tmp_path):
    with running(_ExpiringM365) as server:
        post = Post(server, store, tmp_path / "inbox")
        sent = [letter(n) for n in (1, 2, 3)]
        ids = post.deliver(*sent)

        report = post.fetch()

        assert len(report.fetched) == 3 and post.taken() == dict(zip(ids, sent))
        assert len(server.token_requests) == 2
        fetched = downloads(post.graph_requests())
        assert len(fetched) == 4 and len(set(fetched)) == 3  # the one refused (401), asked again with the new token


def test_a_token_graph_refuses_even_when_new_names_the_scope(m365, store, tmp_path):
    imap_token = graph_settings(m365).oauth2.model_copy(update={"scope": "https://outlook.office365.com/.default"})
    post = Post(m365, store, tmp_path / "inbox", oauth2=imap_token)  # the wrong audience for Graph

    with pytest.raises(SourceUnavailableError) as caught:
        post.fetch()

    assert "graph.oauth2.scope" in caught.value.hint and len(m365.token_requests) == 2


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_waited_out(m365, store, tmp_path, status):
    post = Post(m365, store, tmp_path / "inbox")
    sent = letter(1)
    [sent_id] = post.deliver(sent)
    m365.throttle(1, retry_after=1, status=status)
    started = time.monotonic()

    report = post.fetch()

    assert time.monotonic() - started >= 1
    assert post.taken() == {sent_id: sent} and not report.errors
    folder_reads = [path for _, path, _ in post.graph_requests() if path.endswith("/mailFolders/inbox")]
    assert len(folder_reads) == 2


def test_throttling_beyond_max_retry_wait_s_gives_up(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox", max_retry_wait_s=1.5)
    post.deliver(letter(1))
    m365.throttle(10, retry_after=1)
    started = time.monotonic()

    with pytest.raises(SourceUnavailableError) as caught:
        post.fetch()

    assert 1 <= time.monotonic() - started < 5
    assert "throttled" in caught.value.message and "graph.max_retry_wait_s = 1.5" in caught.value.message
    assert caught.value.exit_code == ExitCode.source_unavailable
    assert post.rows() == [] and list(post.inbox.iterdir()) == []


@pytest.mark.parametrize("fault", ["consent withdrawn", "mailbox outside the access policy"])
def test_access_denied_names_mail_readwrite_and_the_access_policy(m365, store, tmp_path, fault):
    post = Post(m365, store, tmp_path / "inbox")
    post.deliver(letter(1))
    if fault == "consent withdrawn":
        m365.deny_permission()
    else:
        m365.grant(MAILBOX, allowed=False)

    with pytest.raises(SourceUnavailableError) as caught:
        post.fetch()

    assert MAILBOX in caught.value.message and "graph.mailbox" in caught.value.message
    hint = caught.value.hint
    assert "Mail.ReadWrite" in hint and "admin consent" in hint and "New-ApplicationAccessPolicy" in hint
    assert MAILBOX in hint and m365.client_id in hint
    assert post.rows() == []


def test_an_unknown_mailbox_names_graph_mailbox(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox", mailbox="postmotak@fjellvik.kommune.no")
    with pytest.raises(SourceUnavailableError) as caught:
        post.fetch()
    assert "postmotak@fjellvik.kommune.no (graph.mailbox)" in caught.value.message
    assert "ErrorInvalidUser" in caught.value.message


def test_no_graph_at_the_address_is_source_unavailable(m365, store, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    post = Post(m365, store, tmp_path / "inbox", base_url=f"https://127.0.0.1:{port}/v1.0")

    with pytest.raises(SourceUnavailableError) as caught:
        post.fetch()

    assert "cannot connect" in caught.value.message and "graph.base_url" in caught.value.message
    assert "Connection refused" in caught.value.message


# ---- probe ----------------------------------------------------------------------------------------------


def test_probe_reads_the_folder_and_changes_nothing(m365, store, tmp_path):
    post = Post(m365, store, tmp_path / "inbox")

    line = probe_graph(post.settings, post.tokens)

    assert MAILBOX in line and "'Inbox'" in line and "'Journalført', created at the first move" in line
    assert {method for method, _, _ in post.graph_requests()} == {"GET"}
    assert "Journalført" not in {f.display_name for f in m365.folders(MAILBOX)}

    existing = Post(m365, store, tmp_path / "inbox", move_to="Archive")
    assert "moved to 'Archive'" in probe_graph(existing.settings, existing.tokens)
    flagging = Post(m365, store, tmp_path / "inbox", after_fetch="flag")
    assert "marked read" in probe_graph(flagging.settings, flagging.tokens)


def test_probe_failures_say_what_to_fix(m365, store, tmp_path):
    untrusting = Post(m365, store, tmp_path / "inbox", cafile=None)
    with pytest.raises(SourceUnavailableError) as caught:
        probe_graph(untrusting.settings, untrusting.tokens)
    assert "not trusted" in caught.value.message and "graph.cafile" in caught.value.hint

    m365.revoke_secret()
    revoked = Post(m365, store, tmp_path / "inbox")
    with pytest.raises(SourceUnavailableError) as caught:
        probe_graph(revoked.settings, revoked.tokens)
    assert "AADSTS7000215" in caught.value.message and SECRET_ENV in caught.value.message


def test_tokens_never_reach_messages_or_logs(m365, store, tmp_path, caplog):
    post = Post(m365, store, tmp_path / "inbox", page_size=1)
    post.deliver(letter(1), letter(2))
    m365.throttle(1, retry_after=0)
    caplog.set_level("DEBUG")
    post.fetch()
    m365.deny_permission()
    with pytest.raises(SourceUnavailableError) as caught:
        post.fetch()
    token = post.tokens.token()
    assert len(token) > 20 and "GET /v1.0/" in caplog.text  # a token was used, and the requests were logged
    assert token not in caplog.text and token not in str(caught.value)
