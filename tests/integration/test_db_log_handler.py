"""The database log handler keeps its caller going while the database is down."""

from __future__ import annotations

import logging
import time

import pytest

from core.db import Database
from core.embedded_pg import start_embedded, stop_embedded
from core.migrations import apply_migrations
from core.task_logging import DatabaseLogHandler, clear_log_context, set_log_context
from data_pipeline.tasks.store import TaskStore
from tests.api_support import wait_until


def _count(store: TaskStore, task_id: str) -> int:
    return store.count_logs(task_id)


@pytest.mark.slow
def test_caller_carries_on_while_database_is_down_and_records_arrive_later(own_server):
    data, dsn = own_server
    db = Database(dsn, connect_timeout=1)
    apply_migrations(db)
    store = TaskStore(db)
    task, _ = store.create_task(parameters={}, data_root=data.parent)
    handler = DatabaseLogHandler(store, flush_interval=0.05, max_backoff=0.3)
    logger = logging.getLogger("tests.dblog")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    set_log_context(task_id=task.id, step="ddl_generation")
    try:
        for i in range(50):
            logger.info("before outage %d", i)
        assert handler.flush(10)
        assert _count(store, task.id) == 50

        stop_embedded(data)
        worst = 0.0
        for i in range(200):
            t0 = time.perf_counter()
            logger.info("during outage %d", i)
            worst = max(worst, time.perf_counter() - t0)
        logger.debug("debug records are not stored")
        assert worst < 0.05, f"a log call blocked for {worst:.3f} s"
        # The writer fails and keeps retrying meanwhile; nothing is lost.
        wait_until(lambda: handler.failures >= 2, 10, interval=0.05, message="failed writes")
        assert handler.pending == 200

        start_embedded(data)
        assert handler.flush(20), "buffered records were not written once the database was back"
        rows = store.query_logs(task.id, limit=1000)
        assert len(rows) == 250 and handler.dropped == 0
        assert [r["message"] for r in rows[50:]] == [f"during outage {i}" for i in range(200)]
        assert all(r["step_name"] == "ddl_generation" for r in rows)
    finally:
        logger.removeHandler(handler)
        handler.close(timeout=2)
        clear_log_context()
        db.close()


@pytest.mark.slow
def test_overflow_is_dropped_and_counted(own_server):
    data, dsn = own_server
    db = Database(dsn, connect_timeout=1)
    apply_migrations(db)
    store = TaskStore(db)
    task, _ = store.create_task(parameters={}, data_root=data.parent)
    handler = DatabaseLogHandler(store, flush_interval=0.05, max_backoff=0.3, max_buffer=100)
    logger = logging.getLogger("tests.dblog.overflow")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    set_log_context(task_id=task.id, step=None)
    try:
        stop_embedded(data)
        for i in range(300):
            logger.warning("record %d", i)
        assert handler.dropped == 200
        start_embedded(data)
        assert handler.flush(20)
        rows = store.query_logs(task.id, limit=1000)
        messages = [r["message"] for r in rows]
        assert messages[:100] == [f"record {i}" for i in range(200, 300)]
        assert any("200 log records were dropped" in m for m in messages)
    finally:
        logger.removeHandler(handler)
        handler.close(timeout=2)
        clear_log_context()
        db.close()
