"""Table and column comments from identifiers, keys and sample values (no model involved)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from data_pipeline.llm.base import TableComments
from data_pipeline.llm.rules.words import known_share, phrase, split_identifier
from data_pipeline.schema.model import ColumnMeta, TableMeta

# Trailing unit words: shown in brackets, e.g. ``land_area_sqm`` → ``土地区域（平方米）``.
_UNITS = {
    "km": ("公里", "km"), "sqm": ("平方米", "m²"), "kg": ("千克", "kg"), "m": ("米", "m"),
    "pct": ("%", "%"), "yuan": ("元", "yuan"), "cny": ("元", "CNY"), "usd": ("美元", "USD"),
    "ms": ("毫秒", "ms"), "sec": ("秒", "s"), "seconds": ("秒", "s"), "min": ("分钟", "min"),
    "minutes": ("分钟", "min"), "hours": ("小时", "h"), "days": ("天", "days"),
}  # fmt: skip

_PATTERNS = [
    (re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$"), ("邮箱地址", "Email address")),
    (re.compile(r"^https?://", re.I), ("网址", "URL")),
    (re.compile(r"^\d{1,3}(\.\d{1,3}){3}$"), ("IP地址", "IP address")),
    (re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I),
     ("唯一标识", "Unique identifier")),
    (re.compile(r"^\+?\d[\d -]{6,15}$(?<!-\d\d)"), ("电话号码", "Phone number")),
]  # fmt: skip

_SAMPLE_LIMIT = 3
_SAMPLE_CHARS = 24
_ENUM_LIMIT = 10


def comment_table(table: TableMeta, lang: str) -> TableComments:
    """Comments for the table (if it has none) and for each column without a comment."""
    table_comment = None if table.comment else _table_comment(table, lang)
    columns = {
        col.name: _column_comment(table, col, lang) for col in table.columns if not col.comment
    }
    return TableComments(table_comment, {k: v for k, v in columns.items() if v})


def _table_comment(table: TableMeta, lang: str) -> str:
    words = phrase(table.name, lang)
    is_view = "view" in (table.kind or "")
    if lang == "zh":
        suffix = "视图" if is_view else ("" if words.endswith("表") else "表")
        text = f"{words}{suffix}"
        refs = _referenced(table)
        if refs:
            text += "，关联" + "、".join(phrase(r, "zh") for r in refs)
        return text
    text = f"{words} ({'view' if is_view else 'records'})"
    refs = _referenced(table)
    if refs:
        text += ", linked to " + ", ".join(phrase(r, "en").lower() for r in refs)
    return text


def _referenced(table: TableMeta) -> list[str]:
    refs: list[str] = []
    for fk in table.foreign_keys:
        if fk.ref_table != table.name and fk.ref_table not in refs:
            refs.append(fk.ref_table)
    return refs[:4]


def column_phrase(col: ColumnMeta, lang: str) -> str:
    """The column's name as words, with units and value patterns taken into account."""
    tokens = split_identifier(col.name)
    base = _with_unit(col.name, tokens, lang)
    guessed = None
    if known_share(col.name) < 0.5 and col.category in ("text", "other"):
        guessed = _pattern_meaning(col.samples, lang)
    if guessed:
        return guessed
    if lang == "zh" and col.category in ("numeric", "integer") and tokens[-1:] != ["id"]:
        # "area" is a place (区域) in names, but a measure of it is a surface (面积).
        base = base.replace("区域", "面积")
    return base


def _column_comment(table: TableMeta, col: ColumnMeta, lang: str) -> str:
    base = column_phrase(col, lang)
    extras = []
    fk = next((f for f in table.foreign_keys if col.name in f.columns), None)
    if fk is not None:
        ref = phrase(fk.ref_table, lang)
        tokens = split_identifier(col.name)
        if fk.ref_table == table.name:
            extras.append("引用本表" if lang == "zh" else "refers to this table")
        elif (
            len(tokens) > 1
            and tokens[-1] == "id"
            and set(tokens[:-1]) <= set(split_identifier(fk.ref_table))
        ) or known_share(col.name) == 0:
            # area_id → service_area, aid → author: name the key after the table it points to.
            base = f"{ref}ID" if lang == "zh" else f"{ref} ID"
        else:
            extras.append(f"关联{ref}" if lang == "zh" else f"refers to {ref.lower()}")
        if fk.inferred:
            extras.append("推断的关联，未声明" if lang == "zh" else "inferred, not declared")
    elif [col.name] in (table.primary_key, table.inferred_key):
        tokens = split_identifier(col.name)
        if (
            len(tokens) > 1
            and tokens[-1] == "id"
            and set(tokens[:-1]) <= set(split_identifier(table.name))
        ) or known_share(col.name) == 0:
            own = phrase(table.name, lang)
            base = f"{own}ID" if lang == "zh" else f"{own} ID"
        extras.append("主键" if lang == "zh" else "primary key")
    if col.enum_values:
        values = _short(col.enum_values, _ENUM_LIMIT, lang)
        extras.append(("取值：" if lang == "zh" else "values: ") + values)
    elif col.samples and known_share(col.name) < 0.5 and col.category == "text":
        examples = _short(col.samples, _SAMPLE_LIMIT, lang)
        extras.append(("示例：" if lang == "zh" else "e.g. ") + examples)
    if not extras:
        return base
    sep = "，" if lang == "zh" else "; "
    return base + sep + sep.join(extras)


def _with_unit(name: str, tokens: list[str], lang: str) -> str:
    if len(tokens) > 1 and tokens[-1] in _UNITS:
        rest = "_".join(tokens[:-1])
        unit = _UNITS[tokens[-1]][0 if lang == "zh" else 1]
        words = phrase(rest, lang)
        return f"{words}（{unit}）" if lang == "zh" else f"{words} ({unit})"
    return phrase(name, lang)


def _pattern_meaning(samples: Iterable, lang: str) -> str | None:
    values = [str(v) for v in samples if v is not None and str(v).strip()][:10]
    if not values:
        return None
    for pattern, (zh, en) in _PATTERNS:
        if all(pattern.search(v) for v in values):
            return zh if lang == "zh" else en
    return None


def _short(values: Iterable, limit: int, lang: str) -> str:
    shown = []
    for value in values:
        text = str(value)
        if len(text) > _SAMPLE_CHARS:
            text = text[: _SAMPLE_CHARS - 1] + "…"
        if text not in shown:
            shown.append(text)
        if len(shown) >= limit:
            break
    return ("、" if lang == "zh" else ", ").join(shown)
