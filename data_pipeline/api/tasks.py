"""Task routes: create (and start), list, active, detail, execute, cancel, executions."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime

from flask import Blueprint, current_app, request

from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PipelineError,
    SourceUnavailable,
    Unprocessable,
)
from data_pipeline.api import schemas, serializers
from data_pipeline.api.auth import current_caller
from data_pipeline.api.common import (
    config,
    dispatcher,
    field_error,
    folder_for_new_run,
    json_body,
    launcher,
    load_task,
    query_args,
    relative_folder,
    runtime,
    store,
    task_links,
)
from data_pipeline.api.envelope import ok
from data_pipeline.api.files import output_store
from data_pipeline.ddl_generation.table_check import describe_problems, unusable_tables
from data_pipeline.jobqueue.dispatch import RunRequest
from data_pipeline.runs.launcher import cancel_run
from data_pipeline.schema.table_list import TableListError, load_table_list, parse_table_list
from data_pipeline.sources.registry import database_name, resolve_source
from data_pipeline.tasks.models import (
    STEP_NAMES,
    Task,
    TaskStatus,
    step_number_of,
    validate_task_id,
)
from data_pipeline.workflow.params import WorkflowParams
from data_pipeline.workflow.plan import RunPlan, params_for_run, plan_run
from data_pipeline.workflow.registry import step_module

logger = logging.getLogger(__name__)
bp = Blueprint("tasks", __name__)

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_PLAIN_FILE = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,99}$")


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 1-200 visible ASCII characters",
            details={"fields": [{"field": "Idempotency-Key", "message": "invalid"}]},
        )
    return key


def _missing_inputs(step: str, folder) -> str | None:
    """What ``step`` lacks in ``folder`` (its own module knows), or None."""
    return step_module(step).missing_inputs(folder)


def _check_table_list(params: WorkflowParams, *, start: bool) -> list[str] | None:
    """Canonical inline table names (400 with line errors), and the file-name rules."""
    file_name = params.table_list_file
    if file_name is not None and (not _PLAIN_FILE.match(file_name) or ".." in file_name):
        raise field_error(
            "parameters.table_list_file",
            "must be a plain file name in the task folder",
            "table_list_file must be a plain file name in the task folder (upload the list "
            "with POST /tasks/<id>/table-list)",
        )
    names = None
    if params.table_list is not None:
        text = "\n".join(t.replace("\n", " ") for t in params.table_list)
        try:
            names = parse_table_list(text)
        except TableListError as exc:
            fields = [
                {"field": f"parameters.table_list[{e['line'] - 1}]", "message": e["reason"]}
                for e in exc.details.get("errors") or []
            ] or [{"field": "parameters.table_list", "message": exc.message}]
            raise InvalidInput(
                f"parameters.table_list: {exc.message}", details={**exc.details, "fields": fields}
            ) from None
        if not names:
            raise field_error("parameters.table_list", "empty")
    if start and plan_run(params).runs("ddl_generation"):
        if file_name is not None:
            raise field_error(
                "parameters.table_list_file",
                "not uploaded yet",
                'a new task has no table list file yet: create it with "start": false, '
                "upload the list (POST /tasks/<id>/table-list), then POST /tasks/<id>/execute",
            )
        if names is None:
            raise field_error(
                "parameters.table_list",
                "required",
                "invalid request: parameters.table_list: required to run step 1 (or create "
                'the task with "start": false and upload a table list)',
            )
    return names


def _check_tables_exist(source_dsn: str, names: list[str], field: str) -> None:
    """400 naming every listed table step 1 could not use (missing, ambiguous, not readable),
    before any work starts. An unreachable source is left for the run to report."""
    try:
        problems = unusable_tables(source_dsn, names)
    except SourceUnavailable as exc:
        logger.info("tables not checked before the run: %s", exc.message)
        return
    if problems:
        raise InvalidInput(
            describe_problems(problems),
            details={
                "fields": [{"field": field, "message": why} for why in problems.values()],
                "unknown_tables": list(problems),
            },
        )


def _check_same_request(task: Task, stored: dict, task_name: str | None, key: str) -> None:
    """422 when an Idempotency-Key comes back with another request than the one it created."""
    if task.parameters != stored or (task.task_name or None) != (task_name or None):
        raise Unprocessable(
            f"Idempotency-Key {key!r} was already used for task {task.id} with another request "
            "body; send a new key for a new task",
            details={"fields": [{"field": "Idempotency-Key", "message": "reused with another "
                                 "body"}], "task_id": task.id},
        )  # fmt: skip


@bp.post("/tasks")
def create_task():
    """Create a task and (unless ``"start": false``) start its run at once."""
    body = json_body(schemas.CreateTaskRequest)
    cfg = config()
    params = body.parameters
    key = _idempotency_key()
    try:
        source_dsn = resolve_source(
            cfg, runtime().pipeline_dsn, params.db_connection, trusted=False
        )
    except InvalidInput as exc:
        if "fields" in exc.details:
            raise
        problem = exc.details.get("db_connection")
        raise InvalidInput(
            exc.message,
            details={
                **exc.details,
                "fields": [
                    {
                        "field": "parameters.db_connection",
                        "message": problem if isinstance(problem, str) else exc.message,
                    }
                ],
            },
        ) from None
    db_name = params.db_name or database_name(source_dsn)
    names = _check_table_list(params, start=body.start)
    plan = plan_run(params)
    steps = plan.to_run
    if body.start and steps and steps[0] != "ddl_generation":
        missing = _missing_inputs(steps[0], cfg.data_root / "__no_such_task__")
        if missing:
            raise field_error(
                "parameters.execution_mode",
                "a new task can only start at step 1",
                f"a new task has no outputs yet: {missing}",
            )
    stored = params.model_dump(mode="json")
    if names is not None:
        stored["table_list"] = names
    if body.start and names is not None and plan.runs("ddl_generation"):
        _check_tables_exist(source_dsn, names, "parameters.table_list")
    task, created = store().create_task(
        parameters=stored,
        data_root=cfg.data_root,
        task_type=body.task_type,
        task_name=body.task_name,
        created_by=current_caller().created_by,
        db_name=db_name,
        business_context=params.business_context,
        idempotency_key=key,
    )
    if not created:
        _check_same_request(task, stored, body.task_name, key)
        return _created_answer(task, created=False, pid=task.executor_pid)
    if body.start:
        step = plan.first if params.execution_mode == "single" else None
        request = RunRequest(
            execution_mode=params.execution_mode,
            step_name=step,
            steps=list(STEP_NAMES),
            requested_by=current_caller().name,
        )
        try:
            folder_for_new_run(task)
            refuse_at = None if body.queue else cfg.max_concurrent_tasks
            task = _queue_and_wait(task, request, refuse_at)
        except Exception:
            store().delete_task(task.id)  # a refused create leaves nothing behind
            raise
    return _created_answer(task, created=True, pid=task.executor_pid)


def _queue_and_wait(task: Task, request: RunRequest, refuse_at: int | None) -> Task:
    """Queue the run (``refuse_at``: ``"queue": false`` refuses with 409 instead when the
    limit is reached), then wait a moment for a worker to start it."""
    queued = dispatcher().enqueue(task, request, refuse_at=refuse_at)
    return dispatcher().wait_started(queued.id) or queued


def _created_answer(task: Task, *, created: bool, pid: int | None):
    data = {
        "task_id": task.id,
        "status": task.status.value,
        "created": created,
        "output_directory": relative_folder(task),
        "executor_pid": pid,
        "links": task_links(task.id),
    }
    if task.status == TaskStatus.QUEUED:
        data["queue_position"] = store().queue_positions().get(task.id)
    if not created:
        return ok(data, "task already exists for this Idempotency-Key", 200)
    message = {
        TaskStatus.PENDING: "task created",
        TaskStatus.QUEUED: "task created and queued: it starts when a slot frees",
    }.get(task.status, "task created and started")
    response, code = ok(data, message, 201)
    response.headers["Location"] = data["links"]["self"]
    return response, code


@bp.get("/tasks")
def list_tasks():
    """Tasks, newest first by default, with filters and the total count."""
    args = query_args(schemas.TaskListQuery)
    for name in args.created_by or []:
        _check_creator(name)
    tasks, total = store().list_tasks(**args.model_dump(), summary=True)
    queued = any(t.status == TaskStatus.QUEUED for t in tasks)
    positions = store().queue_positions() if queued else {}
    return ok(
        {
            "items": [serializers.task_summary(t, positions.get(t.id)) for t in tasks],
            "total": total,
            "limit": args.limit,
            "offset": args.offset,
        }
    )


def _check_creator(name: str) -> None:
    """400 for a ``created_by`` filter naming nobody: not a kind of creator, not a configured
    caller, and not the creator of any task."""
    known = {"api", "manual", "system"}
    known |= {c.name for c in current_app.extensions.get("data_pipeline_callers", {}).values()}
    if name in known or name in store().creators():
        return
    raise field_error(
        "created_by",
        "unknown creator",
        f"invalid request: created_by: unknown creator {name!r} (api, manual, system or a "
        "token's name)",
    )


@bp.get("/tasks/active")
def active_tasks():
    """The running tasks: always a list (empty when none runs)."""
    tasks = store().active_tasks()
    if not tasks:
        return ok([], "no task is running")
    return ok([serializers.task_summary(t) for t in tasks], f"{len(tasks)} task(s) running")


@bp.get("/tasks/<task_id>")
def task_detail(task_id: str):
    """Status, progress, masked parameters, result, error and per-step details."""
    validate_task_id(task_id)
    task, executions, result_json = store().get_task_with_executions(task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found", details={"task_id": task_id})
    position = store().queue_positions().get(task.id) if task.status == TaskStatus.QUEUED else None
    return ok(serializers.task_detail(task, executions, result_json, position))


@bp.get("/tasks/<task_id>/executions")
def task_executions(task_id: str):
    """Every run of the task's steps, oldest first."""
    task = load_task(task_id)
    rows = store().list_executions(task.id)
    return ok({"task_id": task.id, "executions": [serializers.execution(r) for r in rows]})


