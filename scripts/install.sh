#!/usr/bin/env bash
# Installs what noarkpipe needs on a fresh Debian/Ubuntu machine: system
# packages (apt-get) and a virtualenv in .venv with noarkpipe and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(python3 python3-venv python3-dev libmagic1 tzdata)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "noarkpipe installed in $(pwd)/.venv ($(.venv/bin/noarkpipe --version))"
