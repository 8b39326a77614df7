"""Benchmark: the nightly run over a generated inbox, next to two baselines in the same run.

The inbox is what a post room gets: e-mails in Norwegian, most with zero to
two born-digital PDF attachments (one to three pages of text, fonts
embedded), each file different. Random bytes would not do: a part that
cannot get an archival copy sends its letter to review, which is not the
common case to measure.

Two baselines do the same files in one process, one after the other:

- parse: the irreducible work with the standard library only: read, SHA-256,
  parse the MIME message, write body and attachments to disk;
- tools: the work every archival copy of these e-mails needs, done with
  the same tools in the plainest way: the body typeset by fpdf2 (noarkpipe's
  `render_email`), the typeset body and each PDF attachment made PDF/A-2b
  by `pikepdf.pdfa.save`, which validates the bytes it writes and writes
  only approved ones; the original, the text, the attachments and the
  PDF/As fsynced, then their folder once per e-mail. This is e-mail
  intake's own baseline: noarkpipe's rate per worker should reach it.

The difference is what claiming, identification, noarkpipe's further checks
(page count, fonts, text layer, PDF/A identification), the journal store
(transactions, numbering) and the run bookkeeping cost.

Beside the wall time, the CPU seconds of each process tree (the run's fork
server, conversion workers and parse child included) are read from /proc:
items per CPU second is the rate per core, whatever the number of workers.

    .venv/bin/python bench/bench_nightly.py --items 500
    .venv/bin/python bench/bench_nightly.py --items 4 --workers 1     # a smoke run
"""

from __future__ import annotations

import argparse
import email
import email.policy
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SUBJECTS = [
    "Søknad om dispensasjon fra reguleringsplan – gnr. {n} bnr. 3",
    "Klage på vedtak om barnehageplass, Deres ref. 2026/{n}-2",
    "Spørsmål om eiendomsskatt for Østre Åsvei {n}",
    "Innsynsbegjæring – sak om skjenkebevilling Café Ærlig",
    "Melding om vannlekkasje i Øvre Bjørkelia {n}",
]
PARAGRAPH = (
    "Viser til tidligere korrespondanse om saken. Tiltaket gjelder oppføring av garasje på "
    "eiendommen, og nabovarsel er sendt til alle berørte naboer. Vi ber om at søknaden "
    "behandles så snart som mulig, og legger ved situasjonsplan og tegninger. "
)


def _font() -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from helpers.scanfactory import font_path

    return font_path()


def attachment_pdf(n: int, a: int, pages: int, font: Path) -> bytes:
    """A born-digital letter of `pages` pages; the numbers make every file different."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", str(font))
    pdf.set_font("DejaVu", size=11)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Vedlegg {a + 1} til henvendelse {n}, side {page + 1}\n\n" + PARAGRAPH * 6)
    return bytes(pdf.output())


def make_inbox(folder: Path, items: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    font = _font()
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
            payload = attachment_pdf(n, a, rng.randint(1, 3), font)
            message.add_attachment(payload, maintype="application", subtype="pdf", filename=f"vedlegg-{a + 1}.pdf")
        data = message.as_bytes()
        (folder / f"{n:06d}.eml").write_bytes(data)
        total += len(data)
    return total


def baseline(inbox: Path, out: Path, tools: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if tools:
        import pikepdf
        import pikepdf.pdfa

        from noarkpipe.convert.typeset import render_email
    for path in sorted(inbox.iterdir()):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        message = email.message_from_bytes(data, policy=email.policy.default)
        body = message.get_body(("plain", "html"))
        text = body.get_content() if body else ""
        written = [out / f"{digest}.txt"]
        written[0].write_text(text, encoding="utf-8")
        if tools:
            (out / f"{digest}.eml").write_bytes(data)
            typeset = render_email(f"Fra: {message['From']}\nEmne: {message['Subject']}\n\n{text}",
                                   out / f"{digest}-typeset.pdf")
            written += [out / f"{digest}.eml", _pdfa(pikepdf, typeset, out / f"{digest}.pdf")]
        for i, part in enumerate(message.iter_attachments()):
            content = part.get_payload(decode=True) or b""
            target = out / f"{digest}-{i}"
            target.write_bytes(content)
            written.append(target)
            if tools and content.startswith(b"%PDF"):
                written.append(_pdfa(pikepdf, target, out / f"{digest}-{i}.pdf"))
        if tools:
            # Durable before the item counts as done: each file, then the folder once.
            for file in written:
                fd = os.open(file, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            fd = os.open(out, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)


def _pdfa(pikepdf, source: Path, target: Path) -> Path:
    """PDF/A-2b by pikepdf, which validates the bytes it writes and writes only approved ones."""
    with pikepdf.open(source) as pdf:
        # fpdf2 writes a first-view /OpenAction, which the validator cannot approve (noarkpipe removes it too).
        if isinstance(pdf.Root.get("/OpenAction"), pikepdf.Array):
            del pdf.Root["/OpenAction"]
        pikepdf.pdfa.save(pdf, target, "2b")
    return target


def timed(command: list[str]) -> tuple[float, int, float]:
    """Wall time, the peak RSS (KiB) of the largest child so far (time the run first), and the tree's CPU seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    cpu = TreeCpu(process.pid)
    cpu.start()
    _, stderr = process.communicate()
    cpu.stop()
    if process.returncode != 0:
        # 10 is "items were quarantined": the inbox above should never make one.
        raise SystemExit(f"{command[2:4]} exited {process.returncode}:\n{stderr[-3000:]}")
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, cpu.seconds()


