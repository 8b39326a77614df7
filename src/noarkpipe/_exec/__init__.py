"""Wrappers for the external programs noarkpipe runs: one module per program."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from noarkpipe.errors import MissingDependencyError
from noarkpipe._exec import sandbox

PROBE_TIMEOUT_SECONDS = 30


def probe_version(
    program: str, name: str, parse_version: Callable[[str], tuple[int, ...] | None], install_hint: str
) -> tuple[int, ...]:
    """`program --version`, parsed; a program that will not run or says no version → MissingDependencyError."""
    try:
        completed = subprocess.run(
            [program, "--version"], capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False,
            env=sandbox.probe_environment(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingDependencyError(f"could not run {program} --version: {exc}", hint=install_hint) from exc
    version = parse_version(completed.stdout.decode("utf-8", "replace"))
    if version is None:
        raise MissingDependencyError(
            f"{program} did not report a {name} version; is it really {name}?", hint=install_hint
        )
    return version
