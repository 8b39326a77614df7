#!/usr/bin/env bash
# Installs what noarkpipe needs on a fresh Debian/Ubuntu machine: system
# packages (apt-get) and a virtualenv in .venv with noarkpipe and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runtime: libmagic (file types), tesseract with Norwegian and English (scanned
# mail, OCR of archival copies), zbar (QR separator sheets), DejaVu fonts
# (rendered pages), Ghostscript (embedding fonts before PDF/A), LibreOffice
# without a display (office documents to PDF/A), Pango and HarfBuzz (WeasyPrint:
# HTML e-mail to PDF/A), bubblewrap (the converters run with no network),
# libxml2-utils (xmllint: the baseline bench/bench_validate.py sets beside validate).
SYSTEM_PACKAGES=(
  python3 python3-venv python3-dev libmagic1 tzdata
  tesseract-ocr tesseract-ocr-nor tesseract-ocr-eng libzbar0 fonts-dejavu-core
  ghostscript libreoffice-writer-nogui libreoffice-calc-nogui
  bubblewrap libxml2-utils
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
)

source scripts/lib.sh
ensure_system_packages "${SYSTEM_PACKAGES[@]}"

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,dev]'
echo "noarkpipe installed in $(pwd)/.venv ($(.venv/bin/noarkpipe --version))"
