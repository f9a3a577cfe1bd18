"""``<table>_detail.md``: the table documented for people and for a Text-to-SQL model.

Layout: ``# schema.table (comment)``, a few facts (purpose, rows, keys, partitions; nothing
that changes between runs of an unchanged database, such as sizes), ``## Columns`` with
one bullet per column (type, keys, nullability, default, comment, enum values or samples) and
``## Relationships`` (foreign keys both ways). Step 4 splits the file at its headings.
"""

from __future__ import annotations

from data_pipeline.ddl_generation.catalog import TableExtras
from data_pipeline.schema.model import ColumnMeta, SchemaMetadata, TableMeta

MAX_SAMPLES_SHOWN = 5
MAX_VALUE_CHARS = 60
MAX_ENUM_SHOWN = 50
MAX_PARTITIONS_SHOWN = 24


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _value(value) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else _one_line(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def row_count_text(table: TableMeta) -> str:
    if table.row_count is None:
        return "unknown (no planner statistics)"
    if table.row_count_exact:
        return f"{table.row_count:,} (exact)"
    return f"about {table.row_count:,} (planner estimate)"


def _column_marks(table: TableMeta, col: ColumnMeta, extras: TableExtras | None) -> list[str]:
    marks = [col.data_type]
    if extras and col.name in extras.domains:
        marks[0] += f", domain {extras.domains[col.name]}"
    if col.is_primary_key:
        marks.append("PK" if len(table.primary_key) == 1 else "part of PK")
    for fk in table.foreign_keys:
        if col.name in fk.columns:
            ref_col = fk.ref_columns[fk.columns.index(col.name)] if fk.ref_columns else "?"
            inferred = " (inferred)" if fk.inferred else ""
            marks.append(f"FK → {fk.ref_schema}.{fk.ref_table}.{ref_col}{inferred}")
    if col.is_unique and not col.is_primary_key:
        marks.append("unique")
    elif any(col.name in u and len(u) > 1 for u in table.unique_constraints):
        marks.append("part of a unique key")
    marks.append("nullable" if col.nullable else "not null")
    if col.default:
        marks.append(
            col.default.lower() if col.default.startswith("GENERATED") else f"default {col.default}"
        )
    return marks


def column_line(table: TableMeta, col: ColumnMeta, extras: TableExtras | None = None) -> str:
    """One ``## Columns`` bullet."""
    text = f"- **{col.name}** ({', '.join(_column_marks(table, col, extras))})"
    text += f": {_one_line(col.comment)}" if col.comment else ": (no comment)"
    if col.enum_values:
        shown = [_value(v) for v in col.enum_values[:MAX_ENUM_SHOWN]]
        more = (
            f" (+{len(col.enum_values) - MAX_ENUM_SHOWN} more)"
            if len(col.enum_values) > MAX_ENUM_SHOWN
            else ""
        )
        label = "Values" if col.enum_source == "enum_type" else "Values seen"
        text += f". {label}: {', '.join(shown)}{more}"
    elif col.samples:
        text += f". Samples: {', '.join(_value(v) for v in col.samples[:MAX_SAMPLES_SHOWN])}"
    return text


def incoming_foreign_keys(schema: SchemaMetadata) -> dict[tuple[str, str], list]:
    """``(schema, table)`` → ``[(referencing table, ForeignKey)]`` over the whole schema."""
    incoming: dict[tuple[str, str], list] = {}
    for other in schema.tables:
        for fk in other.foreign_keys:
            incoming.setdefault((fk.ref_schema, fk.ref_table), []).append((other, fk))
    return incoming


def _relationships(table: TableMeta, incoming: dict | None) -> list[str]:
    lines = []
    for fk in table.foreign_keys:
        cols = ", ".join(fk.columns)
        ref_cols = ", ".join(fk.ref_columns)
        is_self = (fk.ref_schema, fk.ref_table) == (table.schema, table.name)
        lines.append(
            f"- {table.qualified_name} ({cols}) → {fk.ref_schema}.{fk.ref_table} ({ref_cols})"
            f"{' (self-reference)' if is_self else ''}, {_origin(fk)}"
        )
    for other, fk in (incoming or {}).get((table.schema, table.name), []):
        if (other.schema, other.name) == (table.schema, table.name):
            continue
        lines.append(
            f"- referenced by {other.qualified_name} ({', '.join(fk.columns)}) →"
            f" ({', '.join(fk.ref_columns)}), {_origin(fk)}"
        )
    return lines


def _origin(fk) -> str:
    """``constraint fk_x`` for a declared key; for an inferred one, how well the data agrees:
    ``inferred, not declared: 97% of 200 sampled values match (rule same_name)``."""
    if not fk.inferred:
        return f"constraint {fk.name}"
    ev = fk.evidence or {}
    share = ev.get("match_share")
    text = "inferred, not declared"
    if share is not None:
        text += f": {share:.0%} of {ev.get('values_probed', 0)} sampled values match"
    if ev.get("rule"):
        text += f" (rule {ev['rule']}, {ev.get('cardinality', 'many-to-one')})"
    return text


def render_detail(
    table: TableMeta,
    *,
    db_name: str,
    schema: SchemaMetadata | None = None,
    extras: TableExtras | None = None,
    incoming: dict | None = None,
) -> str:
    """The ``_detail.md`` text of ``table``; ``schema`` (or its precomputed
    :func:`incoming_foreign_keys`) adds "referenced by" lines."""
    if incoming is None and schema is not None:
        incoming = incoming_foreign_keys(schema)
    title = table.qualified_name + (f" ({_one_line(table.comment)})" if table.comment else "")
    out = [f"# {title}", ""]
    out.append(f"Purpose: {_one_line(table.comment) if table.comment else '(no comment)'}")
    out.append("")
    facts = [
        f"- Database: {db_name}",
        f"- Kind: {table.kind}",
        f"- Rows: {row_count_text(table)}",
    ]
    if table.primary_key:
        facts.append(f"- Primary key: {', '.join(table.primary_key)}")
    elif table.inferred_key:
        keys = ", ".join(table.inferred_key)
        facts.append(f"- Key (inferred, not declared: unique and not null in the data): {keys}")
    for cols in table.unique_constraints:
        if cols != table.primary_key:
            facts.append(f"- Unique: {', '.join(cols)}")
    if extras and extras.partition_key:
        facts.append(f"- Partitioned by: {extras.partition_key}")
    if table.partitions:
        shown = ", ".join(table.partitions[:MAX_PARTITIONS_SHOWN])
        more = len(table.partitions) - MAX_PARTITIONS_SHOWN
        shown += f" (+{more} more)" if more > 0 else ""
        facts.append(f"- Partitions (query {table.qualified_name} itself, not these): {shown}")
    for name, definition in extras.check_constraints if extras else []:
        facts.append(f"- Check {name}: {_one_line(definition)}")
    out += facts
    out += ["", "## Columns", ""]
    out += [column_line(table, col, extras) for col in table.columns]
    relationships = _relationships(table, incoming)
    out += ["", "## Relationships", ""]
    out += relationships or ["- none"]
    return "\n".join(out) + "\n"
