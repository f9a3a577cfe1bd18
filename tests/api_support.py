"""Helpers of the API tests: an app on the test database (Flask test client), the real server
(``python citu_app.py`` under waitress, through :class:`tests.support.server.ServiceProcess`),
polling, and task bodies on the demo and a deliberately slow source."""

from __future__ import annotations

import time
from pathlib import Path

from app_config import Config
from tests.support.server import API, ServiceProcess, free_port

__all__ = ["API", "ApiServer", "free_port", "make_app", "wait_until"]


def make_app(config: Config):
    """A Flask app on the test's database, without the monitor thread."""
    from citu_app import create_app
    from data_pipeline.tasks.runtime import open_runtime

    cfg = config.with_overrides(monitor_enabled=False)
    return create_app(cfg, open_runtime(cfg, load_demo=False))


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


class ApiServer(ServiceProcess):
    """``python citu_app.py`` on the test's pipeline database, demo source and data root;
    ``settings`` are further settings by field name (``max_concurrent_tasks=1``)."""

    def __init__(self, pipeline_dsn: str, demo_dsn: str, data_root: Path, **settings):
        self.data_root = Path(data_root)
        self.data_root.mkdir(parents=True, exist_ok=True)
        env: dict[str, str | None] = {
            "PIPELINE_DATABASE_URL": pipeline_dsn,
            "SOURCE_DEMO_URL": demo_dsn,
            "LOAD_DEMO_SOURCE": "false",
            "DATA_PIPELINE_ROOT": str(self.data_root),
            "LOG_LEVEL": "INFO",
        }
        env.update({k.upper(): str(v) for k, v in settings.items()})
        super().__init__(env, self.data_root.parent / f"server-{id(self)}.log")
        self.pipeline_dsn = pipeline_dsn


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
