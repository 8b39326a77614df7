#!/usr/bin/env bash
# Command 2 of the README: the whole test suite (scripts/install.sh first on a fresh machine).
# The tests start real servers of their own on loopback (Dovecot for IMAP,
# PostgreSQL for the journal store) and drive Chromium (the review desk); this
# installs those programs when missing.
# Their system services are not used (the test PostgreSQL has its own port and cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

TEST_PACKAGES=(chromium chromium-driver dovecot-imapd openssl postgresql)
ensure_system_packages "${TEST_PACKAGES[@]}"
# Installed just above: the PostgreSQL tests must run, not skip.
export NOARKPIPE_REQUIRE_POSTGRES=1
# and the desk's browser tests must run in Chromium, not skip.
export NOARKPIPE_REQUIRE_BROWSER=1
# Debian starts the packaged daemon on systemd hosts; the tests run their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet dovecot 2>/dev/null; then
  as_root systemctl disable --now dovecot >/dev/null 2>&1 || true
fi

exec .venv/bin/python -m pytest "$@"
