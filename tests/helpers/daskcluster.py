"""A real Dask cluster on loopback for the tests: a scheduler and workers, each its own process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dask_command() -> list[str]:
    executable = Path(sys.executable).with_name("dask")
    return [str(executable)] if executable.exists() else [sys.executable, "-m", "distributed.cli.dask_spec"]


def _wait_for_workers(address: str, count: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout=timeout, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=timeout)


@contextmanager
def dask_cluster(workers: int = 2, tmp: Path | None = None):
    """Yield the scheduler address of a cluster with `workers` one-thread workers (each under a nanny)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ)
    # The workers import the test jobs module by name, as they would import noarkpipe.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"  # workers may start processes (OCRmyPDF)
    local = str(tmp) if tmp else None
    dask = Path(sys.executable).with_name("dask")
    processes = [
        subprocess.Popen(
            [str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    ]
    try:
        for _ in range(workers):
            command = [str(dask), "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
            if local:
                command += ["--local-directory", local]
            processes.append(
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            )
        _wait_for_workers(address, workers)
        yield address
    finally:
        for process in reversed(processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
