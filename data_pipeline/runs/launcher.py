"""Starting and stopping executor processes from the API process.

An executor is started detached (its own session, so its own process group) with only ids and
options on its command line; everything else, secrets included, travels in its environment.
Its stdout/stderr go to the task folder's ``data_pipeline.log``. A thread per child waits for
it, so no zombie processes pile up, and fails the run at once if the child died without
recording an outcome.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from app_config import PROJECT_ROOT, Config
from core.errors import PipelineError
from core.processes import command_line, pid_alive, terminate_group
from core.task_logging import LOG_FILE_NAME
from data_pipeline.tasks.models import Task
from data_pipeline.tasks.store import TaskStore

logger = logging.getLogger(__name__)

EXECUTOR_SCRIPT = PROJECT_ROOT / "data_pipeline" / "task_executor.py"
HOSTNAME = socket.gethostname()


class LaunchFailed(PipelineError):
    """The executor process could not be started."""

    http_status = 500
    error_type = "launch_failed"


def child_environment(config: Config) -> dict[str, str]:
    """The executor's environment: ``os.environ`` without any configuration variable, plus
    the variables that make ``Config.from_env()`` in the child equal ``config``.

    With the embedded server no DSN is passed: the child attaches to the same data folder
    itself, and so keeps the server up even if the API process exits first.
    """
    env = {k: v for k, v in os.environ.items() if not Config.is_setting_variable(k)}
    env.update(config.to_env())
    env.setdefault("LC_ALL", "C.UTF-8")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def executor_command(
    task_id: str,
    *,
    execution_mode: str = "complete",
    step_name: str | None = None,
    force: bool = False,
    clean: bool = False,
    start_step: int | None = None,
) -> list[str]:
    """The executor's command line: ids and options only, never a secret."""
    cmd = [sys.executable, str(EXECUTOR_SCRIPT), "--task-id", task_id]
    cmd += ["--execution-mode", execution_mode]
    if step_name:
        cmd += ["--step-name", step_name]
    if start_step:
        cmd += ["--start-step", str(int(start_step))]
    if force:
        cmd.append("--force")
    if clean:
        cmd.append("--clean")
    return cmd


class Launcher:
    """Spawns executors for one process (a worker) and remembers its own children."""

    def __init__(self, config: Config, store: TaskStore, *, worker_name: str | None = None):
        self.config = config
        self.store = store
        self.worker_name = worker_name
        self._children: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def spawn(
        self,
        task: Task,
        task_dir: Path,
        *,
        execution_mode: str = "complete",
        step_name: str | None = None,
        force: bool = False,
        clean: bool = False,
        start_step: int | None = None,
    ) -> int:
        """Start the executor of a run the caller has just started (``store.start_run``).

        On failure the run is failed with the reason and LaunchFailed is raised.
        """
        cmd = executor_command(
            task.id,
            execution_mode=execution_mode,
            step_name=step_name,
            force=force,
            clean=clean,
            start_step=start_step,
        )
        try:
            task_dir.mkdir(parents=True, exist_ok=True)
            with open(task_dir / LOG_FILE_NAME, "ab") as log_file:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=str(PROJECT_ROOT),
                    env=child_environment(self.config),
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            message = f"could not start the executor process: {exc.strerror or exc}"
            logger.error("task %s: %s", task.id, message)
            self.store.fail_running_task(task.id, message)
            raise LaunchFailed(message, details={"task_id": task.id}) from None
        with self._lock:
            self._children[proc.pid] = proc
        self.store.record_launch(task.id, proc.pid, HOSTNAME)
        threading.Thread(
            target=self._reap, args=(task.id, proc), name=f"reap-{proc.pid}", daemon=True
        ).start()
        logger.info("task %s: executor started (pid %s, %s)", task.id, proc.pid, " ".join(cmd[2:]))
        return proc.pid

    def _reap(self, task_id: str, proc: subprocess.Popen) -> None:
        """Wait for a child; if it left its run running, fail the run saying so."""
        rc = proc.wait()
        with self._lock:
            self._children.pop(proc.pid, None)
        how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
        logger.info("task %s: executor %s ended (%s)", task_id, proc.pid, how)
        with contextlib.suppress(Exception):  # the monitor settles it later otherwise
            task = self.store.get_task(task_id)
            if task and task.status.value == "running" and task.executor_pid == proc.pid:
                where = f"worker {self.worker_name}" if self.worker_name else f"host {HOSTNAME}"
                self.store.fail_running_task(
                    task_id,
                    f"executor process {proc.pid} on {where} ended ({how}) "
                    "without recording the outcome of the run",
                )

    def is_child(self, pid: int | None) -> bool:
        with self._lock:
            return pid in self._children

    def wait_child(self, pid: int, timeout: float) -> bool:
        """True when our child ``pid`` has exited within ``timeout``."""
        with self._lock:
            proc = self._children.get(pid)
        if proc is None:
            return not pid_alive(pid)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop_all(self, timeout: float = 2.0) -> None:
        """Used by tests: terminate every child still running."""
        with self._lock:
            children = list(self._children.values())
        for proc in children:
            terminate_group(proc.pid, proc.pid, grace=timeout)


def is_our_executor(pid: int | None, task_id: str) -> bool:
    """Whether ``pid`` is the executor of ``task_id`` started detached on this host."""
    if not pid or not pid_alive(pid):
        return False
    try:
        if os.getpgid(pid) != pid:  # started with its own session: group id == pid
            return False
    except ProcessLookupError:
        return False
    args = command_line(pid)
    if args is None:
        return True  # not ours to read (another user): the group check above must do
    return any(a.endswith("task_executor.py") for a in args) and task_id in args


def cancel_run(
    store: TaskStore,
    task: Task,
    grace: float,
    *,
    launcher: Launcher | None = None,
    message: str = "cancelled by user",
    wait: bool = False,
) -> Task | None:
    """Cancel a pending or running task, then stop its executor's process group.

    The status is written first, so the dying executor cannot overwrite it (its updates are
    guarded). The process is only signalled when it runs on this host and is the task's
    executor. Returns the cancelled task, or None when it was not active.
    """
    cancelled = store.cancel_task(task.id, message)
    if cancelled is None:
        return None
    # The returned row has the pid recorded up to the cancel (the caller's copy may not).
    stop_executor(cancelled, grace, launcher=launcher, wait=wait)
    return cancelled


def stop_executor(
    task: Task, grace: float, *, launcher: Launcher | None = None, wait: bool = False
) -> None:
    """Terminate the task's executor if it runs here (in a thread unless ``wait``)."""
    pid = task.executor_pid
    if not pid or (task.executor_host and task.executor_host != HOSTNAME):
        return
    if not (launcher and launcher.is_child(pid)) and not is_our_executor(pid, task.id):
        return
    waiter = launcher.wait_child if launcher else None

    def _stop() -> None:
        how = terminate_group(pid, pid, grace=grace, waiter=waiter)
        logger.info("task %s: executor %s %s", task.id, pid, how)

    if wait:
        _stop()
    else:
        threading.Thread(target=_stop, name=f"stop-{pid}", daemon=True).start()
