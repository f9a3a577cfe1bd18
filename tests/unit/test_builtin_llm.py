"""The built-in rule-based provider on schemas built in memory (no database needed here; the
integration tests run its SQL against real databases)."""

from __future__ import annotations

import pytest

from data_pipeline.llm.base import Theme
from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.llm.json_extract import JSONExtractError, extract_json
from data_pipeline.llm.rules.repair import parse_ddl
from data_pipeline.llm.rules.sqlgen import literal, quote_ident
from data_pipeline.llm.rules.words import has_cjk, phrase, split_identifier
from data_pipeline.schema.dedupe import Deduplicator, question_key, template_key
from data_pipeline.schema.model import ColumnMeta, ForeignKey, SchemaMetadata, TableMeta
from data_pipeline.schema.sql_checks import check_names, parse_single_select, referenced_tables

ZH = "电商平台订单与客户数据"
EN = "Online shop orders and customers"


def col(name, data_type, category, **kw) -> ColumnMeta:
    return ColumnMeta(name, data_type, category=category, **kw)


def shop_schema() -> SchemaMetadata:
    """Mixed-case names, a reserved word, another schema, an enum, FKs, an empty table."""
    customer_rows = [
        {"CustomerId": i, "FullName": f"Customer {i}", "city": c, "createdAt": f"2024-0{i}-01"}
        for i, c in ((1, "北京"), (2, "上海"), (3, "O'Fallon"))
    ]
    customer = TableMeta(
        "sales",
        "Customer",
        columns=[
            col("CustomerId", "integer", "integer", is_primary_key=True, nullable=False),
            col("FullName", "text", "text", samples=["Customer 1", "Customer 2"]),
            col("city", "text", "text", samples=["北京", "上海", "O'Fallon"]),
            col("createdAt", "timestamp with time zone", "timestamp", samples=["2024-01-01"]),
        ],
        primary_key=["CustomerId"],
        row_count=300,
        sample_rows=customer_rows,
    )
    order_rows = [
        {"id": i, "CustomerId": 1, "state": s, "Total": t, "ordered_on": "2024-02-0" + str(i)}
        for i, s, t in ((1, "paid", 12.5), (2, "new", 80.0), (3, "paid", 7.25))
    ]
    order = TableMeta(
        "sales",
        "order",
        comment="订单",
        columns=[
            col("id", "bigint", "integer", is_primary_key=True, nullable=False),
            col("CustomerId", "integer", "integer"),
            col(
                "state",
                "sales.order_state",
                "enum",
                enum_values=["new", "paid", "shipped"],
                enum_source="enum_type",
                samples=["paid", "new"],
            ),
            col("Total", "numeric(12,2)", "numeric", samples=[12.5, 80.0, 7.25]),
            col("ordered_on", "date", "date", samples=["2024-02-01", "2024-02-02"]),
        ],
        primary_key=["id"],
        foreign_keys=[ForeignKey("fk_c", ["CustomerId"], "sales", "Customer", ["CustomerId"])],
        row_count=3000,
        sample_rows=order_rows,
    )
    user = TableMeta(
        "public",
        "user",
        columns=[
            col("group", "text", "text", samples=["a", "b"]),
            col("select", "integer", "integer", samples=[1, 2, 3]),
        ],
        row_count=50,
        sample_rows=[{"group": "a", "select": 1}, {"group": "b", "select": 2}],
    )
    empty = TableMeta(
        "public",
        "empty_log",
        columns=[
            col("id", "integer", "integer", is_primary_key=True),
            col("amount", "numeric", "numeric"),
            col("message", "text", "text"),
        ],
        primary_key=["id"],
        row_count=0,
    )
    return SchemaMetadata("shop", [customer, order, user, empty])


def assert_valid(pairs, schema):
    for pair in pairs:
        expression = parse_single_select(pair.sql)
        assert check_names(expression, schema) == [], pair.sql


# -- words and comments ---------------------------------------------------------------------


def test_identifiers_are_split_and_translated():
    assert split_identifier("orderCount_2024") == ["order", "count", "2024"]
    assert split_identifier("HTTPServerName") == ["http", "server", "name"]
    assert phrase("created_at", "zh") == "创建时间"
    assert phrase("company_id", "zh") == "公司ID"
    assert phrase("company_id", "en") == "Company ID"
    assert phrase("is_active", "zh") == "是否有效"
    assert phrase("FullName", "zh") == "姓名"
    assert phrase("zzq_frob", "zh") == "zzq frob"  # unknown words are kept, not invented


