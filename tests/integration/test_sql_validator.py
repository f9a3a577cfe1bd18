"""SQLValidator against a real PostgreSQL: good SQL passes, every kind of bad SQL fails with
its reason, within the timeout, concurrently — and the database never changes."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from core.errors import Cancelled, SourceUnavailable
from data_pipeline.sql_validation.sql_validator import SQLValidator
from data_pipeline.sql_validation.statement_guard import inspect_statement
from tests.conftest import new_database

SHOP = """
CREATE TYPE order_state AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customer (id serial PRIMARY KEY, name text NOT NULL, city text, "SignupDate" date);
COMMENT ON TABLE customer IS '客户';
CREATE TABLE orders (
    id serial PRIMARY KEY, customer_id int REFERENCES customer (id), amount numeric(10, 2),
    state order_state NOT NULL DEFAULT 'new', code text NOT NULL, created_at timestamp
);
COMMENT ON COLUMN orders.amount IS '订单金额（元）';
CREATE TABLE victim (id int);
CREATE SCHEMA sales;
CREATE TABLE sales.target (region text, goal numeric);
INSERT INTO customer (name, city, "SignupDate")
    SELECT '客户' || i, (ARRAY['南昌', '九江', 'Ganzhou'])[1 + i % 3], DATE '2024-01-01' + i
    FROM generate_series(1, 30) i;
INSERT INTO orders (customer_id, amount, state, code, created_at)
    SELECT 1 + i % 30, i * 1.5, (ARRAY['new', 'paid', 'shipped'])[1 + i % 3]::order_state,
           'A' || i, TIMESTAMP '2024-01-01' + i * INTERVAL '1 hour'
    FROM generate_series(1, 200) i;
INSERT INTO victim VALUES (1), (2);
INSERT INTO sales.target VALUES ('赣北', 100), ('赣南', 80);
"""

FINGERPRINT = """
SELECT md5(string_agg(format('%s.%s:%s:%s:%s', n.nspname, c.relname, c.relkind, a.attname,
                             a.atttypid), ',' ORDER BY n.nspname, c.relname, a.attnum)),
       (SELECT count(*) FROM pg_constraint), (SELECT count(*) FROM pg_proc),
       (SELECT string_agg(sequencename || '=' || coalesce(last_value, 0), ',')
          FROM pg_sequences)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
"""
TABLES = ["customer", "orders", "victim", "sales.target"]


def fingerprint(dsn: str) -> tuple:
    """Catalog checksum, sequence values, and every table's row count and content hash."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(FINGERPRINT)
            catalog = cur.fetchone()
            rows = []
            for table in TABLES:
                cur.execute(
                    f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
                )
                rows.append(cur.fetchone())
        return catalog, tuple(rows)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def shop_dsn(pg_admin_dsn):
    dsn = new_database(pg_admin_dsn)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(SHOP)
    conn.close()
    return dsn


GOOD_DEMO_SQL = [
    "SELECT status, COUNT(*) AS n FROM service_area GROUP BY status ORDER BY n DESC",
    "SELECT sa.area_name, SUM(dr.revenue_amount) AS revenue FROM daily_revenue dr "
    "JOIN stall s ON s.stall_id = dr.stall_id JOIN service_area sa ON sa.area_id = s.area_id "
    "WHERE dr.biz_date >= DATE '2024-03-01' GROUP BY sa.area_name ORDER BY revenue DESC LIMIT 5;",
    "SELECT area_name FROM service_area WHERE city = '南昌' AND area_type = '服务区' -- 南昌; 服务区",
    "WITH m AS (SELECT date_trunc('month', biz_date) AS month, SUM(revenue_amount) AS r "
    "FROM daily_revenue GROUP BY 1) SELECT month, r, r - LAG(r) OVER (ORDER BY month) FROM m",
    "SELECT sc.contract_no FROM stall_contract sc JOIN stall s "
    "ON s.area_id = sc.area_id AND s.stall_no = sc.stall_no WHERE sc.monthly_rent > 1000",
    "(SELECT area_name FROM service_area LIMIT 1) UNION ALL (SELECT route_name FROM highway_route)",
    "SELECT vehicle_type, SUM(vehicle_count) FROM vehicle_flow "
    "WHERE vehicle_type = 'truck' GROUP BY vehicle_type",
    "TABLE business_type",
]


@pytest.mark.parametrize("level", ["explain", "execute"])
def test_known_good_sql_is_valid(demo_dsn, level):
    with SQLValidator(demo_dsn, level=level, statement_timeout_ms=5000) as validator:
        results = validator.validate_many(GOOD_DEMO_SQL)
    assert [r.sql for r in results] == GOOD_DEMO_SQL
    for r in results:
        assert r.valid, (r.sql, r.error)
        assert r.error is None and r.duration_ms >= 0


