"""Task ids, statuses and steps, mirrored by the CHECK constraints in ``sql/migrations``."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from core.errors import InvalidInput

TASK_ID_PATTERN = re.compile(r"^(task|manual)_\d{8}_\d{6}(_[a-z0-9]{1,8})?$")
TASK_ID_MAX_LENGTH = 32

STEP_NAMES: tuple[str, ...] = ("ddl_generation", "qa_generation", "sql_validation", "training_load")


class TaskStatus(str, Enum):
    PENDING = "pending"
    QUEUED = "queued"  # waiting for a slot (MAX_CONCURRENT_TASKS) and a worker
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL_COMPLETED = "partial_completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def parse_filter(cls, value: str) -> TaskStatus:
        """A status from a client filter; the design's ``in_progress`` means ``running``."""
        if value == "in_progress":
            return cls.RUNNING
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise InvalidInput(
                f"unknown status {value!r}; allowed: {allowed}, in_progress",
                details={"status": value},
            ) from None

    @property
    def is_finished(self) -> bool:
        return self in FINISHED_STATUSES


FINISHED_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.PARTIAL_COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
)


class StepStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class ExecutionStatus(str, Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


def step_name_of(step: int | str) -> str:
    """Accept a step number 1-4 or a step name; return the step name."""
    if isinstance(step, bool):
        raise InvalidInput(f"invalid step {step!r}")
    if isinstance(step, int) or (isinstance(step, str) and step.isdigit()):
        n = int(step)
        if 1 <= n <= len(STEP_NAMES):
            return STEP_NAMES[n - 1]
        raise InvalidInput(f"step number must be 1-4, got {n}")
    if step in STEP_NAMES:
        return step
    raise InvalidInput(f"unknown step {step!r}; steps are 1-4 or {', '.join(STEP_NAMES)}")


def step_number_of(name: str) -> int:
    return STEP_NAMES.index(step_name_of(name)) + 1


def validate_task_id(task_id: Any) -> str:
    """Return the id when it is a well-formed task id; raise InvalidInput otherwise.

    Checked before an id is used for anything (disk paths, SQL, logs)."""
    if (
        not isinstance(task_id, str)
        or len(task_id) > TASK_ID_MAX_LENGTH
        or not TASK_ID_PATTERN.fullmatch(task_id)
    ):
        shown = repr(task_id)[:60]
        raise InvalidInput(
            f"invalid task id {shown}: expected task_YYYYMMDD_HHMMSS or manual_YYYYMMDD_HHMMSS "
            "with an optional _suffix of 1-8 lowercase letters or digits",
            details={"task_id": shown, "fields": [{"field": "task_id", "message": "malformed"}]},
        )
    return task_id


def make_task_id(prefix: str, now: datetime, *, suffix: bool = False) -> str:
    """``<prefix>_YYYYMMDD_HHMMSS`` with, when asked, a random 4-character suffix."""
    if prefix not in ("task", "manual"):
        raise ValueError(f"task id prefix must be task or manual, got {prefix!r}")
    base = f"{prefix}_{now:%Y%m%d_%H%M%S}"
    if suffix:
        alphabet = string.ascii_lowercase + string.digits
        base += "_" + "".join(secrets.choice(alphabet) for _ in range(4))
    return base


def make_execution_id(task_id: str, step: str, now: datetime) -> str:
    """``{task_id}_step_{step}_exec_{YYYYMMDD_HHMMSS}`` as the design names executions."""
    return f"{task_id}_step_{step}_exec_{now:%Y%m%d_%H%M%S}"


def default_step_status() -> dict[str, str]:
    return {name: StepStatus.PENDING.value for name in STEP_NAMES}


@dataclass
class Task:
    """One row of ``data_pipeline_tasks``."""

    id: str
    task_type: str
    status: TaskStatus
    parameters: dict
    step_status: dict = field(default_factory=default_step_status)
    task_name: str | None = None
    result: dict | None = None
    error_message: str | None = None
    error_step: str | None = None
    progress: int = 0
    current_step: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str = "api"
    output_directory: str | None = None
    db_name: str | None = None
    business_context: str | None = None
    executor_pid: int | None = None
    executor_host: str | None = None
    last_heartbeat_at: datetime | None = None
    queued_at: datetime | None = None
    queue_request: dict | None = None
    queue_job_id: int | None = None
    worker_name: str | None = None
    lost_retries: int = 0
    run_number: int | None = None  # the latest run's number (only where a query gives it)

    @classmethod
    def from_row(cls, row: dict) -> Task:
        data = dict(row)
        data["status"] = TaskStatus(data["status"])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.completed_at or datetime.now(self.started_at.tzinfo)
        return round((end - self.started_at).total_seconds(), 3)
