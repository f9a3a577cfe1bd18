"""The log handlers of one run: the task folder's ``data_pipeline.log`` and, for a tracked run,
the task log table (through the tracker)."""

from __future__ import annotations

import logging
from pathlib import Path

from core.task_logging import DatabaseLogHandler, attach_task_log_file, detach_handler
from data_pipeline.workflow.tracking import RunTracker

logger = logging.getLogger(__name__)


class RunLogging:
    """The run's log handlers: the task folder's ``data_pipeline.log`` always, and the
    tracker's (the task log table of a tracked run). ``close()`` writes out what they hold."""

    def __init__(self, task_dir: Path, tracker: RunTracker | None = None) -> None:
        self.task_dir = Path(task_dir)
        self.tracker = tracker
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
        self.db_handler = self.tracker.log_handler() if self.tracker is not None else None
        if self.db_handler is not None:
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
