"""A small pool of read-only connections to the business database, for the validator.

Every connection is opened by :func:`data_pipeline.sources.connection.connect_readonly` and set
up once (read-only, statement timeout, planner settings) so that a check costs one round trip.
Connection failures become :class:`core.errors.SourceUnavailable` with a message naming the
database and no password.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import psycopg2

from core.errors import SourceUnavailable, error_summary
from data_pipeline.sources.connection import connect_readonly, describe_target

logger = logging.getLogger(__name__)

# EXPLAIN-only connections need a plan, not a good one: a smaller search (joins planned in
# the order written, nested loops over sequential scans) finds the same errors in about half
# the planning time. Plannability does not depend on these settings (a disabled method is
# still used where nothing else can work, e.g. FULL JOIN), and execute-level connections
# keep the server's defaults.
EXPLAIN_PLANNER_SETTINGS = {
    "join_collapse_limit": "1",
    "from_collapse_limit": "1",
    "max_parallel_workers_per_gather": "0",
    "enable_indexscan": "off",
    "enable_bitmapscan": "off",
    "enable_indexonlyscan": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "enable_memoize": "off",
    "enable_material": "off",
    "jit": "off",
}


class SourcePool:
    """At most ``size`` connections, created lazily and configured once.

    Args:
        dsn: business database DSN.
        size: maximum connections (and concurrent checks).
        statement_timeout_ms: session ``statement_timeout``.
        autocommit: True for EXPLAIN checks (each statement its own read-only transaction);
            False for execute checks (explicit ``BEGIN READ ONLY`` transactions).
    """

    def __init__(
        self,
        dsn: str,
        *,
        size: int,
        statement_timeout_ms: int,
        autocommit: bool,
        connect_timeout: int = 10,
    ):
        self.dsn = dsn
        self.size = size
        self.statement_timeout_ms = statement_timeout_ms
        self.autocommit = autocommit
        self.connect_timeout = connect_timeout
        self.backslash_escapes = False  # standard_conforming_strings = off on the server
        self.planner_settings = dict(EXPLAIN_PLANNER_SETTINGS)
        self._idle: list = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def _connect(self):
        settings: dict[str, str | int] = {"statement_timeout": self.statement_timeout_ms}
        if self.autocommit:
            settings.update(self.planner_settings)
        else:  # execute level: never wait long behind a lock, never stay idle in a transaction
            settings["lock_timeout"] = min(self.statement_timeout_ms, 2000)
            settings["idle_in_transaction_session_timeout"] = max(
                10_000, 2 * self.statement_timeout_ms
            )
        conn = connect_readonly(
            self.dsn,
            purpose="validator",
            settings=settings,
            autocommit=self.autocommit,
            connect_timeout=self.connect_timeout,
        )
        # Reported by the server at connection start: how string literals are lexed.
        self.backslash_escapes = conn.get_parameter_status("standard_conforming_strings") != "on"
        return conn

    def check(self) -> None:
        """Open (or reuse) one connection and run a trivial query."""
        with self.connection() as handle:
            conn = handle.get()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                if not conn.autocommit:
                    conn.rollback()
            except psycopg2.Error as exc:
                handle.broken()
                raise SourceUnavailable(
                    f"{describe_target(self.dsn)} does not answer: {error_summary(exc)}"
                ) from None

    @contextlib.contextmanager
    def connection(self) -> Iterator[_Handle]:
        """Borrow a slot; the handle opens a connection on first use and gives it back."""
        self._slots.acquire()
        handle = _Handle(self)
        try:
            yield handle
        finally:
            handle.release()
            self._slots.release()

    def discard_if_needed(self, conn, sqlstate: str | None) -> None:
        """Close a connection whose query timed out (its state is not worth trusting)."""
        if sqlstate == "57014" and not conn.closed:
            conn.close()

    def _take_idle(self):
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        return None

    def _give_back(self, conn) -> None:
        with self._lock:
            if not self._closed and not conn.closed:
                self._idle.append(conn)
                return
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()


class _Handle:
    """One borrowed slot: at most one live connection, replaced when it breaks."""

    def __init__(self, pool: SourcePool):
        self._pool = pool
        self._conn = None
        self._cursor = None

    def get(self):
        if self._conn is None or self._conn.closed:
            self._conn = self._pool._take_idle() or self._pool._connect()
            self._cursor = None
        return self._conn

    def cursor(self):
        """A cursor on the current connection, reused between checks (saves an allocation)."""
        conn = self.get()
        if self._cursor is None or self._cursor.closed:
            self._cursor = conn.cursor()
        return self._cursor

    def cancel(self) -> None:
        """Cancel the query running on this handle's connection, if any (thread-safe)."""
        conn = self._conn
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg2.Error):
                conn.cancel()

    def broken(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
            self._cursor = None

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._cursor = None
            if not conn.closed and not conn.autocommit:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    conn.close()
            self._pool._give_back(conn)