# (sql, error kind, fragment of the error) — invalid at both levels
BAD_SQL = [
    ("SELEC name FROM customer", "syntax", "syntax error"),
    ("SELECT name FROM customer WHERE", "syntax", "syntax error"),
    ("SELECT name, FROM customer", "syntax", "syntax error"),
    ("SELECT name FROM customers", "unknown_table", 'relation "customers" does not exist'),
    ("SELECT goal FROM target", "unknown_table", 'relation "target" does not exist'),
    ("SELECT nam FROM customer", "unknown_column", 'column "nam" does not exist'),
    ('SELECT "signupdate" FROM customer', "unknown_column", "does not exist"),
    ("SELECT name FROM customer WHERE name > 5", "type_error", "operator does not exist"),
    ("SELECT code FROM orders WHERE state = 'lost'", "type_error", "invalid input value"),
    ("SELECT 1; DROP TABLE victim", "multiple_statements", "exactly one statement, found 2"),
    ("SELECT 1; SELECT 2", "multiple_statements", "exactly one statement"),
    ("INSERT INTO victim VALUES (3)", "not_read_only", "INSERT"),
    ("UPDATE orders SET amount = 0", "not_read_only", "UPDATE"),
    ("DELETE FROM orders", "not_read_only", "DELETE"),
    ("WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d", "not_read_only",
     "data-modifying DELETE"),
    ("WITH u AS (UPDATE victim SET id = 0 RETURNING id) SELECT * FROM u", "not_read_only",
     "data-modifying UPDATE"),
    ("CREATE TABLE intruder (a int)", "not_read_only", "CREATE"),
    ("DROP TABLE victim", "not_read_only", "DROP"),
    ("ALTER TABLE victim ADD COLUMN b int", "not_read_only", "ALTER"),
    ("TRUNCATE victim", "not_read_only", "TRUNCATE"),
    ("SELECT * FROM orders FOR UPDATE", "not_read_only", "row locks"),
    ("SELECT * INTO orders_copy FROM orders", "not_read_only", "SELECT INTO"),
    ("SELECT nextval('orders_id_seq')", "not_read_only", "nextval"),
    ("GRANT ALL ON victim TO PUBLIC", "not_read_only", "not"),
    ("SET default_transaction_read_only = off", "not_read_only", "not"),
]  # fmt: skip
# invalid only when really run
EXECUTE_ONLY = [
    ("SELECT ('abc' || code)::int FROM orders", "type_error", "invalid input syntax for type integer"),
    ("SELECT pg_sleep(10)", "timeout", "statement timeout after 1000 ms"),
]  # fmt: skip


