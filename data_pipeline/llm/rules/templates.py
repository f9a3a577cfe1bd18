"""Single-table question→SQL templates over :class:`TableFacts`.

Each function returns candidate ``(question, sql)`` pairs for one table, best first. Filters
use real sample values, so the SQL returns rows; tables without rows get only aggregates
without GROUP BY (which always return one row).
"""

from __future__ import annotations

from data_pipeline.llm.rules.questions import ask
from data_pipeline.llm.rules.sqlgen import TableFacts, is_averaged, literal, quote_ident
from data_pipeline.schema.model import ColumnMeta

Pair = tuple[str, str]


def q(col: ColumnMeta) -> str:
    return quote_ident(col.name)


def alias(prefix: str, col: ColumnMeta) -> str:
    return quote_ident(f"{prefix}_{col.name}"[:60])


def _ask(kind: str, f: TableFacts, **words: str) -> str:
    """The question of ``kind`` about table ``f`` (counted as records unless it names rows)."""
    return ask(kind, f.lang, records=() if f.is_entity else ("t",), t=f.label, **words)


def aggregate(col: ColumnMeta, prefix: str = "", entity: bool = False) -> tuple[str, str, str]:
    """(SQL aggregate, alias, question kind suffix) for a measure: AVG for rates, prices and
    attributes of entities (a film's length), else SUM (see :func:`is_averaged`)."""
    if is_averaged(col, entity):
        # Cast first: AVG has no money (or other exotic numeric) variant, ROUND no float one.
        return f"ROUND(AVG({prefix}{q(col)}::numeric), 2)", alias("avg", col), "avg"
    return f"SUM({prefix}{q(col)})", alias("total", col), "sum"


def single_table(f: TableFacts) -> list[Pair]:
    """All single-table candidates for ``f``, most useful first."""
    if not f.has_rows:
        return _aggregates_only(f)
    lists = [
        _group_counts(f), _group_measures(f), _trends(f), _tops(f), _filters(f),
        _stats(f), [_count_all(f)], _lookups(f), _distincts(f), _latest(f), _since(f),
        _thresholds(f), _month_dims(f), _bools(f), _null_counts(f),
    ]  # fmt: skip
    return _interleave(lists)


def essentials(f: TableFacts) -> list[Pair]:
    """What every table gets first: a count, its main measure by its main dimension, a
    monthly trend on its main date, a top-N by its main measure."""
    if not f.has_rows:
        return _aggregates_only(f)[:2]
    picks = [[_count_all(f)], _group_measures(f) or _group_counts(f), _trends(f), _tops(f)]
    return [x[0] for x in picks if x]


def _interleave(lists: list[list[Pair]]) -> list[Pair]:
    """First of each kind, then second of each kind, ... so every kind appears early."""
    out: list[Pair] = []
    depth = max((len(x) for x in lists), default=0)
    for i in range(depth):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def _aggregates_only(f: TableFacts) -> list[Pair]:
    pairs = [_count_all(f)]
    pairs += _stats(f) + _distincts(f) + _null_counts(f)
    for m in [m for m in f.measures if not is_averaged(m, f.is_entity)][:2]:
        pairs.append(
            (_ask("total", f, m=f.col_label(m)),
             f"SELECT SUM({q(m)}) AS {alias('total', m)} FROM {f.ref}")
        )  # fmt: skip
    return pairs


def _count_all(f: TableFacts) -> Pair:
    return _ask("count_all", f), f"SELECT COUNT(*) AS record_count FROM {f.ref}"


def _group_counts(f: TableFacts) -> list[Pair]:
    return [
        (_ask("group_count", f, d=f.dim_label(d)),
         f"SELECT {q(d)}, COUNT(*) AS record_count FROM {f.ref} "
         f"GROUP BY {q(d)} ORDER BY record_count DESC LIMIT 20")
        for d in f.dims[:3]
    ]  # fmt: skip


def _group_measures(f: TableFacts) -> list[Pair]:
    pairs = []
    for i, m in enumerate(f.measures[:3]):
        if not f.dims:
            break
        d = f.dims[i % len(f.dims)]
        agg, name, kind = aggregate(m, entity=f.is_entity)
        pairs.append(
            (_ask(f"group_{kind}", f, d=f.dim_label(d), m=f.col_label(m)),
             f"SELECT {q(d)}, {agg} AS {name} FROM {f.ref} "
             f"GROUP BY {q(d)} ORDER BY {name} DESC NULLS LAST LIMIT 20")
        )  # fmt: skip
    return pairs