class TreeCpu(threading.Thread):
    """CPU seconds (user + system) of a process and all its descendants, read from /proc every 20 ms.

    The run's conversion workers are children of its fork server, which
    nobody waits for, so the kernel's count of waited children misses them;
    each process's own count is read while it lives instead (the last 20 ms
    of a process that exits between two readings are missed).
    """

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.done, self.ticks = root, threading.Event(), {}

    def run(self) -> None:
        while not self.done.wait(0.02):
            self._read()

    def stop(self) -> None:
        self.done.set()
        self.join()

    def seconds(self) -> float:
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")

    def _read(self) -> None:
        parents, times = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(entry)
            parents[pid] = int(fields[1])
            times[(pid, fields[19])] = int(fields[11]) + int(fields[12])  # utime + stime; starttime tells pids apart
        for (pid, start), ticks in times.items():
            ancestor = pid
            while ancestor not in (self.root, 0, 1) and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor == self.root:
                self.ticks[(pid, start)] = max(ticks, self.ticks.get((pid, start), 0))


def _baseline_command(python: str, inbox: Path, out: Path, tools: bool) -> list[str]:
    return [python, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import bench_nightly as b; from pathlib import Path; "
            f"b.baseline(Path({str(inbox)!r}), Path({str(out)!r}), tools={tools})"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="conversion workers of the run ([convert] workers; default: cores)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="noarkpipe-bench-") as tmp:
        root = Path(tmp)
        size = make_inbox(root / "generated", args.items)
        subprocess.run([python, "-m", "noarkpipe.cli", "init", str(root / "site")], check=True, stdout=subprocess.DEVNULL)
        config = root / "site/noarkpipe.toml"
        config.write_text(config.read_text(encoding="utf-8").replace(
            "# workers = 2 ", f"workers = {args.workers} ", 1), encoding="utf-8")
        assert f"workers = {args.workers}" in config.read_text(encoding="utf-8"), "the sample config changed"
        shutil.copytree(root / "generated", root / "site/data/inbox/fjellvik", dirs_exist_ok=True)

        run_s, peak_kib, run_cpu = timed([python, "-m", "noarkpipe.cli", "run", "-q", "-c", str(config)])
        base_s, _, _ = timed(_baseline_command(python, root / "generated", root / "baseline-parse", tools=False))
        tools_s, _, tools_cpu = timed(_baseline_command(python, root / "generated", root / "baseline-tools", tools=True))

    per_worker = args.items / run_s / args.workers
    results = {
        "items": args.items,
        "inbox_mib": round(size / 2**20, 1),
        "workers": args.workers,
        "baseline_parse_seconds": round(base_s, 2),
        "baseline_parse_items_per_s": round(args.items / base_s, 2),
        "baseline_tools_seconds": round(tools_s, 2),
        "baseline_tools_items_per_s": round(args.items / tools_s, 2),
        "noarkpipe_run_seconds": round(run_s, 2),
        "noarkpipe_items_per_s": round(args.items / run_s, 2),
        "noarkpipe_items_per_s_per_worker": round(per_worker, 2),
        "noarkpipe_peak_rss_mib": round(peak_kib / 1024, 1),
        "baseline_tools_cpu_seconds": round(tools_cpu, 2),
        "baseline_tools_items_per_cpu_s": round(args.items / tools_cpu, 2),
        "noarkpipe_cpu_seconds": round(run_cpu, 2),
        "noarkpipe_items_per_cpu_s": round(args.items / run_cpu, 2),
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(f"{'':34}{'seconds':>10}{'items/s':>10}{'CPU s':>10}{'items/CPU s':>13}")
    print(f"{'baseline: parse+hash+write':34}{base_s:>10.2f}{args.items / base_s:>10.2f}")
    print(f"{'baseline: + fpdf2, PDF/A, fsync':34}{tools_s:>10.2f}{args.items / tools_s:>10.2f}"
          f"{tools_cpu:>10.2f}{args.items / tools_cpu:>13.2f}")
    print(f"{f'noarkpipe run, {args.workers} worker(s)':34}{run_s:>10.2f}{args.items / run_s:>10.2f}"
          f"{run_cpu:>10.2f}{args.items / run_cpu:>13.2f}"
          f"   {per_worker:.2f} per worker, peak RSS {peak_kib / 1024:.0f} MiB")
    print(f"{args.items} e-mails, {size / 2**20:.1f} MiB; load average {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
