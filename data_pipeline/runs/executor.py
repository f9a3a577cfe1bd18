"""The executor process the API starts for each run (SPEC §2, §5); its entry point is
``data_pipeline/task_executor.py``.

Only ids and options travel on the command line; the configuration (secrets included) comes
from the environment and the run's parameters from the task row. The run itself goes through
:func:`data_pipeline.runs.tracked.run_tracked`. SIGTERM (the API's cancel) or a heartbeat
refused (the run was cancelled or failed elsewhere) stop the run at the next check, and the
process exits within the grace period even if a step is stuck.

Exit codes: 0 the run succeeded (or was no longer wanted), 1 it failed, 2 bad arguments,
130 it was cancelled.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from app_config import Config, ConfigError
from core.errors import InvalidInput
from core.secrets import mask_secrets
from core.task_logging import configure_logging, configure_server_log
from data_pipeline.runs.heartbeat import CancelSignal
from data_pipeline.runs.tracked import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    RunNotClaimed,
    exit_code,
    run_tracked,
)
from data_pipeline.sources.connection import isolate_from_libpq_environment
from data_pipeline.tasks.models import STEP_NAMES, validate_task_id
from data_pipeline.tasks.runtime import Runtime, open_runtime
from data_pipeline.workflow.plan import params_for_run
from data_pipeline.workflow.run_logging import RunLogging

logger = logging.getLogger("data_pipeline.task_executor")


def _say(message: str) -> None:
    """A line on stderr (the launcher sends it to the task's log file), masked."""
    print(f"task_executor[{os.getpid()}]: {mask_secrets(message)}", file=sys.stderr, flush=True)


def run_task(
    config: Config,
    task_id: str,
    *,
    execution_mode: str | None = None,
    step: int | str | None = None,
    force: bool = False,
    clean: bool = False,
    start_step: int | None = None,
    runtime: Runtime | None = None,
    cancel: CancelSignal | None = None,
    on_lost: Callable[[str], None] | None = None,
    watchdog: ExitWatchdog | None = None,
) -> int:
    """Claim and run the task's current run in this process; return the exit code.

    Args:
        runtime: an open Runtime to use (tests); by default one is opened and closed here.
        cancel: the flag the run polls (set by SIGTERM in :func:`main`).
        on_lost: called when the heartbeat finds the run no longer ours (default: cancel).
        watchdog: the process's exit watchdog; told how to record the outcome before it
            ends a stuck run.
    """
    validate_task_id(task_id)
    cancel = cancel or CancelSignal()
    own_runtime = runtime is None
    if own_runtime:
        runtime = open_runtime(config, migrate=True, load_demo=False, maxconn=8)

    def claimed(task, task_dir, logs: RunLogging) -> None:
        if watchdog is not None:
            watchdog.before_exit = lambda: _record_stuck_stop(runtime.store, task.id, cancel, logs)

    try:
        report = run_tracked(
            runtime,
            task_id,
            lambda task: params_for_run(
                task.parameters, execution_mode, step, start_step=start_step
            ),
            force=force,
            clean=clean,
            cancel=cancel,
            on_lost=on_lost,
            on_claimed=claimed,
        )
        return exit_code(report)
    except RunNotClaimed as exc:
        _say(exc.message)
        return EXIT_OK
    except (KeyboardInterrupt, SystemExit):
        return EXIT_CANCELLED
    except BaseException as exc:  # recorded on the task by run_tracked
        _say(f"executor failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    finally:
        if own_runtime:
            runtime.close()


def _record_stuck_stop(store, task_id: str, cancel: CancelSignal, logs: RunLogging) -> None:
    """The run did not stop in time: record it as cancelled (unless it ended already)."""
    reason = cancel.reason or "stop requested"
    logger.warning("the run did not stop in time after: %s; ending the process", reason)
    logs.flush(timeout=1.0)
    store.cancel_task(task_id, f"cancelled: {reason} (the step did not stop in time)")


class ExitWatchdog:
    """Ends the process ``delay`` seconds after being armed, if it has not ended by then:
    a step stuck in a long call must not outlive the API's grace period. ``before_exit``
    (set once the run is known) records the outcome first."""

    def __init__(self, delay: float, code: int = EXIT_CANCELLED):
        self.delay = delay
        self.code = code
        self.before_exit: Callable[[], None] | None = None
        self._armed = threading.Event()

    def arm(self) -> None:
        if self._armed.is_set():
            return
        self._armed.set()
        threading.Thread(target=self._wait, name="exit-watchdog", daemon=True).start()

    def _wait(self) -> None:
        threading.Event().wait(self.delay)
        _say(f"the run did not stop within {self.delay:.1f} s; exiting now")
        if self.before_exit is not None:
            try:
                self.before_exit()
            except Exception as exc:
                _say(f"could not record the stop: {exc}")
        os._exit(self.code)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="task_executor.py", description="Run one run of a pipeline task (started by the API)."
    )
    p.add_argument("--task-id", required=True)
    p.add_argument("--execution-mode", choices=("complete", "single"))
    which = p.add_mutually_exclusive_group()
    which.add_argument("--single-step", type=int, choices=range(1, 5), metavar="1-4")
    which.add_argument("--step-name", choices=STEP_NAMES)
    p.add_argument("--force", action="store_true", help="re-run steps that completed already")
    p.add_argument("--clean", action="store_true", help="remove the steps' earlier outputs")
    p.add_argument(
        "--start-step", type=int, choices=range(1, 5), metavar="1-4",
        help="complete mode from this step to the task's end step (resume)",
    )  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        validate_task_id(args.task_id)
        config = Config.from_env()
    except (ConfigError, InvalidInput) as exc:
        _say(f"error: {exc}")
        return EXIT_USAGE
    # stdout/stderr already go to the task's log file, which the run's file handler also
    # writes: no console handler, or every record would appear twice.
    configure_logging(config.log_level, console=False)
    configure_server_log(config.server_log_file, console=False)
    isolate_from_libpq_environment()
    cancel = CancelSignal()
    watchdog = ExitWatchdog(max(1.0, config.cancel_grace_seconds - 1.0))

    def stop(reason: str) -> None:
        cancel.set(reason)
        watchdog.arm()

    signal.signal(signal.SIGTERM, lambda signum, frame: stop("the executor received SIGTERM"))
    try:
        return run_task(
            config,
            args.task_id,
            execution_mode=args.execution_mode,
            step=args.step_name or args.single_step,
            force=args.force,
            clean=args.clean,
            start_step=args.start_step,
            cancel=cancel,
            on_lost=stop,
            watchdog=watchdog,
        )
    except BaseException as exc:  # run_task records failures; this only reports them
        _say(f"executor failed before its run started: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
