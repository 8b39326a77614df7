"""Task functions the Dask tests send to the workers by name (workers find this module on PYTHONPATH)."""

from __future__ import annotations

import os
import time


def where(job: str) -> tuple[str, int]:
    return job, os.getpid()


def fail(job: str) -> None:
    raise ValueError(f"bad job {job!r}")


def sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()
