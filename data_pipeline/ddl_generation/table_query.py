"""The SQL of tables' data facts: bounded count, enum-like check and sample, several tables per
statement.

Reading a table's data takes a count, a sample and an enum-like check. Sent one table at a
time they cost a round trip (and a transaction) per table, which is most of step 1's time on
hundreds of small tables; :func:`table_query` joins the parts wanted of one table into one
``SELECT`` returning a single row ``(index, json)``, and :func:`batch_statement` joins the
SELECTs of several tables with ``UNION ALL``, so a batch of tables is one round trip::

    SELECT 0 AS i, json_build_array(
        (SELECT count(*) FROM (SELECT 1 FROM t LIMIT N+1) AS x),
        (WITH s AS MATERIALIZED (SELECT <candidates> FROM t … LIMIT 10000)
         SELECT json_build_array((SELECT json_build_array(count(*), count(col), …) FROM s),
                                 json_build_array(ARRAY(<most frequent values of col>), …))),
        (SELECT json_agg(to_json(ROW(c0, …)) ORDER BY _dp_o) FROM (<the rows whose ctid
         is among the first 20, in md5(ctid) order, of a pool of at most 1000>) AS z))::text AS j
    UNION ALL SELECT 1 AS i, json_build_array(…)::text AS j …

Rows travel as JSON because the tables of a batch have different columns; a number that a
float would change is kept as its text (as :func:`sampling.json_safe` does), and dates and
times come as ISO 8601 text.

Every part is bounded: the count stops at ``N + 1`` rows, the enum check reads at most
ENUM_SCAN_ROWS rows and the sample pool at most ``sample_pool`` rows (from a repeatable
TABLESAMPLE on large tables), so the same data gives the same sample run after run.

The SQL is built as plain text (identifiers always double-quoted, literals only numbers that
are formatted here): composing it with ``psycopg2.sql`` cost more than running it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from data_pipeline.ddl_generation.sampling import (
    ENUM_SCAN_ROWS,
    SAMPLE_SEED,
    json_number,
    select_expr,
)
from data_pipeline.schema.model import ColumnMeta, TableMeta


def ident(name: str) -> str:
    """An identifier, always quoted (any name is valid that way)."""
    return '"' + name.replace('"', '""') + '"'


def relation(table: TableMeta) -> str:
    return f"{ident(table.schema)}.{ident(table.name)}"


def source(table: TableMeta, percent: float | None) -> str:
    """The table, with a repeatable ``TABLESAMPLE SYSTEM`` when ``percent`` is below 100."""
    if percent is None or percent >= 100:
        return relation(table)
    return f"{relation(table)} TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE ({int(SAMPLE_SEED)})"


@dataclass
class TableQuery:
    """A built ``SELECT`` (one row: ``index``, JSON text) and how to read its answer."""

    index: int
    query: str
    count: bool = False
    candidates: list[ColumnMeta] = field(default_factory=list)
    sample_names: list[str] = field(default_factory=list)

    def parse(self, payload: str | None) -> tuple[int | None, tuple | None, list[tuple]]:
        """``(count, enum row, sample rows)`` from the JSON text of the row.

        The enum row is ``(rows looked at, non-null count of candidate 1, its most frequent
        values, non-null count of candidate 2, …)``, as :func:`sampling.apply_distinct` reads it.
        """
        count, enum_json, sample_json = json.loads(payload, parse_float=json_number)
        enum_row = None
        if self.candidates and enum_json is not None:
            counts, values = enum_json
            pairs = zip(counts[1:], values, strict=True)
            enum_row = (counts[0], *(x for pair in pairs for x in pair))
        samples = [tuple(row.values()) for row in sample_json or ()]
        return (count if self.count else None), enum_row, samples


def table_query(
    table: TableMeta,
    base_types: dict[str, str],
    *,
    index: int = 0,
    count_limit: int | None = None,
    candidates: list[ColumnMeta] | None = None,
    max_distinct: int = 20,
    enum_percent: float | None = None,
    sample_n: int = 0,
    sample_pool: int = 1000,
    sample_percent: float | None = None,
    shuffle: bool = True,
) -> TableQuery | None:
    """The ``SELECT`` reading the wanted parts of ``table`` (None when no part is wanted).

    Args:
        index: the first value of the row, telling the tables of a batch apart.
        count_limit: count rows up to ``count_limit + 1`` (None: no count).
        candidates: text columns to check for a small set of values.
        enum_percent / sample_percent: TABLESAMPLE percentage for the part (None: no sampling).
        sample_n: sample rows wanted (0: no sample).
        sample_pool: rows read to pick the sample from.
        shuffle: pick the sample in a pseudo-random but repeatable order (needs ``ctid``, so
            only for tables and materialized views); otherwise the first rows are taken.
    """
    built = TableQuery(index=int(index), query="")
    count_sql = enum_sql = sample_sql = "NULL"
    if count_limit is not None:
        count_sql = (
            f"(SELECT count(*) FROM (SELECT 1 FROM {relation(table)}"
            f" LIMIT {int(count_limit) + 1}) AS x)"
        )
        built.count = True
    if candidates:
        enum_sql = _enum_part(table, candidates, max_distinct, enum_percent)
        built.candidates = list(candidates)
    if sample_n > 0:
        exprs, names = [], []
        for col in table.columns:
            expr = select_expr(col, base_types.get(col.name, ""))
            if expr is not None:
                exprs.append(f"{expr} AS c{len(names)}")
                names.append(col.name)
        if names:
            sample_sql = _sample_part(
                table, exprs, len(names), sample_n, sample_pool, sample_percent, shuffle
            )
            built.sample_names = names
    if not (built.count or built.candidates or built.sample_names):
        return None
    built.query = (
        f"SELECT {built.index} AS i,"
        f" json_build_array({count_sql}, {enum_sql}, {sample_sql})::text AS j"
    )
    return built


def batch_statement(queries: list[TableQuery]) -> str:
    """One statement answering every query of ``queries``: a row per table."""
    return "\nUNION ALL ".join(q.query for q in queries)


def _enum_part(
    table: TableMeta, columns: list[ColumnMeta], max_distinct: int, percent: float | None
) -> str:
    """Rows looked at (at most ENUM_SCAN_ROWS), then per candidate its non-null count and its
    most frequent values (at most ``max_distinct + 1``). ``json_build_array`` takes at most
    100 arguments: MAX_ENUM_CANDIDATES keeps each list below that."""
    idents = [ident(c.name) for c in columns]
    counts = ", ".join(["count(*)", *(f"count({c})" for c in idents)])
    values = ", ".join(
        f"ARRAY(SELECT {c}::text FROM s WHERE {c} IS NOT NULL GROUP BY 1"
        f" ORDER BY count(*) DESC, 1 LIMIT {int(max_distinct) + 1})"
        for c in idents
    )
    return (
        f"(WITH s AS MATERIALIZED (SELECT {', '.join(idents)} FROM {source(table, percent)}"
        f" LIMIT {ENUM_SCAN_ROWS}) SELECT json_build_array("
        f"(SELECT json_build_array({counts}) FROM s), json_build_array({values})))"
    )


def _sample_part(
    table: TableMeta,
    exprs: list[str],
    width: int,
    n: int,
    pool: int,
    percent: float | None,
    shuffle: bool,
) -> str:
    """The sample: ``n`` rows of a pool of at most ``pool`` rows, in md5(ctid) order.

    The pool is read as row ids only; the values are computed (and cut) for the ``n`` rows
    picked, fetched by row id, so no whole document is read or sorted. A partitioned table's
    row ids repeat across partitions, so there the values of the whole pool are computed.
    ``ROW(...)`` (not ``json_build_array``, limited to 100 arguments) keeps any number of
    columns; the rows come as objects ``{"f1": …, …}`` in column order."""
    outputs = ", ".join(f"c{j}" for j in range(width))
    values = ", ".join(exprs)
    src, n, pool = source(table, percent), int(n), max(int(pool), int(n))
    if not shuffle:
        return (
            f"(SELECT json_agg(to_json(ROW({outputs}))) FROM (SELECT {values}"
            f" FROM {src} LIMIT {n}) AS z)"
        )
    if table.kind != "partitioned table":
        picked = (
            f"SELECT _dp_ctid FROM (SELECT ctid AS _dp_ctid FROM {src} LIMIT {pool}) AS p"
            f" ORDER BY md5(_dp_ctid::text) LIMIT {n}"
        )
        rows = (
            f"SELECT {values}, md5(ctid::text) AS _dp_o FROM {relation(table)}"
            f" WHERE ctid = ANY(ARRAY({picked}))"
        )
    else:
        inner = f"SELECT {values}, ctid AS _dp_ctid FROM {src} LIMIT {pool}"
        rows = (
            f"SELECT {outputs}, md5(sub._dp_ctid::text) AS _dp_o FROM ({inner}) AS sub"
            f" ORDER BY _dp_o LIMIT {n}"
        )
    return f"(SELECT json_agg(to_json(ROW({outputs})) ORDER BY _dp_o) FROM ({rows}) AS z)"
