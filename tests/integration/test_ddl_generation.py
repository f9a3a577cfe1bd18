"""Step 1 (ddl_generation) on real PostgreSQL: the demo database and schemas built here.

The .ddl files must recreate every table in an empty database (run in any order, retrying
files that wait for a referenced table or type), and the recreated catalog must match the
source: columns, types, nullability, primary keys, identity/generated columns, comments.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

from app_config import Config
from core.errors import Cancelled, SourceUnavailable, StepFailed
from core.sql_queries import query as catalog_query
from data_pipeline.ddl_generation import step
from data_pipeline.ddl_generation.metadata_reader import MetadataReader, read_schema_metadata
from data_pipeline.llm import get_llm
from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.schema.model import SchemaMetadata
from data_pipeline.schema.table_list import parse_table_list, split_qualified
from data_pipeline.workflow.context import StepContext
from data_pipeline.workflow.params import WorkflowParams
from tests.conftest import new_database
from tests.fakes.openai_server import error, fake_openai_fixture  # noqa: F401

DEMO_TABLES = [
    "operating_company", "highway_route", "service_area", "business_type", "stall",
    "stall_contract", "employee", "daily_revenue", "vehicle_flow",
]  # fmt: skip


def _exec(dsn: str, statements: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statements)
    finally:
        conn.close()


def _ctx(task_dir: Path, dsn: str, tables: list[str], context: str, **kw) -> StepContext:
    params = WorkflowParams(db_connection="source:x", business_context=context)
    return StepContext(
        task_dir=task_dir,
        config=Config(data_root=task_dir.parent),
        params=params,
        source_dsn=dsn,
        db_name="testdb",
        llm=BuiltinLLM(),
        tables=tables,
        **kw,
    )


def apply_ddl_files(dsn: str, paths: list[Path]) -> int:
    """Run every file in its own transaction, in the given order, retrying the ones that fail
    (waiting for a referenced table or type) until all pass; return the number of rounds."""
    pending = list(paths)
    conn = psycopg2.connect(dsn)
    rounds = 0
    try:
        while pending:
            rounds += 1
            before = len(pending)
            errors = {}
            for path in list(pending):
                try:
                    with conn, conn.cursor() as cur:
                        cur.execute(path.read_text(encoding="utf-8"))
                    pending.remove(path)
                except psycopg2.Error as exc:
                    errors[path.name] = str(exc).splitlines()[0]
            if len(errors) == before:  # no file passed in this round
                raise AssertionError(f"DDL files do not run: {errors}")
    finally:
        conn.close()
    return rounds


SNAPSHOT_SQL = """
SELECT n.nspname AS schema_name, c.relname AS table_name, obj_description(c.oid, 'pg_class') AS comment,
       a.attname, a.attnum,
       format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
                   CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) AS type,
       a.attnotnull, a.attidentity::text AS identity, a.attgenerated::text AS generated,
       col_description(c.oid, a.attnum) AS col_comment,
       (SELECT array_agg(att.attname::text ORDER BY k.ord)
          FROM pg_constraint pk CROSS JOIN LATERAL unnest(pk.conkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute att ON att.attrelid = pk.conrelid AND att.attnum = k.attnum
         WHERE pk.conrelid = c.oid AND pk.contype = 'p') AS pk
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%(s)s::text[], %(t)s::text[]))
ORDER BY 1, 2, a.attnum
"""


def snapshot(dsn: str, tables: list[tuple[str, str]]) -> dict:
    """Per table: comment, primary key, columns (name, type, not null, identity, generated,
    comment) — what a recreated table must share with its source."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SET search_path = public")
            cur.execute(SNAPSHOT_SQL, {"s": [s for s, _ in tables], "t": [t for _, t in tables]})
            rows = cur.fetchall()
    finally:
        conn.close()
    out: dict = {}
    for schema, table, comment, col, _, typ, notnull, ident, gen, col_comment, pk in rows:
        entry = out.setdefault((schema, table), {"comment": comment, "pk": pk, "columns": []})
        entry["columns"].append((col, typ, notnull, ident, gen, col_comment))
    return out


