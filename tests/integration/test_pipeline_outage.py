"""SPEC §10: a pipeline-database outage of a few seconds during a run neither fails the run
nor loses its status changes or log records; they are retried and arrive late. A longer one
(than PIPELINE_OUTAGE_TOLERANCE_SECONDS) fails the run, recorded once the database is back.

Only the pipeline database goes down: it lives on a server of the test's own, while the
business (demo) database stays on the session's server.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app_config import Config
from core.db import Database
from core.embedded_pg import start_embedded, stop_embedded
from core.migrations import apply_migrations, ensure_vector_extension
from core.task_logging import LOG_FILE_NAME
from data_pipeline.runs.executor import run_task
from data_pipeline.tasks.models import STEP_NAMES, Task, TaskStatus
from data_pipeline.tasks.runtime import Runtime
from data_pipeline.tasks.store import TaskStore

# Real outages of a server of the test's own, held for seconds: not in make test-fast.
pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 3.0  # at least; longer when step 2 is still running
RETRY_HOLD_SECONDS = 2.0  # down this long after the run starts retrying a status change
LONG_OUTAGE_SECONDS = 5.0  # at least; more than the 2 s tolerance of the second test
TABLES = ["public.service_area", "public.stall", "public.daily_revenue", "public.business_type"]
# One line of data_pipeline.log (FILE_FORMAT in core.task_logging); the time is local.
FILE_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \[(\w+)\] \[([^\]]+)\] [\w.]+\.\w+: (.*)$"
)


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _file_records(path: Path, since: datetime, until: datetime) -> list[tuple[str, str, str]]:
    """(level, step, first line of the message) of INFO+ lines logged in [since, until]."""
    since, until = (t.astimezone().replace(tzinfo=None) for t in (since, until))
    found = []
    for line in path.read_text("utf-8").splitlines():
        m = FILE_LINE.match(line)
        if not m or m.group(2) == "DEBUG":
            continue
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if since <= at <= until:
            found.append((m.group(2), m.group(3), m.group(4)))
    return found


@dataclass
class _Run:
    """A run started in a thread of the test, tracked in the test's own pipeline server."""

    task: Task
    observer: TaskStore
    observer_db: Database
    executor_db: Database
    worker: threading.Thread
    codes: list[int]


def _start_run(dsn: str, demo_dsn: str, tmp_path: Path, **settings) -> _Run:
    setup = Database(dsn, connect_timeout=1)
    apply_migrations(setup)
    ensure_vector_extension(setup)  # step 4 loads the vectors into the pipeline database
    setup.close()
    config = Config(
        pipeline_database_url=dsn,
        data_root=tmp_path / "data",
        data_sources={"demo": demo_dsn},
        load_demo_source=False,
        heartbeat_interval_seconds=0.3,  # beats fail (and are retried) during the outage
        heartbeat_timeout_seconds=60.0,
        **settings,
    )
    executor_db = Database(dsn, connect_timeout=1, maxconn=8)
    runtime = Runtime(config=config, db=executor_db, store=TaskStore(executor_db), pipeline_dsn=dsn)
    observer_db = Database(dsn, connect_timeout=1, maxconn=2)
    observer = TaskStore(observer_db)
    task, _ = observer.create_task(
        parameters={
            "db_connection": "source:demo",
            "table_list": TABLES,
            "business_context": "高速公路服务区经营分析：服务区、档口、营业收入与车流量",
            "theme_count": 10,
            "questions_per_theme": 100,
            "sample_rows": 3,
        },
        data_root=config.data_root,
    )
    observer.start_run(task.id, steps=list(STEP_NAMES), max_running=5)
    codes: list[int] = []
    worker = threading.Thread(
        target=lambda: codes.append(run_task(config, task.id, runtime=runtime)),
        name="outage-run",
        daemon=True,
    )
    worker.start()
    _wait_for(
        lambda: observer.get_task(task.id).step_status["qa_generation"] == "running",
        30,
        "step 2 to start",
    )
    observer_db.close()  # its pooled connections would die with the server anyway
    return _Run(task, observer, observer_db, executor_db, worker, codes)


