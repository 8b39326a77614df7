"""The findings of one check while the validation runs: a count, a few examples, figures.

A check on a broken extract of a million registrations can have a million
findings; the report keeps all of them counted and the first
`MAX_EXAMPLES` as examples, so its size does not grow with the extract.
"""

from __future__ import annotations

from typing import Any

from .model import MAX_EXAMPLES, CheckDef, CheckResult, Location, Severity


class Findings:
    def __init__(self, check: CheckDef) -> None:
        self.check = check
        self.count = 0
        self.examples: list[Location] = []
        self.summary = ""
        self.data: dict[str, Any] = {}
        self.skipped: str | None = None

    def add(self, message: str, *, file: str = "", line: int | None = None, path: str = "") -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(Location(file=file, line=line, path=path, message=message))

    def not_run(self, reason: str) -> None:
        """The check could not be carried out (say why); it neither passes nor fails."""
        self.skipped = reason

    def result(self) -> CheckResult:
        check = self.check
        if self.skipped is not None and not self.count:
            status, summary = "not_run", self.summary or self.skipped
        elif check.severity == Severity.info:
            status, summary = "info", self.summary
        elif self.count:
            status, summary = "failed", self.summary or f"{self.count} finding(s)"
        else:
            status, summary = "passed", self.summary or "no findings"
        return CheckResult(
            id=check.id, name=check.name, severity=check.severity, description=check.description,
            family=check.family, status=status, count=self.count, summary=summary,
            examples=list(self.examples), data=self.data,
        )
