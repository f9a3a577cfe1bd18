"""The tables a pair's SQL reads, as the curation view lists and filters them."""

from __future__ import annotations

import functools

import sqlglot
from sqlglot.errors import SqlglotError

from data_pipeline.schema.sql_checks import referenced_tables


@functools.lru_cache(maxsize=8192)
def tables_of(sql: str) -> tuple[str, ...]:
    """Names of the real tables ``sql`` reads (CTE names left out): ``table`` in ``public``,
    ``schema.table`` elsewhere; empty when the SQL does not parse."""
    if not isinstance(sql, str) or not sql.strip():
        return ()
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except (SqlglotError, ValueError, RecursionError):
        return ()
    if tree is None:
        return ()
    return tuple(
        name if schema == "public" else f"{schema}.{name}"
        for schema, name in referenced_tables(tree)
    )