def test_a_short_outage_delays_tracking_but_the_run_completes(own_server, demo_dsn, tmp_path):
    data, dsn = own_server
    run = _start_run(dsn, demo_dsn, tmp_path)
    task, observer, worker, codes = run.task, run.observer, run.worker, run.codes
    try:
        log_file = Path(task.output_directory) / LOG_FILE_NAME
        down_at, down_t = datetime.now(timezone.utc), time.monotonic()
        stop_embedded(data)  # a fast stop: connections are dropped at once
        # Keep the database down until step 2 has ended and the run waits to record that:
        # its status changes must be retried, not lost. (A step's end starts with registering
        # its files, copied to the output store before the end is recorded.)
        _wait_for(
            lambda: re.search(
                r"(registering outputs|recording the execution): pipeline database unavailable",
                log_file.read_text("utf-8"),
            ),
            30,
            "the run to retry recording step 2's end",
        )
        # ... and for a while longer, so that a single quick retry would not be enough.
        time.sleep(max(RETRY_HOLD_SECONDS, OUTAGE_SECONDS - (time.monotonic() - down_t)))
        assert worker.is_alive(), "the run ended during the outage"
        up_at = datetime.now(timezone.utc)
        start_embedded(data)

        worker.join(timeout=60)
        assert not worker.is_alive(), "the run did not end within 60 s of the outage"
        assert codes == [0]

        done = observer.get_task(task.id)
        assert done.status == TaskStatus.COMPLETED, done.error_message
        assert done.error_message is None
        assert done.progress == 100 and done.current_step is None
        assert done.step_status == {step: "completed" for step in STEP_NAMES}
        executions = observer.list_executions(task.id)
        assert sorted(e["execution_step"] for e in executions) == sorted(STEP_NAMES)
        assert all(e["status"] == "completed" for e in executions), executions
        step2 = next(e for e in executions if e["execution_step"] == "qa_generation")
        assert step2["started_at"] < down_at and step2["completed_at"] > up_at  # outage inside

        rows = observer.query_logs(task.id, limit=10_000)
        steps_logged = {r["step_name"] for r in rows}
        assert set(STEP_NAMES) <= steps_logged
        assert any(r["message"].startswith("workflow completed") for r in rows)

        # Records emitted while the database was down arrived once it was back: every INFO+
        # line the task folder's log got during the outage is in the table too.
        during = _file_records(log_file, down_at, up_at)
        assert any("heartbeat not recorded" in msg for _, _, msg in during), during
        assert any(msg.startswith("step 2 done") for _, _, msg in during), during
        stored = [(r["log_level"], r["step_name"] or "-", r["message"]) for r in rows]
        for level, step, msg in during:
            assert any(
                lv == level and st == step and m.splitlines()[0] == msg for lv, st, m in stored
            ), f"record logged during the outage is missing from the table: {level} {msg}"
        assert any("heartbeat recorded again" in r["message"] for r in rows)
    finally:
        worker.join(timeout=60)
        run.executor_db.close()
        run.observer_db.close()


def test_a_long_outage_fails_the_run_once_the_database_is_back(own_server, demo_dsn, tmp_path):
    data, dsn = own_server
    run = _start_run(dsn, demo_dsn, tmp_path, pipeline_outage_tolerance_seconds=2.0)
    task, observer, worker = run.task, run.observer, run.worker
    try:
        log_file = Path(task.output_directory) / LOG_FILE_NAME
        down_t = time.monotonic()
        stop_embedded(data)
        # Down until the run has given up on recording step 2's end (2 s of retries) ...
        _wait_for(
            lambda: "workflow failed" in log_file.read_text("utf-8"),
            30,
            "the run to give up after the tolerance",
        )
        # ... and past LONG_OUTAGE_SECONDS in all: the failure waits for the database.
        time.sleep(max(0.0, LONG_OUTAGE_SECONDS - (time.monotonic() - down_t)))
        assert worker.is_alive(), "the run ended before its failure could be recorded"
        start_embedded(data)

        worker.join(timeout=30)
        assert not worker.is_alive(), "the run did not end within 30 s of the outage"
        assert run.codes == [1]

        done = observer.get_task(task.id)
        assert done.status == TaskStatus.FAILED
        assert "pipeline database was unreachable for too long" in done.error_message
        assert "over 2 s" in done.error_message, done.error_message
        assert done.error_step == "qa_generation" and done.current_step is None
        assert done.step_status == {
            "ddl_generation": "completed",
            "qa_generation": "failed",
            "sql_validation": "pending",
            "training_load": "pending",
        }
        executions = {e["execution_step"]: e for e in observer.list_executions(task.id)}
        assert set(executions) == {"ddl_generation", "qa_generation"}
        assert executions["ddl_generation"]["status"] == "completed"
        assert executions["qa_generation"]["status"] == "failed"
        assert "unreachable for too long" in executions["qa_generation"]["error_message"]
        rows = observer.query_logs(task.id, limit=10_000)
        assert any(r["message"].startswith("workflow failed") for r in rows)
    finally:
        worker.join(timeout=60)
        run.executor_db.close()
        run.observer_db.close()
