"""Named business databases (``source:NAME``) and their tables, to build a table list.

Reading a source's catalog is read-only, bounded by a statement timeout, and never shows a
password (connection strings are masked).
"""

from __future__ import annotations

import logging
import re

import psycopg2
import psycopg2.extras
from flask import Blueprint
from psycopg2.extensions import parse_dsn

from core.errors import InvalidInput, NotFound, PipelineError
from core.secrets import mask_secrets
from data_pipeline.api.common import config, runtime
from data_pipeline.api.envelope import ok
from data_pipeline.runtime import resolve_source, source_names
from data_pipeline.table_list import qualified

logger = logging.getLogger(__name__)
bp = Blueprint("sources", __name__)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_TABLES = 5000
_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view",
          "f": "foreign table"}  # fmt: skip

# Tables the connecting role may read, outside system schemas; partitions are listed through
# their parent. reltuples is -1 before the first ANALYZE: no estimate then.
TABLES_SQL = """
SELECT n.nspname AS schema_name, c.relname AS name, c.relkind AS kind,
       obj_description(c.oid, 'pg_class') AS comment,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS estimated_rows
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname
LIMIT %(limit)s
"""


class SourceUnreachable(PipelineError):
    http_status = 503
    error_type = "source_unavailable"


def _describe(name: str, dsn: str) -> dict:
    try:
        parts = parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        parts = {}
    host = parts.get("host")
    if host and host.startswith("/"):
        host = "local socket"
    return {
        "name": name,
        "reference": f"source:{name}",
        "database": parts.get("dbname"),
        "host": host,
        "dsn": mask_secrets(dsn),
    }


@bp.get("/sources")
def list_sources():
    """The named business databases clients may use as ``"db_connection": "source:NAME"``."""
    cfg = config()
    sources = []
    for name in source_names(cfg):
        dsn = resolve_source(cfg, runtime().pipeline_dsn, f"source:{name}")
        sources.append(_describe(name, dsn))
    return ok({"sources": sources, "count": len(sources)})


@bp.get("/sources/<name>/tables")
def source_tables(name: str):
    """Tables of a named source: schema, name, comment, estimated rows (read only)."""
    if not _NAME.match(name):
        raise InvalidInput("invalid source name", details={"source": name[:64]})
    cfg = config()
    if name not in cfg.data_sources:
        raise NotFound(f"unknown source {name!r}", details={"known": source_names(cfg)})
    dsn = resolve_source(cfg, runtime().pipeline_dsn, f"source:{name}")
    rows = _read_tables(name, dsn, cfg.source_statement_timeout_ms)
    tables = [
        {
            "schema": r["schema_name"],
            "name": r["name"],
            "qualified_name": qualified(r["schema_name"], r["name"]),
            "kind": _KINDS.get(r["kind"], r["kind"]),
            "comment": r["comment"],
            "estimated_rows": r["estimated_rows"],
        }
        for r in rows
    ]
    database = _describe(name, dsn)["database"]
    return ok({"source": name, "database": database, "tables": tables, "count": len(tables)})


def _read_tables(name: str, dsn: str, timeout_ms: int) -> list[dict]:
    try:
        conn = psycopg2.connect(
            dsn,
            connect_timeout=5,
            application_name="data_pipeline_api",
            options=f"-c statement_timeout={int(timeout_ms)}",
        )
    except psycopg2.Error as exc:
        reason = mask_secrets(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise SourceUnreachable(f"source {name!r} is unreachable: {reason}") from None
    try:
        conn.set_session(readonly=True)
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(TABLES_SQL, {"limit": MAX_TABLES})
            return [dict(r) for r in cur.fetchall()]
    except psycopg2.Error as exc:
        reason = mask_secrets(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise SourceUnreachable(f"reading the tables of source {name!r} failed: {reason}") from None
    finally:
        conn.close()
