"""Step 1's pure parts: sample values as JSON, DDL/Markdown rendering, file stems, comments."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

from data_pipeline.ddl_generation.catalog import RelationInfo, category_of, resolve
from data_pipeline.ddl_generation.ddl_render import (
    column_definition,
    enum_type_block,
    literal,
    quote_ident,
    render_ddl,
)
from data_pipeline.ddl_generation.detail_render import render_detail
from data_pipeline.ddl_generation.sampling import MAX_TEXT_CHARS, enum_candidates, json_safe
from data_pipeline.ddl_generation.step import apply_comments
from data_pipeline.ddl_generation.writers import file_stems, safe_stem
from data_pipeline.llm.base import TableComments
from data_pipeline.schema.model import ColumnMeta, ForeignKey, TableMeta


def test_json_safe_values():
    values = [
        dt.date(2024, 5, 1),
        dt.datetime(2024, 5, 1, 8, 30),
        decimal.Decimal("12.30"),
        decimal.Decimal("12345678901234567890.123"),
        decimal.Decimal("NaN"),
        float("inf"),
        b"\x00binary",
        memoryview(b"x"),
        uuid.UUID(int=1),
        dt.timedelta(hours=2),
        "长" * (MAX_TEXT_CHARS + 50),
        [decimal.Decimal("1.5"), dt.date(2024, 1, 1)],
        True,
        None,
    ]
    out = [json_safe(v) for v in values]
    assert out[0] == "2024-05-01" and out[1] == "2024-05-01T08:30:00"
    assert out[2] == 12.3
    assert out[3] == "12345678901234567890.123"  # a float would lose digits
    assert out[4] == "NaN" and out[5] == "inf"
    assert out[6] is None and out[7] is None
    assert out[8] == "00000000-0000-0000-0000-000000000001"
    assert out[9] == "2:00:00"
    assert len(out[10]) == MAX_TEXT_CHARS + 1 and out[10].endswith("…")
    assert out[11] == [1.5, "2024-01-01"]
    assert out[12] is True and out[13] is None
    json.dumps(out)


def test_quoting_and_literals():
    assert quote_ident("orders") == "orders"
    assert quote_ident("Orders") == '"Orders"'
    assert quote_ident("user") == '"user"'
    assert quote_ident("order items") == '"order items"'
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_ident("订单") == '"订单"'
    assert literal("O'Brien \\ 名") == "'O''Brien \\ 名'"
    block = enum_type_block("s.t", ["a", "it's", "$ddl$"])
    assert "$ddl1$" in block and "'it''s'" in block
    assert block.startswith("DO $ddl1$ BEGIN")


def test_column_definitions():
    serial = ColumnMeta("id", "integer", False, "nextval('t_id_seq'::regclass)")
    assert column_definition(serial) == "id serial NOT NULL"
    big = ColumnMeta("id", "bigint", False, "nextval('t_id_seq'::regclass)")
    assert column_definition(big) == "id bigserial NOT NULL"
    odd = ColumnMeta("n", "numeric", True, "nextval('other_seq'::regclass)")
    assert column_definition(odd) == "n numeric"
    ident = ColumnMeta("Id", "bigint", False, "GENERATED ALWAYS AS IDENTITY")
    assert column_definition(ident) == '"Id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL'
    plain = ColumnMeta("status", "text", True, "'new'::text")
    assert column_definition(plain) == "status text DEFAULT 'new'::text"


def _table() -> TableMeta:
    return TableMeta(
        schema="shop",
        name="Order Lines",
        comment="订单行 'lines'",
        columns=[
            ColumnMeta("id", "integer", False, is_primary_key=True, is_unique=True, comment="ID"),
            ColumnMeta("order_id", "integer", False, comment=None),
            ColumnMeta("kind", "shop.kind", True, enum_values=["a", "b"], enum_source="enum_type"),
            ColumnMeta("note", "text", True, samples=["x", True], comment="备注"),
        ],
        primary_key=["id"],
        foreign_keys=[ForeignKey("fk1", ["order_id"], "shop", "orders", ["id"])],
        row_count=12,
        row_count_exact=True,
    )


def test_render_ddl_foreign_keys_outside_the_run_become_comments():
    table = _table()
    inside = render_ddl(table, db_name="db", known_tables={("shop", "orders")})
    assert 'REFERENCES shop.orders ("id")' not in inside  # plain ids stay bare
    assert "CONSTRAINT fk1 FOREIGN KEY (order_id) REFERENCES shop.orders (id)" in inside
    outside = render_ddl(table, db_name="db", known_tables=set())
    assert "\n-- not created (table not in this run): CONSTRAINT fk1" in outside
    assert 'CREATE TABLE shop."Order Lines" (' in outside
    assert "CREATE SCHEMA IF NOT EXISTS shop;" in outside
    assert "CREATE TYPE shop.kind AS ENUM ('a', 'b');" in outside
    assert "COMMENT ON TABLE shop.\"Order Lines\" IS '订单行 ''lines''';" in outside


def test_render_ddl_marks_generated_comments():
    table = _table()
    apply_comments(table, TableComments(None, {"order_id": "订单ID", "ghost": "不存在"}))
    assert table.column("order_id").comment_generated
    ddl = render_ddl(table, db_name="db")
    lines = ddl.splitlines()
    i = lines.index("COMMENT ON COLUMN shop.\"Order Lines\".order_id IS '订单ID';")
    assert lines[i - 1] == "-- comment generated"
    assert "ghost" not in ddl and "不存在" not in ddl


def test_apply_comments_keeps_existing_and_matches_case():
    table = _table()
    stats = {"tables": 0, "columns": 0, "dropped": 0}
    answer = TableComments(
        "new table comment", {"ID": "changed", "Order_ID": "订单", "nope": "x", "note": "y"}
    )
    apply_comments(table, answer, stats)
    assert table.comment == "订单行 'lines'" and not table.comment_generated
    assert table.column("id").comment == "ID"
    assert table.column("order_id").comment == "订单"
    assert table.column("note").comment == "备注"
    assert stats == {"tables": 0, "columns": 1, "dropped": 1}


def test_render_detail():
    text = render_detail(_table(), db_name="db")
    assert text.startswith("# shop.Order Lines (订单行 'lines')\n")
    assert "- **kind** (shop.kind, nullable): (no comment). Values: a, b" in text
    assert "- **note** (text, nullable): 备注. Samples: x, true" in text
    assert "- **order_id** (integer, FK → shop.orders.id, not null)" in text
    assert "- Rows: 12 (exact)" in text
    assert "shop.Order Lines (order_id) → shop.orders (id), constraint fk1" in text


def test_file_stems_are_safe_and_unique():
    tables = [
        TableMeta("public", "metadata"),
        TableMeta("public", "a/b"),
        TableMeta("public", "A/B"),
        TableMeta("s", ".hidden"),
        TableMeta("public", "Orders"),
        TableMeta("public", "orders"),
    ]
    stems = file_stems(tables)
    assert stems["public.metadata"] == "public__metadata"
    assert stems["public.a/b"] == "a_b" and stems["public.A/B"] == "A_B_2"
    assert stems["s..hidden"] == "s__.hidden"
    assert stems["public.Orders"] == "Orders" and stems["public.orders"] == "orders_2"
    assert safe_stem(TableMeta("public", ".x")) == "_x"


def test_categories_and_estimates():
    assert category_of("int8", "N", "b") == "integer"
    assert category_of("numeric", "N", "b") == "numeric"
    assert category_of("timestamptz", "D", "b") == "timestamp"
    assert category_of("date", "D", "b") == "date"
    assert category_of("bpchar", "S", "b") == "text"
    assert category_of("jsonb", "U", "b") == "json"
    assert category_of("status", "E", "e") == "enum"
    assert category_of("uuid", "U", "b") == "other"
    assert RelationInfo(1, -1, 0, 8192, 8192).estimated_rows() is None
    assert RelationInfo(1, 0, 0, 0, 8192).estimated_rows() is None
    # scaled to the current size like the planner does: twice the pages, twice the rows
    assert RelationInfo(1, 1000, 10, 20 * 8192, 8192).estimated_rows() == 2000


def test_enum_candidates_skip_keys_names_and_high_cardinality():
    table = TableMeta(
        "public",
        "t",
        columns=[
            ColumnMeta("id", "text", category="text"),
            ColumnMeta("status", "text", category="text"),
            ColumnMeta("customer_name", "text", category="text"),
            ColumnMeta("ref_code", "text", category="text"),
            ColumnMeta("city", "text", category="text"),
            ColumnMeta("amount", "numeric", category="numeric"),
            ColumnMeta("customerId", "text", category="text"),
        ],
        primary_key=["id"],
        foreign_keys=[ForeignKey("f", ["ref_code"], "public", "r", ["code"])],
    )
    stats = {"city": {"avg_width": 8, "n_distinct": -0.9, "most_common_vals": None}}
    names = [c.name for c in enum_candidates(table, stats, 10_000, 20)]
    assert names == ["status"]


def test_resolve_prefers_exact_then_unique_case_insensitive():
    rows = [
        {"ord": 1, "oid": 1, "schema_name": "public", "table_name": "Orders", "can_select": True},
        {"ord": 1, "oid": 2, "schema_name": "public", "table_name": "orders", "can_select": True},
        {"ord": 2, "oid": 3, "schema_name": "public", "table_name": "Camel", "can_select": True},
        {"ord": 3, "oid": 4, "schema_name": "public", "table_name": "X", "can_select": True},
        {"ord": 3, "oid": 5, "schema_name": "public", "table_name": "x ", "can_select": True},
        {"ord": 4, "oid": 6, "schema_name": "public", "table_name": "secret", "can_select": False},
    ]
    listed = [
        ("public.orders", "public", "orders"),
        ("public.camel", "public", "camel"),
        ("public.x", "public", "x"),
        ("public.secret", "public", "secret"),
        ("public.none", "public", "none"),
    ]
    chosen, errors, notes = resolve(listed, rows)
    assert chosen["public.orders"]["oid"] == 2
    assert chosen["public.camel"]["oid"] == 3 and "Camel" in notes["public.camel"]
    assert "ambiguous" in errors["public.x"]
    assert "privilege" in errors["public.secret"]
    assert "does not exist" in errors["public.none"]