def expected_from_metadata(meta: SchemaMetadata) -> dict:
    """The comments the DDL must have set: source comments kept, generated ones added."""
    return {
        (t.schema, t.name): {
            "comment": t.comment,
            "columns": {c.name: c.comment for c in t.columns},
        }
        for t in meta.tables
    }


# --- the demo database --------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(demo_dsn, tmp_path_factory):
    task_dir = tmp_path_factory.mktemp("demo_step1") / "task_20250101_000000"
    summary = step.run(_ctx(task_dir, demo_dsn, DEMO_TABLES, "高速公路服务区经营数据分析"))
    return task_dir, summary


def test_demo_every_table_gets_ddl_and_detail(demo_run):
    task_dir, summary = demo_run
    assert summary["tables_succeeded"] == len(DEMO_TABLES)
    assert summary["tables_failed"] == []
    for name in DEMO_TABLES:
        assert (task_dir / f"{name}.ddl").is_file()
        assert (task_dir / f"{name}_detail.md").is_file()
    assert json.loads((task_dir / "schema_metadata.json").read_text(encoding="utf-8"))
    assert summary["comments_generated"]["columns"] > 0  # the demo leaves many columns bare
    assert set(step.output_files(task_dir)) == {
        *task_dir.glob("*.ddl"),
        *task_dir.glob("*_detail.md"),
        task_dir / "schema_metadata.json",
    }
    assert step.missing_inputs(task_dir) is None


def test_demo_ddl_recreates_every_table(demo_run, demo_dsn, pg_admin_dsn):
    task_dir, _ = demo_run
    empty = new_database(pg_admin_dsn)
    # Worst order first: referencing tables before the tables they reference.
    paths = sorted(task_dir.glob("*.ddl"), key=lambda p: p.name, reverse=True)
    apply_ddl_files(empty, paths)
    keys = [("public", t) for t in DEMO_TABLES]
    source, copy = snapshot(demo_dsn, keys), snapshot(empty, keys)
    meta = SchemaMetadata.load(task_dir)
    expected = expected_from_metadata(meta)
    for key in keys:
        assert key in copy, f"{key} not recreated"
        src_cols = [c[:5] for c in source[key]["columns"]]
        new_cols = [c[:5] for c in copy[key]["columns"]]
        assert new_cols == src_cols, key
        assert copy[key]["pk"] == source[key]["pk"]
        assert copy[key]["comment"] == expected[key]["comment"]
        for col, *_, comment in copy[key]["columns"]:
            assert comment == expected[key]["columns"][col], (key, col)
            assert comment, f"{key}.{col} has no comment after step 1"
        # existing comments are kept as they were
        if source[key]["comment"]:
            assert copy[key]["comment"] == source[key]["comment"]
        for col, *_, comment in source[key]["columns"]:
            if comment:
                assert expected[key]["columns"][col] == comment
    # enum types come back with their labels in order
    conn = psycopg2.connect(empty)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum"
            " WHERE enumtypid = 'vehicle_type'::regtype"
        )
        assert cur.fetchone()[0] == ["passenger_car", "bus", "truck", "dangerous_goods"]
    conn.close()


def test_demo_detail_lists_every_column_with_type_comment_and_enum_values(demo_run):
    task_dir, _ = demo_run
    meta = SchemaMetadata.load(task_dir)
    assert {t.name for t in meta.tables} == set(DEMO_TABLES)
    for table in meta.tables:
        text = (task_dir / f"{table.name}_detail.md").read_text(encoding="utf-8")
        assert text.startswith(f"# public.{table.name}")
        assert "## Columns" in text and "## Relationships" in text
        for col in table.columns:
            line = next(
                (ln for ln in text.splitlines() if ln.startswith(f"- **{col.name}** (")), None
            )
            assert line is not None, f"{table.name}.{col.name} missing from _detail.md"
            assert col.data_type in line
            assert col.comment and col.comment in line
            if col.enum_values:
                assert all(str(v) in line for v in col.enum_values), line
    flow = meta.table("public", "vehicle_flow")
    assert flow.column("vehicle_type").enum_source == "enum_type"
    revenue = meta.table("public", "daily_revenue")
    pay = revenue.column("payment_method")
    assert pay.enum_source == "low_cardinality"
    assert set(pay.enum_values) == {"wechat", "alipay", "cash", "bank_card"}
    # keys are never enum-like, nor are free-text names
    assert meta.table("public", "service_area").column("area_code").enum_values is None
    assert meta.table("public", "employee").column("full_name").enum_values is None
    text = (task_dir / "service_area_detail.md").read_text(encoding="utf-8")
    assert "operating, renovating, closed" in text
    assert "FK → public.operating_company.company_id" in text
    assert "(self-reference)" in text
    # the demo's composite FK
    contract = meta.table("public", "stall_contract")
    assert contract.foreign_keys[0].columns == ["area_id", "stall_no"]


