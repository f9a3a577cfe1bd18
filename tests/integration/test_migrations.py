"""Migrations: applied once, idempotent, safe when processes start at the same time."""

from __future__ import annotations

import threading

from core.db import Database
from core.migrations import apply_migrations, ensure_vector_extension, list_migrations
from tests.conftest import new_database

TABLES = {
    "data_pipeline_tasks",
    "data_pipeline_task_executions",
    "data_pipeline_task_logs",
    "data_pipeline_task_outputs",
}


def _tables(db: Database) -> set[str]:
    with db.transaction() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in cur.fetchall()}


def test_second_start_is_a_no_op(pg_admin_dsn):
    db = Database(new_database(pg_admin_dsn))
    try:
        first = apply_migrations(db)
        assert first == [v for v, _, _ in list_migrations()]
        assert _tables(db) >= TABLES
        assert apply_migrations(db) == []
        assert ensure_vector_extension(db) is True
        assert ensure_vector_extension(db) is True
        with db.transaction() as cur:
            cur.execute(
                "SELECT proname FROM pg_proc WHERE proname = 'cleanup_old_data_pipeline_tasks'"
            )
            assert cur.fetchone()
    finally:
        db.close()


def test_concurrent_starts_apply_each_migration_once(pg_admin_dsn):
    dsn = new_database(pg_admin_dsn)
    results, errors = [], []
    barrier = threading.Barrier(4)

    def start():
        db = Database(dsn)
        try:
            barrier.wait()
            results.append(apply_migrations(db))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    applied = sorted(v for r in results for v in r)
    assert applied == [v for v, _, _ in list_migrations()]
    db = Database(dsn)
    with db.transaction() as cur:
        cur.execute("SELECT count(*) AS n FROM schema_migrations")
        assert cur.fetchone()["n"] == len(list_migrations())
    db.close()


def test_check_constraints_reject_bad_values(pipeline_db):
    import psycopg2
    import pytest

    with pytest.raises(psycopg2.errors.CheckViolation), pipeline_db.transaction() as cur:
        cur.execute(
            "INSERT INTO data_pipeline_tasks (id, status) VALUES ('task_20260101_000000', 'weird')"
        )
    with pytest.raises(psycopg2.errors.CheckViolation), pipeline_db.transaction() as cur:
        cur.execute("INSERT INTO data_pipeline_tasks (id) VALUES ('../etc/passwd')")
    with pytest.raises(psycopg2.errors.CheckViolation), pipeline_db.transaction() as cur:
        cur.execute(
            "INSERT INTO data_pipeline_tasks (id, progress) VALUES ('task_20260101_000000', 101)"
        )
