"""Archival copies in the nightly run: every journaled document has its Arkivformat, or a reason why not.

Everything runs for real: the nightly run with its process pool, fido,
OCRmyPDF with tesseract 'nor+eng', Ghostscript, LibreOffice headless. One
run takes in a mixed inbox (an e-mail with office documents, a PDF, scans
and text attachments; a forwarded e-mail; a scanned letter; an e-form) and
several tests look at what it journaled. A second run takes in the failure
cases together (an encrypted PDF, a damaged docx, a program, a LibreOffice
that hangs) next to one good e-mail: each letter is journaled for review
with the failing part kept as received (the letter comes first, see
tests/test_letter_first.py). The executor's own hard limit, crash
handling and cancelling are tested on small Python functions.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from lxml import etree
from pypdf import PdfReader
from sqlalchemy import func, select

from helpers import convertfactory as factory
from helpers.inbox import SAMPLE_INBOX, drop, make_eml
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.convert import verify_pdfa
from noarkpipe.errors import StoreError
from noarkpipe.files.identify import is_accepted
from noarkpipe.run.execution_local import LocalExecutor
from noarkpipe.run.nightly import NightlyRun
from noarkpipe.run.processes import descendants
from noarkpipe.run.results import Outcome
from noarkpipe.run.workarea import ARCHIVAL_PREFIX
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore
from noarkpipe.store.engine import Store
from noarkpipe.store.tables import ItemState
from noarkpipe.xml.schemas import safe_parser, xml_schema

PUID = re.compile(r"^(x-)?fmt/\d+$")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _installation(root: Path):
    return load_settings(api.init(root))


def _with_timeout(settings, seconds: int):
    """The installation with [convert] timeout_s changed, read again from its config file."""
    config = settings.config_path
    text, changed = re.subn(r"(?m)^timeout_s = 900\b", f"timeout_s = {seconds}", config.read_text(encoding="utf-8"))
    assert changed == 1
    config.write_text(text, encoding="utf-8")
    return load_settings(config)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One nightly run over a mixed inbox; the store's journalposter, read once."""
    root = tmp_path_factory.mktemp("arkivformat")
    settings = _installation(root / "site")
    samples = root / "samples"
    samples.mkdir()
    office = factory.office_documents(samples / "office")
    attachments = [
        ("Søknad om tilskudd.docx", office["docx"].read_bytes(), DOCX),
        ("Søknad om tilskudd.odt", office["odt"].read_bytes(), ODT),
        ("Budsjett.xlsx", office["xlsx"].read_bytes(), XLSX),
        ("Klage på eiendomsskatt.rtf", office["rtf"].read_bytes(), "application/rtf"),
        ("Brukstillatelse.pdf", factory.text_pdf(samples / "brukstillatelse.pdf").read_bytes(), "application/pdf"),
        ("Faktura rørlegger.jpg", factory.jpeg_scan(samples / "brev.jpg").read_bytes(), "image/jpeg"),
        ("Melding slamtømming.png", factory.png_scan(samples / "melding.png").read_bytes(), "image/png"),
        ("Referat.txt", factory.TEXT.encode("utf-8"), "text/plain"),
        ("Gammelt referat.txt", factory.TEXT.encode("latin-1"), "text/plain"),
    ]
    drop(settings, "fjellvik", "01-vedlegg.eml", make_eml(subject="Søknad om tilskudd med vedlegg", attachments=attachments))
    fixture = SAMPLE_INBOX / "fjellvik" / "06-videresendt-vannlekkasje.eml"
    drop(settings, "fjellvik", "02-videresendt.eml", fixture.read_bytes())
    letter = factory.scanned_pdf(samples / "skannet.pdf")
    drop(settings, "fjellvik", "skanner/skanning.pdf", letter.read_bytes())
    eform = SAMPLE_INBOX.parent / "sample-eforms" / "byggesak-fjellvik-ett-trinn.xml"
    drop(settings, "fjellvik", "skjema/byggesak.xml", eform.read_bytes())
    summary = api.run(settings)
    return {"settings": settings, "summary": summary, "posts": _snapshot(settings)}


