"""The monitor against the real database and real processes: one leader, zombies, time-outs,
retention (rows and folders, never outside the data root)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from core.processes import group_alive
from data_pipeline.jobqueue.dispatch import Dispatcher, RunRequest
from data_pipeline.jobqueue.jobs import QueueApp
from data_pipeline.runs.launcher import HOSTNAME
from data_pipeline.runs.monitor import Monitor
from data_pipeline.tasks.models import TaskStatus
from data_pipeline.tasks.store import TaskStore


def _running_task(store: TaskStore, config, pid: int | None, host: str = HOSTNAME):
    task, _ = store.create_task(
        parameters={"db_connection": "source:demo"}, data_root=config.data_root, task_name="监控"
    )
    store.start_run(task.id, steps=["ddl_generation"])
    if pid is not None:
        store.claim_run(task.id, pid, host)
    store.set_step_status(task.id, "ddl_generation", "running")
    return task.id


def _age(store: TaskStore, task_id: str, **seconds) -> None:
    """Move a task's times into the past, as if time had passed."""
    with store.db.transaction() as cur:
        for column, s in seconds.items():
            cur.execute(
                f"UPDATE data_pipeline_tasks SET {column} = now() - make_interval(secs => %s) "
                "WHERE id = %s",
                (s, task_id),
            )


