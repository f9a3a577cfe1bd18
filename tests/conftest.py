"""Shared fixtures: one real embedded PostgreSQL (with pgvector) per test session.

The server lives in a temporary folder. Migrations are applied once to a template database;
each test that asks for ``pipeline_db`` gets a fresh copy of it. The demo business database
is loaded once per session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg2
import pytest

from app_config import Config
from core.db import Database
from core.demo_db import dsn_with_database, ensure_demo_database
from core.embedded_pg import scratch_server, start_embedded, stop_embedded
from core.migrations import apply_migrations, ensure_vector_extension
from data_pipeline.tasks.store import TaskStore

TEMPLATE_DB = "dp_test_template"


def _admin_exec(dsn: str, statement: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_root():
    """A folder for the session's embedded server (world-traversable, as the library needs)."""
    base = Path(tempfile.mkdtemp(prefix="dp-tests-"))
    os.chmod(base, 0o755)
    yield base
    stop_embedded(base / "pgdata")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_dsn(pg_root) -> str:
    """Admin DSN of the session's embedded PostgreSQL 18 + pgvector."""
    return start_embedded(pg_root / "pgdata")


@pytest.fixture(scope="session")
def template_db(pg_admin_dsn) -> str:
    _admin_exec(pg_admin_dsn, f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
    _admin_exec(pg_admin_dsn, f"CREATE DATABASE {TEMPLATE_DB}")
    db = Database(dsn_with_database(pg_admin_dsn, TEMPLATE_DB))
    apply_migrations(db)
    ensure_vector_extension(db)
    db.close()
    return TEMPLATE_DB


@pytest.fixture(scope="session")
def demo_dsn(pg_admin_dsn) -> str:
    """DSN of the bundled demo business database, loaded once per session."""
    return ensure_demo_database(pg_admin_dsn)


def new_database(admin_dsn: str, template: str | None = None) -> str:
    name = f"dp_test_{uuid.uuid4().hex[:10]}"
    tmpl = f" TEMPLATE {template}" if template else ""
    _admin_exec(admin_dsn, f"CREATE DATABASE {name}{tmpl}")
    return dsn_with_database(admin_dsn, name)


@pytest.fixture
def pipeline_dsn(pg_admin_dsn, template_db) -> str:
    """A fresh, migrated pipeline database for one test."""
    return new_database(pg_admin_dsn, template_db)


@pytest.fixture
def pipeline_db(pipeline_dsn):
    db = Database(pipeline_dsn)
    yield db
    db.close()


@pytest.fixture
def store(pipeline_db) -> TaskStore:
    return TaskStore(pipeline_db)


@pytest.fixture
def config(tmp_path, pipeline_dsn, demo_dsn) -> Config:
    """A configuration pointing at the test's pipeline database and a temporary data root."""
    return Config(
        pipeline_database_url=pipeline_dsn,
        data_root=tmp_path / "data",
        data_sources={"demo": demo_dsn},
        load_demo_source=False,
    )


@pytest.fixture
def own_server():
    """An embedded server of the test's own (data folder, admin DSN), so that the test can stop
    and start it again without touching the session's server."""
    with scratch_server(prefix="dp-own-server-") as (dsn, data_dir):
        yield data_dir, dsn
