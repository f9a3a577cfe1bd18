"""Business themes from the foreign-key graph.

Each theme is centred on a *focus* table (fact tables with measures and keys, hubs that many
tables reference) together with its foreign-key neighbours. Themes are chosen greedily so that
together they cover every listed table; tables left over (more tables than themes can hold)
join the theme they are linked to, or the smallest one.
"""

from __future__ import annotations

from data_pipeline.llm.base import Theme
from data_pipeline.llm.rules.pairs import all_facts
from data_pipeline.llm.rules.sqlgen import TableFacts
from data_pipeline.schema.model import SchemaMetadata

_MAX_MEMBERS = 5

_ANGLES = {
    "trend": ("{t}趋势与指标分析", "{t} trends and metrics"),
    "metrics": ("{t}指标分析", "{t} metrics"),
    "time": ("{t}时间分布分析", "{t} over time"),
    "hub": ("{t}关联概况", "{t} overview"),
    "stats": ("{t}统计分析", "{t} statistics"),
    "detail": ("{t}明细查询", "{t} detail lookups"),
}


def extract_themes(schema: SchemaMetadata, lang: str, count: int) -> list[Theme]:
    """Up to ``count`` themes (fewer only when the schema has no tables)."""
    if count <= 0 or not schema.tables:
        return []
    facts = all_facts(schema, lang)
    keys = list(facts)
    neighbours: dict[tuple, list[tuple]] = {k: [] for k in keys}
    incoming: dict[tuple, int] = dict.fromkeys(keys, 0)
    outgoing: dict[tuple, int] = dict.fromkeys(keys, 0)
    for key in keys:
        for fk in facts[key].table.foreign_keys:
            ref = (fk.ref_schema, fk.ref_table)
            if ref in facts and ref != key:
                incoming[ref] += 1
                outgoing[key] += 1
                for a, b in ((key, ref), (ref, key)):
                    if b not in neighbours[a]:
                        neighbours[a].append(b)

    def score(key: tuple) -> int:
        f = facts[key]
        return (
            3 * incoming[key] + 2 * outgoing[key] + 3 * bool(f.measures)
            + 2 * bool(f.dates) + bool(f.dims) + 2 * f.has_rows
        )  # fmt: skip

    def members(key: tuple) -> list[tuple]:
        ranked = sorted(neighbours[key], key=lambda k: (-score(k), k))
        return [key, *ranked[: _MAX_MEMBERS - 1]]

    groups: list[list[tuple]] = []
    covered: set[tuple] = set()
    focus_order = sorted(keys, key=lambda k: (-score(k), k))
    unused = list(focus_order)
    while len(groups) < count and unused:
        best = max(
            unused,
            key=lambda k: (len(set(members(k)) - covered), score(k), -focus_order.index(k)),
        )
        unused.remove(best)
        groups.append(members(best))
        covered |= set(groups[-1])
    _place_leftovers(groups, [k for k in keys if k not in covered], neighbours)
    themes: list[Theme] = []
    revisit = 0
    while len(themes) < count:
        for group in groups:
            if len(themes) >= count:
                break
            themes.append(_theme(group, facts, incoming, lang, detail=revisit > 0))
        revisit += 1
    return _unique_names(themes)


def _place_leftovers(groups: list[list[tuple]], leftovers: list[tuple], neighbours) -> None:
    """Give each leftover table to a theme it is linked to, unless that theme is already
    bigger than an even share; then to the smallest theme."""
    if not groups:
        return
    total = sum(len(g) for g in groups) + len(leftovers)
    cap = -(-total // len(groups))
    for key in leftovers:
        linked = [g for g in groups if set(neighbours[key]) & set(g) and len(g) < cap]
        target = min(linked or groups, key=len)
        target.append(key)


def _angle(f: TableFacts, incoming: int, detail: bool) -> str:
    if detail:
        return "detail"
    if f.measures and f.dates:
        return "trend"
    if f.measures:
        return "metrics"
    if f.dates:
        return "time"
    return "hub" if incoming >= 2 else "stats"


def _theme(group: list[tuple], facts, incoming, lang: str, detail: bool) -> Theme:
    focus = facts[group[0]]
    zh, en = _ANGLES[_angle(focus, incoming[group[0]], detail)]
    name = zh.format(t=focus.label) if lang == "zh" else en.format(t=focus.label)
    entities = [facts[k].label for k in group]
    metrics: list[str] = []
    for key in group:
        for m in facts[key].measures[:2]:
            label = facts[key].col_label(m)
            if label not in metrics:
                metrics.append(label)
    metrics = metrics[:6] or ["记录数量" if lang == "zh" else "record count"]
    dims = [focus.col_label(d) for d in focus.dims[:2]]
    dates = [focus.col_label(d) for d in focus.dates[:1]]
    return Theme(
        name=name,
        description=_describe(lang, entities, metrics, dims, dates, detail),
        tables=[f"{k[0]}.{k[1]}" for k in group],
        entities=entities,
        metrics=metrics,
    )


def _describe(lang, entities, metrics, dims, dates, detail) -> str:
    if lang == "zh":
        text = f"以{entities[0]}为中心"
        if len(entities) > 1:
            text += "，结合" + "、".join(entities[1:])
        text += "，" + ("查询明细记录与" if detail else "分析") + "、".join(metrics)
        if dims:
            text += "在" + "、".join(dims) + "上的分布"
        if dates:
            text += f"以及随{dates[0]}的变化"
        return text + "。"
    text = f"Centred on {entities[0]}"
    if len(entities) > 1:
        text += " with " + ", ".join(entities[1:])
    text += ": " + ("detail lookups and " if detail else "") + ", ".join(metrics)
    if dims:
        text += " by " + ", ".join(dims)
    if dates:
        text += f" and over {dates[0]}"
    return text + "."


def _unique_names(themes: list[Theme]) -> list[Theme]:
    seen: dict[str, int] = {}
    for theme in themes:
        n = seen.get(theme.name, 0)
        seen[theme.name] = n + 1
        if n:
            theme.name = f"{theme.name} ({n + 1})"
    return themes
