"""Connections to the pipeline database: a small thread-safe pool and one transaction helper.

Driver errors that mean "the database cannot be reached" become
:class:`core.errors.DatabaseUnavailable`, so callers (and the API's 503) need not know
psycopg2. Named queries come from :mod:`core.sql_queries`.

A connection handed out is known to be alive: an idle connection is checked before it is
reused (a socket the server has closed, e.g. by a restart, is readable while idle, which costs
one ``select`` call and no round trip), and when a connection fails, every idle connection
of the pool is dropped with it, since they died with the same server. So a database restart
between requests costs no request.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from core.errors import DatabaseUnavailable, error_summary
from core.secrets import mask_secrets
from core.sql_queries import query

logger = logging.getLogger(__name__)

_UNAVAILABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)


def mask_dsn(dsn: str | None) -> str:
    """A DSN safe to show: the password replaced by ``***``."""
    return mask_secrets(dsn or "")


def is_alive(conn: psycopg2.extensions.connection) -> bool:
    """Whether an idle connection may still be used: open, idle, and its socket silent (an
    idle session receives nothing; a readable socket means the server closed it or sent a
    termination notice)."""
    if conn.closed:
        return False
    if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        return False
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg2.Error):
        return False
    return not readable


class _PooledConnection(psycopg2.extensions.connection):
    """A connection of the pool; ``reused`` once it has come back from the idle list."""

    reused = False


class Database:
    """A pool of connections to one PostgreSQL database.

    Args:
        dsn: libpq connection string or URI.
        maxconn: connections at most (callers wait for a free one, up to
            ``acquire_timeout`` seconds).
        connect_timeout: seconds to wait for a new connection.
        application_name: shown in ``pg_stat_activity``.
    """

    def __init__(
        self,
        dsn: str,
        *,
        maxconn: int = 16,
        connect_timeout: int = 5,
        application_name: str = "data_pipeline",
    ):
        self.dsn = dsn
        self._kwargs = {"connect_timeout": connect_timeout, "application_name": application_name}
        self._maxconn = maxconn
        self._idle: list[psycopg2.extensions.connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(maxconn)
        self.acquire_timeout = 30.0
        self.discarded = 0  # dead idle connections dropped (tests, diagnostics)

    def __repr__(self) -> str:
        return f"Database({mask_dsn(self.dsn)!r})"

    def _checkout(self) -> psycopg2.extensions.connection:
        """An idle connection that is alive, or a new one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                try:
                    return psycopg2.connect(
                        self.dsn, connection_factory=_PooledConnection, **self._kwargs
                    )
                except _UNAVAILABLE as exc:
                    raise DatabaseUnavailable(_describe(exc), retry_after=2) from None
            if is_alive(conn):
                conn.reused = True
                return conn
            self._drop_idle(conn)

    def _drop_idle(self, *conns) -> None:
        """Close ``conns`` and every idle connection: they died with the same server."""
        with self._lock:
            victims = [*conns, *self._idle]
            self._idle.clear()
        for conn in victims:
            with contextlib.suppress(Exception):
                conn.close()
        self.discarded += len(victims)
        if victims:
            logger.debug("dropped %d pipeline-database connection(s) that had died", len(victims))

    def _checkin(self, conn, broken: bool) -> None:
        idle = psycopg2.extensions.TRANSACTION_STATUS_IDLE
        if not broken and not conn.closed and conn.info.transaction_status != idle:
            try:
                conn.rollback()
            except psycopg2.Error:
                broken = True
        with self._lock:
            keep = not broken and not conn.closed
            if keep:
                self._idle.append(conn)
        if not keep:
            with contextlib.suppress(Exception):
                conn.close()
        if broken:
            self._drop_idle()

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """Borrow a live connection; it goes back to the pool (or is dropped when broken)."""
        if not self._slots.acquire(timeout=self.acquire_timeout):
            raise DatabaseUnavailable(
                f"pipeline database busy: no free connection after {self.acquire_timeout:.0f} s",
                retry_after=5,
            )
        try:
            conn = self._checkout()
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
            self._checkin(conn, broken or conn.closed != 0)
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
            raise DatabaseUnavailable(_describe(exc), retry_after=2) from None

    # Shortcuts for named queries --------------------------------------------------------
    def fetch_one(self, name: str, params: dict | None = None) -> dict | None:
        with self.transaction() as cur:
            cur.execute(query(name), params or {})
            return cur.fetchone()

    def read_one(self, name: str, params: dict | None = None) -> dict | None:
        """One read-only statement in autocommit mode: a single round trip instead of three
        (BEGIN, statement, COMMIT); a statement sees one snapshot anyway. For hot reads.
        Retried once on a fresh connection when a pooled one turns out dead."""
        for attempt in (1, 2):
            reused = False
            try:
                with self.connection() as conn:
                    reused = conn.reused
                    conn.autocommit = True
                    try:
                        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                            cur.execute(query(name), params or {})
                            return cur.fetchone()
                    finally:
                        if not conn.closed:
                            conn.autocommit = False
            except _UNAVAILABLE as exc:
                if attempt == 1 and reused:
                    continue  # the pooled connection died unnoticed: once more, on a new one
                raise DatabaseUnavailable(_describe(exc), retry_after=2) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, work, *, dict_rows: bool = True):
        """``work(cursor)`` in a transaction, retried once on a fresh connection when a pooled
        one turns out dead (for statements that change nothing, or nothing twice)."""
        for attempt in (1, 2):
            reused = False
            try:
                with self.transaction(dict_rows=dict_rows) as cur:
                    reused = cur.connection.reused
                    return work(cur)
            except DatabaseUnavailable:
                if attempt == 1 and reused:
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def fetch_all(self, name: str, params: dict | None = None) -> list[dict]:
        """The rows of a named query (retried once on a fresh connection, as ``read_one``)."""

        def work(cur):
            cur.execute(query(name), params or {})
            return list(cur.fetchall())

        return self._read(work)

    def execute(self, name: str, params: dict | None = None) -> int:
        """Run a named statement; returns the affected row count."""
        with self.transaction() as cur:
            cur.execute(query(name), params or {})
            return cur.rowcount

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query succeeds."""
        self._read(lambda cur: cur.execute("SELECT 1"), dict_rows=False)

    def close(self) -> None:
        """Close the idle connections; the pool can still be used (it reconnects)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()


def _describe(exc: BaseException) -> str:
    return f"pipeline database unavailable: {error_summary(exc)}"
