"""Calls in a child process that can be stopped: bounded in time and memory, whatever the code does.

The nightly run reads each inbox file with parsers that take hostile input
(e-mail headers, zips, PDFs, images). A parser that loops, or a library
that inflates a few kilobytes into gigabytes, must cost its item and not
the night: run in the run's own process, seven hostile e-mails once drove
a run to 23.6 GB until the kernel's out-of-memory killer ended it, and
nothing else was journaled. So each item is read in a child process:

- it has an address-space limit (RLIMIT_AS), which the programs it starts
  (tesseract) inherit; an allocation beyond it fails, in Python as a
  `MemoryError`, in C libraries usually as a crash: either way only the
  child ends;
- it has a wall-clock limit, after which the parent stops and kills it
  with everything it started (its process group, and descendants that
  left the group);
- it leads a process group of its own and ignores Ctrl-C and SIGTERM:
  what becomes of the item is the run's decision. A run asked to stop
  kills the child and leaves the item where it is; a run that is itself
  killed takes the child along (parent-death signal, `_exec/lifetime.py`).

Children are started by the fork server the conversion workers use, never
by a plain fork: the run has threads (the executor's supervisor), which
fork cannot copy safely. The server has the parsers imported already. A
child that answered normally is kept for the next call (`IsolatedWorker`),
since a new one costs an item some 20 ms, a fifth of an e-mail's whole
intake; one that failed, ran out of memory or time, or has grown, is
replaced, so what a hostile input did to a process never reaches the next
item. Nothing is unpickled from the child: it answers with a small JSON
status, and what it produced it writes to disk, where the caller reads it
back with its own checks, so a child taken over by its input cannot hand
the run an object to execute.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from noarkpipe import errors
from noarkpipe._exec.lifetime import die_with_parent
from noarkpipe.run.processes import fork_server, kill_process_trees

MAX_CALLS = 200
"""Calls one child takes before it is replaced: a bound on what it may accumulate (caches, fragmentation)."""
MAX_ANSWER_BYTES = 1024 * 1024
"""The longest answer read from a child: what it made is on disk, the answer only says how it went."""
POLL_SECONDS = 0.2
"""How often the parent looks at the stop request while it waits."""
_EXIT_OUT_OF_MEMORY = 86
"""The child's exit status when even the answer could not be sent for lack of memory."""


class Ending(StrEnum):
    returned = "returned"
    """The function returned; `value` is what it returned (JSON)."""
    refused = "refused"
    """The function raised a `NoarkpipeError`; `error` is that error, rebuilt."""
    failed = "failed"
    """The function raised another exception (a bug); `detail` describes it."""
    out_of_memory = "out_of_memory"
    timed_out = "timed_out"
    died = "died"
    """Ended without an answer: a crash, or a signal (a C library out of memory often ends so)."""
    stopped = "stopped"
    """The caller asked to stop (the run is stopping): the child was killed, nothing is decided."""


@dataclass(frozen=True)
class ChildOutcome:
    ending: Ending
    value: Any = None
    error: errors.NoarkpipeError | None = None
    detail: str = ""
    signal: int | None = None
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    """The child's peak resident memory so far (with the programs it started), when it answered; a kept
    child's peak is over all its calls."""


def run_isolated(
    function: Callable[..., Any],
    args: Sequence[Any],
    *,
    seconds: float,
    memory_mb: int | None,
    stop: threading.Event | None = None,
    preload: Sequence[str] = (),
) -> ChildOutcome:
    """`function(*args)` in a child process of its own, within `seconds` and `memory_mb`; see `IsolatedWorker.call`."""
    worker = IsolatedWorker(memory_mb=memory_mb, preload=preload, max_calls=1)
    try:
        return worker.call(function, args, seconds=seconds, stop=stop)
    finally:
        worker.close()


