"""Processes of this machine: the run's one fork server, and killing a process tree whatever sessions it spans.

Shared by the local executor's conversion workers (`execution_local.py`)
and the parse children (`isolation.py`), which are started by the same
fork server, so that its preloaded imports are paid once.

Should the run alone be killed (SIGKILL, the out-of-memory killer), the
fork server dies with it (`_exec/forkserver_lifetime.py`), and every
process it started dies with the server. The kernel sends that signal when
the thread that started a process ends, so the fork server is started by
the thread that makes the executor or the first parse child, the run's
main thread, not by a supervisor thread.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_FORKSERVER_LIFETIME = "noarkpipe._exec.forkserver_lifetime"


def fork_server(preload: Sequence[str]) -> Any:
    """The multiprocessing context of the run's one fork server, started now from this thread if not yet running.

    The server imports `preload` once, before its first child (so every user
    of the server passes the same list), and before that the module that
    makes it die with the run. Started from the calling thread (see the
    module docstring): the kernel's parent-death signal follows that thread;
    a server already running is kept.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([_FORKSERVER_LIFETIME, *preload])
    multiprocessing.forkserver.ensure_running()
    return context


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time in clock ticks) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may contain spaces and parentheses itself.
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return table


def start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def descendants(roots: set[int], table: dict[int, tuple[int, int]] | None = None) -> set[int]:
    """Every process below `roots` (children, their children, ...), whatever session it started."""
    table = table if table is not None else process_table()
    found: set[int] = set()
    frontier = set(roots)
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier and pid not in found}
        found |= frontier
    return found


def kill_process_trees(roots: set[int]) -> None:
    """Kill `roots` and everything below them.

    Each process is stopped (SIGSTOP) before the tree is looked at again, so
    none can start a new child that escapes; once a look finds nothing new,
    all of them are killed.
    """
    stopped: set[int] = set()
    for _ in range(20):
        living = {pid for pid in roots | descendants(roots | stopped) if _signal(pid, signal.SIGSTOP)}
        new = living - stopped
        stopped |= living
        if not new:
            break
    for pid in stopped:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> bool:
    if pid in (0, os.getpid()):
        return False
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
