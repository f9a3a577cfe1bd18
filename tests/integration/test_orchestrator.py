"""The orchestrator and the executor against the real pipeline database: tracking of steps,
executions, outputs, logs and progress; skipped and missing steps; the executor in-process
and as a real process, finishing and being cancelled."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2
import pytest

from core.processes import group_alive
from core.task_logging import LOG_FILE_NAME
from data_pipeline.runs.executor import run_task
from data_pipeline.schema_workflow import SchemaWorkflowOrchestrator
from data_pipeline.tasks.models import TaskStatus
from data_pipeline.tasks.runtime import Runtime
from data_pipeline.workflow.outputs import file_type_of, register_outputs, sha256_of
from data_pipeline.workflow.params import WorkflowParams
from data_pipeline.workflow.report import ProgressTracker
from data_pipeline.workflow.tracking import DatabaseTracker
from tests.api_support import wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PAIR_FILE = "qs_demo_business_20250101_120000_pair.json"


def _params(**kw) -> dict:
    base = {
        "db_connection": "source:demo",
        "table_list": ["public.service_area"],
        "business_context": "高速公路服务区管理：服务区、档口与营业数据",
    }
    return {**base, **kw}


def _started_task(store, config, **params):
    task, _ = store.create_task(parameters=_params(**params), data_root=config.data_root)
    store.start_run(task.id, steps=["training_load"])
    return task


def _write_training_inputs(task_dir: Path, pairs: int = 3) -> None:
    """What steps 1-3 leave for step 4: a DDL, a table document and a pair file."""
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "service_area.ddl").write_text(
        "-- 高速公路服务区\nCREATE TABLE public.service_area (\n    id integer PRIMARY KEY,\n"
        "    name text NOT NULL\n);\nCOMMENT ON TABLE public.service_area IS '高速公路服务区';\n",
        encoding="utf-8",
    )
    (task_dir / "service_area_detail.md").write_text(
        "# public.service_area（高速公路服务区）\n\nOne row per service area.\n\n"
        "## 字段\n\n- id (integer, 主键)\n- name (text): 服务区名称 / service area name\n",
        encoding="utf-8",
    )
    items = [
        {
            "question": f"编号为 {i} 的服务区叫什么？",
            "sql": f"SELECT name FROM service_area WHERE id = {i};",
        }
        for i in range(pairs)
    ]
    items.append(
        {
            "question": "How many service areas are there?",
            "sql": "SELECT count(*) FROM service_area;",
        }
    )
    (task_dir / PAIR_FILE).write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")


def _vector_rows(dsn: str) -> int:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM langchain_pg_embedding")
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def runtime(config, pipeline_db, store, pipeline_dsn):
    return Runtime(config=config, db=pipeline_db, store=store, pipeline_dsn=pipeline_dsn)


# Outputs ---------------------------------------------------------------------------------
def test_register_outputs_records_types_hashes_and_changes(store, config, tmp_path):
    task = _started_task(store, config)
    folder = Path(task.output_directory)
    folder.mkdir(parents=True)
    (folder / "orders.ddl").write_text("CREATE TABLE orders (id int);", encoding="utf-8")
    (folder / "qs_db_20250101_000000_pair.json").write_text("[]", encoding="utf-8")
    (folder / "sql_validation_20250101_000000_report.json").write_text("{}", encoding="utf-8")
    (folder / "metadata.txt").write_text("-- 主题\n", encoding="utf-8")
    (folder / ".task_result.json.tmp").write_text("half", encoding="utf-8")
    (folder / "vector_bak").mkdir()
    (folder / "vector_bak" / "sql.csv").write_text("id\n", encoding="utf-8")
    e1 = store.create_execution(task.id, "ddl_generation", f"{task.id}_step_ddl_generation_exec_1")
    counts = register_outputs(
        store, task.id, folder, execution_id=e1["execution_id"], step_name="ddl_generation"
    )
    assert counts["added"] == 5
    rows = {r["file_path"]: r for r in store.list_outputs(task.id)}
    assert set(rows) == {
        "orders.ddl", "qs_db_20250101_000000_pair.json", "metadata.txt",
        "sql_validation_20250101_000000_report.json", "vector_bak/sql.csv",
    }  # fmt: skip
    assert rows["sql_validation_20250101_000000_report.json"]["file_type"] == "report"
    assert rows["vector_bak/sql.csv"]["file_type"] == "csv"
    assert (
        rows["metadata.txt"]["is_primary"] and rows["qs_db_20250101_000000_pair.json"]["is_primary"]
    )
    assert not rows["orders.ddl"]["is_primary"]
    for path, row in rows.items():
        assert row["content_hash"] == sha256_of(folder / path)
        assert row["file_size"] == (folder / path).stat().st_size

    # A second step changes one file, adds one, removes one: only those are credited to it.
    e2 = store.create_execution(task.id, "qa_generation", f"{task.id}_step_qa_generation_exec_1")
    (folder / "orders.ddl").write_text("CREATE TABLE orders (id bigint);", encoding="utf-8")
    (folder / "metadata_detail.md").write_text("# 主题\n", encoding="utf-8")
    (folder / "vector_bak" / "sql.csv").unlink()
    counts = register_outputs(
        store, task.id, folder, execution_id=e2["execution_id"], step_name="qa_generation"
    )
    assert (counts["added"], counts["changed"], counts["removed"]) == (1, 1, 1)
    rows = {r["file_path"]: r for r in store.list_outputs(task.id)}
    assert rows["orders.ddl"]["execution_id"] == e2["execution_id"]
    assert rows["orders.ddl"]["content_hash"] == sha256_of(folder / "orders.ddl")
    assert rows["metadata_detail.md"]["step_name"] == "qa_generation"
    assert rows["metadata.txt"]["execution_id"] == e1["execution_id"]  # untouched
    assert "vector_bak/sql.csv" not in rows
    assert (
        hashlib.sha256(b"[]").hexdigest() == rows["qs_db_20250101_000000_pair.json"]["content_hash"]
    )


def test_file_types_by_name():
    assert [file_type_of(n) for n in ("a.ddl", "a_detail.md", "x_report.json", "x.json",
            "s_summary.log", "t.txt", "b.csv", "x.bin", "x_pair.json.backup")] == [
        "ddl", "md", "report", "json", "log", "txt", "csv", "other", "json",
    ]  # fmt: skip


# Progress --------------------------------------------------------------------------------
def test_progress_never_goes_back_and_writes_are_throttled(store, config):
    task = _started_task(store, config)
    store.claim_run(task.id, pid=1)
    shown = []
    tracker = ProgressTracker(
        4, DatabaseTracker(store, task.id), lambda pct, step, note: shown.append(pct), interval=0.25
    )
    started = time.monotonic()
    for i in range(400):  # a step reporting far more often than the database should be written
        tracker.report(1, (i % 200) / 200, "qa_generation", f"{i}")
    elapsed = time.monotonic() - started
    tracker.report(1, 1.0, "qa_generation", flush=True)
    assert shown == sorted(shown) and tracker.written == sorted(tracker.written)
    assert len(tracker.written) <= 2 + 4 * elapsed
    assert store.get_task(task.id).progress == tracker.written[-1] == 50
    assert tracker.percent(3, 1.0) == 99  # 100 is left for the end of the run


# Skipped and missing steps ---------------------------------------------------------------
def test_disabled_and_skipped_steps_are_recorded_as_skipped(store, config, tmp_path):
    params = WorkflowParams(
        **_params(skip_steps=[1, 2], enable_sql_validation=False, enable_training_data_load=False)
    )
    task, _ = store.create_task(parameters=params.model_dump(), data_root=config.data_root)
    store.start_run(task.id, steps=["ddl_generation", "qa_generation", "sql_validation",
                                    "training_load"])  # fmt: skip
    report = SchemaWorkflowOrchestrator(
        config, params, Path(task.output_directory), tracker=DatabaseTracker(store, task.id)
    ).run()
    assert report["status"] == "completed"  # every step completed or skipped
    done = store.get_task(task.id)
    assert done.status == TaskStatus.COMPLETED and done.progress == 100
    assert set(done.step_status.values()) == {"skipped"}
    executions = store.list_executions(task.id)
    assert [e["status"] for e in executions] == ["skipped"] * 4
    assert executions[2]["execution_result"]["reason"] == "enable_sql_validation is off"
    result = json.loads((Path(task.output_directory) / "task_result.json").read_text("utf-8"))
    assert result["totals"]["steps_skipped"] == 4 and result["status"] == "completed"

    # Starting at step 3 leaves steps 1-2 never run: partial_completed.
    params = WorkflowParams(**_params(start_step=3, enable_sql_validation=False,
                                      enable_training_data_load=False))  # fmt: skip
    task, _ = store.create_task(parameters=params.model_dump(), data_root=config.data_root)
    store.start_run(task.id, steps=["sql_validation", "training_load"])
    report = SchemaWorkflowOrchestrator(
        config, params, Path(task.output_directory), tracker=DatabaseTracker(store, task.id)
    ).run()
    assert report["status"] == "partial_completed"
    assert store.get_task(task.id).step_status == {
        "ddl_generation": "pending", "qa_generation": "pending",
        "sql_validation": "skipped", "training_load": "skipped",
    }  # fmt: skip


def test_missing_inputs_fail_at_once_naming_the_step_to_run_first(store, config, runtime):
    task = _started_task(store, config, execution_mode="single", single_step=4)
    code = run_task(config, task.id, runtime=runtime)
    assert code == 1
    failed = store.get_task(task.id)
    assert failed.status == TaskStatus.FAILED and failed.error_step == "training_load"
    assert "step 4 (training_load) failed" in failed.error_message
    assert "run step 1 first" in failed.error_message
    assert failed.step_status["training_load"] == "failed"
    assert failed.step_status["ddl_generation"] == "pending"
    [execution] = store.list_executions(task.id)
    assert execution["status"] == "failed" and "run step 1 first" in execution["error_message"]
    logs = store.query_logs(task.id, level="ERROR")
    assert any("run step 1 first" in r["message"] for r in logs)


def test_unknown_source_fails_the_run_with_a_clear_message(store, config, runtime):
    task = _started_task(store, config, db_connection="source:nowhere")
    assert run_task(config, task.id, runtime=runtime) == 1
    failed = store.get_task(task.id)
    assert failed.status == TaskStatus.FAILED and "unknown source 'nowhere'" in failed.error_message


# The executor in-process -----------------------------------------------------------------
def test_run_task_in_process_runs_step_4_and_a_rerun_adds_nothing(
    store, config, runtime, pipeline_dsn
):
    task = _started_task(
        store, config, execution_mode="single", single_step=4, backup_vector_tables=True
    )
    folder = Path(task.output_directory)
    _write_training_inputs(folder)
    assert run_task(config, task.id, runtime=runtime) == 0
    done = store.get_task(task.id)
    assert done.status == TaskStatus.PARTIAL_COMPLETED  # steps 1-3 never ran in this task
    assert done.progress == 100 and done.current_step is None
    assert done.step_status["training_load"] == "completed"
    [execution] = store.list_executions(task.id)
    assert (
        execution["status"] == "completed"
        and execution["execution_result"]["totals"]["inserted"] == 6
    )
    rows = _vector_rows(pipeline_dsn)
    assert rows == 6

    result = json.loads((folder / "task_result.json").read_text("utf-8"))
    assert result["status"] == "partial_completed" and result["task_id"] == task.id
    assert result["totals"]["training_load.totals.inserted"] == 6
    assert done.result["steps"]["training_load"]["status"] == "completed"
    outputs = {r["file_path"]: r for r in store.list_outputs(task.id)}
    assert {"task_result.json", LOG_FILE_NAME, "table_list.txt"} <= set(outputs)
    assert any(p.startswith("vector_bak/") for p in outputs)
    for path, row in outputs.items():
        assert row["content_hash"] == sha256_of(folder / path), path
    logs = store.query_logs(task.id, step="training_load")
    assert logs and all(r["execution_id"] == execution["execution_id"] for r in logs)
    log_text = (folder / LOG_FILE_NAME).read_text("utf-8")
    assert "[training_load]" in log_text and "workflow partial_completed" in log_text

    # The API's "execute step 4 again": start_run resets the step; clean keeps the backups
    # (they may be the only copy of what a truncate removed).
    backups = sorted(p.name for p in (folder / "vector_bak").iterdir())
    store.start_run(task.id, steps=["training_load"])
    assert run_task(config, task.id, runtime=runtime, step=4, force=True, clean=True) == 0
    assert _vector_rows(pipeline_dsn) == rows
    second = store.list_executions(task.id)[-1]
    assert second["force_executed"] and not second["files_cleaned"]
    assert set(backups) <= {p.name for p in (folder / "vector_bak").iterdir()}
    assert second["execution_result"]["totals"]["inserted"] == 0
    assert second["execution_result"]["totals"]["already_present"] == 6


def test_run_task_exits_quietly_when_the_run_is_no_longer_wanted(store, config, runtime):
    task = _started_task(store, config)
    store.cancel_task(task.id, "cancelled before the executor started")
    assert run_task(config, task.id, runtime=runtime) == 0
    assert store.get_task(task.id).status == TaskStatus.CANCELLED
    assert store.list_executions(task.id) == []


# The executor as a real process ----------------------------------------------------------
class _SlowEmbeddings(BaseHTTPRequestHandler):
    """An OpenAI-compatible ``/v1/embeddings`` endpoint that takes its time."""

    delay = 0.15
    requests = 0

    def do_POST(self):
        type(self).requests += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [1.0] + [0.0] * 383}
            for i in range(len(inputs))
        ]
        payload = json.dumps(
            {"object": "list", "data": data, "model": body["model"],
             "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_embeddings():
    _SlowEmbeddings.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowEmbeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _executor_env(config, **extra) -> dict:
    keep = ("PATH", "HOME", "TMPDIR", "PYTHONPATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        LC_ALL="C.UTF-8", LANG="C.UTF-8", PYTHONUNBUFFERED="1",
        PIPELINE_DATABASE_URL=config.pipeline_database_url,
        DATA_PIPELINE_ROOT=str(config.data_root), LOAD_DEMO_SOURCE="false",
        SOURCE_DEMO_URL=config.data_sources["demo"],
        HEARTBEAT_INTERVAL_SECONDS="0.2", HEARTBEAT_TIMEOUT_SECONDS="5",
        CANCEL_GRACE_SECONDS="2.5",
    )  # fmt: skip
    env.update(extra)
    return env


def _spawn(task, env, *args) -> subprocess.Popen:
    folder = Path(task.output_directory)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOG_FILE_NAME, "ab") as log:
        return subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "data_pipeline" / "task_executor.py"),
             "--task-id", task.id, *args],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


@pytest.mark.slow
def test_executor_process_runs_the_task_and_records_its_pid(store, config, pipeline_dsn):
    task = _started_task(store, config, execution_mode="single", single_step=4)
    _write_training_inputs(Path(task.output_directory))
    proc = _spawn(task, _executor_env(config), "--execution-mode", "single", "--step-name",
                  "training_load")  # fmt: skip
    assert proc.wait(timeout=60) == 0, (Path(task.output_directory) / LOG_FILE_NAME).read_text()
    done = store.get_task(task.id)
    assert done.status == TaskStatus.PARTIAL_COMPLETED and done.executor_pid == proc.pid
    assert _vector_rows(pipeline_dsn) == 6
    text = (Path(task.output_directory) / LOG_FILE_NAME).read_text("utf-8")
    assert f"executor pid {proc.pid}" in text and text.count("claimed the run") == 1


@pytest.mark.slow
@pytest.mark.parametrize("how", ["cancel_task", "sigterm"])
def test_cancelled_run_stays_cancelled_and_the_executor_exits(how, store, config, slow_embeddings):
    task = _started_task(store, config, execution_mode="single", single_step=4)
    _write_training_inputs(Path(task.output_directory), pairs=400)
    env = _executor_env(
        config, EMBEDDING_BASE_URL=slow_embeddings, EMBEDDING_BATCH_SIZE="8",
        EMBEDDING_MODEL="slow-test-embedder",
    )  # fmt: skip
    proc = _spawn(task, env, "--execution-mode", "single", "--single-step", "4")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = store.get_task(task.id)
        if current.current_step == "training_load" and _SlowEmbeddings.requests >= 2:
            break  # the step is at work
        assert proc.poll() is None, "the executor ended before it could be cancelled"
        time.sleep(0.05)
    else:
        pytest.fail("the run never reported progress")
    if how == "cancel_task":
        assert store.cancel_task(task.id, "cancelled by the test") is not None
    else:
        os.killpg(proc.pid, signal.SIGTERM)
    stopped = time.monotonic()
    code = proc.wait(timeout=10)
    assert time.monotonic() - stopped < 5
    assert code == 130
    # Its whole process group is gone: nothing is left that could change the status.
    wait_until(lambda: not group_alive(proc.pid), 5, interval=0.05, message="the group to exit")
    final = store.get_task(task.id)
    assert final.status == TaskStatus.CANCELLED
    assert final.step_status["training_load"] == "cancelled"
    [execution] = store.list_executions(task.id)
    assert execution["status"] == "cancelled"
    if how == "sigterm":
        assert "SIGTERM" in final.error_message
    assert not group_alive(proc.pid)  # the executor is really gone: no request can follow


def test_work_left_undone_ends_partial_completed_with_warnings(store, config):
    """A table step 1 could not document (dropped after the run was asked for) makes the run
    partial_completed with a warning naming it, in the report and the task row: never green."""
    params = WorkflowParams(**_params(
        table_list=["public.service_area", "public.gone_since"], end_step=1,
    ))  # fmt: skip
    task, _ = store.create_task(parameters=params.model_dump(), data_root=config.data_root)
    store.start_run(task.id, steps=["ddl_generation"])
    report = SchemaWorkflowOrchestrator(
        config, params, Path(task.output_directory), tracker=DatabaseTracker(store, task.id)
    ).run()
    assert report["status"] == "partial_completed"
    [warning] = report["warnings"]
    assert warning.startswith("step 1: 1 of 2 table(s) could not be documented")
    assert "public.gone_since" in warning
    done = store.get_task(task.id)
    assert done.status == TaskStatus.PARTIAL_COMPLETED and done.error_message is None
    assert done.result["warnings"] == report["warnings"]
    assert done.step_status["ddl_generation"] == "completed"


def test_a_stopped_run_resumes_from_its_step(store, config, runtime):
    """Resume: a run that stopped at step 4 (steps 1-3 done) runs again from step 4 to the
    end — not from step 1, not one step only — and the task ends completed."""
    task, _ = store.create_task(parameters=_params(), data_root=config.data_root)
    folder = Path(task.output_directory)
    _write_training_inputs(folder)
    store.set_step_statuses(
        task.id,
        {"ddl_generation": "completed", "qa_generation": "completed",
         "sql_validation": "completed", "training_load": "failed"},
    )  # fmt: skip
    store.start_run(task.id, steps=["training_load"])
    assert run_task(config, task.id, start_step=4, runtime=runtime) == 0
    done = store.get_task(task.id)
    assert done.status == TaskStatus.COMPLETED, done.error_message
    assert [e["execution_step"] for e in store.list_executions(task.id)] == ["training_load"]
    assert done.result["planned_steps"] == ["training_load"]
    assert done.result["execution_mode"] == "complete"
