"""Stand-ins for the external programs noarkpipe runs, failing the way broken installs and documents fail.

Each fake is a small shell script written into a folder of the test's and put
first on PATH, so the `_exec` wrapper finds it instead of the real program.
It answers the version probe like the real program (`noarkpipe._exec.probe`
accepts it) and then fails in one way: a tesseract that crashes with
SIGABRT, a LibreOffice that hangs with a child, a Ghostscript that exits
non-zero, a bwrap that cannot make namespaces. `missing` makes a wrapper
find no program (or no Python distribution) at all.

Fakes run best with the sandbox "off": a pids file a fake writes to lies in
the test's folder, which the converters' sandbox (a private /tmp) would hide.
"""

from __future__ import annotations

import dataclasses
import multiprocessing.forkserver
import os
import shlex
from pathlib import Path
from types import ModuleType

import pytest

TESSERACT_VERSION = "tesseract 5.3.0"
LIBREOFFICE_VERSION = "LibreOffice 7.4.7.2 40(Build:2)"
GHOSTSCRIPT_VERSION = "10.02.1"
TESSERACT_LANGUAGES = ("eng", "nor", "osd")


def fake_program(folder: Path, name: str, body: str, *, version: str | None = None) -> Path:
    """An executable `folder/name` that prints `version` for --version (if given), else runs the sh `body`."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    answer = f'if [ "$1" = "--version" ]; then echo {shlex.quote(version)}; exit 0; fi\n' if version else ""
    program.write_text(f"#!/bin/sh\n{answer}{body}", encoding="utf-8")
    program.chmod(0o755)
    return program


def first_on_path(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """Put `folder` before everything else on PATH for the rest of the test.

    The run's fork server (parse children, conversion workers) keeps the
    environment it was started with, so one started by an earlier test is
    stopped now, and again after the test (conftest's `fresh_fork_server_after_fakes`):
    the next run starts its own, and its children find the fake, or the real program again.
    """
    global path_changed
    stop_fork_server()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    path_changed = True
    return folder


path_changed = False
"""Set when a test put a fake first on PATH; conftest stops the fork server after that test."""


def stop_fork_server() -> None:
    """Stop the fork server this process started, if any (the next run starts a fresh one)."""
    multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]


def crashing_tesseract(folder: Path, monkeypatch: pytest.MonkeyPatch, *, signal: str = "ABRT") -> Path:
    """A tesseract with Norwegian and English that dies of `signal` on every page, as on a corrupt image."""
    languages = "\\n".join(TESSERACT_LANGUAGES)
    program = fake_program(folder, "tesseract", (
        f'if [ "$1" = "--list-langs" ]; then printf "List of available languages (3):\\n{languages}\\n"; exit 0; fi\n'
        "cat > /dev/null\n"
        "echo 'Error in pixReadStream: Unknown format: no pix returned' >&2\n"
        f"kill -{signal} $$\n"
    ), version=TESSERACT_VERSION)
    first_on_path(monkeypatch, folder)
    return program


def hanging_libreoffice(folder: Path, monkeypatch: pytest.MonkeyPatch, pids: Path | None = None) -> Path:
    """A LibreOffice 7.4 that hangs with a child, as a stuck office does; its and the child's pid go to `pids`."""
    record = f'echo $$ >> {shlex.quote(str(pids))}\n' if pids else ""
    child = f'echo $! >> {shlex.quote(str(pids))}\n' if pids else ""
    program = fake_program(folder, "soffice", f"{record}sleep 600 &\n{child}wait\n", version=LIBREOFFICE_VERSION)
    first_on_path(monkeypatch, folder)
    return program


def failing_ghostscript(folder: Path, monkeypatch: pytest.MonkeyPatch, *, status: int = 1) -> Path:
    """A Ghostscript that writes nothing and exits with `status`, as on a PDF it cannot read."""
    program = fake_program(folder, "gs", (
        "echo '   **** Error: page 1 has an unreadable content stream.' >&2\n"
        f"exit {status}\n"
    ), version=GHOSTSCRIPT_VERSION)
    first_on_path(monkeypatch, folder)
    return program


def faulty_bwrap(folder: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A bwrap that runs the sh `body` instead of making a sandbox (it has no version probe)."""
    program = fake_program(folder, "bwrap", body)
    first_on_path(monkeypatch, folder)
    return program


def missing(monkeypatch: pytest.MonkeyPatch, wrapper: ModuleType) -> None:
    """Make the `_exec` wrapper (ghostscript, libreoffice, tesseract, ocrmypdf) find its tool nowhere."""
    tool = wrapper.TOOL
    if tool.distribution is not None:
        absent = dataclasses.replace(tool, distribution=f"{tool.distribution}-not-installed")
    else:
        absent = dataclasses.replace(tool, programs=tuple(f"{name}-not-installed" for name in tool.programs))
    monkeypatch.setattr(wrapper, "TOOL", absent)