def _snapshot(settings) -> list[SimpleNamespace]:
    """The journalposter with their documents, objects and konverteringer, read once into plain objects."""

    def plain(row, **more):
        return SimpleNamespace(**{c.key: getattr(row, c.key) for c in row.__table__.columns}, **more)

    store = Store.open(settings.store_url)
    try:
        with store.read() as session:
            return [
                plain(post, dokumentbeskrivelser=[
                    plain(beskrivelse, dokumentobjekter=[
                        plain(objekt, konverteringer=[plain(k) for k in objekt.konverteringer])
                        for objekt in beskrivelse.dokumentobjekter
                    ])
                    for beskrivelse in post.dokumentbeskrivelser
                ])
                for post in session.scalars(select(tables.Journalpost).order_by(tables.Journalpost.id))
            ]
    finally:
        store.dispose()


def _objects(post):
    for beskrivelse in post.dokumentbeskrivelser:
        by_variant = {objekt.variantformat: objekt for objekt in beskrivelse.dokumentobjekter}
        yield beskrivelse, by_variant["Produksjonsformat"], by_variant["Arkivformat"]


def _post(mixed, origin_fragment: str):
    matches = [p for p in mixed["posts"] if origin_fragment in (p.tittel or "")]
    assert len(matches) == 1, [p.tittel for p in mixed["posts"]]
    return matches[0]


def _by_file(post) -> dict:
    return {produksjon.filnavn: (produksjon, arkiv) for _, produksjon, arkiv in _objects(post)}


def test_every_document_has_its_original_and_its_archival_copy(mixed):
    summary, settings = mixed["summary"], mixed["settings"]
    assert summary.quarantined == 0, [i.reason for i in summary.items if i.outcome is Outcome.quarantined]
    assert len(mixed["posts"]) == 4  # the e-mail, the forwarded e-mail, the scanned letter, the e-form
    documents = DocumentStore(settings.documents_dir)
    today = mixed["posts"][0].journaldato
    for post in mixed["posts"]:
        for beskrivelse, produksjon, arkiv in _objects(post):
            assert len(beskrivelse.dokumentobjekter) == 2
            assert produksjon.versjonsnummer == arkiv.versjonsnummer == 1
            for objekt in (produksjon, arkiv):
                content = documents.path_for(objekt.sjekksum).read_bytes()
                assert hashlib.sha256(content).hexdigest() == objekt.sjekksum
                assert len(content) == objekt.filstoerrelse and objekt.sjekksumAlgoritme == "SHA-256"
                # Format from identification of the bytes: a PRONOM id, its name and version, the MIME type.
                assert PUID.match(objekt.format), objekt.format
                assert objekt.formatDetaljer and objekt.mimeType
            assert is_accepted(arkiv.format, today), (produksjon.filnavn, arkiv.format)


def test_converted_copies_verify_as_pdfa_and_say_how_they_were_made(mixed):
    documents = DocumentStore(mixed["settings"].documents_dir)
    converted = 0
    for post in mixed["posts"]:
        for _, produksjon, arkiv in _objects(post):
            if arkiv.sjekksum == produksjon.sjekksum:
                continue
            [konvertering] = arkiv.konverteringer
            assert konvertering.konvertertFraFormat == produksjon.format
            assert konvertering.konvertertTilFormat == arkiv.format
            assert konvertering.konvertertAv == "noarkpipe"
            assert konvertering.konvertertDato.tzinfo is not None
            if arkiv.format == "fmt/477":
                assert "checks: opens passed" in konvertering.konverteringskommentar
                assert re.search(r"(OCRmyPDF|pikepdf) \d+\.\d+", konvertering.konverteringsverktoey)
                assert arkiv.mimeType == "application/pdf" and arkiv.filnavn.endswith(".pdf")
                report = verify_pdfa(documents.path_for(arkiv.sjekksum), expected_pages=None, profile="2b")
                assert report.passed, report.summary()
                outcomes = {check.id: check.outcome for check in report.checks}
                assert outcomes["fonts_embedded"] == outcomes["pdfa_identification"] == "passed"
                assert outcomes["not_encrypted"] == outcomes["pdfa_rules"] == "passed"
            converted += 1
    assert converted == mixed["summary"].archival_copies > 10
    assert mixed["summary"].conversion_failures == 0


