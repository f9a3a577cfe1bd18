"""The API server restarted while a run goes on: the detached executor finishes the run and
the new server reports it correctly; an executor killed while no API process is its parent
is settled by the new server's monitor (stale heartbeat, no process)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from tests.api_support import (
    ApiServer,
    make_slow_source,
    set_slow_delay,
    slow_task_body,
    wait_until,
)
from tests.conftest import TEMPLATE_DB, new_database

pytestmark = pytest.mark.slow

HEARTBEAT_TIMEOUT = 2.0
MONITOR_INTERVAL = 0.5


@pytest.fixture
def servers(pg_admin_dsn, template_db, demo_dsn, tmp_path):
    slow = make_slow_source(pg_admin_dsn, delay=0.04)
    pipeline = new_database(pg_admin_dsn, TEMPLATE_DB)
    made = []

    def make() -> ApiServer:
        srv = ApiServer(
            pipeline,
            demo_dsn,
            tmp_path / "data",
            source_slow_url=slow,
            heartbeat_interval_seconds=0.5,
            heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT,
            monitor_interval_seconds=MONITOR_INTERVAL,
        )
        made.append(srv)
        return srv.start()

    make.slow_dsn = slow
    yield make
    for srv in made:
        srv.stop()


def _running_in_step1(srv, task_id):
    task = srv.task(task_id)
    assert task["status"] == "running", task
    return task if task["executor_pid"] and task["current_step"] == "ddl_generation" else None


def test_restarted_server_reports_the_run_the_executor_finished(servers):
    first = servers()
    r = first.post("/tasks", json=slow_task_body())
    assert r.status_code == 201, r.text
    task_id = r.json()["data"]["task_id"]
    pid = wait_until(lambda: _running_in_step1(first, task_id), 30)["executor_pid"]
    first.stop()  # SIGTERM to the server's own process group: executors have their own
    assert first.proc.returncode is not None
    os.kill(pid, 0)  # the executor lives on
    second = servers()
    task = first_seen = second.task(task_id)
    assert first_seen["status"] == "running", (first_seen["error_message"], first.log()[-2000:])

    def finished():
        t = second.task(task_id)
        return t if t["status"] not in ("running", "pending") else None

    task = wait_until(finished, 60, message="the run to finish")
    assert task["status"] == "completed", task["error_message"]
    assert [s["status"] for s in task["step_details"]] == ["completed"] * 4
    files = second.get(f"/tasks/{task_id}/files").json()["data"]["files"]
    assert any(f["name"].endswith("_pair.json") for f in files)
    logs = second.get(f"/tasks/{task_id}/logs?step=training_load").json()["data"]
    assert logs["count"] > 0


def test_monitor_of_a_new_server_settles_an_orphaned_run(servers):
    first = servers()
    set_slow_delay(servers.slow_dsn, 0.2)
    r = first.post("/tasks", json=slow_task_body())
    task_id = r.json()["data"]["task_id"]
    pid = wait_until(lambda: _running_in_step1(first, task_id), 30)["executor_pid"]
    first.stop(signal.SIGKILL)  # the API dies; its child (the executor) is not reaped by it
    second = servers()
    os.kill(pid, signal.SIGKILL)  # ... and then the executor dies too
    killed = time.monotonic()

    def failed():
        t = second.task(task_id)
        return t if t["status"] == "failed" else None

    task = wait_until(failed, HEARTBEAT_TIMEOUT + MONITOR_INTERVAL + 5, message="the monitor")
    assert time.monotonic() - killed <= HEARTBEAT_TIMEOUT + MONITOR_INTERVAL + 2.5
    assert f"executor process {pid}" in task["error_message"]
    assert "no heartbeat" in task["error_message"]


def test_sigterm_ends_log_streams_lets_requests_finish_and_exits_zero(servers):
    """A stop signal to the API: no new connections, open log streams end with a ``shutdown``
    event the console understands, the process exits 0, and the executor runs on."""
    first = servers()
    r = first.post("/tasks", json=slow_task_body())
    task_id = r.json()["data"]["task_id"]
    pid = wait_until(lambda: _running_in_step1(first, task_id), 30)["executor_pid"]
    events: list[str] = []
    stream = requests.get(first.url(f"/tasks/{task_id}/logs/stream"), stream=True, timeout=30)
    assert stream.status_code == 200

    def read() -> None:
        for line in stream.iter_lines(decode_unicode=True):
            if line and line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: "log" in events, 10, message="the stream to carry the run's records")
    started = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(15) == 0
    assert time.monotonic() - started < 10
    reader.join(5)
    assert events[-1] == "shutdown"  # the last thing the stream said; the console reconnects
    with pytest.raises(requests.ConnectionError):
        requests.get(first.url("/health"), timeout=2)
    assert "stopping (SIGTERM)" in first.log() and "stopped" in first.log()
    os.kill(pid, 0)  # the executor lives on, and the next start finds its run still running
    second = servers()
    assert second.task(task_id)["status"] == "running"
