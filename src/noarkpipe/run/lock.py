"""One nightly run at a time per data directory.

An flock on data/run.lock: the kernel drops it when the process dies, so a
crash or SIGKILL never leaves a stale lock that blocks the next night.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

from noarkpipe.clock import utcnow
from noarkpipe.errors import AlreadyRunningError


class RunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunningError(
                f"noarkpipe is already running for this data directory ({holder}; lock {self.path})",
                hint="wait for it to finish; this run did nothing",
            ) from None
        os.ftruncate(fd, 0)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": utcnow().isoformat()}
        os.write(fd, json.dumps(holder).encode())
        self._fd = fd
        return self

    def __exit__(self, *_exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
