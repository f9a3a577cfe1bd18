"""What the question templates need to know about a table, and safe SQL text for it.

Everything comes from step 1's metadata: types (``ColumnMeta.category``), keys, enum values,
sample values and sample rows (real values, so filters built from them match real rows).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from data_pipeline.llm.rules.comments import column_phrase
from data_pipeline.llm.rules.words import has_cjk, known_share, phrase, split_identifier
from data_pipeline.schema.model import ColumnMeta, TableMeta


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# PostgreSQL reserved and type/function-name keywords, plus column-name keywords that parsers
# (sqlglot, PostgreSQL) read as syntax when unquoted: always quote these.
_KEYWORDS = _words(
    """all analyse analyze and any array as asc asymmetric both case cast check collate column
    constraint create current_catalog current_date current_role current_time current_timestamp
    current_user default deferrable desc distinct do else end except false fetch for foreign
    from grant group having in initially intersect into lateral leading limit localtime
    localtimestamp not null offset on only or order placing primary references returning select
    session_user some symmetric system_user table then to trailing true union unique user using
    variadic when where window with authorization binary collation concurrently cross
    current_schema freeze full ilike inner is isnull join left like natural notnull outer
    overlaps right similar tablesample verbose between bigint bit boolean char character
    coalesce dec decimal exists extract float greatest grouping inout int integer interval least
    national nchar none normalize nullif numeric out overlay position precision real row setof
    smallint substring time timestamp treat trim values varchar date year month day hour minute
    second level rank filter over partition range rows escape collate text json format key
    names value zone uuid enum"""
)
_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")

# Words that mark a number as an identifier or code rather than a measure.
_NOT_MEASURE = _words(
    "id no num number code seq sort order year month day phone tel mobile zip postcode "
    "version lat lng lon latitude longitude level grade rank type status flag stake active "
    "enabled deleted is has"
)
# Words that make an average (not a sum) the natural aggregate.
_AVERAGED = _words(
    "rate ratio price percent pct avg average score rating age salary wage temperature "
    "speed capital lanes capacity"
)
_CATEGORICAL = _words(
    "type status category kind class level grade gender sex city region province country "
    "district area method channel state source brand position role group tier mode unit "
    "payment currency department dept"
)
_NAME_WORDS = ("name", "title", "label")
_AUDIT = _words("update updated modified modify deleted changed sync synced etl")
MAX_LITERAL = 60


def quote_ident(name: str) -> str:
    """An identifier as SQL: bare when it is plain lower case, else double-quoted."""
    if _PLAIN.match(name) and name not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def table_ref(table: TableMeta) -> str:
    """``orders`` in public, ``"Sales"."Orders"`` elsewhere."""
    if table.schema == "public":
        return quote_ident(table.name)
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"


def literal(value: Any) -> str | None:
    """A SQL literal for a sample value, or None when it makes a poor filter."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, int) else str(value)
    if isinstance(value, dt.date | dt.datetime):
        value = value.isoformat()
    text = str(value)
    if not text.strip() or len(text) > MAX_LITERAL or "\x00" in text or "\n" in text:
        return None
    return "'" + text.replace("'", "''") + "'"


def short_label(text: str | None, lang: str, fallback: str) -> str:
    """First clause of a comment when it suits the language, else the identifier as words."""
    if text:
        first = re.split(r"[，,。；;：:（(\n]", text.strip(), maxsplit=1)[0].strip()
        if first and len(first) <= 24 and has_cjk(first) == (lang == "zh"):
            return first
    return phrase(fallback, lang)


# Endings of table comments that are noise inside a question ("基础信息表" → "").
_TABLE_NOISE = re.compile(r"(基础信息|信息表|数据表|记录表|信息|表)$")


def table_label(table: TableMeta, lang: str) -> str:
    """How questions name a table: a short comment, else the name as words."""
    named = phrase(table.name, lang)
    label = short_label(table.comment, lang, table.name)
    if lang == "zh" and label != named:
        label = _TABLE_NOISE.sub("", label) or label
        # "服务区内的档口" names a 档口: keep the head noun after the last "的".
        head = label.rsplit("的", 1)[-1]
        label = head if len(head) >= 2 else label
        if len(label) > 10 and known_share(table.name) == 1.0:
            return named
    return label


