"""Static checks of generated or user SQL, with sqlglot (PostgreSQL dialect).

* :func:`static_check`: exactly one statement, a read-only ``SELECT``/``WITH`` (no
  ``SELECT INTO``, no row locks, no data-modifying CTEs, no administrative functions).
* :func:`check_names`: every table and column it names exists in the schema metadata
  (PostgreSQL identifier rules: unquoted names fold to lower case, quoted ones do not).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from core.errors import error_summary
from data_pipeline.schema.model import SchemaMetadata

# Functions that change server state or reach outside the database even in a read-only
# transaction; generated SQL has no business calling them.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "set_config",
        "lo_import", "lo_export", "lo_unlink", "dblink", "dblink_exec", "pg_advisory_lock",
        "pg_advisory_xact_lock", "pg_try_advisory_lock", "pg_notify", "txid_current",
        "pg_switch_wal", "pg_create_restore_point", "nextval", "setval", "pg_sleep_for",
        "pg_sleep_until",
    }
)  # fmt: skip
_MODIFYING = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter)


class SQLCheckError(ValueError):
    """The SQL failed a static check; the message says which and why."""


@dataclass
class StaticResult:
    ok: bool
    reason: str | None = None
    expression: exp.Expression | None = field(default=None, repr=False)


def normalise_sql(sql: str) -> str:
    """Strip whitespace and trailing semicolons (one statement may end with ``;``)."""
    text = (sql or "").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def parse_single_select(sql: str) -> exp.Expression:
    """Parse ``sql`` as one read-only query; raise SQLCheckError naming the problem."""
    text = normalise_sql(sql)
    if not text:
        raise SQLCheckError("empty SQL")
    try:
        statements = [s for s in sqlglot.parse(text, read="postgres") if s is not None]
    except ParseError as exc:
        raise SQLCheckError(f"syntax error: {error_summary(exc, default='syntax error')}") from None
    except SqlglotError as exc:
        raise SQLCheckError(f"cannot parse: {exc}") from None
    if len(statements) != 1:
        raise SQLCheckError(f"expected exactly one statement, found {len(statements)}")
    root = statements[0]
    if isinstance(root, exp.Command):
        raise SQLCheckError(f"not a query: {root.this!s} statements are not allowed")
    if not isinstance(root, exp.Query):
        raise SQLCheckError(f"only SELECT/WITH queries are allowed, not {root.key.upper()}")
    for node in root.walk():
        if isinstance(node, _MODIFYING):
            raise SQLCheckError(f"data-modifying {node.key.upper()} is not allowed")
        if isinstance(node, exp.Into):
            raise SQLCheckError("SELECT INTO creates a table and is not allowed")
        if isinstance(node, exp.Lock):
            raise SQLCheckError("row locks (FOR UPDATE/SHARE) are not allowed")
        if isinstance(node, exp.Anonymous | exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in FORBIDDEN_FUNCTIONS:
                raise SQLCheckError(f"function {name}() is not allowed")
    return root


def static_check(sql: str) -> StaticResult:
    """Non-raising form of :func:`parse_single_select`."""
    try:
        return StaticResult(True, None, parse_single_select(sql))
    except SQLCheckError as exc:
        return StaticResult(False, str(exc))


def schema_mapping(schema: SchemaMetadata) -> MappingSchema:
    """sqlglot schema with the catalog's exact names (no case folding of the keys)."""
    mapping: dict = {}
    for table in schema.tables:
        mapping.setdefault(table.schema, {})[table.name] = {
            c.name: "text" for c in table.columns
        }  # types do not matter for name resolution
    return MappingSchema(mapping, dialect="postgres", normalize=False)


def referenced_tables(expression: exp.Expression) -> list[tuple[str, str]]:
    """(schema, table) of the real tables a query reads (CTE names excluded)."""
    ctes = {cte.alias_or_name for cte in expression.find_all(exp.CTE)}
    found = []
    for table in expression.find_all(exp.Table):
        name = table.name
        if not name or (not table.db and name in ctes):
            continue
        schema_name = table.db or "public"
        ident_schema = table.args.get("db")
        ident_table = table.this
        if not (isinstance(ident_table, exp.Identifier) and ident_table.quoted):
            name = name.lower()
        if not (isinstance(ident_schema, exp.Identifier) and ident_schema.quoted):
            schema_name = schema_name.lower()
        if (schema_name, name) not in found:
            found.append((schema_name, name))
    return found


def check_names(sql_or_expression: str | exp.Expression, schema: SchemaMetadata) -> list[str]:
    """Problems with the names a query uses: unknown tables, unknown columns. Empty = fine."""
    expression = (
        parse_single_select(sql_or_expression)
        if isinstance(sql_or_expression, str)
        else sql_or_expression
    )
    problems = [
        f"unknown table {s}.{t}" for s, t in referenced_tables(expression) if not schema.table(s, t)
    ]
    if problems:
        return problems
    try:
        qualify(
            expression.copy(),
            schema=schema_mapping(schema),
            dialect="postgres",
            validate_qualify_columns=True,
        )
    except OptimizeError as exc:
        problems.append(str(exc).split(". Line")[0])
    except SqlglotError as exc:  # pragma: no cover - unusual constructs
        problems.append(f"cannot resolve names: {exc}")
    return problems
