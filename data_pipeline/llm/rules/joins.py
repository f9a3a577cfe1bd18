"""Question→SQL templates that join tables along their foreign keys (one or two hops)."""

from __future__ import annotations

from dataclasses import dataclass

from data_pipeline.llm.rules.questions import ask
from data_pipeline.llm.rules.sqlgen import TableFacts, quote_ident
from data_pipeline.llm.rules.templates import Pair, aggregate, q
from data_pipeline.schema_model import ColumnMeta, ForeignKey


@dataclass
class Link:
    """A foreign key from ``child`` to ``parent`` (both listed tables)."""

    child: TableFacts
    parent: TableFacts
    fk: ForeignKey
    # How to name the parent in questions when the child has several keys to it.
    parent_label: str = ""


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
    g = _group_col(p)
    pairs: list[Pair] = []
    if g is not None:
        kind = "self" if self_ref else "by_parent"
        pairs.append(
            (ask(kind, lang, p=pl, c=c.label),
             f"SELECT t2.{q(g)}, COUNT(*) AS record_count {join} "
             f"GROUP BY t2.{q(g)} ORDER BY record_count DESC LIMIT 10")
        )  # fmt: skip
    if g is not None and c.measures and not self_ref:
        m = c.measures[0]
        agg, name, kind = aggregate(m, "t1.")
        pairs.append(
            (ask(f"{kind}_by_parent", lang, p=pl, m=c.col_label(m)),
             f"SELECT t2.{q(g)}, {agg} AS {name} {join} "
             f"GROUP BY t2.{q(g)} ORDER BY {name} DESC NULLS LAST LIMIT 10")
        )  # fmt: skip
    pairs += _counts_only(link)
    dims = [d for d in p.dims if d is not g]
    if dims and not self_ref:
        d = dims[0]
        pairs.append(
            (ask("by_parent_dim", lang, p=pl, c=c.label, d=p.col_label(d)),
             f"SELECT t2.{q(d)}, COUNT(*) AS record_count {join} "
             f"GROUP BY t2.{q(d)} ORDER BY record_count DESC")
        )  # fmt: skip
    n_child, n_parent = c.name_col or c.key_col, p.name_col
    if n_child is not None and n_parent is not None and not self_ref:
        pairs.append(
            (ask("with_parent", lang, p=pl, c=c.label, n=p.col_label(n_parent)),
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
    return [
        (ask("parent_filter", lang, p=link.parent_label or p.label, c=c.label,
             v=p.display_value(values[0])),
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
    if c.measures:
        m = c.measures[0]
        agg, name, _ = aggregate(m, "t1.")
        question = ask("chain_sum", lang, g=gl, c=c.label, m=c.col_label(m))
        select = f"{agg} AS {name}"
        order = f"{name} DESC NULLS LAST"
    else:
        question = ask("chain", lang, g=gl, c=c.label)
        select, order = "COUNT(*) AS record_count", "record_count DESC"
    return [
        (question,
         f"SELECT t3.{q(gcol)}, {select} {join} GROUP BY t3.{q(gcol)} ORDER BY {order} LIMIT 10")
    ]  # fmt: skip
