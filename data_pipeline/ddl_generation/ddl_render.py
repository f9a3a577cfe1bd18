"""``<table>.ddl``: PostgreSQL that recreates a table in an empty database.

What makes the files runnable anywhere, in any order:

* enum types are created inside a ``DO`` block that ignores ``duplicate_object``, so several
  files using the same type run in one database;
* non-public schemas get ``CREATE SCHEMA IF NOT EXISTS``;
* ``nextval(...)`` defaults become ``serial``/``bigserial``/``smallserial`` (the sequence is
  created with the table), identity and generated columns keep their clause;
* domains are written as their base type (the reader resolves them);
* foreign keys to tables outside the run are written as comments, as they could never run;
* views, materialized views and foreign tables are recreated as plain tables with their columns.
"""

from __future__ import annotations

import re

from data_pipeline.ddl_generation.catalog import TableExtras
from data_pipeline.schema.model import ColumnMeta, TableMeta
from data_pipeline.schema.table_list import split_qualified

# Reserved (R) and type/function-name (T) keywords of PostgreSQL: identifiers spelled like
# these must be quoted (from pg_get_keywords()).
RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user
    default deferrable desc distinct do else end except false fetch for foreign freeze from full
    grant group having ilike in initially inner intersect into is isnull join lateral leading
    left like limit localtime localtimestamp natural not notnull null offset on only or order
    outer overlaps placing primary references returning right select session_user similar some
    symmetric system_user table tablesample then to trailing true union unique user using
    variadic verbose when where window with""".split()  # noqa: SIM905
)
_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")
_SERIALS = {"integer": "serial", "bigint": "bigserial", "smallint": "smallserial"}
GENERATED_MARK = "-- comment generated"


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL needs it: bare when it can be, else double-quoted."""
    if _PLAIN.match(name) and name not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def table_ref(schema: str, name: str) -> str:
    """A table reference: unqualified in ``public`` (the default search_path), else qualified."""
    if schema == "public":
        return quote_ident(name)
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def literal(text: str) -> str:
    """A string literal (standard_conforming_strings: only quotes are doubled)."""
    return "'" + text.replace("\x00", "").replace("'", "''") + "'"


def one_line(text: str) -> str:
    """Text fit for a ``--`` comment line."""
    return " ".join(str(text).split())


def _dollar_tag(body: str) -> str:
    tag, n = "$ddl$", 0
    while tag in body:
        n += 1
        tag = f"$ddl{n}$"
    return tag


def enum_type_block(type_name: str, labels: list[str]) -> str:
    """``CREATE TYPE ... AS ENUM`` that does nothing when the type exists already."""
    body = f"CREATE TYPE {type_name} AS ENUM ({', '.join(literal(v) for v in labels)});"
    tag = _dollar_tag(body)
    return f"DO {tag} BEGIN\n    {body}\nEXCEPTION WHEN duplicate_object THEN NULL;\nEND {tag};"


def column_definition(col: ColumnMeta) -> str:
    """One column line of CREATE TABLE."""
    data_type, default = col.data_type, col.default
    clause = ""
    if default and default.startswith("nextval(") and data_type in _SERIALS:
        data_type = _SERIALS[data_type]  # the sequence comes with the table
    elif default and default.startswith("GENERATED "):
        clause = " " + default
    elif default and "nextval(" in default:
        clause = ""  # a sequence of another object: cannot exist in an empty database
    elif default:
        clause = f" DEFAULT {default}"
    not_null = " NOT NULL" if not col.nullable else ""
    return f"{quote_ident(col.name)} {data_type}{clause}{not_null}"


def _columns_list(cols: list[str]) -> str:
    return ", ".join(quote_ident(c) for c in cols)


def _enum_types(table: TableMeta) -> dict[str, list[str]]:
    types: dict[str, list[str]] = {}
    for col in table.columns:
        if col.enum_source == "enum_type" and col.enum_values is not None:
            types.setdefault(col.data_type, list(col.enum_values))
    return types


def _schemas_needed(table: TableMeta) -> list[str]:
    """Non-public schemas of the table and of the enum types it uses."""
    schemas = [table.schema] if table.schema != "public" else []
    for type_name in _enum_types(table):
        try:
            schema, _ = split_qualified(type_name)
        except ValueError:
            continue
        if "." in type_name and schema != "public" and schema not in schemas:
            schemas.append(schema)
    return schemas


def inferred_note(table: TableMeta, fk) -> str:
    """``-- inferred: (aid) REFERENCES public.author (aid) (97% of 200 values match)``: an
    inferred relationship is documented, never created as a constraint."""
    evidence = fk.evidence or {}
    share = evidence.get("match_share")
    how = (
        f" ({share:.0%} of {evidence.get('values_probed', 0)} sampled values match)"
        if share is not None
        else ""
    )
    return (
        f"-- inferred: ({_columns_list(fk.columns)}) REFERENCES "
        f"{table_ref(fk.ref_schema, fk.ref_table)} ({_columns_list(fk.ref_columns)}){how}"
    )


