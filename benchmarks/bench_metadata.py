"""Benchmark of step 1: 500 tables × 20 columns (3 of them with 1,000,000 rows) vs a naive reader.

The database is built here (not timed): tables ``t000``…``t499`` with 20 columns each — keys,
a foreign key to the previous table, low-cardinality text (status, category, region), free
text, codes, integers, numerics, dates, timestamps, a boolean and a jsonb — about 200 rows
each, three of them with 1,000,000 rows; comments on half of the tables and columns; then
``VACUUM ANALYZE``.

In process:

* **ours**: the real step 1, ``data_pipeline.ddl_generation.step.run(ctx)`` with the built-in
  provider: catalog in a constant number of queries, bounded counts, TABLESAMPLE samples,
  bounded enum checks, comments, and the ``.ddl``/``_detail.md``/``schema_metadata.json``
  files written.
* **baseline**: what the reference did, per table on one connection: ``information_schema``
  queries for columns, primary and foreign keys, comment lookups, an exact ``COUNT(*)``,
  ``ORDER BY random() LIMIT 20`` samples and a full ``GROUP BY`` for every text column (the
  enum candidates). It only reads metadata — no comments, no files — which favours it.

As a user runs it, each a process of its own (interpreter start and imports included):

* **process ours**: the command line, ``python data_pipeline/schema_workflow.py
  --no-db-tracking --single-step 1 --db-connection DSN --table-list FILE --business-context …
  --output-dir DIR``, with the built-in provider (no ``LLM_*`` variables passed on).
* **process reference**: ``benchmarks/reference_step1.py``, the reference's pattern: per table
  ``information_schema`` queries, an exact ``COUNT(*)``, a ``ROW_NUMBER() OVER ()`` sample and
  a ``SELECT DISTINCT`` per text column; it writes no files, which favours it.
* **process start-up**: ``schema_workflow.py --help``, the interpreter and the imports alone
  (part of *process ours*).

Usage: ``python benchmarks/bench_metadata.py [--dsn ADMIN_DSN] [--tables 500] [--big-rows
1000000] [--rounds N]``. Without ``--dsn`` an embedded PostgreSQL is started in a temporary
folder; with it, a database ``bench_metadata`` is created on that server (reused when it
already holds the same shape). Each figure is the best of ``--rounds`` runs. Ends with one line
``SUMMARY {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg2
from psycopg2 import sql

from app_config import Config
from core.demo_db import dsn_with_database
from data_pipeline.ddl_generation import step
from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.workflow.context import StepContext
from data_pipeline.workflow.params import WorkflowParams

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "bench_metadata"
CONTEXT = "高速公路服务区经营数据"
COLUMNS = """
    id bigint PRIMARY KEY,
    parent_id bigint{fk},
    status text NOT NULL,
    category varchar(20) NOT NULL,
    region varchar(10),
    name text NOT NULL,
    code varchar(20) NOT NULL,
    qty integer NOT NULL,
    score integer,
    level smallint,
    amount numeric(12,2) NOT NULL,
    price numeric(10,2),
    ratio double precision,
    created_at timestamp NOT NULL DEFAULT now(),
    updated_at timestamptz,
    biz_date date NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    note text,
    payload jsonb,
    rank_no integer
"""
INSERT = """
INSERT INTO {t} SELECT g, {parent},
    (ARRAY['open','closed','pending','void'])[g % 4 + 1],
    (ARRAY['food','retail','fuel','service','hotel','parking','repair','other'])[g % 8 + 1],
    (ARRAY['north','south','east','west','center', NULL])[g % 6 + 1],
    'item ' || g || ' of {t}', 'C' || lpad(g::text, 8, '0'),
    g % 97, g % 1000, (g % 5)::smallint, (g % 100000) / 7.0, (g % 5000) / 3.0, g / 13.0,
    timestamp '2024-01-01' + g * interval '1 minute', timestamptz '2024-01-01' + g * interval '1 hour',
    date '2023-01-01' + g % 700, g % 3 <> 0,
    CASE WHEN g % 4 = 0 THEN 'remark number ' || g END,
    jsonb_build_object('k', g % 10, 'tag', 'x' || (g % 3)),
    g
