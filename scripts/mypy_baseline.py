"""mypy with a baseline that may only shrink.

`scripts/mypy-baseline.txt` holds the errors mypy still reports, one per
line as `path: [code] message` (no line numbers, so editing a file does not
move them). The gate fails on any error that is not in the baseline, and
tells you to shrink the baseline when errors in it are gone:

    .venv/bin/python scripts/mypy_baseline.py            # the gate (CI)
    .venv/bin/python scripts/mypy_baseline.py --shrink   # drop fixed errors from the baseline

`--shrink` never adds an error: a new one is fixed in the code, not baselined.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scripts" / "mypy-baseline.txt"
ERROR = re.compile(r"^(?P<path>[^:]+):\d+(?::\d+)?: error: (?P<message>.*?)\s+\[(?P<code>[a-z-]+)\]$")


def current() -> Counter[str]:
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-pretty", "--no-error-summary"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        sys.exit(f"mypy failed to run:\n{done.stdout}{done.stderr}")
    found: Counter[str] = Counter()
    for line in done.stdout.splitlines():
        match = ERROR.match(line)
        if match:
            found[f"{match['path']}: [{match['code']}] {match['message']}"] += 1
        elif ": error:" in line:
            found[line] += 1
    return found


def read_baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    return Counter(line for line in BASELINE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#"))


def main() -> int:
    found, allowed = current(), read_baseline()
    new, fixed = found - allowed, allowed - found
    if new:
        print(f"mypy: {sum(new.values())} error(s) not in the baseline (fix them; the baseline only shrinks):")
        for entry in sorted(new.elements()):
            print(f"  {entry}")
        return 1
    if "--shrink" in sys.argv[1:]:
        header = "# mypy errors still to fix; may only shrink (scripts/mypy_baseline.py --shrink)\n"
        BASELINE.write_text(header + "".join(f"{e}\n" for e in sorted(found.elements())), encoding="utf-8")
        print(f"mypy baseline: {sum(found.values())} error(s), {sum(fixed.values())} removed")
        return 0
    if fixed:
        print(f"mypy: {sum(fixed.values())} baselined error(s) are fixed: run scripts/mypy_baseline.py --shrink")
        return 1
    print(f"mypy: no new errors ({sum(found.values())} baselined, scripts/mypy-baseline.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
