"""The service on its embedded default: first start, restart reusing the data, readiness.

This is the README's ``make run`` path: no DSN configured, so ``citu_app.py`` starts its own
embedded PostgreSQL in EMBEDDED_PG_DIR and loads the demo source into it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest
import requests

from core.embedded_pg import start_embedded, stop_embedded
from tests.api_support import wait_until
from tests.support.server import PROJECT_ROOT, ServiceProcess, free_port

TASK_TABLES = {
    "data_pipeline_tasks",
    "data_pipeline_task_executions",
    "data_pipeline_task_logs",
    "data_pipeline_task_outputs",
}


@pytest.fixture(scope="module")
def home():
    base = Path(tempfile.mkdtemp(prefix="dp-service-"))
    os.chmod(base, 0o755)
    yield base
    stop_embedded(base / "pgdata")
    shutil.rmtree(base, ignore_errors=True)


def _env(home: Path) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "EMBEDDED_PG_DIR": str(home / "pgdata"),
        "DATA_PIPELINE_ROOT": str(home / "tasks"),
        "MONITOR_INTERVAL_SECONDS": "2",
    }
    for var in ("PIPELINE_DATABASE_URL", "SOURCE_DEMO_URL", "LOAD_DEMO_SOURCE", "DATA_SOURCES"):
        env[var] = None
    return env


def _catalog(dsn: str, sql: str) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def test_first_start_restart_and_readiness(home):
    service = ServiceProcess(_env(home), home / "service.log")
    first = service.start(timeout=60).startup_seconds
    try:
        assert first < 60
        health = requests.get(service.url("/health"), timeout=5)
        assert health.status_code == 200 and health.json()["success"] is True
        ready = requests.get(service.url("/ready"), timeout=5).json()
        assert ready["data"]["database"] == "ok" and ready["data"]["vector"] is True

        admin = start_embedded(home / "pgdata")  # attach to the same server from the test
        tables = {r[0] for r in _catalog(admin, "SELECT tablename FROM pg_tables")}
        assert TASK_TABLES <= tables
        demo = admin.replace("/postgres?", "/demo_business?")
        demo_tables = _catalog(
            demo,
            "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'",
        )
        assert len(demo_tables) >= 8 and sum(r[1] for r in demo_tables) >= 10_000
        oid_before = _catalog(admin, "SELECT oid FROM pg_database WHERE datname = 'demo_business'")
    finally:
        assert service.stop() is not None

    # Second start: the data is reused (no re-creation) and it is ready quickly.
    again = ServiceProcess(_env(home), home / "service2.log")
    second = again.start(timeout=30).startup_seconds
    try:
        # Nothing is built again: a fraction of the first start (5 s on an idle 2-core
        # machine; the first start's half when the machine is busy).
        assert second < max(5.0, first / 2), f"restart took {second:.1f} s (first {first:.1f} s)"
        admin = start_embedded(home / "pgdata")
        assert (
            _catalog(admin, "SELECT oid FROM pg_database WHERE datname = 'demo_business'")
            == oid_before
        )
        log = (home / "service2.log").read_text()
        assert "Loaded" not in log and "applied migration" not in log

        # Pipeline database stopped: /ready says so (503, JSON); /health still 200.
        stop_embedded(home / "pgdata")
        down = requests.get(again.url("/ready"), timeout=10)
        assert down.status_code == 503
        body = down.json()
        assert body["success"] is False and body["error"]["type"] == "database_unavailable"
        assert requests.get(again.url("/health"), timeout=5).status_code == 200
        start_embedded(home / "pgdata")
        assert requests.get(again.url("/ready"), timeout=10).status_code == 200
    finally:
        again.stop()


def test_a_route_module_that_fails_to_import_stops_the_start(tmp_path):
    """A broken import is an error at start-up, never a server without its routes whose
    /ready still says 200."""
    port = free_port()
    # sys.modules[name] = None makes "import name" raise ImportError, as a broken module would.
    code = (
        "import runpy, sys; sys.modules['data_pipeline.api.logs'] = None; "
        f"sys.argv = ['citu_app.py', '--port', '{port}']; "
        "runpy.run_path('citu_app.py', run_name='__main__')"
    )
    env = {**os.environ, "EMBEDDED_PG_DIR": str(tmp_path / "pgdata"), "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "data_pipeline.api.logs" in proc.stderr
    assert "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/api/v0/data_pipeline/ready", timeout=2)
    assert not (tmp_path / "pgdata").exists()  # it stopped before touching anything


def test_the_embedded_default_runs_with_least_privilege(home):
    """``make run``: the service works as data_pipeline_app, the demo is read as demo_reader,
    and a demo task still completes through source:demo."""
    service = ServiceProcess(_env(home), home / "service-roles.log").start(timeout=60)
    try:
        body = {
            "task_name": "最小权限 demo",
            "parameters": {
                "db_connection": "source:demo",
                "business_context": "高速公路服务区经营分析",
                "table_list": ["service_area", "stall", "business_type", "daily_revenue"],
            },
        }
        r = requests.post(service.url("/tasks"), json=body, timeout=10)
        assert r.status_code == 201, r.text
        task_id = r.json()["data"]["task_id"]

        def finished():
            data = requests.get(service.url(f"/tasks/{task_id}"), timeout=10).json()["data"]
            return data if data["status"] not in ("pending", "running") else None

        task = wait_until(finished, 90, message="the demo task")
        assert task["status"] == "completed", task["error_message"]
        step1 = task["result"]["steps"]["ddl_generation"]["summary"]["source_role"]
        assert step1["role"] == "demo_reader" and step1["superuser"] is False
        assert step1["writable"] == [] and step1["warning"] is None
        sources = requests.get(service.url("/sources"), timeout=10).json()["data"]["sources"]
        assert sources == [
            {
                "name": "demo",
                "reference": "source:demo",
                "database": "demo_business",
                "host": "local",
            }
        ]
    finally:
        service.stop()
    admin = start_embedded(home / "pgdata")
    owners = dict(
        _catalog(
            admin,
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
            " WHERE c.relname LIKE 'data_pipeline_%' AND c.relkind = 'r'",
        )
    )
    assert owners and set(owners.values()) == {"data_pipeline_app"}
    roles = dict(_catalog(admin, "SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN"
                                 " ('data_pipeline_app', 'demo_reader')"))  # fmt: skip
    assert roles == {"data_pipeline_app": False, "demo_reader": False}
    reader = admin.replace("postgres:@", "demo_reader@")
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        psycopg2.connect(reader).close()  # the pipeline database does not let it in
