"""The post mailbox through Microsoft Graph: fetch new messages into the inbox, move or mark them read once journaled.

The rules every mailbox source follows are in `intake/mailbox.py`; here: the
app's token (`intake/oauth2.py`), the folder found by its well-known name or
top-level display name, new messages listed by delta query and downloaded as
MIME (`$value`). A fetch, in order:

1. find the folder (`graph.folder`);
2. list it by delta query: from the deltaLink kept in `mailbox_cursor`, so only
   what arrived since is listed, or in full when there is none or Graph no
   longer knows it (410 SyncStateNotFound); `fetched_message` keeps a full
   listing from taking anything twice;
3. download each message not taken before, reading no further than
   `max_file_mb` (Graph tells no size in advance), and `take()` it;
4. keep the round's deltaLink, but only when no message was left behind (too
   large, or failed): a deltaLink past such a message would never list it
   again, and the next run must.

Every request asks for immutable ids (`Prefer: IdType="ImmutableId"`), so the
id recorded at fetch still names the message after it is moved, by disposal or
by a person. A 401 gets one new token and one retry (a token can be revoked
before it expires); 429, 503 and 504 are retried after their Retry-After, at
most `max_retry_wait_s` in all; anything else that keeps the mailbox from being
read is one `SourceUnavailableError` naming the setting and the fix. The token
is sent only to the origin of `graph.base_url`, never to where a link points
elsewhere, and never logged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from noarkpipe.clock import utcnow
from noarkpipe.config import GraphSettings
from noarkpipe.core.context import IntakeLimits
from noarkpipe.errors import SourceUnavailableError
from noarkpipe.intake.mailbox import (
    DisposeReport,
    FetchReport,
    known_keys,
    mark_disposed,
    prepare_inbox,
    settled_in_intake,
    take,
    too_large,
    undisposed,
)
from noarkpipe.intake.oauth2 import GRAPH_SCOPE, TokenSource, https_session
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

log = logging.getLogger(__name__)

GRAPH_UIDVALIDITY = 0
"""Graph ids need no UIDVALIDITY (immutable ids stay the same for the message's life); recorded under this one."""

WELL_KNOWN_FOLDERS = frozenset({
    "archive", "clutter", "conflicts", "conversationhistory", "deleteditems", "drafts", "inbox", "junkemail",
    "localfailures", "msgfolderroot", "outbox", "recoverableitemsdeletions", "scheduled", "searchfolders",
    "sentitems", "serverfailures", "syncissues",
})
"""Graph's well-known folder names: the same in every mailbox whatever its language ('inbox' is 'Innboks')."""

RETRIED_STATUSES = (429, 503, 504)
"""Graph's answers that mean 'later' (the Graph SDKs retry the same ones)."""

DEFAULT_RETRY_AFTER_S = 3.0
"""The wait when a throttled answer carries no Retry-After."""

_CHUNK = 64 * 1024
_ANY_4XX = range(400, 500)
_MAILBOX_CODES = frozenset({"ErrorInvalidUser", "ResourceNotFound", "MailboxNotEnabledForRESTAPI"})
_CONNECT_HINT = "check the network path to graph.microsoft.com (firewall, proxy); files already in the inbox are still taken in"


def graph_mailbox_key(settings: GraphSettings) -> str:
    """`graph://postmottak@fjellvik.kommune.no/inbox`: names the folder in `fetched_message` and `mailbox_cursor`."""
    folder = settings.folder.lower() if settings.folder.lower() in WELL_KNOWN_FOLDERS else settings.folder
    return f"graph://{settings.mailbox.lower()}/{quote(folder, safe='')}"


def graph_tokens(settings: GraphSettings, environ: Mapping[str, str] | None = None) -> TokenSource:
    """The app registration's tokens for Microsoft Graph."""
    return TokenSource(settings.oauth2, GRAPH_SCOPE, setting="graph.oauth2", environ=environ)


class _Refused(Exception):
    """A 4xx answer the caller handles itself: a message gone, a delta cursor Graph no longer knows, a folder that exists."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}".strip())
        self.status = status
        self.code = code


class _Graph:
    """One mailbox through Graph: requests with the app's token, retried where Graph asks, refusals explained."""

    def __init__(self, settings: GraphSettings, tokens: TokenSource, session: requests.Session) -> None:
        self.settings = settings
        self.tokens = tokens
        self.session = session
        self.waited_s = 0.0
        self.root = f"{settings.base_url}/users/{quote(settings.mailbox, safe='')}"
        self._origin = _origin(settings.base_url)
        self._prefer = f'odata.maxpagesize={settings.page_size}, IdType="ImmutableId"'

    def serves(self, url: str) -> bool:
        """True when `url` is at graph.base_url's origin: the only place the token goes."""
        return _origin(url) == self._origin

    def call(
        self,
        method: str,
        url: str,
        what: str,
        *,
        expect: range | tuple[int, ...] = (),
        json: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """A 2xx answer to the request; `_Refused` for a status in `expect`, `SourceUnavailableError` for the rest."""
        if not self.serves(url):
            raise SourceUnavailableError(
                f"Microsoft Graph sent a link to {_origin(url)[1] or url} while {what}, outside graph.base_url "
                f"{self.settings.base_url}: not followed",
                hint="graph.base_url must be the address Graph itself answers at (https://graph.microsoft.com/v1.0)",
            )
        renew = renewed = False
        while True:
            headers = {"Authorization": f"Bearer {self.tokens.token(fresh=renew)}", "Prefer": self._prefer}
            renew = False
            try:
                response = self.session.request(
                    method, url, headers=headers, json=json, stream=stream, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise self.unreachable(exc, what) from exc
            status = response.status_code
            if status == 401 and not renewed:
                # The kept token was refused before its time (revoked, or the clocks disagree): one new one.
                response.close()
                renew = renewed = True
                continue
            if status in RETRIED_STATUSES:
                self._wait(response, what)
                continue
            if 200 <= status < 300:
                return response
            refusal = self._refusal(response, what, expect)
            response.close()
            raise refusal

    def json(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        with self.call(method, url, what, **kwargs) as response:
            try:
                body = response.json()
            except ValueError as exc:
                raise SourceUnavailableError(
                    f"Microsoft Graph answered {what} with something that is not JSON "
                    f"({response.headers.get('Content-Type', 'no Content-Type')})",
                    hint=f"check graph.base_url ({self.settings.base_url}): it must be the Graph service, "
                    "not a proxy's or a sign-in page",
                ) from exc
        if not isinstance(body, dict):
            raise SourceUnavailableError(f"Microsoft Graph answered {what} with JSON that is not an object")
        return body

    def _wait(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        delay = _retry_after(response.headers.get("Retry-After"))
        response.close()
        limit = self.settings.max_retry_wait_s
        if self.waited_s + delay > limit:
            raise SourceUnavailableError(
                f"Microsoft Graph throttled the requests for {self.settings.mailbox} ({status}, asked to wait "
                f"{delay:g} s more after {self.waited_s:g} s) while {what}: over graph.max_retry_wait_s = {limit:g} s",
                hint="Graph limits each app per mailbox (other apps reading the same mailbox count too); the next run "
                "goes on where this one stopped, or raise graph.max_retry_wait_s. Files already in the inbox are "
                "still taken in",
            )
        log.info("%s: Graph answered %d while %s; waiting %g s", self.settings.mailbox, status, what, delay)
        time.sleep(delay)
        self.waited_s += delay

    def _refusal(
        self, response: requests.Response, what: str, expect: range | tuple[int, ...]
    ) -> _Refused | SourceUnavailableError:
        status = response.status_code
        code, message = _error_of(response)
        mailbox = self.settings.mailbox
        app = self.settings.oauth2.client_id
        if status == 403:
            return SourceUnavailableError(
                f"Microsoft Graph denied the app {app} access to the mailbox {mailbox} (graph.mailbox) while {what}: "
                f"{code or status} {message}".rstrip(),
                hint="the app registration needs the Microsoft Graph application permission Mail.ReadWrite with "
                "admin consent (Entra admin center → App registrations → the app → API permissions → Grant admin "
                "consent); if an Exchange application access policy limits the app (New-ApplicationAccessPolicy "
                f"-AccessRight RestrictAccess), its group must include {mailbox} "
                f"(check with Test-ApplicationAccessPolicy -Identity {mailbox} -AppId {app})",
            )
        if status == 404 and code in _MAILBOX_CODES:
            return SourceUnavailableError(
                f"Microsoft Graph has no mailbox {mailbox} (graph.mailbox) that the app can read: {code} {message}".rstrip(),
                hint="set graph.mailbox to the address or user principal name of a mailbox in Exchange Online of the "
                f"tenant {self.settings.oauth2.tenant_id} (a shared mailbox will do; MailboxNotEnabledForRESTAPI "
                "means the mailbox is on-premises, inactive or not licensed)",
            )
        if status == 401:
            return SourceUnavailableError(
                f"Microsoft Graph refused two tokens of the app {app} in a row, the second one new, while {what}: "
                f"{code} {message}".rstrip(),
                hint="the token must be for Microsoft Graph: remove graph.oauth2.scope (the default is "
                f"{GRAPH_SCOPE}), and graph.oauth2.tenant_id must be the tenant of {mailbox}",
            )
        if status in expect:
            return _Refused(status, code, message)
        if status >= 500:
            hint = "Graph's own trouble, which passes: the next run tries again; files already in the inbox are still taken in"
        else:
            hint = f"check [arkivskaper.graph]: folder = '{self.settings.folder}', move_to = '{self.settings.move_to}'"
        return SourceUnavailableError(
            f"Microsoft Graph answered {status} {code} while {what} in {mailbox}: {message}".rstrip(), hint=hint
        )

    def unreachable(self, exc: requests.RequestException, what: str) -> SourceUnavailableError:
        where = f"Microsoft Graph at {self.settings.base_url} (graph.base_url)"
        if isinstance(exc, requests.exceptions.SSLError):
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                return SourceUnavailableError(
                    f"{where} has a certificate that is not trusted",
                    hint="if it uses a private CA (a test server, a proxy that inspects TLS), set graph.cafile to "
                    "that CA's certificate (PEM)",
                )
            return SourceUnavailableError(f"TLS with {where} failed while {what}: {_reason(exc)}", hint=_CONNECT_HINT)
        if isinstance(exc, requests.Timeout):
            return SourceUnavailableError(
                f"{where} did not answer within {self.settings.timeout_s:g} s (graph.timeout_s) while {what}",
                hint=_CONNECT_HINT,
            )
        if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return SourceUnavailableError(f"cannot connect to {where}: {_reason(exc)}", hint=_CONNECT_HINT)
        return SourceUnavailableError(f"the connection to {where} broke while {what}: {_reason(exc)}", hint=_CONNECT_HINT)

    # ---- folders --------------------------------------------------------------------------------

    def folder(self, name: str) -> dict[str, Any] | None:
        """A well-known folder (inbox), or the top-level folder with this display name; None when there is none."""
        if name.lower() in WELL_KNOWN_FOLDERS:
            try:
                return self.json("GET", f"{self.root}/mailFolders/{name.lower()}", f"reading the folder {name}",
                                 expect=(404,))
            except _Refused:
                return None  # e.g. 'archive' in a mailbox without an archive folder
        literal = name.replace("'", "''")  # OData's quoting of a string literal
        query = quote(f"displayName eq '{literal}'", safe="")
        found = self.json("GET", f"{self.root}/mailFolders?$filter={query}", f"looking up the folder '{name}'")
        folders = [f for f in found.get("value") or () if isinstance(f, dict) and isinstance(f.get("id"), str)]
        exact = [f for f in folders if f.get("displayName") == name]
        return (exact or folders)[0] if folders else None

    def source_folder(self) -> dict[str, Any]:
        folder = self.folder(self.settings.folder)
        if folder is None:
            raise SourceUnavailableError(
                f"the mailbox {self.settings.mailbox} has no folder '{self.settings.folder}' (graph.folder)",
                hint="graph.folder is a well-known folder name (inbox) or the display name of a folder at the top "
                "of the mailbox, beside the inbox",
            )
        return folder

    def move_folder(self) -> dict[str, Any]:
        """The folder `move_to`, created at the top of the mailbox when missing."""
        name = self.settings.move_to
        folder = self.folder(name)
        if folder is not None:
            return folder
        try:
            return self.json("POST", f"{self.root}/mailFolders", f"creating the folder '{name}' (graph.move_to)",
                             json={"displayName": name}, expect=(409,))
        except _Refused:
            folder = self.folder(name)  # created meanwhile by someone else
            if folder is None:
                raise SourceUnavailableError(
                    f"the folder '{name}' (graph.move_to) can neither be created in {self.settings.mailbox} nor found",
                    hint="graph.move_to is the display name of a folder at the top of the mailbox",
                ) from None
            return folder


@contextmanager
def _connect(settings: GraphSettings, tokens: TokenSource) -> Iterator[_Graph]:
    session = https_session(settings.cafile, settings.timeout_s, setting="graph.cafile")
    try:
        yield _Graph(settings, tokens, session)
    finally:
        session.close()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _segment(value: str) -> str:
    """A mailbox address or Graph id as one path segment: '@', '=', '/' and '+' encoded."""
    return quote(value, safe="")


def _retry_after(value: str | None) -> float:
    """Retry-After in seconds: a number, or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    return max(0.0, (moment - utcnow()).total_seconds())


def _error_of(response: requests.Response) -> tuple[str, str]:
    """Graph's error code and message (`{"error": {"code", "message"}}`), or the start of whatever came instead."""
    try:
        text = response.text
    except requests.RequestException:
        return "", ""
    try:
        error = response.json()["error"]
        return str(error.get("code") or ""), " ".join(str(error.get("message") or "").split())[:300]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", " ".join(text.split())[:200]


def _reason(exc: BaseException) -> str:
    """'Connection refused' rather than urllib3's paragraph about pools and retries."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\"()\]]+)", text) or re.search(r"\[SSL: [A-Z_]+\] ([^'\"()]+)", text)
    return found.group(1).strip() if found else type(exc).__name__


# ---- fetch ----------------------------------------------------------------------------------------


def fetch_graph(
    settings: GraphSettings,
    tokens: TokenSource,
    inbox: Path,
    *,
    arkivskaper_id: int,
    store: Store,
    actor: str,
    limits: IntakeLimits,
) -> FetchReport:
    """Copy every message of `settings.folder` not taken before into `inbox`; nothing changes on the server."""
    mailbox = graph_mailbox_key(settings)
    report = FetchReport(mailbox=mailbox)
    prepare_inbox(inbox)
    with _connect(settings, tokens) as graph:
        folder = graph.source_folder()
        listed, delta_link = _listing(graph, store, actor, mailbox, folder["id"])
        known = known_keys(store, mailbox, GRAPH_UIDVALIDITY)
        new = [entry for key, entry in listed.items() if key not in known]
        report.skipped_already_fetched = len(listed) - len(new)
        for entry in new:
            content = _download(graph, entry, limits, report)
            if content is None:
                continue
            take(
                content, key=entry["id"], uidvalidity=GRAPH_UIDVALIDITY, source="graph", mailbox=mailbox, inbox=inbox,
                arkivskaper_id=arkivskaper_id, store=store, actor=actor, report=report,
            )
    if report.too_large or report.errors:
        log.info("%s: messages were left behind; the next run lists from the same point again", mailbox)
    else:
        _keep_cursor(store, actor, mailbox, delta_link)
    return report


def _listing(graph: _Graph, store: Store, actor: str, mailbox: str, folder_id: str) -> tuple[dict[str, dict], str]:
    """The messages listed (by id) and the deltaLink that follows them: since the kept cursor, or all."""
    full = f"{graph.root}/mailFolders/{_segment(folder_id)}/messages/delta?$select=id,internetMessageId,receivedDateTime"
    with store.read() as session:
        kept = session.get(tables.MailboxCursor, mailbox)
    if kept is not None:
        if graph.serves(kept.cursor):
            try:
                # 400 and 404 too: a cursor of a folder since deleted and made again, or one Graph cannot read.
                return _delta_round(graph, kept.cursor, expect=(400, 404, 410))
            except _Refused as exc:
                log.info("%s: Graph no longer knows the kept delta cursor (%s); listing the whole folder", mailbox, exc)
        else:
            log.info("%s: the kept delta cursor is not at graph.base_url; listing the whole folder", mailbox)
        _forget_cursor(store, actor, mailbox)
    return _delta_round(graph, full, expect=())


def _delta_round(graph: _Graph, url: str, *, expect: tuple[int, ...]) -> tuple[dict[str, dict], str]:
    listed: dict[str, dict] = {}
    while True:
        page = graph.json("GET", url, "listing the folder", expect=expect)
        for entry in page.get("value") or ():
            # '@removed': moved out or deleted since the cursor; nothing to take.
            if isinstance(entry, dict) and isinstance(entry.get("id"), str) and "@removed" not in entry:
                listed.setdefault(entry["id"], entry)
        next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
        if isinstance(next_link, str):
            url = next_link
        elif isinstance(delta_link, str):
            return listed, delta_link
        else:
            raise SourceUnavailableError(
                f"Microsoft Graph ended the listing of {graph.settings.folder} in {graph.settings.mailbox} "
                "without a nextLink or deltaLink",
                hint=f"check graph.base_url ({graph.settings.base_url}): it must be the Graph service itself",
            )


def _described(mailbox: str, entry: dict) -> str:
    """The message as a person can find it in Outlook: when it came and its Message-ID."""
    described = f"{mailbox}: the message {entry.get('internetMessageId') or entry['id']}"
    return f"{described} received {entry['receivedDateTime']}" if entry.get("receivedDateTime") else described


def _download(graph: _Graph, entry: dict, limits: IntakeLimits, report: FetchReport) -> bytes | None:
    """The message's MIME as Graph keeps it; None when it is too large (reading stopped there) or gone."""
    what = _described(report.mailbox, entry)
    url = f"{graph.root}/messages/{_segment(entry['id'])}/$value"
    try:
        response = graph.call("GET", url, f"downloading {what}", expect=_ANY_4XX, stream=True)
    except _Refused as exc:
        if exc.status == 404:
            log.info("%s was deleted before it was downloaded", what)
        else:
            report.errors.append(f"{what}: cannot be downloaded: {exc}")
        return None
    with response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limits.max_file_bytes:
            report.too_large.append(too_large(what, int(declared), limits))
            return None
        content = bytearray()
        try:
            for chunk in response.iter_content(_CHUNK):
                content += chunk
                if len(content) > limits.max_file_bytes:
                    # Closing unread drops the connection: the rest is never transferred.
                    report.too_large.append(too_large(f"{what} (no size given; stopped reading after)", len(content), limits))
                    return None
        except requests.RequestException as exc:
            raise graph.unreachable(exc, f"downloading {what}") from exc
    return bytes(content)


def _keep_cursor(store: Store, actor: str, mailbox: str, link: str) -> None:
    with store.write(actor) as session:
        row = session.get(tables.MailboxCursor, mailbox)
        if row is None:
            session.add(tables.MailboxCursor(mailbox=mailbox, cursor=link, updated_at=utcnow()))
        else:
            row.cursor, row.updated_at = link, utcnow()


def _forget_cursor(store: Store, actor: str, mailbox: str) -> None:
    with store.write(actor) as session:
        row = session.get(tables.MailboxCursor, mailbox)
        if row is not None:
            session.delete(row)


# ---- dispose and probe ----------------------------------------------------------------------------


def dispose_graph(
    settings: GraphSettings,
    tokens: TokenSource,
    *,
    store: Store,
    actor: str,
    arkivskaper_id: int,
    done: Callable[[str], bool] | None = None,
) -> DisposeReport:
    """Move (or mark read) fetched messages whose inbox file is journaled or quarantined.

    `done(sha256)` says whether the inbox file with that SHA-256 is settled; by
    default the intake_item table is asked (`settled_in_intake`). Without any
    settled message Graph is not contacted. A message Graph no longer has was
    cleared by someone else and counts as done; one Graph refuses is reported
    and tried again next run.
    """
    mailbox = graph_mailbox_key(settings)
    report = DisposeReport(mailbox=mailbox)
    done = done or settled_in_intake(store, arkivskaper_id)
    pending = undisposed(store, mailbox)
    ready = [row for row in pending if done(row.sha256)]
    report.waiting = len(pending) - len(ready)
    if not ready:
        return report
    cleared: list[int] = []
    try:
        with _connect(settings, tokens) as graph:
            destination = graph.move_folder()["id"] if settings.after_fetch == "move" else None
            for row in ready:
                url = f"{graph.root}/messages/{_segment(row.message_key)}"
                try:
                    if destination is None:
                        graph.call("PATCH", url, f"marking {row.inbox_name} read", json={"isRead": True},
                                   expect=_ANY_4XX).close()
                    else:
                        graph.call("POST", f"{url}/move", f"moving {row.inbox_name} to '{settings.move_to}'",
                                   json={"destinationId": destination}, expect=_ANY_4XX).close()
                except _Refused as exc:
                    if exc.status != 404:
                        done_how = "marked read" if destination is None else f"moved to '{settings.move_to}'"
                        report.errors.append(f"{mailbox}: the message of {row.inbox_name} cannot be {done_how}: {exc}")
                        continue
                    log.info("%s: the message of %s is no longer in the mailbox", mailbox, row.inbox_name)
                cleared.append(row.id)
    finally:
        # What was moved stays recorded as moved even when Graph stops answering half-way.
        mark_disposed(store, actor, cleared)
        report.disposed = len(cleared)
    return report


def probe_graph(settings: GraphSettings, tokens: TokenSource) -> str:
    """Sign in and read the folder, changing nothing; one line on what works, or `SourceUnavailableError`."""
    with _connect(settings, tokens) as graph:
        folder = graph.source_folder()
        if settings.after_fetch == "flag":
            after = "journaled messages are marked read"
        elif (target := graph.folder(settings.move_to)) is not None:
            after = f"journaled messages are moved to '{target.get('displayName') or settings.move_to}'"
        else:
            after = f"journaled messages are moved to '{settings.move_to}', created at the first move"
    shown = folder.get("displayName") or settings.folder
    return (
        f"Microsoft Graph: the app {settings.oauth2.client_id} reads the folder '{shown}' of {settings.mailbox}; "
        f"{after}"
    )
