"""The task store: every query on the four task tables goes through this class.

Routes, the executor, the orchestrator and the monitor call these methods and get typed
objects back; the SQL lives in ``sql/queries/*.sql``. Status changes are guarded in SQL, so a
run that was cancelled or failed by the monitor stays so whatever a dying executor reports.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from psycopg2 import sql as pgsql
from psycopg2.extras import Json, execute_values

from core.db import Database
from core.errors import Conflict, InvalidInput
from core.secrets import mask_secrets
from core.sql_queries import query
from data_pipeline.tasks.models import (
    STEP_NAMES,
    ExecutionStatus,
    StepStatus,
    Task,
    TaskStatus,
    make_task_id,
)

logger = logging.getLogger(__name__)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SORTABLE_COLUMNS = {
    "created_at": "created_at",
    "started_at": "started_at",
    "completed_at": "completed_at",
    "updated_at": "updated_at",
    "status": "status",
    "task_name": "task_name",
    "progress": "progress",
    "id": "id",
}
# What a task list shows (list_tasks(summary=True)): no parameters, result or context.
SUMMARY_COLUMNS = (
    "id", "task_type", "task_name", "status", "step_status", "progress", "current_step",
    "created_at", "started_at", "completed_at", "updated_at", "created_by", "output_directory",
    "db_name", "error_message", "error_step", "queued_at", "worker_name",
)  # fmt: skip
_ID_ATTEMPTS = 20


def _any_of(value: str | Sequence[str] | None) -> list[str] | None:
    """A filter's accepted values: None (any) for no value, else a list of them."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    values = [v for v in values if v]
    return values or None


def _like(text: str | None) -> str | None:
    if text is None or text == "":
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json(value: Any) -> Json | None:
    return None if value is None else Json(value)