def test_each_kind_of_document_takes_its_route(mixed):
    files = _by_file(_post(mixed, "Søknad om tilskudd med vedlegg"))
    tools = {name: (arkiv.konverteringer[0].konverteringsverktoey if arkiv.konverteringer else None)
             for name, (_, arkiv) in files.items()}
    for name in ("Søknad om tilskudd.docx", "Søknad om tilskudd.odt", "Budsjett.xlsx", "Klage på eiendomsskatt.rtf"):
        assert tools[name].startswith("LibreOffice 7."), (name, tools[name])
    for name in ("Faktura rørlegger.jpg", "Melding slamtømming.png"):
        assert tools[name].startswith("img2pdf "), (name, tools[name])
    assert tools["e-post.txt"].startswith("fpdf2 ")
    # A PDF with text on every page needs no OCR; the scans do.
    assert tools["Brukstillatelse.pdf"].startswith("pikepdf ")
    assert "OCRmyPDF " in tools["Faktura rørlegger.jpg"]
    assert files["Søknad om tilskudd.docx"][0].format == "fmt/412"
    assert files["Søknad om tilskudd.docx"][1].filnavn == "Søknad om tilskudd.pdf"
    # UTF-8 text is its own archival copy: the same file, and no konvertering since nothing was converted.
    produksjon, arkiv = files["Referat.txt"]
    assert arkiv.sjekksum == produksjon.sjekksum and arkiv.format == "x-fmt/111" and not arkiv.konverteringer
    # Text in another character set gets a UTF-8 copy.
    produksjon, arkiv = files["Gammelt referat.txt"]
    assert produksjon.mimeType == "text/plain; charset=iso-8859-1"
    assert arkiv.mimeType == "text/plain; charset=utf-8" and tools["Gammelt referat.txt"].startswith("noarkpipe ")
    forwarded = _by_file(_post(mixed, "Vannlekkasje"))
    [eml] = [name for name in forwarded if name.endswith(".eml")]
    assert forwarded[eml][0].format == "fmt/950"
    assert forwarded[eml][1].konverteringer[0].konverteringsverktoey.startswith("noarkpipe e-mail reader ")
    # The e-form: its PDF rendering converted, its data XML kept as it is.
    form = next(p for p in mixed["posts"] if any(n.endswith(".xml") for n in _by_file(p)))
    for name, (produksjon, arkiv) in _by_file(form).items():
        if name.endswith(".xml"):
            assert arkiv.sjekksum == produksjon.sjekksum and arkiv.format in ("fmt/101", "fmt/1776")
        elif produksjon.mimeType == "application/pdf":
            assert arkiv.format == "fmt/477" and arkiv.konverteringer


def test_archival_copies_hold_the_norwegian_text(mixed):
    documents = DocumentStore(mixed["settings"].documents_dir)

    def text(post, name):
        return "\n".join(page.extract_text() for page in PdfReader(documents.path_for(_by_file(post)[name][1].sjekksum)).pages)

    scan = next(p for p in mixed["posts"] if any(n.endswith(".pdf") for n in _by_file(p)) and len(_by_file(p)) == 1)
    [letter] = _by_file(scan)
    scanned = text(scan, letter)
    for word in ("Ødegård", "eiendomsskatt", "Øvre Fjellvei"):
        assert word in scanned, scanned[:500]
    mail = _post(mixed, "Søknad om tilskudd med vedlegg")
    assert "Søknad om tilskudd" in text(mail, "Søknad om tilskudd.docx")
    assert "Øystein Løvås" in text(mail, "Budsjett.xlsx")
    assert "Rørleggerservice" in text(mail, "Faktura rørlegger.jpg")
    body = text(mail, "e-post.txt")
    assert "Åse Ødegård" in body and "Budsjett.xlsx" in body  # header block and the list of attachments


def test_the_work_area_is_left_clean(mixed):
    settings = mixed["settings"]
    assert list((settings.work_dir / "fjellvik").iterdir()) == []
    assert not (settings.work_dir / ".scratch" / "convert").exists()
    store = Store.open(settings.store_url)
    with store.read() as session:
        assert set(session.scalars(select(tables.IntakeItem.state))) == {ItemState.filed}
    store.dispose()


