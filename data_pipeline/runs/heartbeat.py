"""A tracked run's liveness: the heartbeat thread, and the cancel flag it (or a signal) sets.

Used by the executor process and the command line (:mod:`data_pipeline.runs.tracked`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


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
