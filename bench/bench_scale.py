"""Benchmark: the same inbox with 1 and 2 local conversion workers and on a 2-worker Dask cluster, in one run.

Each configuration gets a fresh installation with an identical inbox (e-mails
with text attachments and scanned letters, so OCR and PDF/A work dominate)
and runs `noarkpipe run` as an operator would; throughput is items per
second of wall time for the whole run, start-up included. The Dask cluster
is a real scheduler and two one-thread workers on this machine, each its own
process, so "2 local workers" and "Dask, 2 workers" do the same work with
the same parallelism and the difference is the cluster's overhead. On a
2-core machine the 2-worker figures cannot be much above 2x the 1-worker one.

    .venv/bin/python bench/bench_scale.py --emails 16 --scans 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.daskcluster import dask_cluster
from helpers.inbox import make_eml
from noarkpipe import api
from noarkpipe.config import load_settings

SCANS = REPO / "fixtures" / "sample-scans"


def _inbox(settings, emails: int, scans: int) -> int:
    inbox = settings.creator("fjellvik").inbox
    inbox.mkdir(parents=True, exist_ok=True)
    for i in range(emails):
        (inbox / f"e{i:03d}.eml").write_bytes(make_eml(
            subject=f"Henvendelse {i} om gatelys i Østre Åsvei",
            body=f"Hei,\n\nGatelyset ved Østre Åsvei {i} er mørkt.\n\nMvh\nÅse Ødegård",
            attachments=[("vedlegg.txt", f"Vedlegg {i}: æøå\n".encode(), "text/plain")],
        ))
    for i in range(scans):
        shutil.copy(SCANS / "enkeltbrev-2026-11-20.tif", inbox / f"s{i:03d}.tif")
    return emails + scans


def _write_workers(config_path: Path, workers: int) -> None:
    text = config_path.read_text(encoding="utf-8")
    text += f"\n[convert]\nworkers = {workers}\n" if "[convert]" not in text else ""
    if "[convert]" in text and f"workers = {workers}" not in text:
        text = text.replace("[convert]\n", f"[convert]\nworkers = {workers}\n", 1)
    config_path.write_text(text, encoding="utf-8")


def _measure(root: Path, label: str, emails: int, scans: int, workers: int, scheduler: str | None) -> dict:
    config_path = api.init(root / label)
    _write_workers(config_path, workers)
    items = _inbox(load_settings(config_path), emails, scans)
    command = [sys.executable, "-m", "noarkpipe.cli", "run", "--config", str(config_path), "--quiet"]
    if scheduler:
        command += ["--scheduler", scheduler]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{label}: exit {result.returncode}: {result.stderr}")
    return {"config": label, "items": items, "seconds": round(seconds, 1), "items_per_s": round(items / seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=16)
    parser.add_argument("--scans", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        rows.append(_measure(root, "local, 1 worker", args.emails, args.scans, 1, None))
        rows.append(_measure(root, "local, 2 workers", args.emails, args.scans, 2, None))
        with dask_cluster(workers=2, tmp=root / "dask") as scheduler:
            rows.append(_measure(root, "Dask, 2 workers", args.emails, args.scans, 2, scheduler))
    base = rows[0]["items_per_s"]
    print(f"{'configuration':<18} {'items':>5} {'seconds':>8} {'items/s':>8} {'vs 1 worker':>11}")
    for row in rows:
        row["speedup"] = round(row["items_per_s"] / base, 2)
        print(f"{row['config']:<18} {row['items']:>5} {row['seconds']:>8} {row['items_per_s']:>8} {row['speedup']:>10}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
