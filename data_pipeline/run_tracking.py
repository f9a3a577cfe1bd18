"""What a tracked run needs besides the steps: its log handlers, a heartbeat thread, a cancel
flag, and patience with short pipeline-database outages.

Used by the orchestrator, the command line and the executor process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import DatabaseUnavailable
from core.task_logging import DatabaseLogHandler, attach_task_log_file, detach_handler

logger = logging.getLogger(__name__)

# SPEC §10: an outage of the pipeline database shorter than this does not fail a run.
OUTAGE_TOLERANCE_SECONDS = 60.0


class CancelSignal:
    """A flag set when the run must stop (Ctrl-C, SIGTERM, a cancel seen by the heartbeat)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    __call__ = is_set  # usable directly as an ``is_cancelled`` callback

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


class RunLogging:
    """The run's log handlers: the task folder's ``data_pipeline.log`` always, and the task
    log table when a store is given. ``close()`` writes out everything buffered."""

    def __init__(self, task_dir: Path, store=None) -> None:
        self.task_dir = Path(task_dir)
        self.store = store
        self.file_handler: logging.Handler | None = None
        self.db_handler: DatabaseLogHandler | None = None
        self._old_root_level: int | None = None

    @property
    def is_open(self) -> bool:
        return self.file_handler is not None

    def open(self) -> RunLogging:
        if self.is_open:
            return self
        root = logging.getLogger()
        if root.getEffectiveLevel() > logging.INFO:
            # INFO records are what the task log shows; a process that never configured
            # logging (tests, embedding code) would otherwise drop them before any handler.
            self._old_root_level = root.level
            root.setLevel(logging.INFO)
        self.file_handler = attach_task_log_file(self.task_dir)
        if self.store is not None:
            self.db_handler = DatabaseLogHandler(self.store)
            root.addHandler(self.db_handler)
        return self

    def flush(self, timeout: float = 10.0) -> None:
        if self.file_handler is not None:
            self.file_handler.flush()
        if self.db_handler is not None and not self.db_handler.flush(timeout):
            logger.warning("some log records could not be written to the pipeline database yet")

    def close(self, timeout: float = 10.0) -> None:
        """Detach both handlers after writing out what they hold (idempotent)."""
        if self.db_handler is not None:
            logging.getLogger().removeHandler(self.db_handler)
            self.db_handler.close(timeout)
            self.db_handler = None
        if self.file_handler is not None:
            detach_handler(self.file_handler)
            self.file_handler = None
        if self._old_root_level is not None:
            logging.getLogger().setLevel(self._old_root_level)
            self._old_root_level = None


class Heartbeat:
    """Refreshes the run's heartbeat from a thread.

    When the store answers that the run is no longer ours (cancelled, or failed by the
    monitor), ``on_lost`` is called once and the thread ends. Database errors are logged and
    retried at the next beat: a short outage must not stop a run.
    """

    def __init__(
        self,
        store,
        task_id: str,
        pid: int,
        interval: float,
        on_lost: Callable[[str], None],
    ) -> None:
        self.store = store
        self.task_id = task_id
        self.pid = pid
        self.interval = max(0.05, float(interval))
        self.on_lost = on_lost
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        failing_since: float | None = None
        while not self._stop.wait(self.interval):
            try:
                alive = self.store.heartbeat(self.task_id, self.pid)
            except Exception as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    logger.warning("heartbeat not recorded (%s); retrying", exc)
                continue
            if failing_since is not None:
                logger.info(
                    "heartbeat recorded again after %.0f s", time.monotonic() - failing_since
                )
                failing_since = None
            if not alive:
                logger.warning("the run is no longer ours (cancelled or failed elsewhere)")
                self.on_lost("the run was cancelled or failed elsewhere")
                return
            self.beats += 1


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