# --- schemas built by the test --------------------------------------------------------------

WIDE_COLUMNS = ",\n".join(
    f"c{i:03d} {['text', 'integer', 'numeric(10,2)', 'date', 'boolean'][i % 5]}"
    for i in range(1, 200)
)

BUILT_SCHEMA = f"""
CREATE SCHEMA sales;
CREATE SCHEMA "Mixed Schema";
CREATE TYPE sales.order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
COMMENT ON TYPE sales.order_status IS 'Order lifecycle / 订单状态';
CREATE DOMAIN positive_amount AS numeric(12,2) CHECK (VALUE >= 0);

CREATE TABLE sales.customers (
    customer_id serial PRIMARY KEY,
    customer_name text NOT NULL,
    region text NOT NULL,
    referred_by integer REFERENCES sales.customers (customer_id),
    email text UNIQUE
);
COMMENT ON TABLE sales.customers IS 'Customers (客户) of the shop';
COMMENT ON COLUMN sales.customers.customer_name IS 'O''Brien''s "full" name \\ 客户名称';
INSERT INTO sales.customers (customer_name, region, email)
SELECT 'Customer ' || g, (ARRAY['north', 'south', 'east'])[g % 3 + 1], 'c' || g || '@example.com'
FROM generate_series(1, 60) g;
UPDATE sales.customers SET referred_by = customer_id - 1 WHERE customer_id > 1;

CREATE TABLE sales.orders (
    order_no integer NOT NULL,
    region_code char(2) NOT NULL,
    customer_id integer NOT NULL REFERENCES sales.customers,
    status sales.order_status NOT NULL DEFAULT 'new',
    amount positive_amount,
    amount_with_tax numeric GENERATED ALWAYS AS (amount * 1.1) STORED,
    ordered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_no, region_code)
);
INSERT INTO sales.orders (order_no, region_code, customer_id, status, amount)
SELECT g, (ARRAY['NA', 'EU'])[g % 2 + 1], g % 60 + 1,
       (ARRAY['new', 'paid', 'shipped'])[g % 3 + 1]::sales.order_status, g * 1.5
FROM generate_series(1, 400) g;

CREATE TABLE "Mixed Schema"."Order Items" (
    "ItemId" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "OrderNo" integer NOT NULL,
    "RegionCode" char(2) NOT NULL,
    "Qty" integer NOT NULL CHECK ("Qty" > 0),
    "select" text,
    FOREIGN KEY ("OrderNo", "RegionCode") REFERENCES sales.orders (order_no, region_code)
);
CREATE UNIQUE INDEX order_items_natural ON "Mixed Schema"."Order Items" ("OrderNo", "RegionCode", "select");
COMMENT ON TABLE "Mixed Schema"."Order Items" IS '订单明细';
COMMENT ON COLUMN "Mixed Schema"."Order Items"."Qty" IS 'Quantity; it''s > 0';
INSERT INTO "Mixed Schema"."Order Items" ("OrderNo", "RegionCode", "Qty", "select")
SELECT o.order_no, o.region_code, o.order_no % 5 + 1, 'line ' || o.order_no FROM sales.orders o;

CREATE TABLE public."CamelTable" (id integer PRIMARY KEY, "Value" text);
CREATE TABLE public.empty_table (id integer PRIMARY KEY, label text, kind text);
CREATE TABLE public.no_stats (id integer, kind text) WITH (autovacuum_enabled = false);
INSERT INTO public.no_stats SELECT g, (ARRAY['a', 'b', 'c'])[g % 3 + 1] FROM generate_series(1, 500) g;
CREATE TABLE public.wide (id integer PRIMARY KEY,
{WIDE_COLUMNS});
INSERT INTO public.wide (id, c005, c001) SELECT g, 'v' || g, g FROM generate_series(1, 10) g;
CREATE TABLE public.big (
    id bigint PRIMARY KEY,
    status text NOT NULL,
    amount numeric(10,2),
    created_on date
) WITH (autovacuum_enabled = false);
INSERT INTO public.big
SELECT g, (ARRAY['open', 'closed', 'pending'])[g % 3 + 1], (g % 1000) / 10.0, date '2024-01-01' + g % 365
FROM generate_series(1, 250000) g;
CREATE TABLE public.metadata (k text PRIMARY KEY, v text);
CREATE VIEW public.paid_orders AS
    SELECT order_no, region_code, amount FROM sales.orders WHERE status = 'paid';
CREATE TABLE public.events (
    id integer, happened_on date NOT NULL, kind text, PRIMARY KEY (id, happened_on)
) PARTITION BY RANGE (happened_on);
CREATE TABLE public.events_2024 PARTITION OF public.events
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.events_2025 PARTITION OF public.events
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO public.events SELECT g, date '2024-01-01' + g % 700, 'k' || (g % 4) FROM generate_series(1, 2000) g;
"""

