"""Helpers of the API tests: an app on the test database (Flask test client), and the real
server (``python citu_app.py`` under waitress) in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from app_config import PROJECT_ROOT, Config

API = "/api/v0/data_pipeline"
# Configuration variables a developer may have set: a test server must not inherit them.
_CONFIG_VARS = (
    "DATA_PIPELINE_API_TOKEN", "PIPELINE_DATABASE_URL", "VECTOR_DATABASE_URL", "DATA_SOURCES",
    "LLM_BASE_URL", "LLM_API_KEY", "EMBEDDING_BASE_URL", "EMBEDDING_API_KEY",
    "DATA_PIPELINE_ROOT", "EMBEDDED_PG_DIR", "MAX_CONCURRENT_TASKS", "ENABLE_FILE_DOWNLOAD",
)  # fmt: skip


def make_app(config: Config):
    """A Flask app on the test's database, without the monitor thread."""
    from citu_app import create_app
    from data_pipeline.tasks.runtime import open_runtime

    cfg = config.with_overrides(monitor_enabled=False)
    return create_app(cfg, open_runtime(cfg, load_demo=False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message} (last: {last!r})")


class ApiServer:
    """``python citu_app.py --port P`` with the test's database, sources and data root."""

    def __init__(self, pipeline_dsn: str, demo_dsn: str, data_root: Path, **settings):
        self.data_root = Path(data_root)
        self.log_path = self.data_root.parent / f"server-{id(self)}.log"
        self.env = {k: v for k, v in os.environ.items() if k not in _CONFIG_VARS}
        self.env = {k: v for k, v in self.env.items() if not k.startswith("SOURCE_")}
        self.env.update(
            {
                "PIPELINE_DATABASE_URL": pipeline_dsn,
                "SOURCE_DEMO_URL": demo_dsn,
                "LOAD_DEMO_SOURCE": "false",
                "DATA_PIPELINE_ROOT": str(self.data_root),
                "LC_ALL": "C.UTF-8",
                "LANG": "C.UTF-8",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env.update({k.upper(): str(v) for k, v in settings.items()})
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.http = requests.Session()

    def start(self, timeout: float = 60.0) -> ApiServer:
        self.data_root.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            self.port = free_port()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "citu_app.py"), "--port", str(self.port)],
                cwd=str(PROJECT_ROOT),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if requests.get(self.url("/health"), timeout=1).status_code == 200:
                        return self
                except requests.RequestException:
                    time.sleep(0.1)
            self.stop()
        raise AssertionError(f"server did not start; log:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{API}{path}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.http.post(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.http.delete(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def task(self, task_id: str) -> dict:
        r = self.get(f"/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop the server (its own process group only: executors run in their own)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


DEMO_TABLES = [
    "operating_company", "highway_route", "service_area", "business_type", "stall",
    "stall_contract", "employee", "daily_revenue", "vehicle_flow",
]  # fmt: skip


def demo_task_body(**parameters) -> dict:
    """A task on the demo source with a Chinese business context."""
    params = {
        "db_connection": "source:demo",
        "business_context": "高速公路服务区经营管理：档口营收、车流量、员工与业态分析",
        "table_list": DEMO_TABLES,
    }
    params.update(parameters)
    return {"task_name": "服务区经营分析 demo", "parameters": params}


SLOW_SOURCE_SQL = """
CREATE TABLE slow_setting (delay float8 NOT NULL);
INSERT INTO slow_setting VALUES (%(delay)s);
CREATE TABLE area (id int PRIMARY KEY, name text NOT NULL, region text NOT NULL, opened date);
COMMENT ON TABLE area IS '服务区 (service area)';
COMMENT ON COLUMN area.region IS '所属片区';
INSERT INTO area
SELECT g, '服务区 ' || g, CASE WHEN g %% 2 = 0 THEN '东区' ELSE '西区' END, date '2020-01-01' + g
FROM generate_series(1, 40) g;
-- Every row read through the view waits: a business database with a slow view, so that a
-- run stays in step 1 long enough to be killed, cancelled or outlive an API restart.
CREATE FUNCTION slow_pass(integer) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
BEGIN PERFORM pg_sleep((SELECT delay FROM slow_setting)); RETURN true; END $f$;
CREATE VIEW area_report AS
SELECT a.id, a.name, a.region, a.opened FROM area a WHERE slow_pass(a.id);
COMMENT ON VIEW area_report IS '片区报表（慢视图）';
"""
SLOW_TABLES = ["area", "area_report"]


def make_slow_source(admin_dsn: str, delay: float) -> str:
    """A small business database whose view ``area_report`` takes ``delay`` s per row."""
    import psycopg2

    from tests.conftest import new_database

    dsn = new_database(admin_dsn)
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(SLOW_SOURCE_SQL, {"delay": delay})
    finally:
        conn.close()
    return dsn


def set_slow_delay(dsn: str, delay: float) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE slow_setting SET delay = %s", (delay,))
    finally:
        conn.close()


def slow_task_body(**parameters) -> dict:
    params = {
        "db_connection": "source:slow",
        "business_context": "服务区片区报表 (area reports)",
        "table_list": SLOW_TABLES,
    }
    params.update(parameters)
    return {"task_name": "慢视图任务", "parameters": params}


def process_group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (zombies count as gone)."""
    from core.processes import group_alive

    return group_alive(pgid)
