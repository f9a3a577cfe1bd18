"""Named SQL statements: the one loader of every ``.sql`` file that holds named blocks.

A file holds blocks introduced by ``-- name: some_query`` comment lines; the text up to the
next such line is the statement, with ``%(param)s`` placeholders for psycopg2. The files are
``sql/queries/*.sql`` (the task tables), ``sql/catalog/*.sql`` (what the pipeline reads from a
business database's catalog) and ``sql/vector/*.sql`` (the training store); names are unique
across all of them. They are read once per process.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path


def _sql_dir() -> Path:
    """``sql/`` at the top of a source checkout; ``core/sql`` in an installed package (the
    wheel ships the folder there, see pyproject.toml)."""
    here = Path(__file__).resolve().parent
    packaged = here / "sql"
    return packaged if (packaged / "migrations").is_dir() else here.parent / "sql"


SQL_DIR = _sql_dir()
NAMED_QUERY_DIRS = ("queries", "catalog", "vector")
_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, str]:
    """Split a file's text into ``{name: sql}``; a repeated name is an error."""
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@functools.cache
def all_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for folder in NAMED_QUERY_DIRS:
        for path in sorted((SQL_DIR / folder).glob("*.sql")):
            for name, sql in parse_named_queries(path.read_text(encoding="utf-8")).items():
                if name in queries:
                    raise ValueError(f"query {name!r} is defined in more than one file")
                queries[name] = sql
    return queries


def query(name: str) -> str:
    """Return the SQL of a named query (KeyError names the missing query)."""
    try:
        return all_queries()[name]
    except KeyError:
        where = ", ".join(f"sql/{folder}/" for folder in NAMED_QUERY_DIRS)
        raise KeyError(f"no SQL query named {name!r} in {where}") from None