def _constraint_lines(
    table: TableMeta, extras: TableExtras | None, known: set[tuple[str, str]] | None
) -> tuple[list[str], list[str]]:
    """Constraint lines inside CREATE TABLE, and notes for constraints left out."""
    lines, notes = [], []
    if table.primary_key:
        lines.append(f"PRIMARY KEY ({_columns_list(table.primary_key)})")
    elif table.inferred_key:
        keys = _columns_list(table.inferred_key)
        notes.append(f"-- key (inferred: unique and not null in the data, not declared): ({keys})")
    for cols in table.unique_constraints:
        if cols != table.primary_key:
            lines.append(f"UNIQUE ({_columns_list(cols)})")
    for fk in table.foreign_keys:
        if fk.inferred:
            notes.append(inferred_note(table, fk))
            continue
        definition = (extras.fk_definitions.get(fk.name) if extras else None) or (
            f"FOREIGN KEY ({_columns_list(fk.columns)}) REFERENCES "
            f"{table_ref(fk.ref_schema, fk.ref_table)} ({_columns_list(fk.ref_columns)})"
        )
        line = f"CONSTRAINT {quote_ident(fk.name)} {definition}"
        if known is not None and (fk.ref_schema, fk.ref_table) not in known:
            notes.append(f"-- not created (table not in this run): {one_line(line)}")
        else:
            lines.append(line)
    for name, definition in extras.check_constraints if extras else []:
        lines.append(f"CONSTRAINT {quote_ident(name)} {definition}")
    return lines, notes


def render_ddl(
    table: TableMeta,
    *,
    db_name: str,
    extras: TableExtras | None = None,
    known_tables: set[tuple[str, str]] | None = None,
) -> str:
    """The ``.ddl`` text of ``table``.

    Args:
        table: the table's metadata (comments included, generated ones marked).
        db_name: the business database's name, for the header.
        extras: checks, exact FK definitions, partitioning, extensions (from the reader).
        known_tables: ``(schema, table)`` of every table of the run; foreign keys to other
            tables become comments. None writes every foreign key.
    """
    ref = table_ref(table.schema, table.name)
    out = [f"-- Table: {one_line(table.qualified_name)}"]
    if table.comment:
        out.append(f"-- Comment: {one_line(table.comment)}")
    out.append(f"-- Database: {one_line(db_name)}; kind: {table.kind}; rows: {_rows(table)}")
    if table.kind not in ("table", "partitioned table"):
        out.append(f"-- This {table.kind} is written as a table with the same columns.")
    out.append("")
    for schema in _schemas_needed(table):
        out.append(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)};")
    for ext in sorted(extras.extensions if extras else ()):
        out.append(f"CREATE EXTENSION IF NOT EXISTS {quote_ident(ext)};")
    for type_name, labels in _enum_types(table).items():
        out.append(enum_type_block(type_name, labels))
        type_comment = extras.enum_type_comments.get(type_name) if extras else None
        if type_comment:
            out.append(f"COMMENT ON TYPE {type_name} IS {literal(type_comment)};")
    if out[-1]:
        out.append("")

    body = [column_definition(c) for c in table.columns]
    constraints, notes = _constraint_lines(table, extras, known_tables)
    body += constraints
    partition = ""
    if extras and extras.partition_key and table.kind == "partitioned table":
        partition = f" PARTITION BY {extras.partition_key}"
    out.append(f"CREATE TABLE {ref} (")
    out.append(",\n".join(f"    {line}" for line in body))
    out.append(f"){partition};")
    out.extend(notes)

    comments = _comment_statements(table, ref)
    if comments:
        out.append("")
        out.extend(comments)
    return "\n".join(out) + "\n"


def _comment_statements(table: TableMeta, ref: str) -> list[str]:
    lines = []
    if table.comment:
        if table.comment_generated:
            lines.append(GENERATED_MARK)
        lines.append(f"COMMENT ON TABLE {ref} IS {literal(table.comment)};")
    for col in table.columns:
        if col.comment:
            if col.comment_generated:
                lines.append(GENERATED_MARK)
            target = f"{ref}.{quote_ident(col.name)}"
            lines.append(f"COMMENT ON COLUMN {target} IS {literal(col.comment)};")
    return lines


def _rows(table: TableMeta) -> str:
    if table.row_count is None:
        return "unknown"
    return f"{table.row_count} ({'exact' if table.row_count_exact else 'estimated'})"
