"""Run history: every run of a task is kept (what was asked, by whom, the parameters, its
executions, outcome and report), whoever starts or ends it; the task shows its latest run and
never an earlier run's figures as current."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipeline.jobqueue.dispatch import RunRequest
from data_pipeline.runs.executor import run_task
from data_pipeline.tasks.models import TaskStatus
from tests.api_support import API
from tests.integration.test_orchestrator import _write_training_inputs

SECRET = "Run5ecret"


@pytest.fixture
def config(config):
    """The hashing embedder: these tests are about runs, not vectors."""
    return config.with_overrides(embedding_provider="hashing")


def _task(store, config, **extra):
    params = {
        "db_connection": "source:demo",
        "table_list": ["public.service_area"],
        "business_context": "高速公路服务区 revenue",
        **extra,
    }
    task, _ = store.create_task(parameters=params, data_root=config.data_root)
    return task


def test_every_run_is_kept_with_its_executions_and_outcome(app, client, config):
    runtime = app.extensions["data_pipeline"]
    store = runtime.store
    task = _task(store, config, execution_mode="single", single_step=4)
    _write_training_inputs(Path(task.output_directory))
    assert client.get(f"{API}/tasks/{task.id}/runs").json["data"]["runs"] == []

    # Run 1: queued by a caller, taken by a worker, run by the executor.
    request = RunRequest(execution_mode="single", step_name="training_load",
                         steps=["training_load"], requested_by="alice")  # fmt: skip
    store.queue_run(task.id, request.as_dict())
    [run] = client.get(f"{API}/tasks/{task.id}/runs").json["data"]["runs"]
    assert (run["run_number"], run["status"], run["requested_by"]) == (1, "queued", "alice")
    assert run["request"]["step_name"] == "training_load" and run["queued_at"]
    state, _ = store.claim_queued_run(task.id, worker="w1", host="h1", max_running=4)
    assert state == "claimed"
    assert run_task(config, task.id, step="training_load", runtime=runtime) == 0

    # Run 2: the same step again, with force; its figures replace run 1's on the task.
    store.start_run(task.id, steps=["training_load"])
    assert run_task(config, task.id, step="training_load", force=True, runtime=runtime) == 0

    runs = client.get(f"{API}/tasks/{task.id}/runs").json["data"]["runs"]
    assert [r["run_number"] for r in runs] == [2, 1]
    second, first = runs
    assert first["status"] == "partial_completed" and first["worker_name"] == "w1"
    assert (
        first["started_at"] and first["finished_at"] and first["started_at"] < second["started_at"]
    )
    assert second["requested_by"] == "api" and second["request"] is None  # started directly
    assert [e["step"] for e in first["executions"]] == ["training_load"]
    assert [e["step"] for e in second["executions"]] == ["training_load"]
    assert first["executions"][0]["execution_id"] != second["executions"][0]["execution_id"]
    assert first["parameters"]["single_step"] == 4

    detail = client.get(f"{API}/tasks/{task.id}/runs/1").json["data"]
    assert detail["result"]["status"] == "partial_completed"
    assert detail["executions"][0]["result"]["totals"]["inserted"] == 6
    assert client.get(f"{API}/tasks/{task.id}").json["data"]["run_number"] == 2

    for bad, status in (("0", 400), ("abc", 400), ("-1", 400), ("1" * 12, 400), ("9", 404)):
        r = client.get(f"{API}/tasks/{task.id}/runs/{bad}")
        assert r.status_code == status, (bad, r.get_data(as_text=True))
    assert client.get(f"{API}/tasks/task_20990101_000000/runs").status_code == 404
    for query in ("limit=0", "limit=abc", "limit=99999", "limit=1&limit=2", "nope=1",
                  "limit=%00"):  # fmt: skip
        r = client.get(f"{API}/tasks/{task.id}/runs?{query}")
        assert r.status_code == 400, (query, r.get_data(as_text=True))
        assert r.json["error"]["details"]["fields"], query
    assert client.get(f"{API}/tasks/{task.id}/runs/1%00").status_code in (400, 404)


def test_cancelled_and_failed_runs_are_kept_and_stale_figures_are_not_current(app, client, config):
    store = app.extensions["data_pipeline"].store
    task = _task(store, config, db_connection=f"postgresql://u:{SECRET}@127.0.0.1:1/x")
    store.start_run(task.id, steps=["ddl_generation"])
    execution = store.create_execution(task.id, "ddl_generation", f"{task.id}_exec_1")
    store.complete_execution(execution["execution_id"], "completed", result={"n": 1})
    store.set_step_status(task.id, "ddl_generation", "completed")
    store.finish_run(task.id, TaskStatus.COMPLETED, result={"status": "completed"})
    # Run 2 sends step 1 back to pending, then is cancelled while queued.
    store.queue_run(task.id, RunRequest(steps=["ddl_generation"]).as_dict())
    store.set_step_statuses(task.id, {"ddl_generation": "pending"})
    store.cancel_task(task.id, "cancelled by the operator")
    # Run 3 fails.
    store.start_run(task.id, steps=["qa_generation"])
    store.fail_running_task(task.id, "step 2 failed: the LLM did not answer")

    runs = client.get(f"{API}/tasks/{task.id}/runs").json["data"]["runs"]
    assert [(r["run_number"], r["status"]) for r in runs] == [
        (3, "failed"), (2, "cancelled"), (1, "completed"),
    ]  # fmt: skip
    assert runs[0]["error_message"] == "step 2 failed: the LLM did not answer"
    assert runs[1]["error_message"] == "cancelled by the operator" and runs[1]["finished_at"]
    assert [e["execution_id"] for e in runs[2]["executions"]] == [execution["execution_id"]]
    body = client.get(f"{API}/tasks/{task.id}/runs").get_data(as_text=True)
    assert SECRET not in body and "***" in body

    # Step 1 is pending in the latest run: run 1's times are not shown as its current state.
    detail = client.get(f"{API}/tasks/{task.id}").json["data"]
    step1 = detail["step_details"][0]
    assert step1["status"] == "pending" and step1["started_at"] is None
    assert step1["execution_id"] is None and step1["executions"] == 1
