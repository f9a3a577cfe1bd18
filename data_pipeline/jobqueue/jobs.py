"""The procrastinate app of the pipeline: its connector on the pipeline database and its tasks.

Two tasks, both on queues of their own:

* ``data_pipeline.run_task`` (queue ``tasks``): "run this task's queued run" — its body is the
  worker's (:class:`data_pipeline.jobqueue.worker.Worker`); the API only defers it by name.
* ``data_pipeline.monitor`` (queue ``monitor``): the monitor's sweep (zombie runs, time-outs,
  retention, queue healing), deferred periodically by the workers; procrastinate defers a
  periodic job once per period however many workers run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import procrastinate
from procrastinate import exceptions as pexc

logger = logging.getLogger(__name__)

RUN_TASK = "data_pipeline.run_task"
MONITOR_TASK = "data_pipeline.monitor"
TASKS_QUEUE = "tasks"
MONITOR_QUEUE = "monitor"


def _conninfo(dsn: str) -> str:
    """psycopg 3 reads the same URIs and keyword strings as libpq (psycopg2) does."""
    return dsn


class QueueApp:
    """A procrastinate ``App`` on the pipeline database.

    The API side opens it synchronously (``defer``, ``cancel``); a worker registers the task
    bodies (``on_run_task``, ``on_monitor``) and runs it in its own event loop.
    """

    def __init__(self, dsn: str, *, application_name: str = "data_pipeline_queue"):
        connector = procrastinate.PsycopgConnector(
            conninfo=_conninfo(dsn),
            kwargs={"application_name": application_name},
            min_size=1,
            max_size=4,
        )
        self.app = procrastinate.App(connector=connector)
        self._opened = False

    # API side -----------------------------------------------------------------------------
    def open_sync(self) -> QueueApp:
        if not self._opened:
            self.app.open()
            self._opened = True
        return self

    def close(self) -> None:
        if self._opened:
            self.app.close()
            self._opened = False

    def defer(self, task_name: str, **kwargs) -> int:
        """Defer a job by task name; its id."""
        self.open_sync()
        queue = MONITOR_QUEUE if task_name == MONITOR_TASK else TASKS_QUEUE
        return self.app.configure_task(name=task_name, queue=queue).defer(**kwargs)

    def cancel(self, job_id: int) -> bool:
        """Cancel a job waiting in the queue, or ask the worker holding it to abort it."""
        self.open_sync()
        try:
            return self.app.job_manager.cancel_job_by_id(job_id, abort=True)
        except pexc.ProcrastinateException:
            logger.debug("job %s could not be cancelled", job_id, exc_info=True)
            return False

    # Worker side --------------------------------------------------------------------------
    def on_run_task(self, body: Callable) -> None:
        """Register the body of ``run_task``: ``body(context, task_id)`` (runs in a thread)."""
        self.app.task(name=RUN_TASK, queue=TASKS_QUEUE, pass_context=True)(body)

    def on_monitor(self, body: Callable[[], object], every_seconds: float) -> None:
        """Register the monitor's sweep, deferred every ``every_seconds`` (whole seconds)."""
        seconds = max(1, min(59, round(every_seconds)))
        cron = "* * * * *" if every_seconds >= 60 else f"* * * * * */{seconds}"

        def monitor(timestamp: int) -> None:
            body()

        # No lock: a worker killed in the middle of a sweep would hold it for ever (sweeps are
        # idempotent: every change is guarded by the row's status).
        task = self.app.task(name=MONITOR_TASK, queue=MONITOR_QUEUE)(monitor)
        self.app.periodic(cron=cron)(task)
