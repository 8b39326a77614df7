"""The journal store on a real PostgreSQL server: migrations, a full run, concurrent writers, review.

The server is started by the `postgres` fixture (tests/pgserver.py) on loopback;
every test gets a fresh database. The same operations are checked against the
SQLite store elsewhere; here they must give the same journal on PostgreSQL and
keep numbers unique and gap-free with several processes writing at once.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import time

import pytest
from sqlalchemy import inspect, select

from helpers.inbox import SAMPLE_INBOX, drop, make_eml
from noarkpipe import api
from noarkpipe.clock import utcnow
from noarkpipe.config import load_settings
from noarkpipe.core.submission import Party, Source, Submission
from noarkpipe.errors import ExitCode, StoreError
from noarkpipe.journal.journaling import LOCAL_TIME, ensure_structure, journal_submission
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

WRITERS = 3
ITEMS_PER_WRITER = 30
# A small inbox: every journaled e-mail gets an archival copy, which takes seconds.
SAMPLE = {
    "fjellvik": ("01-byggesak-soknad.eml", "10-soknad-tilskudd.eml"),
    "strandby": ("04-windows-1252-uten-charset.eml",),
}


def _cli(*args, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def copy_sample(settings) -> int:
    for kode, names in SAMPLE.items():
        for name in names:
            shutil.copy2(SAMPLE_INBOX / kode / name, settings.creator(kode).inbox / name)
    return sum(len(names) for names in SAMPLE.values())


def use_store(settings, url: str):
    """Point an installation's config at `url` and reload it."""
    path = settings.config_path
    text, count = re.subn(r'(?m)^store_url = ".*"$', f'store_url = "{url}"', path.read_text(encoding="utf-8"))
    assert count == 1
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def _journal(settings):
    """What was journaled, without ids and times: comparable between two stores."""
    store = Store.open(settings.store_url)
    try:
        with store.read() as session:
            kode = dict(session.execute(select(tables.Arkivskaper.id, tables.Arkivskaper.arkivskaperID)).all())
            return sorted(
                (
                    kode[p.arkivskaper_id],
                    p.journalaar, p.journalsekvensnummer, p.registreringsID, p.tittel, p.offentligTittel,
                    p.journalstatus, p.saksmappe.klasse.klasseID, p.saksmappe.tittel,
                    tuple(k.korrespondansepartNavn for k in p.korrespondanseparter),
                    tuple(
                        (
                            d.tittel,
                            # An archival copy (PDF/A) carries its creation time, so only its kind compares.
                            tuple(
                                (o.variantformat, o.format, o.sjekksum if o.variantformat == "Produksjonsformat" else "")
                                for o in d.dokumentobjekter
                            ),
                        )
                        for d in p.dokumentbeskrivelser
                    ),
                )
                for p in session.scalars(select(tables.Journalpost))
            )
    finally:
        store.dispose()


def test_migrations_reach_head_on_postgres_with_the_same_tables_as_sqlite(pg_url, tmp_path):
    store = Store.open(pg_url)
    try:
        assert store.schema_revision() == store.head_revision()
        pg_tables = set(store.table_names())
        columns = {c["name"]: c for c in inspect(store.engine).get_columns("run")}
        assert columns["started_at"]["type"].timezone is True
        # Opening again is a no-op (already at head), also through the plain postgresql:// spelling.
        again = Store.open(pg_url.replace("postgresql+psycopg://", "postgresql://"))
        assert again.engine.dialect.driver == "psycopg" and again.schema_revision() == store.head_revision()
        again.dispose()
    finally:
        store.dispose()
    sqlite = Store.open(f"sqlite:///{tmp_path}/s.sqlite")
    assert pg_tables == set(sqlite.table_names())
    sqlite.dispose()


def test_unreachable_server_is_a_store_error_without_the_password(postgres):
    url = postgres.url("noarkpipe").replace(f":{postgres.port}/", ":1/")
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.store_error
    assert "127.0.0.1" in message and "***" in message
    assert "hemmelig" not in message and "%C3%A6" not in message


