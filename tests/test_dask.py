"""The Dask executor against a real cluster: a scheduler and two workers as separate processes."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")

import daskjobs
from daskcluster import dask_cluster

from noarkpipe.errors import SourceUnavailableError
from noarkpipe.execution_dask import DaskExecutor


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
