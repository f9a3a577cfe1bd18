"""The workflow: the four steps of a task, run in order and tracked in the task tables.

:class:`SchemaWorkflowOrchestrator` is what the executor process and the command line run.
The command line itself lives in :mod:`data_pipeline.workflow_cli`; start it with
``python data_pipeline/schema_workflow.py --help`` or ``python -m data_pipeline.schema_workflow``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

from app_config import DEMO_SOURCE_URL, Config
from core.errors import Cancelled, Conflict, PipelineError
from core.task_logging import set_log_context
from data_pipeline.context import StepContext
from data_pipeline.params import WorkflowParams
from data_pipeline.run_tracking import RunLogging, with_retry
from data_pipeline.steps import STEP_TITLES, step_module
from data_pipeline.tasks.models import (
    STEP_NAMES,
    ExecutionStatus,
    StepStatus,
    TaskStatus,
    make_execution_id,
    step_name_of,
    step_number_of,
)
from data_pipeline.workflow_report import (
    RESULT_FILE,
    ProgressTracker,
    StepOutcome,
    build_report,
    clean_step_outputs,
    json_safe,
    save_table_list,
    write_json_atomic,
)

logger = logging.getLogger(__name__)

__all__ = ["RESULT_FILE", "SchemaWorkflowOrchestrator", "main"]

_DISABLED_BY = {
    "sql_validation": "enable_sql_validation is off",
    "training_load": "enable_training_data_load is off",
}


class _RunEnded(Exception):
    """The task stopped running before or between steps (cancelled or failed elsewhere)."""

    def __init__(self, status: TaskStatus, message: str):
        super().__init__(message)
        self.status = status


class SchemaWorkflowOrchestrator:
    """Runs one run of a task: ``complete`` (steps 1→4 within start/end, skipping disabled
    ones) or ``single`` mode, stopping at the first failure.

    Args:
        config: service settings.
        params: the run's parameters.
        task_dir: the task folder (inputs and outputs of every step).
        store: the TaskStore when the run is tracked; the task must be ``running`` already.
        task_id: the task's id (required with a store).
        pid: the executor's pid, guarding the final status update.
        force: re-run steps that already completed (recorded in the execution rows).
        clean: remove a step's earlier outputs before it runs.
        steps: run exactly these steps (names or numbers) instead of what params plan.
        is_cancelled: polled between units of work; True stops the run as cancelled.
        progress_display: called with (percent, step, note) on every progress report.
        pipeline_dsn: the pipeline database (for the demo source and the vectors).
        logs: the run's log handlers when the caller opened them already; closed at the end.
    """

    def __init__(
        self,
        config: Config,
        params: WorkflowParams,
        task_dir: Path,
        *,
        store=None,
        task_id: str | None = None,
        pid: int | None = None,
        force: bool = False,
        clean: bool = False,
        steps: list[str | int] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        progress_display: Callable[[int, str | None, str | None], None] | None = None,
        pipeline_dsn: str | None = None,
        logs: RunLogging | None = None,
    ):
        if store is not None and not task_id:
            raise ValueError("a tracked run needs its task_id")
        self.config = config
        self.params = params
        self.task_dir = Path(task_dir)
        self.store = store
        self.task_id = task_id
        self.pid = pid
        self.force = force
        self.clean = clean
        self.plan = self._plan(steps)
        self._is_cancelled = is_cancelled or (lambda: False)
        self._pipeline_dsn = pipeline_dsn or (store.db.dsn if store is not None else None)
        self.logs = logs or RunLogging(self.task_dir, store)
        self.progress = ProgressTracker(len(self.plan), store, task_id, progress_display)
        self.outcomes: dict[str, StepOutcome] = {}
        self.source_dsn: str | None = None
        self.db_name: str | None = None
        self._llm = None
        self._cancel_reason: str | None = None
        self._ended_elsewhere = False
        self._current_step: str | None = None

    # Planning ---------------------------------------------------------------------------
    def _plan(self, steps) -> list[tuple[str, str | None]]:
        """(step, reason to skip or None) for every step of this run, in order."""
        if steps:
            return [(step_name_of(s), None) for s in steps]
        p = self.params
        if p.execution_mode == "single":
            return [(STEP_NAMES[p.single_step - 1], None)]
        disabled = p.disabled_steps()
        plan = []
        for number in range(p.start_step, p.end_step + 1):
            name = STEP_NAMES[number - 1]
            reason = "skip_steps" if number in p.skip_steps else None
            reason = reason or (_DISABLED_BY[name] if name in disabled else None)
            plan.append((name, reason))
        return plan

    @property
    def planned_steps(self) -> list[str]:
        return [step for step, _ in self.plan]

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
                ", ".join(f"{step_number_of(s)} {s}" for s in self.planned_steps),
                self.db_name,
                self.task_dir,
            )
            for index, (step, skip) in enumerate(self.plan):
                set_log_context(step=None, execution_id=None)
                if self._stop_requested():
                    status, error = TaskStatus.CANCELLED, self._cancel_message()
                    break
                outcome = self._run_step(index, step, skip)
                if outcome.status == StepStatus.CANCELLED:
                    status, error = TaskStatus.CANCELLED, outcome.error
                    break
                if outcome.status == StepStatus.FAILED:
                    status, error_step = TaskStatus.FAILED, step
                    error = f"step {step_number_of(step)} ({step}) failed: {outcome.error}"
                    break
        except _RunEnded as exc:
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
        if self.store is not None:
            task = self._retry(self.store.get_task, self.task_id, what="reading the task")
            if task is None:
                raise _RunEnded(TaskStatus.FAILED, f"task {self.task_id} does not exist")
            if task.status != TaskStatus.RUNNING:
                raise _RunEnded(task.status, f"task {self.task_id} is {task.status.value}")
            done = [
                s for s, skip in self.plan if not skip and task.step_status.get(s) == "completed"
            ]
            if done and not self.force:
                raise Conflict(
                    f"step {step_number_of(done[0])} ({done[0]}) already completed; "
                    "re-run it with force"
                )
        spec = self.params.db_connection
        self.source_dsn = _resolve(self.config, self._pipeline_for(spec), spec)
        from data_pipeline.runtime import database_name

        self.db_name = self.params.db_name or database_name(self.source_dsn)
        save_table_list(self.params, self.task_dir)

    def _pipeline_for(self, spec: str) -> str | None:
        """The pipeline DSN when ``spec`` names the bundled demo (it lives on that server)."""
        name = spec.strip()[7:] if spec.strip().startswith("source:") else None
        if name and self.config.data_sources.get(name) == DEMO_SOURCE_URL:
            return self._pipeline()
        return self._pipeline_dsn or ""

    def _pipeline(self) -> str:
        if not self._pipeline_dsn:
            from data_pipeline.runtime import pipeline_dsn

            self._pipeline_dsn = pipeline_dsn(self.config)
        return self._pipeline_dsn

    def _run_step(self, index: int, step: str, skip: str | None) -> StepOutcome:
        number, total = step_number_of(step), len(self.plan)
        self._check_still_running()
        self._current_step = step
        outcome = self.outcomes[step] = StepOutcome(step=step, status=StepStatus.RUNNING)
        t0 = time.monotonic()
        if skip:
            outcome.execution_id = self._open_execution(step)
            set_log_context(step=step, execution_id=outcome.execution_id)
            logger.info("step %d/%d %s skipped (%s)", index + 1, total, step, skip)
            outcome.summary = {"skipped": True, "reason": skip}
            self._end_step(outcome, StepStatus.SKIPPED, t0)
            self.progress.report(index, 1.0, step, "skipped", flush=True)
            return outcome
        try:
            module = step_module(step)
        except ImportError as exc:
            module, missing = None, f"step {number} ({step}) is not available: {exc}"
        else:
            missing = module.missing_inputs(self.task_dir)
        if self.clean and module is not None and not missing:
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
        self._set_step_status(step, StepStatus.RUNNING)
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
        tables: list[str] = []
        if step == "ddl_generation":
            from data_pipeline.table_list import load_table_list

            tables = load_table_list(self.params, self.task_dir)
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
            from data_pipeline.llm import get_llm

            self._llm = get_llm(self.config)
        return self._llm

    # Cancellation -----------------------------------------------------------------------
    def _stop_requested(self) -> bool:
        if self._cancel_reason is None and self._is_cancelled():
            self._cancel_reason = getattr(self._is_cancelled, "reason", None) or "cancel requested"
        return self._cancel_reason is not None

    def _cancel_message(self) -> str:
        return f"cancelled: {self._cancel_reason or 'cancel requested'}"

    def _check_still_running(self) -> None:
        """Between steps, notice at once a cancel made through the API (one cheap read)."""
        if self.store is None:
            return
        task = self._retry(self.store.get_task, self.task_id, what="reading the task")
        if task is None or task.status != TaskStatus.RUNNING:
            status = task.status if task else TaskStatus.FAILED
            raise _RunEnded(status, f"the run was ended elsewhere ({status.value})")

    # Tracking ---------------------------------------------------------------------------
    def _retry(self, fn, *args, what: str, tolerance: float | None = None, **kwargs):
        """``with_retry`` with the configured pipeline-database outage tolerance (SPEC §10)."""
        if tolerance is None:
            tolerance = self.config.pipeline_outage_tolerance_seconds
        return with_retry(fn, *args, what=what, tolerance=tolerance, **kwargs)

    def _open_execution(self, step: str, *, files_cleaned: bool = False) -> str | None:
        if self.store is None:
            return None
        execution_id = make_execution_id(self.task_id, step, datetime.now())
        row = self._retry(
            self.store.create_execution,
            self.task_id,
            step,
            execution_id,
            force=self.force,
            files_cleaned=files_cleaned,
            what="recording the execution",
        )
        return row["execution_id"]

    def _set_step_status(self, step: str, status: StepStatus) -> None:
        if self.store is not None:
            self._retry(self.store.set_step_status, self.task_id, step, status, what="step status")

    def _end_step(self, outcome: StepOutcome, status: StepStatus, t0: float) -> None:
        outcome.finished_at = datetime.now(timezone.utc)
        outcome.duration_seconds = round(time.monotonic() - t0, 3)
        if self.store is None:
            outcome.status = status
            return
        # The outcome stays "running" until recorded: when a long outage stops the run here,
        # _finish ends the step as failed rather than reporting an end the tables never got.
        if outcome.execution_id:
            self._retry(
                self.store.complete_execution,
                outcome.execution_id,
                ExecutionStatus(status.value),
                result=outcome.summary,
                error_message=outcome.error,
                what="recording the execution",
            )
        self._set_step_status(outcome.step, status)
        outcome.status = status
        self.register(execution_id=outcome.execution_id, step_name=outcome.step)

    def register(self, **credit) -> None:
        """Register the folder's files; a failure is logged, never fatal to the run."""
        if self.store is None:
            return
        from data_pipeline.outputs import register_outputs

        try:
            self._retry(
                register_outputs, self.store, self.task_id, self.task_dir, **credit,
                what="registering outputs",
            )  # fmt: skip
        except Exception:
            logger.exception("outputs could not be registered")

    def _success_status(self) -> TaskStatus:
        statuses = {s: None for s in STEP_NAMES}
        if self.store is not None:
            task = self._retry(self.store.get_task, self.task_id, what="reading the task")
            statuses.update(task.step_status if task else {})
        statuses.update({s: o.status.value for s, o in self.outcomes.items()})
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
                    self._set_step_status(outcome.step, ended)
                except Exception:  # the database is what failed; finish_run may still work
                    logger.debug("step status not recorded", exc_info=True)
        report = build_report(self, status, error, error_step, started_at, duration)
        path = self.task_dir / RESULT_FILE
        write_json_atomic(path, report)
        log = logger.info if status != TaskStatus.FAILED else logger.error
        log("workflow %s in %.1f s%s", status.value, duration, f": {error}" if error else "")
        # The log must be complete (file and table) before the final registration and before
        # the status tells clients that the run is over.
        self.logs.close()
        if self.store is None or self._ended_elsewhere:
            self.register()
            return report
        self.register()
        try:
            row = self._retry(
                self.store.finish_run,
                self.task_id,
                status,
                result=report,
                error_message=error,
                error_step=error_step,
                pid=self.pid,
                what="recording the outcome",
                # The outcome is worth waiting for: a run failed by a long outage records
                # that once the database is back (SPEC §10). Past the run's time limit the
                # monitor would fail it anyway.
                tolerance=max(
                    self.config.pipeline_outage_tolerance_seconds,
                    self.config.task_timeout_hours * 3600,
                ),
            )
        except Exception:
            logger.exception("the outcome of the run could not be recorded")
            return report
        if row is None:
            task = self.store.get_task(self.task_id)
            actual = task.status if task else TaskStatus.FAILED
            logger.warning("the run had already ended as %s; keeping that", actual.value)
            report["status"] = actual.value
            report["note"] = f"the run ended as {actual.value} before it could finish"
            write_json_atomic(path, report)
            self.register()
        return report


def _resolve(config: Config, pipeline: str | None, spec: str) -> str:
    from data_pipeline.runtime import resolve_source

    return resolve_source(config, pipeline or "", spec)


def main(argv: list[str] | None = None) -> int:
    """The command line (see :mod:`data_pipeline.workflow_cli`)."""
    from data_pipeline.workflow_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