def _trends(f: TableFacts) -> list[Pair]:
    pairs = []
    for i, dt in enumerate(f.dates[:2]):
        month = f"date_trunc('month', {q(dt)})"
        where = f"WHERE {q(dt)} IS NOT NULL "
        if i == 0 and f.measures:
            m = f.measures[0]
            agg, name, kind = aggregate(m, entity=f.is_entity)
            pairs.append(
                (_ask(f"trend_{kind}", f, m=f.col_label(m), dt=f.col_label(dt)),
                 f"SELECT {month} AS month_start, {agg} AS {name} FROM {f.ref} "
                 f"{where}GROUP BY 1 ORDER BY 1")
            )  # fmt: skip
        else:
            pairs.append(
                (_ask("trend_count", f, dt=f.col_label(dt)),
                 f"SELECT {month} AS month_start, COUNT(*) AS record_count FROM {f.ref} "
                 f"{where}GROUP BY 1 ORDER BY 1")
            )  # fmt: skip
    for dt in f.dates[:1]:
        pairs.append(
            (_ask("year_count", f, dt=f.col_label(dt)),
             f"SELECT EXTRACT(YEAR FROM {q(dt)}) AS year_no, COUNT(*) AS record_count "
             f"FROM {f.ref} WHERE {q(dt)} IS NOT NULL GROUP BY 1 ORDER BY 1")
        )  # fmt: skip
        pairs.append(
            (_ask("range", f, dt=f.col_label(dt)),
             f"SELECT MIN({q(dt)}) AS earliest, MAX({q(dt)}) AS latest FROM {f.ref}")
        )  # fmt: skip
    return pairs


def _label_cols(f: TableFacts) -> list[ColumnMeta]:
    """What names a row in a listing: its label (name, or first and last name), else its key."""
    return f.label_cols or ([f.key_col] if f.key_col else [])


