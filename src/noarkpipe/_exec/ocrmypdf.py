"""OCRmyPDF: is it there, and make one PDF into PDF/A with a text layer where pages have none.

This module is the only place that knows OCRmyPDF's options. It uses the
Python API, not the command line, but runs it in a child process with its
own session: a hung tesseract or a runaway page can then be stopped by
killing the child's whole process group, which an in-process call could
never be. A child is a fork of the caller when the caller has a single
thread (a worker of the nightly run's executor), or else comes from a fork
server that has already imported OCRmyPDF; either way a conversion does
not pay the second that importing OCRmyPDF costs.

The child has no network and writes only in the work area: before OCRmyPDF
starts, it moves into namespaces of its own (`sandbox.enter_own_namespaces`),
which the tesseract and Ghostscript processes OCRmyPDF starts inherit.
OCRmyPDF then runs in a process the child forks, the first of a new pid
namespace: when it dies, whether it finished or the child was killed, the
kernel ends every tesseract and Ghostscript below it, which would otherwise
finish their page for nobody. Temporary folders, OCRmyPDF's and those of
the programs it starts, go into a HOME in the caller's work folder, never
/tmp or the user's home.

The child reports back OCRmyPDF's exit code, message and warnings; nothing
is printed. Failures become noarkpipe errors: a missing program or language
is a `MissingDependencyError`, a document OCRmyPDF cannot read, finish in
time or approve as PDF/A is an `InputFileError` (`PdfaNotApprovedError` for
the last, so the caller can try again after repairing the PDF).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Literal

from noarkpipe._exec import ghostscript, probe, sandbox, tesseract
from noarkpipe._exec.lifetime import die_with_parent
from noarkpipe.errors import ConfigError, InputFileError, MissingDependencyError, PdfaNotApprovedError

DISTRIBUTION = "ocrmypdf"
MIN_VERSION = (17, 13)
"""The pdfa_backend option, PDF/A made and validated without Ghostscript, arrived in 17.13.0."""
_STOP_GRACE_SECONDS = 10
"""How long a child that has reported may take to exit before it is killed."""

OcrMode = Literal["skip", "redo"]

# OCRmyPDF's documented exit codes (ocrmypdf.exceptions.ExitCode).
_BAD_ARGS, _MISSING_DEPENDENCY, _ENCRYPTED, _INVALID_CONFIG, _PDFA_FAILED = 1, 3, 8, 9, 10
_NO_SANDBOX = -2
"""Not OCRmyPDF's: the child could not be given its namespaces (no network, a read-only view), so it did not start."""


@dataclass(frozen=True)
class Outcome:
    version: str
    warnings: tuple[str, ...]
    """What OCRmyPDF logged at warning level or above, for the conversion record."""


def install_hint() -> str:
    return f"pip install '{DISTRIBUTION}>={MIN_VERSION[0]}.{MIN_VERSION[1]},<{MIN_VERSION[0] + 1}'"


TOOL = probe.ToolProbe(
    name="OCRmyPDF",
    role="needed for archival copies of PDFs and scans",
    distribution=DISTRIBUTION,
    # '17.13.0' -> (17, 13, 0); anything after the leading numbers ('rc1', '+local') is ignored.
    version_pattern=re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?"),
    min_version=MIN_VERSION,
    install_hint=install_hint,
)
parse_version = TOOL.parse_version


def pdfa_backend(gs_version: tuple[int, ...]) -> Literal["internal", "auto"]:
    """Which PDF/A converter OCRmyPDF may use with the installed Ghostscript.

    'internal' (pikepdf, no Ghostscript) when Ghostscript would garble
    existing text; OCRmyPDF refuses 'auto' then anyway. 'auto' tries the
    internal converter first and falls back to Ghostscript.
    """
    return "internal" if ghostscript.garbles_existing_text(gs_version) else "auto"


def ocr_options(
    source: Path,
    target: Path,
    sidecar: Path,
    *,
    pdfa_part: int,
    languages: str,
    mode: OcrMode,
    backend: Literal["internal", "auto"],
) -> dict[str, Any]:
    """Keyword arguments for `ocrmypdf.ocr`."""
    return {
        "input_file_or_options": source,
        "output_file": target,
        "sidecar": sidecar,
        "language": list(tesseract.parse_languages(languages)),
        "output_type": f"pdfa-{pdfa_part}",
        "pdfa_backend": backend,
        "mode": mode,
        # The archival copy keeps the images as received: no recompression.
        "optimize": 0,
        # Linearising moves the XMP metadata towards the end of a large
        # file, where fido (which looks for PRONOM's PDF/A signatures in
        # the first 128 KB) no longer sees the PDF/A claim. Depots have no
        # use for fast web view.
        "fast_web_view": 1_000_000,
        # One page at a time: the caller runs documents in parallel.
        "jobs": 1,
        "use_threads": True,
        "progress_bar": False,
    }


def require(languages: str) -> tuple[str, tuple[int, ...]]:
    """OCRmyPDF's version and Ghostscript's, after checking tesseract has `languages`."""
    installed, _ = probe.require(TOOL)
    tesseract.require(languages)
    _, gs_version = ghostscript.require()
    return installed, gs_version


