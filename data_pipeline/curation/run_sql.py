"""A pair's SQL against its source database: validated as step 3 does, or run to show rows.

Both go through :class:`~data_pipeline.sql_validation.sql_validator.SQLValidator`, on a
connection opened by :func:`~data_pipeline.sources.connection.connect_readonly` (read-only
session, statement and lock timeouts):

* :func:`validate_sql` — the same checks at the same level (``explain`` / ``execute``) as step
  3, for an edited or added pair;
* :func:`run_query` — the validator's static checks first (one statement, a ``SELECT`` on the
  allow-list: no writes, no file or server-state functions; refused → :class:`SQLRefused`
  naming why), then the query inside a read-only transaction through a server-side cursor,
  of which at most ``limit`` + 1 rows are fetched (the extra row tells that there are more),
  then rolled back. Values become JSON-safe (numbers as exact text, times as ISO 8601, bytes
  as hex, long texts cut).
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

import psycopg2

from core.errors import InvalidInput, SourceUnavailable
from data_pipeline.sql_validation.sql_validator import SQLValidator, ValidationResult

MAX_CELL_CHARS = 10_000


class SQLRefused(InvalidInput):
    """The SQL may not run (static checks) or failed on the database (400, naming why)."""

    error_type = "sql_refused"


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list]
    row_count: int
    truncated: bool
    duration_ms: float

    def to_dict(self) -> dict:
        return {"columns": self.columns, "rows": self.rows, "row_count": self.row_count,
                "truncated": self.truncated, "duration_ms": self.duration_ms}  # fmt: skip


def validate_sql(
    dsn: str, sql: str, *, level: str, statement_timeout_ms: int, row_limit: int
) -> ValidationResult:
    """Step 3's verdict on ``sql`` (raises SourceUnavailable when the source is down)."""
    with SQLValidator(
        dsn,
        max_concurrency=1,
        statement_timeout_ms=statement_timeout_ms,
        level=level,
        row_limit=row_limit,
    ) as validator:
        validator.check_connection()
        return validator.validate(sql)


def run_query(dsn: str, sql: str, *, limit: int, statement_timeout_ms: int) -> QueryResult:
    """Run ``sql`` read-only and return at most ``limit`` rows (see the module docstring).

    Raises SQLRefused (static checks, or the database's error), SourceUnavailable.
    """
    validator = SQLValidator(
        dsn,
        max_concurrency=1,
        statement_timeout_ms=statement_timeout_ms,
        level="execute",
        row_limit=limit,
    )
    try:
        with validator.pool.connection() as handle:
            static = validator.static_check(sql, handle)
            if not static.ok:
                raise SQLRefused(
                    f"this SQL may not run: {static.reason}",
                    details={"reason": static.reason, "error_kind": static.kind},
                )
            return _fetch(validator, handle, static.body, limit)
    finally:
        validator.close()


def _fetch(validator: SQLValidator, handle, body: str, limit: int) -> QueryResult:
    conn = handle.get()
    started = time.perf_counter()
    try:
        # A named (server-side) cursor: DECLARE … FOR <the one statement>, fetched in a batch.
        with conn.cursor(name="dp_curation_run") as cur:
            cur.itersize = limit + 1
            cur.execute(body)
            rows = cur.fetchmany(limit + 1)
            columns = [d.name for d in cur.description or ()]
    except psycopg2.Error as exc:
        if not exc.pgcode or exc.pgcode.startswith(("08", "57P")) or conn.closed:
            handle.broken()
            raise SourceUnavailable(f"the source failed while running the SQL: {exc}") from None
        validator.pool.discard_if_needed(conn, exc.pgcode)
        failed = validator._failure(body, exc, started)
        raise SQLRefused(
            f"the SQL failed: {failed.error}",
            details={"reason": failed.error, "error_kind": failed.error_kind,
                     "sqlstate": failed.sqlstate},
        ) from None  # fmt: skip
    except ValueError as exc:  # e.g. NUL characters, refused by libpq
        raise SQLRefused(f"the SQL cannot be sent: {exc}") from None
    finally:
        if not conn.closed:
            conn.rollback()
    duration = round((time.perf_counter() - started) * 1000, 3)
    truncated = len(rows) > limit
    rows = rows[:limit]
    return QueryResult(
        columns=columns,
        rows=[[json_safe(v) for v in row] for row in rows],
        row_count=len(rows),
        truncated=truncated,
        duration_ms=duration,
    )


def json_safe(value):
    """A database value as JSON can carry it without losing what a reviewer needs to see."""
    if value is None or isinstance(value, bool | int | str):
        return _cut(value) if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)  # exact: a float would change the digits a reviewer checks
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _cut("\\x" + bytes(value[: MAX_CELL_CHARS // 2 + 1]).hex())
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return _cut(str(value))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + "…"
