"""Benchmark: `noarkpipe validate` on a large DIAS package, next to baselines in the same run.

Generates a v5.0 extract with tests/extractfactory.py (--registrations,
default 100 000; each PDF padded to --document-kb, so the default makes
about 3.5 GB of documents), packs it as a DIAS tar with its submission
description, and measures, each in a child process of its own (wall time
and peak resident memory from wait4):

- noarkpipe validate on the tar, read in place (the command as users run
  it: every check; formats identified for a sample of --max-identify
  distinct files), and, for reference, the same process doing nothing but
  importing noarkpipe (most of the resident memory is libraries);
- sha256sum over the tar: reading and hashing every byte once, the least
  any validator that checks the tar's checksum must do;
- lxml: parse arkivstruktur.xml into a tree and validate it against the
  official schema, what a simple validator does (memory grows with the file);
- xmllint --stream --schema on arkivstruktur.xml, when libxml2-utils is installed.

The page cache is warm for all of them after the generation (the machine
has the RAM for it), so the figures compare work, not disk speed.

    .venv/bin/python bench/bench_validate.py --registrations 100000 --document-kb 30
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

import extractfactory as factory


def measure(command: list[str], **kwargs) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit code) of a child process."""
    with tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, **kwargs)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode not in (0, 12):
            errors.seek(0)
            print(f"  {command[0]} exited {child.returncode}: {errors.read().decode('utf-8', 'replace')[-500:]}",
                  file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, child.returncode


EXTRACT = """
import shutil, sys, tarfile
from pathlib import Path
tar = Path(sys.argv[1])
with tarfile.open(tar) as archive, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(archive.extractfile(f"{tar.stem}/content/arkivstruktur.xml"), out)
"""

LXML_BASELINE = """
import sys
from lxml import etree
from noarkpipe.schemas import xml_schema
doc = etree.parse(sys.argv[1], etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True))
sys.exit(0 if xml_schema("noark5/v5.0/arkivstruktur.xsd").validate(doc) else 12)
"""


def generate(folder: Path, registrations: int, document_kb: int) -> None:
    """Build the package (run in a child process, so the measuring parent stays small)."""
    started = time.monotonic()
    spec = factory.ExtractSpec(registrations=registrations, document_bytes=document_kb * 1024)
    package = factory.build_dias_package(folder, spec)
    print(f"  {time.monotonic() - started:.0f} s: {package.tar.name}, {package.tar.stat().st_size / 1e9:.2f} GB, "
          f"{package.extract.document_files} document files ({package.extract.document_bytes / 1e9:.2f} GB), "
          f"{package.extract.counts['registrering']} registrations", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registrations", type=int, default=100_000)
    parser.add_argument("--document-kb", type=int, default=30, help="pad each PDF to about this size")
    parser.add_argument("--max-identify", type=int, default=500)
    parser.add_argument("--work", type=Path, default=None, help="folder for the package (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated package")
    parser.add_argument("--reuse", action="store_true", help="measure the package already in --work (kept earlier)")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.generate_into:
        generate(arguments.generate_into, arguments.registrations, arguments.document_kb)
        return

    work = arguments.work or Path(tempfile.mkdtemp(prefix="bench-validate-"))
    work.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    try:
        if not (arguments.reuse and list((work / "pakke").glob("*.tar"))):
            print(f"Generating {arguments.registrations} registrations in {work} ...", flush=True)
            subprocess.run([python, __file__, "--generate-into", str(work / "pakke"), "--registrations",
                            str(arguments.registrations), "--document-kb", str(arguments.document_kb)], check=True)
        tar = next((work / "pakke").glob("*.tar"))
        tar_size = tar.stat().st_size
        structure = work / "arkivstruktur.xml"
        # in a child: TarFile keeps every header in memory, and the measured children would inherit
        # this process's peak memory (ru_maxrss counts the image before exec)
        subprocess.run([python, "-c", EXTRACT, str(tar), str(structure)], check=True)
        subprocess.run(["cat", str(tar)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

        rows = []
        report_path = work / "rapport.json"
        seconds, rss, code = measure([python, "-m", "noarkpipe.cli", "validate", str(tar), "--json", str(report_path),
                                      "--no-progress", "--max-identify", str(arguments.max_identify)])
        rows.append(("noarkpipe validate (all checks, tar in place)", seconds, rss, code))
        seconds, rss, code = measure([python, "-c", "import noarkpipe.cli"])
        rows.append(("  (for reference: starting noarkpipe, imports only)", seconds, rss, code))
        seconds, rss, code = measure(["sha256sum", str(tar)])
        rows.append(("sha256sum of the tar", seconds, rss, code))
        seconds, rss, code = measure([python, "-c", LXML_BASELINE, str(structure)])
        rows.append(("lxml tree + XMLSchema, arkivstruktur.xml only", seconds, rss, code))
        if shutil.which("xmllint"):
            schema = REPO / "schemas" / "noark5" / "v5.0" / "arkivstruktur.xsd"
            seconds, rss, code = measure(["xmllint", "--noout", "--stream", "--schema", str(schema), str(structure)])
            rows.append(("xmllint --stream --schema, arkivstruktur.xml only", seconds, rss, code))

        report = json.loads(report_path.read_text(encoding="utf-8"))
        failed = [r["id"] for r in report["results"] if r["status"] == "failed"]
        print()
        print(f"package: {tar_size / 1e9:.2f} GB tar, {report['files']} files, arkivstruktur.xml "
              f"{structure.stat().st_size / 1e6:.0f} MB, {arguments.registrations} registrations")
        print(f"validation: {'no errors' if not failed else 'failed: ' + ', '.join(failed)}; "
              f"{report['bytes_read'] / 1e9:.2f} GB read; checks {len(report['results'])}")
        print()
        print(f"| {'what':52} | {'seconds':>8} | {'peak RSS MB':>11} | {'MB/s of the tar':>15} | exit |")
        print(f"|{'-' * 54}|{'-' * 10}|{'-' * 13}|{'-' * 17}|------|")
        for what, seconds, rss, code in rows:
            print(f"| {what:52} | {seconds:8.1f} | {rss:11.0f} | {tar_size / 1e6 / seconds:15.0f} | {code:>4} |")
    finally:
        if not arguments.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
