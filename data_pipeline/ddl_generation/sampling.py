"""Samples and enum-like columns: which columns to check, and what the answers mean.

The SQL is built by :mod:`.table_query`; here are the rules around it: sample values made
JSON-safe, the TABLESAMPLE percentage, which text columns may be enum-like (not keys, not
identifiers or free text, not ruled out by planner statistics) and when one is confirmed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import uuid
from typing import Any

from data_pipeline.schema.model import ColumnMeta, TableMeta

ENUM_SCAN_ROWS = 10_000  # rows looked at to confirm an enum-like column
MAX_ENUM_CANDIDATES = 60  # per table: one cheap query, below json_build_array's 100 arguments
MAX_TEXT_CHARS = 200  # longer sample values are truncated
COLUMN_SAMPLES = 10  # distinct sample values kept per column
SAMPLE_SEED = 7  # REPEATABLE seed: the same data gives the same samples run after run

# Last words of names that say "identifier or free text", never a category.
_NOT_ENUM_WORDS = frozenset(
    {
        "id", "uuid", "guid", "no", "num", "number", "serial", "sn", "phone", "tel", "mobile",
        "email", "mail", "url", "link", "address", "addr", "remark", "remarks", "description",
        "desc", "comment", "comments", "note", "notes", "memo", "content", "body", "text",
        "title", "name", "password", "token", "hash", "path", "file", "ip",
    }
)  # fmt: skip
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _last_word(name: str) -> str:
    words = _WORDS.findall(name)
    return words[-1].lower() if words else name.lower()


def json_safe(value: Any) -> Any:
    """A sample value as JSON: dates as ISO strings, decimals as numbers (or strings when a
    float would change them), long text truncated; None for values not worth showing."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            return value[:MAX_TEXT_CHARS] + "…"
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        as_float = float(value)
        return as_float if decimal.Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return json_safe(str(value))


def select_expr(col: ColumnMeta, base_type: str) -> str | None:
    """What to select of a column for samples (SQL text): None for binary data; text-like
    values are cut in SQL so a huge document never travels over the wire."""
    ident = '"' + col.name.replace('"', '""') + '"'
    if base_type == "bytea":
        return None
    if col.category in ("integer", "numeric", "date", "timestamp", "boolean", "enum"):
        return ident
    return f"left({ident}::text, {MAX_TEXT_CHARS + 1})"


def sample_percent(estimated_rows: int, wanted_rows: int) -> float:
    """TABLESAMPLE SYSTEM percentage expected to return about ``wanted_rows`` rows."""
    if estimated_rows <= 0:
        return 100.0
    return float(min(100.0, max(0.0001, 100.0 * wanted_rows / estimated_rows)))


def json_number(text: str) -> float | str:
    """A JSON number with a fraction or exponent (``parse_float`` of ``json.loads``), as
    :func:`json_safe` gives the decimal it stands for: a float, or its text when a float would
    change it. PostgreSQL writes floats as their shortest text, so the first test usually
    decides."""
    value = float(text)
    if repr(value) == text:
        return value
    return json_safe(decimal.Decimal(text))


_AS_IS = frozenset({int, bool, type(None)})


def apply_samples(table: TableMeta, names: list[str], rows: list[tuple]) -> None:
    """Store sample rows and per-column distinct sample values on ``table``.

    The rows come from JSON (see :mod:`.table_query`): mostly short strings, numbers and
    None, which are stored as they are; anything else goes through :func:`json_safe`.
    """
    table.sample_rows = []
    buckets: list[list] = [[] for _ in names]
    limit = MAX_TEXT_CHARS
    for row in rows:
        values = [
            v if type(v) in _AS_IS or (type(v) is str and len(v) <= limit) else json_safe(v)
            for v in row
        ]
        table.sample_rows.append(dict(zip(names, values, strict=True)))
        for bucket, value in zip(buckets, values, strict=True):
            if value is not None and len(bucket) < COLUMN_SAMPLES and value not in bucket:
                bucket.append(value)
    by_name = dict(zip(names, buckets, strict=True))
    for col in table.columns:
        col.samples = by_name.get(col.name, [])


def enum_candidates(
    table: TableMeta, stats: dict[str, dict], row_estimate: int | None, max_distinct: int
) -> list[ColumnMeta]:
    """Text columns that may hold a small set of values: not keys, not identifiers or free
    text by name, and not ruled out by the planner's statistics when there are any."""
    keys = set(table.primary_key)
    for fk in table.foreign_keys:
        keys.update(fk.columns)
    for unique in table.unique_constraints:
        if len(unique) == 1:
            keys.update(unique)
    out = []
    for col in table.columns:
        if col.category != "text" or col.name in keys or _last_word(col.name) in _NOT_ENUM_WORDS:
            continue
        st = stats.get(col.name)
        if st is not None:
            if st["avg_width"] is not None and st["avg_width"] > 64:
                continue
            nd = st["n_distinct"]
            if nd is not None and nd < 0 and row_estimate is not None:
                nd = -nd * row_estimate
            if nd is not None and nd > 2 * max_distinct:
                continue
        out.append(col)
    return out[:MAX_ENUM_CANDIDATES]


def apply_distinct(
    columns: list[ColumnMeta],
    row: tuple,
    stats: dict[str, dict],
    max_distinct: int,
) -> list[str]:
    """Mark the candidates that are confirmed enum-like; return their names.

    A column qualifies when its values (those seen, plus the planner's most common values)
    number at most ``max_distinct`` and repeat: at least two non-null rows per value on
    average, so a column that is merely short in a tiny table does not count.
    """
    confirmed = []
    for i, col in enumerate(columns):
        non_null, values = row[1 + 2 * i], list(row[2 + 2 * i] or [])
        if not values or len(values) > max_distinct:
            continue
        mcv = (stats.get(col.name) or {}).get("most_common_vals") or []
        merged = values + [v for v in mcv if v not in values]
        if len(merged) > max_distinct or non_null < 2 * len(values):
            continue
        col.enum_values = merged
        col.enum_source = "low_cardinality"
        confirmed.append(col.name)
    return confirmed
