"""The nightly run end to end: journal once, quarantine the broken, one run at a time."""

import hashlib
import json
import subprocess
import sys
import time

from sqlalchemy import func, select

from helpers.inbox import SAMPLE_INBOX, copy_sample_inbox, drop, make_eml
from noarkpipe import api
from noarkpipe.errors import ExitCode
from noarkpipe.run.lock import RunLock
from noarkpipe.run.results import Outcome
from noarkpipe.run.workarea import CLAIM_SEPARATOR
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore
from noarkpipe.store.engine import Store


def _cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _journalposter(settings):
    store = Store.open(settings.store_url)
    try:
        with store.read() as session:
            return session.scalars(select(tables.Journalpost).order_by(tables.Journalpost.id)).all()
    finally:
        store.dispose()


def test_sample_inbox_is_journaled_with_documents_stored_and_checksummed(installation):
    dropped = copy_sample_inbox(installation)
    assert dropped >= 15
    summary = api.run(installation)
    assert summary.quarantined == 0, [i.reason for i in summary.items if i.outcome is Outcome.quarantined]
    assert summary.journaled + summary.needs_review == dropped
    for creator in installation.arkivskaper:
        assert list(creator.inbox.iterdir()) == []
    assert list((installation.work_dir / "fjellvik").iterdir()) == []

    documents = DocumentStore(installation.documents_dir)
    store = Store.open(installation.store_url)
    with store.read() as session:
        posts = session.scalars(select(tables.Journalpost)).all()
        assert len(posts) == dropped
        by_creator = {
            kode: session.scalar(
                select(func.count())
                .select_from(tables.Journalpost)
                .join(tables.Arkivskaper, tables.Arkivskaper.id == tables.Journalpost.arkivskaper_id)
                .where(tables.Arkivskaper.arkivskaperID == kode)
            )
            for kode in ("fjellvik", "strandby")
        }
        assert by_creator == {
            kode: len(list((SAMPLE_INBOX / kode).glob("*.eml"))) for kode in ("fjellvik", "strandby")
        }
        for post in posts:
            assert post.journalposttype == "Inngående dokument"
            assert post.journalstatus in ("Journalført", "Midlertidig registrering av innkommet dokument")
            assert post.korrespondanseparter and post.korrespondanseparter[0].korrespondanseparttype == "Avsender"
            roles = [d.tilknyttetRegistreringSom for d in post.dokumentbeskrivelser]
            assert roles[0] == "Hoveddokument" and set(roles[1:]) <= {"Vedlegg"}
            for beskrivelse in post.dokumentbeskrivelser:
                for objekt in beskrivelse.dokumentobjekter:
                    path = documents.path_for(objekt.sjekksum)
                    content = path.read_bytes()
                    assert hashlib.sha256(content).hexdigest() == objekt.sjekksum
                    assert len(content) == objekt.filstoerrelse
                    assert objekt.sjekksumAlgoritme == "SHA-256"
        # The original e-mail files are kept, byte for byte, under their intake checksum.
        for item in session.scalars(select(tables.IntakeItem)):
            assert item.state == "filed"
            assert documents.verify(item.sha256)
    store.dispose()
    run_report = json.loads((installation.runs_dir / f"run-{summary.run_id:06d}.json").read_text())
    assert len(run_report["items"]) == dropped


def test_second_run_over_the_same_inbox_journals_nothing_new(installation):
    dropped = copy_sample_inbox(installation)
    first = api.run(installation)
    before = [(p.journalaar, p.journalsekvensnummer) for p in _journalposter(installation)]
    assert len(before) == dropped

    copy_sample_inbox(installation)  # the mail server delivers the same files again
    second = api.run(installation)
    assert second.duplicates == dropped
    assert second.journaled == second.needs_review == second.quarantined == 0
    assert [(p.journalaar, p.journalsekvensnummer) for p in _journalposter(installation)] == before
    third = api.run(installation)  # and an empty inbox is a quiet no-op
    assert third.items == [] and first.run_id < second.run_id < third.run_id


def test_a_quoted_existing_case_is_joined_and_journaled(installation):
    drop(installation, "fjellvik", "1-soknad.eml", make_eml(subject="Spørsmål om åpningstider"))
    first = api.run(installation).items[0]
    assert first.outcome is Outcome.needs_review  # no rule matches: a new case awaiting review
    case = first.saksmappe.rsplit("-", 1)[0]
    drop(installation, "fjellvik", "2-ettersending.eml", make_eml(subject=f"Ettersendt tegning, deres ref. {case}-1"))
    # The same number in the other municipality is a different case: it must not be joined.
    drop(installation, "strandby", "3-annen.eml", make_eml(subject=f"Spørsmål, deres ref. {case}"))
    items = {i.origin_name: i for i in api.run(installation).items}
    assert items["2-ettersending.eml"].outcome is Outcome.journaled
    assert items["2-ettersending.eml"].journalstatus == "Journalført"
    assert items["2-ettersending.eml"].saksmappe == f"{case}-2"
    assert items["3-annen.eml"].outcome is Outcome.needs_review