def test_the_extract_of_these_documents_validates(mixed, tmp_path):
    settings = mixed["settings"]
    # An extract needs one change in its endringslogg: the morning's review gives it.
    waiting = api.review_list(settings, "fjellvik")
    assert waiting, "the mixed inbox leaves something for review"
    api.review_decide(settings, "approve", waiting[0].journalnummer, kode="fjellvik", by="kari")
    api.export(settings, tmp_path / "ut", kode="fjellvik", force=True, identify_formats=False)
    [tar_path] = (tmp_path / "ut").glob("*.tar")
    with tarfile.open(tar_path) as tar:
        [member] = [m for m in tar.getmembers() if m.name.endswith("content/arkivstruktur.xml")]
        data = tar.extractfile(member).read()
    document = etree.fromstring(data, safe_parser())
    schema = xml_schema("noark5/v5.0/arkivstruktur.xsd")
    assert schema.validate(etree.ElementTree(document)), schema.error_log
    ns = {"a": "http://www.arkivverket.no/standarder/noark5/arkivstruktur"}
    assert len(document.findall(".//a:dokumentobjekt/a:konvertering", ns)) >= 10


# --- Failures: the letter is journaled for review, the part kept as received with the reason ------


FAKE_SOFFICE = """#!/bin/sh
# Answers like LibreOffice 7.4 when asked its version, then hangs with a child, as a stuck office does.
if [ "$1" = "--version" ]; then echo "LibreOffice 7.4.7.2 40(Build:2)"; exit 0; fi
echo $$ >> "{pids}"
sleep 600 &
echo $! >> "{pids}"
wait
"""


@pytest.fixture(scope="module")
def failures(tmp_path_factory):
    """One run over four failing e-mails and a good one; then a run with a LibreOffice that hangs."""
    root = tmp_path_factory.mktemp("avvist")
    settings = _installation(root / "site")
    samples = root / "samples"
    samples.mkdir()
    text_pdf = factory.text_pdf(samples / "brukstillatelse.pdf")
    office = factory.office_documents(samples / "office")
    drop(settings, "fjellvik", "01-kryptert.eml", make_eml(subject="Kryptert vedlegg", attachments=[
        ("Brukstillatelse.pdf", text_pdf.read_bytes(), "application/pdf"),
        ("Passord.pdf", factory.encrypted_pdf(text_pdf, samples / "passord.pdf").read_bytes(), "application/pdf"),
    ]))
    drop(settings, "fjellvik", "02-skadet.eml", make_eml(subject="Skadet dokument", attachments=[
        ("Søknad.docx", factory.corrupt_docx(office["docx"], samples / "skadet.docx").read_bytes(), DOCX),
    ]))
    drop(settings, "fjellvik", "03-program.eml", make_eml(subject="Faktura", attachments=[
        ("faktura.exe", factory.windows_executable(samples / "faktura.exe").read_bytes(), "application/octet-stream"),
    ]))
    drop(settings, "fjellvik", "04-god.eml", make_eml(subject="Spørsmål om brøyting i Øvre Seim"))
    summary = api.run(settings)

    drop(settings, "fjellvik", "05-treg.eml", make_eml(subject="Dokument som henger", attachments=[
        ("Tilskudd.docx", office["docx"].read_bytes(), DOCX),
    ]))
    fake_bin = root / "bin"
    fake_bin.mkdir()
    pids = root / "soffice.pids"
    (fake_bin / "soffice").write_text(FAKE_SOFFICE.format(pids=pids))
    (fake_bin / "soffice").chmod(0o755)
    # The fake writes its pids to a file of the test's, which the converters' sandbox (a private /tmp,
    # a pid namespace of its own) would hide; test_convert stops a real LibreOffice in the sandbox.
    config = settings.config_path
    config.write_text(config.read_text(encoding="utf-8").replace('sandbox = "bwrap"', 'sandbox = "off"'))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
        started = time.monotonic()
        hung = api.run(_with_timeout(settings, 6))
        took = time.monotonic() - started
    return {"settings": settings, "summary": summary, "hung": hung, "pids": pids, "took": took}


def _item(failures, origin):
    [item] = [i for i in failures["summary"].items + failures["hung"].items if i.origin_name == origin]
    return item


