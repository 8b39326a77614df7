"""Benchmark: the nightly run over a generated inbox, next to a baseline in the same run.

The baseline does the irreducible work for the same files with the standard
library only: read, SHA-256, parse the MIME message, write body and
attachments to disk. The difference is what claiming, the journal store
(transactions, numbering, fsync) and the run bookkeeping cost.

    .venv/bin/python bench/bench_nightly.py --items 500
"""

from __future__ import annotations

import argparse
import email
import email.policy
import hashlib
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

SUBJECTS = [
    "Søknad om dispensasjon fra reguleringsplan – gnr. {n} bnr. 3",
    "Klage på vedtak om barnehageplass, Deres ref. 2026/{n}-2",
    "Spørsmål om eiendomsskatt for Østre Åsvei {n}",
    "Innsynsbegjæring – sak om skjenkebevilling Café Ærlig",
    "Melding om vannlekkasje i Øvre Bjørkelia {n}",
]


def make_inbox(folder: Path, items: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for n in range(items):
        message = EmailMessage()
        message["From"] = f"Åse Ødegård {n} <innbygger{n}@example.no>"
        message["To"] = "postmottak@fjellvik.kommune.no"
        message["Subject"] = rng.choice(SUBJECTS).format(n=n)
        message["Date"] = "Fri, 20 Nov 2026 14:03:00 +0100"
        message["Message-ID"] = f"<bench-{seed}-{n}@example.no>"
        message.set_content("Hei,\n\nVedlagt følger dokumentasjon.\n\nMvh\nÅse\n" * rng.randint(1, 40))
        for a in range(rng.randint(0, 2)):
            payload = rng.randbytes(rng.randint(5_000, 200_000))
            message.add_attachment(payload, maintype="application", subtype="octet-stream", filename=f"vedlegg-{a}.bin")
        data = message.as_bytes()
        (folder / f"{n:06d}.eml").write_bytes(data)
        total += len(data)
    return total


def baseline(inbox: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(inbox.iterdir()):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        message = email.message_from_bytes(data, policy=email.policy.default)
        body = message.get_body(("plain", "html"))
        (out / f"{digest}.txt").write_text(body.get_content() if body else "", encoding="utf-8")
        for i, part in enumerate(message.iter_attachments()):
            content = part.get_payload(decode=True) or b""
            (out / f"{digest}-{i}").write_bytes(content)


def timed(command: list[str]) -> tuple[float, int]:
    """Wall time and the peak RSS (KiB) of the largest child so far: time the run first."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="noarkpipe-bench-") as tmp:
        root = Path(tmp)
        size = make_inbox(root / "generated", args.items)
        subprocess.run([python, "-m", "noarkpipe.cli", "init", str(root / "site")], check=True, stdout=subprocess.DEVNULL)
        shutil.copytree(root / "generated", root / "site/data/inbox/fjellvik", dirs_exist_ok=True)

        run_s, peak_kib = timed([python, "-m", "noarkpipe.cli", "run", "-q", "-c", str(root / "site/noarkpipe.toml")])
        base_s, _ = timed([python, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                           f"import bench_nightly as b; from pathlib import Path; "
                           f"b.baseline(Path({str(root / 'generated')!r}), Path({str(root / 'baseline-out')!r}))"])

    results = {
        "items": args.items,
        "inbox_mib": round(size / 2**20, 1),
        "baseline_seconds": round(base_s, 2),
        "baseline_items_per_s": round(args.items / base_s, 1),
        "noarkpipe_run_seconds": round(run_s, 2),
        "noarkpipe_items_per_s": round(args.items / run_s, 1),
        "noarkpipe_peak_rss_mib": round(peak_kib / 1024, 1),
    }
    print(f"{'':28}{'seconds':>10}{'items/s':>10}")
    print(f"{'baseline (parse+hash+write)':28}{base_s:>10.2f}{args.items / base_s:>10.1f}")
    print(f"{'noarkpipe run':28}{run_s:>10.2f}{args.items / run_s:>10.1f}   peak RSS {peak_kib / 1024:.0f} MiB")
    print(f"{args.items} e-mails, {size / 2**20:.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