def test_a_full_run_on_postgres_journals_exactly_what_sqlite_does(installation, pg_url, tmp_path):
    reference = load_settings(api.init(tmp_path / "sqlite-site"))
    copy_sample(reference)
    api.run(reference)

    settings = use_store(installation, pg_url)
    dropped = copy_sample(settings)
    done = _cli("run", "-c", settings.config_path)
    assert done.returncode == 0, done.stderr
    journal = _journal(settings)
    assert len(journal) == dropped
    assert journal == _journal(reference)
    assert any("ø" in entry[4] or "å" in entry[4] or "æ" in entry[4] for entry in journal)

    status = json.loads(_cli("status", "-c", settings.config_path, "--json").stdout)
    assert status["store_url"].startswith("postgresql+psycopg://noarkpipe:***@127.0.0.1:")
    assert status["last_run"]["outcome"] == "completed"
    assert sum(c["journalposter"] for c in status["creators"]) == dropped

    copy_sample(settings)  # delivered again: recognised, nothing journaled twice
    again = api.run(settings)
    assert again.duplicates == dropped and again.journaled == again.needs_review == 0
    assert _journal(settings) == journal


def _journal_many(url: str, config_path: str, writer: int, start, results) -> None:
    settings = load_settings(config_path)
    creator = settings.creator("fjellvik")
    start.wait(timeout=300)  # spawning and importing is slow on a busy machine
    # Every writer opens the fresh database at the same moment: one migrates, the others wait.
    store = Store.open(url)
    with store.write(f"writer{writer}") as session:
        structure = ensure_structure(session, creator, f"writer{writer}", utcnow())
    year = utcnow().astimezone(LOCAL_TIME).year
    for i in range(ITEMS_PER_WRITER):
        # Every other item quotes case 1, so the writers also number documents inside one case.
        subject = f"Brev {writer}-{i} om brøyting" + (f" – Deres ref {year}/1" if i % 2 and i > 2 else "")
        submission = Submission(
            source=Source.email,
            origin_name=f"{writer}-{i}.eml",
            subject=subject,
            sender=Party(name="Kåre Ødegård", email="kare@example.no"),
        )
        with store.write(f"writer{writer}") as session:
            journal_submission(session, structure, submission, [], actor=f"writer{writer}", now=utcnow())
        time.sleep(0.005)  # outside the transaction: keeps the writers overlapping
    store.dispose()
    results.put(writer)


def test_several_processes_journaling_at_once_get_unique_gap_free_numbers(installation, pg_url):
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    results = context.Queue()
    writers = [
        context.Process(
            target=_journal_many, args=(pg_url, str(installation.config_path), n, start, results)
        )
        for n in range(1, WRITERS + 1)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=240)
        assert w.exitcode == 0
    assert sorted(results.get(timeout=5) for _ in writers) == list(range(1, WRITERS + 1))

    store = Store.open(pg_url)
    try:
        with store.read() as session:
            # One structure, although every writer found it missing at the start.
            assert len(session.scalars(select(tables.Arkivskaper)).all()) == 1
            assert len(session.scalars(select(tables.Arkiv)).all()) == 1
            assert len(session.scalars(select(tables.Arkivdel)).all()) == 1
            posts = session.scalars(select(tables.Journalpost)).all()
            saker = session.scalars(select(tables.Saksmappe)).all()
            total = WRITERS * ITEMS_PER_WRITER
            assert len(posts) == total
            assert sorted(p.journalsekvensnummer for p in posts) == list(range(1, total + 1))
            assert sorted(s.sakssekvensnummer for s in saker) == list(range(1, len(saker) + 1))
            in_order = [p.opprettetAv for p in sorted(posts, key=lambda p: p.journalsekvensnummer)]
            assert sum(a != b for a, b in itertools.pairwise(in_order)) > WRITERS  # they interleaved
            per_case: dict[int, list[int]] = {}
            for p in posts:
                per_case.setdefault(p.saksmappe_id, []).append(p.journalpostnummer)
            for numbers in per_case.values():
                assert sorted(numbers) == list(range(1, len(numbers) + 1))
            assert max(len(n) for n in per_case.values()) > 10
            case_by_id = {s.id: s for s in saker}
            for p in posts:
                assert p.registreringsID == f"{case_by_id[p.saksmappe_id].mappeID}-{p.journalpostnummer}"
    finally:
        store.dispose()