@pytest.mark.parametrize("level", ["explain", "execute"])
def test_bad_sql_is_invalid_with_its_reason_and_nothing_changes(shop_dsn, level):
    before = fingerprint(shop_dsn)
    cases = BAD_SQL + (EXECUTE_ONLY if level == "execute" else [])
    with SQLValidator(shop_dsn, level=level, statement_timeout_ms=1000) as validator:
        started = time.monotonic()
        results = validator.validate_many([sql for sql, _, _ in cases])
        elapsed = time.monotonic() - started
        for (sql, kind, fragment), r in zip(cases, results, strict=True):
            assert not r.valid, sql
            assert r.error_kind == kind, (sql, r.error_kind, r.error)
            assert fragment.lower() in r.error.lower(), (sql, r.error)
            assert r.duration_ms < 3000, (sql, r.duration_ms)
        # The connection that timed out was dropped; the pool still works.
        assert validator.validate("SELECT count(*) FROM victim").valid
    assert elapsed < 5
    assert fingerprint(shop_dsn) == before
    conn = psycopg2.connect(shop_dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.victim'), to_regclass('public.intruder')")
        assert cur.fetchone() == ("victim", None)
    conn.close()


def test_execute_level_catches_what_explain_cannot(shop_dsn):
    sqls = [sql for sql, _, _ in EXECUTE_ONLY]
    with SQLValidator(shop_dsn, level="explain", statement_timeout_ms=1000) as validator:
        started = time.monotonic()
        explained = validator.validate_many(sqls)
    # EXPLAIN plans pg_sleep(10) without running it: valid, and fast
    assert all(r.valid for r in explained)
    assert time.monotonic() - started < 1.0


def test_connections_are_read_only_even_without_the_static_check(shop_dsn):
    for level in ("explain", "execute"):
        validator = SQLValidator(shop_dsn, level=level)
        with validator, validator.pool.connection() as handle:
            conn = handle.get()
            with conn.cursor() as cur:
                cur.execute("SHOW transaction_read_only")
                assert cur.fetchone()[0] == "on"
                with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                    cur.execute("DELETE FROM victim")
            if not conn.autocommit:
                conn.rollback()


def test_concurrency_is_really_used(shop_dsn):
    # Eight distinct 0.3 s queries on 4 connections: two waves (~0.6 s), not 2.4 s.
    sqls = [f"SELECT pg_sleep(0.3), {i} AS n" for i in range(8)]
    with SQLValidator(shop_dsn, level="execute", max_concurrency=4) as validator:
        validator.check_connection()
        started = time.monotonic()
        results = validator.validate_many(sqls)
        elapsed = time.monotonic() - started
    assert all(r.valid for r in results)
    assert 0.55 < elapsed < 1.5, elapsed


def test_order_is_kept_and_duplicates_checked_once(shop_dsn):
    sqls = ["SELECT 1", "SELECT nope FROM victim", "SELECT 1", "SELECT id FROM victim", "SELECT 1"]
    seen = []
    with SQLValidator(shop_dsn, max_concurrency=2) as validator:
        results = validator.validate_many(sqls, progress=lambda d, t: seen.append((d, t)))
    assert [r.valid for r in results] == [True, False, True, True, True]
    assert [r.sql for r in results] == sqls
    assert seen[-1] == (5, 5)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cancellation_stops_queries_in_flight(shop_dsn):
    sqls = [f"SELECT pg_sleep(5), {i}" for i in range(6)]
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    with SQLValidator(shop_dsn, level="execute", statement_timeout_ms=10_000) as validator:
        started = time.monotonic()
        with pytest.raises(Cancelled):
            validator.validate_many(sqls, is_cancelled=flag.is_set)
    assert time.monotonic() - started < 2.0


def test_unreachable_database_is_named_without_password():
    validator = SQLValidator("postgresql://alice:s3cretpw@127.0.0.1:1/sales_db", connect_timeout=2)
    with pytest.raises(SourceUnavailable) as info:
        validator.check_connection()
    assert "sales_db" in info.value.message
    assert "s3cretpw" not in info.value.message


# Cross-check of the lexical guard with PostgreSQL's own lexer: {X} is a harmless second
# statement that leaves a mark only if PostgreSQL really runs it as a separate statement.
MARK = "SELECT set_config(chr(100) || chr(112) || chr(46) || chr(109), chr(104), true)"
LEXER_CASES = [
    "SELECT 'a\\'; {X}; --'",
    "SELECT E'a\\'; {X}; --'",
    "SELECT 1 /* /* ; */ ; */ ; {X}",
    "SELECT 1 /* /* ; */ ; {X} */",
    "SELECT $x$a;$$; {X} ;b$x$",
    "SELECT $x$a;$$;b$x$; {X}",
    'SELECT a$b$c FROM (SELECT 1 AS "a$b$c") s; {X}',
    'SELECT 1 AS "x;{X}"',
    "SELECT 1 -- ; {X}\n",
    "SELECT 1 -- c\n; {X}",
    "SELECT B'01''; {X}; --'",
    "SELECT 'x'\n'; {X}; --'",
]


@pytest.mark.parametrize("template", LEXER_CASES)
def test_guard_sees_the_statements_postgresql_sees(demo_dsn, template):
    sql = template.replace("{X}", MARK)
    conn = psycopg2.connect(demo_dsn)
    conn.set_session(readonly=True)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(sql)
            except psycopg2.Error:
                conn.rollback()
            cur.execute("SELECT current_setting('dp.m', true)")
            ran_second = cur.fetchone()[0] == "h"
        conn.rollback()
    finally:
        conn.close()
    assert inspect_statement(sql).ok == (not ran_second), sql


# SQL written by people, for a schema the validator has never seen: quoted mixed-case names,
# another schema, enums, arrays, jsonb, ranges, and syntax sqlglot may not know.
LIBRARY = """
CREATE SCHEMA lib;
CREATE TYPE lib.genre AS ENUM ('novel', 'poetry', 'history');
CREATE TABLE lib."Author" ("AuthorId" serial PRIMARY KEY, "FullName" text NOT NULL, born date,
                           tags text[] DEFAULT '{}', profile jsonb);
CREATE TABLE lib.book (id serial PRIMARY KEY, author_id int REFERENCES lib."Author" ("AuthorId"),
                       title text, genre lib.genre, published int, price numeric(8, 2));
CREATE TABLE lib.loan (book_id int REFERENCES lib.book (id), borrowed tstzrange, reader text);
INSERT INTO lib."Author" ("FullName", born, tags, profile) VALUES
  ('曹雪芹', '1715-05-28', '{classic}', '{"country": "中国"}'),
  ('Jane Austen', '1775-12-16', '{classic,romance}', '{"country": "UK"}');
INSERT INTO lib.book (author_id, title, genre, published, price) VALUES
  (1, '红楼梦', 'novel', 1791, 88.00), (2, 'Pride and Prejudice', 'novel', 1813, 12.50),
  (2, 'Juvenilia', 'poetry', 1790, NULL);
INSERT INTO lib.loan VALUES (1, tstzrange(now() - interval '3 days', now() + interval '4 days'), '张三');
"""
HUMAN_GOOD = [
    'SELECT a."FullName", count(b.id) AS books FROM lib."Author" a LEFT JOIN lib.book b '
    'ON b.author_id = a."AuthorId" GROUP BY a."FullName" HAVING count(b.id) > 0 ORDER BY books DESC, 1',
    "SELECT DISTINCT ON (genre) genre, title, price FROM lib.book ORDER BY genre, price DESC NULLS LAST",
    'SELECT a."FullName", latest.title FROM lib."Author" a CROSS JOIN LATERAL (SELECT title '
    'FROM lib.book b WHERE b.author_id = a."AuthorId" ORDER BY published DESC LIMIT 1) latest',
    "SELECT genre, published, sum(price) FROM lib.book GROUP BY GROUPING SETS ((genre), (published), ())",
    "SELECT count(*) FILTER (WHERE genre = 'novel') AS novels, "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY price) AS median_price FROM lib.book",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) FROM n",
    "SELECT profile ->> 'country' AS country, count(*) FROM lib.\"Author\" "
    "WHERE profile ? 'country' AND tags && ARRAY['classic'] GROUP BY 1",
    "SELECT reader, upper(borrowed) - lower(borrowed) AS duration FROM lib.loan WHERE borrowed @> now()",
    "SELECT title FROM lib.book WHERE title ILIKE E'%\\'s%' OR title ~* '^the\\s'",
    "SELECT $$It's a \"quote\"; not a statement$$ AS s, 'a;b' AS t -- trailing; comment",
    "SELECT title, price, rank() OVER w, lag(price) OVER w FROM lib.book "
    "WINDOW w AS (PARTITION BY genre ORDER BY price)",
    "SELECT g::date FROM generate_series(date '1790-01-01', date '1790-01-31', interval '1 week') AS g",
    "select b.title from lib.book b where exists (select 1 from lib.loan l "
    "where l.book_id = b.id and l.reader is distinct from 'x')",
    'SELECT title COLLATE "C" AS t FROM lib.book ORDER BY 1',
    "SELECT '书名：' || title AS 标签 FROM lib.book",
    "SELECT * FROM lib.book WHERE id = ANY('{1,2,3}'::int[]) AND genre <> 'history'::lib.genre",
    "SELECT json_agg(row_to_json(b)) FROM (SELECT id, title FROM lib.book) b",
    'SELECT EXTRACT(year FROM born) AS y, count(*) AS "Update" FROM lib."Author" GROUP BY y',
    "SELECT x.title FROM lib.book x TABLESAMPLE SYSTEM (50) REPEATABLE (1)",
    "SELECT 1 AS share, 2 AS comment",
]
HUMAN_BAD = [
    ('SELECT "fullname" FROM lib."Author"', "unknown_column"),
    ("SELECT title FROM lib.books", "unknown_table"),
    ("SELECT title FROM book", "unknown_table"),
    ("SELECT genre, title FROM lib.book GROUP BY genre", "other"),
    ("SELECT title FROM lib.book WHERE genre = 'poem'", "type_error"),
    ("SELECT title FROM lib.book ORDER BY", "syntax"),
    ("SELECT title FROM lib.book WHERE published = 'seventeen'", "type_error"),
]


