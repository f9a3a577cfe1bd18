"""The workflow: the steps of one run, in order, recorded through a tracker.

:class:`SchemaWorkflowOrchestrator` is what the executor process and the command line run
(through :func:`data_pipeline.runs.tracked.run_tracked`, or directly when untracked).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from app_config import Config
from core.errors import Cancelled, PipelineError
from core.files import StorageFull
from core.task_logging import set_log_context
from data_pipeline.llm import get_llm
from data_pipeline.schema.table_list import load_table_list
from data_pipeline.sources.registry import database_name, resolve_source
from data_pipeline.tasks.models import STEP_NAMES, StepStatus, TaskStatus
from data_pipeline.tasks.runtime import pipeline_dsn as start_pipeline
from data_pipeline.workflow.context import StepContext
from data_pipeline.workflow.params import WorkflowParams
from data_pipeline.workflow.plan import PlannedStep, plan_run
from data_pipeline.workflow.registry import STEP_TITLES, step_module
from data_pipeline.workflow.report import (
    RESULT_FILE,
    ProgressTracker,
    StepOutcome,
    build_report,
    clean_step_outputs,
    json_safe,
    save_table_list,
    write_json_atomic,
)
from data_pipeline.workflow.run_logging import RunLogging
from data_pipeline.workflow.tracking import RunEnded, RunTracker, Untracked
from data_pipeline.workflow.warnings import run_warnings

logger = logging.getLogger(__name__)

__all__ = ["RESULT_FILE", "SchemaWorkflowOrchestrator"]


class SchemaWorkflowOrchestrator:
    """Runs one run of a task: ``complete`` (steps 1→4 within start/end, skipping disabled
    ones) or ``single`` mode, stopping at the first failure.

    Args:
        config: service settings.
        params: the run's parameters.
        task_dir: the task folder (inputs and outputs of every step).
        tracker: where the run is recorded (:class:`DatabaseTracker` for a tracked run, whose
            task must be ``running`` already); untracked by default.
        force: re-run steps that already completed (recorded in the execution rows).
        clean: remove a step's earlier outputs before it runs.
        steps: run exactly these steps (names or numbers) instead of what params plan.
        is_cancelled: polled between units of work; True stops the run as cancelled.
        progress_display: called with (percent, step, note) on every progress report.
        pipeline_dsn: the pipeline database (for the demo source and the vectors); started
            or found from the configuration when first needed otherwise.
        trusted_source: the parameters come from the operator (command line): a connection
            string is used as given. Runs of tasks created through the API are held to the
            rules for callers' connection strings (:mod:`data_pipeline.sources.registry`).
        logs: the run's log handlers when the caller opened them already; closed at the end.
    """

    def __init__(
        self,
        config: Config,
        params: WorkflowParams,
        task_dir: Path,
        *,
        tracker: RunTracker | None = None,
        force: bool = False,
        clean: bool = False,
        steps: list[str | int] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        progress_display: Callable[[int, str | None, str | None], None] | None = None,
        pipeline_dsn: str | None = None,
        logs: RunLogging | None = None,
        trusted_source: bool = True,
    ):
        self.config = config
        self.params = params
        self.task_dir = Path(task_dir)
        self.tracker = tracker or Untracked()
        self.tracker.connect_output_store(config)
        self.force = force
        self.clean = clean
        self.trusted_source = trusted_source
        self.plan = plan_run(params, steps)
        self._is_cancelled = is_cancelled or (lambda: False)
        self._pipeline_dsn = pipeline_dsn or self.tracker.pipeline_dsn
        self.logs = logs or RunLogging(self.task_dir, self.tracker)
        self.progress = ProgressTracker(len(self.plan), self.tracker, progress_display)
        self.outcomes: dict[str, StepOutcome] = {}
        self.source_dsn: str | None = None
        self.db_name: str | None = None
        self._llm = None
        self._cancel_reason: str | None = None
        self._ended_elsewhere = False
        self._current_step: str | None = None

    @property
    def task_id(self) -> str | None:
        return self.tracker.task_id

    @property
    def planned_steps(self) -> list[str]:
        return self.plan.steps

    # The run ----------------------------------------------------------------------------
    def run(self) -> dict:
        """Run the planned steps; return the final report (also in ``task_result.json``)."""
        started_at, t0 = datetime.now(timezone.utc), time.monotonic()
        self.task_dir.mkdir(parents=True, exist_ok=True)
        self.logs.open()
        set_log_context(task_id=self.task_id, step=None, execution_id=None)
        status: TaskStatus | None = None
        error = error_step = None
        try:
            self._prepare()
            logger.info(
                "workflow started: steps %s on %s, folder %s",
                ", ".join(f"{e.number} {e.name}" for e in self.plan),
                self.db_name,
                self.task_dir,
            )
            for index, entry in enumerate(self.plan):
                set_log_context(step=None, execution_id=None)
                if self._stop_requested():
                    status, error = TaskStatus.CANCELLED, self._cancel_message()
                    break
                outcome = self._run_step(index, entry)
                if outcome.status == StepStatus.CANCELLED:
                    status, error = TaskStatus.CANCELLED, outcome.error
                    break
                if outcome.status == StepStatus.FAILED:
                    status, error_step = TaskStatus.FAILED, entry.name
                    error = f"step {entry.number} ({entry.name}) failed: {outcome.error}"
                    break
        except RunEnded as exc:
            self._ended_elsewhere = True
            status, error = exc.status, str(exc)
        except KeyboardInterrupt:
            status, error = TaskStatus.CANCELLED, "interrupted (Ctrl-C)"
        except PipelineError as exc:
            status, error, error_step = TaskStatus.FAILED, exc.message, self._current_step
        except Exception as exc:
            logger.exception("the workflow stopped on an unexpected error")
            status, error = TaskStatus.FAILED, f"{type(exc).__name__}: {exc}"
            error_step = self._current_step
        finally:
            set_log_context(step=None, execution_id=None)
        if status is None:
            status = self._success_status()
        return self._finish(status, error, error_step, started_at, time.monotonic() - t0)

    def _prepare(self) -> None:
        self.tracker.begin(self.plan.to_run, force=self.force)
        self.source_dsn = resolve_source(
            self.config, self._pipeline, self.params.db_connection, trusted=self.trusted_source
        )
        self.db_name = self.params.db_name or database_name(self.source_dsn)
        save_table_list(self.params, self.task_dir)

    def _pipeline(self) -> str:
        if not self._pipeline_dsn:
            self._pipeline_dsn = start_pipeline(self.config)
        return self._pipeline_dsn

    def _run_step(self, index: int, entry: PlannedStep) -> StepOutcome:
        step, number, total = entry.name, entry.number, len(self.plan)
        self.tracker.check_running()
        self._current_step = step
        outcome = self.outcomes[step] = StepOutcome(step=step, status=StepStatus.RUNNING)
        t0 = time.monotonic()
        if entry.skip:
            outcome.execution_id = self._open_execution(step)
            set_log_context(step=step, execution_id=outcome.execution_id)
            logger.info("step %d/%d %s skipped (%s)", index + 1, total, step, entry.skip)
            outcome.summary = {"skipped": True, "reason": entry.skip}
            self._end_step(outcome, StepStatus.SKIPPED, t0)
            self.progress.report(index, 1.0, step, "skipped", flush=True)
            return outcome
        module = step_module(step)
        missing = module.missing_inputs(self.task_dir)
        if self.clean and not missing:
            outcome.files_cleaned = clean_step_outputs(
                self.task_dir, module.output_files(self.task_dir)
            )
        outcome.execution_id = self._open_execution(step, files_cleaned=bool(outcome.files_cleaned))
        set_log_context(step=step, execution_id=outcome.execution_id)
        if missing:
            logger.error("step %d (%s) cannot run: %s", number, step, missing)
            outcome.error = missing
            self._end_step(outcome, StepStatus.FAILED, t0)
            return outcome
        if outcome.files_cleaned:
            logger.info("removed %d earlier output(s) of the step", len(outcome.files_cleaned))
        # The step's status and the task's current_step change together, so an observer
        # (or the monitor failing a lost run) never sees a current step that is "pending".
        self.tracker.set_step_status(step, StepStatus.RUNNING)
        self.progress.report(index, 0.0, step, STEP_TITLES[step], flush=True)
        logger.info("step %d/%d %s started: %s", index + 1, total, step, STEP_TITLES[step])
        try:
            ctx = self._context(index, step, outcome.execution_id)
            outcome.summary = json_safe(module.run(ctx) or {})
        except (Cancelled, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt):
                self._cancel_reason = self._cancel_reason or "interrupted (Ctrl-C)"
            outcome.error = self._cancel_message()
            logger.warning("step %d (%s) cancelled: %s", number, step, outcome.error)
            self._end_step(outcome, StepStatus.CANCELLED, t0)
            return outcome
        except PipelineError as exc:
            outcome.error = exc.message
        except Exception as exc:
            logger.exception("step %d (%s) stopped on an unexpected error", number, step)
            outcome.error = f"{type(exc).__name__}: {exc}"
        if outcome.error:
            logger.error("step %d (%s) failed: %s", number, step, outcome.error)
            self._end_step(outcome, StepStatus.FAILED, t0)
            return outcome
        self._end_step(outcome, StepStatus.COMPLETED, t0)
        logger.info("step %d (%s) completed in %.1f s", number, step, outcome.duration_seconds)
        self.progress.report(index, 1.0, step, "done", flush=True)
        return outcome

    def _context(self, index: int, step: str, execution_id: str | None) -> StepContext:
        tables = load_table_list(self.params, self.task_dir) if step == "ddl_generation" else []
        if step == "training_load":
            vector_dsn = self.config.vector_database_url or self._pipeline()
        else:
            vector_dsn = self.config.vector_database_url or self._pipeline_dsn
        return StepContext(
            task_dir=self.task_dir,
            config=self.config,
            params=self.params,
            source_dsn=self.source_dsn,
            db_name=self.db_name,
            llm=self._get_llm(),
            tables=tables,
            vector_dsn=vector_dsn,
            task_id=self.task_id,
            execution_id=execution_id,
            report_progress=lambda fraction, note=None: self.progress.report(
                index, fraction, step, note
            ),
            is_cancelled=self._stop_requested,
        )

    def _get_llm(self):
        if self._llm is None:
            self._llm = get_llm(self.config)
        return self._llm

    def llm_description(self) -> dict | None:
        """The LLM provider used by the run (for the report), if one was needed."""
        return self._llm.describe() if self._llm is not None else None

    # Cancellation -----------------------------------------------------------------------
    def _stop_requested(self) -> bool:
        if self._cancel_reason is None and self._is_cancelled():
            self._cancel_reason = getattr(self._is_cancelled, "reason", None) or "cancel requested"
        return self._cancel_reason is not None

    def _cancel_message(self) -> str:
        return f"cancelled: {self._cancel_reason or 'cancel requested'}"

    # Recording --------------------------------------------------------------------------
    def _open_execution(self, step: str, *, files_cleaned: bool = False) -> str | None:
        return self.tracker.open_execution(step, force=self.force, files_cleaned=files_cleaned)

    def _end_step(self, outcome: StepOutcome, status: StepStatus, t0: float) -> None:
        outcome.finished_at = datetime.now(timezone.utc)
        outcome.duration_seconds = round(time.monotonic() - t0, 3)
        # The outcome stays "running" until recorded: when a long outage stops the run here,
        # _finish ends the step as failed rather than reporting an end the tables never got.
        self.tracker.end_step(
            outcome.step,
            outcome.execution_id,
            status,
            summary=outcome.summary,
            error=outcome.error,
            task_dir=self.task_dir,
        )
        outcome.status = status

    def _success_status(self) -> TaskStatus:
        statuses: dict[str, str | None] = dict.fromkeys(STEP_NAMES)
        statuses.update(self.tracker.step_statuses())
        statuses.update({s: o.status.value for s, o in self.outcomes.items()})
        if run_warnings(self.outcomes.values()):
            return TaskStatus.PARTIAL_COMPLETED  # work was left undone: never a plain green
        if all(v in ("completed", "skipped") for v in statuses.values()):
            return TaskStatus.COMPLETED
        return TaskStatus.PARTIAL_COMPLETED

    def _finish(
        self,
        status: TaskStatus,
        error: str | None,
        error_step: str | None,
        started_at: datetime,
        duration: float,
    ) -> dict:
        for outcome in self.outcomes.values():
            if outcome.status == StepStatus.RUNNING:  # stopped by an error outside the step
                ended = (
                    StepStatus.CANCELLED if status == TaskStatus.CANCELLED else StepStatus.FAILED
                )
                outcome.status, outcome.error = ended, outcome.error or error
                try:
                    self.tracker.set_step_status(outcome.step, ended)
                except Exception:  # the database is what failed; finish may still work
                    logger.debug("step status not recorded", exc_info=True)
        report = build_report(self, status, error, error_step, started_at, duration)
        path = self.task_dir / RESULT_FILE
        self._save_report(path, report)
        log = logger.info if status != TaskStatus.FAILED else logger.error
        log("workflow %s in %.1f s%s", status.value, duration, f": {error}" if error else "")
        # The log must be complete (file and table) before the final registration and before
        # the status tells clients that the run is over.
        self.logs.close()
        self.tracker.register_outputs(self.task_dir)
        if self._ended_elsewhere:
            return report
        try:
            actual = self.tracker.finish(status, report, error, error_step)
        except Exception:
            logger.exception("the outcome of the run could not be recorded")
            return report
        if actual is not None:
            logger.warning("the run had already ended as %s; keeping that", actual.value)
            report["status"] = actual.value
            report["note"] = f"the run ended as {actual.value} before it could finish"
            self._save_report(path, report)
            self.tracker.register_outputs(self.task_dir)
        return report

    def _save_report(self, path: Path, report: dict) -> None:
        """``task_result.json``; when it cannot be written (a full disk), the outcome is still
        recorded in the task row, so the run goes on to record it."""
        try:
            write_json_atomic(path, report)
        except StorageFull as exc:
            logger.error("%s: the run's report is only in the task row", exc.message)
