"""Connections to the pipeline database: a small thread-safe pool and one transaction helper.

Driver errors that mean "the database cannot be reached" become
:class:`core.errors.DatabaseUnavailable`, so callers (and the API's 503) need not know
psycopg2. Named queries come from :mod:`core.sql_queries`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import psycopg2
import psycopg2.extras
import psycopg2.pool

from core.errors import DatabaseUnavailable, error_summary
from core.secrets import mask_secrets
from core.sql_queries import query

logger = logging.getLogger(__name__)

_UNAVAILABLE = (psycopg2.OperationalError, psycopg2.InterfaceError, psycopg2.pool.PoolError)


def mask_dsn(dsn: str | None) -> str:
    """A DSN safe to show: the password replaced by ``***``."""
    return mask_secrets(dsn or "")


class Database:
    """A pool of connections to one PostgreSQL database.

    Args:
        dsn: libpq connection string or URI.
        minconn / maxconn: pool bounds.
        connect_timeout: seconds to wait for a new connection.
        application_name: shown in ``pg_stat_activity``.
    """

    def __init__(
        self,
        dsn: str,
        *,
        minconn: int = 0,
        maxconn: int = 16,
        connect_timeout: int = 5,
        application_name: str = "data_pipeline",
    ):
        self.dsn = dsn
        self._kwargs = {"connect_timeout": connect_timeout, "application_name": application_name}
        self._minconn, self._maxconn = minconn, maxconn
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()
        # psycopg2's pool fails at once when exhausted; callers wait for a free slot instead.
        self._slots = threading.BoundedSemaphore(maxconn)
        self.acquire_timeout = 30.0

    def __repr__(self) -> str:
        return f"Database({mask_dsn(self.dsn)!r})"

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                try:
                    self._pool = psycopg2.pool.ThreadedConnectionPool(
                        self._minconn, self._maxconn, self.dsn, **self._kwargs
                    )
                    # psycopg2 closes a returned connection once ``minconn`` idle ones are
                    # kept, so with minconn=0 every query paid a new connection (~4 ms).
                    # Raised after creation: idle connections are kept up to maxconn, yet
                    # none is opened before it is needed.
                    self._pool.minconn = self._maxconn
                except _UNAVAILABLE as exc:
                    raise DatabaseUnavailable(_describe(exc)) from None
            return self._pool

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """Borrow a connection; it goes back to the pool (or is discarded when broken)."""
        if not self._slots.acquire(timeout=self.acquire_timeout):
            raise DatabaseUnavailable(
                f"pipeline database busy: no free connection after {self.acquire_timeout:.0f} s"
            )
        try:
            pool = self._get_pool()
            conn = pool.getconn()
        except _UNAVAILABLE as exc:
            self._slots.release()
            raise DatabaseUnavailable(_describe(exc)) from None
        except BaseException:
            self._slots.release()
            raise
        broken = False
        try:
            yield conn
        except _UNAVAILABLE:
            broken = True
            raise
        finally:
            broken = broken or conn.closed != 0
            if not broken and conn.status != psycopg2.extensions.STATUS_READY:
                with contextlib.suppress(Exception):
                    conn.rollback()
            with contextlib.suppress(Exception):
                pool.putconn(conn, close=broken)
            self._slots.release()

    @contextlib.contextmanager
    def transaction(self, *, dict_rows: bool = True) -> Iterator[psycopg2.extensions.cursor]:
        """Run a block in one transaction: commit on success, roll back on error."""
        factory = psycopg2.extras.RealDictCursor if dict_rows else None
        try:
            with self.connection() as conn:
                try:
                    with conn.cursor(cursor_factory=factory) as cur:
                        yield cur
                    conn.commit()
                except BaseException:
                    if not conn.closed:
                        with contextlib.suppress(Exception):
                            conn.rollback()
                    raise
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(_describe(exc)) from None

    # Shortcuts for named queries --------------------------------------------------------
    def fetch_one(self, name: str, params: dict | None = None) -> dict | None:
        with self.transaction() as cur:
            cur.execute(query(name), params or {})
            return cur.fetchone()

    def read_one(self, name: str, params: dict | None = None) -> dict | None:
        """One read-only statement in autocommit mode: a single round trip instead of three
        (BEGIN, statement, COMMIT); a statement sees one snapshot anyway. For hot reads."""
        try:
            with self.connection() as conn:
                conn.autocommit = True
                try:
                    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                        cur.execute(query(name), params or {})
                        return cur.fetchone()
                finally:
                    if not conn.closed:
                        conn.autocommit = False
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(_describe(exc)) from None

    def fetch_all(self, name: str, params: dict | None = None) -> list[dict]:
        with self.transaction() as cur:
            cur.execute(query(name), params or {})
            return list(cur.fetchall())

    def execute(self, name: str, params: dict | None = None) -> int:
        """Run a named statement; returns the affected row count."""
        with self.transaction() as cur:
            cur.execute(query(name), params or {})
            return cur.rowcount

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query succeeds."""
        with self.transaction(dict_rows=False) as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                with contextlib.suppress(Exception):
                    self._pool.closeall()
                self._pool = None


def _describe(exc: BaseException) -> str:
    return f"pipeline database unavailable: {error_summary(exc)}"
