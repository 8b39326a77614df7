"""LibreOffice: is it there, which version, export one office document as PDF/A.

This module is the only place that knows LibreOffice's command line. Each
conversion runs headless with a private user profile (-env:UserInstallation)
in a folder the caller owns: two LibreOffice processes sharing a profile
would hand the second document to the first process, or wait on its lock.
A profile is reused when the caller passes the same folder again, which
saves about a second of start-up.

LibreOffice runs in the converters' sandbox (`sandbox.py`): no network,
and it writes only to the output folder, its profile and a HOME of its own
inside the output folder. The profile also forbids what a document could ask
for from outside (`LOCKED_DOWN`): linked images and other linked content
are not loaded, links are never updated, macros never run. That is a
second wall, for a machine where the sandbox is switched off.

LibreOffice starts a launcher that starts the office process, so it runs in
its own session and a timeout kills the whole process group; the sandbox's
pid namespace takes whatever is left, and ends with the worker should that
be killed. A killed office can leave its profile locked or half-written, so
that profile is removed and the next conversion builds a fresh one.

Failures become noarkpipe errors: a missing program is a
`MissingDependencyError` naming the Debian packages, a document LibreOffice
cannot open or finish in time is an `InputFileError`. LibreOffice exits
with status 0 even when it converted nothing, so success is the PDF being
there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Literal

from noarkpipe._exec import probe, sandbox
from noarkpipe.errors import InputFileError, MissingDependencyError

MIN_VERSION = (7, 4)
"""Export filter options given as JSON on the command line (used for the PDF/A level) work from 7.4."""
PACKAGES = ("libreoffice-writer-nogui", "libreoffice-calc-nogui")
"""The smallest Debian set that opens text documents and spreadsheets without a display."""

LOCKED_DOWN: tuple[tuple[str, str, str], ...] = (
    # Linked images and other linked content of a document from an untrusted place (every
    # document noarkpipe converts) are not loaded: measured, this alone stops the fetches.
    ("/org.openoffice.Office.Common/Security/Scripting", "BlockUntrustedRefererLinks", "true"),
    ("/org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "3"),
    ("/org.openoffice.Office.Common/Security/Scripting", "DisableMacrosExecution", "true"),
    # Update mode of DDE and OLE links: never (Writer counts 0 never, Calc 1 never).
    ("/org.openoffice.Office.Writer/Content/Update", "Link", "0"),
    ("/org.openoffice.Office.Calc/Content/Update", "Link", "1"),
)
"""(configuration path, property, value) set in every profile noarkpipe gives LibreOffice."""

Family = Literal["text", "spreadsheet"]
_EXPORT_FILTERS: dict[str, str] = {"text": "writer_pdf_Export", "spreadsheet": "calc_pdf_Export"}


def install_hint() -> str:
    return "apt-get install --no-install-recommends " + " ".join(PACKAGES)


TOOL = probe.ToolProbe(
    name="LibreOffice",
    role="needed for archival copies of office documents",
    programs=("soffice", "libreoffice"),
    # `soffice --version` prints 'LibreOffice 7.4.7.2 40(Build:2)'.
    version_pattern=re.compile(r"LibreOffice\s+(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?"),
    min_version=MIN_VERSION,
    install_hint=install_hint,
)
parse_version = TOOL.parse_version


def export_target(family: Family, pdfa_part: int) -> str:
    """The --convert-to value: PDF through the family's export filter, as PDF/A of `pdfa_part` (level B)."""
    options = {"SelectPdfVersion": {"type": "long", "value": str(pdfa_part)}}
    return f"pdf:{_EXPORT_FILTERS[family]}:{json.dumps(options, separators=(',', ':'))}"


def convert_args(program: str, source: Path, outdir: Path, profile: Path, family: Family, pdfa_part: int) -> list[str]:
    """The command line that writes `outdir/<source stem>.pdf`."""
    return [
        program,
        f"-env:UserInstallation={profile.resolve().as_uri()}",
        "--headless",
        "--invisible",
        "--nologo",
        "--nodefault",
        "--norestore",
        "--nolockcheck",
        "--convert-to",
        export_target(family, pdfa_part),
        "--outdir",
        str(outdir),
        str(source),
    ]


def require() -> tuple[str, tuple[int, ...]]:
    """The path and version of a LibreOffice that is new enough."""
    return probe.require(TOOL)


def locked_down_settings() -> str:
    """The registrymodifications.xcu of a profile that holds only `LOCKED_DOWN`."""
    items = "".join(f"{_item(path, name, value)}\n" for path, name, value in LOCKED_DOWN)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"{items}</oor:items>\n"
    )


def lock_down(profile: Path) -> None:
    """Make sure the profile at `profile` holds `LOCKED_DOWN`, before LibreOffice starts with it.

    LibreOffice keeps settings that differ from its defaults when it
    rewrites the file on exit, so a reused profile normally has them
    already; one that lacks any is started afresh from ours.
    """
    settings = profile / "user" / "registrymodifications.xcu"
    try:
        current = settings.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = ""
    if all(_item(path, name, value) in current for path, name, value in LOCKED_DOWN):
        return
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(locked_down_settings(), encoding="utf-8")


def to_pdf(
    program: str,
    source: Path,
    outdir: Path,
    *,
    family: Family,
    pdfa_part: int,
    profile: Path,
    timeout: float,
    sandbox_mode: sandbox.Mode = "bwrap",
) -> Path:
    """Export `source` as PDF/A into `outdir`; the path of the PDF."""
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / f"{source.stem}.pdf"
    target.unlink(missing_ok=True)
    profile.mkdir(parents=True, exist_ok=True)
    lock_down(profile)
    args, env = sandbox.confine(
        convert_args(program, source, outdir, profile, family, pdfa_part), sandbox_mode,
        home=outdir / ".home", writable=(outdir, profile), readable=(source,),
    )
    try:
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
        )
    except FileNotFoundError as exc:
        raise MissingDependencyError(f"LibreOffice disappeared from {program}", hint=install_hint()) from exc
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(process)
        shutil.rmtree(profile, ignore_errors=True)
        raise InputFileError(
            f"LibreOffice took longer than {timeout:.3g} seconds to convert the document and was stopped",
            hint="open the document in an office program; it may be damaged, protected by a password, or very large",
        ) from exc
    except BaseException:
        _kill_group(process)
        shutil.rmtree(profile, ignore_errors=True)
        raise
    if not target.is_file() or target.stat().st_size == 0:
        message = (stdout + stderr).decode("utf-8", "replace")
        raise InputFileError(
            f"LibreOffice could not convert the document (exit status {process.returncode}): {_last_line(message)}",
            hint="open the document in an office program; it may be damaged or protected by a password",
        )
    return target


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


def _item(path: str, name: str, value: str) -> str:
    return f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse"><value>{value}</value></prop></item>'


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and "javaldx" not in line]
    return lines[-1] if lines else "no message"
