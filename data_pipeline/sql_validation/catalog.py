"""The source's functions and operators, as the allow-list needs them."""

from __future__ import annotations

from core.sql_queries import query
from data_pipeline.sql_validation.allowlist import SourceCatalog


def load_catalog(conn) -> SourceCatalog:
    """Read ``pg_proc`` / ``pg_operator`` names and volatilities and the search path, in one
    short read (a few thousand rows), on a connection to the source."""
    with conn.cursor() as cur:
        cur.execute(query("source_functions"))
        functions = cur.fetchall()
        cur.execute(query("source_operators"))
        operators = cur.fetchall()
        cur.execute(query("source_search_path"))
        search_path = cur.fetchone()[0]
    if not conn.autocommit:
        conn.rollback()
    return SourceCatalog.from_rows(functions, operators, search_path)
