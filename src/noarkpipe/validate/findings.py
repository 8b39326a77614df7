"""The findings of one check while the validation runs: a count, a few examples, figures.

A check on a broken extract of a million registrations can have a million
findings; the report keeps all of them counted and the first
`max_examples` (default `MAX_EXAMPLES`) as examples, so its size does not
grow with the extract. When every finding is wanted (the CSV report), each
is also appended to a scratch table on disk (`FINDINGS_TABLE` in a
`Ledger`) as it is found, and read back sorted once the run is done:
memory stays flat however many there are.

A finding's message is a `Message` (an English template and its values,
see messages.py), rendered in the report's language only when the report
is written. An example keeps the English text beside the template and the
values; the scratch table keeps the message encoded as one JSON text.
"""

from __future__ import annotations

from typing import Any

from noarkpipe.validate.ledger import Ledger
from noarkpipe.validate.messages import Message, as_message
from noarkpipe.validate.model import MAX_EXAMPLES, CheckDef, CheckResult, Location, Severity
from noarkpipe.validate.texts import default_summary, texts

FINDINGS_TABLE = "finding"
FINDINGS_COLUMNS = "check_order INTEGER, check_id TEXT, file TEXT, line INTEGER, path TEXT, message TEXT"
"""`message` holds `Message.encode()`: the template and its values as JSON, rendered when the CSV is written."""


class Findings:
    def __init__(self, check: CheckDef, *, max_examples: int = MAX_EXAMPLES, sink: Ledger | None = None,
                 order: int = 0) -> None:
        """`max_examples` 0 keeps every finding as an example; `sink` gets every finding (see module docstring)."""
        self.check = check
        self.max_examples = max_examples
        self.sink = sink
        self.order = order
        self.count = 0
        self.examples: list[Location] = []
        self.summary: Message | str = ""
        self.data: dict[str, Any] = {}
        self.skipped: Message | None = None

    def add(self, message: Message | str, *, file: str = "", line: int | None = None, path: str = "") -> None:
        """One finding; `message` is a `msg(...)` (a plain text is reported as it is, in every language)."""
        message = as_message(message)
        self.count += 1
        if not self.max_examples or len(self.examples) < self.max_examples:
            english = message.render()
            self.examples.append(Location(file=file, line=line, path=path, message=english, message_en=english,
                                          template=message.template, params=message.data()))
        if self.sink is not None:
            self.sink.add(FINDINGS_TABLE, (self.order, self.check.id, file, line, path, message.encode()))

    def not_run(self, reason: Message | str) -> None:
        """The check could not be carried out (say why); it neither passes nor fails."""
        self.skipped = as_message(reason)

    def result(self) -> CheckResult:
        check = self.check
        written = as_message(self.summary) if self.summary else None
        if self.skipped is not None and not self.count:
            status, summary = "not_run", written or self.skipped
        elif check.severity == Severity.info:
            status, summary = "info", written or as_message("")
        elif self.count:
            status, summary = "failed", written or as_message(default_summary("failed", self.count, texts("en")))
        else:
            status, summary = "passed", written or as_message(default_summary("passed", 0, texts("en")))
        english = summary.render()
        return CheckResult(
            id=check.id, name=check.name, severity=check.severity, description=check.description,
            family=check.family, arkade=check.arkade, status=status, count=self.count, summary=english,
            summary_en=english, summary_template=summary.template, summary_params=summary.data(),
            examples=list(self.examples), data=self.data,
        )
