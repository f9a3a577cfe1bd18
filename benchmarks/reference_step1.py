"""The reference implementation's pattern of step 1, as a process of its own (for benchmarks).

What the reference did for each listed table, one table after the other over one connection:
``information_schema`` queries for the columns, the primary key and the foreign keys, a
comment lookup, an exact ``COUNT(*)``, a sample of 20 rows spread over the table by
``ROW_NUMBER() OVER ()`` (which numbers every row first), and a ``SELECT DISTINCT … LIMIT 21``
per text column to find the enum-like ones. It writes no files (which favours it).

Usage: ``python benchmarks/reference_step1.py --db-connection DSN --table-list FILE``; prints
one line ``REFERENCE {json}`` (tables read, statements, seconds).
"""

from __future__ import annotations

import argparse
import json
import time

import psycopg2
from psycopg2 import sql

COLUMNS = """
SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,
       is_nullable, column_default, ordinal_position
FROM information_schema.columns WHERE table_schema = %s AND table_name = %s
ORDER BY ordinal_position"""
PRIMARY_KEY = """
SELECT kcu.column_name FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu
  ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = %s AND tc.table_name = %s
ORDER BY kcu.ordinal_position"""
FOREIGN_KEYS = """
SELECT kcu.column_name, ccu.table_schema, ccu.table_name, ccu.column_name
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu
  ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
JOIN information_schema.constraint_column_usage ccu
  ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = %s AND tc.table_name = %s"""
COMMENTS = """
SELECT obj_description(c.oid, 'pg_class'), a.attname, col_description(c.oid, a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = %s AND c.relname = %s"""
SAMPLE = """
SELECT * FROM (SELECT t.*, ROW_NUMBER() OVER () AS rn FROM {t} AS t) AS numbered
WHERE rn % GREATEST({n} / 20, 1) = 0 LIMIT 20"""
TEXT_TYPES = ("text", "character varying", "character")


def read_table(cur, schema: str, table: str) -> int:
    """Everything the reference read of one table; returns the statements run."""
    ref = sql.Identifier(schema, table)
    cur.execute(COLUMNS, (schema, table))
    columns = cur.fetchall()
    for query in (PRIMARY_KEY, FOREIGN_KEYS, COMMENTS):
        cur.execute(query, (schema, table))
        cur.fetchall()
    cur.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(ref))
    rows = cur.fetchone()[0]
    cur.execute(sql.SQL(SAMPLE).format(t=ref, n=sql.Literal(rows)))
    cur.fetchall()
    statements = 6
    for name, data_type, *_ in columns:
        if data_type in TEXT_TYPES:
            cur.execute(
                sql.SQL("SELECT DISTINCT {c} FROM {t} LIMIT 21").format(
                    c=sql.Identifier(name), t=ref
                )
            )
            cur.fetchall()
            statements += 1
    return statements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-connection", required=True)
    parser.add_argument("--table-list", required=True)
    args = parser.parse_args(argv)
    started = time.monotonic()
    names = []
    with open(args.table_list, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                schema, _, table = line.rpartition(".")
                names.append((schema or "public", table))
    conn = psycopg2.connect(args.db_connection)
    statements = 0
    try:
        with conn.cursor() as cur:
            for schema, table in names:
                statements += read_table(cur, schema, table)
        conn.rollback()
    finally:
        conn.close()
    seconds = round(time.monotonic() - started, 3)
    print("REFERENCE " + json.dumps({"tables": len(names), "statements": statements, "s": seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
