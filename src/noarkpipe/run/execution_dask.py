"""The executor for a Dask distributed cluster: the `execution.Executor` interface, on other machines.

When one machine is not enough for a night's OCR and PDF/A work, the run
hands that work to a Dask cluster (`noarkpipe run --scheduler
tcp://host:8786`, or `[execution] scheduler` in the config) and keeps
everything else where it was: parsing, classification and journaling stay
in the run's own process, one database transaction per item, so the
numbering guarantees of the journal store do not depend on the cluster.

What the cluster needs:

- every worker has noarkpipe installed (same version) with its external
  programs (tesseract, ghostscript, LibreOffice), since the task functions
  are sent by name;
- the data directory is on storage every worker sees under the same path
  (NFS, CephFS, ...): jobs carry paths, never file contents, so a 2 GB
  scan batch is not shipped through the scheduler.

Tasks run through `execution.run_task`, so a failing job comes back as its
task's failure and never raises in the run. The function's own deadline
stops the external programs it started; on top of that, a task still
running `time_limit_s` after it was submitted is given up (its outcome says
timed out) and the worker holding it is restarted, which kills whatever it
was running. A worker that dies takes its task with it: Dask tries it again
on another worker up to `allowed-failures` times, then the outcome says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from noarkpipe.errors import MissingDependencyError, SourceUnavailableError
from noarkpipe.run.execution import TaskOutcome, run_task

J = TypeVar("J")
R = TypeVar("R")

CONNECT_TIMEOUT_S = 20


def _client(scheduler: str, connect_timeout_s: float):
    try:
        # Here, not at the top: importing distributed takes 0.7 s, which a run without a scheduler does not pay.
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - dask is a dependency; this is for broken installs
        raise MissingDependencyError(
            "the Dask executor needs the 'distributed' package",
            hint="pip install 'dask[distributed]' (it is in noarkpipe's dependencies: reinstall noarkpipe)",
        ) from exc
    try:
        return Client(scheduler, timeout=connect_timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SourceUnavailableError(
            f"cannot reach the Dask scheduler at {scheduler}: {exc}",
            hint="start it with 'dask scheduler', check [execution] scheduler / --scheduler, "
            "or leave the scheduler out to convert on this machine",
        ) from exc


class _DaskTask(Generic[R]):
    def __init__(self, executor: DaskExecutor, future: Any, submitted: float) -> None:
        self._executor = executor
        self._future = future
        self._submitted = submitted
        self._outcome: TaskOutcome[R] | None = None
        self._lock = threading.Lock()

    def done(self) -> bool:
        return self._outcome is not None or self._future.done()

    def outcome(self) -> TaskOutcome[R]:
        with self._lock:
            if self._outcome is None:
                self._outcome = self._wait()
            return self._outcome

    def _wait(self) -> TaskOutcome[R]:
        limit = self._executor.time_limit_s
        remaining = None if limit is None else max(0.0, self._submitted + limit - time.monotonic())
        try:
            return self._future.result(timeout=remaining)
        except TimeoutError:
            self._executor._give_up(self._future)
            return TaskOutcome(failure=f"timed out: still running after {limit:.0f} s on the cluster", timed_out=True)
        except Exception as exc:
            name = type(exc).__name__
            if name == "CancelledError":
                return TaskOutcome(failure="not started: the run was stopped", cancelled=True)
            return TaskOutcome(failure=f"the cluster lost the task: {name}: {exc}")


class DaskExecutor:
    """Tasks on the workers of a running Dask scheduler; see the module docstring."""

    def __init__(
        self, scheduler: str, *, time_limit_s: float | None = None, connect_timeout_s: float = CONNECT_TIMEOUT_S
    ) -> None:
        self.scheduler = scheduler
        self.time_limit_s = time_limit_s
        self._client = _client(scheduler, connect_timeout_s)
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self._client.scheduler_info()["workers"].values()))
        self._closed = False

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close(cancel=True)

    def submit(self, function: Callable[[J], R], job: J) -> _DaskTask[R]:
        if self._closed:
            raise RuntimeError("the executor is closed")
        # pure=False: the same job submitted twice (a retried item) runs twice.
        future = self._client.submit(run_task, function, job, pure=False)
        return _DaskTask(self, future, time.monotonic())

    def close(self, *, cancel: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if cancel:
            pending = [f for f in self._client.futures.values() if f.status == "pending"]
            if pending:
                self._client.cancel(pending)
        self._client.close()

    def _give_up(self, future: Any) -> None:
        """Drop a task past its time limit and restart the worker running it, which stops its programs."""
        holders: set[str] = set()
        try:
            processing = self._client.processing()
            holders = {worker for worker, keys in processing.items() if future.key in keys}
        except Exception:  # noqa: S110 - the scheduler may be gone; the task is cancelled below either way
            pass
        future.cancel()
        if holders:
            try:
                self._client.restart_workers(sorted(holders), timeout=CONNECT_TIMEOUT_S)
            except Exception:  # noqa: S110 - a worker that cannot be restarted is replaced by the nanny
                pass