BUILT_LIST = """
# several schemas, quoted mixed-case names, special tables
sales.customers, sales.orders
"Mixed Schema"."Order Items"
cameltable          # matches "CamelTable" ignoring case
empty_table
no_stats
wide
big
metadata
paid_orders
events
missing_table
"""


@pytest.fixture(scope="module")
def built_dsn(pg_admin_dsn):
    dsn = new_database(pg_admin_dsn)
    _exec(dsn, BUILT_SCHEMA)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:  # statistics for all but no_stats
        for rel in ("sales.customers", "sales.orders", '"Mixed Schema"."Order Items"', "big"):
            cur.execute(f"ANALYZE {rel}")
        cur.execute("ANALYZE events")
    conn.close()
    return dsn


@pytest.fixture(scope="module")
def built_run(built_dsn, tmp_path_factory):
    task_dir = tmp_path_factory.mktemp("built_step1") / "manual_20250101_000000"
    tables = parse_table_list(BUILT_LIST)
    summary = step.run(_ctx(task_dir, built_dsn, tables, "An online shop's orders"))
    return task_dir, summary, tables


def test_built_schema_summary_and_files(built_run):
    task_dir, summary, tables = built_run
    assert summary["tables_total"] == len(tables) == 12
    assert summary["tables_succeeded"] == 11
    assert [f["table"] for f in summary["tables_failed"]] == ["public.missing_table"]
    assert "does not exist" in summary["tables_failed"][0]["error"]
    assert summary["catalog_queries"] == 5
    names = {p.name for p in task_dir.iterdir()}
    for stem in (
        "sales__customers", "sales__orders", "Mixed Schema__Order Items", "CamelTable",
        "empty_table", "no_stats", "wide", "big", "public__metadata", "paid_orders", "events",
    ):  # fmt: skip
        assert f"{stem}.ddl" in names and f"{stem}_detail.md" in names, stem
    assert "metadata_detail.md" not in names  # step 2's file name stays free
    assert any("CamelTable" in w for ws in summary["warnings"].values() for w in ws)


