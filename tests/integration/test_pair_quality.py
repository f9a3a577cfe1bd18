"""Training data a Text-to-SQL assistant can trust, on databases shaped like the public sample
databases users try first (see ``tests/support/sample_dbs.py``): a rental shop with a
partitioned table and people named by first + last name, a music store with lower-case glued
names and names that repeat. Steps 1 and 2 run for real with the built-in provider, in a
Chinese and an English business context, with every table listed (partitions included).

What is checked is what a user of the pairs relies on:
* no pair merges different entities under a shared name (a GROUP BY on a name that does not
  identify its row also groups by the row's key);
* no partition is queried or documented as a table of its own;
* no identifier appears in a question;
* sums only of additive measures (no total of a per-film attribute);
* every pair runs and returns rows, every listed table is covered.
"""

from __future__ import annotations

import json
import re

import psycopg2
import pytest
from sqlglot import exp

from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.qa_generation import step as step2
from data_pipeline.schema.model import SchemaMetadata
from data_pipeline.schema.sql_checks import parse_single_select, referenced_tables
from tests.conftest import new_database
from tests.integration.test_qa_generation import make_ctx, run_readonly, run_step1
from tests.support import sample_dbs

# Steps 1 and 2 on two contexts over a 24-table database: part of `make test`, not the inner loop.
pytestmark = pytest.mark.slow

CONTEXTS = {"zh": "音像租赁店与音乐商店的经营分析", "en": "DVD rental shop and music store sales"}
# Identifiers that are plain English words may appear in English questions.
ENGLISH_WORDS = {
    "country", "city", "address", "store", "staff", "customer", "film", "inventory", "rental",
    "payment", "artist", "album", "genre", "track", "employee", "invoice", "playlist", "name",
    "title", "email", "active", "length", "rating", "amount", "composer", "milliseconds",
    "bytes", "quantity", "total", "company", "phone", "district", "username", "bpm",
}  # fmt: skip
# Per-film and per-track attributes: adding them up over films means nothing.
NOT_ADDITIVE = {("film", "rental_duration"), ("film", "release_year"), ("film", "rental_rate"),
                ("film", "length"), ("track", "unitprice"), ("invoiceline", "unitprice")}  # fmt: skip


@pytest.fixture(scope="module")
def shop_dsn(pg_admin_dsn) -> str:
    dsn = new_database(pg_admin_dsn)
    sample_dbs.build(dsn)
    return dsn


@pytest.fixture(scope="module", params=["zh", "en"])
def run(request, shop_dsn, tmp_path_factory):
    """(language, task folder, schema, pairs) of one run of steps 1 and 2 on the shop."""
    lang = request.param
    task = tmp_path_factory.mktemp(f"quality_{lang}") / "task"
    run_step1(task, shop_dsn, sample_dbs.ALL_TABLES, CONTEXTS[lang])
    ctx = make_ctx(task, shop_dsn, sample_dbs.ALL_TABLES, CONTEXTS[lang], BuiltinLLM())
    summary = step2.run(ctx)
    pairs = json.loads((task / summary["pair_file"]).read_text(encoding="utf-8"))
    return lang, task, SchemaMetadata.load(task), pairs


def _aliases(tree: exp.Expression) -> dict[str, tuple[str, str]]:
    return {t.alias_or_name: (t.db or "public", t.name) for t in tree.find_all(exp.Table)}


def _unique_columns(schema: SchemaMetadata) -> dict[tuple[str, str], set[str]]:
    """Per table: the columns whose value tells a row apart (unique, or a one-column key)."""
    out = {}
    for t in schema.tables:
        unique = {c.name for c in t.columns if c.is_unique}
        if len(t.primary_key) == 1:
            unique.add(t.primary_key[0])
        out[(t.schema, t.name)] = unique
    return out


def _distinct_counts(dsn: str, schema: SchemaMetadata) -> dict[tuple[str, str, str], int]:
    conn = psycopg2.connect(dsn)
    counts = {}
    with conn.cursor() as cur:
        for t in schema.tables:
            for c in t.columns:
                if c.category == "text":
                    cur.execute(f'SELECT count(DISTINCT "{c.name}") FROM "{t.schema}"."{t.name}"')
                    counts[(t.schema, t.name, c.name)] = cur.fetchone()[0]
    conn.close()
    return counts


def test_partitions_are_documented_and_queried_as_their_parent(run):
    _lang, task, schema, pairs = run
    names = {t.name for t in schema.tables}
    assert "payment" in names and not names & sample_dbs.PARTITIONS
    payment = schema.table("public", "payment")
    assert sorted(payment.partitions) == sorted(sample_dbs.PARTITIONS)
    detail = (task / "payment_detail.md").read_text(encoding="utf-8")
    assert all(p in detail for p in sample_dbs.PARTITIONS)
    assert not list(task.glob("payment_p2022*"))
    for p in pairs:
        used = {name for _schema, name in referenced_tables(parse_single_select(p["sql"]))}
        assert not used & sample_dbs.PARTITIONS, p


