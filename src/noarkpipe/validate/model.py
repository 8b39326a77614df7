"""What a validation is asked to do and what it reports, as pydantic models.

A report is the list of check results, in the order of the check
definitions, plus what was validated (input, package, Noark 5 version and
how it was recognised) and how long it took. Each check has an id, a name,
a severity and a description (`CheckDef`); its result says whether it
passed, failed, only informs (counts, statistics) or could not run, how
many findings it has, and a capped list of example locations (file, line,
element path) so a report stays readable and its size bounded whatever
the extract's size.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_EXAMPLES = 25
"""Example locations kept per check; the count covers every finding."""


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


Status = Literal["passed", "failed", "info", "not_run"]


class CheckDef(BaseModel):
    """One check: stable id, display name, how bad a finding is, what it looks at."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    severity: Severity
    description: str
    family: str = ""
    arkade: tuple[str, ...] = ()
    """The Arkade 5 Noark 5 tests this check answers ('N5.22'), so a report can be set beside Arkade's."""


class Location(BaseModel):
    """Where a finding is: a file in the package, a line, the element path, and what is wrong there.

    `message` is in the report's language; `message_en` is the same in
    English and `template` its English template with the values in
    `params` (see messages.py), so a script reads every report the same way.
    """

    model_config = ConfigDict(frozen=True)

    file: str = ""
    line: int | None = None
    path: str = ""
    message: str
    message_en: str = ""
    template: str = ""
    params: dict[str, Any] = Field(default_factory=dict)

    def text(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        inside = f" {self.path}" if self.path else ""
        return f"{where}{inside}: {self.message}" if where or inside else self.message


class CheckResult(BaseModel):
    id: str
    name: str
    severity: Severity
    description: str
    family: str
    arkade: tuple[str, ...] = ()
    status: Status
    count: int = 0
    """Number of findings (for statistics checks: 0)."""
    summary: str = ""
    """In the report's language; `summary_en`, `summary_template` and `summary_params` as for a Location."""
    summary_en: str = ""
    summary_template: str = ""
    summary_params: dict[str, Any] = Field(default_factory=dict)
    examples: list[Location] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    """Figures behind the result (counts per year, per format, ...), for machines and charts."""


class DetectedVersion(BaseModel):
    noark: str
    """'v5.0', 'v4.0' or 'v3.1'."""
    addml: str
    """The ADDML schema used: '8.3' or '8.2'."""
    evidence: list[str] = Field(default_factory=list)
    conflicts: list[str] = Field(default_factory=list)


class ValidateOptions(BaseModel):
    """What `noarkpipe validate` is asked to do; the CLI and api.validate fill it the same way."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    submission_description: Path | None = None
    max_identify: int = Field(
        default=500, ge=0,
        description="distinct document files identified (PRONOM); 0 identifies every one",
    )
    max_pdfa: int = Field(default=100, ge=0, description="PDF/A files checked for conformance indicators; 0: all")
    max_examples: int = Field(default=MAX_EXAMPLES, ge=0, description="example locations kept per check; 0: all")
    findings_csv: Path | None = Field(
        default=None, description="write every finding, sorted by file and line, to this CSV file",
    )
    lang: Literal["nb", "en"] = Field(
        default="en", description="language of the CSV's messages (the CSV is written before the run ends)",
    )


class ArkivdelCounts(BaseModel):
    """What one arkivdel of the extract holds, as a depot sets it beside the records creator's figures."""

    systemID: str = ""
    tittel: str = ""
    arkivdelstatus: str = ""
    arkivperiodeStartDato: str = ""
    arkivperiodeSluttDato: str = ""
    path: str = ""
    mapper: int = 0
    registreringer: int = 0
    dokumentbeskrivelser: int = 0
    dokumentobjekter: int = 0


class ValidationReport(BaseModel):
    tool: str
    input: str
    input_kind: Literal["extract-folder", "dias-folder", "dias-tar", "extract-tar"]
    package_uuid: str | None = None
    submission_description: str | None = None
    content_root: str
    version: DetectedVersion
    started: datetime
    finished: datetime
    seconds: float
    bytes_read: int
    files: int
    results: list[CheckResult]
    arkivdeler: list[ArkivdelCounts] = Field(default_factory=list)
    """Counts per arkivdel, in the order of arkivstruktur.xml."""
    lang: str = "en"
    """The language of the display texts (names, descriptions, default summaries): 'en' or 'nb'."""

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed" and r.severity == Severity.error]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed" and r.severity == Severity.warning]

    @property
    def passed(self) -> bool:
        """True when no check of severity error failed."""
        return not self.errors

    def result(self, check_id: str) -> CheckResult:
        for result in self.results:
            if result.id == check_id:
                return result
        raise KeyError(check_id)
