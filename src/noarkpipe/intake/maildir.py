"""The post mailbox as a maildir on the server's own disk: fetch new messages, mark them seen once journaled.

The rules both mailbox sources follow are in `intake/mailbox.py`.
"""

from __future__ import annotations

import logging
import mailbox as stdlib_mailbox
import os
import re
from collections.abc import Callable
from pathlib import Path

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
from noarkpipe.store.engine import Store

log = logging.getLogger(__name__)

MAILDIR_UIDVALIDITY = 0
"""A maildir has no UIDVALIDITY; its keys are recorded under this one."""


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
    prepare_inbox(inbox)
    source = _open_maildir(maildir)
    known = known_keys(store, mailbox, MAILDIR_UIDVALIDITY)
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
            report.too_large.append(too_large(f"{mailbox} {key}", size, limits))
            continue
        take(
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
    pending = undisposed(store, mailbox)
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
    mark_disposed(store, actor, disposed)
    report.disposed = len(disposed)
    return report
