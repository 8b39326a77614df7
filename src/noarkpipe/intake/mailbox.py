"""The post mailbox: take new mail into the inbox folder, and clear it once journaled.

Two sources, one rule set:

- IMAP (`fetch_imap`, `dispose_fetched`): the folder in `[arkivskaper.imap]`.
- A maildir on the server's own disk (`fetch_maildir`, `dispose_maildir`).

Fetching writes each message unchanged as an .eml file into the inbox, under
a hidden `.fetch-*` name that is fsynced and then renamed, so the nightly run
never sees half a message. Every message taken is recorded in
`fetched_message` *after* its file is in place: a crash in between means the
message is fetched once more, and the second copy is recognised downstream by
its SHA-256, so nothing is lost and nothing journaled twice.

A message is taken once. Its UID (within the folder's UIDVALIDITY) or maildir
key is recorded, and a message under a new UID whose Message-ID or SHA-256 was
already taken from the same mailbox (the server renumbered the folder, or
someone put a copy back) is recorded against the inbox file it was first taken
in as, without a new file, so it is cleared together with it.

Messages larger than `max_file_mb` are not downloaded and not recorded: they
stay in the mailbox untouched and are listed in `FetchReport.too_large` on
every run until someone raises the limit or handles them by hand.

Nothing is moved, flagged or deleted on the server at fetch time. Disposal
(move to `move_to`, or set \\Seen when `after_fetch = 'flag'`) happens only for
messages whose inbox file has been journaled, filed or quarantined.
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import logging
import mailbox as stdlib_mailbox
import os
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel, Field
from sqlalchemy import select

from noarkpipe.clock import utcnow
from noarkpipe.config import ImapSettings
from noarkpipe.core.context import IntakeLimits
from noarkpipe.errors import ConfigError, SourceUnavailableError
from noarkpipe.files.safety import safe_filename
from noarkpipe.store import tables
from noarkpipe.store.engine import Store
from noarkpipe.store.tables import ItemState

log = logging.getLogger(__name__)

TEMP_PREFIX = ".fetch-"
SETTLED_STATES = (ItemState.journaled, ItemState.filed, ItemState.quarantined)
"""`IntakeItem.state` values after which a message may leave the mailbox."""
UID_BATCH = 500
MAILDIR_UIDVALIDITY = 0


class FetchReport(BaseModel):
    mailbox: str
    fetched: list[str] = Field(default_factory=list, description="inbox file names written")
    skipped_already_fetched: int = Field(default=0, description="messages in the mailbox already taken in")
    too_large: list[str] = Field(default_factory=list, description="messages left in the mailbox: over max_file_mb")
    errors: list[str] = Field(default_factory=list, description="messages that could not be taken this time")


class DisposeReport(BaseModel):
    mailbox: str
    disposed: int = Field(default=0, description="messages moved or flagged now")
    waiting: int = Field(default=0, description="fetched messages not yet journaled or quarantined")
    errors: list[str] = Field(default_factory=list)


# ---- shared by both sources -------------------------------------------------


def inbox_name(moment: datetime, source: str, uidvalidity: int, key: str) -> str:
    """`20261123T060102Z-imap-1795450929-17.eml`: sortable by arrival, unique per message."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    middle = f"{source}-{uidvalidity}-{key}" if source == "imap" else f"{source}-{key}"
    return safe_filename(f"{stamp}-{middle}.eml", f"{stamp}-{source}.eml")


def message_id_of(content: bytes) -> str | None:
    """The Message-ID header, as written (angle brackets kept), or None."""
    head = re.split(rb"\r?\n\r?\n", content, maxsplit=1)[0]
    value = BytesHeaderParser(policy=compat32).parsebytes(head).get("Message-ID")
    text = " ".join(str(value or "").split())
    return text or None


def write_atomically(folder: Path, name: str, content: bytes) -> Path:
    """Put `content` at folder/name so that the name only ever shows the whole file."""
    final = folder / name
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    temporary = folder / f"{TEMP_PREFIX}{name}"
    try:
        with temporary.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return final


def _prepare_inbox(inbox: Path) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    # Only a fetch that was killed half-way leaves these behind, and they are incomplete.
    for leftover in inbox.glob(f"{TEMP_PREFIX}*"):
        leftover.unlink(missing_ok=True)


def settled_in_intake(store: Store, arkivskaper_id: int) -> Callable[[str], bool]:
    """True for the SHA-256 of an inbox file the nightly run has journaled, filed or quarantined."""

    def settled(sha256: str) -> bool:
        with store.read() as session:
            state = session.scalar(
                select(tables.IntakeItem.state)
                .where(tables.IntakeItem.arkivskaper_id == arkivskaper_id)
                .where(tables.IntakeItem.sha256 == sha256)
            )
        return state in SETTLED_STATES

    return settled


