"""Rows and tasks turned into the answers described by the models of ``schemas.py``.

Built as plain dicts because these are the hot paths (task detail, lists of 50 tasks, pages
of 1,000 log records): pydantic would double their cost. The tests validate every shape
against its model, so the OpenAPI document stays true.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from core.secrets import mask_secrets, mask_value
from data_pipeline.api.common import API_PREFIX, relative_folder, task_links
from data_pipeline.api.envelope import RawJSON
from data_pipeline.tasks.models import STEP_NAMES, Task
from data_pipeline.workflow.params import WorkflowParams
from data_pipeline.workflow.registry import STEP_TITLES

_PARAMETER_ORDER = list(WorkflowParams.model_fields)


def _iso(value: datetime | str | None) -> str | None:
    """ISO 8601 text (rows decoded from JSON carry it already)."""
    return value.isoformat() if isinstance(value, datetime) else value


def _seconds(value) -> float | None:
    return None if value is None else round(float(value), 3)


def task_summary(task: Task, queue_position: int | None = None) -> dict:
    """``schemas.TaskSummary`` (``queue_position``: a queued task's place, 1 = next)."""
    return {
        "task_id": task.id,
        "id": task.id,
        "task_name": task.task_name,
        "task_type": task.task_type,
        "status": task.status.value,
        "progress": task.progress,
        "current_step": task.current_step,
        "step_status": {s: task.step_status.get(s, "pending") for s in STEP_NAMES},
        "created_at": _iso(task.created_at),
        "started_at": _iso(task.started_at),
        "completed_at": _iso(task.completed_at),
        "updated_at": _iso(task.updated_at),
        "duration": task.duration_seconds,
        "created_by": task.created_by,
        "db_name": task.db_name,
        "error_message": task.error_message,
        "error_step": task.error_step,
        "queued_at": _iso(task.queued_at),
        "queue_position": queue_position if task.status.value == "queued" else None,
        "worker_name": task.worker_name,
    }


def step_details(task: Task, executions: list[dict]) -> list[dict]:
    """Per step (``schemas.StepDetail``): the status of the task row, and the times and error
    of the step's latest execution."""
    latest: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for row in executions:  # ordered by start time: the last one wins
        step = row["execution_step"]
        latest[step] = row
        counts[step] = counts.get(step, 0) + 1
    details = []
    for number, step in enumerate(STEP_NAMES, start=1):
        row = latest.get(step) or {}
        status = task.step_status.get(step, "pending")
        if status == "pending" and row.get("run_number") != task.run_number:
            row = {}  # an earlier run's figures are not this step's current state
        details.append(
            {
                "step": step,
                "number": number,
                "title": STEP_TITLES[step],
                "status": status,
                "started_at": _iso(row.get("started_at")),
                "completed_at": _iso(row.get("completed_at")),
                "duration": _seconds(row.get("duration_seconds")),
                "error_message": row.get("error_message"),
                "execution_id": row.get("execution_id"),
                "executions": counts.get(step, 0),
            }
        )
    return details


def _ordered(parameters: dict) -> dict:
    """Parameters in the documented order (JSONB keeps its own)."""
    known = [k for k in _PARAMETER_ORDER if k in parameters]
    return {k: parameters[k] for k in [*known, *sorted(set(parameters) - set(known))]}


def task_detail(
    task: Task,
    executions: list[dict],
    result_json: str | None = None,
    queue_position: int | None = None,
) -> dict:
    """``schemas.TaskDetail``; parameters with passwords masked. The run report is
    ``task.result``, or ``result_json`` (its JSON text) passed through as it is."""
    result = RawJSON(result_json) if result_json is not None else task.result
    return {
        **task_summary(task, queue_position),
        "business_context": task.business_context,
        "parameters": mask_value(_ordered(task.parameters or {})),
        "result": result,
        "output_directory": relative_folder(task),
        "step_details": step_details(task, executions),
        "run_number": task.run_number,
        "executor_pid": task.executor_pid,
        "executor_host": task.executor_host,
        "last_heartbeat_at": _iso(task.last_heartbeat_at),
        "links": task_links(task.id),
    }


def execution(row: dict) -> dict:
    """``schemas.Execution``."""
    return {
        "execution_id": row["execution_id"],
        "step": row["execution_step"],
        "status": row["status"],
        "started_at": _iso(row.get("started_at")),
        "completed_at": _iso(row.get("completed_at")),
        "duration": _seconds(row.get("duration_seconds")),
        "error_message": row.get("error_message"),
        "result": row.get("execution_result"),
        "force_executed": bool(row.get("force_executed")),
        "files_cleaned": bool(row.get("files_cleaned")),
        "executor_host": row.get("executor_host"),
        "executor_pid": row.get("executor_pid"),
        "worker_name": row.get("worker_name"),
    }


def log_record(row: dict) -> dict:
    """``schemas.LogRecord``, with every free-text part masked (answers may skip the
    envelope's own masking pass: ``ok(..., masked=True)``)."""
    extra = row.get("extra_data")
    return {
        "id": row["id"],
        "timestamp": row["timestamp"].isoformat(),
        "level": row["log_level"],
        "message": mask_secrets(row["message"]),
        "step": row.get("step_name"),
        "module": row.get("module_name"),
        "function": row.get("function_name"),
        "execution_id": row.get("execution_id"),
        "extra": mask_value(extra) if extra else {},
    }


def output_file(task_id: str, row: dict) -> dict:
    """``schemas.OutputFile``."""
    path = row["file_path"]
    return {
        "name": row["file_name"],
        "path": path,
        "type": row["file_type"],
        "size": int(row["file_size"] or 0),
        "sha256": row.get("content_hash"),
        "is_primary": bool(row.get("is_primary")),
        "is_downloadable": bool(row.get("is_downloadable", True)),
        "step": row.get("step_name"),
        "execution_id": row.get("execution_id"),
        "description": row.get("description"),
        "created_at": _iso(row.get("created_at")),
        "modified_at": _iso(row.get("modified_at")),
        "download_url": f"{API_PREFIX}/tasks/{task_id}/files/download/{quote(path)}",
    }
