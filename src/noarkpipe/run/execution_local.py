"""The local executor: tasks on worker processes of this machine, behind the `execution.Executor` interface.

`LocalExecutor` runs tasks on `workers` slots, each a
`concurrent.futures.ProcessPoolExecutor` with one worker process that is
given one task at a time; the rest wait in the executor's queue. A task's
function stops the external programs it runs when its own deadline
passes; the executor adds a hard time limit for what no function can stop
itself (a parser looping inside Python, a library stuck in C). A task past
that limit has its worker killed together with everything the worker
started, in other sessions too (LibreOffice, OCRmyPDF's child, tesseract):
each process is stopped first, so that none can start another while the
tree is collected, then all are killed. A worker that dies on its own (a
crash, the out-of-memory killer) takes only its own task with it, since a
slot holds one task: the task is tried again in a fresh worker and given up
after `max_crashes` deaths, and what the dead worker had started is killed.

Each worker may have an address-space limit (`memory_limit_mb`, RLIMIT_AS,
`[convert] max_worker_memory_mb`), which every program it starts inherits: a
document that would take more fails as that task (MemoryError, or its program
dies), and its letter keeps going without that archival copy.

Workers ignore Ctrl-C and SIGTERM: the run decides what happens to the
work in progress (it lets running conversions finish and keeps their
results). They stay in the run's process group, so a kill of the group (or
of the service's cgroup) takes them too. Should the run alone be killed
(SIGKILL, the out-of-memory killer), everything goes with it: the fork
server dies with the run (`processes.py`), each worker with the fork
server, OCRmyPDF's child with its worker, and the external programs with
the sandbox they run in (`_exec/sandbox.py`, bwrap --die-with-parent).
The parent-death signal follows the thread that started a process, so the
fork server is started by the thread that makes the executor, the run's
main thread, not by the supervisor thread.
"""

from __future__ import annotations

import itertools
import os
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, Self, TypeVar

from noarkpipe._exec.lifetime import die_with_parent
from noarkpipe.run.execution import Task, TaskOutcome, run_task
from noarkpipe.run.processes import descendants, fork_server, kill_process_trees, process_table, start_time

J = TypeVar("J")
R = TypeVar("R")

POLL_SECONDS = 0.2
"""How often the local executor looks at start notices, time limits and broken pools."""
_DESCENDANT_SCAN_SECONDS = 0.5


# --- inside a worker process ------------------------------------------------------------------

_notices: Any = None


def _start_worker(notices: Any, environment: dict[str, str], memory_limit_mb: int | None = None) -> None:
    global _notices
    _notices = notices
    if memory_limit_mb is not None:
        # Per process, inherited by every program the worker starts: a document that
        # would take more fails on its own (MemoryError, or its program dies), not the machine.
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # The fork server keeps the environment of the moment it started; a
    # worker runs with the one its executor was made in (PATH above all).
    os.environ.clear()
    os.environ.update(environment)
    # Ctrl-C and SIGTERM are for the run, which decides what becomes of the
    # work in progress; a worker is stopped by its executor, or dies with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent()
    notices.put((None, os.getpid(), time.monotonic()))


def _run_in_worker(task_id: int, function: Callable[[J], R], job: J) -> TaskOutcome[R]:
    _notices.put((task_id, os.getpid(), time.monotonic()))
    return run_task(function, job)


# --- in the calling process ------------------------------------------------------------------


class _LocalTask(Generic[R]):
    def __init__(self, task_id: int, function: Callable[[Any], R], job: Any) -> None:
        self.id = task_id
        self.function = function
        self.job = job
        self.crashes = 0
        self._event = threading.Event()
        self._outcome: TaskOutcome[R] | None = None

    def done(self) -> bool:
        return self._event.is_set()

    def outcome(self) -> TaskOutcome[R]:
        self._event.wait()
        assert self._outcome is not None
        return self._outcome

    def finish(self, outcome: TaskOutcome[R]) -> None:
        if not self._event.is_set():
            self._outcome = outcome
            self._event.set()


class _Slot:
    """One worker process (a one-process pool) and the one task it is running, if any."""

    def __init__(self, context: Any, environment: dict[str, str], memory_limit_mb: int | None) -> None:
        self.notices = context.SimpleQueue()
        self.pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self.notices, environment, memory_limit_mb),
        )
        self.pid: int | None = None
        self.task: _LocalTask | None = None
        self.future: Future | None = None
        self.started: float | None = None
        self.descendants: dict[int, int] = {}
        """pid -> start time of every process seen under the worker, to clean up after it dies."""

    def read_notices(self) -> None:
        while not self.notices.empty():
            task_id, pid, started = self.notices.get()
            self.pid = pid
            if task_id is not None and self.task is not None and task_id == self.task.id:
                self.started = started

    def kill(self) -> None:
        """The worker, and everything it started that is still the process it was."""
        alive = {pid for pid, started in self.descendants.items() if start_time(pid) == started}
        kill_process_trees(({self.pid} if self.pid else set()) | alive)
        self.pool.shutdown(wait=False, cancel_futures=True)


