"""One tracked run in this process: claim → logging → heartbeat → workflow → outcome.

The executor process (:mod:`data_pipeline.runs.executor`) and the command line
(:mod:`data_pipeline.cli.workflow`) both run a task's run through :func:`run_tracked`, so both
claim it the same way, log it to the same places, keep it alive the same way and record its
failure the same way, whatever stops it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from core.errors import PipelineError, error_summary
from core.task_logging import clear_log_context, set_log_context
from data_pipeline.runs.heartbeat import CancelSignal, Heartbeat
from data_pipeline.tasks.folders import safe_task_folder
from data_pipeline.tasks.models import Task, TaskStatus
from data_pipeline.tasks.runtime import Runtime
from data_pipeline.workflow.orchestrator import SchemaWorkflowOrchestrator
from data_pipeline.workflow.params import WorkflowParams
from data_pipeline.workflow.run_logging import RunLogging
from data_pipeline.workflow.tracking import DatabaseTracker

logger = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()

# Exit codes of the processes that run a run (the executor, the command line).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
_EXIT_CODES = {
    TaskStatus.COMPLETED: EXIT_OK,
    TaskStatus.PARTIAL_COMPLETED: EXIT_OK,
    TaskStatus.FAILED: EXIT_FAILED,
    TaskStatus.CANCELLED: EXIT_CANCELLED,
}


def exit_code(report: dict) -> int:
    """The exit code of a process whose run ended with ``report``: 0 when it succeeded
    (completed or partially completed), 130 when cancelled, 1 otherwise."""
    return _EXIT_CODES.get(TaskStatus(report["status"]), EXIT_FAILED)


class RunNotClaimed(PipelineError):
    """The run was no longer wanted (cancelled, or claimed by another process)."""

    error_type = "not_claimed"


def run_tracked(
    runtime: Runtime,
    task_id: str,
    params_for: Callable[[Task], WorkflowParams],
    *,
    who: str = "executor",
    force: bool = False,
    clean: bool = False,
    cancel: CancelSignal | None = None,
    on_lost: Callable[[str], None] | None = None,
    on_claimed: Callable[[Task, Path, RunLogging], None] | None = None,
    progress_display: Callable[[int, str | None, str | None], None] | None = None,
) -> dict:
    """Claim and run the current run of ``task_id``; return the run's report.

    The task must be ``running`` (``TaskStore.start_run``). Whatever stops the run outside the
    workflow's own handling (an error before the first step, Ctrl-C, a database failure) is
    recorded on the task before the exception propagates: the task never stays ``running``.

    Args:
        runtime: the open pipeline database (and configuration).
        params_for: the run's parameters, from the claimed task.
        who: how failures outside the workflow are attributed (``executor failed: …``).
        cancel: the flag the run polls (SIGTERM, Ctrl-C); the heartbeat sets it when the run
            is cancelled or failed elsewhere, unless ``on_lost`` says otherwise.
        on_claimed: called once the run is claimed and its log is open (the task, its folder,
            the log handlers), before anything else happens.
        progress_display: called with (percent, step, note) on every progress report.

    Raises:
        RunNotClaimed: the run was no longer wanted; nothing was recorded.
    """
    config, store, pid = runtime.config, runtime.store, os.getpid()
    cancel = cancel or CancelSignal()
    heartbeat = logs = None
    set_log_context(task_id=task_id, step=None, execution_id=None)
    try:
        task = store.claim_run(task_id, pid, HOSTNAME)
        if task is None:
            raise RunNotClaimed(
                f"task {task_id}: run no longer wanted (not running, or claimed by another)"
            )
        # This host's copy of the task folder: where the task says when that lies in this
        # process's data root, else <DATA_PIPELINE_ROOT>/<task_id> (a worker on another host).
        root = Path(config.data_root).resolve()
        task_dir = safe_task_folder(root, task_id, task.output_directory) or root / task_id
        tracker = DatabaseTracker(
            store,
            task_id,
            pid=pid,
            tolerance=config.pipeline_outage_tolerance_seconds,
            # The outcome is worth waiting for: a run failed by a long outage records that
            # once the database is back (SPEC §10). Past the run's time limit the monitor
            # would fail it anyway.
            finish_tolerance=config.task_timeout_hours * 3600,
        )
        logs = RunLogging(task_dir, tracker).open()
        logger.info("%s pid %d on %s claimed the run", who, pid, HOSTNAME)
        if on_claimed is not None:
            on_claimed(task, task_dir, logs)
        params = params_for(task)
        heartbeat = Heartbeat(
            store, task_id, pid, config.heartbeat_interval_seconds, on_lost or cancel.set
        ).start()
        return SchemaWorkflowOrchestrator(
            config,
            params,
            task_dir,
            tracker=tracker,
            force=force,
            clean=clean,
            is_cancelled=cancel,
            progress_display=progress_display,
            pipeline_dsn=runtime.pipeline_dsn,
            logs=logs,
            trusted_source=task.created_by == "manual",
        ).run()
    except RunNotClaimed:
        raise
    except BaseException as exc:  # the outermost try: every failure is recorded
        _record_stop(store, task_id, pid, exc, who, logs)
        raise
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        if logs is not None:
            logs.close()
        clear_log_context()


def _record_stop(store, task_id: str, pid: int, exc: BaseException, who: str, logs) -> None:
    """Record a run stopped outside the workflow: cancelled on Ctrl-C, failed otherwise."""
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        status, message = TaskStatus.CANCELLED, "interrupted (Ctrl-C)"
    else:
        detail = (
            exc.message
            if isinstance(exc, PipelineError)
            else (f"{type(exc).__name__}: {error_summary(exc)}")
        )
        status, message = TaskStatus.FAILED, f"{who} failed: {detail}"
        logger.error(message, exc_info=not isinstance(exc, PipelineError))
    try:
        if logs is not None:
            logs.close()
        store.finish_run(task_id, status, error_message=message, pid=pid)
    except Exception as record_exc:
        logger.error("could not record that the run stopped: %s", error_summary(record_exc))