@pytest.fixture(scope="module")
def library_dsn(pg_admin_dsn):
    dsn = new_database(pg_admin_dsn)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(LIBRARY)
    conn.close()
    return dsn


@pytest.mark.parametrize("level", ["explain", "execute"])
def test_human_written_sql_for_an_unseen_schema(library_dsn, level):
    with SQLValidator(library_dsn, level=level) as validator:
        good = validator.validate_many(HUMAN_GOOD)
        bad = validator.validate_many([sql for sql, _ in HUMAN_BAD])
    for r in good:
        assert r.valid, (r.sql, r.error)
    for (sql, kind), r in zip(HUMAN_BAD, bad, strict=True):
        assert not r.valid and r.error_kind == kind, (sql, r.error_kind, r.error)
        assert r.error and "\n" not in r.error


def test_a_lost_connection_is_replaced_not_blamed_on_the_sql(shop_dsn, pg_admin_dsn, caplog):
    sqls = [f"SELECT pg_sleep(0.4), {i}" for i in range(4)]

    def terminate():
        time.sleep(0.15)
        conn = psycopg2.connect(pg_admin_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'data_pipeline_validator' AND state = 'active'"
            )
        conn.close()

    killer = threading.Thread(target=terminate)
    with SQLValidator(shop_dsn, level="execute", max_concurrency=2) as validator:
        killer.start()
        results = validator.validate_many(sqls)
        killer.join()
    assert all(r.valid for r in results), [r.error for r in results]
    assert "reconnecting" in caplog.text  # the backends really were terminated mid-query


