"""Several machines, stood in for by processes on one: an API node without a worker
(``citu_app.py --no-worker``, its own data root) and two workers (``python -m
data_pipeline.worker``, each with its own data root and name) on one pipeline database, with
``MAX_CONCURRENT_TASKS=2``.

* three tasks: two run at once on different workers, the third waits ``queued`` and then runs;
  every output of every task downloads through the API (whose own folder has none of them)
  with the registered sha256;
* a queued task is cancelled and never runs;
* kill -9 of a worker and its executor in the middle of a run: that task fails with "worker
  NAME lost", the other finishes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.api_support import make_slow_source, set_slow_delay, slow_task_body, wait_until
from tests.conftest import new_database
from tests.support.server import ServiceProcess, WorkerProcess

pytestmark = pytest.mark.slow

HEARTBEAT_INTERVAL = 0.5
HEARTBEAT_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def cluster(pg_admin_dsn, template_db, demo_dsn, tmp_path_factory):
    """(api, {name: worker}, slow source DSN) sharing one pipeline database."""
    home = tmp_path_factory.mktemp("cluster")
    pipeline = new_database(pg_admin_dsn, template_db)
    slow = make_slow_source(pg_admin_dsn, delay=0.05)
    common = {
        "PIPELINE_DATABASE_URL": pipeline,
        "SOURCE_DEMO_URL": demo_dsn,
        "SOURCE_SLOW_URL": slow,
        "LOAD_DEMO_SOURCE": "false",
        "MAX_CONCURRENT_TASKS": "2",
        "HEARTBEAT_INTERVAL_SECONDS": str(HEARTBEAT_INTERVAL),
        "HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT),
        "MONITOR_INTERVAL_SECONDS": "1",
        "CANCEL_GRACE_SECONDS": "2",
        "LLM_BASE_URL": None,
        "EMBEDDING_BASE_URL": None,
        "EMBEDDING_PROVIDER": "hashing",  # the queue is under test, not the model
        "LOG_LEVEL": "INFO",
    }
    api = ServiceProcess(
        {**common, "DATA_PIPELINE_ROOT": str(home / "api-data"), "EMBEDDED_WORKER": "false"},
        home / "api.log",
    ).start()
    workers = {
        name: WorkerProcess(
            {**common, "DATA_PIPELINE_ROOT": str(home / f"{name}-data"),
             "SERVER_LOG_FILE": str(home / f"{name}-server.log")},
            home / f"{name}.log", name=name,
        ).start()
        for name in ("w1", "w2")
    }  # fmt: skip
    yield api, workers, slow
    for worker in workers.values():
        worker.stop()
    api.stop()


def _create(api, label: str, **params) -> str:
    body = slow_task_body(business_context=f"多节点 {label}", execution_mode="single",
                          single_step=1, **params)  # fmt: skip
    body["task_name"] = f"multi-node {label}"
    r = api.post("/tasks", json=body)
    assert r.status_code == 201, r.text
    return r.json()["data"]["task_id"]


def _finished(api, task_id: str, timeout: float = 90) -> dict:
    def done():
        task = api.task(task_id)
        return task if task["status"] not in ("queued", "running", "pending") else None

    return wait_until(done, timeout, interval=0.2, message=f"{task_id} to finish")


def test_three_tasks_two_workers_one_waits_and_every_output_downloads(cluster):
    api, _workers, slow = cluster
    set_slow_delay(slow, 0.05)
    ids = [_create(api, f"task {i}") for i in range(3)]

    def two_running():
        tasks = [api.task(t) for t in ids]
        assert sum(t["status"] == "running" for t in tasks) <= 2  # the limit, across workers
        return tasks if sum(t["status"] == "running" for t in tasks) == 2 else None

    tasks = wait_until(two_running, 15, message="two runs on the two workers")
    assert {t["worker_name"] for t in tasks if t["status"] == "running"} == {"w1", "w2"}
    third = next(t for t in tasks if t["status"] == "queued")
    assert third["queue_position"] == 1 and third["worker_name"] is None
    finished = [_finished(api, t) for t in ids]
    assert [t["status"] for t in finished] == ["partial_completed"] * 3, finished
    assert {t["worker_name"] for t in finished} <= {"w1", "w2"}
    # Every output of every task, through the API node (whose own folder has none of them).
    assert not list((Path(api.env["DATA_PIPELINE_ROOT"])).glob("task_*/*.ddl"))
    for task_id in ids:
        files = api.get(f"/tasks/{task_id}/files").json()["data"]["files"]
        assert any(f["path"].endswith(".ddl") for f in files)
        for f in files:
            r = api.get(f"/tasks/{task_id}/files/download/{f['path']}")
            assert r.status_code == 200, (f["path"], r.text[:200])
            assert hashlib.sha256(r.content).hexdigest() == f["sha256"], f["path"]
        executions = api.get(f"/tasks/{task_id}/executions").json()["data"]["executions"]
        assert executions and all(e["worker_name"] in ("w1", "w2") for e in executions)
        assert all(e["executor_pid"] and e["executor_host"] for e in executions)


def test_a_step_runs_on_another_worker_from_the_published_files(cluster):
    """Step 1 on w1; w1 goes away; step 2 runs on w2, whose folder had none of step 1's files."""
    api, workers, slow = cluster
    set_slow_delay(slow, 0.05)
    task_id = _create(api, "moved")
    wait_until(lambda: api.task(task_id)["worker_name"], 15, message="a worker to take it")
    first = _finished(api, task_id)
    assert first["status"] == "partial_completed"
    ran_on = first["worker_name"]
    other = "w2" if ran_on == "w1" else "w1"
    workers[ran_on].stop()
    try:
        r = api.post(f"/tasks/{task_id}/execute", json={"step_name": "qa_generation"})
        assert r.status_code == 202, r.text
        second = _finished(api, task_id)
        assert second["status"] == "partial_completed", second["error_message"]
        assert second["worker_name"] == other
        assert second["step_status"]["qa_generation"] == "completed"
        copy = Path(workers[other].env["DATA_PIPELINE_ROOT"]) / task_id
        assert (copy / "schema_metadata.json").is_file() and list(copy.glob("*_pair.json"))
    finally:
        workers[ran_on].start()


