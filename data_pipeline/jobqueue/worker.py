"""A worker: takes "run this task" jobs from the queue and runs them, one executor each.

For each job (in a thread of procrastinate's worker):

1. **A slot**: the run starts only when fewer than ``MAX_CONCURRENT_TASKS`` tasks run across all
   workers and it is the oldest queued task a worker holds (``TaskStore.claim_queued_run``,
   serialised by the lock every start takes). While it waits, a cancelled or deleted task lets
   the job go.
2. **The working copy**: the task folder under this worker's ``DATA_PIPELINE_ROOT`` gets the
   files earlier runs published (another host may have run step 1) from the output store.
3. **The executor**: ``task_executor.py`` through ``subprocess.Popen`` as the API always did
   (one process per run, its own process group; :class:`data_pipeline.runs.launcher.Launcher`),
   with this worker's name; the host and pid go on the task and its executions.
4. **Watching it**: until it exits; when the task is cancelled (on any API node) or the job is
   aborted, the process group is stopped within ``CANCEL_GRACE_SECONDS``. A worker that shuts
   down leaves its executors running: they record their own outcome.

The periodic monitor runs in workers too (once per period across all of them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

from procrastinate.job_context import AbortReason, JobContext
from procrastinate.worker import Worker as ProcrastinateWorker

from app_config import Config
from core.processes import terminate_group
from data_pipeline.jobqueue.dispatch import Dispatcher, RunRequest
from data_pipeline.jobqueue.jobs import MONITOR_QUEUE, TASKS_QUEUE, QueueApp
from data_pipeline.runs.launcher import Launcher
from data_pipeline.runs.monitor import Monitor
from data_pipeline.tasks.folders import safe_task_folder
from data_pipeline.tasks.models import TaskStatus
from data_pipeline.tasks.runtime import Runtime

logger = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()
SLOT_POLL_SECONDS = 0.1  # how often a waiting job asks for a slot
WATCH_POLL_SECONDS = 0.25  # how often a running job looks at its task and its process
WORKER_NAME_ENV = "DATA_PIPELINE_WORKER_NAME"


def default_worker_name() -> str:
    return f"{HOSTNAME}-{os.getpid()}"


class Worker:
    """A procrastinate worker with the pipeline's job bodies, in a thread of its own."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        name: str | None = None,
        concurrency: int | None = None,
        monitor: bool | None = None,
    ):
        self.runtime = runtime
        self.config: Config = runtime.config
        self.store = runtime.store
        self.name = name or default_worker_name()
        self.concurrency = max(1, int(concurrency or self.config.worker_concurrency or 1))
        self.queue = QueueApp(runtime.pipeline_dsn, application_name="data_pipeline_worker")
        self.launcher = Launcher(self.config, self.store, worker_name=self.name)
        self.dispatcher = Dispatcher(self.store, self.queue)
        self.queue.on_run_task(self._run_task)
        monitor = self.config.monitor_enabled if monitor is None else monitor
        self.monitor = (
            Monitor(self.config, self.store, runtime.pipeline_dsn, launcher=self.launcher,
                    dispatcher=self.dispatcher, leader_lock=False,
                    output_store=runtime.output_store)
            if monitor
            else None
        )  # fmt: skip
        if self.monitor is not None:
            self.queue.on_monitor(self.monitor.sweep, self.config.monitor_interval_seconds)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None

    # Running ------------------------------------------------------------------------------
    def run(self, *, install_signal_handlers: bool = True) -> None:
        """Run in the calling thread until stopped (``stop()`` or SIGTERM/SIGINT)."""
        asyncio.run(self._main(install_signal_handlers))

    def start(self) -> Worker:
        """Run in a daemon thread (the API's embedded worker)."""
        self._thread = threading.Thread(
            target=self._thread_main, name=f"worker-{self.name}", daemon=True
        )
        self._thread.start()
        self._started.wait(5)  # ready to take jobs, usually within milliseconds
        return self

    def _thread_main(self) -> None:
        try:
            self.run(install_signal_handlers=False)
        except BaseException as exc:  # recorded for stop() and the logs
            self.error = exc
            logger.exception("worker %s stopped with an error", self.name)
        finally:
            self._started.set()

    async def _main(self, install_signal_handlers: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if install_signal_handlers:  # SIGTERM / SIGINT stop both of procrastinate's workers
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self._stop.set)
        options = {
            "install_signal_handlers": False,
            "listen_notify": True,
            "fetch_job_polling_interval": 1.0,
            "abort_job_polling_interval": 1.0,
            "shutdown_graceful_timeout": 1.0,
            "update_heartbeat_interval": min(10.0, self.config.heartbeat_interval_seconds),
            "delete_jobs": "successful",
        }
        async with self.queue.app.open_async():
            parts = [ProcrastinateWorker(
                self.queue.app, queues=[TASKS_QUEUE], name=self.name,
                concurrency=self.concurrency, **options,
            )]  # fmt: skip
            if self.monitor is not None:
                # The monitor on a worker of its own, so that it never takes a run's slot.
                parts.append(ProcrastinateWorker(
                    self.queue.app, queues=[MONITOR_QUEUE], name=f"{self.name}-monitor",
                    concurrency=1, **options,
                ))  # fmt: skip
            running = [asyncio.create_task(w.run()) for w in parts]
            logger.info(
                "worker %s on %s: up to %d run(s) at once, data root %s",
                self.name, HOSTNAME, self.concurrency, self.config.data_root,
            )  # fmt: skip
            self._started.set()
            stopper = asyncio.create_task(self._stop.wait())
            await asyncio.wait({*running, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for w in parts:
                w.stop()  # graceful: jobs still running are aborted after the timeout
            await asyncio.gather(*running, return_exceptions=True)
            stopper.cancel()
        logger.info("worker %s stopped", self.name)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; runs already started go on in their executors."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self.queue.close()

    # The job ------------------------------------------------------------------------------
    def _run_task(self, context: JobContext, task_id: str) -> str:
        """Body of ``run_task``: a slot, the working copy, the executor, and watching it."""
        task = self._wait_for_slot(context, task_id)
        if task is None:
            return "not run"
        request = RunRequest.from_dict(task.queue_request)
        folder = self._working_copy(task)
        pid = self.launcher.spawn(
            task,
            folder,
            execution_mode=request.execution_mode,
            step_name=request.step_name,
            force=request.force,
            clean=request.clean,
            start_step=request.start_step,
        )
        return self._watch(context, task_id, pid)

    def _let_exit(self, task_id: str, pid: int, timeout: float) -> None:
        """An executor that recorded its outcome exits by itself; one that lingers (or a
        run failed by the monitor while it still runs) is stopped."""
        if not self.launcher.wait_child(pid, timeout):
            how = terminate_group(
                pid, pid, grace=self.config.cancel_grace_seconds, waiter=self.launcher.wait_child
            )
            logger.warning("task %s: executor %s lingered after the run ended: %s",
                           task_id, pid, how)  # fmt: skip

    def _wait_for_slot(self, context: JobContext, task_id: str):
        waited = False
        while True:
            outcome, task = self.store.claim_queued_run(
                task_id,
                worker=self.name,
                host=HOSTNAME,
                max_running=self.config.max_concurrent_tasks,
            )
            if outcome == "claimed":
                logger.info(
                    "worker %s: task %s started%s", self.name, task_id,
                    " after waiting for a slot" if waited else "",
                )  # fmt: skip
                return task
            if outcome == "gone":
                status = task.status.value if task else "deleted"
                logger.info("worker %s: task %s is no longer queued (%s)", self.name, task_id,
                            status)  # fmt: skip
                return None
            if context.should_abort():
                return None
            waited = True
            time.sleep(SLOT_POLL_SECONDS)

    def _working_copy(self, task) -> Path:
        """This worker's folder of the task, with the files earlier runs published."""
        root = Path(self.config.data_root).resolve()
        folder = safe_task_folder(root, task.id, task.output_directory) or root / task.id
        folder.mkdir(parents=True, exist_ok=True)
        store = self.runtime.output_store
        if store is not None:
            written = store.materialize(task.id, folder)
            if written:
                logger.info("task %s: %d file(s) of earlier runs fetched", task.id, len(written))
        return folder

    def _watch(self, context: JobContext, task_id: str, pid: int) -> str:
        """Wait for the run to end; stop the executor's group when the run was cancelled or
        deleted. Once the outcome is recorded the slot is free: the executor's last moments
        (flushing its log) are watched by a thread, which stops it if it lingers."""
        grace = self.config.cancel_grace_seconds
        while self.launcher.is_child(pid):
            reason = context.abort_reason()
            if reason == AbortReason.SHUTDOWN:
                # The worker stops: the executor runs on and records its own outcome.
                logger.info("worker %s stops; task %s runs on (pid %s)", self.name, task_id, pid)
                return "left running"
            task = self.store.get_task(task_id)
            gone = (
                task is None
                or task.status == TaskStatus.CANCELLED
                or (task.executor_pid not in (None, pid))
            )
            if not gone and task.status != TaskStatus.RUNNING and reason is None:
                threading.Thread(
                    target=self._let_exit, args=(task_id, pid, 2 * grace), daemon=True
                ).start()
                return "finished"
            if gone or reason == AbortReason.USER_REQUEST:
                how = terminate_group(pid, pid, grace=grace, waiter=self.launcher.wait_child)
                state = task.status.value if task else "deleted"
                logger.info("task %s: executor %s %s (%s)", task_id, pid, how, state)
                return "stopped"
            if self.launcher.wait_child(pid, WATCH_POLL_SECONDS):
                break
        return "finished"