class TaskStore:
    """Repository of tasks, executions, log records and outputs."""

    def __init__(self, db: Database):
        self.db = db

    # Tasks ------------------------------------------------------------------------------
    def create_task(
        self,
        *,
        parameters: dict,
        data_root: Path,
        task_type: str = "data_workflow",
        task_name: str | None = None,
        created_by: str = "api",
        db_name: str | None = None,
        business_context: str | None = None,
        task_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Task, bool]:
        """Insert a pending task; return it and whether it was created now.

        The id is ``task_``/``manual_`` + the time; when another task took that second, a
        short random suffix is added, so concurrent creates always get distinct ids.
        With an ``idempotency_key`` seen before, the earlier task is returned instead.
        """
        prefix = "manual" if created_by == "manual" else "task"
        with self.db.transaction() as cur:
            if idempotency_key:
                cur.execute(query("lock_idempotency_key"), {"key": idempotency_key})
                cur.execute(query("get_idempotent_task"), {"key": idempotency_key})
                if row := cur.fetchone():
                    return Task.from_row(row), False
            now = datetime.now()
            for attempt in range(_ID_ATTEMPTS):
                candidate = task_id or make_task_id(prefix, now, suffix=attempt > 0)
                cur.execute(
                    query("insert_task"),
                    {
                        "id": candidate,
                        "task_type": task_type,
                        "task_name": task_name,
                        "parameters": Json(parameters),
                        "created_by": created_by,
                        "output_directory": str(Path(data_root) / candidate),
                        "db_name": db_name,
                        "business_context": business_context,
                    },
                )
                if row := cur.fetchone():
                    break
                if task_id:
                    raise Conflict(f"task {task_id} already exists", details={"task_id": task_id})
            else:  # pragma: no cover - 20 collisions of a 36^4 suffix
                raise Conflict("could not allocate a unique task id; try again")
            if idempotency_key:
                cur.execute(
                    query("insert_idempotency_key"),
                    {"key": idempotency_key, "task_id": row["id"]},
                )
            return Task.from_row(row), True

    def get_task(self, task_id: str) -> Task | None:
        row = self.db.fetch_one("get_task", {"id": task_id})
        return Task.from_row(row) if row else None

    def get_task_with_executions(self, task_id: str) -> tuple[Task | None, list[dict], str | None]:
        """A task, its executions and its run report, in one round trip (the API's detail).

        The task comes without ``result``: the report is returned as JSON text, so a caller
        that only passes it on need not decode and re-encode it. The executions are digests
        of ``list_executions`` rows (no ``execution_result``) decoded from JSON: their
        timestamps are ISO 8601 strings, not datetimes.
        """
        row = self.db.read_one("get_task_with_executions", {"id": task_id})
        if not row:
            return None, [], None
        executions = row.pop("executions") or []
        result_json = row.pop("result_json")
        return Task.from_row(row), executions, result_json

    def list_tasks(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        status: str | Sequence[str] | None = None,
        created_by: str | Sequence[str] | None = None,
        db_name: str | Sequence[str] | None = None,
        task_type: str | Sequence[str] | None = None,
        q: str | None = None,
        sort: str = "created_at",
        order: str = "desc",
        summary: bool = False,
    ) -> tuple[list[Task], int]:
        """A page of tasks and the total number matching the filters.

        ``status``, ``created_by``, ``db_name`` and ``task_type`` take one value or several
        (a task matching any of them).

        With ``summary`` the large columns (parameters, result, business context) are not
        read: the tasks come back with empty parameters (the API's task list).
        """
        if sort not in SORTABLE_COLUMNS:
            raise InvalidInput(
                f"cannot sort by {sort!r}; allowed: {', '.join(SORTABLE_COLUMNS)}",
                details={"sort": sort},
            )
        if order.lower() not in ("asc", "desc"):
            raise InvalidInput(
                f"order must be asc or desc, got {order!r}", details={"order": order}
            )
        statuses = _any_of(status)
        params = {
            "status": (
                sorted({TaskStatus.parse_filter(s).value for s in statuses}) if statuses else None
            ),
            "created_by": _any_of(created_by),
            "db_name": _any_of(db_name),
            "task_type": _any_of(task_type),
            "q": _like(q),
            "limit": limit,
            "offset": offset,
        }
        columns = pgsql.SQL("*")
        if summary:
            columns = pgsql.SQL(", ").join(
                [*map(pgsql.Identifier, SUMMARY_COLUMNS), pgsql.SQL("'{}'::jsonb AS parameters")]
            )
        statement = pgsql.SQL(query("list_tasks")).format(
            columns=columns,
            order_by=pgsql.Identifier(SORTABLE_COLUMNS[sort]),
            direction=pgsql.SQL("ASC" if order.lower() == "asc" else "DESC"),
        )
        with self.db.transaction() as cur:
            cur.execute(statement, params)
            rows = cur.fetchall()
            if rows:
                total = rows[0]["total_count"]
            else:
                cur.execute(query("count_tasks"), params)
                total = cur.fetchone()["total"]
        return [Task.from_row(r) for r in rows], int(total)

    def update_parameters(self, task_id: str, parameters: dict) -> Task:
        row = self.db.fetch_one(
            "update_task_parameters", {"id": task_id, "parameters": Json(parameters)}
        )
        if not row:
            raise Conflict(f"task {task_id} is running; its parameters cannot change now")
        return Task.from_row(row)

    def delete_task(self, task_id: str) -> Task | None:
        """Delete the task and (by cascade) its executions, logs and outputs."""
        row = self.db.fetch_one("delete_task", {"id": task_id})
        return Task.from_row(row) if row else None

    # Runs -------------------------------------------------------------------------------
    def start_run(
        self,
        task_id: str,
        *,
        steps: list[str] | None = None,
        max_running: int | None = None,
    ) -> Task:
        """Mark a task running for a new run, enforcing the concurrency limit atomically.

        Args:
            steps: the steps this run will execute; they go back to ``pending``.
            max_running: refuse (409) when this many tasks already run; None = no limit.
        """
        reset = {s: StepStatus.PENDING.value for s in (steps or [])}
        with self.db.transaction() as cur:
            cur.execute(query("lock_active_tasks"))
            if max_running is not None:
                cur.execute(query("count_running_tasks"))
                row = cur.fetchone()
                if row["n"] >= max_running:
                    raise Conflict(
                        f"a task is already running ({row['example']}); at most "
                        f"{max_running} may run at once",
                        details={"active_task_id": row["example"], "limit": max_running},
                    )
            cur.execute(query("start_run"), {"id": task_id, "step_status": Json(reset)})
            row = cur.fetchone()
            if not row:
                raise Conflict(f"task {task_id} is already running", details={"task_id": task_id})
            return Task.from_row(row)

    # The queue -------------------------------------------------------------------------
    def queue_run(self, task_id: str, request: dict, *, refuse_at: int | None = None) -> Task:
        """Put a run in the queue (``request``: what the run is, see
        :class:`data_pipeline.jobqueue.dispatch.RunRequest`); 409 when the task is running or
        queued already, or (``refuse_at``) when that many tasks run or wait already."""
        with self.db.transaction() as cur:
            cur.execute(query("lock_active_tasks"))
            if refuse_at is not None:
                cur.execute(query("count_active_tasks"))
                active = cur.fetchone()
                if active["n"] >= refuse_at:
                    raise Conflict(
                        f"a task is already running ({active['example']}); at most "
                        f"{refuse_at} may run at once",
                        details={"active_task_id": active["example"], "limit": refuse_at},
                    )
            cur.execute(query("queue_run"), {"id": task_id, "request": Json(request)})
            row = cur.fetchone()
        if not row:
            raise Conflict(
                f"task {task_id} is already running or queued", details={"task_id": task_id}
            )
        return Task.from_row(row)

    def set_queue_job(self, task_id: str, job_id: int) -> bool:
        return self.db.fetch_one("set_queue_job", {"id": task_id, "job_id": job_id}) is not None

    def claim_queued_run(
        self, task_id: str, *, worker: str, host: str, max_running: int
    ) -> tuple[str, Task | None]:
        """A worker's attempt to start a queued run, under the lock that serialises every start:
        ``("claimed", task)``; ``("wait", None)`` while the limit is reached or an older queued
        task is waiting for its slot; ``("gone", task or None)`` when the task is no longer
        queued (cancelled, deleted, taken)."""
        with self.db.transaction() as cur:
            cur.execute(query("lock_active_tasks"))
            cur.execute(query("get_task"), {"id": task_id})
            row = cur.fetchone()
            if row is None or row["status"] != "queued":
                return "gone", Task.from_row(row) if row else None
            cur.execute(query("count_running_tasks"))
            if cur.fetchone()["n"] >= max_running:
                return "wait", None
            cur.execute(query("queue_head"))
            head = cur.fetchone()
            if head is not None and head["id"] != task_id:
                return "wait", None
            request = row["queue_request"] or {}
            reset = {s: StepStatus.PENDING.value for s in request.get("steps") or []}
            cur.execute(
                query("claim_queued_run"),
                {"id": task_id, "host": host, "worker": worker, "step_status": Json(reset)},
            )
            return "claimed", Task.from_row(cur.fetchone())

    def queue_positions(self) -> dict[str, int]:
        """Queued task id → its place in the queue (1 = next)."""
        return {r["id"]: int(r["position"]) for r in self.db.fetch_all("queue_positions", {})}

    def queued_count(self) -> int:
        return int(self.db.read_one("count_queued_tasks", {})["n"])

    def queued_without_live_job(self, grace_seconds: float) -> list[Task]:
        rows = self.db.fetch_all("queued_without_live_job", {"grace_seconds": grace_seconds})
        return [Task.from_row(r) for r in rows]

    def fail_stalled_queue_jobs(self, seconds: float) -> list[int]:
        """Fail the queue jobs of workers silent for ``seconds``; their ids."""
        return [r["id"] for r in self.db.fetch_all("fail_stalled_queue_jobs", {"seconds": seconds})]

    def requeue_lost_run(self, task_id: str, message: str, max_retries: int) -> Task | None:
        """Queue a run lost with its worker again (at most ``max_retries`` times); its open
        executions are closed as failed with ``message``."""
        with self.db.transaction() as cur:
            cur.execute(
                query("requeue_lost_run"),
                {"id": task_id, "error_message": message, "max_retries": max_retries},
            )
            row = cur.fetchone()
            if row:
                cur.execute(
                    query("close_running_executions"),
                    {"task_id": task_id, "status": "failed", "error_message": message},
                )
        return Task.from_row(row) if row else None

    def claim_run(self, task_id: str, pid: int, host: str | None = None) -> Task | None:
        """The executor's claim on its run; None when the run is no longer wanted."""
        row = self.db.fetch_one(
            "claim_run", {"id": task_id, "pid": pid, "host": host or socket.gethostname()}
        )
        return Task.from_row(row) if row else None

    def record_launch(self, task_id: str, pid: int, host: str | None = None) -> bool:
        row = self.db.fetch_one(
            "record_launch", {"id": task_id, "pid": pid, "host": host or socket.gethostname()}
        )
        return row is not None

    def heartbeat(self, task_id: str, pid: int) -> bool:
        """Refresh the heartbeat; False means the run is no longer ours (cancelled, failed)."""
        return self.db.fetch_one("heartbeat", {"id": task_id, "pid": pid}) is not None

    def update_progress(self, task_id: str, progress: int, current_step: str | None = None) -> int:
        row = self.db.fetch_one(
            "update_progress",
            {
                "id": task_id,
                "progress": max(0, min(100, int(progress))),
                "current_step": current_step,
            },
        )
        return row["progress"] if row else -1

    def set_step_status(
        self, task_id: str, step: str, status: StepStatus | str, *, guarded: bool = True
    ) -> bool:
        if step not in STEP_NAMES:
            raise ValueError(f"unknown step {step!r}")
        row = self.db.fetch_one(
            "set_step_status",
            {"id": task_id, "step": step, "status": StepStatus(status).value, "guarded": guarded},
        )
        return row is not None

    def set_step_statuses(self, task_id: str, statuses: dict[str, str]) -> None:
        self.db.execute("set_step_statuses", {"id": task_id, "step_status": Json(statuses)})

    def finish_run(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        result: dict | None = None,
        error_message: str | None = None,
        error_step: str | None = None,
        pid: int | None = None,
    ) -> Task | None:
        """End a run with its outcome; None when it had already ended (cancel, monitor).

        A run that did not complete also closes its open executions, in the same transaction.
        """
        status = TaskStatus(status)
        params = {
            "id": task_id,
            "status": status.value,
            "result": _json(result),
            "error_message": mask_secrets(error_message) if error_message else None,
            "error_step": error_step,
            "pid": pid,
        }
        closing = None
        if status == TaskStatus.FAILED:
            closing = ExecutionStatus.FAILED
        elif status == TaskStatus.CANCELLED:
            closing = ExecutionStatus.CANCELLED
        return self._end_run("finish_run", params, closing, error_message)

    def fail_running_task(self, task_id: str, message: str) -> Task | None:
        """Fail a run that is still running (monitor, launch failure); guarded."""
        params = {"id": task_id, "error_message": mask_secrets(message)}
        return self._end_run("fail_running_task", params, ExecutionStatus.FAILED, message)

    def cancel_task(self, task_id: str, message: str | None = None) -> Task | None:
        """Mark a pending or running task cancelled; None when it was not active."""
        params = {"id": task_id, "error_message": message}
        return self._end_run(
            "cancel_task", params, ExecutionStatus.CANCELLED, message or "cancelled"
        )

    def _end_run(
        self,
        statement: str,
        params: dict,
        closing: ExecutionStatus | None,
        message: str | None,
    ) -> Task | None:
        """One status change that ends a run, and the closing of its open executions, in one
        transaction: an outage between the two can never leave executions ``running`` under
        a finished task."""
        with self.db.transaction() as cur:
            cur.execute(query(statement), params)
            row = cur.fetchone()
            if row and closing is not None:
                cur.execute(
                    query("close_running_executions"),
                    {
                        "task_id": params["id"],
                        "status": closing.value,
                        "error_message": mask_secrets(message) if message else None,
                    },
                )
        return Task.from_row(row) if row else None

    def active_tasks(self) -> list[Task]:
        return [Task.from_row(r) for r in self.db.fetch_all("active_tasks")]

    def zombie_candidates(self, heartbeat_timeout_seconds: float) -> list[Task]:
        rows = self.db.fetch_all(
            "zombie_candidates", {"timeout_seconds": heartbeat_timeout_seconds}
        )
        return [Task.from_row(r) for r in rows]

    def overdue_runs(self, max_seconds: float) -> list[Task]:
        return [
            Task.from_row(r)
            for r in self.db.fetch_all("overdue_runs", {"max_seconds": max_seconds})
        ]

    def apply_retention(self, days: int) -> list[tuple[str, str | None]]:
        """Delete finished tasks older than ``days``; return (id, folder) of each."""
        rows = self.db.fetch_all("apply_retention", {"days": days})
        return [(r["task_id"], r["output_directory"]) for r in rows]

    def apply_log_retention(self, days: int) -> int:
        return int(self.db.fetch_one("apply_log_retention", {"days": days})["deleted"])

    def creators(self) -> set[str]:
        """Every ``created_by`` value that has tasks."""
        return {row["created_by"] for row in self.db.fetch_all("task_creators")}

    def count_by_status(self) -> dict[str, int]:
        counts = {s.value: 0 for s in TaskStatus}
        for row in self.db.fetch_all("count_tasks_by_status"):
            counts[row["status"]] = int(row["n"])
        return counts

    # Executions -------------------------------------------------------------------------
    def create_execution(
        self,
        task_id: str,
        step: str,
        execution_id: str,
        *,
        status: ExecutionStatus = ExecutionStatus.RUNNING,
        force: bool = False,
        files_cleaned: bool = False,
    ) -> dict:
        """Insert an execution row; a clash on the id (same second) gets a numeric suffix."""
        base = execution_id
        for n in range(1, 50):
            with self.db.transaction() as cur:
                cur.execute("SAVEPOINT ins")
                try:
                    cur.execute(
                        query("insert_execution"),
                        {
                            "task_id": task_id,
                            "step": step,
                            "status": ExecutionStatus(status).value,
                            "execution_id": execution_id,
                            "force": force,
                            "files_cleaned": files_cleaned,
                        },
                    )
                    return dict(cur.fetchone())
                except Exception as exc:  # unique violation -> try the next suffix
                    if getattr(exc, "pgcode", None) != "23505":
                        raise
                    cur.execute("ROLLBACK TO SAVEPOINT ins")
            execution_id = f"{base}_{n}"
        raise Conflict(f"could not allocate an execution id from {base}")

    def complete_execution(
        self,
        execution_id: str,
        status: ExecutionStatus,
        *,
        result: dict | None = None,
        error_message: str | None = None,
    ) -> dict | None:
        row = self.db.fetch_one(
            "complete_execution",
            {
                "execution_id": execution_id,
                "status": ExecutionStatus(status).value,
                "result": _json(result),
                "error_message": mask_secrets(error_message) if error_message else None,
            },
        )
        return dict(row) if row else None

    def list_executions(self, task_id: str) -> list[dict]:
        return [dict(r) for r in self.db.fetch_all("list_executions", {"task_id": task_id})]

    def list_runs(self, task_id: str, limit: int = 100) -> list[dict]:
        """The task's runs, newest first (without their reports), each with its executions."""
        rows = self.db.fetch_all("list_runs", {"task_id": task_id, "limit": limit})
        return [dict(r) for r in rows]

    def get_run(self, task_id: str, run_number: int) -> dict | None:
        """One run of the task with its report and its executions' summaries."""
        row = self.db.read_one("get_run", {"task_id": task_id, "run_number": run_number})
        return dict(row) if row else None

    def get_execution(self, execution_id: str) -> dict | None:
        row = self.db.fetch_one("get_execution", {"execution_id": execution_id})
        return dict(row) if row else None

    def step_durations(self) -> list[dict]:
        return [dict(r) for r in self.db.fetch_all("step_durations")]

    # Logs -------------------------------------------------------------------------------
    def insert_logs(self, records: list[dict]) -> int:
        """Insert log records in one statement. Each record: task_id, level, message and
        optionally execution_id, step, module, function, timestamp, extra."""
        if not records:
            return 0
        now = datetime.now(timezone.utc)
        rows = [
            (
                r["task_id"],
                r.get("execution_id"),
                r.get("level", "INFO"),
                mask_secrets(str(r["message"])),
                r.get("step"),
                (r.get("module") or "")[:100] or None,
                (r.get("function") or "")[:100] or None,
                r.get("timestamp") or now,
                Json(r.get("extra") or {}),
            )
            for r in records
        ]
        with self.db.transaction(dict_rows=False) as cur:
            exec_ids = list({row[1] for row in rows if row[1]})
            if exec_ids:
                # A record may name an execution that was deleted meanwhile: keep the record.
                cur.execute(query("existing_execution_ids"), {"ids": exec_ids})
                known = {r[0] for r in cur.fetchall()}
                rows = [
                    row if not row[1] or row[1] in known else (row[0], None, *row[2:])
                    for row in rows
                ]
            execute_values(cur, query("insert_logs"), rows, page_size=1000)
        return len(rows)

    def query_logs(
        self,
        task_id: str,
        *,
        level: str | None = None,
        step: str | None = None,
        q: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_id: int | None = None,
        limit: int = 100,
        order: str = "asc",
    ) -> list[dict]:
        """Log records of a task; ``level`` is a minimum; ``after_id`` a cursor in ``order``."""
        if level is not None:
            level = level.upper()
            if level not in LOG_LEVELS:
                raise InvalidInput(
                    f"unknown level {level!r}; allowed: {', '.join(LOG_LEVELS)}",
                    details={"level": level},
                )
            levels = list(LOG_LEVELS[LOG_LEVELS.index(level) :])
        else:
            levels = list(LOG_LEVELS)
        if order.lower() not in ("asc", "desc"):
            raise InvalidInput(
                f"order must be asc or desc, got {order!r}", details={"order": order}
            )
        descending = order.lower() == "desc"
        statement = pgsql.SQL(query("query_logs")).format(
            direction=pgsql.SQL("DESC" if descending else "ASC")
        )
        params = {
            "task_id": task_id,
            "levels": levels,
            "step": step,
            "q": _like(q),
            "since": since,
            "until": until,
            "after_id": after_id,
            "descending": descending,
            "limit": limit,
        }
        with self.db.transaction() as cur:
            cur.execute(statement, params)
            return [dict(r) for r in cur.fetchall()]

    def count_logs(self, task_id: str) -> int:
        return int(self.db.fetch_one("count_logs", {"task_id": task_id})["total"])

    # Outputs ----------------------------------------------------------------------------
    def upsert_output(
        self,
        task_id: str,
        *,
        file_path: str,
        file_type: str,
        file_size: int,
        content_hash: str | None,
        modified_at: datetime,
        execution_id: str | None = None,
        step_name: str | None = None,
        description: str | None = None,
        is_primary: bool = False,
        is_downloadable: bool = True,
    ) -> dict:
        row = self.db.fetch_one(
            "upsert_output",
            {
                "task_id": task_id,
                "execution_id": execution_id,
                "step_name": step_name,
                "file_type": file_type,
                "file_name": Path(file_path).name,
                "file_path": file_path,
                "file_size": file_size,
                "content_hash": content_hash,
                "description": description,
                "is_primary": is_primary,
                "is_downloadable": is_downloadable,
                "modified_at": modified_at,
            },
        )
        return dict(row)

    def list_outputs(self, task_id: str) -> list[dict]:
        return [dict(r) for r in self.db.fetch_all("list_outputs", {"task_id": task_id})]

    def delete_outputs(self, task_id: str, paths: list[str]) -> int:
        rows = self.db.fetch_all("delete_outputs_by_paths", {"task_id": task_id, "paths": paths})
        return len(rows)
