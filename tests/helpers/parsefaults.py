"""Parsers that misbehave, for the parse child of the nightly run (tests/test_isolation.py).

Each is put in place of `nightly.parse_item` by the test and runs in the
child process, so it must be importable by name. An item's file name picks
the fault; any other item is read by the real parser.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from noarkpipe.run import nightly

PID_FILE = "fault-pids"
"""Where a fault notes its own and its programs' pids: beside the work area (claimed is work/<kode>/<item>)."""


def misbehaving(claimed: Path, origin: str, context, folder: Path) -> None:
    name = Path(origin).name
    if name.startswith("henger"):
        # A program started by the parser, as tesseract is: it must be stopped with the parser.
        program = subprocess.Popen(["sleep", "3600"])
        with (claimed.parents[2] / PID_FILE).open("a") as pids:
            pids.write(f"{os.getpid()} {program.pid}\n")
        time.sleep(3600)
    if name.startswith("ballong"):
        chunks = []
        while True:
            # Reserved, not written: address space counts against the limit either way, and this is quick.
            chunks.append(bytearray(64 * 1024 * 1024))
    if name.startswith("krasj"):
        os.kill(os.getpid(), signal.SIGSEGV)
    nightly.parse_item(claimed, origin, context, folder)


def child_pid() -> int:
    return os.getpid()


def refusing() -> None:
    from noarkpipe.errors import InputFileError

    raise InputFileError("refused on purpose", hint="nothing to do")