def test_comment_table_in_chinese_uses_keys_enums_and_samples():
    schema = shop_schema()
    order = schema.table("sales", "order")
    order.columns.append(col("buyer_contact", "text", "text", samples=["a@b.cn", "x@y.com"]))
    order.columns.append(col("referrer_id", "integer", "integer"))
    order.foreign_keys.append(
        ForeignKey("fk_r", ["referrer_id"], "sales", "Customer", ["CustomerId"])
    )
    comments = BuiltinLLM().comment_table(order, ZH)
    assert comments.table_comment is None  # the table has one already
    cols = comments.column_comments
    assert cols["CustomerId"] == "客户ID"  # a key named after the table it points to
    assert cols["referrer_id"] == "referrer ID，关联客户"
    assert cols["id"] == "编号，主键"
    assert "取值：new、paid、shipped" in cols["state"]
    assert cols["ordered_on"] == "下单日期"
    assert set(cols) == {c.name for c in order.columns}  # every column lacked a comment
    assert all(has_cjk(text) for text in cols.values())


def test_comment_table_in_english_and_only_for_missing_comments():
    customer = shop_schema().table("sales", "Customer")
    customer.columns[1].comment = "客户全名"
    comments = BuiltinLLM().comment_table(customer, EN)
    assert comments.table_comment == "Customer (records)"
    assert "FullName" not in comments.column_comments
    assert comments.column_comments["createdAt"] == "Creation time"
    assert comments.column_comments["CustomerId"] == "Customer ID; primary key"
    assert not any(has_cjk(v) for v in comments.column_comments.values())


def test_email_like_samples_name_an_unknown_column():
    table = TableMeta("public", "t", columns=[col("xq7", "text", "text", samples=["a@b.cn"])])
    assert BuiltinLLM().comment_table(table, ZH).column_comments["xq7"].startswith("邮箱地址")


# -- SQL pieces ------------------------------------------------------------------------------


def test_identifiers_and_literals_are_quoted_safely():
    assert quote_ident("orders") == "orders"
    assert quote_ident("Orders") == '"Orders"'
    assert quote_ident("select") == '"select"'
    assert quote_ident('we"ird') == '"we""ird"'
    assert literal("O'Fallon") == "'O''Fallon'"
    assert literal(12.5) == "12.5" and literal(True) == "TRUE" and literal(None) is None
    assert literal("x" * 500) is None and literal({"a": 1}) is None


# -- themes and pairs ------------------------------------------------------------------------


def test_themes_cover_every_table_in_the_context_language():
    schema = shop_schema()
    themes = BuiltinLLM().extract_themes(schema, ZH, 5, "")
    assert len(themes) == 5  # more themes than tables: later ones revisit tables
    covered = {name for theme in themes for name in theme.tables}
    assert covered == {t.qualified_name for t in schema.tables}
    assert len({t.name for t in themes}) == 5
    assert all(has_cjk(t.name) and has_cjk(t.description) for t in themes)
    english = BuiltinLLM().extract_themes(schema, EN, 2, "")
    assert len(english) == 2 and not any(has_cjk(t.name) for t in english)
    assert BuiltinLLM().extract_themes(SchemaMetadata("x", []), ZH, 5, "") == []


def test_pairs_are_valid_quoted_deterministic_and_distinct():
    schema = shop_schema()
    llm = BuiltinLLM()
    theme = llm.extract_themes(schema, ZH, 1, "")[0]
    pairs = llm.generate_pairs(theme, schema, ZH, 12, "")
    assert len(pairs) == 12
    assert_valid(pairs, schema)
    assert pairs == llm.generate_pairs(theme, schema, ZH, 12, "")  # deterministic
    # asking for more gives the same first pairs, then new ones (step 2 tops up with it)
    assert llm.generate_pairs(theme, schema, ZH, 20, "")[:12] == pairs
    seen = Deduplicator()
    assert all(seen.add(p.question, p.sql) is None for p in pairs)
    assert all(has_cjk(p.question) for p in pairs)
    sqls = " ".join(p.sql for p in pairs)
    assert 'sales."order"' in sqls and 'sales."Customer"' in sqls and '"CustomerId"' in sqls
    assert any(" JOIN " in p.sql for p in pairs)


def test_empty_tables_get_aggregates_only_and_reserved_words_are_quoted():
    schema = shop_schema()
    llm = BuiltinLLM()
    empty = llm.generate_pairs(Theme("e", "", ["public.empty_log"]), schema, EN, 4, "")
    assert_valid(empty, schema)
    for pair in empty:  # aggregates without GROUP BY return a row even on an empty table
        assert "GROUP BY" not in pair.sql and "empty_log" in pair.sql
    user = llm.generate_pairs(Theme("u", "", ["public.user"]), schema, EN, 6, "")
    assert_valid(user, schema)
    assert all('"user"' in p.sql for p in user[:3])
    assert any('"group"' in p.sql for p in user)
    assert not any(has_cjk(p.question.split("'")[0]) for p in user)