def test_broken_files_are_quarantined_with_a_reason_and_the_run_goes_on(installation):
    drop(installation, "fjellvik", "god.eml", make_eml(subject="Klage på vedtak om skoleskyss"))
    drop(installation, "fjellvik", "tom.eml", b"")
    drop(installation, "fjellvik", "søppel.eml", bytes(range(256)) * 40)
    drop(installation, "fjellvik", "virus.exe", b"MZ\x90\x00" + b"\x00" * 100)
    drop(installation, "fjellvik", "opplasting.eml.part", b"still being written")
    done = _cli("run", "-c", installation.config_path)
    assert done.returncode == ExitCode.items_quarantined == 10, done.stderr
    quarantine = installation.creator("fjellvik").quarantine
    kept = sorted(p.name for p in quarantine.iterdir())
    assert kept == sorted(
        ["tom.eml", "tom.eml.reason.txt", "søppel.eml", "søppel.eml.reason.txt", "virus.exe", "virus.exe.reason.txt"]
    )
    assert (quarantine / "virus.exe").read_bytes().startswith(b"MZ")
    assert "unsupported file type '.exe'" in (quarantine / "virus.exe.reason.txt").read_text()
    reason = (quarantine / "tom.eml.reason.txt").read_text()
    assert "sha256: " + hashlib.sha256(b"").hexdigest() in reason and "reason: " in reason
    # The good one was journaled, the partial upload left alone for the next night.
    assert [p.tittel for p in _journalposter(installation)] == ["Klage på vedtak om skoleskyss"]
    assert [p.name for p in installation.creator("fjellvik").inbox.iterdir()] == ["opplasting.eml.part"]
    status = json.loads(_cli("status", "-c", installation.config_path, "--json").stdout)
    fjellvik = next(c for c in status["creators"] if c["kode"] == "fjellvik")
    assert fjellvik["quarantined_files"] == 3 and fjellvik["journalposter"] == 1
    assert status["last_run"]["quarantined"] == 3


def test_an_item_left_in_the_work_area_by_a_killed_run_is_finished(installation):
    work = installation.work_dir / "fjellvik"
    work.mkdir(parents=True)
    (work / f"20261121T020000-deadbeef{CLAIM_SEPARATOR}avbrutt.eml").write_bytes(make_eml(subject="Avbrutt i natt"))
    summary = api.run(installation)
    assert [(i.origin_name, i.outcome) for i in summary.items] == [("avbrutt.eml", Outcome.needs_review)]
    assert list(work.iterdir()) == []


def test_a_second_run_while_one_is_running_exits_75_at_once(installation):
    drop(installation, "fjellvik", "brev.eml", make_eml())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from noarkpipe.run.lock import RunLock\n"
            f"with RunLock(Path({str(installation.lock_path)!r})):\n"
            "    print('locked', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        done = _cli("run", "-c", installation.config_path)
        assert done.returncode == ExitCode.already_running == 75
        assert time.monotonic() - started < 15
        assert "already running" in done.stderr
        assert (installation.creator("fjellvik").inbox / "brev.eml").exists()
    finally:
        holder.communicate("\n", timeout=10)
    # Once the first run is gone (even killed), the lock is free again.
    assert _cli("run", "-c", installation.config_path).returncode == 0


def test_two_runs_started_together_journal_each_item_once(installation):
    for i in range(30):
        drop(installation, "fjellvik", f"brev-{i:02}.eml", make_eml(subject=f"Henvendelse nr. {i}", body=f"Tekst {i}"))
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "noarkpipe.cli", "run", "-q", "-c", str(installation.config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    codes = sorted(r.wait(timeout=180) for r in runs)
    assert codes in ([0, 75], [0, 0])
    posts = _journalposter(installation)
    assert sorted(p.tittel for p in posts) == sorted(f"Henvendelse nr. {i}" for i in range(30))
    assert sorted(p.journalsekvensnummer for p in posts) == list(range(1, 31))


def test_runlock_is_reentrant_after_release(tmp_path):
    with RunLock(tmp_path / "run.lock"):
        pass
    with RunLock(tmp_path / "run.lock"):
        pass


def test_the_result_types_and_ops_come_without_the_loop():
    """CLI, API and ops/ take a finished run's data classes without importing the orchestrator or its executors."""
    modules = "noarkpipe.run.results, noarkpipe.ops.report, noarkpipe.ops.mail, noarkpipe.ops.runlog, noarkpipe.ops.health"
    code = f"import sys, {modules}; print(sorted(m for m in sys.modules if m.startswith('noarkpipe.run.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['noarkpipe.run.results', 'noarkpipe.run.timing']"


_CONVERTERS_AND_PARSERS = (
    "pikepdf", "img2pdf", "ocrmypdf", "weasyprint", "fpdf", "fontTools", "pypdfium2", "PIL", "fido", "extract_msg",
    "noarkpipe.convert.pdfa", "noarkpipe.intake.dispatch",
)


def test_the_run_imports_no_converter_or_parser_and_its_fork_server_has_them_all():
    """The run's own process hands out conversions and reads what the children wrote; they have the libraries warm.

    Importing them cost the run a few seconds of CPU a night it never used. The
    fork server imports PRELOAD once for every conversion worker and parse
    child, so what they use must be in it, and the store and classification,
    which no child uses, not.
    """
    run = f"import sys, noarkpipe.services.nightly; print(sorted(m for m in {_CONVERTERS_AND_PARSERS} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
    server = (
        "import importlib, sys; from noarkpipe.run.nightly import PRELOAD; "
        "before = set(sys.modules); [importlib.import_module(m) for m in PRELOAD]; "
        f"print(sorted(m for m in {_CONVERTERS_AND_PARSERS} if m not in sys.modules)); "
        "print(sorted(m for m in ('sqlalchemy', 'scipy', 'noarkpipe.journal.journaling') if m in set(sys.modules) - before))"
    )
    missing, needless = subprocess.run(
        [sys.executable, "-c", server], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert missing == "[]"
    assert needless == "[]"
