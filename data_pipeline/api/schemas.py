"""Request and response models of the REST API (pydantic); the OpenAPI document is built
from them, so what is documented is what is validated and returned."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from data_pipeline.tasks.models import STEP_NAMES, ExecutionStatus, StepStatus, TaskStatus
from data_pipeline.workflow.params import WorkflowParams

StepName = Literal["ddl_generation", "qa_generation", "sql_validation", "training_load"]
assert STEP_NAMES == StepName.__args__  # type: ignore[attr-defined]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Query(BaseModel):
    # Unknown and repeated parameters are refused before a route runs (by what the OpenAPI
    # document declares: openapi.check_query_string); access_token and "_" pass through.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


# Requests ------------------------------------------------------------------------------
class CreateTaskRequest(_Request):
    """Body of ``POST /tasks``."""

    task_type: Literal["data_workflow"] = "data_workflow"
    task_name: str | None = Field(default=None, max_length=200)
    parameters: WorkflowParams
    start: bool = Field(
        default=True, description="false: create only (e.g. to upload a table list first)"
    )
    queue: bool = Field(
        default=True,
        description="false: 409 instead of waiting in the queue when MAX_CONCURRENT_TASKS run",
    )


class ExecuteRequest(_Request):
    """Body of ``POST /tasks/<id>/execute``: the whole workflow or one step."""

    execution_mode: Literal["complete", "single"] | None = None
    single_step: int | None = Field(default=None, ge=1, le=4)
    step_name: StepName | None = None
    force: bool = Field(default=False, description="run a step again that already completed")
    clean: bool = Field(default=False, description="remove the step's earlier outputs first")
    start_step: int | None = Field(
        default=None,
        ge=1,
        le=4,
        description="resume: the workflow from this step to the task's end step (complete "
        "mode; e.g. the step a failed or cancelled run stopped at)",
    )
    queue: bool = Field(
        default=True,
        description="false: 409 instead of waiting in the queue when MAX_CONCURRENT_TASKS run",
    )

    @model_validator(mode="after")
    def _mode_rules(self) -> ExecuteRequest:
        both = self.single_step is not None and self.step_name is not None
        if both and STEP_NAMES[self.single_step - 1] != self.step_name:
            raise ValueError("single_step and step_name name different steps")
        has_step = self.single_step is not None or self.step_name is not None
        if self.start_step is not None and (has_step or self.execution_mode == "single"):
            raise ValueError("start_step resumes the whole workflow: not with a single step")
        if self.execution_mode is None:
            self.execution_mode = "single" if has_step else "complete"
        if self.execution_mode == "single" and not has_step:
            raise ValueError("execution_mode 'single' needs single_step (1-4) or step_name")
        if self.execution_mode == "complete" and has_step:
            raise ValueError("single_step/step_name are only valid with execution_mode 'single'")
        return self

    @property
    def step(self) -> str | None:
        if self.step_name:
            return self.step_name
        return STEP_NAMES[self.single_step - 1] if self.single_step else None


class TableListRequest(_Request):
    """Body of ``POST /tasks/<id>/table-list`` as JSON (a ``.txt`` upload is the other way)."""

    tables: list[str] = Field(min_length=1, max_length=5000)


PG_BIGINT_MAX = 2**63 - 1  # the largest id a bigint column holds


StatusFilter = Literal[
    "pending", "queued", "running", "completed", "partial_completed", "failed", "cancelled",
    "in_progress",
]  # fmt: skip
assert set(StatusFilter.__args__) == {s.value for s in TaskStatus} | {"in_progress"}  # type: ignore[attr-defined]
Creator = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")]


class TaskListQuery(_Query):
    """Filters of ``GET /tasks``; ``status``, ``created_by``, ``db_name`` and ``task_type`` may
    be repeated (``?status=completed&status=failed``: either)."""

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)
    status: list[StatusFilter] | None = Field(
        default=None, max_length=10, description="in_progress means running"
    )
    created_by: list[Creator] | None = Field(
        default=None, max_length=20, description="who created it"
    )
    db_name: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=20)
    task_type: list[Annotated[str, Field(max_length=50)]] | None = Field(
        default=None, max_length=10
    )
    q: str | None = Field(default=None, max_length=200)
    sort: Literal[
        "created_at", "started_at", "completed_at", "updated_at", "status", "task_name",
        "progress", "id",
    ] = "created_at"  # fmt: skip
    order: Literal["asc", "desc"] = "desc"


class LogQuery(_Query):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = Field(
        default=None, description="minimum level"
    )
    step: StepName | None = None
    q: str | None = Field(default=None, max_length=200)
    since: datetime | None = Field(default=None, description="ISO 8601")
    until: datetime | None = Field(default=None, description="ISO 8601")
    after_id: int | None = Field(
        default=None, ge=0, le=PG_BIGINT_MAX, description="cursor: records after this id"
    )
    limit: int = Field(default=100, ge=1, le=1000)
    order: Literal["asc", "desc"] = "asc"

    @model_validator(mode="before")
    @classmethod
    def _upper_level(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("level"), str):
            data = {**data, "level": data["level"].strip().upper()}
        return data


class DeleteQuery(_Query):
    force: bool = Field(default=False, description="cancel a running task first")
    purge_training_data: bool = Field(
        default=False, description="also remove the vectors this task loaded"
    )


# Responses -----------------------------------------------------------------------------
class _Response(BaseModel):
    # What the API returns, exactly: the tests validate real answers against these.
    model_config = ConfigDict(extra="forbid")


class Links(_Response):
    self: str
    logs: str | None = None
    stream: str | None = None
    files: str | None = None
    executions: str | None = None


class StepDetail(_Response):
    step: StepName
    number: int
    title: str
    status: StepStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration: float | None = Field(default=None, description="seconds")
    error_message: str | None = None
    execution_id: str | None = None
    executions: int = 0


class TaskSummary(_Response):
    task_id: str
    id: str
    task_name: str | None = None
    task_type: str
    status: TaskStatus
    progress: int
    current_step: str | None = None
    step_status: dict[str, StepStatus]
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    duration: float | None = Field(default=None, description="seconds")
    created_by: str
    db_name: str | None = None
    error_message: str | None = None
    error_step: str | None = None
    queued_at: datetime | None = None
    queue_position: int | None = Field(default=None, description="a queued task's place (1 = next)")
    worker_name: str | None = Field(default=None, description="the worker that runs (ran) it")


class TaskDetail(TaskSummary):
    business_context: str | None = None
    parameters: dict[str, Any]
    result: dict[str, Any] | None = None
    output_directory: str | None = Field(default=None, description="relative to the data root")
    step_details: list[StepDetail]
    run_number: int | None = Field(
        default=None, description="the latest run (GET /tasks/<id>/runs lists every one)"
    )
    executor_pid: int | None = None
    executor_host: str | None = None
    last_heartbeat_at: datetime | None = None
    links: Links


class TaskPage(_Response):
    items: list[TaskSummary]
    total: int
    limit: int
    offset: int


class CreateTaskResponse(_Response):
    task_id: str
    status: TaskStatus
    created: bool = Field(description="false when an Idempotency-Key named an earlier task")
    output_directory: str | None = None
    executor_pid: int | None = None
    queue_position: int | None = None
    links: Links


class ExecuteResponse(_Response):
    task_id: str
    status: TaskStatus
    execution_mode: str
    steps: list[StepName]
    execution_id: str | None = Field(
        description="id of the run's first execution (null if the executor had not recorded "
        "it within 3 s: see /executions)"
    )
    executor_pid: int | None = Field(description="null while the run waits in the queue")
    queue_position: int | None = None
    links: Links


class CancelResponse(_Response):
    task_id: str
    status: TaskStatus
    executor_pid: int | None = None
    grace_seconds: float


class Execution(_Response):
    execution_id: str
    step: str
    status: ExecutionStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration: float | None = None
    error_message: str | None = None
    result: dict[str, Any] | None = None
    force_executed: bool = False
    files_cleaned: bool = False
    executor_host: str | None = None
    executor_pid: int | None = None
    worker_name: str | None = None


class ExecutionList(_Response):
    task_id: str
    executions: list[Execution]


class TableListOut(_Response):
    task_id: str
    file: str | None = Field(description="the file in the task folder; null for an inline list")
    text: str
    tables: list[str]
    count: int
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="line errors of a list file edited by hand"
    )


class LogRecord(_Response):
    id: int
    timestamp: datetime
    level: str
    message: str
    step: str | None = None
    module: str | None = None
    function: str | None = None
    execution_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class LogPage(_Response):
    task_id: str
    records: list[LogRecord]
    count: int
    next_cursor: int | None = Field(description="pass as after_id for the next page")
    has_more: bool


class OutputFile(_Response):
    name: str
    path: str = Field(description="relative to the task folder")
    type: str
    size: int
    sha256: str | None = None
    is_primary: bool
    is_downloadable: bool
    step: str | None = None
    execution_id: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    download_url: str


class FileList(_Response):
    task_id: str
    files: list[OutputFile]
    count: int
    total_size: int


class DeleteResponse(_Response):
    task_id: str
    cancelled: bool
    rows: dict[str, int]
    folder_removed: str | None = None
    files_removed: int
    training_data_removed: dict[str, int] | None = Field(
        default=None, description="vectors removed per collection (purge_training_data=true)"
    )
    training_data_kept_shared: int | None = Field(
        default=None, description="vectors kept because another task loaded them too"
    )


class Source(_Response):
    name: str
    reference: str = Field(description='use as "db_connection"')
    database: str | None = None
    host: str | None = Field(default=None, description='network host, or "local" (a socket)')


class SourceTable(_Response):
    schema_name: str = Field(alias="schema")
    name: str
    qualified_name: str
    kind: str
    comment: str | None = None
    estimated_rows: int | None = None


class Caller(_Response):
    name: str = Field(description='the token\'s name ("anonymous" when the API is open)')
    role: Literal["viewer", "operator", "admin"]
    authenticated: bool


class SourceList(_Response):
    sources: list[Source]
    count: int


class SourceTables(_Response):
    source: str
    database: str | None
    tables: list[SourceTable]
    count: int


class FieldError(BaseModel):
    """One problem of a 400: the field (a body path such as ``parameters.table_list[1]``, a
    query parameter, a header such as ``Idempotency-Key``, a path part, or ``body`` /
    ``request`` for the whole) and what is wrong with it."""

    model_config = ConfigDict(extra="allow")
    field: str
    message: str


class ErrorDetails(BaseModel):
    """``fields`` is always there on a 400; other keys depend on the error."""

    model_config = ConfigDict(extra="allow")
    fields: list[FieldError] | None = None


class ErrorBody(BaseModel):
    type: str = Field(description="invalid_input, unauthorized, forbidden, not_found, conflict, …")
    details: ErrorDetails = Field(default_factory=ErrorDetails)


class Envelope(BaseModel):
    """Every answer: ``data`` on success, ``error`` on failure."""

    success: bool
    code: int
    message: str
    data: Any = None
    error: ErrorBody | None = None


class ErrorEnvelope(Envelope):
    """A refused or failed request (``success`` false, ``data`` null)."""

    success: Literal[False] = False
    data: None = None
    error: ErrorBody
