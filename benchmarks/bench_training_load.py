"""Benchmark: loading 10,000 training documents into the pgvector store.

Ours: :func:`data_pipeline.training_load.loader.load_documents` (batched embedding in a thread,
one multi-row ``INSERT ... ON CONFLICT`` and one commit per batch). Baseline: what the
reference (and Vanna's ``add_ddl`` / ``add_question_sql`` through ``PGVector.add_texts``)
does — embed one document, insert one row, commit, for each document. Both use the built-in
hashing embedder and the same documents (a mix of DDL, Markdown chunks and question/SQL
pairs in Chinese and English). Then the same documents are loaded again: it must add 0 rows.

    python benchmarks/bench_training_load.py [--docs 10000] [--baseline-docs 10000] [--dsn DSN]

Without ``--dsn`` an embedded PostgreSQL is started in a temporary folder. With ``--dsn``
the tables are made in a throw-away schema, dropped at the end. The last line printed is
``SUMMARY {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
from psycopg2.extensions import make_dsn  # noqa: E402

from core.embedded_pg import scratch_server  # noqa: E402
from data_pipeline.training_load.documents import (  # noqa: E402
    TrainingDocument,
    chunk_markdown,
    question_sql_document,
)
from data_pipeline.training_load.embedders import HashingEmbedder  # noqa: E402
from data_pipeline.training_load.loader import load_documents  # noqa: E402
from data_pipeline.training_load.store_schema import row_metadata, vector_literal  # noqa: E402
from data_pipeline.training_load.vector_store import TrainingStore  # noqa: E402

TOPICS_ZH = [
    "服务区",
    "营业收入",
    "车流量",
    "加油站",
    "档口",
    "商品销售",
    "订单",
    "停车位",
    "公司",
    "路段",
]
TOPICS_EN = ["service area", "revenue", "traffic", "fuel station", "shop", "sales", "orders",
             "parking", "company", "highway segment"]  # fmt: skip
TYPES = ["integer", "bigint", "numeric(12,2)", "varchar(50)", "text", "date", "timestamp",
         "boolean"]  # fmt: skip


def make_documents(n: int, seed: int = 7) -> list[TrainingDocument]:
    """``n`` distinct documents: about 20% DDL, 40% Markdown chunks, 40% pairs."""
    rng = random.Random(seed)
    docs: list[TrainingDocument] = []
    i = 0
    while len(docs) < n:
        zh, en = rng.choice(TOPICS_ZH), rng.choice(TOPICS_EN)
        table = f"bss_{en.replace(' ', '_')}_{i}"
        columns = [
            (f"col_{en.split()[0]}_{j}", rng.choice(TYPES), f"{rng.choice(TOPICS_ZH)}{j}")
            for j in range(rng.randint(4, 14))
        ]
        kind = i % 5
        if kind == 0:
            lines = [f"-- 中文名: {zh}表 {i}", f"-- 描述: {zh} / {en} records, table {i}",
                     f"CREATE TABLE {table} ("]  # fmt: skip
            lines += [f"    {c} {t}, -- {cm}" for c, t, cm in columns]
            lines += ["    PRIMARY KEY (id)", ");"]
            docs.append(TrainingDocument.make("ddl", "\n".join(lines), f"{table}.ddl"))
        elif kind in (1, 2):
            md = [f"## {table}（{zh}表）", f"{zh}的明细数据 — {en} details for table {i}.", "",
                  "字段列表："]  # fmt: skip
            md += [f"- {c} ({t}) - {cm}，示例值 [{rng.randint(1, 999)}]" for c, t, cm in columns]
            md += ["", f"### 业务说明 {i}", f"Used to analyse {en} by day and by {zh}."]
            for n_chunk, (section, chunk) in enumerate(chunk_markdown("\n".join(md))):
                extra = {"section": section, "chunk": n_chunk}
                docs.append(
                    TrainingDocument.make("documentation", chunk, f"{table}_detail.md", extra=extra)
                )
        else:
            c = rng.choice(columns)[0]
            question = (
                f"统计每个{zh}的{rng.choice(TOPICS_ZH)}总额（第{i}题）"
                if i % 2
                else f"What is the total {en} per {rng.choice(TOPICS_EN)} in case {i}?"
            )
            sql = f"SELECT {c}, SUM(amount) AS total FROM {table} GROUP BY {c} ORDER BY total DESC LIMIT {i % 50 + 1};"
            docs.append(question_sql_document(question, sql, f"qs_bench_{i}_pair.json"))
        i += 1
    return docs[:n]


def baseline_load(store: TrainingStore, docs, embedder) -> int:
    """Row by row, as ``PGVector.add_texts`` per item does: embed, insert, commit."""
    ids = store.collection_ids()
    added = 0
    conn = psycopg2.connect(store.dsn)
    try:
        with conn.cursor() as cur:
            for doc in docs:
                vec = vector_literal(embedder.embed([doc.embedding_text])[0])
                cur.execute(
                    "INSERT INTO langchain_pg_embedding "
                    "(id, collection_id, embedding, document, cmetadata) "
                    "VALUES (%s, %s::uuid, %s::vector, %s, %s::jsonb) "
                    "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
                    "document = EXCLUDED.document, cmetadata = EXCLUDED.cmetadata",
                    (doc.doc_id, ids[doc.collection], vec, doc.content,
                     row_metadata(doc, "bench_baseline", "bench")),
                )  # fmt: skip
                conn.commit()
                added += cur.rowcount
    finally:
        conn.close()
    return added


def run(dsn: str, n_docs: int, n_baseline: int) -> dict:
    docs = make_documents(n_docs)
    print(f"documents: {len(docs)} (avg {sum(len(d.content) for d in docs) / len(docs):.0f} chars)")
    embedder = HashingEmbedder(384)
    store = TrainingStore(dsn)
    try:
        store.ensure(embedder.dimension)

        base_docs = docs[:n_baseline]
        t = time.perf_counter()
        baseline_load(store, base_docs, HashingEmbedder(384))
        base_s = time.perf_counter() - t
        base_rate = len(base_docs) / base_s
        print(
            f"baseline (row by row): {len(base_docs)} docs in {base_s:.2f} s = {base_rate:.0f} docs/s"
        )
        store.truncate_vector_tables()

        t = time.perf_counter()
        first = load_documents(
            store, docs, HashingEmbedder(384), task_id="bench_ours", db_name="bench"
        )
        ours_s = time.perf_counter() - t
        ours_rate = len(docs) / ours_s
        print(f"ours (batched): {len(docs)} docs in {ours_s:.2f} s = {ours_rate:.0f} docs/s, "
              f"{first.inserted} inserted")  # fmt: skip

        before = store.total()
        t = time.perf_counter()
        second = load_documents(
            store, docs, HashingEmbedder(384), task_id="bench_ours", db_name="bench"
        )
        again_s = time.perf_counter() - t
        added = store.total() - before
        print(f"second load: {again_s:.2f} s, {second.inserted} inserted, "
              f"{second.already_present} already present, rows added {added}")  # fmt: skip
        counts = store.counts()
        print(f"store counts: {counts}")
    finally:
        store.close()
    return {
        "documents": len(docs),
        "baseline_documents": len(base_docs),
        "ours_docs_per_s": round(ours_rate, 1),
        "baseline_docs_per_s": round(base_rate, 1),
        "ratio": round(ours_rate / base_rate, 2),
        "first_load_inserted": first.inserted,
        "second_load_seconds": round(again_s, 3),
        "second_load_added": added,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--baseline-docs", type=int, default=None, help="default: --docs")
    parser.add_argument("--dsn", help="a PostgreSQL database with pgvector (default: embedded)")
    args = parser.parse_args()
    n_baseline = min(args.baseline_docs or args.docs, args.docs)
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    schema = f"dp_bench_{os.getpid()}"
    if args.dsn:
        # A server of the user's: work in a throw-away schema, dropped afterwards.
        with psycopg2.connect(args.dsn) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {schema}")
        try:
            summary = run(make_dsn(args.dsn, options=f"-c search_path={schema},public"),
                          args.docs, n_baseline)  # fmt: skip
        finally:
            with psycopg2.connect(args.dsn) as conn, conn.cursor() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    else:
        with scratch_server(prefix="dp-bench-") as (dsn, _):
            summary = run(dsn, args.docs, n_baseline)
    targets_met = (
        summary["ours_docs_per_s"] >= 2000
        and summary["ratio"] >= 5
        and summary["second_load_added"] == 0
    )
    print("targets (>= 2000 docs/s, >= 5x baseline, second load adds 0):",
          "met" if targets_met else "NOT met")  # fmt: skip
    print("SUMMARY " + json.dumps(summary))
    return 0 if targets_met else 1


if __name__ == "__main__":
    sys.exit(main())
