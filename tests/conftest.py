"""Shared fixtures: one real embedded PostgreSQL (with pgvector) per test session.

The server lives in a temporary folder. Migrations are applied once to a template database;
each test that asks for ``pipeline_db`` gets a fresh copy of it, dropped when the test ends.
Databases are made and dropped by ``pytest-postgresql``'s ``DatabaseJanitor``; the ones made
for a module or the session (``new_database``) are dropped when the session ends. The demo
business database is loaded once per session. ``app`` / ``client`` are the Flask app on the
test's database and its test client.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import parse_dsn
from pytest_postgresql.janitor import DatabaseJanitor

from app_config import Config
from core.db import Database
from core.demo_db import dsn_with_database, ensure_demo_database
from core.embedded_pg import scratch_server, start_embedded, stop_embedded
from core.migrations import apply_migrations, ensure_queue_schema, ensure_vector_extension
from data_pipeline.tasks.store import TaskStore

TEMPLATE_DB = "dp_test_template"
# Databases made by new_database() for modules and the session: dropped at the session's end.
_LEFT_FOR_THE_SESSION: list[DatabaseJanitor] = []


def _janitor(admin_dsn: str, dbname: str, template: str | None = None, **kw) -> DatabaseJanitor:
    parts = parse_dsn(admin_dsn)
    return DatabaseJanitor(
        user=parts.get("user", "postgres"),
        password=parts.get("password") or None,
        host=parts["host"],
        port=parts.get("port", 5432),
        dbname=dbname,
        template_dbname=template,
        **kw,
    )


def _make_database(admin_dsn: str, template: str | None = None) -> tuple[str, DatabaseJanitor]:
    name = f"dp_test_{uuid.uuid4().hex[:10]}"
    janitor = _janitor(admin_dsn, name, template)
    janitor.init()
    return dsn_with_database(admin_dsn, name), janitor


def new_database(admin_dsn: str, template: str | None = None) -> str:
    """A new database (a copy of ``template`` if given), dropped when the session ends."""
    dsn, janitor = _make_database(admin_dsn, template)
    _LEFT_FOR_THE_SESSION.append(janitor)
    return dsn


@pytest.fixture(scope="session")
def pg_root():
    """A folder for the session's embedded server (world-traversable, as the library needs),
    in memory where the machine offers it: the tests make and drop hundreds of databases, and
    on a busy disk those writes stall (65-85 s for `make test-fast` on disk here)."""
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2**30
    base = Path(tempfile.mkdtemp(prefix="dp-tests-", dir=shm if in_memory else None))
    os.chmod(base, 0o755)
    yield base
    stop_embedded(base / "pgdata")
    shutil.rmtree(base, ignore_errors=True)


# A throw-away server need not survive a crash of the machine: without waiting for the disk,
# making and dropping a database takes 0.05 s instead of 0.4 s (measured here).
_NOT_DURABLE = ("fsync", "synchronous_commit", "full_page_writes")


@pytest.fixture(scope="session")
def pg_admin_dsn(pg_root) -> str:
    """Admin DSN of the session's embedded PostgreSQL 18 + pgvector."""
    dsn = start_embedded(pg_root / "pgdata")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for setting in _NOT_DURABLE:
            cur.execute(f"ALTER SYSTEM SET {setting} = off")
        cur.execute("SELECT pg_reload_conf()")
    conn.close()
    yield dsn
    while _LEFT_FOR_THE_SESSION:
        _LEFT_FOR_THE_SESSION.pop().drop()


def _migrate(host, port, user, dbname, password, **_ignored) -> None:
    """The janitor's loader: the schema migrations, the queue's tables and pgvector, in the
    template."""
    dsn = psycopg2.extensions.make_dsn(
        host=host, port=port, user=user, dbname=dbname, password=password
    )
    db = Database(dsn)
    try:
        apply_migrations(db)
        ensure_queue_schema(db)
        ensure_vector_extension(db)
    finally:
        db.close()


@pytest.fixture(scope="session")
def template_db(pg_admin_dsn) -> str:
    janitor = _janitor(pg_admin_dsn, TEMPLATE_DB, as_template=True)
    janitor.drop()  # a leftover of an interrupted session
    janitor.init()
    janitor.load(_migrate)
    yield TEMPLATE_DB
    janitor.drop()


@pytest.fixture(scope="session")
def demo_dsn(pg_admin_dsn) -> str:
    """DSN of the bundled demo business database, loaded once per session."""
    return ensure_demo_database(pg_admin_dsn)


class _Clones:
    """Copies of the template made ahead of need by a background thread: a CREATE DATABASE
    takes about 0.3 s here, which the server then spends while the tests run."""

    def __init__(self, admin_dsn: str, template: str, ahead: int = 2):
        self.admin_dsn, self.template = admin_dsn, template
        self._ready: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="db-clones", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        while not self._stop.is_set():
            try:
                made = _make_database(self.admin_dsn, self.template)
            except Exception as exc:  # handed to the test that asks next
                made = exc
            while not self._stop.is_set():
                try:
                    self._ready.put(made, timeout=0.2)
                    break
                except queue.Full:
                    continue
            else:
                if not isinstance(made, Exception):
                    made[1].drop()

    def take(self) -> tuple[str, DatabaseJanitor]:
        made = self._ready.get(timeout=60)
        if isinstance(made, Exception):
            raise made
        return made

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        while not self._ready.empty():
            made = self._ready.get_nowait()
            if not isinstance(made, Exception):
                made[1].drop()


@pytest.fixture(scope="session")
def clones(pg_admin_dsn, template_db):
    maker = _Clones(pg_admin_dsn, template_db)
    yield maker
    maker.close()


@pytest.fixture
def pipeline_dsn(clones) -> str:
    """A fresh, migrated pipeline database for one test, dropped afterwards."""
    dsn, janitor = clones.take()
    yield dsn
    janitor.drop()


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
def app(config):
    """The Flask app on the test's pipeline database (no monitor thread)."""
    from tests.api_support import make_app

    app = make_app(config)
    yield app
    app.extensions["data_pipeline"].close()


@pytest.fixture
def client(app):
    """The app's test client (real routes, real database, no HTTP server)."""
    return app.test_client()


@pytest.fixture
def own_server():
    """An embedded server of the test's own (data folder, admin DSN), so that the test can stop
    and start it again without touching the session's server."""
    with scratch_server(prefix="dp-own-server-") as (dsn, data_dir):
        yield data_dir, dsn