def test_built_metadata(built_run):
    task_dir, _, _ = built_run
    meta = SchemaMetadata.load(task_dir)
    t = {x.qualified_name: x for x in meta.tables}
    items = t["Mixed Schema.Order Items"]
    assert items.primary_key == ["ItemId"]
    assert items.foreign_keys[0].columns == ["OrderNo", "RegionCode"]
    assert items.foreign_keys[0].ref_columns == ["order_no", "region_code"]
    assert ["OrderNo", "RegionCode", "select"] in items.unique_constraints
    assert items.column("ItemId").default == "GENERATED ALWAYS AS IDENTITY"
    customers = t["sales.customers"]
    assert customers.foreign_keys[0].ref_table == "customers"  # self reference
    assert customers.column("region").enum_values == ["east", "north", "south"] or set(
        customers.column("region").enum_values
    ) == {"north", "south", "east"}
    assert customers.column("email").enum_values is None  # unique: a key, not a category
    orders = t["sales.orders"]
    assert orders.primary_key == ["order_no", "region_code"]
    assert orders.column("status").enum_values == ["new", "paid", "shipped", "cancelled"]
    assert orders.column("status").category == "enum"
    assert orders.column("amount").data_type == "numeric(12,2)"  # domain → base type
    assert orders.column("amount_with_tax").default.startswith("GENERATED ALWAYS AS")
    assert orders.column("ordered_at").category == "timestamp"
    assert t["public.empty_table"].row_count == 0 and t["public.empty_table"].row_count_exact
    assert t["public.empty_table"].sample_rows == []
    no_stats = t["public.no_stats"]
    assert (no_stats.row_count, no_stats.row_count_exact) == (500, True)
    assert set(no_stats.column("kind").enum_values) == {"a", "b", "c"}
    assert len(t["public.wide"].columns) == 200
    big = t["public.big"]
    assert not big.row_count_exact and abs(big.row_count - 250_000) < 25_000
    assert len(big.sample_rows) == 20
    assert len({r["id"] for r in big.sample_rows}) == 20
    assert set(big.column("status").enum_values) == {"open", "closed", "pending"}
    assert big.column("created_on").samples and big.column("amount").category == "numeric"
    json.dumps([r for x in meta.tables for r in x.sample_rows])  # JSON-safe
    assert t["public.paid_orders"].kind == "view"
    events = t["public.events"]
    assert events.kind == "partitioned table"
    assert (events.row_count, events.row_count_exact) == (2000, True)
    assert set(events.column("kind").enum_values) == {"k0", "k1", "k2", "k3"}
    assert t["public.CamelTable"].name == "CamelTable"


def test_built_ddl_recreates_every_table(built_run, built_dsn, pg_admin_dsn):
    task_dir, _, _ = built_run
    empty = new_database(pg_admin_dsn)
    paths = sorted(task_dir.glob("*.ddl"))
    rounds = apply_ddl_files(empty, paths)
    assert rounds >= 1
    meta = SchemaMetadata.load(task_dir)
    keys = [(x.schema, x.name) for x in meta.tables]
    source, copy = snapshot(built_dsn, keys), snapshot(empty, keys)
    expected = expected_from_metadata(meta)
    for key in keys:
        assert [c[:5] for c in copy[key]["columns"]] == [c[:5] for c in source[key]["columns"]]
        assert copy[key]["pk"] == source[key]["pk"], key
        assert copy[key]["comment"] == expected[key]["comment"]
        for col, *_, comment in copy[key]["columns"]:
            assert comment == expected[key]["columns"][col], (key, col)
    conn = psycopg2.connect(empty)
    with conn.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = 'public.events'::regclass")
        assert cur.fetchone()[0] == "p"
        cur.execute("SELECT col_description('sales.customers'::regclass, 2)")
        assert cur.fetchone()[0] == "O'Brien's \"full\" name \\ 客户名称"
        cur.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
            ' AND conrelid = \'"Mixed Schema"."Order Items"\'::regclass'
        )
        assert cur.fetchone()[0] == 1
    conn.close()
    # running all files again in the same order is stopped only by the existing tables,
    # never by the enum type blocks
    ddl = (task_dir / "sales__orders.ddl").read_text(encoding="utf-8")
    assert "EXCEPTION WHEN duplicate_object" in ddl
    assert "CREATE SCHEMA IF NOT EXISTS sales;" in ddl


def test_built_detail_markdown(built_run):
    task_dir, _, _ = built_run
    text = (task_dir / "Mixed Schema__Order Items_detail.md").read_text(encoding="utf-8")
    assert text.startswith("# Mixed Schema.Order Items (订单明细)")
    assert "- **Qty** (integer, not null): Quantity; it's > 0" in text
    assert "FK → sales.orders.order_no" in text
    big = (task_dir / "big_detail.md").read_text(encoding="utf-8")
    assert "planner estimate" in big
    assert "Values seen: " in big
    wide = (task_dir / "wide_detail.md").read_text(encoding="utf-8")
    assert sum(1 for ln in wide.splitlines() if ln.startswith("- **")) == 200


