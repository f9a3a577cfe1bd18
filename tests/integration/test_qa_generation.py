"""Step 2 (qa_generation) on real databases: the demo source and a schema built here that the
generator was not written for (several schemas, quoted mixed-case names, reserved words, an
enum, a view, an empty table, a table without statistics, a 200-column table, a self
reference). Step 1 runs for real first; every generated SQL is run read-only on the source.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg2
import pytest
from sqlglot import exp

from app_config import Config
from core.errors import ProviderError, StepFailed
from data_pipeline.ddl_generation import step as step1
from data_pipeline.llm import get_llm
from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.llm.rules.words import has_cjk
from data_pipeline.qa_generation import step as step2
from data_pipeline.qa_generation.progress import PROGRESS_FILE
from data_pipeline.schema.dedupe import template_key
from data_pipeline.schema.model import SchemaMetadata
from data_pipeline.schema.sql_checks import parse_single_select, referenced_tables
from data_pipeline.workflow.context import StepContext
from data_pipeline.workflow.params import WorkflowParams
from tests.conftest import new_database
from tests.fakes.openai_server import error, fake_openai_fixture  # noqa: F401

ZH = "高速公路服务区经营数据：营收、车流、档口与合同"
EN = "Highway service area operations: revenue, traffic, stalls and contracts"
PAIR_FILE = re.compile(r"^qs_[\w.-]+_\d{8}_\d{6}_pair\.json$")

TRICKY_TABLES = [
    "sales.Customer", "sales.order", "sales.order_line", "HR.Staff", "public.empty_log",
    "public.tags", "public.settings", "public.user", "public.wide_metrics", "public.no_stats",
    "sales.customer_totals",
]  # fmt: skip


def tricky_schema_sql() -> str:
    wide_cols = ", ".join(
        f"m{i:03d} {('integer', 'numeric(10,2)', 'text', 'date')[i % 4]}" for i in range(1, 200)
    )
    values = ("i * {n}", "(i % 7) * 1.5", "'v' || (i % 5)", "date '2024-01-01' + i")
    wide_vals = ", ".join(values[n % 4].format(n=n) for n in range(1, 200))
    return f"""
CREATE SCHEMA sales;
CREATE SCHEMA "HR";
CREATE TYPE sales.order_state AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE TABLE sales."Customer" ("CustomerId" serial PRIMARY KEY, "FullName" text NOT NULL,
    "Email" text, city text NOT NULL, "createdAt" timestamptz NOT NULL);
CREATE TABLE sales."order" (id bigserial PRIMARY KEY,
    "CustomerId" int NOT NULL REFERENCES sales."Customer", state sales.order_state NOT NULL,
    "Total" numeric(12, 2), ordered_on date NOT NULL, "desc" text);
CREATE TABLE sales.order_line (order_id bigint REFERENCES sales."order" (id), line_no int,
    product text NOT NULL, qty int NOT NULL, unit_price numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no));
CREATE TABLE "HR"."Staff" (staff_id int PRIMARY KEY, name text NOT NULL,
    boss_id int REFERENCES "HR"."Staff", "Level" text NOT NULL, joined date NOT NULL);
CREATE TABLE empty_log (id int PRIMARY KEY, message text, created_at timestamp, amount numeric);
CREATE TABLE tags (tag text PRIMARY KEY);
CREATE TABLE settings (key text, value text);
CREATE TABLE "user" ("group" text, "select" int, "from" date);
CREATE TABLE wide_metrics (id int PRIMARY KEY, {wide_cols});
CREATE TABLE no_stats (code varchar(10), label text, score real);
CREATE VIEW sales.customer_totals AS
    SELECT c."CustomerId", c."FullName", sum(o."Total") AS total_amount
    FROM sales."Customer" c JOIN sales."order" o USING ("CustomerId") GROUP BY 1, 2;
INSERT INTO sales."Customer" ("FullName", "Email", city, "createdAt")
    SELECT 'Customer ' || i, 'c' || i || '@example.com',
           (ARRAY['北京', 'Shanghai', 'O''Fallon', '南昌'])[1 + i % 4],
           timestamptz '2024-01-01' + i * interval '7 hours'
    FROM generate_series(1, 300) i;
