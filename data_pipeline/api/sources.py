"""Named business databases (``source:NAME``) and their tables, to build a table list.

Reading a source's catalog is read-only, bounded by a statement timeout, and never shows a
password (connection strings are masked).
"""

from __future__ import annotations

import logging

from flask import Blueprint

from core.errors import InvalidInput, NotFound, PipelineError, SourceUnavailable
from data_pipeline.api.common import config, runtime
from data_pipeline.api.envelope import ok
from data_pipeline.schema.table_list import qualified
from data_pipeline.sources.catalog import list_tables
from data_pipeline.sources.registry import (
    SOURCE_NAME,
    describe_source,
    resolve_source,
    source_names,
)

logger = logging.getLogger(__name__)
bp = Blueprint("sources", __name__)


class SourceUnreachable(PipelineError):
    http_status = 503
    error_type = "source_unavailable"


@bp.get("/sources")
def list_sources():
    """The named business databases clients may use as ``"db_connection": "source:NAME"``."""
    cfg = config()
    sources = []
    for name in source_names(cfg):
        dsn = resolve_source(cfg, runtime().pipeline_dsn, f"source:{name}")
        sources.append(describe_source(name, dsn))
    return ok({"sources": sources, "count": len(sources)})


@bp.get("/sources/<name>/tables")
def source_tables(name: str):
    """Tables of a named source: schema, name, comment, estimated rows (read only)."""
    if not SOURCE_NAME.match(name):
        raise InvalidInput(
            "invalid source name",
            details={"source": name[:64], "fields": [{"field": "name", "message": "malformed"}]},
        )
    cfg = config()
    if name not in cfg.data_sources:
        raise NotFound(f"unknown source {name!r}", details={"known": source_names(cfg)})
    dsn = resolve_source(cfg, runtime().pipeline_dsn, f"source:{name}")
    try:
        rows = list_tables(dsn, timeout_ms=cfg.source_statement_timeout_ms)
    except SourceUnavailable as exc:
        raise SourceUnreachable(f"source {name!r}: {exc.message}") from None
    tables = [
        {
            "schema": r["schema_name"],
            "name": r["name"],
            "qualified_name": qualified(r["schema_name"], r["name"]),
            "kind": r["kind"],
            "comment": r["comment"],
            "estimated_rows": r["estimated_rows"],
        }
        for r in rows
    ]
    database = describe_source(name, dsn)["database"]
    return ok({"source": name, "database": database, "tables": tables, "count": len(tables)})
