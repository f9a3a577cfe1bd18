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
# Words that make an average (not a sum) the natural aggregate, wherever the column is.
_AVERAGED = _words(
    "rate ratio price percent pct avg average score rating age salary wage temperature "
    "speed capital lanes"
)
# In a table of entities (rows with a name: films, service areas), a number is an attribute
# of each entity (a film's length, a product's weight): adding them up means nothing, except
# for stocks and capacities, which do add up (floor area, parking spaces, seats, budget).
_ADDITIVE_ATTRIBUTE = _words(
    "area sqm spaces space capacity seats seat count qty quantity stock inventory budget "
    "population employees staff beds rooms km amount revenue sales income rent fee cost "
    "balance deposit total value"
)
_CATEGORICAL = _words(
    "type status category kind class level grade gender sex city region province country "
    "district area method channel state source brand position role group tier mode unit "
    "payment currency department dept"
)
_NAME_WORDS = ("name", "title", "label")
_AUDIT = _words("update updated modified modify deleted changed sync synced etl")
MAX_LITERAL = 60
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


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


def literal(value: Any, temporal: bool = False) -> str | None:
    """A SQL literal for a sample value, or None when it makes a poor filter. ``temporal``
    values (of a date or timestamp column) are written as people write them."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, int) else str(value)
    if isinstance(value, dt.date | dt.datetime):
        value = value.isoformat()
    text = str(value)
    if temporal and _ISO_TIME.match(text):
        # 2024-03-01T00:00:00 → 2024-03-01; 2024-03-01T08:30:00 → 2024-03-01 08:30:00
        midnight = len(text) == 19 and text.endswith("T00:00:00")
        text = text[:10] if midnight else text.replace("T", " ", 1)
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
    # What names a row: the name column, or first and last name together.
    label_cols: list[ColumnMeta] = field(default_factory=list)
    key_col: ColumnMeta | None = None
    key_cols: list[ColumnMeta] = field(default_factory=list)
    texts: list[ColumnMeta] = field(default_factory=list)

    @property
    def is_entity(self) -> bool:
        """Rows are things with a name (服务区, stalls), not records of facts or events."""
        return self.name_col is not None

    @property
    def label_is_unique(self) -> bool:
        """Whether the label alone tells rows apart (a unique name column)."""
        return len(self.label_cols) == 1 and (
            self.label_cols[0].is_unique or self.label_cols[0].is_primary_key
        )

    def entity_columns(self, key: list[str] | None = None) -> list[ColumnMeta]:
        """What to group by (and show) for "per entity" questions: a unique label alone, else
        the key (``key``: the columns a foreign key references; by default the primary key)
        followed by the label, so rows sharing a name are never merged. Empty when rows
        cannot be told apart."""
        if self.label_is_unique:
            return list(self.label_cols)
        cols = [self.table.column(n) for n in (key or [c.name for c in self.key_cols])]
        if not cols or any(c is None for c in cols):
            return []
        return [*cols, *(c for c in self.label_cols if all(c is not k for k in cols))]

    def dim_label(self, col: ColumnMeta) -> str:
        """A dimension's label; a flag reads as a yes/no question (``是否有效``,
        ``whether active``) so that "by {label}" makes sense."""
        label = self.col_label(col)
        if col.category != "boolean":
            return label
        if self.lang == "zh":
            return label if label.startswith("是否") else f"是否{label}"
        return label if label.lower().startswith("whether") else f"whether {label.lower()}"

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
        temporal = col.category in ("date", "timestamp")
        for value in candidates:
            lit = literal(value, temporal)
            if lit is not None and lit not in seen:
                seen.append(lit)
            if len(seen) >= limit:
                break
        return seen

    def display_value(self, lit: str) -> str:
        return lit[1:-1].replace("''", "'") if lit.startswith("'") else lit


def is_averaged(col: ColumnMeta, entity: bool = False) -> bool:
    """Whether the natural aggregate of ``col`` is an average rather than a sum: rates, prices
    and scores anywhere; in a table of entities every attribute but stocks and capacities."""
    words = set(split_identifier(col.name))
    if words & _AVERAGED:
        return True
    return entity and not words & _ADDITIVE_ATTRIBUTE


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
    texts = [c for c in table.columns if c.category == "text"]
    facts.label_cols = _person_name(table, texts)
    facts.name_col = facts.label_cols[0] if facts.label_cols else _name_column(table, texts)
    if facts.name_col is not None and not facts.label_cols:
        facts.label_cols = [facts.name_col]
    for col in table.columns:
        words = set(split_identifier(col.name))
        keyish = col.is_primary_key or col.name in fk_cols or col.is_unique
        if col.category in ("integer", "numeric") and not keyish and not col.enum_values:
            if _is_measure(col, words):
                facts.measures.append(col)
        elif col.category in ("date", "timestamp"):
            if not _constant(table, col):  # e.g. last_update set once for every row
                facts.dates.append(col)
        elif col in facts.label_cols:
            pass  # a name is not a dimension, even when few names repeat
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
    key = table.primary_key or table.inferred_key
    facts.key_col = table.column(key[0]) if len(key) == 1 else None
    facts.key_cols = [c for c in (table.column(k) for k in key) if c is not None]
    return facts


def _person_name(table: TableMeta, texts: list[ColumnMeta]) -> list[ColumnMeta]:
    """First and last name columns, which name a person only together."""
    by_words = {tuple(split_identifier(c.name)): c for c in texts}
    first = by_words.get(("first", "name")) or by_words.get(("given", "name"))
    last = by_words.get(("last", "name")) or by_words.get(("family", "name"))
    return [first, last] if first is not None and last is not None else []


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


# Latin words a Chinese question may keep (abbreviations read the same in both languages).
_KEPT_LATIN = frozenset({"ID", "SKU", "URL", "IP", "UUID", "GUID", "VIP", "APP", "GPS", "KPI"})


def untranslated_names(tables: list[TableMeta], lang: str) -> list[str]:
    """Tables and columns whose label in questions is not in ``lang`` (English words left in
    Chinese labels, or Chinese in English ones): ``music.track.composer → composer``."""
    out = []
    for table in tables:
        facts = TableFacts(table, lang)
        named = [(table.qualified_name, table_label(table, lang))]
        named += [(f"{table.qualified_name}.{c.name}", facts.col_label(c)) for c in table.columns]
        for name, label in named:
            if lang == "zh":
                foreign = [w for w in re.findall(r"[A-Za-z]{2,}", label) if w not in _KEPT_LATIN]
            else:
                foreign = _CJK_RUN.findall(label)
            if foreign:
                out.append(f"{name} → {label}")
    return out
