"""Checks that SQL really runs on the business database, without ever changing it.

Each SQL goes through a static check first (:mod:`.statement_guard`, and
:func:`data_pipeline.schema.sql_checks.parse_single_select` when the lexer cannot prove the
statement read-only), then to PostgreSQL on a small pool of connections, concurrently:

* ``explain`` level: ``EXPLAIN`` of the statement. Each pooled connection is set up once with
  ``default_transaction_read_only = on`` and a session ``statement_timeout``, in autocommit,
  so every EXPLAIN runs in its own read-only transaction at the cost of one round trip
  (BEGIN / SET LOCAL / ROLLBACK per SQL would triple it).
* ``execute`` level: the query itself inside ``BEGIN READ ONLY`` (psycopg2 read-only
  session), through a server-side cursor from which at most ``row_limit`` rows are fetched,
  then rolled back. Catches run-time errors EXPLAIN cannot see (bad casts of real data).

Only one statement is ever sent: the lexer cuts the text at a trailing ``;`` and refuses
anything with a ``;`` in the middle. A connection whose query timed out or broke is discarded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import psycopg2

from core.errors import error_summary
from core.secrets import mask_secrets
from core.threads import abandoning_pool
from data_pipeline.sql_validation.allowlist import NotAllowed, SourceCatalog, check_allowed
from data_pipeline.sql_validation.batch import BatchRun
from data_pipeline.sql_validation.catalog import load_catalog
from data_pipeline.sql_validation.pool import SourcePool
from data_pipeline.sql_validation.result import (
    ERROR_KINDS,
    LEVELS,
    ValidationResult,
    error_kind_for,
    static_error_kind,
)
from data_pipeline.sql_validation.statement_guard import inspect_statement

__all__ = [
    "ERROR_KINDS", "LEVELS", "SQLValidator", "ValidationResult", "error_kind_for",
    "static_error_kind",
]  # fmt: skip

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class _Static:
    ok: bool
    body: str = ""
    reason: str | None = None
    kind: str | None = None


class SQLValidator:
    """Validates SQL against one database, concurrently, read-only.

    Args:
        dsn: the business database (never written).
        max_concurrency: connections and worker threads.
        statement_timeout_ms: server-side limit for each check.
        level: ``explain`` or ``execute``.
        row_limit: rows fetched at most at ``execute`` level.
    """

    def __init__(
        self,
        dsn: str,
        *,
        max_concurrency: int = 4,
        statement_timeout_ms: int = 5000,
        level: str = "explain",
        row_limit: int = 1000,
        connect_timeout: int = 10,
    ):
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        self.level = level
        self.max_concurrency = max(1, int(max_concurrency))
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.row_limit = max(1, int(row_limit))
        self.pool = SourcePool(
            dsn,
            size=self.max_concurrency,
            statement_timeout_ms=self.statement_timeout_ms,
            autocommit=level == "explain",
            connect_timeout=connect_timeout,
        )
        self._static_cache: dict[str, _Static] = {}
        self._cache_lock = threading.Lock()
        self._catalog: SourceCatalog | None = None
        self._catalog_lock = threading.Lock()

    # Lifecycle ---------------------------------------------------------------------------
    def check_connection(self) -> None:
        """Raise SourceUnavailable (password masked) unless the database answers."""
        self.pool.check()

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> SQLValidator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # Static check ------------------------------------------------------------------------
    def catalog(self, handle=None) -> SourceCatalog:
        """The source's functions and operators (read once, on a pool connection)."""
        with self._catalog_lock:
            if self._catalog is None:
                if handle is None:
                    with self.pool.connection() as own:
                        self._catalog = load_catalog(own.get())
                else:
                    self._catalog = load_catalog(handle.get())
            return self._catalog

    def static_check(self, sql: str, handle=None) -> _Static:
        """The lexical guard (one statement, cut where the server will cut it), then the
        allow-list on PostgreSQL's own parse tree. Cached per SQL text."""
        key = sql if isinstance(sql, str) else ""
        cached = self._static_cache.get(key)
        if cached is not None:
            return cached
        guard = inspect_statement(key, backslash_escapes=self.pool.backslash_escapes)
        if not guard.ok:
            result = _Static(False, reason=guard.reason, kind=guard.kind)
        elif self.pool.backslash_escapes and "\\" in guard.body:
            # The server reads backslashes in '...' as escapes (standard_conforming_strings
            # off), PostgreSQL's parser used here would not: refuse rather than guess.
            result = _Static(
                False,
                reason="the source has standard_conforming_strings off: SQL with backslashes "
                "is refused",
                kind="syntax",
            )
        else:
            try:
                check_allowed(guard.body, self.catalog(handle))
                result = _Static(True, body=guard.body)
            except NotAllowed as exc:
                result = _Static(False, reason=str(exc), kind=exc.kind)
        with self._cache_lock:
            if len(self._static_cache) > 50_000:
                self._static_cache.clear()
            self._static_cache[key] = result
        return result

    # One SQL -----------------------------------------------------------------------------
    def validate(self, sql: str) -> ValidationResult:
        """Validate one SQL (thread-safe)."""
        return self.validate_many([sql])[0]

    def check_on(self, handle, sql: str) -> ValidationResult:
        """Check one SQL on a borrowed pool connection (``handle``); a lost connection raises
        ``psycopg2.Error`` (not the SQL's fault: the caller reconnects)."""
        started = time.perf_counter()
        static = self.static_check(sql, handle)
        if not static.ok:
            return ValidationResult(
                sql, False, static.reason, static.kind, _ms(started), stage="static"
            )
        conn = handle.get()
        try:
            if self.level == "explain":
                handle.cursor().execute("EXPLAIN (COSTS OFF) " + static.body)
            else:
                self._execute(conn, static.body)
        except psycopg2.Error as exc:
            if _connection_lost(exc, conn):  # not the SQL's fault: the caller reconnects
                raise
            self.pool.discard_if_needed(conn, exc.pgcode)
            return self._failure(sql, exc, started)
        except ValueError as exc:  # e.g. NUL characters, refused by libpq
            return ValidationResult(sql, False, f"cannot send SQL: {exc}", "syntax", _ms(started))
        return ValidationResult(sql, True, duration_ms=_ms(started))

    def _execute(self, conn, body: str) -> None:
        """Run the query read-only, fetching at most row_limit rows, then roll back."""
        try:
            with conn.cursor() as cur:
                # One statement holding the user's query; the transaction is BEGIN READ ONLY.
                cur.execute("DECLARE dp_validate NO SCROLL CURSOR FOR " + body)
                cur.execute(f"FETCH FORWARD {self.row_limit} FROM dp_validate")
        finally:
            if not conn.closed:
                conn.rollback()

    def _failure(self, sql: str, exc: psycopg2.Error, started: float) -> ValidationResult:
        kind = error_kind_for(exc.pgcode)
        diag = exc.diag
        # One line, bounded: an error text must not carry data out (a value echoed back).
        message = (diag.message_primary or "").strip().splitlines()[0:1]
        message = (message[0] if message else error_summary(exc))[:MAX_ERROR_CHARS]
        if kind == "timeout" and "timeout" in message:
            message = f"statement timeout after {self.statement_timeout_ms} ms"
        return ValidationResult(
            sql,
            False,
            mask_secrets(message),
            kind,
            _ms(started),
            sqlstate=exc.pgcode,
            hint=diag.message_hint,
        )

    # Many SQL ----------------------------------------------------------------------------
    def validate_many(
        self,
        sqls: Iterable[str],
        progress: Callable[[int, int], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> list[ValidationResult]:
        """Validate ``sqls`` concurrently; results keep the input order.

        Identical SQL texts are checked once. ``progress(done, total)`` and ``is_cancelled()``
        are called from the calling thread only (a few times per second); cancellation stops
        the workers, cancels the queries in flight and raises Cancelled.
        """
        items = list(sqls)
        total = len(items)
        first_of: dict[str, int] = {}
        unique: list[int] = []
        for i, sql in enumerate(items):
            key = sql if isinstance(sql, str) else ""
            if key not in first_of:
                first_of[key] = i
                unique.append(i)
        results: list[ValidationResult | None] = [None] * total
        run = BatchRun(self.pool, self.check_on, items, unique, results)
        workers = min(self.max_concurrency, len(unique))
        if workers <= 1 and progress is None and is_cancelled is None:
            run.work()
        elif workers >= 1:
            with abandoning_pool(workers, "sql-validate") as executor:
                futures = [executor.submit(run.work) for _ in range(workers)]
                run.supervise(futures, progress, is_cancelled, total, first_of)
        run.raise_failure()
        for i, sql in enumerate(items):
            if results[i] is None:
                source = results[first_of[sql if isinstance(sql, str) else ""]]
                results[i] = replace(source, sql=sql)
        if progress is not None:
            progress(total, total)
        return results  # type: ignore[return-value]


def _connection_lost(exc: psycopg2.Error, conn) -> bool:
    """The connection, not the SQL, failed: no SQLSTATE, class 08 (connection exception),
    57P (server shutting down, backend terminated) or a closed connection."""
    code = exc.pgcode or ""
    return not code or code.startswith(("08", "57P")) or conn.closed != 0


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