def _run_plan(task: Task, body: schemas.ExecuteRequest) -> tuple[WorkflowParams, RunPlan]:
    """The parameters and plan of the run that ``body`` asks for (as the executor will see
    them: the task's parameters with the run's mode applied)."""
    try:
        params = params_for_run(
            task.parameters, body.execution_mode, body.step, start_step=body.start_step
        )
    except Exception:
        raise PipelineError(f"task {task.id} has unusable stored parameters") from None
    return params, plan_run(params)


@bp.post("/tasks/<task_id>/execute")
def execute_task(task_id: str):
    """Run the workflow or one step of an existing task (202: it runs in the background)."""
    task = load_task(task_id)
    body = json_body(schemas.ExecuteRequest, allow_empty=True)
    return start_requested_run(task, body)


def start_requested_run(task: Task, body: schemas.ExecuteRequest):
    """Queue the run ``body`` asks for (the checks and the 202 answer of ``POST /execute``;
    also how ``POST /pairs/load`` starts step 4)."""
    if task.status in (TaskStatus.RUNNING, TaskStatus.QUEUED):
        raise Conflict(
            f"task {task.id} is already {task.status.value}", details={"task_id": task.id}
        )
    params, plan = _run_plan(task, body)
    steps = plan.to_run
    if not steps:
        raise field_error(
            "start_step",
            "no step left to run",
            "nothing to run: the task's start/end/skip settings leave no step",
        )
    done = [s for s in steps if task.step_status.get(s) == "completed"]
    if done and not body.force:
        raise Conflict(
            f"step {step_number_of(done[0])} ({done[0]}) already completed; pass "
            '"force": true to run it again',
            details={"completed_steps": done},
        )
    folder = folder_for_new_run(task)
    # Earlier steps may have run on another worker: their files come from the output store.
    output_store().materialize(task.id, folder)
    missing = _missing_inputs(steps[0], folder)
    if missing:
        raise Conflict(missing, details={"step": steps[0]})
    if "ddl_generation" in steps:
        # 400 now rather than a failed run: no list, an invalid one, or tables not there.
        try:
            names = load_table_list(params, folder)
        except TableListError as exc:
            fields = [
                {"field": "table_list", "message": f"line {e['line']}: {e['reason']}"}
                for e in exc.details.get("errors") or []
            ] or [{"field": "table_list", "message": exc.message}]
            raise TableListError(exc.message, details={**exc.details, "fields": fields}) from None
        source = resolve_source(
            config(), runtime().pipeline_dsn, params.db_connection, trusted=False
        )
        _check_tables_exist(source, names, "table_list")
    refuse_at = None if body.queue else config().max_concurrent_tasks
    request = RunRequest(
        execution_mode=body.execution_mode or "complete",
        step_name=body.step,
        force=body.force,
        clean=body.clean,
        steps=plan.reset_steps(),
        start_step=body.start_step,
        requested_by=current_caller().name,
    )
    started = _queue_and_wait(task, request, refuse_at)
    data = {
        "task_id": task.id,
        "status": started.status.value,
        "execution_mode": body.execution_mode,
        "steps": steps,
        "execution_id": None,
        "executor_pid": started.executor_pid,
        "links": task_links(task.id),
    }
    if started.status == TaskStatus.QUEUED:
        data["queue_position"] = store().queue_positions().get(task.id)
        return ok(data, f"run queued: {', '.join(steps)}", 202)
    data["execution_id"] = _first_execution(task.id, started.started_at)
    return ok(data, f"run started: {', '.join(steps)}", 202)


