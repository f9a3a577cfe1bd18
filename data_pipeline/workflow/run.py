"""The workflow from Python: :func:`run_workflow` runs it in this process and returns a typed
:class:`WorkflowResult`; the command line (:mod:`data_pipeline.cli.workflow`) runs through the
same functions (:func:`check_source`, :func:`run_untracked`, :func:`run_new_or_existing`).

    from data_pipeline import run_workflow

    result = run_workflow(
        db_connection="source:demo",
        table_list=["service_area", "daily_revenue"],
        business_context="Highway service areas",
        single_step=1,
        tracked=False,
        output_dir="./out",
    )
    print(result.status, result.output_directory, [s.status for s in result.steps])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from app_config import Config
from core.errors import InvalidInput, PipelineError
from core.files import write_text_atomic
from data_pipeline.ddl_generation.table_check import describe_problems, unusable_tables
from data_pipeline.runs.tracked import RunNotClaimed, run_tracked
from data_pipeline.schema.table_list import TableListError, format_table_list, parse_table_list
from data_pipeline.sources.connection import connect_readonly
from data_pipeline.sources.registry import database_name, is_demo_source, resolve_source
from data_pipeline.tasks.models import Task, make_task_id, validate_task_id
from data_pipeline.tasks.runtime import Runtime, open_runtime
from data_pipeline.workflow.orchestrator import SchemaWorkflowOrchestrator
from data_pipeline.workflow.params import WorkflowParams
from data_pipeline.workflow.plan import plan_run
from data_pipeline.workflow.report import TABLE_LIST_FILE

logger = logging.getLogger(__name__)

Progress = Callable[[int, str | None, str | None], None]
# Steps that read the business database: it must answer before such a run creates anything.
_SOURCE_STEPS = ("ddl_generation", "sql_validation")


@dataclass(frozen=True)
class StepResult:
    """One step of a run: ``completed``, ``failed``, ``skipped``, ``cancelled``, ..."""

    step: str
    number: int
    status: str
    duration_seconds: float | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    execution_id: str | None = None


@dataclass(frozen=True)
class WorkflowResult:
    """What a run did: the report of ``task_result.json``, typed.

    ``status`` is ``completed``, ``partial_completed`` (some work left undone: see
    ``warnings``), ``failed`` (``error`` says which step and why) or ``cancelled``.
    """

    status: str
    task_id: str | None
    tracked: bool
    output_directory: Path
    steps: list[StepResult]
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_step: str | None = None
    duration_seconds: float | None = None
    totals: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """The run succeeded (``completed`` or ``partial_completed``)."""
        return self.status in ("completed", "partial_completed")

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.step == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_directory"] = str(self.output_directory)
        data.pop("report")
        return data

    @classmethod
    def from_report(cls, report: dict) -> WorkflowResult:
        error = report.get("error") or {}
        steps = [
            StepResult(
                step=s["step"],
                number=s["number"],
                status=s["status"],
                duration_seconds=s.get("duration_seconds"),
                summary=s.get("summary"),
                error=s.get("error"),
                started_at=s.get("started_at"),
                finished_at=s.get("finished_at"),
                execution_id=s.get("execution_id"),
            )
            for s in (report.get("steps") or {}).values()
        ]
        return cls(
            status=report["status"],
            task_id=report.get("task_id"),
            tracked=bool(report.get("tracked")),
            output_directory=Path(report.get("output_directory") or "."),
            steps=steps,
            warnings=list(report.get("warnings") or []),
            error=error.get("message"),
            error_step=error.get("step"),
            duration_seconds=report.get("duration_seconds"),
            totals=dict(report.get("totals") or {}),
            report=report,
        )


def run_workflow(
    *,
    db_connection: str,
    business_context: str,
    table_list: Sequence[str] | None = None,
    table_list_file: str | Path | None = None,
    output_dir: str | Path | None = None,
    config: Config | None = None,
    tracked: bool = True,
    task_id: str | None = None,
    db_name: str | None = None,
    execution_mode: Literal["complete", "single"] | None = None,
    single_step: int | None = None,
    start_step: int = 1,
    end_step: int = 4,
    skip_steps: Sequence[int] = (),
    enable_sql_validation: bool = True,
    enable_llm_repair: bool = True,
    modify_original_file: bool = True,
    enable_training_data_load: bool = True,
    backup_vector_tables: bool = False,
    truncate_vector_tables: bool = False,
    load_pairs: Literal["all", "approved"] = "all",
    sample_rows: int | None = None,
    theme_count: int | None = None,
    questions_per_theme: int | None = None,
    validation_level: Literal["explain", "execute"] = "explain",
    validation_max_concurrency: int | None = None,
    repair_max_attempts: int | None = None,
    progress: Progress | None = None,
) -> WorkflowResult:
    """Run the workflow (all steps, or some) in this process and wait for the outcome.

    The keyword arguments are the run parameters of the API and the command line
    (:class:`~data_pipeline.workflow.params.WorkflowParams`); ``single_step`` alone implies
    ``execution_mode="single"``. ``table_list`` names the tables (``schema.table`` or
    ``table``); ``table_list_file`` reads them from a file instead.

    Args:
        output_dir: tracked: where the task's folder goes (default ``DATA_PIPELINE_ROOT``);
            untracked: the folder the files go into (default ``DATA_PIPELINE_ROOT/<id>``).
        config: the settings (default: ``Config.from_env()``, the environment and ``.env``).
        tracked: record the run as a task (``manual_…``) in the pipeline database, as the
            command line does; ``False`` writes files only (``--no-db-tracking``).
        task_id: tracked: run again on this task (in its folder, with the parameters given),
            or create a task with this id.
        progress: called with (percent, step, note) as the run advances.

    Returns:
        The outcome; a failed or cancelled run is a result too (``status``, ``error``).

    Raises:
        InvalidInput: bad parameters, an unknown source, tables the source does not have.
        SourceUnavailable: the business database cannot be reached (nothing was created).
    """
    config = config or Config.from_env()
    if task_id:
        validate_task_id(task_id)
    names = list(table_list) if table_list is not None else None
    table_text = None
    if table_list_file is not None:
        table_text, names = read_table_list_file(Path(table_list_file), config)
    elif names is not None:
        try:
            table_text = format_table_list(parse_table_list("\n".join(names)))
        except TableListError as exc:
            raise InvalidInput(f"table_list: {exc.message}", details=exc.details) from None
    mode = execution_mode or ("single" if single_step is not None else "complete")
    values = {
        "db_connection": db_connection,
        "business_context": business_context,
        "db_name": db_name,
        "execution_mode": mode,
        "single_step": single_step,
        "start_step": start_step,
        "end_step": end_step,
        "skip_steps": list(skip_steps),
        "enable_sql_validation": enable_sql_validation,
        "enable_llm_repair": enable_llm_repair,
        "modify_original_file": modify_original_file,
        "enable_training_data_load": enable_training_data_load,
        "backup_vector_tables": backup_vector_tables,
        "truncate_vector_tables": truncate_vector_tables,
        "load_pairs": load_pairs,
        "sample_rows": sample_rows,
        "theme_count": theme_count,
        "questions_per_theme": questions_per_theme,
        "validation_level": validation_level,
        "validation_max_concurrency": validation_max_concurrency,
        "repair_max_attempts": repair_max_attempts,
    }
    if table_text is not None:
        values["table_list_file"] = TABLE_LIST_FILE
    params = make_params(values)
    runtime = open_runtime(config) if tracked or is_demo_source(config, db_connection) else None
    try:
        existing = runtime.store.get_task(task_id) if tracked and task_id else None
        source = resolve(config, runtime, params)
        check_source(source, params, names)
        where = {"task_id": task_id, "output_dir": output_dir, "progress": progress}
        if tracked:
            db_name = params.db_name or database_name(source)
            report = run_new_or_existing(
                runtime, existing, params, table_text, db_name=db_name, **where
            )
        else:
            report = run_untracked(config, runtime, params, table_text, **where)
    finally:
        if runtime is not None:
            runtime.close()
    return WorkflowResult.from_report(report)


def make_params(values: dict) -> WorkflowParams:
    """:class:`WorkflowParams` from keyword values (None means the default)."""
    try:
        return WorkflowParams(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'parameters'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidInput(problems) from None


def read_table_list_file(path: Path, config: Config) -> tuple[str, list[str]]:
    """The text and names of a table-list file (InvalidInput with line numbers otherwise)."""
    if not path.is_file():
        raise InvalidInput(f"no such table list file: {path}")
    if path.stat().st_size > config.max_table_list_bytes:
        raise InvalidInput(f"table list too large (at most {config.max_table_list_bytes} bytes)")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        names = parse_table_list(text)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except TableListError as exc:
        raise InvalidInput(f"{path}: {exc.message}", details=exc.details) from None
    if not names:
        raise InvalidInput(f"{path} lists no table")
    return text, names


def resolve(config: Config, runtime: Runtime | None, params: WorkflowParams) -> str:
    """The business database's DSN (InvalidInput for an unknown source)."""
    return resolve_source(config, runtime.pipeline_dsn if runtime else "", params.db_connection)


