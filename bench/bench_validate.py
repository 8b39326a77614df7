"""Benchmark: `noarkpipe validate` next to its baselines, in the same run, at one size or several.

For each size (--registrations, one number or several: the memory claim
needs two) a v5.0 extract is generated with tests/helpers/extractfactory.py (each
PDF padded to --document-kb) and packed as a DIAS tar with its submission
description. Then, each in a child process of its own, side by side:

- noarkpipe validate on the tar, read in place, the command as users run it
  (every check; formats identified for a sample of --max-identify distinct
  files), against the tar's baseline: `sha256sum` of the tar plus
  `xmllint --noout --stream --schema` of its arkivstruktur.xml, the least a
  validator that checks the tar's checksum and the XML must do;
- noarkpipe validate on an extract folder holding arkivstruktur.xml and the
  XSDs only (as a records manager checks an extract before packing it; the
  missing files and documents make it fail, exit 12, as they should),
  against `xmllint --noout --stream --schema` of the same arkivstruktur.xml;
- for reference: the same process importing noarkpipe and doing nothing
  else, and lxml parsing arkivstruktur.xml into a tree and validating it
  (what a simple validator does: its memory grows with the file).

Peak memory is that of the command and every process it starts, added up
(sampled from /proc every 20 ms: validate reads the package in a second
process), and the kernel's figure for the largest single process (wait4).
The page cache is warm for all of them after the generation (the machine
has the RAM for it), so the figures compare work, not disk speed. Needs
libxml2-utils (xmllint) for the baselines.

    .venv/bin/python bench/bench_validate.py --registrations 20000 200000 --json validate.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers import extractfactory as factory

SCHEMA = REPO / "schemas" / "noark5" / "v5.0" / "arkivstruktur.xsd"

EXTRACT = """
import shutil, sys, tarfile
from pathlib import Path
tar, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
with tarfile.open(tar) as archive:
    for info in archive:
        name = info.name.rsplit("/", 1)[-1]
        if info.name.startswith(f"{tar.stem}/content/") and (name == "arkivstruktur.xml" or name.endswith(".xsd")):
            with archive.extractfile(info) as source, open(target / name, "wb") as out:
                shutil.copyfileobj(source, out)
        archive.members.clear()
