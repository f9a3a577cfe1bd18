"""Question→SQL pairs for one theme: join, single-table and chain templates, interleaved.

The theme's first table is its focus (it gets two candidates per round); every other table of
the theme gets one per round, so a theme's pairs cover all its tables before going deeper.
Output is deterministic and free of template duplicates; asking for more pairs returns the
same first ones followed by new ones (step 2 relies on that to top up after duplicates).
"""

from __future__ import annotations

from data_pipeline.llm.base import QuestionSQL, Theme
from data_pipeline.llm.rules.joins import Link, chain_pairs, link_pairs
from data_pipeline.llm.rules.sqlgen import TableFacts, table_facts
from data_pipeline.llm.rules.templates import Pair, essentials, single_table
from data_pipeline.schema.dedupe import Deduplicator
from data_pipeline.schema.model import SchemaMetadata, TableMeta

# Which list each position of a table's merged candidate list draws from.
_PATTERN = ("joins", "singles", "chains", "singles", "joins", "reverse", "singles")


def all_facts(schema: SchemaMetadata, lang: str) -> dict[tuple[str, str], TableFacts]:
    return {(t.schema, t.name): table_facts(t, lang) for t in schema.tables}


def build_links(schema: SchemaMetadata, facts: dict[tuple[str, str], TableFacts]) -> list[Link]:
    """Foreign keys whose both ends are listed tables, with question labels."""
    links: list[Link] = []
    for table in schema.tables:
        child = facts[(table.schema, table.name)]
        targets = [(fk.ref_schema, fk.ref_table) for fk in table.foreign_keys]
        for fk in table.foreign_keys:
            parent = facts.get((fk.ref_schema, fk.ref_table))
            if parent is None or len(fk.columns) != len(fk.ref_columns):
                continue
            label = parent.label
            several = targets.count((fk.ref_schema, fk.ref_table)) > 1
            usual = fk.columns[0] == fk.ref_columns[0] or fk.columns[0].startswith(fk.ref_table)
            if (several and not usual) or parent is child:
                # A second key to one table (or a self reference): name the key column.
                col = table.column(fk.columns[0])
                label = child.col_label(col) if col else label
            links.append(Link(child, parent, fk, label))
    return links


def resolve_tables(theme: Theme, schema: SchemaMetadata) -> list[TableMeta]:
    """The theme's tables that exist (``schema.table`` or bare ``table``), in theme order."""
    by_name = {(t.schema, t.name): t for t in schema.tables}
    found: dict[int, TableMeta] = {}
    for name in theme.tables:
        schema_name, _, table_name = name.rpartition(".")
        table = by_name.get((schema_name or "public", table_name))
        if table is None and not schema_name:
            table = next((t for t in schema.tables if t.name == table_name), None)
        if table is not None:
            found.setdefault(id(table), table)
    return list(found.values()) or list(schema.tables)


def table_candidates(
    table: TableMeta, facts: dict, links: list[Link], theme_ids: set[int]
) -> list[Pair]:
    """All candidates of one table of the theme: first the essentials (a count, a count per
    parent along each foreign key, a measure by its main dimension, a monthly trend, a top-N,
    each two-hop join), then the rest mixed so joins come early."""
    f = facts[(table.schema, table.name)]
    own = [link for link in links if link.child is f]
    per_link = [link_pairs(link) for link in own]
    per_chain = [
        chain_pairs(link, second)
        for link in own
        if link.parent is not f  # no chains through a self reference
        for second in links
        if second.child is link.parent and second.parent not in (link.parent, f)
    ]
    singles = single_table(f)
    sources: dict[str, list[Pair]] = {
        "joins": _interleave(per_link), "singles": singles, "chains": _interleave(per_chain)
    }  # fmt: skip
    others = [link for link in links if link.parent is f and id(link.child.table) not in theme_ids]
    sources["reverse"] = _interleave([link_pairs(link) for link in others])
    basics = essentials(f)
    merged: list[Pair] = [
        *basics[:1],
        *(p[0] for p in per_link if p),
        *basics[1:],
        *(p[0] for p in per_chain if p),
    ]
    cursors = dict.fromkeys(sources, 0)
    while any(cursors[k] < len(v) for k, v in sources.items()):
        for key in _PATTERN:
            if cursors[key] < len(sources[key]):
                merged.append(sources[key][cursors[key]])
                cursors[key] += 1
    return merged


def _interleave(lists: list[list[Pair]]) -> list[Pair]:
    """First of each list, then the second of each, ..."""
    depth = max((len(x) for x in lists), default=0)
    return [x[i] for i in range(depth) for x in lists if i < len(x)]


def prepare(schema: SchemaMetadata, lang: str) -> tuple[dict, list[Link]]:
    """The per-table facts and the foreign-key links of ``schema`` (reusable across themes)."""
    facts = all_facts(schema, lang)
    return facts, build_links(schema, facts)


def generate_pairs(
    theme: Theme,
    schema: SchemaMetadata,
    lang: str,
    count: int,
    prepared: tuple[dict, list[Link]] | None = None,
) -> list[QuestionSQL]:
    """Up to ``count`` distinct pairs for ``theme``."""
    if count <= 0 or not schema.tables:
        return []
    facts, links = prepared or prepare(schema, lang)
    tables = resolve_tables(theme, schema)
    seen = Deduplicator()
    out: list[QuestionSQL] = []
    inside = {id(t) for t in tables}

    def maker(table: TableMeta):
        return lambda: table_candidates(table, facts, links, inside)

    makers = [maker(t) for t in tables]
    _round_robin(makers, [0, *range(len(makers))] if len(makers) > 1 else [0], count, seen, out)
    if len(out) < count:
        # The theme's tables are exhausted (small tables): go on with related tables, then
        # the rest, so a small theme still gets its share of pairs.
        makers = [maker(t) for t in _related_first(tables, schema, links)]
        _round_robin(makers, list(range(len(makers))), count, seen, out)
    return out


def _round_robin(makers, order, count: int, seen, out: list[QuestionSQL]) -> None:
    """Take one new candidate per list in ``order`` per round until ``count``. Candidate
    lists are built only when reached, so big themes cost little."""
    lists: list[list[Pair] | None] = [None] * len(makers)
    cursors = [0] * len(makers)
    exhausted = [False] * len(makers)
    while len(out) < count and not all(exhausted):
        for i in order:
            if exhausted[i]:
                continue
            if lists[i] is None:
                lists[i] = makers[i]()
            candidates = lists[i]
            while cursors[i] < len(candidates):
                question, sql = candidates[cursors[i]]
                cursors[i] += 1
                if seen.add(question, sql) is None:
                    out.append(QuestionSQL(question, sql))
                    break
            if cursors[i] >= len(candidates):
                exhausted[i] = True
            if len(out) >= count:
                return


def _related_first(
    tables: list[TableMeta], schema: SchemaMetadata, links: list[Link]
) -> list[TableMeta]:
    """Tables outside the theme: linked to it by a foreign key first, then the others."""
    inside = {id(t) for t in tables}
    linked: dict[int, TableMeta] = {}
    for link in links:
        for a, b in ((link.child.table, link.parent.table), (link.parent.table, link.child.table)):
            if id(a) in inside and id(b) not in inside:
                linked.setdefault(id(b), b)
    rest = [t for t in schema.tables if id(t) not in inside and id(t) not in linked]
    return [*linked.values(), *rest]
