"""Step 3 around the validator: grounded repair through a chat-completions server, the pair
file modifier, ``run(ctx)`` and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ProviderError, SourceUnavailable, StepFailed
from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.llm.openai_compatible import OpenAICompatibleLLM
from data_pipeline.schema.model import ColumnMeta, SchemaMetadata, TableMeta
from data_pipeline.sql_validation import step
from data_pipeline.sql_validation.ddl_source import DDLSource
from data_pipeline.sql_validation.file_modifier import Decision, modify_pair_file
from data_pipeline.sql_validation.repair import SQLRepairer
from data_pipeline.sql_validation.sql_validator import SQLValidator
from data_pipeline.workflow.context import StepContext
from data_pipeline.workflow.params import WorkflowParams
from tests.fakes.openai_server import error, fake_openai_fixture  # noqa: F401
from tests.integration.test_sql_validator import shop_dsn  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
DDL = {
    "customer.ddl": "-- Table: public.customer\nCREATE TABLE customer (\n    id serial PRIMARY KEY,"
    '\n    name text NOT NULL,\n    city text,\n    "SignupDate" date\n);\n',
    "orders.ddl": "-- Table: public.orders\nCREATE TABLE orders (\n    id serial PRIMARY KEY,\n"
    "    customer_id integer,\n    amount numeric(10,2),\n    state order_state NOT NULL,\n"
    "    code text NOT NULL,\n    created_at timestamp\n);\n",
    "sales__target.ddl": "-- Table: sales.target\nCREATE TABLE sales.target (region text, goal numeric);\n",
}


@pytest.fixture
def ddl_dir(tmp_path):
    for name, text in DDL.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def llm(fake_openai):
    return OpenAICompatibleLLM(fake_openai.base_url, "sk-test", "fake", max_retries=0, timeout=10)


def test_repair_sees_error_question_and_ddl_of_touched_tables(shop_dsn, ddl_dir, llm, fake_openai):  # noqa: F811
    fake_openai.script(json.dumps({"sql": "SELECT name FROM customer WHERE city = '南昌'"}))
    with SQLValidator(shop_dsn) as validator:
        failure = validator.validate("SELECT nme FROM customer WHERE city = '南昌'")
        repairer = SQLRepairer(llm, validator, DDLSource(ddl_dir), max_attempts=2)
        outcome = repairer.repair("南昌有哪些客户？", failure.sql, failure)
    assert outcome.repaired_sql == "SELECT name FROM customer WHERE city = '南昌'"
    assert [a.valid for a in outcome.attempts] == [True]
    (request,) = fake_openai.chat_requests
    prompt = request.prompt
    assert "南昌有哪些客户？" in prompt
    assert 'column "nme" does not exist' in prompt
    assert "CREATE TABLE customer" in prompt
    assert "CREATE TABLE orders" not in prompt and "sales.target" not in prompt


def test_unknown_table_gets_the_ddl_of_the_closest_names(shop_dsn, ddl_dir, llm, fake_openai):  # noqa: F811
    fake_openai.script(json.dumps({"sql": "SELECT count(*) FROM orders"}))
    with SQLValidator(shop_dsn) as validator:
        failure = validator.validate("SELECT count(*) FROM orderz")
        repairer = SQLRepairer(llm, validator, DDLSource(ddl_dir), max_attempts=1)
        outcome = repairer.repair("How many orders?", failure.sql, failure)
    assert outcome.repaired_sql == "SELECT count(*) FROM orders"
    prompt = fake_openai.chat_requests[0].prompt
    assert 'relation "orderz" does not exist' in prompt
    assert "CREATE TABLE orders" in prompt and "CREATE TABLE customer" not in prompt


def test_bad_repairs_stay_invalid_and_attempts_are_bounded(shop_dsn, ddl_dir, llm, fake_openai):  # noqa: F811
    fake_openai.script(
        json.dumps({"sql": "SELECT naem FROM customer"}),
        json.dumps({"sql": "SELECT name FROM customer; DROP TABLE victim"}),
        json.dumps({"sql": "SELECT name FROM customer"}),  # never asked for: only 2 attempts
    )
    with SQLValidator(shop_dsn) as validator:
        failure = validator.validate("SELECT nme FROM customer")
        repairer = SQLRepairer(llm, validator, DDLSource(ddl_dir), max_attempts=2)
        outcome = repairer.repair("客户名单", failure.sql, failure)
        assert validator.validate("SELECT count(*) FROM victim").valid  # still there
    assert outcome.repaired_sql is None
    assert len(fake_openai.chat_requests) == 2
    assert [(a.valid, a.error_kind) for a in outcome.attempts] == [
        (False, "unknown_column"),
        (False, "multiple_statements"),
    ]
    # the second request is about the first proposal and its own error
    assert 'column "naem" does not exist' in fake_openai.chat_requests[1].prompt


def test_provider_outage_fails_after_consecutive_errors(shop_dsn, ddl_dir, llm, fake_openai):  # noqa: F811
    fake_openai.handler = lambda request: error(503, "overloaded")
    with SQLValidator(shop_dsn) as validator:
        failure = validator.validate("SELECT nme FROM customer")
        repairer = SQLRepairer(llm, validator, DDLSource(ddl_dir), max_attempts=1)
        first = repairer.repair("q", failure.sql, failure)  # one failure: recorded, not fatal
        assert first.repaired_sql is None and "repair failed" in first.attempts[0].error
        repairer.repair("q", failure.sql, failure)
        with pytest.raises(ProviderError):
            repairer.repair("q", failure.sql, failure)


def test_ddl_falls_back_to_schema_metadata_then_catalog(tmp_path, shop_dsn):  # noqa: F811
    meta = SchemaMetadata(
        "shop",
        [
            TableMeta(
                "public",
                "customer",
                columns=[ColumnMeta("id", "integer"), ColumnMeta("name", "text")],
            )
        ],
    )
    meta.save(tmp_path)
    source = DDLSource(tmp_path)
    assert source.origin == "schema_metadata"
    assert "CREATE TABLE customer" in source.ddl_for("SELECT nme FROM customer")
    catalog = DDLSource(None, dsn=shop_dsn, db_name="shop")
    text = catalog.ddl_for("SELECT goal FROM sales.targets")
    assert "CREATE TABLE sales.target" in text and "goal" in text


def test_file_modifier_matches_by_identity(tmp_path):
    pair = tmp_path / "qs_shop_20240101_000000_pair.json"
    entries = [
        {"question": "q1 好", "sql": "SELECT 1"},
        {"question": "q2 修", "sql": "SELECT nme FROM customer", "theme": "客户"},
        {"question": "q3 坏", "sql": "SELECT bad"},
        {"question": "q4", "sql": "SELECT bad"},  # same SQL, other question: not the same entry
        {"question": "q3 坏", "sql": "SELECT bad"},  # duplicate of q3
    ]
    decisions = {
        ("q2 修", "SELECT nme FROM customer"): Decision(
            "replace", "SELECT name FROM customer", "x"
        ),
        ("q3 坏", "SELECT bad"): Decision("remove", None, 'column "bad" does not exist'),
    }
    # The file was reordered after validation: positions no longer match, identities do.
    pair.write_text(json.dumps(list(reversed(entries)), ensure_ascii=False), encoding="utf-8")
    original = pair.read_text(encoding="utf-8")
    result = modify_pair_file(pair, decisions, log_dir=tmp_path, stamp="20240101_000001")
    data = json.loads(pair.read_text(encoding="utf-8"))
    assert data == [
        {"question": "q4", "sql": "SELECT bad"},
        {"question": "q2 修", "sql": "SELECT name FROM customer", "theme": "客户"},
        {"question": "q1 好", "sql": "SELECT 1"},
    ]
    assert (result.replaced, result.removed, result.entries_after) == (1, 2, 3)
    backup = tmp_path / (pair.name + ".backup")
    assert backup.read_text(encoding="utf-8") == original
    log = (tmp_path / "file_modifications_20240101_000001.log").read_text(encoding="utf-8")
    assert "[REPLACED]" in log and "[REMOVED]" in log and "q3 坏" in log and "SELECT name" in log
    # A second modification keeps the first backup (what step 2 wrote).
    again = {("q4", "SELECT bad"): Decision("remove", None, "bad")}
    modify_pair_file(pair, again, log_dir=tmp_path, stamp="20240101_000002")
    assert backup.read_text(encoding="utf-8") == original
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _context(task_dir, config, dsn, **params):
    progress = []
    ctx = StepContext(
        task_dir=task_dir,
        config=config,
        params=WorkflowParams(
            db_connection="source:demo", business_context="高速公路服务区经营", **params
        ),
        source_dsn=dsn,
        db_name="demo_business",
        llm=BuiltinLLM(),
        report_progress=lambda fraction, note=None: progress.append(fraction),
    )
    return ctx, progress


def test_step_validates_repairs_and_rewrites_the_newest_pair_file(tmp_path, config, demo_dsn):
    old = tmp_path / "qs_demo_business_20240101_000000_pair.json"
    old.write_text(json.dumps([{"question": "old", "sql": "SELECT nope"}]), encoding="utf-8")
    new = tmp_path / "qs_demo_business_20240102_000000_pair.json"
    pairs = [
        {
            "question": "各状态服务区数量？",
            "sql": "SELECT status, COUNT(*) FROM service_area GROUP BY status",
        },
        {"question": "服务区名称", "sql": "SELECT area_nam FROM service_area"},
        {"question": "无法修复", "sql": "SELECT 1 FROM service_area WHERE area_name > 5"},
        {
            "question": "What is the total revenue?",
            "sql": "SELECT SUM(revenue_amount) FROM daily_revenue;",
        },
    ]
    new.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    assert step.missing_inputs(tmp_path) is None
    ctx, progress = _context(tmp_path, config, demo_dsn, repair_max_attempts=1)
    summary = step.run(ctx)
    assert summary["input_file"] == new.name
    assert (summary["total"], summary["valid"], summary["repaired"], summary["invalid"]) == (
        4,
        2,
        1,
        1,
    )
    assert summary["removed"] == 1 and summary["success_rate"] == 0.75
    report = json.loads((tmp_path / summary["report_file"]).read_text(encoding="utf-8"))
    statuses = [(i["status"], i["error_kind"]) for i in report["items"]]
    assert statuses == [
        ("valid", None),
        ("repaired", "unknown_column"),
        ("invalid", "type_error"),
        ("valid", None),
    ]
    assert report["items"][1]["repaired_sql"] == "SELECT area_name FROM service_area"
    assert report["items"][2]["removed"] and report["items"][2]["repair_attempts"] <= 1
    rewritten = json.loads(new.read_text(encoding="utf-8"))
    assert [p["question"] for p in rewritten] == [
        "各状态服务区数量？",
        "服务区名称",
        "What is the total revenue?",
    ]
    summary_log = (tmp_path / summary["summary_file"]).read_text(encoding="utf-8")
    assert "Invalid:   1" in summary_log and "无法修复" in summary_log
    assert progress == sorted(progress) and progress[-1] == 1.0
    outputs = {p.name for p in step.output_files(tmp_path)}
    assert outputs == {
        summary["report_file"], summary["summary_file"], summary["modification_log"],
    }  # fmt: skip
    assert (tmp_path / (new.name + ".backup")).is_file()  # kept through a clean re-run
    assert json.loads(old.read_text()) == [{"question": "old", "sql": "SELECT nope"}]


def test_step_without_modification_or_repair_leaves_the_file(tmp_path, config, demo_dsn):
    pair = tmp_path / "qs_demo_business_20240102_000000_pair.json"
    pair.write_text(json.dumps([{"question": "q", "sql": "SELECT x FROM y"}]), encoding="utf-8")
    before = pair.read_text()
    ctx, _ = _context(
        tmp_path, config, demo_dsn, modify_original_file=False, enable_llm_repair=False
    )
    summary = step.run(ctx)
    assert (summary["invalid"], summary["removed"], summary["backup_file"]) == (1, 0, None)
    assert pair.read_text() == before


def test_step_inputs_and_failures(tmp_path, config, demo_dsn):
    message = step.missing_inputs(tmp_path)
    assert "run step 2 (qa_generation) first" in message
    ctx, _ = _context(tmp_path, config, demo_dsn)
    with pytest.raises(StepFailed, match="qa_generation"):
        step.run(ctx)
    (tmp_path / "qs_x_20240101_000000_pair.json").write_text("[{", encoding="utf-8")
    with pytest.raises(StepFailed, match="not valid JSON"):
        step.run(ctx)
    (tmp_path / "qs_x_20240101_000000_pair.json").write_text("[]", encoding="utf-8")
    ctx, _ = _context(tmp_path, config, "postgresql://bob:hunter2pw@127.0.0.1:1/billing")
    with pytest.raises(SourceUnavailable) as info:
        step.run(ctx)
    assert "billing" in info.value.message and "hunter2pw" not in info.value.message


def _cli(*args, cwd=ROOT):
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LLM_BASE_URL": ""}
    return subprocess.run(
        [sys.executable, "-m", "data_pipeline.sql_validation", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_command_line(tmp_path, demo_dsn):
    good = tmp_path / "good_pair.json"
    good.write_text(
        json.dumps([{"question": "q", "sql": "SELECT count(*) FROM stall"}]), encoding="utf-8"
    )
    done = _cli("--db-connection", demo_dsn, "--input-file", str(good))
    assert done.returncode == 0, done.stderr
    assert "total 1, valid 1" in done.stdout and "report:" in done.stdout

    mixed = tmp_path / "mixed_pair.json"
    pairs = [
        {"question": "q1", "sql": "SELECT count(*) FROM stall"},
        {"question": "q2", "sql": "SELECT ('x' || stall_id)::int FROM stall"},
    ]
    mixed.write_text(json.dumps(pairs), encoding="utf-8")
    reports = tmp_path / "reports"
    done = _cli("--db-connection", demo_dsn, "--input-file", str(mixed), "--level", "execute",
                "--report-dir", str(reports), "--no-modify-file")  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "invalid 1" in done.stdout and "type_error 1" in done.stdout
    (report,) = reports.glob("sql_validation_*_report.json")
    assert json.loads(report.read_text())["invalid"] == 1
    assert json.loads(mixed.read_text()) == pairs  # --no-modify-file

    done = _cli("--db-connection", demo_dsn, "--input-file", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "not found" in done.stderr
    broken = tmp_path / "broken_pair.json"
    broken.write_text("{not json", encoding="utf-8")
    done = _cli("--db-connection", demo_dsn, "--input-file", str(broken))
    assert done.returncode == 2 and "not valid JSON" in done.stderr
    done = _cli("--db-connection", "mysql://x", "--input-file", str(good))
    assert done.returncode == 2 and "db_connection" in done.stderr
