"""Validation of Noark 5 extracts and DIAS deposit packages, for auditors and depots.

`validate(ValidateOptions(path=...))` checks an extract folder or a DIAS
tar (read in place) made by any system, Noark 5 v5.0, v4.0 or v3.1, and
returns a `ValidationReport`: every check with its id, severity, result
and example locations. `html.render` turns a report into a self-contained
page for people; the model serialises to JSON for machines.

How it is built (the pieces, in the order they work):

- source.py: the package as a folder or a tar read in place; unsafe
  members reported, never followed.
- version.py, addml.py: which Noark 5 version, what arkivuttrekk.xml says;
  official.py: whether a schema is the official one (by content, not bytes).
- walker.py: one streaming pass per XML file, validated against the
  official schema while it streams, entities dispatched to the checks.
- ledger.py: a scratch SQLite index so memory stays flat.
- checks/: one module per family of checks (package, structure, addml,
  counts, hierarchy, identifiers, documents, journal, changelog, formats).
- engine.py: the order of work, the report; reader.py: the second process that reads
  every byte once, hashing it and validating the XML against its schema.
- arkade.py: Arkade 5's 54 Noark 5 tests, each answered by checks naming it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from noarkpipe.validate.engine import validate
    from noarkpipe.validate.model import CheckDef, CheckResult, Location, Severity, ValidateOptions, ValidationReport

__all__ = [
    "CheckDef", "CheckResult", "Location", "Severity", "ValidateOptions", "ValidationReport", "validate",
]
_HOMES = {"validate": ".engine", **dict.fromkeys(__all__[:-1], ".model")}


def __getattr__(name: str):
    # Imported on first use, so the reading process (reader.py, a child of its own) starts without
    # the engine, the checks and pydantic: it needs none of them.
    if name in _HOMES:
        return getattr(import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
