"""Prompts of the OpenAI-compatible provider: one system + user message per task, each asking
for a JSON answer of a fixed shape. Chinese business context → Chinese output."""

from __future__ import annotations

import json

from data_pipeline.llm.base import Theme
from data_pipeline.llm.rules.words import language_of
from data_pipeline.schema.model import SchemaMetadata, TableMeta

SAMPLES_SHOWN = 5
SCHEMA_CHARS = 12_000  # compact column lists sent with pair requests
TABLES_CHARS = 20_000  # the table list sent with the theme request


def _language(business_context: str) -> str:
    if language_of(business_context) == "zh":
        return "Write every comment, name, description and question in Simplified Chinese."
    return "Write every comment, name, description and question in English."


def _table_outline(table: TableMeta, samples: bool = True) -> str:
    """``schema.table`` with one line per column: type, keys, comment, sample values."""
    fks = {c: fk for fk in table.foreign_keys for c in fk.columns}
    lines = [f"TABLE {table.qualified_name}" + (f" -- {table.comment}" if table.comment else "")]
    for col in table.columns:
        parts = [f"  {col.name} {col.data_type}"]
        if col.is_primary_key:
            parts.append("PK")
        if col.name in fks:
            parts.append(f"FK->{fks[col.name].ref_schema}.{fks[col.name].ref_table}")
        if col.comment:
            parts.append(f"-- {col.comment}")
        if col.enum_values:
            parts.append(f"values: {col.enum_values[:12]}")
        elif samples and col.samples:
            shown = [str(v)[:40] for v in col.samples[:SAMPLES_SHOWN]]
            parts.append(f"e.g. {shown}")
        lines.append(" ".join(parts))
    return "\n".join(lines)


def comment_table(table: TableMeta, business_context: str) -> tuple[str, str]:
    missing = [c.name for c in table.columns if not c.comment]
    system = "You document PostgreSQL business databases. Answer with JSON only. " + _language(
        business_context
    )
    user = (
        f"Business context: {business_context}\n\n{_table_outline(table)}\n\n"
        "Write a short comment (one line) for the table"
        + (" (it has none)" if not table.comment else " (keep it short)")
        + f" and for each of these columns without a comment: {json.dumps(missing)}.\n"
        "Use the column names, types and sample values; do not invent columns.\n"
        'Answer: {"table_comment": "...", "columns": {"<column name>": "<comment>", ...}}'
    )
    return system, user


def extract_themes(
    schema: SchemaMetadata, business_context: str, count: int, detail_markdown: str
) -> tuple[str, str]:
    system = (
        "You are a data analyst who designs Text-to-SQL training data. Answer with JSON only. "
        + _language(business_context)
    )
    lines = [
        f"- {t.qualified_name}" + (f": {t.comment}" if t.comment else "") for t in schema.tables
    ]
    tables = "\n".join(lines)
    if len(tables) > TABLES_CHARS:  # hundreds of tables: keep the prompt bounded
        tables = tables[:TABLES_CHARS].rsplit("\n", 1)[0] + "\n- …"
    user = (
        f"Business context: {business_context}\n\nTables:\n{tables}\n\n"
        f"Table documentation:\n{detail_markdown}\n\n"
        f"Propose {count} distinct business analysis themes over these tables. Each theme "
        "names the tables it uses (exactly as listed, schema.table), the business entities "
        "and the metrics it is about. Together the themes should cover all tables.\n"
        'Answer: {"themes": [{"name": "...", "description": "...", "tables": ["schema.table"], '
        '"entities": ["..."], "metrics": ["..."]}]}'
    )
    return system, user


def generate_pairs(
    theme: Theme,
    schema: SchemaMetadata,
    business_context: str,
    count: int,
    detail_markdown: str,
) -> tuple[str, str]:
    system = (
        "You write question/SQL pairs for training a Text-to-SQL model on PostgreSQL. "
        "Answer with JSON only. " + _language(business_context)
    )
    outlines, used = [], 0
    for name in theme.tables:
        schema_name, _, table_name = name.rpartition(".")
        table = schema.table(schema_name or "public", table_name)
        if table is None:
            continue
        text = _table_outline(table)
        if used + len(text) > SCHEMA_CHARS and outlines:
            break
        outlines.append(text)
        used += len(text)
    user = (
        f"Business context: {business_context}\n\n"
        f"Theme: {theme.name}\n{theme.description}\n"
        f"Entities: {', '.join(theme.entities)}; metrics: {', '.join(theme.metrics)}\n\n"
        "Tables (the only tables and columns that exist):\n" + "\n\n".join(outlines) + "\n\n"
        f"Documentation:\n{detail_markdown}\n\n"
        f"Write {count} different questions a business user would ask about this theme, each "
        "with one PostgreSQL SELECT that answers it. Rules: a single SELECT or WITH statement, "
        "no semicolon; only the tables and columns above; schema-qualify tables outside "
        'public; double-quote identifiers that are mixed case or reserved words (e.g. "Order"); '
        "use literal values seen in the samples for filters; prefer queries that return rows; "
        "use joins along the foreign keys where the question needs them; vary the questions "
        "(counts, rankings, trends over dates, group-bys, filters, averages).\n"
        'Answer: {"pairs": [{"question": "...", "sql": "SELECT ..."}]}'
    )
    return system, user


def repair_sql(question: str, sql: str, error: str, ddl: str) -> tuple[str, str]:
    system = (
        "You fix PostgreSQL queries. Answer with JSON only: "
        '{"sql": "<corrected single SELECT>"} or {"sql": null} when it cannot be fixed.'
    )
    user = (
        f"Question: {question}\n\nSQL:\n{sql}\n\nError:\n{error}\n\n"
        f"DDL of the tables involved:\n{ddl}\n\n"
        "Return a corrected single read-only SELECT (no semicolon) that answers the question, "
        "using only the tables and columns in the DDL."
    )
    return system, user
