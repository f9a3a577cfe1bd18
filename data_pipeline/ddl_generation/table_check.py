"""Before a run starts: would step 1 find every listed table?

The same catalog lookup and matching as step 1 (``relations`` in ``sql/catalog/metadata.sql``
and :func:`.catalog.resolve`), so a name this check accepts is one step 1 documents, and a
misspelt table is refused before any work is done (API: 400, command line: exit 2) instead of
ending a run with one table fewer.
"""

from __future__ import annotations

import psycopg2

from core.errors import SourceUnavailable, error_summary
from core.sql_queries import query
from data_pipeline.ddl_generation.catalog import resolve, split_listed
from data_pipeline.sources.connection import connect_readonly, describe_target


def unusable_tables(dsn: str, names: list[str], *, timeout_ms: int = 15_000) -> dict[str, str]:
    """Listed names step 1 could not document → why (does not exist, ambiguous, no SELECT
    privilege, invalid name); empty when every name is usable.

    Raises:
        SourceUnavailable: the source cannot be reached or its catalog read.
    """
    listed, problems = split_listed(names)
    if not listed:
        return problems
    try:
        settings = {"statement_timeout": timeout_ms}
        conn = connect_readonly(dsn, purpose="table check", connect_timeout=5, settings=settings)
    except psycopg2.Error as exc:
        raise SourceUnavailable(
            f"cannot check the tables of {describe_target(dsn)}: {error_summary(exc)}"
        ) from None
    try:
        with conn.cursor() as cur:
            cur.execute(
                query("relations"),
                {"schemas": [s for _, s, _ in listed], "names": [t for _, _, t in listed]},
            )
            columns = [d.name for d in cur.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    except psycopg2.Error as exc:
        raise SourceUnavailable(
            f"cannot check the tables of {describe_target(dsn)}: {error_summary(exc)}"
        ) from None
    finally:
        conn.close()
    _, errors, _ = resolve(listed, rows)
    problems.update(errors)
    return problems


def describe_problems(problems: dict[str, str], limit: int = 10) -> str:
    """One line naming the unusable tables (the first ``limit``)."""
    shown = "; ".join(list(problems.values())[:limit])
    more = len(problems) - limit
    return f"{len(problems)} listed table(s) cannot be used: {shown}" + (
        f"; and {more} more" if more > 0 else ""
    )