FROM generate_series(1, {rows}) AS g
"""


def _connect(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def build(admin_dsn: str, n_tables: int, big_tables: list[int], rows: int, big_rows: int) -> str:
    """Create (or reuse) the benchmark database; return its DSN."""
    shape = f"{n_tables}:{sorted(big_tables)}:{rows}:{big_rows}"
    dsn = dsn_with_database(admin_dsn, DB_NAME)
    admin = _connect(admin_dsn)
    with admin.cursor() as cur:
        cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                    " WHERE datname = %s", (DB_NAME,))  # fmt: skip
        found = cur.fetchone()
        if found and found[0] == shape:
            print(f"reusing database {DB_NAME} ({shape})")
            return dsn
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB_NAME)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    started = time.monotonic()
    conn = _connect(dsn)
    sizes = [big_rows if i in big_tables else rows for i in range(n_tables)]
    with conn.cursor() as cur:
        for i in range(n_tables):
            t = f"t{i:03d}"
            fk = f" REFERENCES t{i - 1:03d} (id)" if i else ""
            cur.execute(f"CREATE TABLE {t} ({COLUMNS.format(fk=fk)})")
            parent = f"g % {sizes[i - 1]} + 1" if i else "NULL::bigint"
            cur.execute(INSERT.format(t=t, parent=parent, rows=sizes[i]))
            if i % 2 == 0:
                cur.execute(f"COMMENT ON TABLE {t} IS %s", (f"业务表 {i}: records of kind {i}",))
                for col in ("status", "amount", "biz_date", "name", "qty"):
                    cur.execute(f"COMMENT ON COLUMN {t}.{col} IS %s", (f"{col} 字段",))
            if sizes[i] >= 100_000:
                print(f"  {t}: {sizes[i]:,} rows ({time.monotonic() - started:.0f} s)", flush=True)
        cur.execute("VACUUM ANALYZE")
    conn.close()
    with admin.cursor() as cur:
        cur.execute(
            sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(DB_NAME)), (shape,)
        )
    admin.close()
    print(f"built {n_tables} tables in {time.monotonic() - started:.1f} s")
    return dsn


def run_ours(dsn: str, tables: list[str], out_dir: Path) -> tuple[float, dict]:
    shutil.rmtree(out_dir, ignore_errors=True)
    ctx = StepContext(
        task_dir=out_dir,
        config=Config(),
        params=WorkflowParams(db_connection="bench", business_context=CONTEXT),
        source_dsn=dsn,
        db_name=DB_NAME,
        llm=BuiltinLLM(),
        tables=tables,
    )
    started = time.monotonic()
    summary = step.run(ctx)
    return time.monotonic() - started, summary


BASELINE_COLUMNS = """
SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,
       is_nullable, column_default, ordinal_position
FROM information_schema.columns WHERE table_schema = %s AND table_name = %s
ORDER BY ordinal_position"""
BASELINE_PK = """
SELECT kcu.column_name FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu
  ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = %s AND tc.table_name = %s
ORDER BY kcu.ordinal_position"""
BASELINE_FK = """
SELECT kcu.column_name, ccu.table_schema, ccu.table_name, ccu.column_name
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu
  ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
JOIN information_schema.constraint_column_usage ccu
  ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = %s AND tc.table_name = %s"""
BASELINE_COMMENTS = """
SELECT obj_description(c.oid, 'pg_class'), a.attname, col_description(c.oid, a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = %s AND c.relname = %s"""


def run_baseline(dsn: str, tables: list[str]) -> tuple[float, int]:
    """The reference's per-table reading; returns (seconds, statements)."""
    conn = psycopg2.connect(dsn)
    statements = 0
    started = time.monotonic()
    with conn.cursor() as cur:
        for name in tables:
            schema, table = "public", name.split(".")[-1]
            ref = sql.Identifier(schema, table)
            cur.execute(BASELINE_COLUMNS, (schema, table))
            columns = cur.fetchall()
            for query in (BASELINE_PK, BASELINE_FK, BASELINE_COMMENTS):
                cur.execute(query, (schema, table))
                cur.fetchall()
            cur.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(ref))
            cur.fetchone()
            cur.execute(sql.SQL("SELECT * FROM {} ORDER BY random() LIMIT 20").format(ref))
            cur.fetchall()
            statements += 6
            for col, data_type, *_ in columns:
                if data_type in ("text", "character varying", "character"):
                    cur.execute(
                        sql.SQL(
                            "SELECT {c}, COUNT(*) FROM {t} GROUP BY {c} ORDER BY 2 DESC LIMIT 21"
                        ).format(c=sql.Identifier(col), t=ref)
                    )
                    cur.fetchall()
                    statements += 1
    conn.rollback()
    conn.close()
    return time.monotonic() - started, statements


def _process_env() -> dict[str, str]:
    """The environment of the timed processes: the built-in provider, no libpq variables."""
    dropped = ("LLM_", "EMBEDDING_", "PG")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
    return env


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=_process_env(), capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[:3])} … failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return seconds, proc


