#!/usr/bin/env bash
# Command 1 of the README: set everything up, then run the nightly job on the
# bundled sample inbox (two municipalities) with the embedded defaults
# (SQLite store in demo/data): e-mail for two municipalities, and e-forms and
# scanned letters for one. Run it again to see that nothing is journaled twice.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh

if [ ! -f demo/noarkpipe.toml ]; then
  .venv/bin/noarkpipe init demo
fi
for municipality in fjellvik strandby; do
  cp fixtures/sample-inbox/"$municipality"/*.eml demo/data/inbox/"$municipality"/
done
# Fjellvik's form service and scan station deliver too: e-forms of every shape, scanned letters.
mkdir -p demo/data/inbox/fjellvik/skjema demo/data/inbox/fjellvik/skanner
cp fixtures/sample-eforms/*.{xml,zip,json,pdf} demo/data/inbox/fjellvik/skjema/
cp fixtures/sample-scans/*.{pdf,tif,jpg} demo/data/inbox/fjellvik/skanner/

status=0
.venv/bin/noarkpipe run -c demo/noarkpipe.toml || status=$?
.venv/bin/noarkpipe status -c demo/noarkpipe.toml
echo
echo "The journal store is demo/data/noarkpipe.sqlite; run reports (HTML and JSON) are in demo/data/reports/."
echo "The review queue in a browser: .venv/bin/noarkpipe desk user add kari --name 'Kari Nordmann' --role arkivar -a fjellvik --cleared -c demo/noarkpipe.toml"
echo "then .venv/bin/noarkpipe desk serve -c demo/noarkpipe.toml and open http://127.0.0.1:8470/"
exit "$status"