def _known_keys(store: Store, mailbox: str, uidvalidity: int) -> set[str]:
    with store.read() as session:
        return set(
            session.scalars(
                select(tables.FetchedMessage.message_key)
                .where(tables.FetchedMessage.mailbox == mailbox)
                .where(tables.FetchedMessage.uidvalidity == uidvalidity)
            )
        )


def _earlier_copy(store: Store, mailbox: str, sha256: str, message_id: str | None) -> tables.FetchedMessage | None:
    condition = tables.FetchedMessage.sha256 == sha256
    if message_id:
        condition = condition | (tables.FetchedMessage.message_id == message_id)
    with store.read() as session:
        return session.scalars(
            select(tables.FetchedMessage)
            .where(tables.FetchedMessage.mailbox == mailbox)
            .where(condition)
            .order_by(tables.FetchedMessage.id)
            .limit(1)
        ).first()


def _take(
    content: bytes,
    *,
    key: str,
    uidvalidity: int,
    source: str,
    mailbox: str,
    inbox: Path,
    arkivskaper_id: int,
    store: Store,
    actor: str,
    report: FetchReport,
) -> None:
    """Write one downloaded message into the inbox (unless taken before) and record it."""
    sha256 = hashlib.sha256(content).hexdigest()
    message_id = message_id_of(content)
    earlier = _earlier_copy(store, mailbox, sha256, message_id)
    now = utcnow()
    if earlier is not None:
        sha256, name = earlier.sha256, earlier.inbox_name
        report.skipped_already_fetched += 1
    else:
        name = inbox_name(now, source, uidvalidity, key)
        write_atomically(inbox, name, content)
        report.fetched.append(name)
    with store.write(actor) as session:
        session.add(
            tables.FetchedMessage(
                arkivskaper_id=arkivskaper_id,
                mailbox=mailbox,
                uidvalidity=uidvalidity,
                message_key=key,
                message_id=message_id,
                sha256=sha256,
                inbox_name=name,
                fetched_at=now,
            )
        )


def _undisposed(store: Store, mailbox: str) -> list[tables.FetchedMessage]:
    with store.read() as session:
        return list(
            session.scalars(
                select(tables.FetchedMessage)
                .where(tables.FetchedMessage.mailbox == mailbox)
                .where(tables.FetchedMessage.disposed_at.is_(None))
                .order_by(tables.FetchedMessage.id)
            )
        )


def _mark_disposed(store: Store, actor: str, ids: Iterable[int]) -> None:
    now = utcnow()
    with store.write(actor) as session:
        for row_id in ids:
            row = session.get(tables.FetchedMessage, row_id)
            assert row is not None  # the ids are of rows read from this table, whose rows are never deleted
            row.disposed_at = now


def _too_large(what: str, size: int, limits: IntakeLimits) -> str:
    text = f"{what}: {size / 1024 / 1024:.1f} MB, over max_file_mb = {limits.max_file_mb}; left in the mailbox"
    log.warning(text)
    return text


# ---- IMAP ---------------------------------------------------------------------


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


