"""Numbers are unique and gap-free, also with two processes journaling at once."""

import itertools
import multiprocessing
import time
from collections import Counter

import pytest
from sqlalchemy import select

from noarkpipe.clock import utcnow
from noarkpipe.config import load_settings
from noarkpipe.core.submission import Party, Source, Submission
from noarkpipe.journal.journaling import LOCAL_TIME, ensure_structure, journal_submission
from noarkpipe.store import numbering, tables
from noarkpipe.store.engine import Store

ITEMS_PER_WRITER = 40


def _journal_many(config_path: str, writer: int, start, results) -> None:
    settings = load_settings(config_path)
    store = Store.open(settings.store_url)
    creator = settings.creator("fjellvik")
    start.wait(timeout=300)  # spawning and importing is slow on a busy machine
    with store.write(f"writer{writer}") as session:
        structure = ensure_structure(session, creator, f"writer{writer}", utcnow())
    year = utcnow().astimezone(LOCAL_TIME).year
    for i in range(ITEMS_PER_WRITER):
        # Every other item quotes case 1 so both writers also number documents inside one case.
        subject = f"Brev {writer}-{i}" + (f" – Deres ref {year}/1" if i % 2 and i > 2 else "")
        submission = Submission(
            source=Source.email,
            origin_name=f"{writer}-{i}.eml",
            subject=subject,
            sender=Party(name="Kåre Ødegård", email="kare@example.no"),
        )
        with store.write(f"writer{writer}") as session:
            journal_submission(session, structure, submission, [], actor=f"writer{writer}", now=utcnow())
        # A pause outside the transaction keeps both writers overlapping even on a busy machine.
        time.sleep(0.01)
    store.dispose()
    results.put(writer)


def test_two_processes_journaling_at_once_get_unique_gap_free_numbers(installation):
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    writers = [
        context.Process(target=_journal_many, args=(str(installation.config_path), n, start, results))
        for n in (1, 2)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=180)
        assert w.exitcode == 0
    assert sorted(results.get(timeout=5) for _ in writers) == [1, 2]

    store = Store.open(installation.store_url)
    with store.read() as session:
        posts = session.scalars(select(tables.Journalpost)).all()
        saker = session.scalars(select(tables.Saksmappe)).all()
        total = 2 * ITEMS_PER_WRITER
        assert len(posts) == total
        assert sorted(p.journalsekvensnummer for p in posts) == list(range(1, total + 1))
        assert sorted(s.sakssekvensnummer for s in saker) == list(range(1, len(saker) + 1))
        # Both writers interleaved (the numbers are not one block per writer).
        writers_in_order = [p.opprettetAv for p in sorted(posts, key=lambda p: p.journalsekvensnummer)]
        assert sum(a != b for a, b in itertools.pairwise(writers_in_order)) > 1
        # Documents numbered inside each case: 1..n without gaps or repeats.
        per_case = {}
        for p in posts:
            per_case.setdefault(p.saksmappe_id, []).append(p.journalpostnummer)
        for numbers in per_case.values():
            assert sorted(numbers) == list(range(1, len(numbers) + 1))
        assert max(len(n) for n in per_case.values()) > 10
        # registreringsID agrees with the numbers.
        case_by_id = {s.id: s for s in saker}
        for p in posts:
            assert p.registreringsID == f"{case_by_id[p.saksmappe_id].mappeID}-{p.journalpostnummer}"
    store.dispose()


def test_a_rolled_back_transaction_gives_its_number_back(installation):
    store = Store.open(installation.store_url)
    with store.write("t") as session:
        structure = ensure_structure(session, installation.creator("fjellvik"), "t", utcnow())
    with store.write("t") as session:
        first = numbering.next_number(session, structure.arkivskaper_id, numbering.JOURNAL, 2026)
    with pytest.raises(RuntimeError), store.write("t") as session:
        assert numbering.next_number(session, structure.arkivskaper_id, numbering.JOURNAL, 2026) == first + 1
        raise RuntimeError("journaling failed half-way")
    with store.write("t") as session:
        assert numbering.next_number(session, structure.arkivskaper_id, numbering.JOURNAL, 2026) == first + 1


def test_series_are_separate_per_creator_and_year(installation):
    store = Store.open(installation.store_url)
    with store.write("t") as session:
        a = ensure_structure(session, installation.creator("fjellvik"), "t", utcnow())
        b = ensure_structure(session, installation.creator("strandby"), "t", utcnow())
        got = Counter()
        for creator_id, year in [(a.arkivskaper_id, 2025), (a.arkivskaper_id, 2026), (b.arkivskaper_id, 2026)] * 3:
            got[(creator_id, year)] = numbering.next_number(session, creator_id, numbering.JOURNAL, year)
    assert set(got.values()) == {3}