def test_no_entity_is_merged_by_a_shared_name(run, shop_dsn):
    _lang, _task, schema, pairs = run
    unique = _unique_columns(schema)
    distinct = _distinct_counts(shop_dsn, schema)
    grouped_by_name = 0
    for p in pairs:
        tree = parse_single_select(p["sql"])
        group = tree.args.get("group")
        if not group:
            continue
        aliases = _aliases(tree)
        cols = [c for e in group.expressions for c in e.find_all(exp.Column)]
        by_table: dict[tuple[str, str], set[str]] = {}
        for c in cols:
            table = aliases.get(c.table) if c.table else next(iter(aliases.values()))
            by_table.setdefault(table, set()).add(c.name)
        for table, names in by_table.items():
            meta = schema.table(*table)
            for name in names:
                col = meta.column(name)
                if col is None or col.category != "text" or name in unique[table]:
                    continue
                # A name column (many distinct values that still repeat) needs the row's key.
                if distinct[(*table, name)] > 20:
                    grouped_by_name += 1
                    assert names & unique[table], (p, table, name)
    assert grouped_by_name >= 5  # the shop's people, films, albums and tracks are grouped


def test_no_identifier_in_a_question(run):
    """No identifier in a question; what the glossary cannot translate is listed."""
    lang, task, schema, pairs = run
    detail = (task / "metadata_detail.md").read_text(encoding="utf-8")
    listed = detail.partition("## 未翻译的名称")[2] if lang == "zh" else ""
    if lang == "zh":
        assert "music.track.bpm → bpm" in listed
    identifiers = {t.name for t in schema.tables} | {
        c.name for t in schema.tables for c in t.columns
    }
    identifiers |= sample_dbs.PARTITIONS
    for p in pairs:
        # Values from the data are quoted (“…” or '…') and may be anything.
        text = re.sub(r"“[^”]*”|'[^']*'", "", p["question"])
        if lang == "zh":
            latin = set(re.findall(r"[A-Za-z_]+", text)) - {"ID"}
            assert all(f"→ {w}" in listed for w in latin), p["question"]
        else:
            words = {w.lower() for w in re.findall(r"[A-Za-z0-9_]+", text)}
            leaked = {i for i in identifiers if i.lower() in words} - ENGLISH_WORDS
            assert not leaked, p["question"]


def test_sums_only_of_additive_measures(run):
    _lang, _task, _schema, pairs = run
    for p in pairs:
        tree = parse_single_select(p["sql"])
        aliases = _aliases(tree)
        for total in tree.find_all(exp.Sum):
            for c in total.find_all(exp.Column):
                table = aliases.get(c.table) if c.table else next(iter(aliases.values()))
                assert (table[1], c.name) not in NOT_ADDITIVE, p


def test_every_pair_runs_and_returns_rows_and_every_table_is_covered(run, shop_dsn):
    _lang, _task, schema, pairs = run
    sqls = [p["sql"] for p in pairs]
    results = run_readonly(shop_dsn, sqls)
    failures = [(s, r) for s, r in zip(sqls, results, strict=True) if not isinstance(r, int)]
    assert failures == []
    empty = [s for s, r in zip(sqls, results, strict=True) if r == 0]
    assert empty == []
    listed = {(t.schema, t.name) for t in schema.tables}
    assert len(listed) == len(sample_dbs.ALL_TABLES) - len(sample_dbs.PARTITIONS)
    used = {t for s in sqls for t in referenced_tables(parse_single_select(s))}
    assert listed <= used, listed - used
    # The pair count grows with the tables: 8 per table by default.
    assert len(pairs) >= 8 * len(listed)
    questions = [p["question"] for p in pairs]
    assert len(set(questions)) == len(questions)


def test_questions_per_person_name_and_per_key(run):
    """People are counted per person (key + first and last name), invoices per invoice."""
    lang, _task, _schema, pairs = run
    by_sql = {" ".join(p["sql"].split()): p["question"] for p in pairs}
    per_customer = [
        s for s in by_sql if "JOIN music.customer t2" in s and "GROUP BY t2.customerid" in s
    ]
    assert per_customer, "invoices per customer"
    assert all("t2.firstname, t2.lastname" in s for s in per_customer)
    per_invoice = [
        s for s in by_sql if "JOIN music.invoice t2" in s and "GROUP BY t2.invoiceid" in s
    ]
    assert per_invoice, "lines per invoice"
    word = "发票" if lang == "zh" else "invoice"
    assert all(word in by_sql[s] for s in per_invoice)
