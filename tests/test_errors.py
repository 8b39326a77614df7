"""Every error class lives in noarkpipe.errors, is importable from noarkpipe, carries an exit code and is in the README."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import noarkpipe
from noarkpipe import errors

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "src" / "noarkpipe"


def _error_classes() -> list[type[errors.NoarkpipeError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, errors.NoarkpipeError) and c.__module__ == errors.__name__]


def test_every_error_class_is_exported_with_an_exit_code_and_documented():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    classes = _error_classes()
    assert len(classes) >= 20
    for error in classes:
        assert getattr(noarkpipe, error.__name__) is error
        if error is errors.NoarkpipeError:
            continue
        assert isinstance(error.exit_code, errors.ExitCode)
        assert f"`{error.__name__}`" in readme, f"{error.__name__} is not in the README's exit-code section"


def test_no_module_defines_an_error_class_of_its_own():
    """Private signals (a leading underscore) stay where they are raised and caught; nothing else."""
    bases = {c.__name__ for c in _error_classes()} | {"NoarkpipeError", "Exception"}
    found = []
    for path in SOURCE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {getattr(base, "id", getattr(base, "attr", "")) for base in node.bases}
                if names & bases and not node.name.startswith("_"):
                    found.append(f"{path.relative_to(SOURCE)}: {node.name}")
    assert found == []
