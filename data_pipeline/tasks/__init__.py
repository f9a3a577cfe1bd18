"""Tasks: their model (ids, statuses, steps) and the store that owns the task tables."""

from data_pipeline.tasks.models import (
    STEP_NAMES,
    ExecutionStatus,
    StepStatus,
    Task,
    TaskStatus,
    step_name_of,
    validate_task_id,
)
from data_pipeline.tasks.store import TaskStore

__all__ = [
    "STEP_NAMES",
    "ExecutionStatus",
    "StepStatus",
    "Task",
    "TaskStatus",
    "TaskStore",
    "step_name_of",
    "validate_task_id",
]
