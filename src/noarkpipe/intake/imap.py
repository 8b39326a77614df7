"""The post mailbox over IMAP: fetch new messages into the inbox, move or flag them once journaled.

The rules every mailbox source follows are in `intake/mailbox.py`; here: the
connection (verified TLS; the password from the environment, or for Microsoft
365 an OAuth2 token by SASL XOAUTH2 or OAUTHBEARER), the folder read
read-only, UIDs within UIDVALIDITY, sizes asked before download.
"""

from __future__ import annotations

import base64
import imaplib
import logging
import os
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

from noarkpipe.config import ImapSettings
from noarkpipe.core.context import IntakeLimits
from noarkpipe.errors import ConfigError, SourceUnavailableError
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
from noarkpipe.intake.oauth2 import IMAP_SCOPE, TokenSource
from noarkpipe.store.engine import Store

log = logging.getLogger(__name__)

UID_BATCH = 500

ImapCredential = str | TokenSource
"""The password (auth = 'password'), or the app's tokens (auth = 'xoauth2' or 'oauthbearer')."""

_TOKEN_HINT = (
    "the app needs the Office 365 Exchange Online application permission IMAP.AccessAsApp with admin consent, "
    "its service principal registered in Exchange (New-ServicePrincipal) and access to the mailbox "
    "(Add-MailboxPermission -User <service principal id> -AccessRights FullAccess)"
)


def imap_password(settings: ImapSettings, environ: Mapping[str, str] | None = None) -> str:
    """The password from the environment variable `password_env` names, or the config's `password`."""
    environ = os.environ if environ is None else environ
    if settings.password_env:
        value = environ.get(settings.password_env)
        if value is None:
            raise ConfigError(
                f"the environment variable {settings.password_env} (imap.password_env for {settings.username}"
                f"@{settings.host}) is not set",
                hint=f"set {settings.password_env} in the environment of the cron job or systemd unit "
                "(e.g. EnvironmentFile=)",
            )
        return value
    return settings.password or ""


def imap_credential(settings: ImapSettings, environ: Mapping[str, str] | None = None) -> ImapCredential:
    """What signs in to the server: the password, or a token source for the app registration."""
    if settings.auth == "password":
        return imap_password(settings, environ)
    assert settings.oauth2 is not None  # ImapSettings requires it for token sign-in
    return TokenSource(settings.oauth2, IMAP_SCOPE, setting="imap.oauth2", environ=environ)


def imap_mailbox_key(settings: ImapSettings) -> str:
    """`imaps://postmottak%40fjellvik.kommune.no@mail.example.no:993/INBOX`: names the folder in `fetched_message`."""
    scheme = "imaps" if settings.tls == "ssl" else "imap"
    user = quote(settings.username, safe="")
    return f"{scheme}://{user}@{settings.host}:{settings.effective_port}/{quote(settings.folder, safe='/')}"


def imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3): 'Journalført' → 'Journalf&APg-rt'."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quoted(folder: str) -> str:
    return '"' + imap_utf7(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


def uid_set(uids: Iterable[int]) -> str:
    """'1:3,7,9:10' for [1, 2, 3, 7, 9, 10]."""
    ranges: list[list[int]] = []
    for uid in sorted(set(uids)):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ssl_context(settings: ImapSettings) -> ssl.SSLContext:
    """Verifies the chain and the host name; `cafile` adds a private CA."""
    try:
        return ssl.create_default_context(cafile=str(settings.cafile) if settings.cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"imap.cafile {settings.cafile} cannot be used: {getattr(exc, 'strerror', None) or exc}",
            hint="cafile must be a readable PEM file with the CA certificate(s)",
        ) from exc


def _login(imap: imaplib.IMAP4, username: str, password: str) -> None:
    if (username + password).isascii():
        imap.login(username, password)
    else:
        # LOGIN cannot carry non-ASCII; SASL PLAIN carries UTF-8 (RFC 4616).
        imap.authenticate("PLAIN", lambda _challenge: f"\0{username}\0{password}".encode())


def _token_response(settings: ImapSettings, token: str) -> bytes:
    """The client's first SASL message: XOAUTH2 (Microsoft's, Google's) or OAUTHBEARER (RFC 7628)."""
    if settings.auth == "xoauth2":
        return f"user={settings.username}\x01auth=Bearer {token}\x01\x01".encode()
    user = settings.username.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={user},\x01host={settings.host}\x01port={settings.effective_port}\x01auth=Bearer {token}\x01\x01".encode()


def _authenticate_with_token(imap: imaplib.IMAP4, settings: ImapSettings, token: str) -> None:
    sent = False

    def respond(_challenge: bytes) -> bytes:
        # After a refusal the server sends its error as a challenge and wants an empty answer (RFC 7628 3.2.3).
        nonlocal sent
        if sent:
            return b""
        sent = True
        return _token_response(settings, token)

    imap.authenticate(settings.auth.upper(), respond)


def _token_login(imap: imaplib.IMAP4, settings: ImapSettings, tokens: TokenSource) -> None:
    """Sign in with the kept token; once refused (expired or revoked early), with a new one."""
    try:
        _authenticate_with_token(imap, settings, tokens.token())
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error:
        _authenticate_with_token(imap, settings, tokens.token(fresh=True))


@contextmanager
def _imap_session(settings: ImapSettings, credential: ImapCredential) -> Iterator[imaplib.IMAP4]:
    """A logged-in connection; every network, TLS or login failure becomes `SourceUnavailableError`."""
    where = f"{settings.host}:{settings.effective_port}"
    hint_connect = "check host, port and tls under [arkivskaper.imap]; files already in the inbox are still taken in"
    context = _ssl_context(settings) if settings.tls != "none" else None
    imap: imaplib.IMAP4
    try:
        if settings.tls == "ssl":
            imap = imaplib.IMAP4_SSL(
                settings.host, settings.effective_port, ssl_context=context, timeout=settings.timeout_s
            )
        else:
            imap = imaplib.IMAP4(settings.host, settings.effective_port, timeout=settings.timeout_s)
            if context is not None:
                try:
                    imap.starttls(ssl_context=context)
                except BaseException:
                    imap.shutdown()
                    raise
    except ssl.SSLCertVerificationError as exc:
        raise SourceUnavailableError(
            f"the IMAP server {where} has a certificate that is not trusted: {exc.verify_message}",
            hint="if it uses a private CA, set imap.cafile to that CA's certificate (PEM)",
        ) from exc
    except ssl.SSLError as exc:
        raise SourceUnavailableError(
            f"TLS with the IMAP server {where} failed: {exc.reason or exc}",
            hint="tls = 'ssl' needs the IMAPS port (usually 993); port 143 takes tls = 'starttls'",
        ) from exc
    except TimeoutError as exc:
        raise SourceUnavailableError(
            f"the IMAP server {where} did not answer within {settings.timeout_s:g} s", hint=hint_connect
        ) from exc
    except (OSError, imaplib.IMAP4.error) as exc:
        raise SourceUnavailableError(f"cannot connect to the IMAP server {where}: {_why(exc)}",
                                     hint=hint_connect) from exc
    try:
        try:
            if isinstance(credential, TokenSource):
                _token_login(imap, settings, credential)
            else:
                _login(imap, settings.username, credential)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            if isinstance(credential, TokenSource):
                hint = f"the token was refused for {settings.username}: {_TOKEN_HINT}"
            else:
                hint = f"check imap.username and the password in {settings.password_env or 'imap.password'}"
            raise SourceUnavailableError(
                f"the IMAP server {where} refused the login of {settings.username}: {_why(exc)}", hint=hint
            ) from exc
        yield imap
    # Only network errors are translated: an OSError writing the inbox is not the server's fault.
    except TimeoutError as exc:
        raise SourceUnavailableError(f"the IMAP server {where} stopped answering (timeout "
                                     f"{settings.timeout_s:g} s)", hint=hint_connect) from exc
    except (ConnectionError, ssl.SSLError, imaplib.IMAP4.abort) as exc:
        raise SourceUnavailableError(f"the connection to the IMAP server {where} broke: {_why(exc)}",
                                     hint=hint_connect) from exc
    except imaplib.IMAP4.error as exc:
        raise SourceUnavailableError(f"the IMAP server {where} rejected a command: {_why(exc)}") from exc
    finally:
        with suppress(Exception):
            imap.logout()


def _text(value: object) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return (_text(exc.args[0]) if exc.args else "") or type(exc).__name__


def _ok(response: tuple[str, list], what: str) -> list:
    status, data = response
    if status != "OK":
        said = " ".join(_text(line) for line in data if line and not isinstance(line, tuple))
        raise imaplib.IMAP4.error(f"{what}: {status} {said}".strip())
    return data


def _capabilities(imap: imaplib.IMAP4) -> set[str]:
    # imaplib keeps only the greeting's list; servers announce MOVE and UIDPLUS after login.
    data = _ok(imap.capability(), "CAPABILITY")
    return {word.upper() for line in data if line for word in line.decode("ascii", "replace").split()}


def _select(imap: imaplib.IMAP4, folder: str, *, readonly: bool) -> int:
    """Select `folder` and return its UIDVALIDITY."""
    _ok(imap.select(_quoted(folder), readonly=readonly), f"cannot open the folder '{folder}'")
    _, values = imap.response("UIDVALIDITY")
    return int(values[-1])


def _search_all(imap: imaplib.IMAP4) -> list[int]:
    data = _ok(imap.uid("SEARCH", "ALL"), "UID SEARCH")
    return [int(uid) for line in data if line for uid in line.split()]


def _sizes(imap: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
    sizes = {}
    for batch in _batches(uids, UID_BATCH):
        for line in _ok(imap.uid("FETCH", uid_set(batch), "(RFC822.SIZE)"), "UID FETCH RFC822.SIZE"):
            meta = line[0] if isinstance(line, tuple) else line
            uid, size = re.search(rb"UID (\d+)", meta or b""), re.search(rb"RFC822\.SIZE (\d+)", meta or b"")
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _download(imap: imaplib.IMAP4, uid: int) -> bytes | None:
    for part in _ok(imap.uid("FETCH", str(uid), "(BODY.PEEK[])"), f"UID FETCH {uid}"):
        # Unsolicited FETCH responses (flag changes) may be mixed in, but never with a BODY[] literal.
        if isinstance(part, tuple) and b"BODY[]" in part[0]:
            return part[1]
    return None


def fetch_imap(
    settings: ImapSettings,
    credential: ImapCredential,
    inbox: Path,
    *,
    arkivskaper_id: int,
    store: Store,
    actor: str,
    limits: IntakeLimits,
) -> FetchReport:
    """Copy every message of `settings.folder` not taken before into `inbox`; nothing changes on the server."""
    mailbox = imap_mailbox_key(settings)
    report = FetchReport(mailbox=mailbox)
    prepare_inbox(inbox)
    with _imap_session(settings, credential) as imap:
        # EXAMINE (read-only) guarantees that fetching cannot set \Seen or anything else.
        uidvalidity = _select(imap, settings.folder, readonly=True)
        known = known_keys(store, mailbox, uidvalidity)
        uids = _search_all(imap)
        new = [uid for uid in uids if str(uid) not in known]
        report.skipped_already_fetched = len(uids) - len(new)
        sizes = _sizes(imap, new)
        for uid in new:
            size = sizes.get(uid)
            if size is None:
                continue  # expunged by someone else since the search
            if size > limits.max_file_bytes:
                report.too_large.append(too_large(f"{mailbox} UID {uid}", size, limits))
                continue
            content = _download(imap, uid)
            if content is None:
                report.errors.append(f"UID {uid} disappeared from {settings.folder} before it was downloaded")
                continue
            if len(content) > limits.max_file_bytes:  # the server under-reported its size
                report.too_large.append(too_large(f"{mailbox} UID {uid}", len(content), limits))
                continue
            take(
                content, key=str(uid), uidvalidity=uidvalidity, source="imap", mailbox=mailbox, inbox=inbox,
                arkivskaper_id=arkivskaper_id, store=store, actor=actor, report=report,
            )
    return report


def probe_imap(settings: ImapSettings, credential: ImapCredential) -> str:
    """Sign in and open the folder read-only, as the nightly fetch does; what works, in one line.

    Raises `SourceUnavailableError` with the fix when something does not.
    Nothing changes on the server: `move_to` is only looked for, not created.
    """
    with _imap_session(settings, credential) as imap:
        _select(imap, settings.folder, readonly=True)
        count = len(_search_all(imap))
        how = "token" if isinstance(credential, TokenSource) else "password"
        said = f"signed in as {settings.username} by {how}, folder {settings.folder}: {count} message{'' if count == 1 else 's'}"
        if settings.after_fetch == "move":
            found = any(_ok(imap.list('""', _quoted(settings.move_to)), "LIST"))
            said += f"; {settings.move_to} {'exists' if found else 'will be created at the first move'}"
        return said


def _ensure_folder(imap: imaplib.IMAP4, folder: str) -> None:
    data = _ok(imap.list('""', _quoted(folder)), "LIST")
    if not any(data):
        _ok(imap.create(_quoted(folder)), f"CREATE {folder}")


def _move(imap: imaplib.IMAP4, uids: str, folder: str, capabilities: set[str]) -> str | None:
    """Move `uids` to `folder`; returns a note when they could only be marked \\Deleted."""
    if "MOVE" in capabilities:
        _ok(imap.uid("MOVE", uids, _quoted(folder)), f"UID MOVE to {folder}")
        return None
    _ok(imap.uid("COPY", uids, _quoted(folder)), f"UID COPY to {folder}")
    _ok(imap.uid("STORE", uids, "+FLAGS.SILENT", r"(\Deleted)"), "UID STORE \\Deleted")
    if "UIDPLUS" in capabilities:
        # Expunges only these UIDs, never messages someone else marked \Deleted.
        _ok(imap.uid("EXPUNGE", uids), "UID EXPUNGE")
        return None
    return (
        f"the server has neither MOVE nor UIDPLUS: messages copied to {folder} are left "
        "marked \\Deleted in the folder until a mail client expunges it"
    )


def dispose_fetched(
    settings: ImapSettings,
    credential: ImapCredential,
    *,
    arkivskaper_id: int,
    store: Store,
    actor: str,
    done: Callable[[str], bool] | None = None,
) -> DisposeReport:
    """Move (or flag as seen) fetched messages whose inbox file is journaled or quarantined.

    `done(sha256)` says whether the inbox file with that SHA-256 is settled;
    by default the intake_item table is asked (`settled_in_intake`). Without
    any settled message the server is not contacted.
    """
    mailbox = imap_mailbox_key(settings)
    report = DisposeReport(mailbox=mailbox)
    done = done or settled_in_intake(store, arkivskaper_id)
    pending = undisposed(store, mailbox)
    ready = [row for row in pending if done(row.sha256)]
    report.waiting = len(pending) - len(ready)
    if not ready:
        return report
    with _imap_session(settings, credential) as imap:
        capabilities = _capabilities(imap)
        uidvalidity = _select(imap, settings.folder, readonly=False)
        stale = len([row for row in ready if row.uidvalidity != uidvalidity])
        if stale:
            # Their UIDs address nothing any more; fetch recorded them again under the new numbers.
            log.info("%s: %d fetched messages belong to an old UIDVALIDITY and are left alone", mailbox, stale)
        current = [row for row in ready if row.uidvalidity == uidvalidity]
        if current and settings.after_fetch == "move":
            _ensure_folder(imap, settings.move_to)
        for batch in _batches(current, UID_BATCH):
            uids = uid_set(int(row.message_key) for row in batch)
            if settings.after_fetch == "flag":
                _ok(imap.uid("STORE", uids, "+FLAGS.SILENT", r"(\Seen)"), "UID STORE \\Seen")
            else:
                note = _move(imap, uids, settings.move_to, capabilities)
                if note and note not in report.errors:
                    report.errors.append(note)
            mark_disposed(store, actor, (row.id for row in batch))
            report.disposed += len(batch)
    return report
