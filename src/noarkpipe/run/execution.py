"""Where the heavy work of a run happens: the executor interface, defined once for every backend.

The nightly run parses and journals items itself, one at a time, each in
one database transaction. The expensive step in between, making each
document's archival copy, is handed to an executor so that several
documents convert at once. The interface is small on purpose, so that an
executor for a cluster can take the place of the local one:

- `submit(function, job)` runs `function(job)` somewhere and returns a
  `Task` at once. `function` must be importable by name, `job` and the
  return value picklable: paths and settings, never open files or sessions.
- `Task.outcome()` waits and returns a `TaskOutcome`: the value, or why
  there is none (the function raised, the process running it died, it ran
  past the time limit, it was cancelled). A task's failure never raises in
  the caller: one bad document must not stop the batch.
- `close(cancel=...)` ends the executor. With `cancel`, tasks that have not
  started are dropped (their outcome says so); running ones are waited for.

Two implementations: `execution_local.LocalExecutor`, a process pool on
this machine, and `execution_dask.DaskExecutor`, the workers of a Dask
cluster. Both run each call through `run_task`.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class TaskOutcome(Generic[R]):
    """What became of one task: its value, or why there is none."""

    value: R | None = None
    failure: str | None = None
    """Why there is no value, for a person to read."""
    timed_out: bool = False
    cancelled: bool = False
    """Dropped before it ran (the executor was closed with cancel): not the job's fault."""

    @property
    def ok(self) -> bool:
        return self.failure is None


class Task(Protocol[R]):
    def done(self) -> bool: ...

    def outcome(self) -> TaskOutcome[R]:
        """Wait for the task and say what became of it; never raises for the task's failure."""
        ...


class Executor(Protocol):
    workers: int
    """How many tasks run at the same time."""

    def submit(self, function: Callable[[J], R], job: J) -> Task[R]: ...

    def close(self, *, cancel: bool = False) -> None: ...


def run_task(function: Callable[[J], R], job: J) -> TaskOutcome[R]:
    """`function(job)` as a `TaskOutcome`: an exception becomes its one-line description.

    Exceptions are not sent back as such, since not every exception survives
    pickling; an executor for another backend can wrap its calls in this too.
    """
    try:
        return TaskOutcome(value=function(job))
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(exc)).strip()
        return TaskOutcome(failure=f"internal error: {detail}")