@pytest.mark.parametrize(
    ("origin", "words"),
    [
        ("01-kryptert.eml", ("'Passord.pdf'", "encrypted")),
        ("02-skadet.eml", ("'Søknad.docx'", "LibreOffice could not convert the document")),
        ("03-program.eml", ("'faktura.exe'", "not an accepted archival format")),
        ("05-treg.eml", ("'Tilskudd.docx'", "not finished within 6 seconds", "LibreOffice took longer")),
    ],
)
def test_a_document_without_archival_copy_sends_its_letter_to_review(failures, origin, words):
    item = _item(failures, origin)
    assert item.outcome is Outcome.needs_review and item.journalstatus == "Midlertidig registrering av innkommet dokument"
    [gap] = item.archival_gaps
    assert f"'{gap.document}'" == words[0]
    for word in words[1:]:
        assert word in gap.reason, gap.reason
    assert "hint:" in gap.reason  # what to do about it
    assert words[0] in item.reason
    assert not (failures["settings"].creator("fjellvik").quarantine / origin).exists()


def test_the_failing_part_is_kept_as_received_and_the_rest_converted(failures):
    settings, summary = failures["settings"], failures["summary"]
    assert _item(failures, "04-god.eml").outcome in (Outcome.journaled, Outcome.needs_review)
    assert summary.conversion_failures == 3 and failures["hung"].conversion_failures == 1
    assert summary.documents_without_archival_copy == 3 and summary.quarantined == 0
    store = Store.open(settings.store_url)
    with store.read() as session:
        assert len(session.scalars(select(tables.Journalpost)).all()) == 5
        gapped = {d.dokumentobjekter[0].filnavn: d for d in session.scalars(
            select(tables.Dokumentbeskrivelse).where(tables.Dokumentbeskrivelse.archival_gap.is_not(None))
        )}
        assert set(gapped) == {"Passord.pdf", "Søknad.docx", "faktura.exe", "Tilskudd.docx"}
        for beskrivelse in gapped.values():
            assert [o.variantformat for o in beskrivelse.dokumentobjekter] == ["Produksjonsformat"]
            assert beskrivelse.dokumentobjekter[0].format and beskrivelse.dokumentobjekter[0].mimeType
        # The good PDF beside the encrypted one has its archival copy.
        brukstillatelse = session.scalar(
            select(tables.Dokumentobjekt).where(tables.Dokumentobjekt.filnavn == "Brukstillatelse.pdf")
        )
        siblings = brukstillatelse.dokumentbeskrivelse.dokumentobjekter
        assert [o.variantformat for o in siblings] == ["Produksjonsformat", "Arkivformat"]
    store.dispose()
    assert [p.name for p in (settings.work_dir / "fjellvik").iterdir()] == []


def test_a_hung_converter_is_killed_with_its_children(failures):
    pids = [int(line) for line in failures["pids"].read_text().split()]
    assert len(pids) == 2  # the fake soffice and the child it started
    for pid in pids:
        assert not _running(pid), f"process {pid} of the hung converter still runs"
    # Stopped at the 6-second deadline, not after sleeping its 600 seconds.
    assert failures["took"] < 120


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


# --- Durable state: conversions are not done twice ---------------------------------------------


def test_a_run_killed_after_converting_does_not_convert_again(installation, monkeypatch, tmp_path):
    drop(installation, "fjellvik", "brev.eml", make_eml(subject="Klage på eiendomsskatt", attachments=[
        ("Klage.rtf", factory.RTF.encode("ascii"), "application/rtf"),
    ]))
    # A scanned letter: reading it again would OCR it again and give a new PDF each time.
    drop(installation, "fjellvik", "skanner/brev.jpg", factory.jpeg_scan(tmp_path / "brev.jpg").read_bytes())

    def store_gone(*_args, **_kwargs):
        raise StoreError("the database server went away")

    store = Store.open(installation.store_url)
    first = factory.CountingExecutor()
    with monkeypatch.context() as patch:
        patch.setattr("noarkpipe.run.nightly.journal_submission", store_gone)
        with pytest.raises(StoreError):
            NightlyRun(installation, store, executor=first).run()
    first.close()
    assert len(first.jobs) == 3  # the e-mail's text, the RTF, the scanned letter
    work = installation.work_dir / "fjellvik"
    folders = sorted(work.glob(f"{ARCHIVAL_PREFIX}*"))
    assert len(folders) == 2
    for archival in folders:
        assert (archival / "parsed.json").is_file()
        records = [path for path in archival.glob("*.json") if path.name != "parsed.json"]
        assert len(records) == len(list(archival.glob("*.pdf"))) >= 1
    with store.read() as session:
        # The run stopped at the first item; the second was converted too, but never reached.
        assert set(session.scalars(select(tables.IntakeItem.state))) <= {ItemState.converted, ItemState.claimed}

    second = factory.CountingExecutor()
    summary = NightlyRun(installation, store, executor=second).run()
    second.close()
    assert second.jobs == []
    assert len(summary.items) == 2 and Outcome.quarantined not in [i.outcome for i in summary.items]
    assert summary.kept_as_archival == 0 and summary.archival_copies == 3
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(tables.Konvertering)) == 3
    store.dispose()
    assert list(work.iterdir()) == []


