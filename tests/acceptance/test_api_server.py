"""The real server (waitress, ``python citu_app.py``) with real executor processes on the
embedded PostgreSQL: a complete run, live logs, kill -9, cancel, the concurrency limit, and
passwords that never leak."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import psycopg2
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from data_pipeline.api import schemas
from tests.api_support import (
    ApiServer,
    demo_task_body,
    make_slow_source,
    process_group_alive,
    set_slow_delay,
    slow_task_body,
    wait_until,
)
from tests.conftest import TEMPLATE_DB, new_database

pytestmark = pytest.mark.slow

HEARTBEAT_TIMEOUT = 2.0
MONITOR_INTERVAL = 0.5
GRACE = 2.0
SECRET = "S3cretPw"


@pytest.fixture(scope="module")
def slow_dsn(pg_admin_dsn):
    return make_slow_source(pg_admin_dsn, delay=0.2)


@pytest.fixture(scope="module")
def server(pg_admin_dsn, template_db, demo_dsn, slow_dsn, tmp_path_factory):
    assert template_db == TEMPLATE_DB
    root = tmp_path_factory.mktemp("api-server")
    srv = ApiServer(
        new_database(pg_admin_dsn, TEMPLATE_DB),
        demo_dsn,
        root / "data",
        source_slow_url=slow_dsn,
        max_concurrent_tasks=1,
        heartbeat_interval_seconds=0.5,
        heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT,
        monitor_interval_seconds=MONITOR_INTERVAL,
        cancel_grace_seconds=GRACE,
        # A password test sends a connection string, which callers may only when allowed.
        allow_raw_connections="true",
        # The API and its processes are under test here; the default embedder (local-e5) runs
        # end to end in test_cli's full run and test_service's least-privilege run.
        embedding_provider="hashing",
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def no_run_left(request):
    """Each test leaves no running task behind (the limit is 1)."""
    yield
    if "server" not in request.fixturenames:
        return
    srv = request.getfixturevalue("server")
    active = srv.get("/tasks/active").json()["data"] or []
    for task in active:
        srv.post(f"/tasks/{task['task_id']}/cancel")


def _create(server, body, **kw):
    started = time.monotonic()
    r = server.post("/tasks", json=body, **kw)
    return r, time.monotonic() - started


def _wait_finished(server, task_id, timeout=120.0, seen_progress=None):
    def done():
        task = server.task(task_id)
        if seen_progress is not None:
            seen_progress.append(task["progress"])
        return task if task["status"] not in ("running", "pending") else None

    return wait_until(done, timeout, interval=0.1, message=f"{task_id} to finish")


def _wait_in_step1(server, task_id):
    def in_step():
        task = server.task(task_id)
        assert task["status"] == "running", task
        return task if task["executor_pid"] and task["current_step"] == "ddl_generation" else None

    return wait_until(in_step, 30, message="the executor to work on step 1")


class SSEReader(threading.Thread):
    """Reads a log stream in the background until its ``end`` event."""

    def __init__(self, url: str, headers: dict | None = None):
        super().__init__(daemon=True)
        self.url, self.headers = url, headers or {}
        self.events: list[dict] = []
        self.error: Exception | None = None

    def run(self):
        try:
            with requests.get(self.url, stream=True, timeout=120, headers=self.headers) as r:
                assert r.status_code == 200, r.text
                event = {}
                for line in r.iter_lines(decode_unicode=True):
                    if line == "":
                        if "data" in event:
                            self.events.append(event)
                            if event.get("event") == "end":
                                return
                        event = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(":")
                        event[key] = value.lstrip(" ")
        except Exception as exc:  # reported by the test
            self.error = exc


def test_complete_run_on_the_demo_source(server):
    r, elapsed = _create(server, demo_task_body())
    assert r.status_code == 201, r.text
    assert elapsed < 3.0  # answered at once: the run happens in the executor
    data = r.json()["data"]
    task_id = data["task_id"]
    assert data["status"] == "running" and data["executor_pid"]
    stream = SSEReader(server.url(f"/tasks/{task_id}/logs/stream"))
    stream.start()

    progress: list[int] = []
    task = _wait_finished(server, task_id, seen_progress=progress)
    assert task["status"] == "completed", task["error_message"]
    assert progress == sorted(progress), "progress went backwards"
    assert task["progress"] == 100 and task["current_step"] is None
    assert [s["status"] for s in task["step_details"]] == ["completed"] * 4
    assert all(s["duration"] is not None and s["execution_id"] for s in task["step_details"])
    for s in task["step_details"]:  # ISO 8601 with a zone, in order
        assert datetime.fromisoformat(s["started_at"]) <= datetime.fromisoformat(s["completed_at"])
        assert datetime.fromisoformat(s["started_at"]).tzinfo is not None
    schemas.TaskDetail.model_validate(task)
    assert task["duration"] > 0

    executions = server.get(f"/tasks/{task_id}/executions").json()["data"]["executions"]
    assert [e["status"] for e in executions if e["step"] != "complete"] == ["completed"] * 4

    files = server.get(f"/tasks/{task_id}/files").json()["data"]["files"]
    names = [f["name"] for f in files]
    assert any(n.endswith("_pair.json") for n in names) and "metadata.txt" in names
    assert any(n.endswith(".ddl") for n in names) and any(n.endswith("_detail.md") for n in names)
    for f in files:
        if f["name"] == "data_pipeline.log":
            continue  # still growing while the executor exits
        r = server.http.get(f"http://127.0.0.1:{server.port}{f['download_url']}", timeout=30)
        assert r.status_code == 200, f
        assert hashlib.sha256(r.content).hexdigest() == f["sha256"], f["name"]
    pair = next(f for f in files if f["name"].endswith("_pair.json"))
    pairs = server.http.get(f"http://127.0.0.1:{server.port}{pair['download_url']}").json()
    assert pairs and all(p["question"] and p["sql"] for p in pairs)

    for step in ("ddl_generation", "qa_generation", "sql_validation", "training_load"):
        records = server.get(f"/tasks/{task_id}/logs?step={step}&limit=5").json()["data"]
        assert records["count"] > 0, f"no log records from {step}"
    log_file = server.get(f"/tasks/{task_id}/logs/download")
    assert log_file.status_code == 200 and "attachment" in log_file.headers["Content-Disposition"]
    assert "workflow" in log_file.text

    stream.join(30)
    assert stream.error is None and not stream.is_alive()
    logs = [e for e in stream.events if e.get("event") == "log"]
    assert stream.events[-1]["event"] == "end"
    assert json.loads(stream.events[-1]["data"])["status"] == "completed"
    ids = [int(e["id"]) for e in logs]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    everything = server.get(f"/tasks/{task_id}/logs?limit=1000").json()["data"]["records"]
    assert ids == [rec["id"] for rec in everything]  # every record, live, in order

    # Re-running a step: refused without force, then run again (with clean) in its own run.
    r = server.post(f"/tasks/{task_id}/execute", json={"step_name": "training_load"})
    assert r.status_code == 409 and "force" in r.json()["message"]
    r = server.post(
        f"/tasks/{task_id}/execute", json={"single_step": 4, "force": True, "clean": True}
    )
    assert r.status_code == 202, r.text
    rerun = schemas.ExecuteResponse.model_validate(r.json()["data"])
    assert rerun.steps == ["training_load"]
    task = _wait_finished(server, task_id)
    assert task["status"] == "completed", task["error_message"]
    runs = server.get(f"/tasks/{task_id}/executions").json()["data"]["executions"]
    loads = [e for e in runs if e["step"] == "training_load"]
    assert len(loads) == 2 and loads[-1]["force_executed"] and loads[-1]["status"] == "completed"
    assert rerun.execution_id in (None, loads[-1]["execution_id"])

    # Label order means nothing in the Prometheus format (prometheus_client sorts them).
    samples = [
        s
        for family in text_string_to_metric_families(server.get("/metrics").text)
        for s in family.samples
    ]
    assert any(
        s.name == "data_pipeline_step_duration_seconds_count"
        and s.labels == {"step": "training_load", "status": "completed"}
        and s.value >= 1
        for s in samples
    )

    # Delete it with its vectors: rows, folder and training data go.
    r = server.delete(f"/tasks/{task_id}?purge_training_data=true")
    assert r.status_code == 200, r.text
    gone = schemas.DeleteResponse.model_validate(r.json()["data"])
    assert sum(gone.training_data_removed.values()) > 0
    assert gone.folder_removed == task_id and not (server.data_root / task_id).exists()
    assert gone.rows["logs"] >= len(everything) and gone.rows["executions"] == 5
    assert server.get(f"/tasks/{task_id}").status_code == 404


def test_kill_9_of_the_executor_fails_the_task(server, slow_dsn):
    set_slow_delay(slow_dsn, 0.2)
    r, _ = _create(server, slow_task_body())
    assert r.status_code == 201, r.text
    task_id = r.json()["data"]["task_id"]
    task = _wait_in_step1(server, task_id)
    pid = task["executor_pid"]
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    task = _wait_finished(server, task_id, timeout=HEARTBEAT_TIMEOUT + MONITOR_INTERVAL + 5)
    assert time.monotonic() - killed <= HEARTBEAT_TIMEOUT + MONITOR_INTERVAL + 2
    assert task["status"] == "failed"
    assert f"executor process {pid}" in task["error_message"]
    assert task["step_details"][0]["status"] == "failed"
    assert task["error_step"] == "ddl_generation"


def test_cancel_mid_run_stops_the_process_group(server, slow_dsn):
    set_slow_delay(slow_dsn, 0.2)
    r, _ = _create(server, slow_task_body())
    task_id = r.json()["data"]["task_id"]
    pid = _wait_in_step1(server, task_id)["executor_pid"]
    started = time.monotonic()
    r = server.post(f"/tasks/{task_id}/cancel")
    assert r.status_code == 200, r.text
    assert time.monotonic() - started < 1.5  # answered promptly, the stop goes on behind
    assert r.json()["data"]["status"] == "cancelled"
    wait_until(lambda: not process_group_alive(pid), GRACE + 2, message="the executor to exit")
    task = server.task(task_id)
    assert task["status"] == "cancelled"
    message = task["error_message"]
    # The dying executor and the monitor must not change it afterwards.
    time.sleep(HEARTBEAT_TIMEOUT + 2 * MONITOR_INTERVAL)
    task = server.task(task_id)
    assert task["status"] == "cancelled" and task["error_message"] == message
    assert task["step_details"][0]["status"] == "cancelled"
    r = server.post(f"/tasks/{task_id}/cancel")
    assert r.status_code == 409


def _twenty_creates(server, tag: str, **extra) -> list:
    barrier = threading.Barrier(20)

    def create(i):
        session = requests.Session()
        barrier.wait()
        body = {**slow_task_body(business_context=f"{tag} {i}"), **extra}
        return session.post(server.url("/tasks"), json=body, timeout=60)

    with ThreadPoolExecutor(20) as pool:
        return list(pool.map(create, range(20)))


def test_twenty_simultaneous_creates_wait_their_turn(server, slow_dsn):
    """With a limit of one: one runs, nineteen wait in order; cancelling them all ends it."""
    set_slow_delay(slow_dsn, 0.2)
    answers = _twenty_creates(server, "排队创建")
    assert sorted(r.status_code for r in answers) == [201] * 20
    data = [r.json()["data"] for r in answers]
    statuses = sorted(d["status"] for d in data)
    assert statuses.count("queued") >= 19 and set(statuses) <= {"running", "queued"}
    listed = server.get("/tasks?q=排队创建&limit=100").json()["data"]["items"]
    assert len(listed) == 20
    assert sum(t["status"] == "running" for t in listed) <= 1
    positions = sorted(t["queue_position"] for t in listed if t["status"] == "queued")
    assert positions == list(range(1, len(positions) + 1))
    for t in sorted(listed, key=lambda t: t.get("queue_position") or 0, reverse=True):
        assert server.post(f"/tasks/{t['task_id']}/cancel").status_code == 200
    assert {server.task(t["task_id"])["status"] for t in listed} == {"cancelled"}


def test_twenty_simultaneous_creates_with_a_limit_of_one_and_no_queue(server, slow_dsn):
    set_slow_delay(slow_dsn, 0.2)
    answers = _twenty_creates(server, "并发创建", queue=False)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 19, codes
    winner = next(r for r in answers if r.status_code == 201).json()["data"]["task_id"]
    for r in answers:
        if r.status_code == 409:
            body = r.json()
            assert body["success"] is False and winner in body["message"]
            assert body["error"]["details"]["active_task_id"] == winner
    listed = server.get("/tasks?q=并发创建&limit=100").json()["data"]
    assert listed["total"] == 1  # refused creates leave nothing behind
    server.post(f"/tasks/{winner}/cancel")


def test_a_password_never_leaves_the_server(server):
    dsn = f"postgresql://reader:{SECRET}@127.0.0.1:1/sales_db"
    r, _ = _create(server, {"task_name": "secret", "parameters": {
        "db_connection": dsn, "business_context": "密码测试 password test",
        "table_list": ["orders"]}})  # fmt: skip
    assert r.status_code == 201, r.text
    task_id = r.json()["data"]["task_id"]
    task = _wait_finished(server, task_id, timeout=60)
    assert task["status"] == "failed"
    assert "127.0.0.1" in task["error_message"] or "sales_db" in task["error_message"]
    answers = [r.text]
    for path in (
        f"/tasks/{task_id}", "/tasks?limit=100", f"/tasks/{task_id}/executions",
        f"/tasks/{task_id}/logs?limit=1000", f"/tasks/{task_id}/logs?level=DEBUG",
        f"/tasks/{task_id}/files", f"/tasks/{task_id}/logs/download",
        f"/tasks/{task_id}/logs/stream", "/metrics", "/tasks/active", "/sources",
    ):  # fmt: skip
        answers.append(server.get(path).text)
    for f in server.get(f"/tasks/{task_id}/files").json()["data"]["files"]:
        answers.append(server.http.get(f"http://127.0.0.1:{server.port}{f['download_url']}").text)
    for text in answers:
        assert SECRET not in text
    assert "reader:***@" in answers[1]
    # Nothing on disk, and no row of the log table, holds it either.
    for path in server.data_root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in server.log()
    conn = psycopg2.connect(server.pipeline_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM data_pipeline_task_logs WHERE message LIKE %s "
                "OR extra_data::text LIKE %s",
                (f"%{SECRET}%", f"%{SECRET}%"),
            )
            assert cur.fetchone()[0] == 0
            cur.execute(
                "SELECT count(*) FROM data_pipeline_task_logs WHERE task_id = %s", (task_id,)
            )
            assert cur.fetchone()[0] > 0
    finally:
        conn.close()