INSERT INTO sales."order" ("CustomerId", state, "Total", ordered_on, "desc")
    SELECT 1 + i % 300, (ARRAY['new', 'paid', 'shipped', 'cancelled']::sales.order_state[])[1 + i % 4],
           CASE WHEN i % 10 = 0 THEN NULL ELSE (i % 97) * 3.5 END,
           date '2024-01-01' + (i % 400), '备注 ' || i
    FROM generate_series(1, 3000) i;
INSERT INTO sales.order_line SELECT o.id, n, 'product ' || (o.id % 17), 1 + n, 9.99 * n
    FROM sales."order" o, generate_series(1, 3) n;
INSERT INTO "HR"."Staff" VALUES (1, '张三', NULL, 'Director', '2020-01-01');
INSERT INTO "HR"."Staff" SELECT i, '员工' || i, 1 + i % 5, (ARRAY['Senior', 'Junior'])[1 + i % 2],
    date '2021-01-01' + i FROM generate_series(2, 60) i;
INSERT INTO tags SELECT 'tag' || i FROM generate_series(1, 30) i;
INSERT INTO settings VALUES ('theme', 'dark'), ('lang', 'zh'), ('tz', 'Asia/Shanghai');
INSERT INTO "user" SELECT (ARRAY['a', 'b'])[1 + i % 2], i, date '2024-03-01' + i
    FROM generate_series(1, 50) i;