# --- query counts, read-only session, failures -----------------------------------------------


@pytest.fixture(scope="module")
def fifty_tables_dsn(pg_admin_dsn):
    dsn = new_database(pg_admin_dsn)
    parts = []
    for i in range(50):
        ref = f", parent_id integer REFERENCES t{i - 1:02d} (id)" if i else ""
        parts.append(
            f"CREATE TABLE t{i:02d} (id integer PRIMARY KEY, kind text, val numeric{ref});"
            f"INSERT INTO t{i:02d} (id, kind, val) SELECT g, 'k' || (g % 2), g FROM generate_series(1, 8) g;"
        )
    _exec(dsn, "\n".join(parts) + "\nANALYZE;")
    return dsn


def test_catalog_query_count_is_constant(fifty_tables_dsn):
    counts = {}
    for n in (5, 50):
        reader = MetadataReader(fifty_tables_dsn, parallel=1)
        meta, errors = reader.read([f"t{i:02d}" for i in range(n)])
        assert not errors and len(meta.tables) == n
        assert all(t.row_count == 8 and t.row_count_exact for t in meta.tables)
        assert all(t.column("kind").enum_values == ["k0", "k1"] for t in meta.tables)
        counts[n] = (reader.catalog_queries, reader.statements)
    assert counts[5][0] == counts[50][0] == 5
    # 3 session settings + 5 catalog queries, then one statement per batch of analysed
    # tables: one connection gets two batches (ceil(n / 2) tables each) whatever n is
    assert counts[5][1] == 8 + 2 and counts[50][1] == 8 + 2
    assert "information_schema" not in re.sub(r"--.*", "", catalog_query("relations"))


def test_parallel_reading_gives_the_same_metadata(fifty_tables_dsn):
    tables = [f"t{i:02d}" for i in range(50)]
    one, _ = MetadataReader(fifty_tables_dsn, parallel=1).read(tables)
    four = MetadataReader(fifty_tables_dsn, parallel=4)
    many, _ = four.read(tables)
    assert many == one
    # 3 session settings per connection, 5 catalog queries, then one statement per batch:
    # two batches per connection at least, so ceil(50 / (2 * 4)) = 7 tables per batch, and
    # 50 tables make 8 batches (7 * 7 + 1). The count does not grow with the tables.
    assert four.statements == 4 * 3 + 5 + 8


def test_reader_session_is_read_only_with_timeouts(fifty_tables_dsn):
    conn = MetadataReader(fifty_tables_dsn, statement_timeout_ms=4321).connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW transaction_read_only")
            assert cur.fetchone()["transaction_read_only"] == "on"
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone()["statement_timeout"] == "4321ms"
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute("CREATE TABLE should_not_exist (a int)")
        conn.rollback()
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("DELETE FROM t00")
    finally:
        conn.close()


# --- batches: a statement per batch of tables ----------------------------------------------

BATCH_TABLES = 24
SLOW_ROW_SECONDS = 0.05  # per row of the slow table: 5 s for its 100 rows


@pytest.fixture(scope="module")
def batch_source(pg_admin_dsn) -> str:
    """Tables b00…b23 (100 rows each, analysed), read as a role that is not a superuser, so
    that row-level security applies: b07's policy fails (division by zero) and b13's sleeps
    on every row. Returns the role's DSN."""
    dsn = new_database(pg_admin_dsn)
    parts = [
        f"CREATE TABLE b{i:02d} (id integer PRIMARY KEY, kind text, val numeric, note text);"
        f"INSERT INTO b{i:02d} SELECT g, 'k' || (g % 3), g * 1.5, 'row ' || g"
        " FROM generate_series(1, 100) g;"
        for i in range(BATCH_TABLES)
    ]
    role = f"r_{psycopg2.extensions.parse_dsn(dsn)['dbname'][-10:]}"
    _exec(
        dsn,
        "\n".join(parts)
        + f"""
        ALTER TABLE b07 ENABLE ROW LEVEL SECURITY;
        CREATE POLICY broken ON b07 USING (val / (id - id) > 0);
        ALTER TABLE b13 ENABLE ROW LEVEL SECURITY;
        CREATE POLICY slow ON b13 USING (pg_sleep({SLOW_ROW_SECONDS}) IS NOT NULL);
        CREATE ROLE {role} LOGIN;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};
        ANALYZE;
        """,
    )
    return psycopg2.extensions.make_dsn(dsn, user=role)


