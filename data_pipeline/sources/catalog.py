"""What the API and the repair step read from a business database's catalog: the names of its
tables (``sql/catalog/sources.sql``), in a read-only session with a statement timeout."""

from __future__ import annotations

import psycopg2
import psycopg2.extras

from core.errors import SourceUnavailable, error_summary
from core.sql_queries import query
from data_pipeline.sources.connection import connect_readonly, describe_target

MAX_TABLES = 5000
KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view",
         "f": "foreign table"}  # fmt: skip


def _read(dsn: str, name: str, *, purpose: str, timeout_ms: int, limit: int) -> list[dict]:
    conn = connect_readonly(
        dsn, purpose=purpose, connect_timeout=5, settings={"statement_timeout": int(timeout_ms)}
    )
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query(name), {"limit": limit})
            return [dict(r) for r in cur.fetchall()]
    except psycopg2.Error as exc:
        raise SourceUnavailable(
            f"reading the tables of {describe_target(dsn)} failed: {error_summary(exc)}"
        ) from None
    finally:
        conn.close()


def list_tables(dsn: str, *, timeout_ms: int, limit: int = MAX_TABLES) -> list[dict]:
    """Tables and views the connecting role may read: ``schema_name``, ``name``, ``kind``
    (``table``, ``view``, ...), ``comment``, ``estimated_rows`` (None before ANALYZE)."""
    rows = _read(dsn, "source_tables", purpose="api", timeout_ms=timeout_ms, limit=limit)
    for row in rows:
        row["kind"] = KINDS.get(row["kind"], row["kind"])
    return rows


def table_names(dsn: str, *, timeout_ms: int = 30_000, limit: int = MAX_TABLES) -> list[tuple]:
    """``(schema, table)`` of every relation outside the system schemas."""
    rows = _read(dsn, "source_table_names", purpose="repair", timeout_ms=timeout_ms, limit=limit)
    return [(r["schema_name"], r["table_name"]) for r in rows]
