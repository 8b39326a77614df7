#!/usr/bin/env bash
# Command 2 of the README: the whole test suite (scripts/install.sh first on a fresh machine).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
