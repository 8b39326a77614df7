"""Each item is read in a child process bounded in time and memory; archives and PDFs are judged before they inflate.

Faults are injected by putting a misbehaving parser (tests/parsefaults.py)
in place of the real one; it runs in the child like the real one does.
Everything else is real: the run, the store, the archival copies.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import parsefaults
from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.run import isolation, nightly
from noarkpipe.run.results import Outcome
from noarkpipe.store import tables

MB = 1024 * 1024


def _with_limits(settings, **limits):
    """The installation with these [intake] settings written into its config file, as an operator would."""
    path = settings.config_path
    text = path.read_text(encoding="utf-8")
    for key, value in limits.items():
        text, found = re.subn(rf"(?m)^{key} = \S+", f"{key} = {value}", text)
        if not found:
            text = re.sub(r"(?m)^\[intake\]\n", rf"\g<0>{key} = {value}\n", text, count=1)
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _peak_rss_mb(*, reset: bool = False) -> float:
    """This process's peak resident memory (VmHWM); `reset` starts a new peak from now (clear_refs 5)."""
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


@pytest.fixture
def faulty_parser(monkeypatch):
    monkeypatch.setattr(nightly, "parse_item", parsefaults.misbehaving)


def test_a_hanging_ballooning_or_crashing_parser_costs_only_its_item(installation, faulty_parser):
    settings = _with_limits(installation, max_parse_seconds=15, max_parse_memory_mb=1024)
    for name in ("henger.eml", "ballong.eml", "krasj.eml", "vanlig.eml"):
        drop(settings, "fjellvik", name, make_eml(subject=f"Brev {name}"))
    before = _peak_rss_mb(reset=True)
    started = time.monotonic()
    summary = api.run(settings)
    elapsed = time.monotonic() - started
    by_name = {item.origin_name: item for item in summary.items}

    assert by_name["vanlig.eml"].outcome in (Outcome.journaled, Outcome.needs_review)
    expected = {
        "henger.eml": "took longer than max_parse_seconds = 15 ([intake])",
        "ballong.eml": "more memory than max_parse_memory_mb = 1024 ([intake])",
        "krasj.eml": "died (signal 11): a parser crash, or more memory than max_parse_memory_mb = 1024 ([intake])",
    }
    quarantine = settings.creator("fjellvik").quarantine
    for name, reason in expected.items():
        assert by_name[name].outcome is Outcome.quarantined, (name, by_name[name].reason)
        assert reason in by_name[name].reason, (name, by_name[name].reason)
        assert (quarantine / name).is_file()  # nothing lost
    # The hang cost its limit, not the night; the balloon never touched the run's own memory.
    assert elapsed < 15 + 60
    assert _peak_rss_mb() - before < 200
    # The program the hanging parser started was stopped with it.
    pids = [int(pid) for pid in (settings.work_dir.parent / parsefaults.PID_FILE).read_text().split()]
    assert len(pids) == 2 and not any(_alive(pid) for pid in pids)


def test_a_run_stopped_while_an_item_is_read_leaves_it_for_the_next_run(installation, faulty_parser, monkeypatch):
    settings = _with_limits(installation, max_parse_seconds=120)
    drop(settings, "fjellvik", "henger.eml", make_eml(subject="Brev som henger"))
    pids = settings.work_dir.parent / parsefaults.PID_FILE
    stop = threading.Event()

    def stop_once_reading() -> None:  # what the SIGTERM handler of 'noarkpipe run' does
        deadline = time.monotonic() + 60
        while not pids.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=stop_once_reading, daemon=True).start()
    started = time.monotonic()
    summary = api.run(settings, stop=stop)
    assert time.monotonic() - started < 60
    assert summary.stopped_early and summary.items == []
    assert not any(_alive(int(pid)) for pid in pids.read_text().split())
    work = settings.work_dir / "fjellvik"
    assert [path.name.split("__", 1)[1] for path in work.iterdir() if "__" in path.name] == ["henger.eml"]
    store = api.open_store(settings)
    try:
        with store.read() as session:
            assert [row.state for row in session.scalars(select(tables.IntakeItem))] == ["claimed"]
    finally:
        store.dispose()

    monkeypatch.undo()  # the real parser again
    summary = api.run(settings)
    assert [item.outcome for item in summary.items] in ([Outcome.journaled], [Outcome.needs_review])


def test_a_child_that_answered_is_kept_and_one_that_failed_is_replaced():
    worker = isolation.IsolatedWorker(memory_mb=1024, preload=nightly.PRELOAD)
    try:
        first = worker.call(parsefaults.child_pid, (), seconds=60)
        again = worker.call(parsefaults.child_pid, (), seconds=60)
        assert first.ending is again.ending is isolation.Ending.returned
        assert first.value == again.value != os.getpid()
        refused = worker.call(parsefaults.refusing, (), seconds=60)
        assert refused.ending is isolation.Ending.refused
        assert type(refused.error).__name__ == "InputFileError" and refused.error.hint == "nothing to do"
        after = worker.call(parsefaults.child_pid, (), seconds=60)
        assert after.ending is isolation.Ending.returned and after.value != first.value
        assert not _alive(first.value)
    finally:
        worker.close()
    assert not _alive(after.value)


# --- amplification: archives and PDFs ------------------------------------------------------------


