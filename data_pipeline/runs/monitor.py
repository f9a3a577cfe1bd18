"""The monitor: settles runs nobody else will settle.

Every ``monitor_interval_seconds`` it fails zombie runs (no heartbeat for longer than the
timeout and no process: "worker NAME lost" when the run's worker took it, or queues such a run
again once with ``RETRY_LOST_RUNS``), kills and fails runs older than ``task_timeout_hours``,
gives queued tasks whose job was lost a new one, and applies retention to finished tasks (rows,
log rows and task folders inside the data root).

It runs as a periodic job of the workers (:mod:`data_pipeline.jobqueue.worker`): procrastinate
defers it once per period however many workers there are. ``start()`` runs it in a thread
instead, led by one process among those sharing the pipeline database (a PostgreSQL advisory
lock held on a dedicated connection).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg2

from app_config import Config
from data_pipeline.runs.launcher import HOSTNAME, Launcher, is_our_executor, stop_executor
from data_pipeline.tasks.folders import safe_task_folder
from data_pipeline.tasks.models import Task
from data_pipeline.tasks.store import TaskStore

logger = logging.getLogger(__name__)

# Key of the session-level advisory lock that makes one API process the monitor's leader.
LEADER_LOCK_KEY = 4_729_113_508


@dataclass
class SweepReport:
    """What one sweep did (returned for tests and logged)."""

    leader: bool = False
    zombies: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    jobs_redeferred: list[str] = field(default_factory=list)
    retention_tasks: list[str] = field(default_factory=list)
    folders_removed: list[str] = field(default_factory=list)
    log_rows_removed: int = 0


class Monitor:
    """Periodic sweeps in a daemon thread; ``sweep()`` can also be called directly."""

    def __init__(
        self,
        config: Config,
        store: TaskStore,
        dsn: str,
        *,
        launcher: Launcher | None = None,
        dispatcher=None,
        leader_lock: bool = True,
        output_store=None,
    ):
        self.config = config
        self.store = store
        self.dsn = dsn
        self.launcher = launcher
        self.dispatcher = dispatcher  # data_pipeline.jobqueue.dispatch.Dispatcher, to heal jobs
        self.leader_lock = leader_lock
        self.output_store = output_store  # copies of outputs, removed with their task
        self._lock_conn = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # Leadership -------------------------------------------------------------------------
    def _is_leader(self) -> bool:
        """Hold (or try to take) the advisory lock; False while another process holds it."""
        if self._lock_conn is not None:
            try:
                with self._lock_conn.cursor() as cur:
                    cur.execute("SELECT 1")
                return True
            except psycopg2.Error:
                logger.warning("monitor lost its leader connection; will try to lead again")
                self._release()
        try:
            conn = psycopg2.connect(
                self.dsn, connect_timeout=5, application_name="data_pipeline_monitor"
            )
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,))
                got = cur.fetchone()[0]
        except psycopg2.Error as exc:
            logger.warning("monitor cannot reach the pipeline database: %s", type(exc).__name__)
            return False
        if not got:
            conn.close()
            return False
        self._lock_conn = conn
        logger.info("monitor: this process (host %s) leads", HOSTNAME)
        return True

    def _release(self) -> None:
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                self._lock_conn.close()
            self._lock_conn = None

    # Sweeps -----------------------------------------------------------------------------
    def sweep(self) -> SweepReport:
        """One pass: zombies, time-outs, retention (only when leading)."""
        report = SweepReport(leader=self._is_leader() if self.leader_lock else True)
        if not report.leader:
            return report
        for name, job in (
            ("zombies", self._fail_zombies),
            ("timeouts", self._kill_overdue),
            ("queue", self._heal_queue),
            ("retention", self._apply_retention),
        ):
            try:
                job(report)
            except Exception:  # one failing job must not stop the others or the thread
                logger.exception("monitor: %s check failed", name)
        return report

    def _fail_zombies(self, report: SweepReport) -> None:
        timeout = self.config.heartbeat_timeout_seconds
        for task in self.store.zombie_candidates(timeout):
            if task.executor_host in (None, HOSTNAME) and is_our_executor(
                task.executor_pid, task.id
            ):
                # Alive but silent (e.g. a long pause): on this host we can tell; leave it.
                logger.warning(
                    "task %s: no heartbeat for %.0f s but executor %s still runs",
                    task.id,
                    _silence(task),
                    task.executor_pid,
                )
                continue
            message = _zombie_message(task)
            retries = self.config.retry_lost_runs
            if task.worker_name and task.lost_retries < retries:
                again = self.store.requeue_lost_run(task.id, message, retries)
                if again is not None:
                    logger.warning("task %s queued again: %s", task.id, message)
                    if self.dispatcher is not None:
                        self.dispatcher.defer(again)
                    report.requeued.append(task.id)
                    continue
            if self.store.fail_running_task(task.id, message):
                logger.warning("task %s failed by the monitor: %s", task.id, message)
                report.zombies.append(task.id)

    def _heal_queue(self, report: SweepReport) -> None:
        """Jobs held by lost workers fail; queued tasks whose job is gone (a lost defer, a
        worker lost holding it) get a new one."""
        if self.dispatcher is None:
            return
        stalled = self.store.fail_stalled_queue_jobs(self.config.heartbeat_timeout_seconds)
        if stalled:
            logger.warning("queue: %d job(s) of lost workers failed: %s", len(stalled), stalled)
        grace = max(2.0, 2 * self.config.monitor_interval_seconds)
        for task in self.store.queued_without_live_job(grace):
            if self.dispatcher.defer(task) is not None:
                logger.info("task %s: queued without a job; deferred a new one", task.id)
                report.jobs_redeferred.append(task.id)

    def _kill_overdue(self, report: SweepReport) -> None:
        hours = self.config.task_timeout_hours
        for task in self.store.overdue_runs(hours * 3600):
            message = f"timed out after {_hours(hours)} (TASK_TIMEOUT_HOURS); the run was stopped"
            # Fail first so the dying executor cannot report anything else.
            if self.store.fail_running_task(task.id, message):
                stop_executor(task, self.config.cancel_grace_seconds, launcher=self.launcher)
                logger.warning("task %s: %s", task.id, message)
                report.timed_out.append(task.id)

    def _apply_retention(self, report: SweepReport) -> None:
        root = Path(self.config.data_root).resolve()
        for task_id, folder in self.store.apply_retention(self.config.file_retention_days):
            report.retention_tasks.append(task_id)
            if self.output_store is not None:  # the database's copies went with the rows
                try:
                    self.output_store.delete_task(task_id)
                except Exception:
                    logger.exception("retention: copies of %s not removed", task_id)
            path = safe_task_folder(root, task_id, folder)
            if path is not None and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                report.folders_removed.append(str(path))
        report.log_rows_removed = self.store.apply_log_retention(self.config.log_retention_days)
        if report.retention_tasks or report.log_rows_removed:
            logger.info(
                "retention: %d finished tasks removed (%d folders), %d log rows removed",
                len(report.retention_tasks),
                len(report.folders_removed),
                report.log_rows_removed,
            )

    # Thread -----------------------------------------------------------------------------
    def start(self) -> None:
        """Sweep once now (settles runs orphaned by a crash), then every interval."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="data-pipeline-monitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:
                logger.exception("monitor sweep failed")
            self._stop.wait(self.config.monitor_interval_seconds)
        self._release()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._release()


def _silence(task: Task) -> float:
    last = task.last_heartbeat_at or task.started_at or task.created_at
    if last is None:
        return 0.0
    return (datetime.now(timezone.utc) - last).total_seconds()


def _zombie_message(task: Task) -> str:
    silence = f"no heartbeat for {_silence(task):.0f} s"
    if task.worker_name and task.executor_host not in (None, HOSTNAME):
        # Nothing on this host can tell the process is gone: its worker is lost with it.
        host = task.executor_host
        return f"worker {task.worker_name} lost: its executor on host {host} is silent ({silence})"
    who = (
        f"executor process {task.executor_pid} on host {task.executor_host or HOSTNAME}"
        if task.executor_pid
        else "the executor process (it never started)"
    )
    if task.worker_name:
        return f"worker {task.worker_name} lost: {who} is gone ({silence})"
    return f"{who} is gone ({silence})"


def _hours(hours: float) -> str:
    if hours >= 1 and float(hours).is_integer():
        return f"{int(hours)} h"
    if hours >= 1:
        return f"{hours:g} h"
    return f"{hours * 60:g} min"
