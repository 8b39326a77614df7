"""The tesseract OCR program: is it there, can it read the languages asked for, run it on one page.

This module is the only place that knows tesseract's command line. Pages go
in on stdin as PNG and text comes back on stdout, so OCR leaves no files
behind. It runs in the converters' sandbox (`sandbox.py`), with no network
and nowhere to write but the sandbox's private /tmp; the version probes,
which read no document, run outside it. Failures become noarkpipe errors: a
missing program or language is a `MissingDependencyError` naming the Debian
packages, a page tesseract cannot read or finish in time is an
`InputFileError` for the file it came from.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path

from noarkpipe._exec import probe, sandbox
from noarkpipe.errors import ConfigError, InputFileError, MissingDependencyError

MIN_VERSION = (4, 1)
"""The LSTM engine, reading from stdin and the --dpi option all work from 4.1."""
PAGE_TIMEOUT_SECONDS = 180
"""A letter page takes about a second; three minutes means tesseract is stuck on it."""

_LANGUAGE_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_LANGUAGE_LOAD_FAILURE = ("Failed loading language", "Error opening data file", "couldn't load any languages")
_BUNDLED_LANGUAGES = frozenset({"eng", "osd"})
"""Installed with the tesseract-ocr package itself on Debian, so never named in an install hint."""


def parse_languages(spec: str) -> tuple[str, ...]:
    """'nor+eng' -> ('nor', 'eng'); anything else is a configuration mistake."""
    codes = tuple(spec.split("+"))
    if not spec or not all(_LANGUAGE_CODE.match(code) for code in codes):
        raise ConfigError(
            f"the OCR language setting {spec!r} is not a list of tesseract language codes",
            hint="set ocr_languages under [intake] to codes joined by '+', e.g. 'nor+eng'",
        )
    return codes


def parse_installed_languages(output: str) -> frozenset[str]:
    """The codes listed by `tesseract --list-langs`, without its 'List of available languages' heading."""
    lines = [line.strip() for line in output.splitlines()]
    return frozenset(line for line in lines if line and not line.lower().startswith("list of available"))


def install_hint(languages: tuple[str, ...] = ("nor",)) -> str:
    """The apt-get line for tesseract with `languages`; Debian packages 'chi_sim' as tesseract-ocr-chi-sim."""
    extra = [code.lower().replace("_", "-") for code in languages if code not in _BUNDLED_LANGUAGES]
    return " ".join(["apt-get install tesseract-ocr", *(f"tesseract-ocr-{code}" for code in extra)])


def _environment() -> dict[str, str]:
    # tesseract's OpenMP threads make it several times slower on small
    # servers (measured 2.1 s against 0.5 s for an A4 letter on 2 cores);
    # an operator who has measured otherwise can still set the variable.
    return {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}


TOOL = probe.ToolProbe(
    name="tesseract",
    role="the OCR program for scanned mail",
    programs=("tesseract",),
    # `tesseract --version` prints 'tesseract 5.3.0' (older releases 'tesseract v4.1.1-rc2', on stderr).
    version_pattern=re.compile(r"tesseract\s+v?(\d+)\.(\d+)(?:\.(\d+))?", re.IGNORECASE),
    min_version=MIN_VERSION,
    install_hint=install_hint,
    environment=_environment,
    reads_stderr=True,
)
parse_version = TOOL.parse_version


def ocr_args(program: str, languages: tuple[str, ...], dpi: int) -> list[str]:
    """The command line for one page image on stdin, plain text on stdout.

    --dpi is passed because scanned PNGs often carry no resolution, and
    tesseract then guesses from character sizes, which skews its layout analysis.
    """
    return [program, "stdin", "stdout", "-l", "+".join(languages), "--dpi", str(dpi), "--psm", "3"]


def require(languages: str) -> str:
    """The path of a tesseract that is new enough and has every language in `languages`."""
    codes = parse_languages(languages)
    program, _ = probe.require(TOOL, hint=install_hint(codes))
    installed = _installed_languages(program)
    missing = tuple(code for code in codes if code not in installed)
    if missing:
        raise MissingDependencyError(
            f"tesseract has no trained data for the OCR language(s) {', '.join(missing)} "
            f"(installed: {', '.join(sorted(installed)) or 'none'})",
            hint=install_hint(missing),
        )
    return program


def page_text(
    program: str,
    png: bytes,
    languages: str,
    dpi: int,
    timeout: float = PAGE_TIMEOUT_SECONDS,
    *,
    sandbox_mode: sandbox.Mode = "bwrap",
) -> str:
    """The recognised text of one page image.

    `png` must be image bytes noarkpipe made itself: tesseract takes
    anything on stdin that is not an image for a list of file names to read.
    """
    codes = parse_languages(languages)
    # Trained data an operator keeps elsewhere (TESSDATA_PREFIX) may lie in a folder the sandbox hides.
    tessdata = [Path(prefix) for prefix in [os.environ.get("TESSDATA_PREFIX")] if prefix]
    args, env = sandbox.confine(
        ocr_args(program, codes, dpi), sandbox_mode, home=None, readable=tessdata, base=_environment()
    )
    try:
        completed = subprocess.run(args, input=png, capture_output=True, timeout=timeout, env=env, check=False)
    except FileNotFoundError as exc:
        raise MissingDependencyError(f"tesseract disappeared from {program}", hint=install_hint(codes)) from exc
    except subprocess.TimeoutExpired as exc:
        raise InputFileError(
            f"OCR of a page took longer than {timeout:.0f} seconds and was stopped",
            hint="check the page in a viewer; an unusually large or noisy page may need a rescan",
        ) from exc
    stderr = completed.stderr.decode("utf-8", "replace")
    if completed.returncode != 0:
        if any(marker in stderr for marker in _LANGUAGE_LOAD_FAILURE):
            raise MissingDependencyError(
                f"tesseract could not load the OCR language(s) {languages}: {_last_line(stderr)}",
                hint=install_hint(codes),
            )
        raise InputFileError(
            f"tesseract could not read a page (exit status {completed.returncode}): {_last_line(stderr)}",
            hint="check the page in a viewer; it may be damaged",
        )
    return completed.stdout.decode("utf-8", "replace")


@lru_cache(maxsize=4)
def _installed_languages(program: str) -> frozenset[str]:
    """The trained data the tesseract at `program` has, asked once per process."""
    return parse_installed_languages(probe.probe_output(TOOL, program, ("--list-langs",)))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