def test_two_installations_sharing_one_database_run_at_once(installation, pg_url, tmp_path):
    """Two hosts (own data directories, own run locks) journal into one PostgreSQL database."""
    first = use_store(installation, pg_url)
    second = use_store(load_settings(api.init(tmp_path / "host2")), pg_url)
    for n in range(3):
        drop(first, "fjellvik", f"a{n}.eml", make_eml(subject=f"Søknad om skjenkebevilling {n}", body=f"a {n}"))
        drop(second, "fjellvik", f"b{n}.eml", make_eml(subject=f"Klage på eiendomsskatt {n}", body=f"b {n}"))
        drop(second if n % 2 else first, "strandby", f"c{n}.eml", make_eml(subject=f"Innsyn {n}", body=f"c {n}"))
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "noarkpipe.cli", "run", "-c", str(s.config_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for s in (first, second)
    ]
    for run in runs:
        _out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err
    store = Store.open(pg_url)
    try:
        with store.read() as session:
            assert sorted(a.arkivskaperID for a in session.scalars(select(tables.Arkivskaper))) == [
                "fjellvik", "strandby"
            ]
            for kode, expected in (("fjellvik", 6), ("strandby", 3)):
                numbers = sorted(
                    session.scalars(
                        select(tables.Journalpost.journalsekvensnummer)
                        .join(tables.Arkivskaper, tables.Arkivskaper.id == tables.Journalpost.arkivskaper_id)
                        .where(tables.Arkivskaper.arkivskaperID == kode)
                    )
                )
                assert numbers == list(range(1, expected + 1)), kode
            runs_recorded = session.scalars(select(tables.Run)).all()
            assert len(runs_recorded) == 2 and {r.outcome for r in runs_recorded} == {"completed"}
    finally:
        store.dispose()


def test_review_decisions_on_postgres(installation, pg_url):
    settings = use_store(installation, pg_url)
    for n, subject in enumerate(["Spørsmål om åpningstider", "Reklame for kontorstoler"]):
        drop(settings, "fjellvik", f"{n}.eml", make_eml(subject=subject, body=f"tekst {n}"))
    numbers = {i.origin_name: i.journalpost for i in api.run(settings).items}
    queue = api.review_list(settings, "fjellvik")
    assert [i.tittel for i in queue] == ["Spørsmål om åpningstider", "Reklame for kontorstoler"]

    done = _cli("review", "approve", numbers["0.eml"], "-a", "fjellvik", "--by", "kari.arkivar",
                "-c", settings.config_path)
    assert done.returncode == 0, done.stderr
    rejected = api.review_decide(settings, "reject", numbers["1.eml"], kode="fjellvik", by="kari.arkivar",
                                 reason="reklame")
    assert rejected.journalstatus == "Utgår"
    assert api.review_list(settings, "fjellvik") == []

    store = Store.open(pg_url)
    try:
        with store.read() as session:
            posts = {p.tittel: p for p in session.scalars(select(tables.Journalpost))}
            approved = posts["Spørsmål om åpningstider"]
            assert approved.journalstatus == "Journalført"
            assert f"{approved.journalaar}/{approved.journalsekvensnummer}" == numbers["0.eml"]  # number kept
            log = {
                (e.referanseMetadata, e.nyVerdi, e.endretAv) for e in session.scalars(select(tables.Endringslogg))
            }
            assert ("journalstatus", "Journalført", "kari.arkivar") in log
            assert ("journalstatus", "Utgår", "kari.arkivar") in log
    finally:
        store.dispose()


def test_two_writers_creating_the_same_structure_at_once_do_not_collide(installation, pg_url):
    """Find-or-create under concurrency: the second writer waits and finds what the first made."""
    import threading

    store = Store.open(pg_url)
    creator = installation.creator("strandby")
    start = threading.Barrier(2)
    made, errors = [], []

    def writer(name: str) -> None:
        try:
            start.wait(timeout=30)
            with store.write(name) as session:
                made.append(ensure_structure(session, creator, name, utcnow()).arkivskaper_id)
                time.sleep(0.3)  # hold the transaction open: the other one is surely inside its own by now
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == []
        assert len(made) == 2 and made[0] == made[1]
        with store.read() as session:
            assert len(session.scalars(select(tables.Arkiv)).all()) == 1
            assert len(session.scalars(select(tables.Klassifikasjonssystem)).all()) == 1
    finally:
        store.dispose()
