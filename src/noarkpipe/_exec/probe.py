"""Is an external tool there, and new enough: one descriptor per tool, one probe for all.

Each wrapper describes its tool once (`ToolProbe`: the program names to
look for on PATH, or the Python distribution; how to ask the version and
where the answer is printed; the oldest version that works; the install
hint) and calls `require` with it. The probe runs the program outside the
converters' sandbox, since it reads no document, with a HOME where nothing
can be written (`sandbox.probe_environment`), and each program is asked
once per process. Whatever is missing, will not run, says no version or is
too old becomes a `MissingDependencyError` with the tool's install hint.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata

from noarkpipe._exec import sandbox
from noarkpipe.errors import MissingDependencyError

PROBE_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ToolProbe:
    """How to find one external tool and tell its version."""

    name: str
    """As users know it: 'Ghostscript', 'LibreOffice', 'tesseract', 'OCRmyPDF'."""
    role: str
    """What noarkpipe needs it for, for the message when it is missing."""
    version_pattern: re.Pattern[str]
    """Its digit groups are the version: (\\d+)\\.(\\d+)... in what the program prints."""
    min_version: tuple[int, ...]
    install_hint: Callable[[], str]
    programs: tuple[str, ...] = ()
    """Names looked for on PATH, first found wins."""
    distribution: str | None = None
    """A Python distribution instead of a program: its installed version is read from its metadata."""
    version_args: tuple[str, ...] = ("--version",)
    environment: Callable[[], Mapping[str, str]] | None = None
    """The environment the program is asked in, before probe_environment; os.environ if None."""
    reads_stderr: bool = False
    """The answer may be on stderr too (older tesseract releases print it there)."""

    def parse_version(self, output: str) -> tuple[int, ...] | None:
        """The version in `output` (LibreOffice 7.4.7.2 40(Build:2) -> (7, 4, 7, 2)); None if there is none."""
        match = self.version_pattern.search(output)
        if match is None:
            return None
        return tuple(int(part) for part in match.groups() if part is not None)


def require(tool: ToolProbe, *, hint: str | None = None) -> tuple[str, tuple[int, ...]]:
    """Where `tool` is and its version; MissingDependencyError unless it is installed and new enough.

    For a program, where is its path on PATH; for a Python distribution, the version
    its metadata reports ('17.13.0'). `hint` replaces the tool's install hint
    in those two refusals (tesseract names the languages asked for).
    """
    hint = hint if hint is not None else tool.install_hint()
    if tool.distribution is not None:
        try:
            installed = metadata.version(tool.distribution)
        except metadata.PackageNotFoundError as exc:
            raise MissingDependencyError(f"{tool.name}, {tool.role}, is not installed", hint=hint) from exc
        # A version that does not start with a number is refused as too old.
        version = tool.parse_version(installed) or ()
        _refuse_if_older(tool, version, installed, hint)
        return installed, version
    program = next((found for name in tool.programs if (found := shutil.which(name))), None)
    if program is None:
        raise MissingDependencyError(f"{tool.name}, {tool.role}, is not installed or not on PATH", hint=hint)
    version = _version(tool, program)
    _refuse_if_older(tool, version, _dotted(version), hint)
    return program, version


def probe_output(tool: ToolProbe, program: str, args: tuple[str, ...]) -> str:
    """What `program args` prints (stdout, and stderr if the tool answers there); not sandboxed, reads no document."""
    try:
        completed = subprocess.run(
            [program, *args], capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False,
            env=sandbox.probe_environment(tool.environment() if tool.environment else None),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingDependencyError(
            f"could not run {' '.join([program, *args])}: {exc}", hint=tool.install_hint()
        ) from exc
    output = completed.stdout + completed.stderr if tool.reads_stderr else completed.stdout
    return output.decode("utf-8", "replace")


@lru_cache(maxsize=16)
def _version(tool: ToolProbe, program: str) -> tuple[int, ...]:
    """The version of `tool` at `program`, asked once per process."""
    version = tool.parse_version(probe_output(tool, program, tool.version_args))
    if version is None:
        raise MissingDependencyError(
            f"{program} did not report a {tool.name} version; is it really {tool.name}?", hint=tool.install_hint()
        )
    return version


def _refuse_if_older(tool: ToolProbe, version: tuple[int, ...], shown: str, hint: str) -> None:
    if version < tool.min_version:
        raise MissingDependencyError(
            f"{tool.name} {shown} is too old; noarkpipe needs {_dotted(tool.min_version)} or newer", hint=hint
        )


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))