def check_source(source_dsn: str, params: WorkflowParams, table_names: list[str] | None) -> None:
    """Before anything is created: a run that reads the business database finds it reachable,
    and step 1 finds every listed table there.

    Raises:
        InvalidInput: listed tables the source does not have (or cannot be read).
        SourceUnavailable: the business database cannot be reached.
    """
    plan = plan_run(params)
    if not any(plan.runs(step) for step in _SOURCE_STEPS):
        return
    if table_names and plan.runs("ddl_generation"):
        problems = unusable_tables(source_dsn, table_names)
        if problems:
            raise InvalidInput(describe_problems(problems), details={"tables": problems})
        return
    connect_readonly(source_dsn, purpose="source check", connect_timeout=5).close()


def run_untracked(
    config: Config,
    runtime: Runtime | None,
    params: WorkflowParams,
    table_text: str | None,
    *,
    task_id: str | None = None,
    output_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> dict:
    """A run that writes files only (into ``output_dir``); return its report."""
    task_id = task_id or make_task_id("manual", datetime.now())
    task_dir = Path(output_dir).resolve() if output_dir else config.data_root / task_id
    task_dir.mkdir(parents=True, exist_ok=True)
    if table_text is not None:
        write_text_atomic(task_dir / TABLE_LIST_FILE, table_text)
    return SchemaWorkflowOrchestrator(
        config,
        params,
        task_dir,
        progress_display=progress,
        pipeline_dsn=runtime.pipeline_dsn if runtime else None,
    ).run()


def run_new_or_existing(
    runtime: Runtime,
    existing: Task | None,
    params: WorkflowParams,
    table_text: str | None,
    *,
    db_name: str,
    task_id: str | None = None,
    output_dir: str | Path | None = None,
    progress: Progress | None = None,
    on_claimed: Callable[[Task, Path], None] | None = None,
) -> dict:
    """A tracked run (``created_by = manual``) on ``existing`` or on a new task; return its
    report. A re-run step sends the steps after it back to pending, as the API's execute does."""
    store = runtime.store
    parameters = params.model_dump(exclude_none=True)
    if existing is not None:
        task = existing
        if output_dir:
            logger.warning("output folder ignored: task %s keeps its folder", task.id)
        if parameters != task.parameters:
            task = store.update_parameters(task.id, parameters)
    else:
        root = Path(output_dir).resolve() if output_dir else runtime.config.data_root
        task, _ = store.create_task(
            parameters=parameters,
            data_root=root,
            task_name=f"schema_workflow on {db_name}",
            created_by="manual",
            db_name=db_name,
            business_context=params.business_context,
            task_id=task_id,
        )
    store.start_run(task.id, steps=plan_run(params).reset_steps())

    def claimed(task: Task, task_dir: Path, _logs) -> None:
        if table_text is not None:
            write_text_atomic(task_dir / TABLE_LIST_FILE, table_text)
        if on_claimed is not None:
            on_claimed(task, task_dir)

    try:
        return run_tracked(
            runtime,
            task.id,
            lambda _task: params,
            who="command line",
            on_claimed=claimed,
            progress_display=progress,
        )
    except RunNotClaimed:
        raise PipelineError(
            f"task {task.id} was taken over or cancelled before it started"
        ) from None


__all__ = [
    "StepResult",
    "WorkflowResult",
    "check_source",
    "run_new_or_existing",
    "run_untracked",
    "run_workflow",
]
