"""Relationships no schema declares (step 1 infers them from names and data; step 2 joins along
them), on databases built without any declared key:

* ``loose``: the naming styles keys hide behind (``user_id`` → ``users.id``, ``custid`` →
  ``customer.custid``, ``sbTxCustId`` → ``sbCustomer.sbCustId``, ``from_airport`` →
  ``airport.airport_code``, ``state_name`` → ``state.state_name``, a self reference, and
  ``manager_staff_id`` that is *not* one), next to traps: a column whose values only half
  match, a same-name attribute that is a key of neither table, ``city`` on five tables;
* the rental shop and music store of ``sample_dbs`` with their keys left out;
* the same with its keys declared: nothing is added.
"""

from __future__ import annotations

import json

import pytest

from app_config import Config
from data_pipeline.ddl_generation import step as step1
from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.qa_generation import step as step2
from data_pipeline.schema.model import SchemaMetadata
from data_pipeline.schema.sql_checks import parse_single_select, referenced_tables
from tests.conftest import new_database
from tests.integration.test_qa_generation import (
    joins_along_fk,
    make_ctx,
    run_readonly,
    run_step1,
)
from tests.support import sample_dbs

CONTEXT = "Orders, invoices, flights and stores"


def inferred(schema: SchemaMetadata) -> set[tuple[str, str, str, str]]:
    return {
        (t.name, fk.columns[0], fk.ref_table, fk.ref_columns[0])
        for t in schema.tables
        for fk in t.foreign_keys
        if fk.inferred
    }


@pytest.fixture(scope="module")
def loose_dsn(pg_admin_dsn) -> str:
    dsn = new_database(pg_admin_dsn)
    sample_dbs.build_loose(dsn)
    return dsn


@pytest.fixture(scope="module")
def loose_run(loose_dsn, tmp_path_factory):
    task = tmp_path_factory.mktemp("loose") / "task"
    task.mkdir()
    summary = step1.run(make_ctx(task, loose_dsn, sample_dbs.LOOSE_TABLES, CONTEXT, BuiltinLLM()))
    return task, summary, SchemaMetadata.load(task)


def test_every_hidden_relationship_is_found_and_no_false_one(loose_run):
    _task, summary, schema = loose_run
    assert inferred(schema) == sample_dbs.LOOSE_RELATIONSHIPS
    kept = {(t.name, fk.columns[0]) for t in schema.tables for fk in t.foreign_keys}
    assert not kept & sample_dbs.LOOSE_NOT_RELATIONSHIPS
    report = summary["relationships"]
    assert report["enabled"] and len(report["inferred"]) == len(sample_dbs.LOOSE_RELATIONSHIPS)
    rejected = {r["from"]: r["reason"] for r in report["rejected"]}
    # Why the traps were rejected, in words a user can check.
    assert "only 50% of 20 sampled values" in rejected["public.shipment.warehouse_id"]
    assert "is not unique" in rejected["public.shipment.batch_no"]
    assert "is not unique" in rejected["public.orders.batch_no"]
    # Keys found in the data for tables that declare none.
    assert report["keys_found"]["public.airport"] == "airport_code"
    assert report["keys_found"]["public.state"] == "state_name"
    assert schema.table("public", "users").inferred_key == ["id"]


def test_evidence_is_recorded_and_shown(loose_run):
    task, _summary, schema = loose_run
    fk = next(fk for fk in schema.table("public", "orders").foreign_keys if fk.inferred)
    assert fk.evidence["rule"] == "table_id" and fk.evidence["match_share"] == 1.0
    assert fk.evidence["values_probed"] > 100 and fk.evidence["cardinality"] == "many-to-one"
    assert "300 rows" in fk.evidence["parent_key"]
    raw = json.loads((task / "schema_metadata.json").read_text(encoding="utf-8"))
    orders = next(t for t in raw["tables"] if t["name"] == "orders")
    assert orders["foreign_keys"][0]["inferred"] is True
    detail = (task / "orders_detail.md").read_text(encoding="utf-8")
    assert "public.orders (user_id) → public.users (id), inferred, not declared: 100%" in detail
    assert "Key (inferred, not declared" in detail
    ddl = (task / "orders.ddl").read_text(encoding="utf-8")
    assert "-- inferred: (user_id) REFERENCES users (id) (100% of" in ddl
    assert "FOREIGN KEY" not in ddl and "PRIMARY KEY" not in ddl
    sb = (task / "sbtransaction_detail.md").read_text(encoding="utf-8")
    assert "rule prefixed" in sb


@pytest.mark.slow
def test_step_2_joins_along_inferred_relationships(loose_run, loose_dsn):
    task, _summary, schema = loose_run
    summary = step2.run(make_ctx(task, loose_dsn, sample_dbs.LOOSE_TABLES, CONTEXT, BuiltinLLM()))
    pairs = json.loads((task / summary["pair_file"]).read_text(encoding="utf-8"))
    sqls = [p["sql"] for p in pairs]
    joining = [s for s in sqls if joins_along_fk(s, schema)]
    assert len(joining) >= 15
    results = run_readonly(loose_dsn, joining)
    failures = [
        (s, r) for s, r in zip(joining, results, strict=True) if not (isinstance(r, int) and r)
    ]
    assert failures == []
    joined = {name for s in joining for name in _joined_tables(s)}
    assert {"orders", "users"} <= joined and {"flight", "airport"} <= joined


def _joined_tables(sql: str) -> set[str]:
    return {name for _schema, name in referenced_tables(parse_single_select(sql))}


def test_sample_databases_without_keys(pg_admin_dsn, tmp_path):
    """The shop's 25 foreign keys, left undeclared: 24 are found; the one whose name says
    nothing of its table (customer.supportrepid → employee) is out of reach of names."""
    dsn = new_database(pg_admin_dsn)
    sample_dbs.build(dsn, keys=False)
    run_step1(tmp_path / "task", dsn, sample_dbs.ALL_TABLES, CONTEXT)
    schema = SchemaMetadata.load(tmp_path / "task")
    expected = sample_dbs.declared_relationships() - {
        ("music.customer", "supportrepid", "music.employee", "employeeid")
    }
    found = {
        (f"{t.schema}.{t.name}" if t.schema != "public" else t.name, fk.columns[0],
         f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema != "public" else fk.ref_table,
         fk.ref_columns[0])
        for t in schema.tables for fk in t.foreign_keys
    }  # fmt: skip
    assert found == expected


def test_declared_keys_win(pg_admin_dsn, tmp_path):
    dsn = new_database(pg_admin_dsn)
    sample_dbs.build(dsn, keys=True)
    run_step1(tmp_path / "task", dsn, sample_dbs.ALL_TABLES, CONTEXT)
    schema = SchemaMetadata.load(tmp_path / "task")
    fks = [(t.name, fk.columns[0]) for t in schema.tables for fk in t.foreign_keys]
    assert len(fks) == len(set(fks)) == len(sample_dbs.declared_relationships())
    assert not any(fk.inferred for t in schema.tables for fk in t.foreign_keys)


def test_inference_can_be_turned_off(loose_dsn, tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    config = Config(data_root=tmp_path, infer_relationships=False)
    ctx = make_ctx(task, loose_dsn, sample_dbs.LOOSE_TABLES, CONTEXT, BuiltinLLM(), config)
    summary = step1.run(ctx)
    assert summary["relationships"] == {"enabled": False}
    schema = SchemaMetadata.load(task)
    assert not any(t.foreign_keys for t in schema.tables)
