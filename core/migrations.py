"""Numbered schema migrations from ``sql/migrations``, applied once each, safely in parallel.

Each ``NNN_name.sql`` runs in its own transaction and is recorded in ``schema_migrations``.
A transaction-level advisory lock serialises processes that start at the same time, so the
second one finds the work done and applies nothing.
"""

from __future__ import annotations

import logging
import re

import psycopg2

from core.db import Database
from core.errors import error_summary
from core.sql_queries import SQL_DIR

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = SQL_DIR / "migrations"
_LOCK_KEY = 0x5049_5045  # "PIPE"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


def list_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise ValueError(f"migration file name must be NNN_name.sql: {path.name}")
        found.append((int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError("two migration files share a number")
    return found


def apply_migrations(db: Database) -> list[int]:
    """Apply the migrations not yet applied; return the versions applied now."""
    applied_now: list[int] = []
    for version, name, sql in list_migrations():
        with db.transaction(dict_rows=False) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,))
            if cur.fetchone():
                continue
            cur.execute(sql)
            cur.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
            )
            applied_now.append(version)
            logger.info("applied migration %03d_%s", version, name)
    return applied_now


def ensure_queue_schema(db: Database) -> bool:
    """Create procrastinate's tables (the task queue) once; False when they were there.

    Its schema is procrastinate's own (``procrastinate.schema.SchemaManager``), applied under
    the same advisory lock as the migrations; the pinned version's schema stays as created
    (a procrastinate upgrade brings its own migrations, see the README).
    """
    from procrastinate.schema import SchemaManager

    with db.transaction(dict_rows=False) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        if cur.fetchone()[0]:
            return False
        cur.execute(SchemaManager.get_schema())
    logger.info("created the task queue's tables (procrastinate)")
    return True


def ensure_vector_extension(db: Database) -> bool:
    """Create the pgvector extension where the server has it; say clearly when it does not."""
    try:
        with db.transaction(dict_rows=False) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return True
    except psycopg2.Error as exc:
        logger.warning(
            "pgvector is not available on the pipeline database (%s); every step works except "
            "training_load, which needs the 'vector' extension",
            error_summary(exc),
        )
        return False