def test_filters_use_real_sample_values_with_escaping():
    schema = shop_schema()
    pairs = BuiltinLLM().generate_pairs(Theme("c", "", ["sales.Customer"]), schema, ZH, 30, "")
    assert_valid(pairs, schema)
    literals = [p.sql for p in pairs if "= '" in p.sql]
    assert literals, "expected filters on sample values"
    real = {str(v) for t in schema.tables for row in t.sample_rows for v in row.values()}
    for sql in literals:
        value = sql.split("= '", 1)[1].rsplit("'", 1)[0].replace("''", "'")
        assert value in real
    assert any("'O''Fallon'" in sql for sql in literals) or any("北京" in s for s in literals)


def test_theme_with_unknown_tables_falls_back_to_the_schema():
    schema = shop_schema()
    pairs = BuiltinLLM().generate_pairs(Theme("x", "", ["nope.nothing"]), schema, EN, 5, "")
    assert len(pairs) == 5
    assert_valid(pairs, schema)


# -- repairs ---------------------------------------------------------------------------------

DDL = """
CREATE TABLE sales."Customer" (
    "CustomerId" integer NOT NULL, -- 客户编号
    "FullName" text,
    city text,
    CONSTRAINT customer_pkey PRIMARY KEY ("CustomerId")
);
COMMENT ON TABLE sales."Customer" IS '客户, (含逗号)';
CREATE TABLE IF NOT EXISTS public.daily_revenue (revenue_amount numeric(12, 2), biz_date date);
"""


def test_ddl_is_parsed_into_tables_and_columns():
    assert parse_ddl(DDL) == {
        "Customer": ["CustomerId", "FullName", "city"],
        "daily_revenue": ["revenue_amount", "biz_date"],
    }


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT SUM(revenue_amout) FROM daily_revenue", "SUM(revenue_amount)"),
        ("SELECT biz_date FROM daily_revenu", "FROM daily_revenue"),
        ('SELECT CustomerId, FullName FROM sales."Customer"', '"CustomerId", "FullName"'),
        ("SELECT city FROM sales.Customer", 'sales."Customer"'),
        ('SELECT city FROM sales."Customer";', 'SELECT city FROM sales."Customer"'),
        ("SELECT 1 FROM daily_revenue; DROP TABLE x", "SELECT 1 FROM daily_revenue"),
    ],
    ids=[
        "column",
        "table",
        "mixed-case-columns",
        "mixed-case-table",
        "semicolon",
        "two-statements",
    ],
)
def test_repairs(sql, expected):
    repaired = BuiltinLLM().repair_sql("q", sql, "error", DDL)
    assert repaired is not None and expected in repaired
    assert ";" not in repaired and "DROP" not in repaired


def test_no_repair_when_nothing_applies():
    llm = BuiltinLLM()
    assert llm.repair_sql("q", 'SELECT city FROM sales."Customer"', "timeout", DDL) is None
    assert llm.repair_sql("q", "SELECT zzzzzz FROM daily_revenue", "unknown", DDL) is None


# -- dedupe and JSON extraction ---------------------------------------------------------------


def test_template_duplicates_ignore_literals_case_and_spacing():
    a = "SELECT COUNT(*) FROM orders WHERE state = 'paid' LIMIT 10;"
    b = "select count(*)\n  from ORDERS where STATE = 'new' limit 20"
    assert template_key(a) == template_key(b)
    assert template_key('SELECT x FROM "Orders"') != template_key("SELECT x FROM orders")
    assert question_key("How many orders? ") == question_key("how many  orders")
    seen = Deduplicator()
    assert seen.add("q1", a) is None
    assert seen.add("q2", b) == "duplicate SQL template"
    assert seen.add("Q1", "SELECT 1") == "duplicate question"


def test_json_extraction_edge_cases():
    assert extract_json('[1, "a]b", {"c": "}"}]') == [1, "a]b", {"c": "}"}]
    assert extract_json('noise {"a": "x\\"}"} tail') == {"a": 'x"}'}
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    with pytest.raises(JSONExtractError):
        extract_json("nothing here {")
    with pytest.raises(JSONExtractError):
        extract_json("")


def test_referenced_tables_of_generated_joins():
    schema = shop_schema()
    theme = Theme("o", "", ["sales.order", "sales.Customer"])
    joins = [p for p in BuiltinLLM().generate_pairs(theme, schema, ZH, 10, "") if "JOIN" in p.sql]
    assert joins
    for pair in joins:
        assert set(referenced_tables(parse_single_select(pair.sql))) == {
            ("sales", "order"),
            ("sales", "Customer"),
        }