# Trust boundaries: what a caller tried at execute level, decided on PostgreSQL's own parse
# tree (sqlglot read U&"..." identifiers as something else) and refused before it runs.
MONITOR_LOCK_KEY = 4_729_113_508
ESCAPES = [
    ("SELECT CAST(U&\"\\0070g_read_file\"('/etc/hostname') AS int)", "pg_read_file"),
    ("SELECT U&\"\\0070g_terminate_backend\"({pid})", "pg_terminate_backend"),
    ("SELECT query_to_xml('select pg_terminate_backend({pid})', true, true, '')",
     "query_to_xml"),
    ("SELECT * FROM ts_stat('select to_tsvector(pg_read_file(''/etc/hostname''))')",
     "ts_stat"),
    ("SELECT pg_create_physical_replication_slot('dp_escape_slot')",
     "pg_create_physical_replication_slot"),
    ("SELECT pg_stat_reset()", "pg_stat_reset"),
    (f"SELECT pg_advisory_lock({MONITOR_LOCK_KEY})", "pg_advisory_lock"),
    ("SELECT set_config('default_transaction_read_only', 'off', false)", "set_config"),
    ("SELECT pg_catalog.pg_ls_dir('.')", "pg_ls_dir"),
    ("SELECT usename, passwd FROM pg_shadow", "pg_shadow"),
    ("SELECT no_such_function(1)", "no_such_function"),
]  # fmt: skip


@pytest.mark.parametrize("level", ["explain", "execute"])
def test_escapes_found_by_callers_are_refused_before_they_run(shop_dsn, pg_admin_dsn, level):
    bystander = psycopg2.connect(shop_dsn)  # a connection the escapes tried to kill
    with bystander.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    before = fingerprint(shop_dsn)
    try:
        with SQLValidator(shop_dsn, level=level, statement_timeout_ms=2000) as validator:
            results = validator.validate_many([sql.format(pid=pid) for sql, _ in ESCAPES])
        for (sql, name), result in zip(ESCAPES, results, strict=True):
            assert not result.valid, sql
            assert result.stage == "static", (sql, result.error)  # never reached the server
            assert name in result.error and "\n" not in result.error, (sql, result.error)
        with bystander.cursor() as cur:  # still alive
            cur.execute("SELECT 1")
    finally:
        bystander.close()
    admin = psycopg2.connect(pg_admin_dsn)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_replication_slots")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            assert cur.fetchone()[0] == 0
    finally:
        admin.close()
    assert fingerprint(shop_dsn) == before


def test_the_allow_list_accepts_what_business_questions_use(shop_dsn):
    good = [
        "SELECT city, count(*), round(avg(amount), 2) FROM customer c JOIN orders o "
        "ON o.customer_id = c.id GROUP BY city ORDER BY 2 DESC",
        "SELECT date_trunc('month', created_at) AS m, sum(amount) FROM orders GROUP BY 1",
        "WITH t AS (SELECT customer_id, sum(amount) s FROM orders GROUP BY 1) "
        "SELECT c.name, t.s, rank() OVER (ORDER BY t.s DESC) FROM t JOIN customer c ON c.id = t.customer_id",
        "SELECT name FROM customer WHERE name LIKE '客户1%' AND coalesce(city, '') <> ''",
        "SELECT to_char(now(), 'YYYY-MM'), extract(year FROM current_date), random() < 2",
        "SELECT * FROM sales.target WHERE goal BETWEEN 50 AND 120",
        "SELECT state::text, count(*) FILTER (WHERE amount > 10) FROM orders GROUP BY state",
    ]
    with SQLValidator(shop_dsn, level="execute") as validator:
        results = validator.validate_many(good)
    assert [r.error for r in results] == [None] * len(good)
