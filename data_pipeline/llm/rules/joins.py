"""Question→SQL templates that join tables along their foreign keys (one or two hops)."""

from __future__ import annotations

from dataclasses import dataclass

from data_pipeline.llm.rules.questions import ask, merge, strip_prefix
from data_pipeline.llm.rules.sqlgen import TableFacts, quote_ident
from data_pipeline.llm.rules.templates import (
    Pair,
    aggregate,
    cols_sql,
    label_filter,
    label_words,
    q,
)
from data_pipeline.schema.model import ForeignKey


@dataclass
class Link:
    """A foreign key from ``child`` to ``parent`` (both listed tables)."""

    child: TableFacts
    parent: TableFacts
    fk: ForeignKey
    # How to name the parent in questions when the child has several keys to it.
    parent_label: str = ""


def _records(*named: tuple[str, TableFacts]) -> tuple[str, ...]:
    """The placeholders whose table holds records rather than named entities."""
    return tuple(key for key, f in named if not f.is_entity)


def on_clause(fk: ForeignKey, child: str, parent: str) -> str:
    return " AND ".join(
        f"{child}.{quote_ident(c)} = {parent}.{quote_ident(r)}"
        for c, r in zip(fk.columns, fk.ref_columns, strict=False)
    )


def link_pairs(link: Link) -> list[Pair]:
    """Candidates for one foreign key, best first. "Per parent" groups by the parent's key
    (the referenced columns) and shows its label, so parents sharing a name stay apart."""
    c, p, lang = link.child, link.parent, link.child.lang
    if not (c.has_rows and p.has_rows and populated(link)):
        return _counts_only(link)
    self_ref = c.table.schema == p.table.schema and c.table.name == p.table.name
    join = f"FROM {c.ref} t1 JOIN {p.ref} t2 ON {on_clause(link.fk, 't1', 't2')}"
    pl = link.parent_label or p.label
    cl = strip_prefix(c.label, pl)  # "各服务区的服务区车流量" → "各服务区的车流量"
    rec = _records(("c", c), ("p", p))
    group = cols_sql(p.entity_columns(link.fk.ref_columns), "t2.")
    pairs: list[Pair] = []
    kind = "self" if self_ref else "by_parent"
    pairs.append(
        (ask(kind, lang, rec, p=pl, c=cl),
         f"SELECT {group}, COUNT(*) AS record_count {join} "
         f"GROUP BY {group} ORDER BY record_count DESC LIMIT 10")
    )  # fmt: skip
    if c.measures and not self_ref:
        m = c.measures[0]
        agg, name, kind = aggregate(m, "t1.", entity=c.is_entity)
        pairs.append(
            (ask(f"{kind}_by_parent", lang, rec, p=pl, m=c.col_label(m)),
             f"SELECT {group}, {agg} AS {name} {join} "
             f"GROUP BY {group} ORDER BY {name} DESC NULLS LAST LIMIT 10")
        )  # fmt: skip
    if c.dates and not self_ref:
        pairs.append(_monthly(link, join, group, rec))
    pairs += _counts_only(link)
    dims = [d for d in p.dims if d.category != "boolean"]
    if dims and not self_ref:
        d = dims[0]
        pairs.append(
            (ask("by_parent_dim", lang, rec, p=pl, c=cl, d=p.dim_label(d)),
             f"SELECT t2.{q(d)}, COUNT(*) AS record_count {join} "
             f"GROUP BY t2.{q(d)} ORDER BY record_count DESC")
        )  # fmt: skip
    n_child = c.label_cols or ([c.key_col] if c.key_col else [])
    n_parent = p.label_cols
    if n_child and n_parent and not self_ref:
        cols = f"{cols_sql(n_child, 't1.')}, {cols_sql(n_parent, 't2.')}"
        n = label_words(p, n_parent)
        pairs.append(
            (ask("with_parent" if n != p.label else "with_parent_plain", lang, rec,
                 p=pl, c=cl, n=n),
             f"SELECT {cols} {join} "
             f"ORDER BY {cols_sql(n_parent, 't2.')}, {cols_sql(n_child, 't1.')} LIMIT 20")
        )  # fmt: skip
    return pairs