def test_a_queued_task_is_cancelled_and_never_runs(cluster):
    api, _workers, slow = cluster
    set_slow_delay(slow, 0.5)
    busy = [_create(api, f"busy {i}") for i in range(2)]
    waiting = _create(api, "waiting")
    assert api.task(waiting)["status"] == "queued"
    r = api.post(f"/tasks/{waiting}/cancel")
    assert r.status_code == 200 and r.json()["message"] == "task cancelled before it started"
    for task_id in busy:
        api.post(f"/tasks/{task_id}/cancel")
        _finished(api, task_id)
    time.sleep(1.5)  # a worker would have taken it by now
    task = api.task(waiting)
    assert task["status"] == "cancelled" and task["started_at"] is None
    assert api.get(f"/tasks/{waiting}/executions").json()["data"]["executions"] == []


def test_kill_9_of_a_worker_and_its_executor_fails_its_task_the_other_finishes(cluster):
    api, workers, slow = cluster
    set_slow_delay(slow, 0.05)
    ids = [_create(api, f"kill {i}") for i in range(2)]
    both = wait_until(
        lambda: (lambda ts: ts if all(t["executor_pid"] for t in ts) else None)(
            [api.task(t) for t in ids]
        ),
        20,
        message="both runs to start",
    )
    victim = next(t for t in both if t["worker_name"] == "w1")
    other = next(t for t in both if t["worker_name"] == "w2")
    os.kill(workers["w1"].proc.pid, signal.SIGKILL)
    os.killpg(victim["executor_pid"], signal.SIGKILL)
    started = time.monotonic()
    failed = _finished(api, victim["task_id"], timeout=HEARTBEAT_TIMEOUT + 20)
    assert time.monotonic() - started < HEARTBEAT_TIMEOUT + 10
    assert failed["status"] == "failed"
    assert "worker w1 lost" in failed["error_message"], failed["error_message"]
    assert _finished(api, other["task_id"])["status"] == "partial_completed"
