"""The task store against a real PostgreSQL: ids, guarded transitions, logs, outputs."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import psycopg2
import psycopg2.extensions
import pytest

from core.errors import Conflict, DatabaseUnavailable, InvalidInput
from core.sql_queries import query
from data_pipeline.tasks import store as store_module
from data_pipeline.tasks.models import TASK_ID_PATTERN, ExecutionStatus, StepStatus, TaskStatus


def _create(store, tmp_path, **kw):
    task, created = store.create_task(
        parameters={"db_connection": "source:demo"}, data_root=tmp_path, **kw
    )
    assert created
    return task


def test_twenty_concurrent_creates_get_distinct_ids(store, tmp_path):
    ids, errors = [], []
    barrier = threading.Barrier(20)

    def worker():
        try:
            barrier.wait()
            ids.append(_create(store, tmp_path).id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(ids) == 20 and len(set(ids)) == 20
    assert all(TASK_ID_PATTERN.fullmatch(i) and len(i) <= 32 for i in ids)
    assert store.list_tasks(limit=100)[1] == 20


def test_manual_tasks_get_manual_prefix(store, tmp_path):
    task = _create(store, tmp_path, created_by="manual")
    assert task.id.startswith("manual_") and task.created_by == "manual"
    assert task.output_directory == str(tmp_path / task.id)


def test_idempotency_key_returns_the_same_task(store, tmp_path):
    first, created = store.create_task(parameters={}, data_root=tmp_path, idempotency_key="k-1")
    again, created_again = store.create_task(
        parameters={}, data_root=tmp_path, idempotency_key="k-1"
    )
    assert created and not created_again and again.id == first.id


def test_guarded_transition_keeps_a_cancelled_task_cancelled(store, tmp_path):
    task = _create(store, tmp_path)
    store.start_run(task.id, steps=["ddl_generation"])
    assert store.claim_run(task.id, pid=4242) is not None
    assert store.claim_run(task.id, pid=4343) is None  # claimed only once
    assert store.cancel_task(task.id, "cancelled by user") is not None
    # The dying executor reports success afterwards: refused.
    assert store.finish_run(task.id, TaskStatus.COMPLETED, result={"ok": True}, pid=4242) is None
    assert store.update_progress(task.id, 90) == -1
    assert not store.heartbeat(task.id, 4242)
    assert not store.set_step_status(task.id, "ddl_generation", StepStatus.COMPLETED)
    assert store.fail_running_task(task.id, "lost") is None
    again = store.get_task(task.id)
    assert again.status == TaskStatus.CANCELLED and again.result is None


def test_start_run_enforces_the_limit_and_refuses_a_running_task(store, tmp_path):
    a, b = _create(store, tmp_path), _create(store, tmp_path)
    store.start_run(a.id, max_running=1)
    with pytest.raises(Conflict) as err:
        store.start_run(b.id, max_running=1)
    assert err.value.details["active_task_id"] == a.id
    with pytest.raises(Conflict):
        store.start_run(a.id)
    assert [t.id for t in store.active_tasks()] == [a.id]


def test_limit_holds_under_simultaneous_starts(store, tmp_path):
    tasks = [_create(store, tmp_path) for _ in range(10)]
    started, refused = [], []
    barrier = threading.Barrier(len(tasks))

    def worker(task_id):
        barrier.wait()
        try:
            store.start_run(task_id, max_running=1)
            started.append(task_id)
        except Conflict:
            refused.append(task_id)

    threads = [threading.Thread(target=worker, args=(t.id,)) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1 and len(refused) == 9


def test_progress_never_goes_back_and_completion_sets_100(store, tmp_path):
    task = _create(store, tmp_path)
    store.start_run(task.id)
    store.claim_run(task.id, pid=1)
    assert store.update_progress(task.id, 40, "qa_generation") == 40
    assert store.update_progress(task.id, 10) == 40
    assert store.set_step_status(task.id, "qa_generation", StepStatus.RUNNING)
    done = store.finish_run(task.id, TaskStatus.COMPLETED, result={"steps": 4}, pid=1)
    assert done.progress == 100 and done.result == {"steps": 4} and done.completed_at
    assert done.step_status["qa_generation"] == "running"  # the orchestrator owns step states


def test_executions_and_failure_closes_them(store, tmp_path):
    task = _create(store, tmp_path)
    store.start_run(task.id)
    e1 = store.create_execution(task.id, "ddl_generation", f"{task.id}_step_ddl_generation_exec_x")
    e2 = store.create_execution(task.id, "ddl_generation", f"{task.id}_step_ddl_generation_exec_x")
    assert e1["execution_id"] != e2["execution_id"]
    done = store.complete_execution(
        e1["execution_id"], ExecutionStatus.COMPLETED, result={"tables": 3}
    )
    assert done["status"] == "completed" and done["duration_seconds"] is not None
    failed = store.fail_running_task(task.id, "executor lost (no heartbeat for 60 s)")
    assert failed.status == TaskStatus.FAILED
    runs = {e["execution_id"]: e for e in store.list_executions(task.id)}
    assert runs[e2["execution_id"]]["status"] == "failed"
    assert runs[e1["execution_id"]]["status"] == "completed"


def test_log_cursor_returns_every_record_once_in_order(store, tmp_path):
    task = _create(store, tmp_path)
    records = [
        {
            "task_id": task.id,
            "level": "INFO" if i % 3 else "WARNING",
            "message": f"record {i} 表{i}",
            "step": "ddl_generation" if i < 500 else "qa_generation",
        }
        for i in range(1234)
    ]
    for start in range(0, len(records), 300):
        store.insert_logs(records[start : start + 300])
    seen, cursor = [], None
    while True:
        page = store.query_logs(task.id, after_id=cursor, limit=100)
        if not page:
            break
        seen.extend(page)
        cursor = page[-1]["id"]
    assert [r["message"] for r in seen] == [r["message"] for r in records]
    assert len({r["id"] for r in seen}) == 1234
    warnings = store.query_logs(task.id, level="warning", limit=1000)
    assert warnings and all(r["log_level"] == "WARNING" for r in warnings)
    assert len(store.query_logs(task.id, step="qa_generation", limit=2000)) == 734
    assert [r["message"] for r in store.query_logs(task.id, q="表1233")] == ["record 1233 表1233"]
    assert store.query_logs(task.id, q="100%") == []  # LIKE wildcards are literal
    newest = store.query_logs(task.id, order="desc", limit=2)
    assert newest[0]["id"] > newest[1]["id"]
    future = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert store.query_logs(task.id, since=future) == []
    with pytest.raises(InvalidInput):
        store.query_logs(task.id, level="LOUD")


def test_logs_mask_passwords(store, tmp_path):
    task = _create(store, tmp_path)
    store.insert_logs([{"task_id": task.id, "message": "connecting to postgresql://u:s3cret@h/db"}])
    assert "s3cret" not in store.query_logs(task.id)[0]["message"]


def test_outputs_upsert_by_task_and_path(store, tmp_path):
    task = _create(store, tmp_path)
    now = datetime.now(timezone.utc)
    store.upsert_output(
        task.id, file_path="a.ddl", file_type="ddl", file_size=1, content_hash="x", modified_at=now
    )
    store.upsert_output(
        task.id, file_path="a.ddl", file_type="ddl", file_size=9, content_hash="y", modified_at=now
    )
    outs = store.list_outputs(task.id)
    assert len(outs) == 1 and outs[0]["file_size"] == 9 and outs[0]["content_hash"] == "y"


def test_delete_cascades(store, tmp_path, pipeline_db):
    task = _create(store, tmp_path)
    store.start_run(task.id)
    ex = store.create_execution(task.id, "ddl_generation", f"{task.id}_e")
    store.insert_logs([{"task_id": task.id, "message": "m", "execution_id": ex["execution_id"]}])
    store.upsert_output(
        task.id,
        file_path="x.md",
        file_type="md",
        file_size=1,
        content_hash=None,
        modified_at=datetime.now(timezone.utc),
    )
    assert store.delete_task(task.id).id == task.id
    with pipeline_db.transaction() as cur:
        for table in (
            "data_pipeline_task_executions",
            "data_pipeline_task_logs",
            "data_pipeline_task_outputs",
        ):
            cur.execute(f"SELECT count(*) AS n FROM {table}")
            assert cur.fetchone()["n"] == 0
    assert store.get_task(task.id) is None


def test_list_filters_pagination_sort_total(store, tmp_path):
    for i in range(7):
        _create(
            store,
            tmp_path,
            task_name=f"销售分析 {i}" if i % 2 else f"traffic {i}",
            db_name="demo_business",
        )
    page, total = store.list_tasks(limit=3, offset=0, sort="task_name", order="asc")
    assert total == 7 and len(page) == 3
    assert [t.task_name for t in page] == sorted(
        t.task_name for t in store.list_tasks(limit=100)[0]
    )[:3]
    hits, n = store.list_tasks(q="销售")
    assert n == 3 and all("销售" in t.task_name for t in hits)
    assert store.list_tasks(status="in_progress")[1] == 0
    assert store.list_tasks(offset=50)[1] == 7  # total even past the end
    with pytest.raises(InvalidInput):
        store.list_tasks(sort="password; drop table x")
    with pytest.raises(InvalidInput):
        store.list_tasks(status="weird")


def test_zombies_overdue_and_retention(store, tmp_path, pipeline_db):
    stale = _create(store, tmp_path)
    fresh = _create(store, tmp_path)
    old = _create(store, tmp_path)
    store.start_run(stale.id)
    store.start_run(fresh.id)
    with pipeline_db.transaction() as cur:
        cur.execute(
            "UPDATE data_pipeline_tasks SET last_heartbeat_at = now() - interval '5 minutes',"
            " started_at = now() - interval '3 hours' WHERE id = %s",
            (stale.id,),
        )
        cur.execute(
            "UPDATE data_pipeline_tasks SET status = 'completed', completed_at = now() - interval '40 days'"
            " WHERE id = %s",
            (old.id,),
        )
    assert [t.id for t in store.zombie_candidates(60)] == [stale.id]
    assert [t.id for t in store.overdue_runs(2 * 3600)] == [stale.id]
    removed = store.apply_retention(30)
    assert removed == [(old.id, str(tmp_path / old.id))]
    assert store.get_task(old.id) is None and store.get_task(fresh.id) is not None


_ENDINGS = {
    "finish_run (failed)": lambda s, t: s.finish_run(
        t, TaskStatus.FAILED, error_message="x", pid=7
    ),
    "finish_run (cancelled)": lambda s, t: s.finish_run(t, TaskStatus.CANCELLED, pid=7),
    "fail_running_task": lambda s, t: s.fail_running_task(t, "executor lost"),
    "cancel_task": lambda s, t: s.cancel_task(t, "cancelled by user"),
}


@pytest.mark.parametrize("ending", sorted(_ENDINGS))
def test_a_cut_while_a_run_ends_leaves_no_execution_running_under_a_finished_task(
    ending, store, pipeline_db, pg_admin_dsn, tmp_path, monkeypatch
):
    """Ending a run and closing its executions happen in one transaction: the pipeline
    database cut between the two statements leaves both undone (and a retry does both),
    never a finished task with a ``running`` execution under it."""
    task = _create(store, tmp_path)
    store.start_run(task.id, steps=["ddl_generation"])
    store.claim_run(task.id, pid=7)
    execution = store.create_execution(task.id, "ddl_generation", f"{task.id}_step_x")
    database = psycopg2.extensions.parse_dsn(pipeline_db.dsn)["dbname"]

    def cut_before(name: str) -> str:
        if name == "close_running_executions":  # the second statement: cut the database here
            admin = psycopg2.connect(pg_admin_dsn)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )
            admin.close()
        return query(name)

    monkeypatch.setattr(store_module, "query", cut_before)
    with pytest.raises(DatabaseUnavailable):
        _ENDINGS[ending](store, task.id)
    monkeypatch.undo()
    pipeline_db.close()  # the pool's other connections died with the cut too

    after = store.get_task(task.id)
    [row] = store.list_executions(task.id)
    assert after.status == TaskStatus.RUNNING and row["status"] == "running"  # all or nothing

    ended = _ENDINGS[ending](store, task.id)  # the database is back: the same call ends both
    assert ended is not None and ended.status in (TaskStatus.FAILED, TaskStatus.CANCELLED)
    [row] = store.list_executions(task.id)
    assert row["execution_id"] == execution["execution_id"]
    assert row["status"] == ended.status.value and row["completed_at"] is not None
