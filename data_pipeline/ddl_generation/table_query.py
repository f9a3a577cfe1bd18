"""One SQL statement for a table's data facts: bounded count, enum check and sample together.

Reading a table's data takes a count, a sample and an enum-like check. Sent separately
they cost three round trips per table, which is most of step 1's time on hundreds of small
tables; :func:`table_query` joins the parts that are wanted into one statement::

    SELECT c.n, e.e0, e.e1, …, r._dp_present, r.c0, …
    FROM (SELECT 1) AS base
    CROSS JOIN (SELECT count(*) AS n FROM (SELECT 1 FROM t LIMIT N+1) AS x) AS c
    CROSS JOIN (WITH s AS MATERIALIZED (SELECT <candidates> FROM t … LIMIT 10000)
                SELECT (SELECT count(*) FROM s) AS e0, (SELECT count(col) FROM s) AS e1,
                       ARRAY(<most frequent values of col>) AS e2, …) AS e
    LEFT JOIN LATERAL (SELECT 1 AS _dp_present, c0, … FROM (<pool of rows>) AS sub
                       ORDER BY md5(sub._dp_ctid::text) LIMIT 20) AS r ON true

Every part is bounded: the count stops at ``N + 1`` rows, the enum check reads at most
ENUM_SCAN_ROWS rows and the sample pool at most ``sample_pool`` rows (from a TABLESAMPLE on
large tables). Each part can also be built alone (the fallback when the joint query fails).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg2 import sql

from data_pipeline.ddl_generation.sampling import ENUM_SCAN_ROWS, SAMPLE_SEED, select_expr
from data_pipeline.schema.model import ColumnMeta, TableMeta


def relation(table: TableMeta) -> sql.Composable:
    return sql.Identifier(table.schema, table.name)


def source(table: TableMeta, percent: float | None) -> sql.Composable:
    """The table, with a repeatable ``TABLESAMPLE SYSTEM`` when ``percent`` is below 100."""
    if percent is None or percent >= 100:
        return relation(table)
    return sql.SQL("{} TABLESAMPLE SYSTEM ({}) REPEATABLE ({})").format(
        relation(table), sql.Literal(round(percent, 6)), sql.Literal(SAMPLE_SEED)
    )


@dataclass
class TableQuery:
    """A built statement and how to read its result."""

    query: sql.Composable
    count: bool = False
    candidates: list[ColumnMeta] = field(default_factory=list)
    sample_names: list[str] = field(default_factory=list)

    def parse(self, rows: list[tuple]) -> tuple[int | None, tuple | None, list[tuple]]:
        """``(count, enum row, sample rows)`` from the result rows (there is always one)."""
        first, i = rows[0], 0
        count = enum_row = None
        if self.count:
            count, i = first[0], 1
        if self.candidates:
            width = 1 + 2 * len(self.candidates)
            enum_row, i = tuple(first[i : i + width]), i + width
        samples = []
        if self.sample_names:
            samples = [row[i + 1 :] for row in rows if row[i] is not None]
        return count, enum_row, samples


def table_query(
    table: TableMeta,
    base_types: dict[str, str],
    *,
    count_limit: int | None = None,
    candidates: list[ColumnMeta] | None = None,
    max_distinct: int = 20,
    enum_percent: float | None = None,
    sample_n: int = 0,
    sample_pool: int = 1000,
    sample_percent: float | None = None,
    shuffle: bool = True,
) -> TableQuery | None:
    """The statement reading the wanted parts (None when no part is wanted).

    Args:
        count_limit: count rows up to ``count_limit + 1`` (None: no count).
        candidates: text columns to check for a small set of values.
        enum_percent / sample_percent: TABLESAMPLE percentage for the part (None: no sampling).
        sample_n: sample rows wanted (0: no sample).
        sample_pool: rows read to pick the sample from.
        shuffle: pick the sample in a pseudo-random but repeatable order (needs ``ctid``, so
            only for tables and materialized views); otherwise the first rows are taken.
    """
    selects: list[sql.Composable] = []
    joins: list[sql.Composable] = []
    built = TableQuery(query=sql.SQL(""))
    if count_limit is not None:
        joins.append(
            sql.SQL(
                "CROSS JOIN (SELECT count(*) AS n FROM (SELECT 1 FROM {} LIMIT {}) AS x) AS c"
            ).format(relation(table), sql.Literal(count_limit + 1))
        )
        selects.append(sql.SQL("c.n"))
        built.count = True
    if candidates:
        joins.append(sql.SQL("CROSS JOIN ({}) AS e").format(
            _enum_part(table, candidates, max_distinct, enum_percent)
        ))  # fmt: skip
        selects += [sql.Identifier("e", f"e{j}") for j in range(1 + 2 * len(candidates))]
        built.candidates = list(candidates)
    if sample_n > 0:
        exprs, names = [], []
        for col in table.columns:
            expr = select_expr(col, base_types.get(col.name, ""))
            if expr is not None:
                exprs.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(f"c{len(names)}")))
                names.append(col.name)
        if names:
            joins.append(
                sql.SQL("LEFT JOIN LATERAL ({}) AS r ON true").format(
                    _sample_part(table, exprs, len(names), sample_n, sample_pool,
                                 sample_percent, shuffle)
                )
            )  # fmt: skip
            selects.append(sql.Identifier("r", "_dp_present"))
            selects += [sql.Identifier("r", f"c{j}") for j in range(len(names))]
            built.sample_names = names
    if not selects:
        return None
    built.query = sql.SQL("SELECT {} FROM (SELECT 1) AS base {}").format(
        sql.SQL(", ").join(selects), sql.SQL(" ").join(joins)
    )
    return built


def _enum_part(
    table: TableMeta, columns: list[ColumnMeta], max_distinct: int, percent: float | None
) -> sql.Composable:
    """Per candidate: non-null count and most frequent values (at most ``max_distinct + 1``)
    among at most ENUM_SCAN_ROWS sampled rows; e0 is the number of rows looked at."""
    idents = [sql.Identifier(c.name) for c in columns]
    parts = [sql.SQL("(SELECT count(*) FROM s) AS e0")]
    for i, ident in enumerate(idents):
        count_alias, values_alias = sql.Identifier(f"e{2 * i + 1}"), sql.Identifier(f"e{2 * i + 2}")
        parts.append(sql.SQL("(SELECT count({}) FROM s) AS {}").format(ident, count_alias))
        parts.append(
            sql.SQL(
                "ARRAY(SELECT {c}::text FROM s WHERE {c} IS NOT NULL GROUP BY 1"
                " ORDER BY count(*) DESC, 1 LIMIT {k}) AS {alias}"
            ).format(c=ident, k=sql.Literal(max_distinct + 1), alias=values_alias)
        )
    return sql.SQL("WITH s AS MATERIALIZED (SELECT {} FROM {} LIMIT {}) SELECT {}").format(
        sql.SQL(", ").join(idents),
        source(table, percent),
        sql.Literal(ENUM_SCAN_ROWS),
        sql.SQL(", ").join(parts),
    )


def _sample_part(
    table: TableMeta,
    exprs: list[sql.Composable],
    width: int,
    n: int,
    pool: int,
    percent: float | None,
    shuffle: bool,
) -> sql.Composable:
    """Values are computed (and cut) in the inner query, so at most ``pool`` short rows are
    sorted, never whole documents."""
    outputs = sql.SQL(", ").join(sql.Identifier(f"c{j}") for j in range(width))
    if not shuffle:
        inner = sql.SQL("SELECT {} FROM {} LIMIT {}").format(
            sql.SQL(", ").join(exprs), source(table, percent), sql.Literal(n)
        )
        return sql.SQL("SELECT 1 AS _dp_present, {} FROM ({}) AS sub").format(outputs, inner)
    inner = sql.SQL("SELECT {}, ctid AS _dp_ctid FROM {} LIMIT {}").format(
        sql.SQL(", ").join(exprs), source(table, percent), sql.Literal(max(pool, n))
    )
    return sql.SQL(
        "SELECT 1 AS _dp_present, {} FROM ({}) AS sub ORDER BY md5(sub._dp_ctid::text) LIMIT {}"
    ).format(outputs, inner, sql.Literal(n))