def _distinct_megabytes(count: int) -> dict[str, bytes]:
    """Members of 1 MiB each, every one different, that pack to a few KB (a repeated line with its own number)."""
    return {f"del-{n:03d}.txt": (f"linje {n:03d} ".encode() * (MB // 11 + 1))[:MB] for n in range(count)}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _read_in_child(path: Path, tmp_path: Path, limits: IntakeLimits) -> isolation.ChildOutcome:
    """The item read as the nightly run reads it (in the parse child), to see what it cost."""
    context = IntakeContext(origin_name=path.name, received=nightly.utcnow(), scratch=tmp_path / "scratch", limits=limits)
    (tmp_path / "scratch").mkdir(exist_ok=True)
    return isolation.run_isolated(
        nightly.parse_item, (path, path.name, context, tmp_path / "folder"),
        seconds=limits.max_parse_seconds, memory_mb=limits.max_parse_memory_mb, preload=nightly.PRELOAD,
    )


@pytest.fixture(scope="module")
def amplifying_zip() -> bytes:
    return _zip(_distinct_megabytes(150))


def test_a_small_mail_with_a_zip_of_150_distinct_megabytes_is_refused_before_unpacking(amplifying_zip, tmp_path):
    mail = make_eml(subject="Vedlegg", attachments=[("pakke.zip", amplifying_zip, "application/zip")])
    assert len(mail) < 400 * 1024
    path = tmp_path / "pakke.eml"
    path.write_bytes(mail)
    outcome = _read_in_child(path, tmp_path, IntakeLimits())
    assert outcome.ending is isolation.Ending.refused, outcome
    assert "max_compression_ratio = 100 ([intake])" in outcome.error.message
    # Refused on its directory: nothing close to the 150 MiB was ever held or written.
    assert not any((tmp_path / "scratch").rglob("*"))
    baseline = _read_in_child(_plain_mail(tmp_path), tmp_path, IntakeLimits()).peak_rss_mb
    assert outcome.peak_rss_mb - baseline < 40, (outcome.peak_rss_mb, baseline)


def _plain_mail(tmp_path: Path) -> Path:
    path = tmp_path / "vanlig.eml"
    path.write_bytes(make_eml(subject="Vanlig"))
    return path


def test_a_zip_delivery_of_150_distinct_megabytes_is_quarantined_naming_the_limit(installation, amplifying_zip):
    members = _distinct_megabytes(150) | {"manifest.json": b"{}"}
    drop(installation, "fjellvik", "skjema.zip", _zip(members))
    drop(installation, "fjellvik", "vanlig.eml", make_eml(subject="Vanlig brev"))
    summary = api.run(installation)
    by_name = {item.origin_name: item for item in summary.items}
    assert by_name["skjema.zip"].outcome is Outcome.quarantined
    assert "max_compression_ratio = 100 ([intake])" in by_name["skjema.zip"].reason
    assert by_name["vanlig.eml"].outcome in (Outcome.journaled, Outcome.needs_review)


def test_the_unpacked_total_is_judged_on_the_bytes_actually_inflated(tmp_path):
    from noarkpipe.errors import InputFileError
    from noarkpipe.intake import archive

    # Stored (not compressed), so the ratio is 1: only the total can stop it.
    members = {f"f{n}.bin": os.urandom(MB) for n in range(3)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zipped:
        for name, content in members.items():
            zipped.writestr(name, content)
    context = IntakeContext(
        origin_name="x.zip", received=nightly.utcnow(), scratch=tmp_path, limits=IntakeLimits(max_unpacked_mb=2)
    )
    with pytest.raises(InputFileError, match=r"max_unpacked_mb = 2 \(\[intake\]\)"):
        archive.read_zip(buffer.getvalue(), context)
    # Within the limit every member is on disk in the scratch folder, the same bytes.
    context = IntakeContext(origin_name="x.zip", received=nightly.utcnow(), scratch=tmp_path, limits=IntakeLimits())
    read = archive.read_zip(buffer.getvalue(), context)
    assert {m.name: m.content for m in read} == members
    assert all(m.path.is_relative_to(tmp_path) for m in read)


def _pdf_with_content_stream(inflated_bytes: int) -> bytes:
    """A one-page PDF whose content stream inflates to `inflated_bytes` of spaces (it packs a thousandfold)."""
    packer = zlib.compressobj(9)
    chunk = b" " * MB
    packed = b"".join(packer.compress(chunk) for _ in range(inflated_bytes // MB)) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


@pytest.fixture(scope="module")
def pdf_bomb() -> bytes:
    return _pdf_with_content_stream(1024 * MB)


def test_a_pdf_whose_content_stream_inflates_to_a_gibibyte_is_refused_within_bounded_memory(pdf_bomb, tmp_path):
    assert len(pdf_bomb) < 2 * MB
    mail = tmp_path / "bombe.eml"
    mail.write_bytes(make_eml(subject="Faktura", attachments=[("faktura.pdf", pdf_bomb, "application/pdf")]))
    scan = tmp_path / "skanning.pdf"
    scan.write_bytes(pdf_bomb)
    baseline = _read_in_child(_plain_mail(tmp_path), tmp_path, IntakeLimits()).peak_rss_mb
    for path in (mail, scan):
        outcome = _read_in_child(path, tmp_path, IntakeLimits())
        assert outcome.ending is isolation.Ending.refused, (path.name, outcome)
        assert "max_decompressed_mb = 256 ([intake])" in outcome.error.message, outcome.error.message
        assert outcome.peak_rss_mb - baseline < 100, (path.name, outcome.peak_rss_mb, baseline)
