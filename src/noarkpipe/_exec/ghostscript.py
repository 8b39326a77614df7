"""The Ghostscript program: is it there, which version, rewrite a PDF with every font embedded.

This module is the only place that knows Ghostscript's command line. The
conversion layer needs it for one thing: a PDF whose fonts are not embedded
(often the standard fonts Helvetica or Times) cannot become PDF/A until the
fonts are put into the file, and Ghostscript's pdfwrite does that with its
metric-compatible URW replacements. It runs in the converters' sandbox
(`sandbox.py`: no network, writes only beside its output, temporaries
there too), and with -dSAFER. Failures become noarkpipe errors: a
missing program is a `MissingDependencyError` naming the Debian package, a
PDF Ghostscript cannot read or finish in time is an `InputFileError`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from noarkpipe._exec import probe, sandbox
from noarkpipe.errors import InputFileError, MissingDependencyError

MIN_VERSION = (9, 54)
"""The oldest release OCRmyPDF supports, and the one RHEL 9 ships."""
TEXT_REGRESSION = ((10, 0, 0), (10, 2, 1))
"""Versions from the first up to (not including) the second can corrupt existing text when rewriting a PDF.

The pages still look right, but their text copies and searches as nonsense
(the last of these regressions, Ghostscript bug 707245, was fixed in
10.02.1). Debian 12 ships 10.0.0. OCRmyPDF will not let these versions
convert PDFs that have text to PDF/A; noarkpipe then uses Ghostscript only
to embed missing fonts, and verification compares each page's text before
and after.
"""


def install_hint() -> str:
    return "apt-get install ghostscript"


TOOL = probe.ToolProbe(
    name="Ghostscript",
    role="needed to embed fonts in PDFs for their archival copy",
    programs=("gs",),
    # `gs --version` prints '10.00.0'.
    version_pattern=re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", re.MULTILINE),
    min_version=MIN_VERSION,
    install_hint=install_hint,
)
parse_version = TOOL.parse_version


def garbles_existing_text(version: tuple[int, ...]) -> bool:
    """True for the releases with the text regression, see TEXT_REGRESSION."""
    first, fixed = TEXT_REGRESSION
    return first <= _padded(version) < fixed


def embed_fonts_args(program: str, source: Path, target: Path) -> list[str]:
    """The command line that rewrites `source` as `target` with all fonts embedded.

    The standard 14 fonts are on pdfwrite's never-embed list by default, so
    the list is emptied. Images must come through unchanged: JPEGs are passed
    through as they are, other images stay lossless (Flate) instead of being
    re-encoded as JPEG, and nothing is downsampled. -dPDFSTOPONERROR makes a
    damaged page an error instead of a page quietly left out.
    """
    return [
        program,
        "-dSAFER",
        "-dBATCH",
        "-dNOPAUSE",
        "-dQUIET",
        "-sDEVICE=pdfwrite",
        "-dCompatibilityLevel=1.7",
        "-dPDFSTOPONERROR",
        "-dAutoRotatePages=/None",
        "-sColorConversionStrategy=LeaveColorUnchanged",
        "-dEmbedAllFonts=true",
        "-dSubsetFonts=true",
        "-dPassThroughJPEGImages=true",
        "-dAutoFilterColorImages=false",
        "-dColorImageFilter=/FlateEncode",
        "-dAutoFilterGrayImages=false",
        "-dGrayImageFilter=/FlateEncode",
        "-dDownsampleColorImages=false",
        "-dDownsampleGrayImages=false",
        "-dDownsampleMonoImages=false",
        # Ghostscript expands %d in output names into page numbers.
        "-sOutputFile=" + str(target).replace("%", "%%"),
        "-c",
        "<< /NeverEmbed [ ] >> setdistillerparams",
        "-f",
        str(source),
    ]


def require() -> tuple[str, tuple[int, ...]]:
    """The path and version of a Ghostscript that is new enough."""
    return probe.require(TOOL)


def embed_fonts(
    program: str, source: Path, target: Path, *, timeout: float, sandbox_mode: sandbox.Mode = "bwrap"
) -> None:
    """Rewrite the PDF `source` as `target` with every font embedded; its temporaries go beside `target`."""
    args, env = sandbox.confine(
        embed_fonts_args(program, source, target), sandbox_mode,
        home=target.parent / f".{target.name}.home", writable=(target.parent,), readable=(source,),
    )
    try:
        # subprocess's own kill on timeout ends bwrap, and with it the
        # sandbox and the Ghostscript inside (--die-with-parent).
        completed = subprocess.run(args, capture_output=True, timeout=timeout, env=env, check=False)
    except FileNotFoundError as exc:
        raise MissingDependencyError(f"Ghostscript disappeared from {program}", hint=install_hint()) from exc
    except subprocess.TimeoutExpired as exc:
        raise InputFileError(
            f"Ghostscript took longer than {timeout:.3g} seconds to embed the fonts of the PDF and was stopped",
            hint="open the PDF in a viewer; a very large or damaged PDF may need to be sent again",
        ) from exc
    output = (completed.stdout + completed.stderr).decode("utf-8", "replace")
    if completed.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        raise InputFileError(
            f"Ghostscript could not rewrite the PDF (exit status {completed.returncode}): {_last_error(output)}",
            hint="open the PDF in a viewer; it may be damaged, and the sender may need to send it again",
        )


def _padded(version: tuple[int, ...]) -> tuple[int, ...]:
    return ((*version, 0, 0, 0))[:3]


def _last_error(text: str) -> str:
    """Ghostscript's most telling line: the last '**** Error' if any, else the last line."""
    lines = [line.strip(" *") for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else "no message"
