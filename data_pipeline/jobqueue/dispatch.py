"""Putting runs into the queue (the API side).

A run becomes a row change (the task is ``queued``, with the run it asks for in
``queue_request``) and a procrastinate job naming the task. A worker takes the job, waits for a
slot (``MAX_CONCURRENT_TASKS`` across all workers, oldest queued first) and starts the executor.
The API waits a moment for that to happen, so that within the limit a create or execute still
answers with a running task, and beyond it with ``queued`` and the place in the queue.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

from data_pipeline.jobqueue.jobs import RUN_TASK, QueueApp
from data_pipeline.tasks.models import Task, TaskStatus
from data_pipeline.tasks.store import TaskStore

logger = logging.getLogger(__name__)

STARTED_WAIT_SECONDS = 3.0  # how long a request waits for a worker to start its run


@dataclass
class RunRequest:
    """What a queued run is: the executor's options and the steps that go back to pending."""

    execution_mode: str = "complete"
    step_name: str | None = None
    force: bool = False
    clean: bool = False
    steps: list[str] = field(default_factory=list)
    start_step: int | None = None  # complete mode from this step on (resume)
    requested_by: str | None = None  # the caller who asked (kept in the run history)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> RunRequest:
        data = data or {}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


class Dispatcher:
    """Queues runs and hands them to workers through procrastinate jobs."""

    def __init__(self, store: TaskStore, queue: QueueApp):
        self.store = store
        self.queue = queue

    def enqueue(self, task: Task, request: RunRequest, *, refuse_at: int | None = None) -> Task:
        """Queue the run and defer its job; 409 (Conflict) when it runs or waits already, or
        when ``refuse_at`` tasks run or wait (``"queue": false``)."""
        queued = self.store.queue_run(task.id, request.as_dict(), refuse_at=refuse_at)
        self.defer(queued)
        return queued

    def defer(self, task: Task) -> int | None:
        """The job that carries a queued task to a worker (also used to heal a lost one)."""
        try:
            job_id = self.queue.defer(RUN_TASK, task_id=task.id)
        except Exception:
            # The task stays queued; the monitor gives it a new job (queued_without_live_job).
            logger.exception("task %s: its queue job could not be deferred", task.id)
            return None
        self.store.set_queue_job(task.id, job_id)
        return job_id

    def wait_started(self, task_id: str, timeout: float = STARTED_WAIT_SECONDS) -> Task | None:
        """The task once a worker has started its run (or it ended), else as it is after
        ``timeout`` seconds (still queued)."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.store.get_task(task_id)
            started = task is not None and task.status == TaskStatus.RUNNING
            if task is None or (
                task.status != TaskStatus.QUEUED and (not started or task.executor_pid)
            ):
                return task
            if time.monotonic() >= deadline:
                return task
            time.sleep(0.05)

    def cancel_queued(self, task: Task) -> None:
        """Drop a queued task's job (a worker holding it lets it go by itself)."""
        if task.queue_job_id:
            self.queue.cancel(task.queue_job_id)
