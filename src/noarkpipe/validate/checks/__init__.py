"""The check families: one module per family, each a `Family` with its checks and what it listens to.

A family declares its checks (`CheckDef`: id, name, severity, description),
subscribes to the entities it needs in the one streaming pass over the XML
files (`prepare`), and turns what it saw into findings when the pass and
the file hashing are done (`finish`). Adding a check touches one module.
The README's table of checks is generated from `all_checks()`
(`checks_table()`), and a test keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noarkpipe.validate.model import CheckDef, Severity

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run


class Family:
    name = ""
    title = ""
    checks: tuple[CheckDef, ...] = ()

    def prepare(self, run: Run) -> None:
        """Create ledger tables and subscribe to entities; called before anything is read."""

    def finish(self, run: Run) -> None:
        """Report findings; called once the XML pass and the file hashing are done."""


def check(family: str, id: str, name: str, severity: Severity, description: str,
          arkade: tuple[str, ...] = ()) -> CheckDef:
    """A check definition; `arkade` names the Arkade 5 tests it answers (see validate/arkade.py)."""
    return CheckDef(id=id, name=name, severity=severity, description=description, family=family, arkade=arkade)


def families() -> list[Family]:
    """A fresh instance of every family, in report order."""
    from noarkpipe.validate.checks import (
        addml,
        changelog,
        counts,
        documents,
        formats,
        hierarchy,
        identifiers,
        journal,
        packaging,
        structure,
    )

    return [
        packaging.PackageFamily(),
        structure.StructureFamily(),
        addml.AddmlFamily(),
        counts.CountsFamily(),
        hierarchy.HierarchyFamily(),
        identifiers.IdentifiersFamily(),
        documents.DocumentsFamily(),
        journal.JournalFamily(),
        changelog.ChangelogFamily(),
        formats.FormatsFamily(),
    ]


def all_checks() -> list[CheckDef]:
    return [definition for family in families() for definition in family.checks]


def _cell(text: str) -> str:
    # Markdown would take <UUID> for an HTML tag
    return text.replace("|", "\\|").replace("<", "&lt;")


def checks_table() -> str:
    """The Markdown tables the README shows: every check, then every Arkade 5 test and what answers it."""
    rows = ["| id | check | severity | Arkade 5 | what it looks at |", "|---|---|---|---|---|"]
    for definition in all_checks():
        rows.append(f"| {definition.id} | {definition.name} | {definition.severity.value} | "
                    f"{', '.join(definition.arkade)} | {_cell(definition.description)} |")
    return ("\n".join(rows) + "\n\nArkade 5's 54 Noark 5 tests (N5.01–N5.64, with gaps), each with the checks "
            "that answer it and where they judge differently:\n\n" + arkade_table())


def arkade_coverage() -> dict[str, list[str]]:
    """Arkade test id -> the ids of our checks that answer it, for every one of Arkade's Noark 5 tests."""
    from noarkpipe.validate.arkade import ARKADE_TESTS

    covered: dict[str, list[str]] = {test: [] for test in ARKADE_TESTS}
    for definition in all_checks():
        for test in definition.arkade:
            covered[test].append(definition.id)
    return covered


def arkade_table() -> str:
    """Markdown: each Arkade 5 Noark 5 test, the checks that answer it, and how they differ."""
    from noarkpipe.validate.arkade import ARKADE_TESTS

    rows = ["| Arkade 5 | test | answered by | notes |", "|---|---|---|---|"]
    for test, checks in arkade_coverage().items():
        name, note = ARKADE_TESTS[test]
        rows.append(f"| {test} | {name} | {', '.join(checks) or 'not covered'} | {_cell(note)} |")
    return "\n".join(rows)