def make_pdfa(
    source: Path,
    target: Path,
    sidecar: Path,
    *,
    pdfa_part: int,
    languages: str,
    mode: OcrMode,
    timeout: float,
    workdir: Path,
    sandbox_mode: sandbox.Mode = "bwrap",
) -> Outcome:
    """Write `target` as PDF/A of `pdfa_part` with OCR text, and the recognised text to `sidecar`.

    `workdir`, in the data directory's work area, takes the temporary files;
    the caller removes it.
    """
    version, gs_version = require(languages)
    options = ocr_options(
        source, target, sidecar, pdfa_part=pdfa_part, languages=languages, mode=mode, backend=pdfa_backend(gs_version)
    )
    env = sandbox.private_home(workdir / ".ocrmypdf-home")
    writable = (workdir, target.parent, sidecar.parent)
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(sender, options, env, sandbox_mode, writable), name="noarkpipe-ocrmypdf", daemon=True
    )
    child.start()
    sender.close()
    report = None
    try:
        if not receiver.poll(timeout):
            raise InputFileError(
                f"OCR and PDF/A conversion took longer than {timeout:.3g} seconds and was stopped",
                hint="raise [convert] timeout_s for very long documents, or check the file in a viewer",
            )
        try:
            report = receiver.recv()
        except EOFError:
            pass
    finally:
        _stop(child, grace=_STOP_GRACE_SECONDS if report is not None else 0)
        receiver.close()
    if report is None:
        raise InputFileError(
            f"OCRmyPDF stopped without a result (exit status {child.exitcode})",
            hint="the document may be too large for the memory available; check it in a viewer",
        )
    exit_code, kind, message, warnings = report
    if exit_code == _NO_SANDBOX:
        raise sandbox.SandboxError(message, hint=sandbox.install_hint())
    if exit_code != 0:
        raise _translate(exit_code, kind, message, languages)
    # OCRmyPDF repeats some warnings once per page.
    return Outcome(version=version, warnings=tuple(dict.fromkeys(warnings)))


def _translate(exit_code: int, kind: str, message: str, languages: str) -> Exception:
    if exit_code == _MISSING_DEPENDENCY:
        hint = f"{tesseract.install_hint(tesseract.parse_languages(languages))} ghostscript"
        return MissingDependencyError(f"OCRmyPDF is missing a program: {message}", hint=hint)
    if exit_code == _ENCRYPTED:
        return InputFileError(
            "the PDF is encrypted; PDF/A forbids encryption, so no archival copy can be made",
            hint="ask the sender for a copy without password or restrictions",
        )
    if exit_code == _PDFA_FAILED:
        return PdfaNotApprovedError(f"OCRmyPDF could not make an approved PDF/A: {message}")
    if exit_code in (_BAD_ARGS, _INVALID_CONFIG):
        return ConfigError(f"OCRmyPDF refused noarkpipe's settings ({kind}): {message}")
    return InputFileError(
        f"OCRmyPDF could not process the document ({kind}): {message}",
        hint="open the file in a viewer; it may be damaged",
    )


def _context() -> Any:
    if _single_threaded():
        # Nothing else runs here, so a fork copies no lock another thread
        # holds; importing OCRmyPDF once here spares every child the import.
        import ocrmypdf  # noqa: F401

        return multiprocessing.get_context("fork")
    return _forkserver_context()


@lru_cache(maxsize=1)
def _forkserver_context() -> Any:
    # A fork server is one clean process, started once, that has imported
    # OCRmyPDF; forking a caller that has other threads would copy their locks.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, DISTRIBUTION])
    return context


def _single_threaded() -> bool:
    """True if this process has one thread, counting those native libraries started, not only Python's."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _child(
    sender: Connection, options: dict[str, Any], env: dict[str, str], sandbox_mode: sandbox.Mode,
    writable: tuple[Path, ...],
) -> None:
    """Runs in the child: OCRmyPDF once in a process of its own, which reports to the parent."""
    os.setsid()
    die_with_parent()
    # First, while this process has one thread: no network for it or anything it starts.
    try:
        sandbox.enter_own_namespaces(sandbox_mode, writable)
    except sandbox.SandboxError as exc:
        sender.send((_NO_SANDBOX, type(exc).__name__, exc.message, []))
        sender.close()
        return
    converter = os.fork()
    if converter == 0:
        try:
            die_with_parent()
            _convert(sender, options, env)
        finally:
            os._exit(0)
    sender.close()
    _, status = os.waitpid(converter, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def _convert(sender: Connection, options: dict[str, Any], env: dict[str, str]) -> None:
    """OCRmyPDF once, then (exit code, kind, message, warnings) to the parent."""
    os.environ.clear()
    os.environ.update(env)
    # The fork server may have chosen the temporary folder already, from its own environment.
    tempfile.tempdir = env["TMPDIR"]
    # Same reason as in the tesseract wrapper: OpenMP threads slow tesseract on small servers.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    warnings = _WarningCollector()
    root = logging.getLogger()
    root.handlers = [warnings]
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    # Imported here: the fork server has it loaded already, and a caller
    # that never converts should not pay for importing it.
    import ocrmypdf
    from ocrmypdf.exceptions import ExitCodeException

    try:
        code = int(ocrmypdf.ocr(**options))
        report = (code, "ExitCode", f"exit code {code}", warnings.messages)
    except ExitCodeException as exc:
        report = (int(exc.exit_code), type(exc).__name__, str(exc).strip(), warnings.messages)
    except Exception as exc:
        report = (-1, type(exc).__name__, str(exc).strip(), warnings.messages)
    sender.send(report)
    sender.close()


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


def _stop(child: multiprocessing.process.BaseProcess, grace: float) -> None:
    """Make sure the child and everything it started are gone.

    A child that has reported gets `grace` seconds to exit on its own;
    one still running after that, or stopped for a timeout, is killed with
    its whole process group, tesseract included.
    """
    if not wait([child.sentinel], grace):
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            # Stopped before its setsid(): it has no group yet, and no children.
            child.kill()
    child.join()