INSERT INTO wide_metrics SELECT i, {wide_vals} FROM generate_series(1, 40) i;
INSERT INTO no_stats SELECT 'C' || (i % 9), 'label ' || i, i / 3.0 FROM generate_series(1, 500) i;
ANALYZE sales."Customer"; ANALYZE sales."order";
"""


@pytest.fixture(scope="module")
def tricky_dsn(pg_admin_dsn) -> str:
    dsn = new_database(pg_admin_dsn)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(tricky_schema_sql())
    conn.close()
    return dsn


@pytest.fixture(scope="module")
def demo_tables(demo_dsn) -> list[str]:
    conn = psycopg2.connect(demo_dsn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' ORDER BY 1"
        )
        tables = [r[0] for r in cur.fetchall()]
    conn.close()
    return tables


def make_ctx(task_dir, dsn, tables, context, llm, config=None, **params) -> StepContext:
    config = config or Config(data_root=task_dir.parent)
    wf = WorkflowParams(
        db_connection="source:test", business_context=context, table_list=tables, **params
    )
    return StepContext(
        task_dir=task_dir, config=config, params=wf, source_dsn=dsn,
        db_name="biz_db", llm=llm, tables=tables,
    )  # fmt: skip


def run_step1(task_dir: Path, dsn, tables, context) -> None:
    task_dir.mkdir(parents=True, exist_ok=True)
    step1.run(make_ctx(task_dir, dsn, tables, context, BuiltinLLM()))


def run_readonly(dsn: str, sqls: list[str]) -> list:
    """Row counts (or the error) of each SQL, in one read-only transaction."""
    conn = psycopg2.connect(dsn)
    conn.set_session(readonly=True)
    results = []
    with conn.cursor() as cur:
        cur.execute("SET LOCAL statement_timeout = 10000")
        for sql in sqls:
            cur.execute("SAVEPOINT q")
            try:
                cur.execute(sql)
                results.append(len(cur.fetchall()))
            except psycopg2.Error as exc:
                cur.execute("ROLLBACK TO SAVEPOINT q")
                results.append(exc)
    conn.rollback()
    conn.close()
    return results


def joins_along_fk(sql: str, schema: SchemaMetadata) -> bool:
    """True when a JOIN's ON clause equates a foreign key's columns with the referenced ones."""
    tree = parse_single_select(sql)
    aliases = {t.alias_or_name: (t.db or "public", t.name) for t in tree.find_all(exp.Table)}
    for join in tree.find_all(exp.Join):
        on = join.args.get("on")
        for eq in on.find_all(exp.EQ) if on else []:
            left, right = eq.left, eq.right
            if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
                continue
            ends = [(aliases.get(left.table), left.name), (aliases.get(right.table), right.name)]
            for (child, c_col), (parent, p_col) in (ends, ends[::-1]):
                table = schema.table(*child) if child else None
                for fk in table.foreign_keys if table else []:
                    if (
                        (fk.ref_schema, fk.ref_table) == parent
                        and c_col in fk.columns
                        and fk.ref_columns[fk.columns.index(c_col)] == p_col
                    ):
                        return True
    return False


def answers(sql: str, tables: set, group_table: str, aggregate, monthly: bool) -> bool:
    """Whether ``sql`` aggregates over exactly ``tables``, per row of ``group_table`` (and
    per month when ``monthly``)."""
    tree = parse_single_select(sql)
    aliases = {t.alias_or_name: t.name for t in tree.find_all(exp.Table)}
    if set(aliases.values()) != tables or not list(tree.find_all(aggregate)):
        return False
    group = tree.args.get("group")
    if group is None:
        return False
    grouped = {aliases.get(c.table) for e in group.expressions for c in e.find_all(exp.Column)}
    by_month = "date_trunc('month'" in sql
    return group_table in grouped and by_month == monthly


def check_acceptance(task_dir: Path, dsn: str, tables: list[str], summary: dict, lang: str):
    """The acceptance criteria of issue 3 for step 2 with the built-in provider."""
    assert PAIR_FILE.match(summary["pair_file"])
    pairs = json.loads((task_dir / summary["pair_file"]).read_text(encoding="utf-8"))
    assert summary["pairs_kept"] == len(pairs) >= 40
    sqls = [p["sql"] for p in pairs]
    results = run_readonly(dsn, sqls)
    failures = [(s, r) for s, r in zip(sqls, results, strict=True) if isinstance(r, Exception)]
    assert failures == []
    assert sum(1 for r in results if r > 0) >= 0.8 * len(pairs)
    schema = SchemaMetadata.load(task_dir)
    used = {t for s in sqls for t in referenced_tables(parse_single_select(s))}
    listed = {(t.schema, t.name) for t in schema.tables}
    assert len(listed) == len(tables)
    assert len(used & listed) >= 0.9 * len(listed), listed - used
    assert sum(joins_along_fk(s, schema) for s in sqls) >= 3
    questions = [p["question"] for p in pairs]
    assert len(set(questions)) == len(questions)
    assert len({" ".join(s.lower().split()) for s in sqls}) == len(sqls)
    assert len({template_key(s) for s in sqls}) == len(sqls)
    if lang == "zh":
        assert all(has_cjk(q) for q in questions)
    else:  # English words; quoted sample values may be Chinese data
        assert not any(has_cjk(re.sub(r"'[^']*'", "", q)) for q in questions)
    for name in ("metadata.txt", "metadata_detail.md"):
        assert (task_dir / name).is_file()
    return pairs


# One language in the inner loop, both in `make test`.
@pytest.mark.parametrize("lang", ["zh", pytest.param("en", marks=pytest.mark.slow)])
def test_demo_source_with_the_builtin_provider(tmp_path, demo_dsn, demo_tables, lang):
    context = ZH if lang == "zh" else EN
    run_step1(tmp_path / "task", demo_dsn, demo_tables, context)
    ctx = make_ctx(tmp_path / "task", demo_dsn, demo_tables, context, BuiltinLLM())
    notes = []
    ctx.report_progress = lambda fraction, note=None: notes.append((fraction, note))
    summary = step2.run(ctx)
    # 8 pairs per table (QA_PAIRS_PER_TABLE) for 9 tables, spread over 5 themes: 15 per theme.
    assert summary["themes"] == 5 and summary["pairs_kept"] == 75
    assert summary["rejected"] == {} and summary["provider"] == "builtin"
    pairs = check_acceptance(tmp_path / "task", demo_dsn, demo_tables, summary, lang)
    common = [
        # (tables, the grouping table, aggregate, monthly): the business questions a user of
        # the demo asks first.
        ({"daily_revenue", "stall", "service_area"}, "service_area", exp.Sum, True),
        ({"employee", "service_area"}, "service_area", exp.Count, False),
        ({"service_area", "highway_route"}, "highway_route", exp.Count, False),
        ({"stall", "business_type"}, "business_type", exp.Count, False),
    ]
    for tables, group_table, aggregate, monthly in common:
        assert any(answers(p["sql"], tables, group_table, aggregate, monthly) for p in pairs), (
            tables,
            group_table,
        )
    fractions = [f for f, _ in notes]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 6
    detail = (tmp_path / "task" / "metadata_detail.md").read_text(encoding="utf-8")
    assert all(name in detail for name in summary["theme_names"])


@pytest.mark.slow  # both languages run in `make test`; the demo test covers the inner loop
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_unseen_schema_with_the_builtin_provider(tmp_path, tricky_dsn, lang):
    context = "电商订单、客户与员工数据" if lang == "zh" else "Online shop orders, customers, staff"
    task = tmp_path / "task"
    run_step1(task, tricky_dsn, TRICKY_TABLES, context)
    summary = step2.run(make_ctx(task, tricky_dsn, TRICKY_TABLES, context, BuiltinLLM()))
    pairs = check_acceptance(task, tricky_dsn, TRICKY_TABLES, summary, lang)
    sqls = " ".join(p["sql"] for p in pairs)
    for quoted in ('sales."Customer"', '"HR"."Staff"', 'FROM "user"'):
        assert quoted in sqls


@pytest.mark.slow
def test_metadata_sql_runs_in_an_empty_database(tmp_path, pg_admin_dsn, demo_dsn, demo_tables):
    run_step1(tmp_path / "task", demo_dsn, demo_tables, ZH)
    summary = step2.run(make_ctx(tmp_path / "task", demo_dsn, demo_tables, ZH, BuiltinLLM()))
    conn = psycopg2.connect(new_database(pg_admin_dsn))
    with conn, conn.cursor() as cur:
        cur.execute((tmp_path / "task" / "metadata.txt").read_text(encoding="utf-8"))
        cur.execute("SELECT topic_name, related_tables, biz_metrics FROM metadata ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    assert [r[0] for r in rows] == summary["theme_names"]
    assert all(r[1] and set(r[1]) <= set(demo_tables) and r[2] for r in rows)


def test_missing_inputs_name_step_1(tmp_path, demo_dsn):
    message = step2.missing_inputs(tmp_path)
    assert "step 1 (ddl_generation)" in message and "schema_metadata.json" in message
    with pytest.raises(StepFailed, match=r"step 1 \(ddl_generation\)"):
        step2.run(make_ctx(tmp_path, demo_dsn, ["public.stall"], ZH, BuiltinLLM()))
    assert step2.output_files(tmp_path) == []


# -- with the OpenAI-compatible provider, through a local chat-completions server ------------

GOOD_A = [
    ("各档口的营收金额合计是多少？",
     "SELECT s.stall_name, SUM(d.revenue_amount) AS total FROM daily_revenue d "
     "JOIN stall s ON d.stall_id = s.stall_id GROUP BY s.stall_name ORDER BY total DESC LIMIT 10"),
    ("微信支付的订单数有多少？",
     "SELECT SUM(order_count) FROM daily_revenue WHERE payment_method = 'wechat';"),
    ("在营档口有多少个？", "SELECT COUNT(*) FROM stall WHERE is_active"),
    ("2024年每月营收趋势？",
     "SELECT date_trunc('month', biz_date) AS m, SUM(revenue_amount) FROM daily_revenue "
     "GROUP BY 1 ORDER BY 1"),
]  # fmt: skip
BAD_A = [
    ("每个档口的租金？", "SELECT stall_name, monthly_rent_amount FROM stall"),  # no such column
    ("删除退款记录", "DELETE FROM daily_revenue WHERE refund_amount > 0"),
    ("语法错误", "SELEC * FROM stall"),
    ("不存在的表", "SELECT * FROM ghost_table"),
]  # fmt: skip
# A template duplicate of GOOD_A[1]: only the literal differs.
DUPLICATE_A = (
    "支付宝的订单数有多少？",
    "SELECT SUM(order_count) FROM daily_revenue WHERE payment_method = 'alipay'",
)
GOOD_B = [
    ("服务区共有多少个？", "SELECT COUNT(*) FROM service_area"),
    ("各状态的服务区数量？", "SELECT status, COUNT(*) FROM service_area GROUP BY status"),
    ("停车位最多的服务区？",
     "SELECT area_name FROM service_area ORDER BY parking_spaces DESC LIMIT 1"),
    ("有充电站的服务区有几个？", "SELECT COUNT(*) FROM service_area WHERE has_charging_station"),
]  # fmt: skip
THEMES = [
    {"name": "档口营收 'O''Brien' \\ 分析", "description": "营收与支付方式，含'引号'",
     "tables": ["public.daily_revenue", "stall", "public.ghost"], "entities": ["档口"],
     "metrics": ["营收金额"]},
    {"name": "服务区概况", "description": "服务区规模", "tables": ["public.service_area"],
     "entities": ["服务区"], "metrics": []},
    {"name": "幽灵主题", "description": "只有不存在的表", "tables": ["public.ghost"]},
]  # fmt: skip


def pairs_json(items) -> str:
    body = {"pairs": [{"question": q, "sql": s} for q, s in items]}
    return "好的，结果如下：\n```json\n" + json.dumps(body, ensure_ascii=False) + "\n```"


class ScriptedLLM:
    """Answers by what was asked: themes, then pairs per theme (B comes in two halves)."""

    def __init__(self, fail_theme_b: bool = False):
        self.fail_theme_b = fail_theme_b
        self.calls_b = 0

    def __call__(self, request):
        prompt = request.prompt
        if "Propose" in prompt:
            return json.dumps({"themes": THEMES}, ensure_ascii=False)
        if "Theme: 服务区概况" in prompt:
            if self.fail_theme_b:
                return error(500, "model overloaded")
            self.calls_b += 1
            return pairs_json(GOOD_B[:2] if self.calls_b == 1 else GOOD_B[2:])
        return pairs_json([*BAD_A, *GOOD_A[:2], DUPLICATE_A, *GOOD_A[2:]])


def llm_config(tmp_path, server) -> Config:
    return Config(
        data_root=tmp_path, llm_base_url=server.base_url, llm_api_key="sk-fake",
        llm_model="fake-model", llm_max_retries=0, llm_timeout_seconds=10,
    )  # fmt: skip


def test_openai_provider_pairs_are_checked(tmp_path, demo_dsn, demo_tables, fake_openai):
    task = tmp_path / "task"
    run_step1(task, demo_dsn, demo_tables, ZH)
    fake_openai.handler = ScriptedLLM()
    config = llm_config(tmp_path, fake_openai)
    ctx = make_ctx(
        task, demo_dsn, demo_tables, ZH, get_llm(config), config, theme_count=3,
        questions_per_theme=4,
    )  # fmt: skip
    snapshots = []
    ctx.report_progress = lambda fraction, note=None: snapshots.append(
        len(json.loads((task / PROGRESS_FILE).read_text(encoding="utf-8"))["pairs"])
    )
    summary = step2.run(ctx)

    assert summary["themes"] == 2  # the theme naming only unknown tables is dropped
    assert summary["provider"] == "openai_compatible"
    pairs = json.loads((task / summary["pair_file"]).read_text(encoding="utf-8"))
    assert [p["question"] for p in pairs] == [q for q, _ in GOOD_A + GOOD_B]
    assert pairs[1]["sql"].endswith("'wechat'")  # trailing semicolon removed
    assert summary["rejected"] == {
        "not_read_only_select": 1, "syntax_error": 1, "unknown_column": 1, "unknown_table": 1,
    }  # fmt: skip
    assert summary["duplicates_removed"] == 1
    assert all(
        not isinstance(r, Exception) for r in run_readonly(demo_dsn, [p["sql"] for p in pairs])
    )
    assert snapshots == [0, 1, 2]  # each theme saved before its progress was reported
    progress = json.loads((task / PROGRESS_FILE).read_text(encoding="utf-8"))
    assert progress["completed"] and progress["themes"][0]["tables"] == [
        "public.daily_revenue", "public.stall",
    ]  # fmt: skip

    prompts = [r.prompt for r in fake_openai.chat_requests]
    assert len(prompts) == 1 + 1 + 2  # themes, theme A, theme B twice (topped up)
    assert "Simplified Chinese" in prompts[0] and "daily_revenue" in prompts[0]
    assert "营业日期" in prompts[1]  # the theme's documentation (step 1's _detail.md) is sent

    sql_text = (task / "metadata.txt").read_text(encoding="utf-8")
    assert "'档口营收 ''O''''Brien'' \\ 分析'" in sql_text
    assert set(step2.output_files(task)) >= {
        task / summary["pair_file"], task / "metadata.txt", task / "metadata_detail.md",
        task / PROGRESS_FILE,
    }  # fmt: skip


def test_a_crash_keeps_finished_themes_and_a_rerun_resumes(
    tmp_path, pg_admin_dsn, demo_dsn, demo_tables, fake_openai
):
    task = tmp_path / "task"
    run_step1(task, demo_dsn, demo_tables, ZH)
    fake_openai.handler = ScriptedLLM(fail_theme_b=True)
    config = llm_config(tmp_path, fake_openai)
    settings = {"theme_count": 3, "questions_per_theme": 4}
    with pytest.raises(ProviderError, match=r"127\.0\.0\.1"):
        step2.run(make_ctx(task, demo_dsn, demo_tables, ZH, get_llm(config), config, **settings))
    progress = json.loads((task / PROGRESS_FILE).read_text(encoding="utf-8"))
    assert not progress["completed"] and len(progress["themes"]) == 2
    assert [p["question"] for p in progress["pairs"]["0"]] == [q for q, _ in GOOD_A]
    assert "1" not in progress["pairs"] and not list(task.glob("qs_*_pair.json"))

    fake_openai.handler = ScriptedLLM()
    before = len(fake_openai.chat_requests)
    summary = step2.run(
        make_ctx(task, demo_dsn, demo_tables, ZH, get_llm(config), config, **settings)
    )
    assert summary["resumed"] is True and summary["pairs_kept"] == 8
    asked = [r.prompt for r in fake_openai.chat_requests[before:]]
    assert len(asked) == 2 and all("Theme: 服务区概况" in p for p in asked)
    conn = psycopg2.connect(new_database(pg_admin_dsn))
    with conn, conn.cursor() as cur:  # quotes and backslashes in theme names survive
        cur.execute((task / "metadata.txt").read_text(encoding="utf-8"))
        cur.execute("SELECT topic_name, description FROM metadata ORDER BY id")
        assert cur.fetchall() == [
            (THEMES[0]["name"], THEMES[0]["description"]),
            (THEMES[1]["name"], THEMES[1]["description"]),
        ]
    conn.close()


def test_a_theme_answered_with_garbage_is_skipped(tmp_path, demo_dsn, demo_tables, fake_openai):
    task = tmp_path / "task"
    run_step1(task, demo_dsn, demo_tables, EN)
    scripted = ScriptedLLM()

    def handler(request):
        if "Theme: 档口营收" in request.prompt:
            return "Sorry, I cannot produce JSON today."
        return scripted(request)

    fake_openai.handler = handler
    config = llm_config(tmp_path, fake_openai)
    ctx = make_ctx(task, demo_dsn, demo_tables, EN, get_llm(config), config, questions_per_theme=4)
    summary = step2.run(ctx)
    assert summary["themes_failed"] == 1 and summary["themes"] == 2
    pairs = json.loads((task / summary["pair_file"]).read_text(encoding="utf-8"))
    assert [p["question"] for p in pairs] == [q for q, _ in GOOD_B]
    assert "English" in fake_openai.chat_requests[0].prompt