def run_process_ours(dsn: str, table_file: Path, out_dir: Path) -> float:
    """The command line's step 1, start to end; checks that it wrote every file."""
    shutil.rmtree(out_dir, ignore_errors=True)
    seconds, _ = _timed(
        [
            sys.executable,
            str(ROOT / "data_pipeline" / "schema_workflow.py"),
            "--no-db-tracking",
            "--single-step",
            "1",
            "--db-connection",
            dsn,
            "--table-list",
            str(table_file),
            "--business-context",
            CONTEXT,
            "--output-dir",
            str(out_dir),
        ]
    )
    tables = sum(1 for line in table_file.read_text().splitlines() if line.strip())
    written = sum(1 for p in out_dir.iterdir() if p.suffix == ".ddl")
    assert written == tables, f"the command line wrote {written} .ddl files for {tables} tables"
    return seconds


def run_process_reference(dsn: str, table_file: Path) -> tuple[float, dict]:
    seconds, proc = _timed(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "reference_step1.py"),
            "--db-connection",
            dsn,
            "--table-list",
            str(table_file),
        ]
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("REFERENCE "))
    return seconds, json.loads(line.removeprefix("REFERENCE "))


def run_process_startup() -> float:
    seconds, _ = _timed(
        [sys.executable, str(ROOT / "data_pipeline" / "schema_workflow.py"), "--help"]
    )
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="admin DSN of a PostgreSQL server (default: embedded)")
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--rows", type=int, default=200, help="rows of an ordinary table")
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--big-tables", default="100,250,400", help="indexes of the big tables")
    parser.add_argument("--rounds", type=int, default=1, help="best of N runs of each side")
    parser.add_argument(
        "--skip", choices=("in-process", "process"), help="leave one of the two comparisons out"
    )
    args = parser.parse_args(argv)
    big = [int(x) for x in args.big_tables.split(",") if x.strip() and int(x) < args.tables]

    from core.embedded_pg import scratch_server

    with scratch_server(args.dsn, prefix="bench-metadata-") as (admin, _):
        dsn = build(admin, args.tables, big, args.rows, args.big_rows)
        tables = [f"public.t{i:03d}" for i in range(args.tables)]
        work = Path(tempfile.mkdtemp(prefix="bench-metadata-out-"))
        try:
            result = {"tables": args.tables, "big_tables": len(big), "big_rows": args.big_rows}
            if args.skip != "in-process":
                result.update(_in_process(dsn, tables, work / "task", args.rounds))
            if args.skip != "process":
                result.update(_processes(dsn, tables, work, args.rounds))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print("SUMMARY " + json.dumps(result))
    return 0


def _in_process(dsn: str, tables: list[str], out_dir: Path, rounds: int) -> dict:
    ours, baseline, summary, statements = [], [], {}, 0
    for _ in range(rounds):
        seconds, summary = run_ours(dsn, tables, out_dir)
        ours.append(seconds)
        seconds, statements = run_baseline(dsn, tables)
        baseline.append(seconds)
    assert summary["tables_succeeded"] == len(tables), summary["tables_failed"][:3]
    files = len(list(out_dir.iterdir()))
    ours_s, baseline_s = min(ours), min(baseline)
    print(
        f"ours:     {ours_s:7.2f} s  ({summary['catalog_queries']} catalog queries,"
        f" {summary['statements']} statements, {files} files written,"
        f" {summary['comments_generated']['columns']} column comments generated)"
    )
    print(f"baseline: {baseline_s:7.2f} s  ({statements} statements, metadata only)")
    return {
        "ours_s": round(ours_s, 3),
        "baseline_s": round(baseline_s, 3),
        "ratio": round(baseline_s / ours_s, 1),
    }


def _processes(dsn: str, tables: list[str], work: Path, rounds: int) -> dict:
    table_file = work / "tables.txt"
    table_file.write_text("\n".join(tables) + "\n", encoding="utf-8")
    ours, reference, startup, ref = [], [], [], {}
    run_process_startup()  # compiles what changed since the last run, as a user's first run does
    for _ in range(rounds):
        ours.append(run_process_ours(dsn, table_file, work / "cli"))
        seconds, ref = run_process_reference(dsn, table_file)
        reference.append(seconds)
        startup.append(run_process_startup())
    ours_s, reference_s, startup_s = min(ours), min(reference), min(startup)
    print(
        f"process ours:      {ours_s:7.2f} s  (schema_workflow.py --single-step 1;"
        f" {startup_s:.2f} s of it start-up and imports)"
    )
    print(f"process reference: {reference_s:7.2f} s  ({ref['statements']} statements, no files)")
    return {
        "process_ours_s": round(ours_s, 3),
        "process_reference_s": round(reference_s, 3),
        "process_ratio": round(reference_s / ours_s, 1),
        "process_startup_s": round(startup_s, 3),
    }


if __name__ == "__main__":
    raise SystemExit(main())