def cols_sql(cols: list[ColumnMeta], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{q(c)}" for c in cols)


def _tops(f: TableFacts) -> list[Pair]:
    label = _label_cols(f)
    pairs = []
    for i, m in enumerate(f.measures[:2]):
        if not label or not f.values(m, 1):
            continue
        kind, order = ("top", "DESC") if i == 0 else ("bottom", "ASC")
        pairs.append(
            (_ask(kind, f, m=f.col_label(m)),
             f"SELECT {cols_sql(label)}, {q(m)} FROM {f.ref} WHERE {q(m)} IS NOT NULL "
             f"ORDER BY {q(m)} {order} LIMIT 10")
        )  # fmt: skip
    return pairs


def _filters(f: TableFacts) -> list[Pair]:
    pairs = []
    label = _label_cols(f)
    for i, d in enumerate(f.dims[:2]):
        values = f.values(d, 1)
        if not values or d.category == "boolean":
            continue
        v = values[0]
        shown = f.display_value(v)
        pairs.append(
            (_ask("filter_count", f, d=f.col_label(d), v=shown),
             f"SELECT COUNT(*) AS record_count FROM {f.ref} WHERE {q(d)} = {v}")
        )  # fmt: skip
        m = f.measures[i % len(f.measures)] if f.measures else None
        if m is not None and label and all(c is not d for c in label):
            pairs.append(
                (_ask("filter_list", f, d=f.col_label(d), v=shown,
                     n=label_words(f, label), m=f.col_label(m)),
                 f"SELECT {cols_sql(label)}, {q(m)} FROM {f.ref} WHERE {q(d)} = {v} "
                 f"ORDER BY {q(m)} DESC NULLS LAST LIMIT 20")
            )  # fmt: skip
        if m is not None:
            agg, name, kind = aggregate(m, entity=f.is_entity)
            pairs.append(
                (_ask(f"filter_{kind}", f, d=f.col_label(d), v=shown,
                     m=f.col_label(m)),
                 f"SELECT {agg} AS {name} FROM {f.ref} WHERE {q(d)} = {v}")
            )  # fmt: skip
    return pairs


def _stats(f: TableFacts) -> list[Pair]:
    return [
        (_ask("stats", f, m=f.col_label(m)),
         f"SELECT ROUND(AVG({q(m)}::numeric), 2) AS {alias('avg', m)}, "
         f"MAX({q(m)}) AS {alias('max', m)}, MIN({q(m)}) AS {alias('min', m)} FROM {f.ref}")
        for m in f.measures[:2]
    ]  # fmt: skip


def label_words(f: TableFacts, cols: list[ColumnMeta]) -> str:
    """``名称`` for a name column; ``姓名`` / ``name`` for first and last name together."""
    if len(cols) == 2 and cols == f.label_cols:
        return "姓名" if f.lang == "zh" else "name"
    return f.col_label(cols[0])


def label_filter(f: TableFacts, prefix: str = "") -> tuple[str, str] | None:
    """(WHERE condition, shown value) naming one real row by its label: ``first_name =
    'MARY' AND last_name = 'SMITH'`` → ``MARY SMITH`` (both values from one sample row)."""
    cols = f.label_cols
    if not cols:
        return None
    for row in [*f.table.sample_rows, None]:
        if row is None:
            if len(cols) > 1:
                return None
            values = f.values(cols[0], 1)
        else:
            values = [literal(row.get(c.name)) for c in cols]
        if values and all(values):
            where = " AND ".join(f"{prefix}{q(c)} = {v}" for c, v in zip(cols, values, strict=True))
            return where, " ".join(f.display_value(v) for v in values)
    return None


def _lookups(f: TableFacts) -> list[Pair]:
    found = label_filter(f)
    if found is None:
        return []
    where, value = found
    label = f.label_cols
    shown = [c for c in f.table.columns if c not in label and c.category != "json"][:6]
    n = label_words(f, label)
    kind = "lookup_self" if n == f.label or len(label) > 1 else "lookup"
    return [
        (_ask(kind, f, n=n, v=value),
         f"SELECT {cols_sql([*label, *shown])} FROM {f.ref} WHERE {where} LIMIT 20")
    ]  # fmt: skip


def _distincts(f: TableFacts) -> list[Pair]:
    cols = [d for d in f.dims if d.category != "boolean"] + [
        c for c in f.texts if c not in f.dims and c is not f.name_col
    ]
    return [
        (_ask("distinct", f, d=f.col_label(c)),
         f"SELECT COUNT(DISTINCT {q(c)}) AS distinct_count FROM {f.ref}")
        for c in cols[:2]
    ]  # fmt: skip


def _latest(f: TableFacts) -> list[Pair]:
    if not f.dates:
        return []
    dt = f.dates[-1]
    shown = [*f.label_cols, *f.measures[:2], *f.dims[:1]]
    cols = ", ".join(q(c) for c in [*shown, dt])
    return [
        (_ask("latest", f, dt=f.col_label(dt)),
         f"SELECT {cols} FROM {f.ref} WHERE {q(dt)} IS NOT NULL ORDER BY {q(dt)} DESC LIMIT 10")
    ]  # fmt: skip


def _since(f: TableFacts) -> list[Pair]:
    for dt in f.dates[:1]:
        values = sorted(f.values(dt, 5))
        if values:
            v = values[0]  # the earliest sample: many rows are on or after it
            return [
                (_ask("since", f, dt=f.col_label(dt), v=f.display_value(v)),
                 f"SELECT COUNT(*) AS record_count FROM {f.ref} WHERE {q(dt)} >= {v}")
            ]  # fmt: skip
    return []


def _thresholds(f: TableFacts) -> list[Pair]:
    label = _label_cols(f)
    for m in f.measures[:1]:
        values = [v for v in f.values(m, 10) if not v.startswith("'")]
        if not label or not values:
            continue
        v = sorted(values, key=float)[len(values) // 2]  # a median sample: about half match
        return [
            (_ask("at_least", f, m=f.col_label(m), v=v),
             f"SELECT {cols_sql(label)}, {q(m)} FROM {f.ref} WHERE {q(m)} >= {v} "
             f"ORDER BY {q(m)} DESC LIMIT 20")
        ]  # fmt: skip
    return []


def _month_dims(f: TableFacts) -> list[Pair]:
    if not f.dates or not f.dims:
        return []
    dt, d = f.dates[0], f.dims[0]
    return [
        (_ask("month_dim", f, d=f.dim_label(d)),
         f"SELECT date_trunc('month', {q(dt)}) AS month_start, {q(d)}, COUNT(*) AS record_count "
         f"FROM {f.ref} WHERE {q(dt)} IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2")
    ]  # fmt: skip


def _bool_question(f: TableFacts, col: ColumnMeta) -> str:
    """``是否在营`` → "在营的档口有多少个？", ``whether active`` → "How many stalls are active?"."""
    label = f.col_label(col)
    lowered = label.lower()
    if f.lang == "zh" and label.startswith("是否") and len(label) > 3:
        return _ask("bool_is", f, b=label[2:])
    if f.lang == "en" and lowered.startswith("whether it has ") and len(label) > 16:
        return _ask("bool_has", f, b=label[len("whether it has ") :])
    if f.lang == "en" and lowered.startswith("whether ") and len(label) > 9:
        return _ask("bool_is", f, b=label[len("whether ") :])
    return _ask("bool_count", f, b=label)


def _bools(f: TableFacts) -> list[Pair]:
    return [
        (_bool_question(f, b),
         f"SELECT COUNT(*) AS record_count FROM {f.ref} WHERE {q(b)} IS TRUE")
        for b in f.dims if b.category == "boolean"
    ][:1]  # fmt: skip


def _null_counts(f: TableFacts) -> list[Pair]:
    cols = [c for c in f.table.columns if c.nullable and not c.is_primary_key]
    return [
        (_ask("null_count", f, c=f.col_label(c)),
         f"SELECT COUNT(*) AS record_count FROM {f.ref} WHERE {q(c)} IS NULL")
        for c in cols[:1]
    ]  # fmt: skip
