"""Starting and stopping executor processes from the API process.

An executor is started detached (its own session, so its own process group) with only ids and
options on its command line; everything else, secrets included, travels in its environment.
Its stdout/stderr go to the task folder's ``data_pipeline.log``. A thread per child waits for
it, so no zombie processes pile up, and fails the run at once if the child died without
recording an outcome.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

from app_config import PROJECT_ROOT, Config
from core.errors import PipelineError
from core.task_logging import LOG_FILE_NAME
from data_pipeline.tasks.models import Task
from data_pipeline.tasks.store import TaskStore

logger = logging.getLogger(__name__)

EXECUTOR_SCRIPT = PROJECT_ROOT / "data_pipeline" / "task_executor.py"
HOSTNAME = socket.gethostname()

# Environment variable of each Config field (see Config.from_env); fields not listed are
# derived (data_sources travels as DATA_SOURCES JSON).
_ENV_NAMES = {
    "pipeline_database_url": "PIPELINE_DATABASE_URL",
    "vector_database_url": "VECTOR_DATABASE_URL",
    "api_token": "DATA_PIPELINE_API_TOKEN",
    "host": "DATA_PIPELINE_HOST",
    "port": "DATA_PIPELINE_PORT",
    "embedded_pg_dir": "EMBEDDED_PG_DIR",
    "data_root": "DATA_PIPELINE_ROOT",
}
_SOURCE_PREFIX, _SOURCE_SUFFIX = "SOURCE_", "_URL"


class LaunchFailed(PipelineError):
    """The executor process could not be started."""

    http_status = 500
    error_type = "launch_failed"


def _env_name(field_name: str) -> str:
    return _ENV_NAMES.get(field_name, field_name.upper())


def config_env(config: Config) -> dict[str, str]:
    """Environment variables that make ``Config.from_env`` in a child equal ``config``.

    With the embedded server no DSN is passed: the child attaches to the same data folder
    itself, and so keeps the server up even if the API process exits first.
    """
    env: dict[str, str] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name == "data_sources" or value is None:
            continue
        if isinstance(value, bool):
            env[_env_name(f.name)] = "true" if value else "false"
        else:
            env[_env_name(f.name)] = str(value)
    # The parent's sources travel whole (SOURCE_*_URL variables are not inherited).
    env["DATA_SOURCES"] = json.dumps(dict(config.data_sources))
    return env


def child_environment(config: Config) -> dict[str, str]:
    """``os.environ`` without any configuration variable, plus ``config_env(config)``."""
    ours = {_env_name(f.name) for f in fields(config)} | {"DATA_SOURCES"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ours and not (k.startswith(_SOURCE_PREFIX) and k.endswith(_SOURCE_SUFFIX))
    }
    env.update(config_env(config))
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
) -> list[str]:
    """The executor's command line: ids and options only, never a secret."""
    cmd = [sys.executable, str(EXECUTOR_SCRIPT), "--task-id", task_id]
    cmd += ["--execution-mode", execution_mode]
    if step_name:
        cmd += ["--step-name", step_name]
    if force:
        cmd.append("--force")
    if clean:
        cmd.append("--clean")
    return cmd


class Launcher:
    """Spawns executors for one API process and remembers its own children."""

    def __init__(self, config: Config, store: TaskStore):
        self.config = config
        self.store = store
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
    ) -> int:
        """Start the executor of a run the caller has just started (``store.start_run``).

        On failure the run is failed with the reason and LaunchFailed is raised.
        """
        cmd = executor_command(
            task.id, execution_mode=execution_mode, step_name=step_name, force=force, clean=clean
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
                self.store.fail_running_task(
                    task_id,
                    f"executor process {proc.pid} on host {HOSTNAME} ended ({how}) "
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


def pid_alive(pid: int | None) -> bool:
    """Whether a process exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        # "pid (comm) S ..." — the state follows the last parenthesis.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group still runs (zombies excluded)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            parts = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(parts[2]) == pgid and parts[0] != "Z":
                return True
    return False


def is_our_executor(pid: int | None, task_id: str) -> bool:
    """Whether ``pid`` is the executor of ``task_id`` started detached on this host."""
    if not pid or not pid_alive(pid):
        return False
    try:
        if os.getpgid(pid) != pid:  # started with its own session: group id == pid
            return False
    except ProcessLookupError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        args = cmdline.read_bytes().split(b"\0")
        return any(a.endswith(b"task_executor.py") for a in args) and task_id.encode() in args
    return True  # no /proc (macOS): the group check above must do


def terminate_group(pgid: int, pid: int, *, grace: float, waiter=None) -> str:
    """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it.

    Returns how it ended: ``gone`` (nothing to signal), ``terminated`` or ``killed``.
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return "gone"
    deadline = time.monotonic() + grace
    if waiter is not None:
        waiter(pid, grace)
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.05)
    if not group_alive(pgid):
        return "terminated"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    end = time.monotonic() + 2.0
    while time.monotonic() < end and group_alive(pgid):
        time.sleep(0.02)
    return "killed"


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
