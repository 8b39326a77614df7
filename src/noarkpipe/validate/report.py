"""Reports beside the JSON and HTML ones: every finding as CSV, and a check explained.

The CSV is for the auditor who must go through every finding (a faulty
extract can have millions; the other reports keep a few examples per
check): one row per finding, sorted by file and line so the rows about
one part of a file stand together, with the check's id, its Arkade 5
ids and its severity. It is written from an iterator (the engine reads
the findings back from disk, sorted by SQLite), so its size costs no
memory. The column names and the severity tokens are fixed English
words, the same whatever the report language, so a script or a
spreadsheet formula reads every CSV the same way; the messages are in
the report's language (`ValidateOptions.lang`, see messages.py). UTF-8 with a byte-order mark, so that a spreadsheet opened
by double-click shows æ, ø and å rightly.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from noarkpipe.validate.model import CheckDef
from noarkpipe.validate.texts import Texts

CSV_COLUMNS = ("check_id", "arkade", "severity", "file", "line", "path", "message")


def write_findings_csv(rows: Iterable[tuple], target: Path) -> int:
    """Write rows (check id, Arkade ids, severity, file, line, element path, message) to `target`.

    Written whole or not at all: a hidden file beside it, renamed into
    place at the end, so a killed run leaves no half report under the
    name asked for. Returns the number of findings written.
    """
    target = target.expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    written = 0
    try:
        with partial.open("w", encoding="utf-8-sig", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(CSV_COLUMNS)
            for check_id, arkade, severity, file, line, path, message in rows:
                writer.writerow((check_id, " ".join(arkade), severity, file, "" if line is None else line, path,
                                 message))
                written += 1
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return written


def find_check(check_id: str, checks: Iterable[CheckDef]) -> CheckDef | None:
    """The check with this id, written in any case ('str-04' finds STR-04)."""
    wanted = check_id.strip().upper()
    return next((check for check in checks if check.id.upper() == wanted), None)


def explain(check: CheckDef, words: Texts) -> str:
    """What a check does, why, and what usually causes its findings, as plain text in `words`' language."""
    arkade = ", ".join(check.arkade) or words("explain_arkade_none")
    lines = [
        f"{check.id}  {words.name(check)}",
        f"{words('explain_severity')}: {words.severity(check.severity.value)}",
        f"{words('explain_arkade')}: {arkade}",
        "",
        f"{words('explain_what')}:",
        f"  {words.description(check)}",
        "",
        f"{words('explain_why')}:",
        f"  {words.why(check)}",
    ]
    causes = words.causes(check)
    if causes:
        lines += ["", f"{words('explain_causes')}:", f"  {causes}"]
    return "\n".join(lines)