class IsolatedWorker:
    """Calls in a child process, one at a time, each within its own time; see the module docstring.

    `memory_mb` is the child's address-space limit; `preload` names modules
    the fork server imports once (it matters only before the server's first
    child, so every user of the server passes the same list); a child is
    replaced after `max_calls` calls, or once it has grown past three quarters of its limit.
    """

    def __init__(self, *, memory_mb: int | None, preload: Sequence[str] = (), max_calls: int = MAX_CALLS) -> None:
        self._context = fork_server(preload)  # the conversion workers' server: it dies with the run
        self._memory = memory_mb * 1024 * 1024 if memory_mb else None
        self._max_calls = max_calls
        self._process: Any = None
        self._requests: Connection | None = None
        self._answers: Connection | None = None
        self._calls = 0

    def call(
        self, function: Callable[..., Any], args: Sequence[Any], *, seconds: float, stop: threading.Event | None = None
    ) -> ChildOutcome:
        """`function(*args)` in the child, within `seconds` (wall clock), or until `stop` is set.

        `function` must be importable by name and `args` picklable; its return
        value must be JSON (keep it small: results belong on disk). Never
        raises for what the function does: the outcome says how it ended.
        """
        started = time.monotonic()
        self._send((function, tuple(args)))
        answer, ending = None, None
        try:
            answer, ending = _wait(self._process, self._answers, started + seconds, stop)
        finally:
            if answer is None:
                self._kill()
        elapsed = time.monotonic() - started
        if answer is None:
            return _without_answer(ending, self._last_exitcode, elapsed)
        self._calls += 1
        if answer.get("ending") != Ending.returned or self._calls >= self._max_calls or self._grown():
            self._retire()
        return _outcome(answer, elapsed)

    def close(self) -> None:
        """End the child, if there is one, with whatever it left running."""
        if self._process is not None:
            self._kill()

    def _send(self, request: tuple) -> None:
        for attempt in (1, 2):
            if self._process is None:
                self._start()
            try:
                self._requests.send(request)
                return
            except (BrokenPipeError, ConnectionResetError, EOFError):
                if attempt == 2:
                    raise
                self._kill()  # it died between calls: a fresh one takes the call

    def _start(self) -> None:
        request_reader, self._requests = self._context.Pipe(duplex=False)
        self._answers, answer_writer = self._context.Pipe(duplex=False)
        self._process = self._context.Process(
            target=_serve, args=(request_reader, answer_writer, self._memory, self._max_calls),
            name="noarkpipe-isolated", daemon=False,
        )
        self._process.start()
        request_reader.close()
        answer_writer.close()
        self._calls = 0

    def _grown(self) -> bool:
        if self._memory is None:
            return False
        try:
            pages = int(Path(f"/proc/{self._process.pid}/statm").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        return pages * resource.getpagesize() > self._memory * 3 // 4

    def _retire(self) -> None:
        """A child that answered and is done: it exits by itself; what it may have left running is killed.

        It is not waited for (multiprocessing collects it when the next child
        starts): the fork server's round trip would cost the item.
        """
        self._close_pipes()
        _kill_group(self._process.pid)
        self._process = None

    def _kill(self) -> None:
        """The child with its whole tree, also what left its group, waited for so that its exit status is known."""
        process, self._process = self._process, None
        self._close_pipes()
        if process.exitcode is None:
            kill_process_trees({process.pid})
        _kill_group(process.pid)  # e.g. a tesseract whose parent already ended
        process.join()
        self._last_exitcode = process.exitcode

    def _close_pipes(self) -> None:
        for connection in (self._requests, self._answers):
            if connection is not None:
                connection.close()
        self._requests = self._answers = None

    _last_exitcode: int | None = None


def _without_answer(ending: Ending | None, code: int | None, elapsed: float) -> ChildOutcome:
    if ending is not None:
        return ChildOutcome(ending, seconds=elapsed)
    if code == _EXIT_OUT_OF_MEMORY:
        return ChildOutcome(Ending.out_of_memory, seconds=elapsed)
    return ChildOutcome(
        Ending.died, signal=-code if code and code < 0 else None, detail=f"exit status {code}", seconds=elapsed
    )


def _wait(
    process: Any, reader: Connection, deadline: float, stop: threading.Event | None
) -> tuple[dict | None, Ending | None]:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, Ending.timed_out
        if stop is not None and stop.is_set() and not reader.poll():
            return None, Ending.stopped
        ready = wait([reader, process.sentinel], timeout=min(POLL_SECONDS, remaining))
        if reader in ready or (process.sentinel in ready and reader.poll()):
            try:
                return json.loads(reader.recv_bytes(MAX_ANSWER_BYTES)), None
            except (EOFError, OSError, ValueError):
                return None, None  # it died before or while answering, or answered more than an answer
        if process.sentinel in ready:
            return None, None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _outcome(answer: dict, elapsed: float) -> ChildOutcome:
    peak = answer.get("peak_rss_mb")
    kind = answer.get("ending")
    if kind == Ending.returned:
        return ChildOutcome(Ending.returned, value=answer.get("value"), seconds=elapsed, peak_rss_mb=peak)
    if kind == Ending.refused:
        error_class = getattr(errors, str(answer.get("class")), None)
        if not (isinstance(error_class, type) and issubclass(error_class, errors.NoarkpipeError)):
            error_class = errors.InputFileError
        extra = answer.get("extra") or {}
        try:
            error = error_class(str(answer.get("message")), hint=answer.get("hint"), **extra)
        except TypeError:  # a child of another noarkpipe version: the message and hint are what counts
            error = error_class(str(answer.get("message")), hint=answer.get("hint"))
        return ChildOutcome(Ending.refused, error=error, seconds=elapsed, peak_rss_mb=peak)
    if kind == Ending.out_of_memory:
        return ChildOutcome(Ending.out_of_memory, seconds=elapsed, peak_rss_mb=peak)
    return ChildOutcome(Ending.failed, detail=str(answer.get("detail", "")), seconds=elapsed, peak_rss_mb=peak)


# --- in the child ---------------------------------------------------------------------------------


def _serve(requests: Connection, answers: Connection, memory: int | None, max_calls: int) -> None:
    # What the fork server imported is shared with it until written; a garbage
    # collection would touch (and so copy) every one of those objects.
    gc.freeze()
    # A group of its own, so that the parent can end it with everything it
    # started; no Ctrl-C or SIGTERM: the run decides, and kills it if need be.
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent()
    if memory is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    for _ in range(max_calls):
        try:
            function, args = requests.recv()
        except EOFError:
            break  # the parent closed: no more calls
        try:
            answer = _call(function, args)
        except MemoryError:
            answer = {"ending": Ending.out_of_memory.value}
        del function, args
        try:
            answer["peak_rss_mb"] = _peak_rss_mb()
            answers.send_bytes(json.dumps(answer, ensure_ascii=True).encode("ascii"))
        except MemoryError:
            os._exit(_EXIT_OUT_OF_MEMORY)
        if answer["ending"] != Ending.returned.value:
            break  # whatever went wrong may have left this process in a bad state: the next call gets a new one
    # Done: skip the interpreter's teardown, nobody waits for it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _call(function: Callable[..., Any], args: tuple) -> dict:
    try:
        value = function(*args)
    except errors.NoarkpipeError as exc:
        # What an error carries besides its message and hint (an arkivmelding's feiltype and meldingId) comes along.
        extra = {k: v for k, v in vars(exc).items() if k not in ("message", "hint") and isinstance(v, str | int | None)}
        return {"ending": Ending.refused.value, "class": type(exc).__name__, "message": exc.message, "hint": exc.hint,
                "extra": extra}
    except MemoryError:
        raise
    except Exception as exc:
        return {"ending": Ending.failed.value, "detail": "".join(traceback.format_exception_only(exc)).strip()}
    return {"ending": Ending.returned.value, "value": value}


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    programs = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, programs) / 1024, 1)