def _monthly(link: Link, join: str, group: str, rec: tuple[str, ...]) -> Pair:
    """Per parent and month: the child's main measure, else its count."""
    c, lang = link.child, link.child.lang
    pl = link.parent_label or link.parent.label
    dt = c.dates[0]
    month = f"date_trunc('month', t1.{q(dt)})"
    if c.measures:
        m = c.measures[0]
        agg, name, kind = aggregate(m, "t1.", entity=c.is_entity)
        question = ask(f"month_{kind}_by_parent", lang, rec, p=pl, m=c.col_label(m))
        select, order = f"{agg} AS {name}", f"{name} DESC NULLS LAST"
    else:
        question = ask("month_by_parent", lang, rec, p=pl, c=strip_prefix(c.label, pl))
        select, order = "COUNT(*) AS record_count", "record_count DESC"
    return (
        question,
        f"SELECT {month} AS month_start, {group}, {select} {join} WHERE t1.{q(dt)} IS NOT NULL "
        f"GROUP BY {month}, {group} ORDER BY month_start, {order}",
    )


def populated(link: Link) -> bool:
    """False when the sample rows show the key is never set (a join would find nothing)."""
    rows = link.child.table.sample_rows
    if not rows:
        return True
    return any(all(row.get(c) is not None for c in link.fk.columns) for row in rows)


def _counts_only(link: Link) -> list[Pair]:
    """A count over the join filtered on one real parent, named by its label (always one
    row). Only where the label names one parent: a name several parents share would count
    the children of all of them under one name."""
    c, p, lang = link.child, link.parent, link.child.lang
    if (c.table.schema, c.table.name) == (p.table.schema, p.table.name):
        return []
    if not (p.label_is_unique or len(p.label_cols) > 1):
        return []
    found = label_filter(p, "t2.")
    if found is None:
        return []
    where, value = found
    pl = link.parent_label or p.label
    return [
        (ask("parent_filter", lang, _records(("c", c), ("p", p)), p=pl,
             c=strip_prefix(c.label, pl), v=value),
         f"SELECT COUNT(*) AS record_count FROM {c.ref} t1 JOIN {p.ref} t2 "
         f"ON {on_clause(link.fk, 't1', 't2')} WHERE {where}")
    ]  # fmt: skip


def chain_pairs(first: Link, second: Link) -> list[Pair]:
    """child → parent → grandparent: aggregates of the child per grandparent."""
    c, p, g = first.child, first.parent, second.parent
    lang = c.lang
    group = cols_sql(g.entity_columns(second.fk.ref_columns), "t3.")
    if not (c.has_rows and g.has_rows) or g.table is c.table:
        return []
    if not (populated(first) and populated(second)):
        return []
    join = (
        f"FROM {c.ref} t1 JOIN {p.ref} t2 ON {on_clause(first.fk, 't1', 't2')} "
        f"JOIN {g.ref} t3 ON {on_clause(second.fk, 't2', 't3')}"
    )
    gl = second.parent_label or g.label
    pl = strip_prefix(first.parent_label or p.label, gl)
    cl = strip_prefix(c.label, gl)
    rec = _records(("c", c), ("p", p))
    if c.measures:
        m = c.measures[0]
        agg, name, kind = aggregate(m, "t1.", entity=c.is_entity)
        ml = c.col_label(m)
        question = ask(f"chain_{kind}", lang, rec, g=gl, c=cl, m=ml, cm=_measure_of(cl, ml))
        monthly = ask(f"chain_month_{kind}", lang, rec, g=gl, c=cl, m=ml, cm=_measure_of(cl, ml))
        select = f"{agg} AS {name}"
        order = f"{name} DESC NULLS LAST"
    else:
        question = ask("chain", lang, rec, g=gl, p=pl, c=strip_prefix(cl, pl))
        monthly = ask("chain_month", lang, rec, g=gl, p=pl, c=strip_prefix(cl, pl))
        select, order = "COUNT(*) AS record_count", "record_count DESC"
    pairs = [
        (question,
         f"SELECT {group}, {select} {join} GROUP BY {group} ORDER BY {order} LIMIT 10")
    ]  # fmt: skip
    if c.dates:
        dt = c.dates[0]
        month = f"date_trunc('month', t1.{q(dt)})"
        pairs.append(
            (monthly,
             f"SELECT {month} AS month_start, {group}, {select} {join} "
             f"WHERE t1.{q(dt)} IS NOT NULL GROUP BY {month}, {group} "
             f"ORDER BY month_start, {order}")
        )  # fmt: skip
    return pairs


def _measure_of(child: str, measure: str) -> str:
    """``档口`` + ``楼层面积`` → ``档口楼层面积``; a long child label is left out
    (``服务区每日进场车流量`` + ``进场车辆数`` → ``进场车辆数``)."""
    merged = merge(child, measure)
    if len(merged) < len(child) + len(measure) or len(child) <= 4:
        return merged
    return measure
