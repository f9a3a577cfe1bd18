"""Where a run records what happens: the task tables, or nowhere.

The orchestrator talks to one :class:`RunTracker`. :class:`DatabaseTracker` writes the run's
step statuses, executions, progress, outputs, log records and outcome to the task tables,
riding out short pipeline-database outages (SPEC §10); :class:`Untracked` records nothing
(``--no-db-tracking``: the task folder and its log file are the whole record).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from core.errors import Conflict, DatabaseUnavailable
from core.task_logging import DatabaseLogHandler
from data_pipeline.tasks.models import (
    ExecutionStatus,
    StepStatus,
    TaskStatus,
    make_execution_id,
    step_number_of,
)
from data_pipeline.tasks.output_store import OutputStore, OutputStoreError, output_store_for
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.outputs import register_outputs

logger = logging.getLogger(__name__)

# SPEC §10: an outage of the pipeline database shorter than this does not fail a run.
OUTAGE_TOLERANCE_SECONDS = 60.0


class RunEnded(Exception):
    """The task stopped running before or between steps (cancelled or failed elsewhere)."""

    def __init__(self, status: TaskStatus, message: str):
        super().__init__(message)
        self.status = status


def with_retry(
    fn: Callable,
    *args,
    what: str,
    tolerance: float = OUTAGE_TOLERANCE_SECONDS,
    **kwargs,
):
    """Call ``fn``; while the pipeline database is unreachable, retry with back-off for up to
    ``tolerance`` seconds, then raise DatabaseUnavailable saying the outage lasted too long."""
    deadline = time.monotonic() + tolerance
    delay = 0.25
    warned = False
    while True:
        try:
            return fn(*args, **kwargs)
        except DatabaseUnavailable as exc:
            if time.monotonic() + delay > deadline:
                raise DatabaseUnavailable(
                    f"{what}: the pipeline database was unreachable for too long "
                    f"(over {tolerance:g} s): {exc.message}"
                ) from exc
            if not warned:
                logger.warning("%s: %s; retrying for up to %.0f s", what, exc.message, tolerance)
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class RunTracker(ABC):
    """What the orchestrator records about a run, and where."""

    #: whether anything is recorded outside the task folder
    tracked: bool = False
    task_id: str | None = None
    #: the pipeline database the run is tracked in, when there is one
    pipeline_dsn: str | None = None

    @abstractmethod
    def begin(self, steps_to_run: list[str], *, force: bool) -> None:
        """Check that the run may start: raise RunEnded when it is no longer wanted, Conflict
        when a step to run has completed before and ``force`` is not given."""

    @abstractmethod
    def check_running(self) -> None:
        """Between steps: raise RunEnded when the run was cancelled or failed elsewhere."""

    @abstractmethod
    def step_statuses(self) -> dict[str, str]:
        """The recorded status of every step of the task (empty when untracked)."""

    @abstractmethod
    def open_execution(self, step: str, *, force: bool, files_cleaned: bool) -> str | None:
        """Record the start of a step's execution; return its id (None when untracked)."""

    @abstractmethod
    def set_step_status(self, step: str, status: StepStatus) -> None: ...

    @abstractmethod
    def end_step(
        self,
        step: str,
        execution_id: str | None,
        status: StepStatus,
        *,
        summary: dict | None,
        error: str | None,
        task_dir: Path,
    ) -> None:
        """Record a step's end: its execution, its status and the files it wrote."""

    @abstractmethod
    def register_outputs(self, task_dir: Path) -> None:
        """Bring the registered output files in line with the folder (never fatal)."""

    def connect_output_store(self, config) -> None:
        """Copy the files it registers to the output store ``config`` names (tracked runs)."""
        return None

    @abstractmethod
    def known_outputs(self) -> dict[str, dict]:
        """Registered output rows by path (hashes to reuse), empty when there are none."""

    @abstractmethod
    def update_progress(self, percent: int, step: str | None) -> None: ...

    @abstractmethod
    def finish(
        self, status: TaskStatus, report: dict, error: str | None, error_step: str | None
    ) -> TaskStatus | None:
        """Record the run's outcome. Returns None when recorded, or the status the run had
        already ended with elsewhere (cancelled, failed by the monitor)."""

    @abstractmethod
    def log_handler(self) -> DatabaseLogHandler | None:
        """A handler sending the run's log records where the run is tracked, if anywhere."""


class Untracked(RunTracker):
    """Records nothing: ``--no-db-tracking`` runs, and runs of tests and tools."""

    def begin(self, steps_to_run: list[str], *, force: bool) -> None:
        return None

    def check_running(self) -> None:
        return None

    def step_statuses(self) -> dict[str, str]:
        return {}

    def open_execution(self, step: str, *, force: bool, files_cleaned: bool) -> str | None:
        return None

    def set_step_status(self, step: str, status: StepStatus) -> None:
        return None

    def end_step(self, step, execution_id, status, *, summary, error, task_dir) -> None:
        return None

    def register_outputs(self, task_dir: Path) -> None:
        return None

    def known_outputs(self) -> dict[str, dict]:
        return {}

    def update_progress(self, percent: int, step: str | None) -> None:
        return None

    def finish(self, status, report, error, error_step) -> TaskStatus | None:
        return None

    def log_handler(self) -> DatabaseLogHandler | None:
        return None