def _has_data(table, rows: int = 100) -> bool:
    return (
        (table.row_count, table.row_count_exact) == (rows, True)
        and len(table.sample_rows) == 20
        and set(table.column("kind").enum_values) == {"k0", "k1", "k2"}
    )


def test_a_failing_table_fails_alone_in_its_batch(batch_source):
    tables = [f"b{i:02d}" for i in range(12)]
    reader = MetadataReader(batch_source, parallel=1)
    meta, errors = reader.read(tables)
    assert not errors and [t.name for t in meta.tables] == tables  # its catalog facts stay
    assert set(reader.warnings) == {"public.b07"}  # no warning for its batch neighbours
    assert reader.warnings["public.b07"][0] == "data skipped: division by zero"
    assert all("division by zero" in w for w in reader.warnings["public.b07"])
    broken = meta.tables[7]
    assert broken.row_count is None and broken.sample_rows == []
    assert all(_has_data(t) for t in meta.tables if t.name != "b07")
    # 3 settings + 5 catalog queries + 2 batches of 6 tables; the batch of b06…b11 failed, so
    # its 6 tables were read again one by one (a statement each), and b07's three parts
    # (count, sample, enum-like check) were each tried alone.
    assert reader.statements == 8 + 2 + 6 + 3


@pytest.mark.slow  # waits out statement timeouts
def test_batches_respect_the_statement_timeout(batch_source):
    tables = [f"b{i:02d}" for i in range(12, 24)]
    reader = MetadataReader(batch_source, statement_timeout_ms=500, parallel=1)
    started = time.monotonic()
    meta, errors = reader.read(tables)
    elapsed = time.monotonic() - started
    # Unbounded, b13's batch would take 5 s or more. Bounded: its batch is cancelled after
    # 0.5 s, then b13's own statement and its three parts after 0.5 s each.
    assert elapsed < 4.5, elapsed
    assert not errors and set(reader.warnings) == {"public.b13"}
    assert len(reader.warnings["public.b13"]) == 4
    assert all("statement timeout" in w for w in reader.warnings["public.b13"])
    assert all(_has_data(t) for t in meta.tables if t.name != "b13")


@pytest.mark.slow  # waits out a slow source
def test_progress_and_cancellation_between_batches(batch_source):
    """Progress comes per batch; a cancellation seen after the first batch stops the reading
    once the batch in flight (the slow b13's, 2.5 s) ends: the third batch is never read."""
    tables = [f"b{i:02d}" for i in (14, 15, 16, 17, 13, 18, 19, 20, 21, 22, 23, 12)]
    seen: list[tuple[int, int]] = []
    reader = MetadataReader(
        batch_source,
        statement_timeout_ms=500,
        parallel=1,
        batch_size=4,
        progress=lambda done, total: seen.append((done, total)),
        is_cancelled=lambda: any(done for done, _ in seen),
    )
    with pytest.raises(Cancelled):
        reader.read(tables)
    assert seen == [(0, 12), (4, 12)]


def test_samples_are_the_same_run_after_run_batched_or_not(built_dsn):
    """Repeatable samples (TABLESAMPLE with a seed on the big table, row ids in md5 order)
    whether the tables are read in batches or one statement per table."""
    tables = parse_table_list(BUILT_LIST)

    def facts(reader: MetadataReader) -> dict:
        meta, _ = reader.read(tables)
        return {
            t.qualified_name: (
                t.row_count,
                t.row_count_exact,
                t.sample_rows,
                [(c.name, c.samples, c.enum_values) for c in t.columns],
            )
            for t in meta.tables
        }

    first = facts(MetadataReader(built_dsn))
    assert facts(MetadataReader(built_dsn)) == first
    assert facts(MetadataReader(built_dsn, batch_size=1)) == first
    assert len(first["public.big"][2]) == 20 and not first["public.big"][1]  # sampled
    assert len(first["sales.orders"][2]) == 20


