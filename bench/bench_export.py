"""Benchmark: `noarkpipe export` of a large closed period, next to `tar cf - | sha256sum` in the same run.

A closed arkivdel is generated straight into a fresh journal store with bulk
inserts (tests/helpers/exportfactory.py: cases, journalposter, parties, documents
with PDF/A copies and konvertering records, endringslogg), the documents as
real files in the document store. At two sizes (a tenth of the
registrations, in a second store, and the whole), each in its own process
with its peak memory taken from the kernel (wait4; child processes
included), side by side in the same run:

1. `noarkpipe export` (no --timestamp: the package time comes from the data);
2. the baseline: `tar cf - --files-from=<the exported documents> | sha256sum`,
   the irreducible work of reading every document once, packing and hashing it.

A table of both, with the ratio, is printed; --json writes the figures.

    .venv/bin/python bench/bench_export.py                          # 100 000 registrations, ~4 GB
    .venv/bin/python bench/bench_export.py --registrations 20000 --mean-document-bytes 8000 --json out.json

Needs free disk for the documents, the package and the small run: about 2.5
times the document size. The work folder is removed afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.exportfactory import generate
from noarkpipe import api
from noarkpipe.config import load_settings

# Runs the measured command as its own child and reports that child's peak RSS. The indirection
# matters: a child forked straight from this process starts with this process's memory counted in
# its peak (the kernel keeps the high-water mark across exec), which is not the command's.
_WRAPPER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _measured(command: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run `command`; return seconds, its peak RSS in MB (its own children included) and its output."""
    with tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", _WRAPPER, str(peak_file), *command],
                              capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        peak_kb = int(peak_file.read_text() or 0) if peak_file.exists() else 0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, peak_kb // 1024, done


def _installation(folder: Path, registrations: int, mean: int, seed: int):
    settings = load_settings(api.init(folder))
    started = time.monotonic()

    def progress(done: int) -> None:
        if done % 20000 == 0:
            print(f"  generated {done} registrations ({time.monotonic() - started:.0f} s)", flush=True)

    made = generate(settings.store_url, settings.documents_dir, registrations=registrations,
                    mean_document_bytes=mean, seed=seed, progress=progress)
    return settings, made, time.monotonic() - started


def _document_list(settings, target: Path) -> tuple[Path, int]:
    """The document store files the export put in the package, one path per line, and their bytes."""
    from noarkpipe.export.store_reader import (
        document_path,
        iter_documents,
        resolve_scope,
        snapshot,
    )

    total = 0
    with snapshot(settings.store_url) as session, open(target, "w", encoding="utf-8") as listing:
        scope = resolve_scope(session, "fjellvik", (), force=False)
        for obj, _name in iter_documents(session, scope):
            listing.write(f"{document_path(settings.documents_dir, obj.sjekksum)}\n")
            total += obj.filstoerrelse
    return target, total


def _export(settings, out: Path) -> tuple[float, int, dict]:
    command = [sys.executable, "-m", "noarkpipe.cli", "export", "-c", str(settings.config_path), "-a", "fjellvik",
               "--out", str(out), "--json"]
    seconds, peak, done = _measured(command)
    return seconds, peak, json.loads(done.stdout)


def _table(report: dict) -> None:
    print("\n| size | registrations | documents | GB | noarkpipe export s | peak MB "
          "| tar \\| sha256sum s | peak MB | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("small", "full"):
        if name in report:
            row = report[name]
            print(f"| {name} | {row['registrations']} | {row['documents']} | {row['document_gb']} | "
                  f"{row['export_seconds']} | {row['export_peak_rss_mb']} | {row['baseline_seconds']} | "
                  f"{row['baseline_peak_rss_mb']} | {row['ratio']} |")
    print(f"(load average at the end: {report['machine']['load_average']})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registrations", type=int, default=100_000)
    parser.add_argument("--mean-document-bytes", type=int, default=12_000,
                        help="spread of document sizes above the 15 kB PDF/A template (default ~19 kB mean)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--skip-small", action="store_true", help="skip the tenth-size run")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"registrations": args.registrations}
    try:
        runs = [] if args.skip_small else [("small", max(1000, args.registrations // 10), 2)]
        runs.append(("full", args.registrations, 1))
        for name, registrations, seed in runs:
            print(f"generating {registrations} registrations ({name}) ...", flush=True)
            settings, made, generated = _installation(work / name, registrations, args.mean_document_bytes, seed)
            print(f"  {made.journalposter} journalposter, {made.saksmapper} saksmapper, {made.dokumentobjekter} "
                  f"dokumentobjekter ({made.exported_documents} exported, {made.document_bytes / 1e9:.2f} GB) "
                  f"in {generated:.0f} s", flush=True)
            print(f"exporting ({name}) ...", flush=True)
            seconds, peak, result = _export(settings, work / name / "out")
            report[name] = {
                "registrations": made.journalposter,
                "saksmapper": made.saksmapper,
                "documents": result["documents"],
                "document_gb": round(result["document_bytes"] / 1e9, 3),
                "tar_gb": round(result["tar_size"] / 1e9, 3),
                "export_seconds": round(seconds, 1),
                "export_peak_rss_mb": peak,
                "export_mb_per_s": round(result["tar_size"] / 1e6 / seconds, 1),
                "generate_seconds": round(generated, 1),
            }
            print(f"  {seconds:.1f} s, peak RSS {peak} MB, tar {result['tar_size'] / 1e9:.2f} GB", flush=True)
            print(f"baseline ({name}): tar cf - | sha256sum over the same documents ...", flush=True)
            listing, docs = _document_list(settings, work / f"documents-{name}.txt")
            base_seconds, base_peak, _ = _measured(
                ["bash", "-c", 'set -o pipefail; tar cf - --files-from="$1" | sha256sum', "bash", str(listing)]
            )
            report[name]["baseline_seconds"] = round(base_seconds, 2)
            report[name]["baseline_peak_rss_mb"] = base_peak
            report[name]["ratio"] = round(seconds / base_seconds, 2) if base_seconds else None
            if name == "full":
                report["baseline"] = {
                    "seconds": round(base_seconds, 2),
                    "gb_read": round(docs / 1e9, 3),
                    "peak_rss_mb": base_peak,
                    "mb_per_s": round(docs / 1e6 / base_seconds, 1) if base_seconds else None,
                }
            print(f"  {base_seconds:.1f} s for {docs / 1e9:.2f} GB", flush=True)
            if name == "small":
                shutil.rmtree(work / name, ignore_errors=True)
        report["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                             "load_average": [round(x, 2) for x in os.getloadavg()]}
        _table(report)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(json.dumps(report, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
