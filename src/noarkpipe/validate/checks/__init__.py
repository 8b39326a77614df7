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

from ..model import CheckDef, Severity

if TYPE_CHECKING:
    from ..engine import Run


class Family:
    name = ""
    title = ""
    checks: tuple[CheckDef, ...] = ()

    def prepare(self, run: Run) -> None:
        """Create ledger tables and subscribe to entities; called before anything is read."""

    def finish(self, run: Run) -> None:
        """Report findings; called once the XML pass and the file hashing are done."""


def check(family: str, id: str, name: str, severity: Severity, description: str) -> CheckDef:
    return CheckDef(id=id, name=name, severity=severity, description=description, family=family)


def families() -> list[Family]:
    """A fresh instance of every family, in report order."""
    from . import (
        addml,
        changelog,
        counts,
        documents,
        formats,
        hierarchy,
        identifiers,
        journal,
        package,
        structure,
    )

    return [
        package.PackageFamily(),
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


def checks_table() -> str:
    """The Markdown table of every check, as the README shows it."""
    rows = ["| id | check | severity | what it looks at |", "|---|---|---|---|"]
    for definition in all_checks():
        # Markdown would take <UUID> for an HTML tag
        description = definition.description.replace("|", "\\|").replace("<", "&lt;")
        rows.append(f"| {definition.id} | {definition.name} | {definition.severity.value} | {description} |")
    return "\n".join(rows)