def test_errors_cancel_and_unreachable_source(fifty_tables_dsn, tmp_path):
    meta, errors = read_schema_metadata(
        fifty_tables_dsn, ["t01", "nope", "pg_catalog.pg_class", "t02"], sample_rows=3
    )
    assert [t.name for t in meta.tables] == ["t01", "t02"]
    assert set(errors) == {"nope", "pg_catalog.pg_class"}
    assert all(len(t.sample_rows) == 3 for t in meta.tables)
    with pytest.raises(StepFailed, match="no tables listed"):
        step.run(_ctx(tmp_path / "a", fifty_tables_dsn, [], "ctx"))
    with pytest.raises(StepFailed, match="no table could be documented"):
        step.run(_ctx(tmp_path / "b", fifty_tables_dsn, ["public.nope"], "ctx"))
    with pytest.raises(Cancelled):
        step.run(_ctx(tmp_path / "c", fifty_tables_dsn, ["t01"], "ctx", is_cancelled=lambda: True))
    bad = fifty_tables_dsn.replace("host=", "host=/nonexistent/")
    with pytest.raises(SourceUnavailable) as info:
        step.run(_ctx(tmp_path / "d", bad + "&password=s3cret", ["t01"], "ctx"))
    assert "s3cret" not in info.value.message


def test_progress_moves_forward_to_done(fifty_tables_dsn, tmp_path):
    seen: list[float] = []
    ctx = _ctx(
        tmp_path / "p",
        fifty_tables_dsn,
        [f"t{i:02d}" for i in range(10)],
        "ctx",
        report_progress=lambda fraction, note=None: seen.append(fraction),
    )
    step.run(ctx)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 10


def test_split_qualified_agrees_with_reader_names(built_run):
    _, _, tables = built_run
    assert split_qualified(tables[2]) == ("Mixed Schema", "Order Items")


def test_comments_from_an_openai_compatible_model(fifty_tables_dsn, tmp_path, fake_openai):
    """Through the real openai client: invented columns are dropped, existing comments kept,
    and a table whose request fails is still documented (without generated comments)."""

    def answer(request):
        prompt = request.prompt
        if "TABLE public.t02" in prompt:
            return error(500, "model overloaded")
        if "TABLE public.t01" in prompt:
            return '```json\n{"table_comment": "第一张表", "columns": {"kind": "类型", "val": "数值"}}\n```'
        return json.dumps(
            {
                "table_comment": "根表",
                "columns": {"kind": "种类", "ghost_column": "不存在的列", "KIND": "重复"},
            },
            ensure_ascii=False,
        )

    fake_openai.handler = answer
    _exec(fifty_tables_dsn, "COMMENT ON COLUMN t00.val IS '已有注释'")
    try:
        task_dir = tmp_path / "llm"
        ctx = _ctx(task_dir, fifty_tables_dsn, ["t00", "t01", "t02"], "服务区经营")
        ctx.config = Config(
            llm_base_url=fake_openai.base_url,
            llm_api_key="sk-test-key",
            llm_max_retries=0,
            llm_timeout_seconds=5,
        )
        ctx.llm = get_llm(ctx.config)
        summary = step.run(ctx)
    finally:
        _exec(fifty_tables_dsn, "COMMENT ON COLUMN t00.val IS NULL")
    assert summary["tables_succeeded"] == 3
    assert summary["comments_generated"]["failed_tables"] == 1
    assert len(fake_openai.chat_requests) == 3
    t00 = (task_dir / "t00.ddl").read_text(encoding="utf-8")
    assert "COMMENT ON TABLE t00 IS '根表';" in t00
    assert "COMMENT ON COLUMN t00.kind IS '种类';" in t00
    assert "COMMENT ON COLUMN t00.val IS '已有注释';" in t00  # kept, not replaced
    assert "ghost_column" not in t00 and "不存在的列" not in t00
    t01 = (task_dir / "t01_detail.md").read_text(encoding="utf-8")
    assert t01.startswith("# public.t01 (第一张表)")
    assert "- **val** (numeric, nullable): 数值" in t01
    t02 = (task_dir / "t02.ddl").read_text(encoding="utf-8")
    assert "-- comment generated" not in t02 and "CREATE TABLE t02" in t02
