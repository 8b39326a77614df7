#!/usr/bin/env bash
# Command 1 of the README: set everything up, then run the nightly job on the
# bundled sample inbox (two municipalities) with the embedded defaults
# (SQLite store in demo/data). Run it again to see that nothing is journaled twice.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh

if [ ! -f demo/noarkpipe.toml ]; then
  .venv/bin/noarkpipe init demo
fi
for municipality in fjellvik strandby; do
  cp fixtures/sample-inbox/"$municipality"/*.eml demo/data/inbox/"$municipality"/
done

status=0
.venv/bin/noarkpipe run -c demo/noarkpipe.toml || status=$?
.venv/bin/noarkpipe status -c demo/noarkpipe.toml
echo
echo "The journal store is demo/data/noarkpipe.sqlite; run reports are in demo/data/runs/."
exit "$status"
