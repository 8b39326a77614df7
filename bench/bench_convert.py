"""Benchmark: archival copies per second per core for each kind of document, next to baselines.

Each kind is converted --repeat times by one worker, one document after the
other, so the rate is what one core does (OCRmyPDF runs one page at a time
and tesseract one thread). In the same run, on the same input, the
baselines make a plain copy with the tools alone:

- gs: Ghostscript's pdfwrite (no PDF/A, no OCR, no checks);
- ocrmypdf: the OCRmyPDF command line making PDF/A-2 with 'nor+eng' OCR,
  one page at a time, as noarkpipe asks it to (a new process per document,
  as a shell script would run it);
- img2pdf, fpdf2, LibreOffice: the first step of noarkpipe's route alone;
  for the image kinds (GIF to JPEG 2000) Pillow decodes each frame (on
  white, in RGB) to PNG and img2pdf makes the PDF, and the ocrmypdf column
  is that step followed by the OCRmyPDF command line on its PDF;
- WeasyPrint: the HTML e-mail's `e-post.html` (as intake writes it) to a
  plain PDF by WeasyPrint alone, against noarkpipe's PDF/A by WeasyPrint,
  clean-up and verification.

noarkpipe's column is `convert_document`, what a worker of the nightly run
does: identification (fido, libmagic), the route's tools, OCRmyPDF,
verification (pages, fonts, PDF/A identification, text, pikepdf's rules),
identification of the copy, and its record. The last table runs the whole
mix through the nightly run's executor on every core.

    .venv/bin/python bench/bench_convert.py --repeat 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageSequence
from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import img2pdf

from helpers import convertfactory as factory
from helpers import imagefactory
from noarkpipe._exec import ghostscript, libreoffice
from noarkpipe.convert import ConversionJob, ConversionOptions, convert_document
from noarkpipe.convert.html import DataUrisOnly
from noarkpipe.convert.typeset import render_email
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.email_document import HTML_MAIN_FILENAME, MAIN_FILENAME
from noarkpipe.intake.email import parse_eml
from noarkpipe.run.execution_local import LocalExecutor

OCRMYPDF = Path(sys.executable).with_name("ocrmypdf")

Baseline = Callable[[Path, Path], None]


def samples(folder: Path, kinds: list[str] | None = None) -> dict[str, Path]:
    """Kind -> sample file, for the kinds whose names start with one of `kinds` (all when None)."""
    folder.mkdir(parents=True)

    def email(folder: Path) -> Path:
        path = folder / MAIN_FILENAME
        path.write_text(factory.email_text(), encoding="utf-8")
        return path

    made: dict[str, Path] = {}

    def office(kind: str) -> Callable[[Path], Path]:
        # LibreOffice writes every office sample in one go; made only when an office kind is asked for.
        def make(folder: Path) -> Path:
            if not made:
                made.update(factory.office_documents(folder / "office"))
            return made[kind]
        return make

    makers: dict[str, Callable[[Path], Path]] = {
        "text PDF": lambda folder: factory.text_pdf(folder / "tekst.pdf"),
        "PDF, fonts not embedded": lambda folder: factory.standard_font_pdf(folder / "helvetica.pdf"),
        "scan PDF (OCR)": lambda folder: factory.scanned_pdf(folder / "skannet.pdf"),
        "JPEG scan (OCR)": lambda folder: factory.jpeg_scan(folder / "brev.jpg"),
        "e-mail text": email,
        "HTML e-mail": html_email,
        "docx": office("docx"),
        "xlsx": office("xlsx"),
        **imagefactory.BENCH_SAMPLES,
    }
    chosen = {kind: make for kind, make in makers.items() if kinds is None or _chosen(kind, kinds)}
    if not chosen:
        raise SystemExit(f"no kind starts with {', '.join(kinds or [])}; the kinds: {', '.join(makers)}")
    return {kind: make(folder) for kind, make in chosen.items()}


def _chosen(kind: str, prefixes: list[str]) -> bool:
    return any(kind.lower().startswith(prefix.strip().lower()) for prefix in prefixes if prefix.strip())


def html_email(folder: Path) -> Path:
    """An HTML newsletter (table, cid: logo, photo, remote image) as the e-mail intake writes its e-post.html."""
    import io
    from datetime import UTC, datetime
    from email.message import EmailMessage

    from PIL import Image

    def png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", size, colour).save(buffer, "PNG")
        return buffer.getvalue()

    rows = "".join(f"<tr><td>Kurs {n}: gitar, fiolin og blåsekorps</td><td>Øvre Bjørkåsen skole</td><td>{n}</td></tr>"
                   for n in range(1, 31))
    message = EmailMessage()
    message["From"] = "Fjellvik kulturskole <kulturskolen@fjellvik.kommune.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = "Nyhetsbrev: kurs våren 2027"
    message.set_content("Nyhetsbrev fra Fjellvik kulturskole.")
    message.add_alternative(
        "<html><head><style>td { border: 1px solid #999; padding: 3px } h1 { color: #d4119b }</style></head><body>"
        "<img src='cid:logo'><h1>Nyhetsbrev fra Fjellvik kulturskole</h1>"
        f"<table>{rows}</table><p>Fra konserten:</p><img src='cid:foto'>"
        "<img src='https://nyhetsbrev.example.com/kampanje.png'></body></html>",
        subtype="html",
    )
    message.get_payload()[1].add_related(png((88, 31), (212, 17, 155)), "image", "png", cid="<logo>")
    message.get_payload()[1].add_related(png((480, 320), (18, 150, 72)), "image", "png", cid="<foto>",
                                         filename="konsert.png")
    eml = folder / "nyhetsbrev.eml"
    eml.write_bytes(message.as_bytes())
    context = IntakeContext(origin_name=eml.name, received=datetime.now(UTC), scratch=folder / "intake")
    main = parse_eml(eml, context)[0].main_document
    assert main is not None and main.filename == HTML_MAIN_FILENAME
    target = folder / HTML_MAIN_FILENAME
    target.write_bytes(main.content)
    return target


def pages_of(kind: str, source: Path, scratch: Path) -> int:
    if source.suffix == ".pdf":
        return len(PdfReader(source).pages)
    if kind == "e-mail text":
        return len(PdfReader(render_email(source.read_text(encoding="utf-8"), scratch / "e-post.pdf")).pages)
    if kind == "HTML e-mail":
        _weasyprint(source, scratch)
        return len(PdfReader(scratch / "weasyprint.pdf").pages)
    if kind in imagefactory.BENCH_SAMPLES:
        with Image.open(source) as image:
            return getattr(image, "n_frames", 1)
    return 1


def _gs(source: Path, out: Path) -> None:
    program, _ = ghostscript.require()
    ghostscript.embed_fonts(program, source, out / "gs.pdf", timeout=300)


def _ocrmypdf_cli(source: Path, out: Path) -> None:
    args = [str(OCRMYPDF), "--quiet", "-l", "nor+eng", "--output-type", "pdfa-2", "--skip-text", "--optimize", "0",
            "--jobs", "1", "--pdfa-backend", "internal"]
    if source.suffix != ".pdf":
        args += ["--image-dpi", "300"]
    done = subprocess.run([*args, str(source), str(out / "ocrmypdf.pdf")], capture_output=True, timeout=600, check=False)
    # 10: the work was done, but the PDF/A it made fails OCRmyPDF's own validation (noarkpipe first
    # removes what the validator refuses, see convert/pdfa.py); the time is still the time it takes.
    if done.returncode not in (0, 10):
        raise RuntimeError(f"ocrmypdf failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")


def _img2pdf(source: Path, out: Path) -> None:
    (out / "img2pdf.pdf").write_bytes(img2pdf.convert(str(source)))


def _frames_img2pdf(source: Path, out: Path) -> None:
    pages = []
    with Image.open(source) as image:
        for number, frame in enumerate(ImageSequence.Iterator(image)):
            flat = Image.alpha_composite(Image.new("RGBA", frame.size, "white"), frame.convert("RGBA")).convert("RGB")
            pages.append(out / f"frame-{number}.png")
            flat.save(pages[-1])
    (out / "img2pdf.pdf").write_bytes(img2pdf.convert([str(page) for page in pages]))


def _frames_ocrmypdf(source: Path, out: Path) -> None:
    _frames_img2pdf(source, out)
    _ocrmypdf_cli(out / "img2pdf.pdf", out)


def _fpdf2(source: Path, out: Path) -> None:
    render_email(source.read_text(encoding="utf-8"), out / "fpdf2.pdf")


def _weasyprint(source: Path, out: Path) -> None:
    # The file holds its images as data: URIs; the fetcher only makes sure nothing else is ever fetched.
    import weasyprint

    weasyprint.HTML(filename=source, url_fetcher=DataUrisOnly()).write_pdf(out / "weasyprint.pdf")


def _libreoffice(family: libreoffice.Family) -> Baseline:
    def export(source: Path, out: Path) -> None:
        program, _ = libreoffice.require()
        libreoffice.to_pdf(program, source, out, family=family, pdfa_part=2, profile=out.parent / "lo-profile",
                           timeout=300)

    return export


BASELINES: dict[str, dict[str, Baseline]] = {
    "text PDF": {"gs": _gs, "ocrmypdf": _ocrmypdf_cli},
    "PDF, fonts not embedded": {"gs": _gs},
    "scan PDF (OCR)": {"gs": _gs, "ocrmypdf": _ocrmypdf_cli},
    "JPEG scan (OCR)": {"img2pdf": _img2pdf, "ocrmypdf": _ocrmypdf_cli},
    "e-mail text": {"fpdf2": _fpdf2},
    "HTML e-mail": {"WeasyPrint": _weasyprint},
    "docx": {"LibreOffice": _libreoffice("text")},
    "xlsx": {"LibreOffice": _libreoffice("spreadsheet")},
    **{kind: {"img2pdf": _frames_img2pdf, "ocrmypdf": _frames_ocrmypdf} for kind in imagefactory.BENCH_SAMPLES},
}
COLUMNS = ("gs", "ocrmypdf", "img2pdf", "fpdf2", "LibreOffice", "WeasyPrint")


def job(kind: str, source: Path, out: Path, scratch: Path, salt: str) -> ConversionJob:
    digest = hashlib.sha256(source.read_bytes() + salt.encode()).hexdigest()
    return ConversionJob(
        source=source, source_sha256=digest, filename=source.name, email_body=kind in ("e-mail text", "HTML e-mail"),
        target=out, scratch=scratch, options=ConversionOptions(),
    )


def noarkpipe(kind: str, scratch: Path) -> Baseline:
    def convert(source: Path, out: Path) -> None:
        outcome = convert_document(job(kind, source, out, scratch, out.name))
        assert outcome.result is not None, outcome.failure
        verification = outcome.result.verification
        assert verification is None or verification.passed

    return convert


def rate(run: Baseline, source: Path, repeat: int, work: Path) -> float:
    """Documents per second, after one warm-up run (signatures, LibreOffice profile, caches)."""

    def once(name: str) -> None:
        out = work / name
        out.mkdir(parents=True)
        run(source, out)

    once("warm-up")
    started = time.perf_counter()
    for n in range(repeat):
        once(f"run-{n}")
    return repeat / (time.perf_counter() - started)


def parallel(sources: dict[str, Path], repeat: int, work: Path, workers: int) -> tuple[int, float]:
    """The whole mix, `repeat` times over, through the nightly run's executor: documents and seconds."""
    jobs = [
        job(kind, source, work / "out", work / "scratch", f"{kind}-{n}")
        for n in range(repeat) for kind, source in sources.items()
    ]
    with LocalExecutor(workers, preload=("noarkpipe.convert.preload", "ocrmypdf")) as executor:
        executor.submit(convert_document, job("e-mail text", sources["e-mail text"], work / "warm", work / "scratch",
                                              "warm")).outcome()
        started = time.perf_counter()
        tasks = [executor.submit(convert_document, one) for one in jobs]
        for task in tasks:
            outcome = task.outcome()
            assert outcome.ok and outcome.value.result is not None, outcome.failure or outcome.value.failure
        return len(jobs), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="documents of each kind (default 5)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="for the parallel run (default: cores)")
    parser.add_argument("--kinds", help="comma-separated beginnings of kind names, e.g. 'e-mail,html,gif' (default: all)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-convert-"))
    try:
        sources = samples(work / "samples", args.kinds.split(",") if args.kinds else None)
        header = f"{'kind':<24} {'pages':>5} " + " ".join(f"{c:>11}" for c in COLUMNS) + f" {'noarkpipe':>10} {'s/page':>7}"
        print("documents per second on one core (higher is better); s/page is noarkpipe's")
        print(header)
        for kind, source in sources.items():
            folder = work / "runs" / kind.split()[0].lower()
            folder.mkdir(parents=True, exist_ok=True)
            pages = pages_of(kind, source, folder)
            rates = {name: rate(run, source, args.repeat, folder / name) for name, run in BASELINES[kind].items()}
            ours = rate(noarkpipe(kind, folder / "scratch"), source, args.repeat, folder / "noarkpipe")
            cells = " ".join(f"{rates[c]:>11.2f}" if c in rates else f"{'-':>11}" for c in COLUMNS)
            print(f"{kind:<24} {pages:>5} {cells} {ours:>10.2f} {1 / ours / pages:>7.2f}", flush=True)
        documents, seconds = parallel(sources, args.repeat, work / "parallel", args.workers)
        print(
            f"\nall kinds mixed, {documents} documents through the executor on {args.workers} worker(s): "
            f"{documents / seconds:.2f} documents/s, {documents / seconds / args.workers:.2f} per core"
        )
        print(f"{args.repeat} of each kind after a warm-up; load average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
