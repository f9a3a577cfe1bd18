"""One ``validate_many`` call: worker threads, each on one pooled connection, pulling SQL from
a shared queue; the calling thread reports progress and watches for cancellation."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import wait

import psycopg2

from core.errors import Cancelled, SourceUnavailable, error_summary
from data_pipeline.sources.connection import describe_target
from data_pipeline.sql_validation.pool import SourcePool
from data_pipeline.sql_validation.result import ValidationResult

logger = logging.getLogger(__name__)


class BatchRun:
    """Shared state of one validate_many call: a work queue and the workers' connections."""

    def __init__(
        self,
        pool: SourcePool,
        check: Callable[[object, str], ValidationResult],
        items,
        unique,
        results,
    ):
        self.pool, self.check = pool, check
        self.items, self.results = items, results
        self._queue = deque(unique)  # popleft() is thread-safe: no lock per SQL
        self._lock = threading.Lock()
        self._done: list[int] = []  # one counter per worker, summed by the supervisor
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.handles: list = []  # the workers' handles, to cancel their queries

    @property
    def done(self) -> int:
        return sum(self._done)

    def work(self) -> None:
        try:
            with self.pool.connection() as handle:
                with self._lock:
                    slot = len(self._done)
                    self._done.append(0)
                    self.handles.append(handle)
                queue, stop, results, items = self._queue, self.stop, self.results, self.items
                while not stop.is_set():
                    try:
                        index = queue.popleft()
                    except IndexError:
                        break
                    results[index] = self._one(handle, items[index])
                    self._done[slot] += 1
        except BaseException as exc:
            with self._lock:
                self.failure = self.failure or exc
            self.stop.set()

    def _one(self, handle, sql) -> ValidationResult:
        """Check one SQL; on a broken connection retry once on a fresh one."""
        try:
            return self.check(handle, sql)
        except psycopg2.Error as exc:
            handle.broken()
            if self.stop.is_set():
                raise
            logger.warning("connection to the business database broke (%s); reconnecting", exc)
        try:
            return self.check(handle, sql)
        except psycopg2.Error as exc:
            handle.broken()
            raise SourceUnavailable(
                f"connection to {describe_target(self.pool.dsn)} lost during validation: "
                f"{error_summary(exc)}"
            ) from None

    def supervise(self, futures, progress, is_cancelled, total, first_of) -> None:
        """Report progress and watch for cancellation until the workers finish."""
        reported = -1
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2)
            if is_cancelled is not None and not self.stop.is_set() and is_cancelled():
                with self._lock:
                    self.failure = self.failure or Cancelled("the run was cancelled")
                    handles = list(self.handles)
                self.stop.set()
                for handle in handles:  # cancel queries in flight: do not wait for timeouts
                    handle.cancel()
            if progress is not None and self.done != reported and pending:
                reported = self.done
                # Duplicates are free; scale the unique count to the whole list.
                progress(min(total, round(reported * total / max(1, len(first_of)))), total)

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure
