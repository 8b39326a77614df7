"""The Dask executor against a real cluster: a scheduler and two workers as separate processes."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")

from helpers import daskjobs
from helpers.daskcluster import dask_cluster
from noarkpipe.errors import SourceUnavailableError
from noarkpipe.run.execution_dask import DaskExecutor


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    with dask_cluster(workers=2, tmp=tmp_path_factory.mktemp("dask")) as address:
        yield address


def test_tasks_run_on_both_workers_and_come_back_in_order(scheduler):
    with DaskExecutor(scheduler) as executor:
        assert executor.workers == 2
        tasks = [executor.submit(daskjobs.sleep, 0.5) for _ in range(6)]
        pids = [task.outcome().value for task in tasks]
    assert len(set(pids)) == 2  # two worker processes shared the work
    with DaskExecutor(scheduler) as executor:
        outcomes = [executor.submit(daskjobs.where, f"jobb-{i}-æøå").outcome() for i in range(4)]
    assert [o.value[0] for o in outcomes] == [f"jobb-{i}-æøå" for i in range(4)]


def test_a_failing_task_is_its_own_failure_and_the_rest_go_on(scheduler):
    with DaskExecutor(scheduler) as executor:
        bad = executor.submit(daskjobs.fail, "ødelagt.pdf")
        good = executor.submit(daskjobs.where, "fin.pdf")
        assert not bad.outcome().ok
        assert "bad job 'ødelagt.pdf'" in bad.outcome().failure
        assert good.outcome().ok and good.outcome().value[0] == "fin.pdf"


def test_a_task_past_its_time_limit_is_given_up_and_its_worker_restarted(scheduler):
    with DaskExecutor(scheduler, time_limit_s=2) as executor:
        hung = executor.submit(daskjobs.sleep, 120)
        outcome = hung.outcome()
        assert outcome.timed_out and not outcome.ok
        assert "timed out" in outcome.failure
    # The cluster is still usable afterwards, with both workers.
    with DaskExecutor(scheduler) as executor:
        assert executor.submit(daskjobs.where, "etter").outcome().value[0] == "etter"


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(SourceUnavailableError) as refused:
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=2)
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in str(refused.value)


def _cli(*args, timeout=600):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def _tasks_run_on(scheduler: str) -> int:
    from distributed import Client

    def count(dask_scheduler):
        prefix = dask_scheduler.task_prefixes.get("run_task")
        return sum(prefix.state_counts.values()) if prefix is not None else 0

    with Client(scheduler, set_as_default=False) as client:
        return client.run_on_scheduler(count)


def test_the_nightly_run_makes_its_archival_copies_on_the_cluster(scheduler, installation):
    from sqlalchemy import select

    from helpers.inbox import drop, make_eml
    from noarkpipe import api
    from noarkpipe.store import tables

    before = _tasks_run_on(scheduler)
    for i in range(3):
        drop(installation, "fjellvik", f"{i}.eml", make_eml(
            subject=f"Søknad om gravetillatelse {i} – Ærfuglveien",
            body=f"Hei,\n\nVi søker om å grave i Ærfuglveien {i}.\n\nMvh\nØystein Løvås",
            attachments=[("kart.txt", "Kart over området - æøå\n".encode("latin-1"), "text/plain")],
        ))
    result = _cli("run", "--config", installation.config_path, "--scheduler", scheduler)
    assert result.returncode == 0, result.stderr
    assert _tasks_run_on(scheduler) - before >= 3  # at least every e-mail body went through the cluster
    store = api.open_store(installation)
    try:
        with store.read() as session:
            posts = session.scalars(select(tables.Journalpost)).all()
            assert len(posts) == 3
            for post in posts:
                variants = [o.variantformat for d in post.dokumentbeskrivelser for o in d.dokumentobjekter]
                assert "Arkivformat" in variants and "Produksjonsformat" in variants
                converted = [k for d in post.dokumentbeskrivelser for o in d.dokumentobjekter for k in o.konverteringer]
                assert converted and all(k.konverteringsverktoey and k.konvertertTilFormat for k in converted)
    finally:
        store.dispose()


def test_an_unreachable_scheduler_stops_the_run_before_any_item_is_taken_in(installation):
    from helpers.inbox import drop, make_eml

    drop(installation, "fjellvik", "a.eml", make_eml(subject="Venter på klyngen"))
    result = _cli("run", "--config", installation.config_path, "--scheduler", "tcp://127.0.0.1:9")
    assert result.returncode == 11, result.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert api_count_journalposts(installation) == 0
    # The item waits, whole, for the next run (in the inbox or claimed in the work area).
    waiting = [p for p in installation.work_dir.rglob("*") if p.is_file()] + list(installation.creator("fjellvik").inbox.iterdir())
    assert waiting


def test_a_malformed_scheduler_address_is_a_config_error(installation):
    result = _cli("run", "--config", installation.config_path, "--scheduler", "http://example.org/dask")
    assert result.returncode == 3, result.stderr
    assert "is not a Dask scheduler address" in result.stderr


def api_count_journalposts(settings) -> int:
    from sqlalchemy import func, select

    from noarkpipe import api
    from noarkpipe.store import tables

    store = api.open_store(settings)
    try:
        with store.read() as session:
            return session.scalar(select(func.count()).select_from(tables.Journalpost))
    finally:
        store.dispose()