class DatabaseTracker(RunTracker):
    """Tracks a run of ``task_id`` in the task tables (the task must be ``running`` already).

    Args:
        store: the task store.
        task_id: the task whose run this is.
        pid: the executor's pid, guarding the final status update.
        tolerance: seconds a pipeline-database outage is ridden out before the run fails.
        finish_tolerance: the same for recording the outcome (worth waiting longer for: a run
            failed by a long outage records that once the database is back).
        output_store: where registered files are copied (else the one the configuration
            names, see :meth:`connect_output_store`).
    """

    tracked = True

    def __init__(
        self,
        store: TaskStore,
        task_id: str,
        *,
        pid: int | None = None,
        tolerance: float = OUTAGE_TOLERANCE_SECONDS,
        finish_tolerance: float | None = None,
        output_store: OutputStore | None = None,
    ):
        self.store = store
        self.output_store = output_store
        self.task_id = task_id
        self.pid = pid
        self.tolerance = tolerance
        self.finish_tolerance = max(tolerance, finish_tolerance or 0.0)
        self.pipeline_dsn = store.db.dsn

    def _retry(self, fn, *args, what: str, tolerance: float | None = None, **kwargs):
        limit = self.tolerance if tolerance is None else tolerance
        return with_retry(fn, *args, what=what, tolerance=limit, **kwargs)

    def _task(self):
        return self._retry(self.store.get_task, self.task_id, what="reading the task")

    def begin(self, steps_to_run: list[str], *, force: bool) -> None:
        task = self._task()
        if task is None:
            raise RunEnded(TaskStatus.FAILED, f"task {self.task_id} does not exist")
        if task.status != TaskStatus.RUNNING:
            raise RunEnded(task.status, f"task {self.task_id} is {task.status.value}")
        done = [s for s in steps_to_run if task.step_status.get(s) == "completed"]
        if done and not force:
            raise Conflict(
                f"step {step_number_of(done[0])} ({done[0]}) already completed; "
                "re-run it with force"
            )

    def check_running(self) -> None:
        task = self._task()
        if task is None or task.status != TaskStatus.RUNNING:
            status = task.status if task else TaskStatus.FAILED
            raise RunEnded(status, f"the run was ended elsewhere ({status.value})")

    def step_statuses(self) -> dict[str, str]:
        task = self._task()
        return dict(task.step_status) if task else {}

    def open_execution(self, step: str, *, force: bool, files_cleaned: bool) -> str | None:
        row = self._retry(
            self.store.create_execution,
            self.task_id,
            step,
            make_execution_id(self.task_id, step, datetime.now()),
            force=force,
            files_cleaned=files_cleaned,
            what="recording the execution",
        )
        return row["execution_id"]

    def set_step_status(self, step: str, status: StepStatus) -> None:
        self._retry(self.store.set_step_status, self.task_id, step, status, what="step status")

    def connect_output_store(self, config) -> None:
        if self.output_store is None:
            self.output_store = output_store_for(config, self.store.db)

    def end_step(self, step, execution_id, status, *, summary, error, task_dir) -> None:
        # The step's files are registered (and copied to the output store) before its end is
        # recorded: a completed step whose files cannot be copied fails, as on a full disk
        # (see data_pipeline.workflow.outputs).
        unshared = self._register(task_dir, execution_id=execution_id, step_name=step)
        failed_here = unshared is not None and status == StepStatus.COMPLETED
        if failed_here:
            status, error = StepStatus.FAILED, unshared.message
        if execution_id:
            self._retry(
                self.store.complete_execution,
                execution_id,
                ExecutionStatus(status.value),
                result=summary,
                error_message=error,
                what="recording the execution",
            )
        self.set_step_status(step, status)
        if failed_here:
            raise unshared

    def register_outputs(self, task_dir: Path) -> None:
        self._register(task_dir)

    def _register(self, task_dir: Path, **credit) -> OutputStoreError | None:
        """Register the folder; the OutputStoreError when files could not be copied (each is
        logged already), None otherwise (other failures are logged, never fatal)."""
        try:
            self._retry(
                register_outputs, self.store, self.task_id, task_dir, **credit,
                output_store=self.output_store, what="registering outputs",
            )  # fmt: skip
        except OutputStoreError as exc:
            return exc
        except Exception:
            logger.exception("outputs could not be registered")
        return None

    def known_outputs(self) -> dict[str, dict]:
        try:
            return {r["file_path"]: r for r in self.store.list_outputs(self.task_id)}
        except Exception:  # only a cache of hashes
            return {}

    def update_progress(self, percent: int, step: str | None) -> None:
        self.store.update_progress(self.task_id, percent, step)

    def finish(self, status, report, error, error_step) -> TaskStatus | None:
        row = self._retry(
            self.store.finish_run,
            self.task_id,
            status,
            result=report,
            error_message=error,
            error_step=error_step,
            pid=self.pid,
            what="recording the outcome",
            tolerance=self.finish_tolerance,
        )
        if row is not None:
            return None
        task = self.store.get_task(self.task_id)
        return task.status if task else TaskStatus.FAILED

    def log_handler(self) -> DatabaseLogHandler | None:
        return DatabaseLogHandler(self.store)