@contextmanager
def _imap_session(settings: ImapSettings, password: str) -> Iterator[imaplib.IMAP4]:
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
            _login(imap, settings.username, password)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            raise SourceUnavailableError(
                f"the IMAP server {where} refused the login of {settings.username}: {_why(exc)}",
                hint=f"check imap.username and the password in {settings.password_env or 'imap.password'}",
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
    password: str,
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
    _prepare_inbox(inbox)
    with _imap_session(settings, password) as imap:
        # EXAMINE (read-only) guarantees that fetching cannot set \Seen or anything else.
        uidvalidity = _select(imap, settings.folder, readonly=True)
        known = _known_keys(store, mailbox, uidvalidity)
        uids = _search_all(imap)
        new = [uid for uid in uids if str(uid) not in known]
        report.skipped_already_fetched = len(uids) - len(new)
        sizes = _sizes(imap, new)
        for uid in new:
            size = sizes.get(uid)
            if size is None:
                continue  # expunged by someone else since the search
            if size > limits.max_file_bytes:
                report.too_large.append(_too_large(f"{mailbox} UID {uid}", size, limits))
                continue
            content = _download(imap, uid)
            if content is None:
                report.errors.append(f"UID {uid} disappeared from {settings.folder} before it was downloaded")
                continue
            if len(content) > limits.max_file_bytes:  # the server under-reported its size
                report.too_large.append(_too_large(f"{mailbox} UID {uid}", len(content), limits))
                continue
            _take(
                content, key=str(uid), uidvalidity=uidvalidity, source="imap", mailbox=mailbox, inbox=inbox,
                arkivskaper_id=arkivskaper_id, store=store, actor=actor, report=report,
            )
    return report


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
    password: str,
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
    pending = _undisposed(store, mailbox)
    ready = [row for row in pending if done(row.sha256)]
    report.waiting = len(pending) - len(ready)
    if not ready:
        return report
    with _imap_session(settings, password) as imap:
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
            _mark_disposed(store, actor, (row.id for row in batch))
            report.disposed += len(batch)
    return report


# ---- maildir ------------------------------------------------------------------


def maildir_mailbox_key(maildir: Path) -> str:
    return f"maildir:{maildir.resolve()}"


def _open_maildir(maildir: Path) -> stdlib_mailbox.Maildir:
    if not (maildir / "new").is_dir() or not (maildir / "cur").is_dir():
        raise SourceUnavailableError(
            f"{maildir} is not a maildir (it needs the folders new/ and cur/)",
            hint="check arkivskaper.maildir in the config",
        )
    return stdlib_mailbox.Maildir(maildir, factory=None, create=False)


def fetch_maildir(
    maildir: Path,
    inbox: Path,
    *,
    arkivskaper_id: int,
    store: Store,
    actor: str,
    limits: IntakeLimits,
) -> FetchReport:
    """Copy every message in new/ and cur/ not taken before into `inbox`; the maildir is left as it is."""
    mailbox = maildir_mailbox_key(maildir)
    report = FetchReport(mailbox=mailbox)
    _prepare_inbox(inbox)
    source = _open_maildir(maildir)
    known = _known_keys(store, mailbox, MAILDIR_UIDVALIDITY)
    for key in sorted(source.keys()):
        if key in known:
            report.skipped_already_fetched += 1
            continue
        try:
            path = _maildir_file(maildir, key)
            size = path.stat().st_size
            content = path.read_bytes() if size <= limits.max_file_bytes else b""
        except FileNotFoundError:
            continue  # moved or deleted by someone else since the listing
        except OSError as exc:
            report.errors.append(f"{mailbox} {key}: cannot be read: {exc.strerror or exc}")
            continue
        if size > limits.max_file_bytes:
            report.too_large.append(_too_large(f"{mailbox} {key}", size, limits))
            continue
        _take(
            content, key=key, uidvalidity=MAILDIR_UIDVALIDITY, source="maildir", mailbox=mailbox, inbox=inbox,
            arkivskaper_id=arkivskaper_id, store=store, actor=actor, report=report,
        )
    return report


def _maildir_file(maildir: Path, key: str) -> Path:
    """Where the message `key` is now: new/<key>, or cur/<key>:2,<flags> (the maildir spec's names)."""
    candidate = maildir / "new" / key
    if candidate.exists():
        return candidate
    for path in (maildir / "cur").glob(f"{_glob_escape(key)}*"):
        if path.name == key or path.name.startswith(key + ":") or path.name.startswith(key + "!"):
            return path
    raise FileNotFoundError(f"{key} is no longer in {maildir}")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def seen_name(name: str, colon: str = ":") -> str:
    """The cur/ file name of a maildir message with the S (seen) flag added, other flags kept."""
    key, _, info = name.partition(colon)
    flags = info[2:] if info.startswith("2,") else ""
    return f"{key}{colon}2,{''.join(sorted(set(flags) | {'S'}))}"


def dispose_maildir(
    maildir: Path,
    *,
    store: Store,
    actor: str,
    arkivskaper_id: int,
    done: Callable[[str], bool] | None = None,
) -> DisposeReport:
    """Mark fetched maildir messages seen (move them to cur/ with the S flag) once journaled or quarantined."""
    mailbox = maildir_mailbox_key(maildir)
    report = DisposeReport(mailbox=mailbox)
    done = done or settled_in_intake(store, arkivskaper_id)
    pending = _undisposed(store, mailbox)
    ready = [row for row in pending if done(row.sha256)]
    report.waiting = len(pending) - len(ready)
    colon = _open_maildir(maildir).colon
    disposed = []
    for row in ready:
        try:
            current = _maildir_file(maildir, row.message_key)
            os.rename(current, maildir / "cur" / seen_name(current.name, colon))
        except FileNotFoundError:
            pass  # someone removed or moved it already: nothing left to clear
        except OSError as exc:
            report.errors.append(f"{mailbox} {row.message_key}: cannot be marked seen: {exc.strerror or exc}")
            continue
        disposed.append(row.id)
    _mark_disposed(store, actor, disposed)
    report.disposed = len(disposed)
    return report