class LocalExecutor:
    """Tasks on `workers` worker processes on this machine; see the module docstring."""

    def __init__(
        self,
        workers: int,
        *,
        time_limit_s: float | None = None,
        max_crashes: int = 2,
        preload: Sequence[str] = (),
        memory_limit_mb: int | None = None,
    ) -> None:
        """`time_limit_s`: the hard limit per task from its start; `preload`: modules the workers import once;
        `memory_limit_mb`: the address space of each worker and of what it starts."""
        if workers < 1:
            raise ValueError("an executor needs at least one worker")
        self.workers = workers
        self.time_limit_s = time_limit_s
        self.max_crashes = max_crashes
        self.memory_limit_mb = memory_limit_mb
        # A fork server: workers are started from a process that has threads
        # (this one's supervisor), which plain fork cannot copy safely.
        self._context = fork_server(preload)
        # Each worker imports the caller's main script again (multiprocessing
        # does, to find functions defined there); for the CLI that brings in
        # numpy, whose BLAS would start a thread pool in every worker. Workers
        # do no linear algebra, and a worker with one thread can fork its own
        # children cheaply and safely (see _exec/ocrmypdf.py).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        self._environment = dict(os.environ)
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._queue: deque[_LocalTask] = deque()
        self._slots: list[_Slot] = []
        self._finished_slots: list[tuple[_Slot, Future]] = []
        self._retired: list[_Slot] = []
        self._closed = False
        self._last_scan = 0.0
        self._supervisor = threading.Thread(target=self._supervise, name="noarkpipe-executor", daemon=True)
        self._supervisor.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close(cancel=True)

    def submit(self, function: Callable[[J], R], job: J) -> Task[R]:
        with self._changed:
            if self._closed:
                raise RuntimeError("the executor is closed")
            task: _LocalTask[R] = _LocalTask(next(self._ids), function, job)
            self._queue.append(task)
            self._changed.notify_all()
        return task

    def close(self, *, cancel: bool = False) -> None:
        """End the executor; with `cancel`, drop the tasks that have not started (see the module docstring)."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            if cancel:
                while self._queue:
                    self._queue.popleft().finish(
                        TaskOutcome(failure="not started: the run was stopped", cancelled=True)
                    )
            self._changed.notify_all()
        self._supervisor.join()
        for slot in self._slots + self._retired:
            slot.pool.shutdown(wait=True)

    # --- the supervisor thread: the only one that starts, ends and replaces slots ---

    def _supervise(self) -> None:
        with self._changed:
            try:
                while True:
                    self._collect_finished()
                    for slot in self._slots:
                        slot.read_notices()
                    self._enforce_time_limit()
                    self._dispatch()
                    self._scan_descendants()
                    if self._closed and not self._queue and not any(slot.task for slot in self._slots):
                        return
                    self._changed.wait(POLL_SECONDS)
            except Exception as exc:
                self._give_up_all(f"the executor stopped: {type(exc).__name__}: {exc}")

    def _give_up_all(self, reason: str) -> None:
        self._closed = True
        waiting = list(self._queue) + [slot.task for slot in self._slots if slot.task is not None]
        self._queue.clear()
        for slot in list(self._slots):
            slot.task = slot.future = None
            self._replace(slot)
        for task in waiting:
            # Not the job's fault: its caller may try it again another time.
            task.finish(TaskOutcome(failure=reason, cancelled=True))

    def _on_done(self, slot: _Slot, future: Future) -> None:
        # Runs in the slot's pool thread: hand over to the supervisor, which does the rest.
        with self._changed:
            self._finished_slots.append((slot, future))
            self._changed.notify_all()

    def _collect_finished(self) -> None:
        finished, self._finished_slots = self._finished_slots, []
        for slot, future in finished:
            if slot.future is not future:
                continue  # a slot already given up (killed for its time limit)
            task = slot.task
            slot.task = slot.future = slot.started = None
            error = None if future.cancelled() else future.exception()
            if error is None and not future.cancelled():
                task.finish(future.result())
            elif isinstance(error, BrokenProcessPool):
                task.crashes += 1
                self._replace(slot)
                if task.crashes >= self.max_crashes or self._closed:
                    task.finish(TaskOutcome(
                        failure=f"the process running it died {task.crashes} time(s) (a crash, or out of memory)"
                    ))
                else:
                    self._queue.appendleft(task)
            else:
                task.finish(TaskOutcome(failure=f"could not be run: {error or 'cancelled'}"))

    def _enforce_time_limit(self) -> None:
        if self.time_limit_s is None:
            return
        now = time.monotonic()
        for slot in list(self._slots):
            if slot.task is not None and slot.started is not None and now - slot.started > self.time_limit_s:
                task = slot.task
                slot.task = slot.future = None
                self._replace(slot)
                task.finish(TaskOutcome(
                    failure=f"still running after {self.time_limit_s:g} seconds; it was stopped, "
                    "with every program it had started",
                    timed_out=True,
                ))

    def _replace(self, slot: _Slot) -> None:
        slot.kill()
        self._slots.remove(slot)
        self._retired.append(slot)

    def _dispatch(self) -> None:
        while self._queue:
            slot = next((slot for slot in self._slots if slot.task is None), None)
            if slot is None and len(self._slots) < self.workers:
                slot = _Slot(self._context, self._environment, self.memory_limit_mb)
                self._slots.append(slot)
            if slot is None:
                return
            task = self._queue.popleft()
            try:
                future = slot.pool.submit(_run_in_worker, task.id, task.function, task.job)
            except (BrokenProcessPool, RuntimeError):
                self._queue.appendleft(task)
                self._replace(slot)
                continue
            slot.task, slot.future, slot.started = task, future, None
            future.add_done_callback(lambda done, slot=slot: self._on_done(slot, done))

    def _scan_descendants(self) -> None:
        now = time.monotonic()
        busy = [slot for slot in self._slots if slot.task is not None and slot.pid]
        if not busy or now - self._last_scan < _DESCENDANT_SCAN_SECONDS:
            return
        self._last_scan = now
        table = process_table()
        for slot in busy:
            gone = [pid for pid, started in slot.descendants.items() if table.get(pid, (0, None))[1] != started]
            for pid in gone:
                del slot.descendants[pid]
            for pid in descendants({slot.pid}, table):
                slot.descendants.setdefault(pid, table[pid][1])

