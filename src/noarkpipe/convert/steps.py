"""What the steps of one conversion share: the record of each tool that worked on the copy, and one time budget.

A copy is made in steps by several programs (LibreOffice, img2pdf, fpdf2,
WeasyPrint, Ghostscript, OCRmyPDF, pikepdf), each step in its own module
(`pdfa.py` chooses them, `normalise.py` makes a PDF into PDF/A, `typeset.py`
sets an e-mail's text). Each step names the tools it used, in order, for
the konvertering record (`ToolVersion`), and all steps of one document
spend one `Deadline`, so the external programs are stopped when the
document's `timeout_s` has passed, whichever step is running.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from noarkpipe.errors import InputFileError


class ToolVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str


class Deadline:
    """One time budget for all the steps of one document."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left for the next step; InputFileError when none are."""
        remaining = self.ends - time.monotonic()
        if remaining <= 0:
            raise InputFileError("the time was used up before the next step could start")
        return remaining

    def expired(self) -> bool:
        return time.monotonic() >= self.ends