@dataclass
class TableFacts:
    """A table seen by the templates."""

    table: TableMeta
    lang: str
    ref: str = ""
    label: str = ""
    has_rows: bool = False
    measures: list[ColumnMeta] = field(default_factory=list)
    dims: list[ColumnMeta] = field(default_factory=list)
    dates: list[ColumnMeta] = field(default_factory=list)
    name_col: ColumnMeta | None = None
    key_col: ColumnMeta | None = None
    texts: list[ColumnMeta] = field(default_factory=list)

    @property
    def is_entity(self) -> bool:
        """Rows are things with a name (服务区, stalls), not records of facts or events."""
        return self.name_col is not None

    def col_label(self, col: ColumnMeta) -> str:
        if col.comment:
            label = short_label(col.comment, self.lang, "")
            if label:
                return label
        return column_phrase(col, self.lang)

    def values(self, col: ColumnMeta, limit: int = 3) -> list[str]:
        """Real values of ``col`` as SQL literals (sample rows first, then samples)."""
        seen: list[str] = []
        candidates = [row.get(col.name) for row in self.table.sample_rows]
        candidates += list(col.samples or [])
        if col.enum_source == "low_cardinality":
            candidates += list(col.enum_values or [])
        for value in candidates:
            lit = literal(value)
            if lit is not None and lit not in seen:
                seen.append(lit)
            if len(seen) >= limit:
                break
        return seen

    def display_value(self, lit: str) -> str:
        return lit[1:-1].replace("''", "'") if lit.startswith("'") else lit


def is_averaged(col: ColumnMeta) -> bool:
    return bool(set(split_identifier(col.name)) & _AVERAGED)


def table_facts(table: TableMeta, lang: str) -> TableFacts:
    """Classify the columns of ``table`` for the templates."""
    facts = TableFacts(table, lang, ref=table_ref(table))
    facts.label = table_label(table, lang)
    # Sample values come from real rows; without any, trust a positive row count.
    facts.has_rows = (
        bool(table.sample_rows)
        or any(c.samples for c in table.columns)
        or (table.row_count or 0) > 0
    )
    fk_cols = {c for fk in table.foreign_keys for c in fk.columns}
    facts.name_col = _name_column(table, [c for c in table.columns if c.category == "text"])
    for col in table.columns:
        words = set(split_identifier(col.name))
        keyish = col.is_primary_key or col.name in fk_cols or col.is_unique
        if col.category in ("integer", "numeric") and not keyish and not col.enum_values:
            if _is_measure(col, words):
                facts.measures.append(col)
        elif col.category in ("date", "timestamp"):
            if not _constant(table, col):  # e.g. last_update set once for every row
                facts.dates.append(col)
        elif (
            col.category in ("enum", "boolean")
            or col.enum_values
            or (
                col.category == "text"
                and not keyish
                and words & _CATEGORICAL
                and col is not facts.name_col
            )
        ):
            facts.dims.append(col)
        if col.category == "text":
            facts.texts.append(col)
    # Audit columns (last_update, modified_at) make dull trends: last.
    facts.dates.sort(key=lambda c: bool(set(split_identifier(c.name)) & _AUDIT))
    pk = table.primary_key[0] if len(table.primary_key) == 1 else None
    facts.key_col = table.column(pk) if pk else None
    return facts


def _is_measure(col: ColumnMeta, words: set[str]) -> bool:
    if words & _NOT_MEASURE or col.name.lower().endswith("id"):
        return False
    values = {v for v in col.samples if v is not None}
    # 0/1 integers are flags, not quantities.
    return not (col.category == "integer" and values and values <= {0, 1})


def _constant(table: TableMeta, col: ColumnMeta) -> bool:
    """One distinct value over several sample rows."""
    values = {str(v) for v in col.samples if v is not None}
    return len(table.sample_rows) >= 2 and len(values) == 1


def _name_column(table: TableMeta, texts: list[ColumnMeta]) -> ColumnMeta | None:
    """A text column that names a row: ``*name``/``title``, one named like the table
    (``city.city``), else a unique text column."""
    for col in texts:
        if any(w in split_identifier(col.name) for w in _NAME_WORDS):
            return col
    singular = table.name.lower().rstrip("s")
    for col in texts:
        if col.name.lower().rstrip("s") == singular:
            return col
    for col in texts:
        if col.is_unique or (col.is_primary_key and len(table.primary_key) == 1):
            return col
    return None
