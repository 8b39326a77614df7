"""The run's structured log: one JSON object per line, appended to a file.

Nobody watches the nightly run, so what it did must be readable afterwards by
a program (a log shipper, `jq`, a monitoring check) as well as by a person.
Each run appends, in order:

- `run_start` once the run has its id (run id, pid, host, version, config);
- `item` for every inbox item: its arkivskaper, file name, SHA-256 (the
  item's identity), outcome, journal number or quarantine reason;
- `log` for every warning or error any part of noarkpipe logged meanwhile
  (a mailbox that could not be read, a report that could not be mailed);
- `run_end` always, also when the run never started (lock held, store down):
  outcome, exit code and its name, counts, seconds per stage.

Every line carries `ts` (UTC, ISO 8601) and `event`; lines of one run carry
its `run_id`. The file is opened in append mode for each run and closed
after it, so logrotate may rename it (or copy and truncate it) between runs
and noarkpipe never rotates anything itself. Identity numbers that slip into
a file name are masked before anything is written.

Human-readable lines go to stderr through the standard `logging` module:
one INFO line per item (shown with --verbose), a WARNING per quarantined item.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from noarkpipe import __version__
from noarkpipe.clock import utcnow
from noarkpipe.errors import ConfigError, ExitCode, NoarkpipeError
from noarkpipe.ops.redact import mask_identity_numbers

log = logging.getLogger(__name__)

FILE_MODE = 0o640  # file names and senders are internal, not public


class _CaptureWarnings(logging.Handler):
    """Copies warnings and errors logged anywhere in noarkpipe into the run's JSON log."""

    def __init__(self, runlog: RunLog) -> None:
        super().__init__(level=logging.WARNING)
        self.runlog = runlog

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == log.name:
            return  # our own item lines are already `item` events
        try:
            self.runlog.event("log", level=record.levelname, logger=record.name, message=record.getMessage())
        except Exception:
            self.handleError(record)


class RunLog:
    """`with RunLog(path) as runlog:` around one invocation of `noarkpipe run`."""

    def __init__(self, path: Path, *, config_path: Path | None = None) -> None:
        self.path = path
        self.config_path = config_path
        self.run_id: int | None = None
        self._fd: int | None = None
        self._capture = _CaptureWarnings(self)
        self._ended = False

    def __enter__(self) -> RunLog:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise ConfigError(
                f"cannot open the run log {self.path} for appending: {exc.strerror}",
                hint="set [logging] json_file to a file the user running noarkpipe may write, "
                "or make its folder writable",
            ) from exc
        self._fd = fd
        logging.getLogger("noarkpipe").addHandler(self._capture)
        return self

    def __exit__(self, exc_type, exc, _tb) -> None:
        try:
            if not self._ended:
                self.run_failed(exc if exc is not None else RuntimeError("run ended without a result"))
        finally:
            logging.getLogger("noarkpipe").removeHandler(self._capture)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def event(self, name: str, **fields: Any) -> None:
        if self._fd is None:
            return
        record = {"ts": utcnow().isoformat(timespec="milliseconds"), "event": name}
        if self.run_id is not None:
            record["run_id"] = self.run_id
        record.update(fields)
        line = json.dumps(_masked(record), ensure_ascii=False, default=str)
        try:
            # One unbuffered write per line: with O_APPEND, lines of concurrent writers never mix.
            os.write(self._fd, (line + "\n").encode("utf-8"))
        except OSError as exc:  # disk full, file system gone: the journaling must go on; say so once
            os.close(self._fd)
            self._fd = None
            log.error("the run log %s cannot be written (%s); the run goes on without it", self.path, exc)

    def run_started(self, run_id: int) -> None:
        self.run_id = run_id
        self.event(
            "run_start",
            pid=os.getpid(),
            host=socket.gethostname(),
            version=__version__,
            config=str(self.config_path) if self.config_path else None,
        )

    def item(self, result) -> None:
        """One inbox item's outcome (an `ItemResult` from the nightly loop)."""
        self.event(
            "item",
            arkivskaper=result.arkivskaper,
            item=result.origin_name,
            sha256=result.sha256,
            outcome=result.outcome.value,
            journalpost=result.journalpost,
            saksmappe=result.saksmappe,
            journalstatus=result.journalstatus,
            reason=result.reason,
            quarantine_path=result.quarantine_path,
        )
        what = mask_identity_numbers(f"{result.arkivskaper}: {result.origin_name}")
        if result.outcome.value == "quarantined":
            log.warning("%s quarantined: %s", what, mask_identity_numbers(result.reason or ""))
        elif result.journalpost:
            log.info("%s %s as %s (%s)", what, result.outcome.value, result.journalpost, result.saksmappe or "-")
        else:
            log.info("%s %s", what, result.outcome.value)

    def run_finished(self, summary, exit_code: ExitCode) -> None:
        self._ended = True
        duration = (summary.finished_at - summary.started_at).total_seconds() if summary.finished_at else None
        self.event(
            "run_end",
            outcome="stopped" if summary.stopped_early else "completed",
            exit_code=int(exit_code),
            exit_name=exit_code.name,
            duration_s=round(duration, 3) if duration is not None else None,
            journaled=summary.journaled,
            needs_review=summary.needs_review,
            quarantined=summary.quarantined,
            duplicates=summary.duplicates,
            unavailable_sources=summary.unavailable_sources,
            stages={name: round(t.seconds, 3) for name, t in summary.stages.items()},
            notes=summary.notes,
        )

    def run_failed(self, exc: BaseException) -> None:
        """The run did not complete: already running, store down, a bug, Ctrl-C before the first item."""
        self._ended = True
        if isinstance(exc, NoarkpipeError):
            code = exc.exit_code
        elif isinstance(exc, KeyboardInterrupt):
            code = ExitCode.ctrl_c
        else:
            code = ExitCode.internal_error
        outcome = "already_running" if code == ExitCode.already_running else "failed"
        self.event(
            "run_end",
            outcome=outcome,
            exit_code=int(code),
            exit_name=code.name,
            error=f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}",
        )


_NOT_MASKED = frozenset({"ts", "sha256"})  # a hex digest may hold eleven digits in a row by chance


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_identity_numbers(value)
    if isinstance(value, dict):
        return {key: item if key in _NOT_MASKED else _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value
