"""Every benchmark in bench/ runs at its smallest size, so none can rot unnoticed.

Each script is run as the README tells people to run it (its own process,
the venv's Python), with arguments that make it finish in seconds, and must
exit 0 having printed both noarkpipe's figure and its baseline's figure. The
numbers themselves mean nothing at this size; that they are there means the
benchmark still measures what it says. A new script in bench/ needs its row
in SMOKE (the first test fails until it has one).

Timings on the 2-core build machine (load 2-3): bench_convert about 35 s
(one document of four kinds, one per conversion route, through every tool;
all 16 kinds take about 140 s), bench_scale about 30 s (three runs and a
Dask cluster), the others 5-15 s.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
NUMBER = r"(\d+(?:\.\d+)?)"


def _figures_nightly(out: str, _: Path) -> dict[str, float]:
    found = {}
    for key, label in (("noarkpipe", r"noarkpipe run, \d+ worker\(s\)"), ("baseline", r"baseline: parse\+hash\+write"),
                       ("baseline tools", r"baseline: \+ fpdf2, PDF/A, fsync")):
        match = re.search(rf"^{label}\s+{NUMBER}\s+{NUMBER}", out, re.MULTILINE)
        assert match, (label, out)
        found[key] = float(match.group(2))  # items per second
    return found


def _figures_convert(out: str, _: Path) -> dict[str, float]:
    """The header names the columns; every kind has a noarkpipe rate and at least one baseline's."""
    lines = out.splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.startswith("kind "))
    columns = lines[header_at].split()[1:]  # after "kind": pages, the baselines, noarkpipe, s/page
    found = {}
    for line in lines[header_at + 1:]:
        if not line.strip():
            break
        tokens = line.split()  # the kind may hold spaces; every cell is one token, "-" when not run
        kind, values = " ".join(tokens[:-len(columns)]), dict(zip(columns, tokens[-len(columns):], strict=True))
        assert float(values["noarkpipe"]) > 0, line
        baselines = [v for c, v in values.items() if c not in ("pages", "noarkpipe", "s/page") and v != "-"]
        assert baselines and all(float(v) > 0 for v in baselines), line
        found[kind] = float(values["noarkpipe"])
    assert found, out
    assert re.search(rf"all kinds mixed, \d+ documents .*: {NUMBER} documents/s", out), out
    return found


def _figures_scale(_: str, results: Path) -> dict[str, float]:
    rows = {row["config"]: row["items_per_s"] for row in json.loads(results.read_text(encoding="utf-8"))}
    assert set(rows) == {"local, 1 worker", "local, 2 workers", "Dask, 2 workers"}, rows
    assert all(value > 0 for value in rows.values()), rows
    return rows


def _figures_export(out: str, _: Path) -> dict[str, float]:
    report = json.loads(out[out.index("\n{\n") + 1:])
    assert report["full"]["documents"] > 0 and report["full"]["export_seconds"] > 0, report
    assert report["baseline"]["seconds"] >= 0 and report["baseline"]["gb_read"] >= 0, report
    return {"noarkpipe": report["full"]["export_seconds"], "baseline": report["baseline"]["seconds"]}


def _figures_validate(out: str, _: Path) -> dict[str, float]:
    assert "validation: no errors" in out, out
    rows = {}
    for label in ("noarkpipe validate (all checks, tar in place)", "sha256sum of the tar",
                  "lxml tree + XMLSchema, arkivstruktur.xml only"):
        match = re.search(rf"^\| {re.escape(label)}\s+\|\s+{NUMBER} \|.*\|\s+(\d+) \|$", out, re.MULTILINE)
        assert match and match.group(2) == "0", (label, out)
        rows[label] = float(match.group(1))
    return rows


# script → (smallest arguments, a --json file argument or None, how to read its figures)
SMOKE = {
    "bench_nightly.py": (["--items", "3", "--workers", "1"], "--json", _figures_nightly),
    # One kind of each conversion route: text typesetting, WeasyPrint, an image, a PDF (every kind: about 140 s).
    "bench_convert.py": (["--repeat", "1", "--workers", "1", "--kinds", "e-mail text,html,gif,text pdf"], None,
                         _figures_convert),
    "bench_scale.py": (["--emails", "2", "--scans", "0"], "--json", _figures_scale),
    "bench_export.py": (["--registrations", "30", "--mean-document-bytes", "500", "--skip-small"], "--json", _figures_export),
    "bench_validate.py": (["--registrations", "30", "--document-kb", "1", "--max-identify", "3"], "--json",
                          _figures_validate),
}


def test_every_benchmark_has_a_smoke_run():
    assert set(SMOKE) == {p.name for p in BENCH.glob("*.py")}


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_runs_at_its_smallest_size_and_prints_both_figures(script, tmp_path):
    arguments, json_option, figures = SMOKE[script]
    results = tmp_path / "results.json"
    command = [sys.executable, str(BENCH / script), *arguments]
    if json_option:
        command += [json_option, str(results)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert figures(done.stdout, results)