def _fake_executor(task_id: str) -> subprocess.Popen:
    """A process that looks like the task's executor (own session, same command line)."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "task_executor.py",
         "--task-id", task_id],
        start_new_session=True,
    )  # fmt: skip


@pytest.fixture
def monitor_config(config):
    return config.with_overrides(heartbeat_timeout_seconds=2.0, heartbeat_interval_seconds=0.5)


def test_zombies_are_failed_and_live_executors_left_alone(store, monitor_config, pipeline_dsn):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    zombie = _running_task(store, monitor_config, dead.pid)
    elsewhere = _running_task(store, monitor_config, 4242, host="other-host")
    alive_id = _running_task(store, monitor_config, None)
    alive = _fake_executor(alive_id)
    try:
        store.claim_run(alive_id, alive.pid, HOSTNAME)
        fresh = _running_task(store, monitor_config, dead.pid)  # heartbeat still recent
        for task_id in (zombie, elsewhere, alive_id):
            _age(store, task_id, last_heartbeat_at=63)
        report = Monitor(monitor_config, store, pipeline_dsn).sweep()
        assert report.leader
        assert sorted(report.zombies) == sorted([zombie, elsewhere])
        task = store.get_task(zombie)
        assert task.status == TaskStatus.FAILED
        assert task.error_message == (
            f"executor process {dead.pid} on host {HOSTNAME} is gone (no heartbeat for 63 s)"
        )
        assert task.step_status["ddl_generation"] == "failed"
        assert "other-host" in store.get_task(elsewhere).error_message
        assert store.get_task(alive_id).status == TaskStatus.RUNNING
        assert store.get_task(fresh).status == TaskStatus.RUNNING
    finally:
        alive.kill()
        alive.wait()


def test_overdue_runs_are_killed_and_failed(store, monitor_config, pipeline_dsn):
    cfg = monitor_config.with_overrides(task_timeout_hours=0.5, cancel_grace_seconds=1.0)
    task_id = _running_task(store, cfg, None)
    proc = _fake_executor(task_id)
    try:
        store.claim_run(task_id, proc.pid, HOSTNAME)
        _age(store, task_id, started_at=31 * 60)
        report = Monitor(cfg, store, pipeline_dsn).sweep()
        assert report.timed_out == [task_id]
        task = store.get_task(task_id)
        assert task.status == TaskStatus.FAILED
        assert task.error_message.startswith("timed out after 30 min")
        proc.wait(timeout=5)  # SIGTERM to its group (a sleeping python dies at once)
        assert not group_alive(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_retention_removes_rows_and_only_folders_inside_the_data_root(
    store, config, pipeline_dsn, tmp_path
):
    cfg = config.with_overrides(file_retention_days=7, log_retention_days=3)
    old_in, _ = store.create_task(parameters={}, data_root=cfg.data_root)
    old_out, _ = store.create_task(parameters={}, data_root=cfg.data_root)
    recent, _ = store.create_task(parameters={}, data_root=cfg.data_root)
    logs_only, _ = store.create_task(parameters={}, data_root=cfg.data_root)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    for task in (old_in, recent, logs_only):
        (cfg.data_root / task.id).mkdir(parents=True)
        (cfg.data_root / task.id / "x.ddl").write_text("x")
    with store.db.transaction() as cur:
        cur.execute(
            "UPDATE data_pipeline_tasks SET status = 'completed', completed_at = now() - "
            "make_interval(days => CASE WHEN id = ANY(%s) THEN 10 WHEN id = %s THEN 5 ELSE 1 END)",
            ([old_in.id, old_out.id], logs_only.id),
        )
        cur.execute(
            "UPDATE data_pipeline_tasks SET output_directory = %s WHERE id = %s",
            (str(outside), old_out.id),
        )
    store.insert_logs([{"task_id": logs_only.id, "level": "INFO", "message": "旧日志"}])
    with store.db.transaction() as cur:
        cur.execute("UPDATE data_pipeline_task_logs SET timestamp = now() - interval '4 days'")
    store.insert_logs([{"task_id": logs_only.id, "level": "INFO", "message": "new"}])
    report = Monitor(cfg, store, pipeline_dsn).sweep()
    assert sorted(report.retention_tasks) == sorted([old_in.id, old_out.id])
    assert report.folders_removed == [str((cfg.data_root / old_in.id).resolve())]
    assert not (cfg.data_root / old_in.id).exists()
    assert (outside / "keep.txt").read_text() == "keep"
    assert (cfg.data_root / recent.id).is_dir() and store.get_task(recent.id)
    assert report.log_rows_removed == 1
    assert [r["message"] for r in store.query_logs(logs_only.id)] == ["new"]


def test_one_leader_among_monitors(store, config, pipeline_dsn):
    first = Monitor(config, store, pipeline_dsn)
    second = Monitor(config, store, pipeline_dsn)
    try:
        assert first.sweep().leader is True
        assert second.sweep().leader is False
        assert first.sweep().leader is True  # keeps leading
        first.stop()  # releases the lock (its connection closes)
        assert second.sweep().leader is True
    finally:
        first.stop()
        second.stop()


def test_monitor_thread_sweeps_at_start(store, monitor_config, pipeline_dsn):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    task_id = _running_task(store, monitor_config, dead.pid)
    _age(store, task_id, last_heartbeat_at=10)
    cfg = monitor_config.with_overrides(monitor_interval_seconds=3600)
    monitor = Monitor(cfg, store, pipeline_dsn)
    monitor.start()
    try:
        deadline = time.monotonic() + 5
        while store.get_task(task_id).status == TaskStatus.RUNNING:
            assert time.monotonic() < deadline, "the start-up sweep did not run"
            time.sleep(0.05)
        assert "is gone" in store.get_task(task_id).error_message
    finally:
        monitor.stop()


def _queued_then_claimed(store: TaskStore, config, worker: str, host: str) -> str:
    """A task run by ``worker`` on ``host`` through the queue (as a worker claims it)."""
    task, _ = store.create_task(
        parameters={"db_connection": "source:demo"}, data_root=config.data_root, task_name="队列"
    )
    request = RunRequest(steps=["ddl_generation"]).as_dict()
    store.queue_run(task.id, request)
    outcome, _ = store.claim_queued_run(task.id, worker=worker, host=host, max_running=10)
    assert outcome == "claimed"
    store.claim_run(task.id, 4343, host)
    store.set_step_status(task.id, "ddl_generation", "running")
    return task.id


def test_a_run_lost_with_its_worker_is_queued_again_once_then_failed(
    store, monitor_config, pipeline_dsn
):
    config = monitor_config.with_overrides(retry_lost_runs=1)
    queue = QueueApp(pipeline_dsn)
    dispatcher = Dispatcher(store, queue)
    try:
        task_id = _queued_then_claimed(store, config, "w9", "lost-host")
        _age(store, task_id, last_heartbeat_at=30)
        monitor = Monitor(config, store, pipeline_dsn, dispatcher=dispatcher, leader_lock=False)
        report = monitor.sweep()
        assert report.requeued == [task_id] and report.zombies == []
        task = store.get_task(task_id)
        assert task.status == TaskStatus.QUEUED and task.lost_retries == 1
        assert task.queue_job_id is not None  # a new job carries it to a worker
        assert task.step_status["ddl_generation"] == "pending"
        assert "worker w9 lost" in task.error_message
        executions = store.list_executions(task_id)
        assert all(e["status"] != "running" for e in executions)
        # Lost a second time: failed, saying so.
        outcome, _ = store.claim_queued_run(task_id, worker="w9", host="lost-host", max_running=10)
        assert outcome == "claimed"
        store.claim_run(task_id, 4344, "lost-host")
        _age(store, task_id, last_heartbeat_at=30)
        report = monitor.sweep()
        assert report.zombies == [task_id] and report.requeued == []
        task = store.get_task(task_id)
        assert task.status == TaskStatus.FAILED
        assert task.error_message.startswith("worker w9 lost: its executor on host lost-host")
    finally:
        queue.close()


def test_queued_tasks_whose_job_was_lost_get_a_new_one(store, monitor_config, pipeline_dsn):
    queue = QueueApp(pipeline_dsn)
    dispatcher = Dispatcher(store, queue)
    try:
        task, _ = store.create_task(
            parameters={"db_connection": "source:demo"}, data_root=monitor_config.data_root
        )
        store.queue_run(task.id, RunRequest().as_dict())  # queued, but no job was deferred
        _age(store, task.id, queued_at=60)
        monitor = Monitor(monitor_config, store, pipeline_dsn, dispatcher=dispatcher,
                          leader_lock=False)  # fmt: skip
        assert monitor.sweep().jobs_redeferred == [task.id]
        assert store.get_task(task.id).queue_job_id is not None
        assert monitor.sweep().jobs_redeferred == []  # it has a live job now
    finally:
        queue.close()