def test_a_stopped_run_keeps_what_it_has_and_the_next_run_finishes(installation):
    for number in range(1, 7):
        drop(installation, "fjellvik", f"{number:02d}-brev.eml", make_eml(subject=f"Brev nummer {number} om brøyting"))
    stop = threading.Event()
    first = api.run(installation, stop=stop, progress=lambda _stage, _done, _total: stop.set())
    assert first.stopped_early
    assert all(item.outcome is not Outcome.quarantined for item in first.items)
    second = api.run(installation)
    assert all(item.outcome is not Outcome.quarantined for item in second.items)
    assert len(first.items) + len(second.items) == 6
    assert list((installation.work_dir / "fjellvik").iterdir()) == []


# --- The executor ---------------------------------------------------------------------------------


# Tasks are functions of the standard library, so that a worker has nothing to import for them.


def _sleepers(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes() and _running(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_executor_kills_a_task_past_its_limit_with_everything_it_started():
    # A unique duration marks the sleepers: one in the worker's group, one in a session of its own.
    marker = f"3000.{os.getpid()}{time.monotonic_ns() % 10**6}"
    script = f"sleep {marker} & setsid sleep {marker} & exec sleep 600"
    started = time.monotonic()
    with LocalExecutor(2, time_limit_s=3) as executor:
        hung = executor.submit(subprocess.call, ["sh", "-c", script])
        others = [executor.submit(math.factorial, n) for n in range(6)]
        assert [task.outcome().value for task in others] == [1, 1, 2, 6, 24, 120]
        seen = 0
        while not hung.done() and seen < 2:
            seen = max(seen, len(_sleepers(marker)))
            time.sleep(0.05)
        assert seen == 2  # both were running before the limit came
        outcome = hung.outcome()
    assert outcome.timed_out and not outcome.ok and "stopped" in outcome.failure
    assert time.monotonic() - started < 30
    assert _sleepers(marker) == []


def test_a_crashing_or_failing_task_takes_only_itself():
    with LocalExecutor(2, max_crashes=2) as executor:
        crash = executor.submit(os._exit, 9)
        error = executor.submit(int, "ugyldig verdi: æøå")
        good = [executor.submit(math.factorial, n) for n in range(8)]
        assert [task.outcome().value for task in good] == [math.factorial(n) for n in range(8)]
        assert "died 2 time(s)" in crash.outcome().failure
        assert error.outcome().failure == ("internal error: ValueError: invalid literal for int() with base 10: "
                                           "'ugyldig verdi: æøå'")


def test_closing_with_cancel_drops_what_has_not_started():
    executor = LocalExecutor(1)
    first = executor.submit(time.sleep, 1)
    waiting = [executor.submit(math.factorial, n) for n in range(3)]
    time.sleep(0.3)
    executor.close(cancel=True)
    assert first.outcome().ok
    assert all(task.outcome().cancelled for task in waiting)
    with pytest.raises(RuntimeError):
        executor.submit(math.factorial, 2)


def test_descendants_are_found_across_sessions():
    script = "import subprocess, time; subprocess.Popen(['sleep', '30'], start_new_session=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not descendants({child.pid}):
            time.sleep(0.05)
        [grandchild] = descendants({child.pid})
        assert os.getsid(grandchild) != os.getsid(child.pid)
        assert {child.pid, grandchild} <= descendants({os.getpid()})
    finally:
        for pid in descendants({child.pid}):
            os.kill(pid, signal.SIGKILL)
        child.kill()
        child.wait()


def test_a_task_over_the_workers_memory_limit_fails_alone_and_the_worker_goes_on():
    with LocalExecutor(1, memory_limit_mb=1024) as executor:
        greedy = executor.submit(bytearray, 2 * 1024**3)
        after = executor.submit(math.factorial, 10)
        assert after.outcome().value == math.factorial(10)
        outcome = greedy.outcome()
    assert not outcome.ok and "MemoryError" in outcome.failure
