"""Question→SQL templates that join tables along their foreign keys (one or two hops)."""

from __future__ import annotations

from dataclasses import dataclass

from data_pipeline.llm.rules.questions import ask, merge, strip_prefix
from data_pipeline.llm.rules.sqlgen import TableFacts, quote_ident
from data_pipeline.llm.rules.templates import Pair, aggregate, q
from data_pipeline.schema.model import ColumnMeta, ForeignKey


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


def _group_col(f: TableFacts) -> ColumnMeta | None:
    """What names a parent row in a GROUP BY: its name column, else a dimension, else key."""
    return f.name_col or (f.dims[0] if f.dims else None) or f.key_col


def link_pairs(link: Link) -> list[Pair]:
    """Candidates for one foreign key, best first."""
    c, p, lang = link.child, link.parent, link.child.lang
    if not (c.has_rows and p.has_rows and populated(link)):
        return _counts_only(link)
    self_ref = c.table.schema == p.table.schema and c.table.name == p.table.name
    join = f"FROM {c.ref} t1 JOIN {p.ref} t2 ON {on_clause(link.fk, 't1', 't2')}"
    pl = link.parent_label or p.label
    cl = strip_prefix(c.label, pl)  # "各服务区的服务区车流量" → "各服务区的车流量"
    rec = _records(("c", c), ("p", p))
    g = _group_col(p)
    pairs: list[Pair] = []
    if g is not None:
        kind = "self" if self_ref else "by_parent"
        pairs.append(
            (ask(kind, lang, rec, p=pl, c=cl),
             f"SELECT t2.{q(g)}, COUNT(*) AS record_count {join} "
             f"GROUP BY t2.{q(g)} ORDER BY record_count DESC LIMIT 10")
        )  # fmt: skip
    if g is not None and c.measures and not self_ref:
        m = c.measures[0]
        agg, name, kind = aggregate(m, "t1.")
        pairs.append(
            (ask(f"{kind}_by_parent", lang, rec, p=pl, m=c.col_label(m)),
             f"SELECT t2.{q(g)}, {agg} AS {name} {join} "
             f"GROUP BY t2.{q(g)} ORDER BY {name} DESC NULLS LAST LIMIT 10")
        )  # fmt: skip
    pairs += _counts_only(link)
    dims = [d for d in p.dims if d is not g]
    if dims and not self_ref:
        d = dims[0]
        pairs.append(
            (ask("by_parent_dim", lang, rec, p=pl, c=cl, d=p.col_label(d)),
             f"SELECT t2.{q(d)}, COUNT(*) AS record_count {join} "
             f"GROUP BY t2.{q(d)} ORDER BY record_count DESC")
        )  # fmt: skip
    n_child, n_parent = c.name_col or c.key_col, p.name_col
    if n_child is not None and n_parent is not None and not self_ref:
        pairs.append(
            (ask("with_parent", lang, rec, p=pl, c=cl, n=p.col_label(n_parent)),
             f"SELECT t1.{q(n_child)}, t2.{q(n_parent)} {join} "
             f"ORDER BY t2.{q(n_parent)}, t1.{q(n_child)} LIMIT 20")
        )  # fmt: skip
    return pairs


def populated(link: Link) -> bool:
    """False when the sample rows show the key is never set (a join would find nothing)."""
    rows = link.child.table.sample_rows
    if not rows:
        return True
    return any(all(row.get(c) is not None for c in link.fk.columns) for row in rows)


def _counts_only(link: Link) -> list[Pair]:
    """A count over the join filtered on a real parent name (always one row)."""
    c, p, lang = link.child, link.parent, link.child.lang
    n = p.name_col
    if n is None or (c.table.schema, c.table.name) == (p.table.schema, p.table.name):
        return []
    values = p.values(n, 1)
    if not values:
        return []
    pl = link.parent_label or p.label
    return [
        (ask("parent_filter", lang, _records(("c", c), ("p", p)), p=pl,
             c=strip_prefix(c.label, pl), v=p.display_value(values[0])),
         f"SELECT COUNT(*) AS record_count FROM {c.ref} t1 JOIN {p.ref} t2 "
         f"ON {on_clause(link.fk, 't1', 't2')} WHERE t2.{q(n)} = {values[0]}")
    ]  # fmt: skip


def chain_pairs(first: Link, second: Link) -> list[Pair]:
    """child → parent → grandparent: aggregates of the child per grandparent."""
    c, p, g = first.child, first.parent, second.parent
    lang = c.lang
    gcol = _group_col(g)
    if gcol is None or not (c.has_rows and g.has_rows) or g.table is c.table:
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
        agg, name, kind = aggregate(m, "t1.")
        ml = c.col_label(m)
        question = ask(f"chain_{kind}", lang, rec, g=gl, c=cl, m=ml, cm=_measure_of(cl, ml))
        select = f"{agg} AS {name}"
        order = f"{name} DESC NULLS LAST"
    else:
        question = ask("chain", lang, rec, g=gl, p=pl, c=strip_prefix(cl, pl))
        select, order = "COUNT(*) AS record_count", "record_count DESC"
    return [
        (question,
         f"SELECT t3.{q(gcol)}, {select} {join} GROUP BY t3.{q(gcol)} ORDER BY {order} LIMIT 10")
    ]  # fmt: skip


def _measure_of(child: str, measure: str) -> str:
    """``档口`` + ``楼层面积`` → ``档口楼层面积``; a long child label is left out
    (``服务区每日进场车流量`` + ``进场车辆数`` → ``进场车辆数``)."""
    merged = merge(child, measure)
    if len(merged) < len(child) + len(measure) or len(child) <= 4:
        return merged
    return measure
