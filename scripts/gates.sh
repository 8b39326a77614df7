#!/usr/bin/env bash
# The gates CI runs before the tests: lint (ruff), types (mypy against a baseline that may
# only shrink) and the layer order (import-linter contracts in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff"
.venv/bin/ruff check src tests bench scripts fixtures
echo "== mypy"
.venv/bin/python scripts/mypy_baseline.py
echo "== import-linter"
.venv/bin/lint-imports --no-cache
