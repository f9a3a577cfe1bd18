"""Opening the pipeline database for a process: embedded server, migrations, demo source,
and resolving named business sources (``source:NAME``) to DSNs.

Every process (API, executor, command line) starts here, so they all see the same database.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from app_config import DEMO_SOURCE_URL, Config
from core.db import Database
from core.demo_db import DEMO_DB_NAME, dsn_with_database, ensure_demo_database
from core.embedded_pg import start_embedded
from core.errors import InvalidInput
from core.migrations import apply_migrations, ensure_vector_extension
from data_pipeline.tasks.store import TaskStore

logger = logging.getLogger(__name__)

_SOURCE_REF = re.compile(r"^source:([a-z][a-z0-9_]{0,62})$")


@dataclass
class Runtime:
    """What a process needs to work with tasks."""

    config: Config
    db: Database
    store: TaskStore
    pipeline_dsn: str
    vector_available: bool = False

    def close(self) -> None:
        self.db.close()


def pipeline_dsn(config: Config, *, keep_running: bool = False) -> str:
    """The pipeline database's DSN, starting the embedded server when none is configured."""
    if config.pipeline_database_url:
        return config.pipeline_database_url
    return start_embedded(config.embedded_pg_dir, keep_running=keep_running)


def open_runtime(
    config: Config,
    *,
    migrate: bool = True,
    load_demo: bool | None = None,
    application_name: str = "data_pipeline",
    maxconn: int = 16,
) -> Runtime:
    """Connect to the pipeline database; apply migrations and load the demo when asked."""
    dsn = pipeline_dsn(config)
    db = Database(dsn, maxconn=maxconn, application_name=application_name)
    vector = False
    if migrate:
        apply_migrations(db)
        vector = ensure_vector_extension(db)
    if load_demo if load_demo is not None else (migrate and _wants_demo(config)):
        ensure_demo_database(dsn)
    return Runtime(
        config=config, db=db, store=TaskStore(db), pipeline_dsn=dsn, vector_available=vector
    )


def _wants_demo(config: Config) -> bool:
    return config.load_demo_source and DEMO_SOURCE_URL in config.data_sources.values()


def source_names(config: Config) -> list[str]:
    return sorted(config.data_sources)


def resolve_source(config: Config, pipeline: str, spec: str) -> str:
    """Turn ``source:NAME`` (or a DSN given as is) into a DSN for the business database.

    Args:
        config: gives the named sources.
        pipeline: the pipeline database DSN (the demo source lives on the same server).
        spec: ``source:NAME`` or a PostgreSQL DSN / URI.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInput("db_connection is empty", details={"db_connection": "required"})
    spec = spec.strip()
    if spec.startswith("source:"):
        m = _SOURCE_REF.match(spec)
        name = m.group(1) if m else None
        if not name or name not in config.data_sources:
            known = ", ".join(source_names(config)) or "none configured"
            raise InvalidInput(
                f"unknown source {spec[7:][:64]!r}; known sources: {known}",
                details={"db_connection": "unknown source"},
            )
        target = config.data_sources[name]
        if target == DEMO_SOURCE_URL:
            return dsn_with_database(pipeline, DEMO_DB_NAME)
        return target
    if spec.startswith(("postgresql://", "postgres://")) or "dbname=" in spec:
        return spec
    raise InvalidInput(
        "db_connection must be source:NAME or a PostgreSQL DSN (postgresql://user@host/db)",
        details={"db_connection": "unrecognised format"},
    )


def database_name(dsn: str) -> str:
    """The database name in a DSN (for ``db_name`` and file names)."""
    from psycopg2.extensions import parse_dsn

    try:
        return parse_dsn(dsn).get("dbname") or "postgres"
    except Exception:
        raise InvalidInput("db_connection is not a valid PostgreSQL DSN") from None