"""

LXML_BASELINE = """
import sys
from lxml import etree
from noarkpipe.xml.schemas import xml_schema
doc = etree.parse(sys.argv[1], etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True))
sys.exit(0 if xml_schema("noark5/v5.0/arkivstruktur.xsd").validate(doc) else 12)
"""


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (0 once it is gone)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    stack.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def measure(command: list[str]) -> dict:
    """Seconds, peak memory (all processes added up, and the largest one) and exit code of a command."""
    with tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        peak = 0.0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss_mb(child.pid))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 12):
            errors.seek(0)
            print(f"  {command[0]} exited {code}: {errors.read().decode('utf-8', 'replace')[-500:]}", file=sys.stderr)
    # ru_maxrss: the largest process of the tree; the parent forked from here counts this process's image
    # CPU: the command's and its waited-for children's (the reading process), user + system
    return {"seconds": round(seconds, 3), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_mb": round(max(peak, 0.0)), "largest_mb": round(usage.ru_maxrss / 1024), "exit": code}


def generate(folder: Path, registrations: int, document_kb: int) -> None:
    """Build the package (run in a child process, so the measuring parent stays small)."""
    started = time.monotonic()
    spec = factory.ExtractSpec(registrations=registrations, document_bytes=document_kb * 1024)
    package = factory.build_dias_package(folder, spec)
    print(f"  {time.monotonic() - started:.0f} s: {package.tar.name}, {package.tar.stat().st_size / 1e9:.2f} GB, "
          f"{package.extract.document_files} document files ({package.extract.document_bytes / 1e9:.2f} GB), "
          f"{package.extract.counts['registrering']} registrations", flush=True)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def one_size(work: Path, registrations: int, arguments) -> dict:
    python = sys.executable
    if not (arguments.reuse and list((work / "pakke").glob("*.tar"))):
        print(f"Generating {registrations} registrations in {work} ...", flush=True)
        subprocess.run([python, __file__, "--generate-into", str(work / "pakke"), "--registrations",
                        str(registrations), "--document-kb", str(arguments.document_kb)], check=True)
    tar = next((work / "pakke").glob("*.tar"))
    tar_size = tar.stat().st_size
    extract = work / "uttrekk"
    # in a child: TarFile keeps every header in memory, and the measured children would inherit
    # this process's peak memory (ru_maxrss counts the image before exec)
    subprocess.run([python, "-c", EXTRACT, str(tar), str(extract)], check=True)
    structure = extract / "arkivstruktur.xml"
    structure_size = structure.stat().st_size
    subprocess.run(["cat", str(tar)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    has_xmllint = shutil.which("xmllint") is not None
    load_before = _load()

    rows: dict[str, dict] = {}
    tar_report, folder_report = work / "rapport-tar.json", work / "rapport-uttrekk.json"
    validate = [python, "-m", "noarkpipe.cli", "validate", "--no-progress", "--max-identify",
                str(arguments.max_identify)]
    rows["noarkpipe validate (all checks, tar in place)"] = measure([*validate, str(tar), "--json", str(tar_report)])
    rows["sha256sum of the tar"] = measure(["sha256sum", str(tar)])
    if has_xmllint:
        rows["xmllint --stream --schema, arkivstruktur.xml only"] = measure(
            ["xmllint", "--noout", "--stream", "--schema", str(SCHEMA), str(structure)])
    rows["noarkpipe validate, extract folder (arkivstruktur.xml + XSDs)"] = measure(
        [*validate, str(extract), "--json", str(folder_report)])
    rows["  (for reference: starting noarkpipe, imports only)"] = measure([python, "-c", "import noarkpipe.cli"])
    if not arguments.skip_lxml:
        rows["lxml tree + XMLSchema, arkivstruktur.xml only"] = measure([python, "-c", LXML_BASELINE, str(structure)])

    report = json.loads(tar_report.read_text(encoding="utf-8"))
    failed = [r["id"] for r in report["results"] if r["status"] == "failed"]
    folder = json.loads(folder_report.read_text(encoding="utf-8"))
    folder_failed = [r["id"] for r in folder["results"] if r["status"] == "failed"]
    ratios = {}
    if has_xmllint:
        xmllint = rows["xmllint --stream --schema, arkivstruktur.xml only"]["seconds"]
        baseline = rows["sha256sum of the tar"]["seconds"] + xmllint
        tar_seconds = rows["noarkpipe validate (all checks, tar in place)"]["seconds"]
        folder_seconds = rows["noarkpipe validate, extract folder (arkivstruktur.xml + XSDs)"]["seconds"]
        startup = rows["  (for reference: starting noarkpipe, imports only)"]["seconds"]
        ratios = {"tar / (sha256sum + xmllint)": round(tar_seconds / baseline, 2),
                  "extract folder / xmllint": round(folder_seconds / xmllint, 2),
                  "tar, without noarkpipe's start-up / (sha256sum + xmllint)": round((tar_seconds - startup) / baseline, 2),
                  "extract folder, without noarkpipe's start-up / xmllint": round((folder_seconds - startup) / xmllint, 2)}

    print()
    print(f"package: {tar_size / 1e9:.2f} GB tar, {report['files']} files, arkivstruktur.xml "
          f"{structure_size / 1e6:.0f} MB, {registrations} registrations")
    print(f"validation: {'no errors' if not failed else 'failed: ' + ', '.join(failed)}; "
          f"{report['bytes_read'] / 1e9:.2f} GB read of a {tar_size / 1e9:.2f} GB tar; checks {len(report['results'])}")
    print(f"extract folder: {folder['bytes_read'] / 1e6:.0f} MB read; failed (files left out on purpose): "
          f"{', '.join(folder_failed) or 'none'}")
    print(f"load average before: {load_before}, after: {_load()}")
    print()
    print(f"| {'what':62} | {'seconds':>8} | {'CPU s':>6} | {'peak MB, all':>12} | {'largest MB':>10} | exit |")
    print(f"|{'-' * 64}|{'-' * 10}|{'-' * 8}|{'-' * 14}|{'-' * 12}|------|")
    for what, row in rows.items():
        print(f"| {what:62} | {row['seconds']:8.1f} | {row['cpu_seconds']:6.1f} | {row['peak_mb']:12.0f} | "
              f"{row['largest_mb']:10.0f} | {row['exit']:>4} |")
    for what, ratio in ratios.items():
        print(f"ratio {what}: {ratio:.2f}")
    return {"registrations": registrations, "tar_bytes": tar_size, "arkivstruktur_bytes": structure_size,
            "files": report["files"], "bytes_read_tar": report["bytes_read"], "bytes_read_folder": folder["bytes_read"],
            "failed_tar": failed, "failed_folder": folder_failed, "load_before": load_before, "load_after": _load(),
            "rows": rows, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registrations", type=int, nargs="+", default=[100_000],
                        help="one size or several (the memory claim needs two)")
    parser.add_argument("--document-kb", type=int, default=30, help="pad each PDF to about this size")
    parser.add_argument("--max-identify", type=int, default=500)
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the packages, one subfolder per size (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated packages")
    parser.add_argument("--reuse", action="store_true", help="measure the packages already in --work (kept earlier)")
    parser.add_argument("--skip-lxml", action="store_true", help="leave out the lxml tree baseline (memory-hungry)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.generate_into:
        generate(arguments.generate_into, arguments.registrations[0], arguments.document_kb)
        return

    work = arguments.work or Path(tempfile.mkdtemp(prefix="bench-validate-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for registrations in arguments.registrations:
            results.append(one_size(work / f"r{registrations}", registrations, arguments))
            print()
    finally:
        if not arguments.keep:
            shutil.rmtree(work, ignore_errors=True)
    if len(results) > 1:
        tar_row = "noarkpipe validate (all checks, tar in place)"
        print("memory at each size (all processes of validate, tar):",
              ", ".join(f"{r['registrations']}: {r['rows'][tar_row]['peak_mb']} MB" for r in results))
    if arguments.json:
        arguments.json.write_text(json.dumps({"cpus": os.cpu_count(), "sizes": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
