"""Run history of a task: ``GET /tasks/<task_id>/runs`` and ``/runs/<run_number>``.

Every run is kept (``data_pipeline_task_runs``, recorded by triggers in the same transaction
as the task's status changes): what was asked, by whom, the parameters it ran with, its steps'
executions, times, outcome, warnings and report. The task row itself shows the latest run.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidInput, NotFound
from core.secrets import mask_value
from data_pipeline.api.common import load_task, query_args, store
from data_pipeline.api.envelope import ok

bp = Blueprint("runs", __name__)
_RUN_NUMBER = re.compile(r"^[1-9][0-9]{0,8}$")


class RunListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(default=50, ge=1, le=500)


class RunExecution(BaseModel):
    execution_id: str
    step: str
    status: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration: float | None = None
    error_message: str | None = None
    result: dict[str, Any] | None = None


class Run(BaseModel):
    task_id: str
    run_number: int
    status: str = Field(description="queued, running, completed, partial_completed, failed, "
                        "cancelled")  # fmt: skip
    request: dict[str, Any] | None = Field(
        default=None, description="what was asked: execution_mode, step_name, start_step, force"
    )
    parameters: dict[str, Any] = Field(description="the parameters it ran with (masked)")
    requested_by: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    step_status: dict[str, str] | None = None
    warnings: list[str] | None = None
    error_message: str | None = None
    error_step: str | None = None
    worker_name: str | None = None
    executor_host: str | None = None
    executions: list[RunExecution]
    result: dict[str, Any] | None = Field(default=None, description="the run's report (detail)")


class RunList(BaseModel):
    task_id: str
    runs: list[Run]


def mask_run(row: dict) -> dict:
    """A run row as the API shows it: times in ISO 8601, connection strings and secrets
    masked."""
    shown = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
    return mask_value(shown)


def _run_number(text: str) -> int:
    if not _RUN_NUMBER.match(text or ""):
        raise InvalidInput(
            f"invalid run number {text[:40]!r}: a positive whole number",
            details={"fields": [{"field": "run_number", "message": "a positive whole number"}]},
        )
    return int(text)


@bp.get("/tasks/<task_id>/runs")
def list_runs(task_id: str):
    """Every run of the task, newest first (without reports), with its executions."""
    task = load_task(task_id)
    args = query_args(RunListQuery)
    runs = [mask_run(r) for r in store().list_runs(task.id, args.limit)]
    return ok({"task_id": task.id, "runs": runs})


@bp.get("/tasks/<task_id>/runs/<run_number>")
def get_run(task_id: str, run_number: str):
    """One run of the task with its report."""
    task = load_task(task_id)
    number = _run_number(run_number)
    row = store().get_run(task.id, number)
    if row is None:
        raise NotFound(f"task {task.id} has no run {number}")
    return ok(mask_run(row))


OPENAPI_ROUTES: list[tuple] = [
    ("get", "/tasks/{task_id}/runs", "Every run of the task, newest first", None, RunListQuery,
     RunList, (400, 404)),
    ("get", "/tasks/{task_id}/runs/{run_number}", "One run with its report", None, None, Run,
     (400, 404)),
]  # fmt: skip