def _first_execution(task_id: str, since: datetime | None, wait: float = 3.0) -> str | None:
    """The id of the first execution the new run records (the executor creates it as it
    starts); None if it has not appeared within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        for row in store().list_executions(task_id):
            if since is None or row["started_at"] >= since:
                return row["execution_id"]
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


@bp.post("/tasks/<task_id>/cancel")
def cancel(task_id: str):
    """Stop a run: SIGTERM to the executor's process group, a grace period, then SIGKILL."""
    task = load_task(task_id)
    if task.status not in (TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.QUEUED):
        raise Conflict(
            f"task {task.id} is not running (status {task.status.value})",
            details={"status": task.status.value},
        )
    grace = config().cancel_grace_seconds
    cancelled = cancel_run(store(), task, grace, launcher=launcher())
    if cancelled is None:
        current = store().get_task(task.id)
        status = current.status.value if current else "deleted"
        raise Conflict(f"task {task.id} is no longer running (status {status})")
    # The run's job: dropped from the queue, or aborted on the worker holding it (which
    # stops the executor wherever it runs).
    dispatcher().cancel_queued(cancelled)
    data = {
        "task_id": task.id,
        "status": cancelled.status.value,
        "executor_pid": task.executor_pid,
        "grace_seconds": grace,
    }
    if task.status == TaskStatus.QUEUED:
        return ok(data, "task cancelled before it started")
    return ok(data, "task cancelled; its executor is being stopped")
