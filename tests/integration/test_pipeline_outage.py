"""SPEC §10: a pipeline-database outage of a few seconds during a run neither fails the run
nor loses its status changes or log records; they are retried and arrive late.

Only the pipeline database goes down: it lives on a server of the test's own, while the
business (demo) database stays on the session's server.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app_config import Config
from core.db import Database
from core.embedded_pg import start_embedded, stop_embedded
from core.migrations import apply_migrations, ensure_vector_extension
from core.task_logging import LOG_FILE_NAME
from data_pipeline.runtime import Runtime
from data_pipeline.task_executor import run_task
from data_pipeline.tasks.models import STEP_NAMES, TaskStatus
from data_pipeline.tasks.store import TaskStore

OUTAGE_SECONDS = 3.0  # at least; longer when step 2 is still running
RETRY_HOLD_SECONDS = 2.0  # down this long after the run starts retrying a status change
TABLES = ["public.service_area", "public.stall", "public.daily_revenue", "public.business_type"]
# One line of data_pipeline.log (FILE_FORMAT in core.task_logging); the time is local.
FILE_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \[(\w+)\] \[([^\]]+)\] [\w.]+\.\w+: (.*)$"
)


@pytest.fixture
def own_server():
    """A pipeline server of the test's own, so that it can be stopped and started again."""
    base = Path(tempfile.mkdtemp(prefix="dp-outage-"))
    os.chmod(base, 0o755)
    data = base / "pgdata"
    dsn = start_embedded(data)
    yield data, dsn
    stop_embedded(data)
    shutil.rmtree(base, ignore_errors=True)


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


def test_a_short_outage_delays_tracking_but_the_run_completes(own_server, demo_dsn, tmp_path):
    data, dsn = own_server
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
    )
    executor_db = Database(dsn, connect_timeout=1, maxconn=8)
    runtime = Runtime(config=config, db=executor_db, store=TaskStore(executor_db), pipeline_dsn=dsn)
    observer_db = Database(dsn, connect_timeout=1, maxconn=2)
    observer = TaskStore(observer_db)
    task, _ = observer.create_task(
        parameters={
            "db_connection": demo_dsn,
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
    try:
        worker.start()
        _wait_for(
            lambda: observer.get_task(task.id).step_status["qa_generation"] == "running",
            30,
            "step 2 to start",
        )
        observer_db.close()  # its pooled connections would die with the server anyway

        log_file = Path(task.output_directory) / LOG_FILE_NAME
        down_at, down_t = datetime.now(timezone.utc), time.monotonic()
        stop_embedded(data)  # a fast stop: connections are dropped at once
        # Keep the database down until step 2 has ended and the run waits to record that:
        # its status changes must be retried, not lost.
        _wait_for(
            lambda: (
                "recording the execution: pipeline database unavailable"
                in log_file.read_text("utf-8")
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
        executor_db.close()
        observer_db.close()
