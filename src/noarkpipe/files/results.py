"""What identification and verification say about a file, as plain models.

`identify.identify` answers with a `FormatId`, `verify.verify_pdfa` with a
`VerificationReport`. The answers are kept here, apart from the libraries
that find them out (fido and libmagic, pikepdf and PDFium), so that a
process that only reads them, such as the nightly run's own, which takes
the conversion records its workers send back, need not load those.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Basis = Literal["signature", "container", "text", "none"]


class FormatId(BaseModel):
    """A file's format: PRONOM id, name and version, MIME type, and whether depots accept it."""

    model_config = ConfigDict(frozen=True)

    puid: str | None
    name: str
    version: str = ""
    mime: str
    accepted: bool
    basis: Basis
    """How the format was found: a byte signature, a container signature, decoded text, or not at all."""


PdfaProfile = Literal["1b", "2b", "3b"]
"""PDF/A part and conformance level B; the levels OCRmyPDF and LibreOffice both produce."""

Outcome = Literal["passed", "failed", "not_checked"]


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    outcome: Outcome
    detail: str


class VerificationReport(BaseModel):
    """The checks run on one archival copy; `passed` unless one of them failed."""

    model_config = ConfigDict(frozen=True)

    file: str
    profile: PdfaProfile
    pages: int | None
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.outcome == "failed")

    def summary(self) -> str:
        lines = [f"PDF/A-{self.profile} checks of {self.file}:"]
        lines += [f"  {check.id}: {check.outcome} - {check.detail}" for check in self.checks]
        return "\n".join(lines)
