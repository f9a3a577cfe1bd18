"""What SQL may run on a business database, decided on PostgreSQL's own parse tree.

The SQL is parsed by libpg_query (``pglast``), the parser of PostgreSQL itself, so it reads
``U&"\\0070g_read_file"`` as the server will: ``pg_read_file``. It is allowed only as

* exactly one ``SELECT`` (or ``WITH … SELECT``, ``VALUES``): no data-modifying ``WITH``, no
  ``SELECT INTO``, no locking clause (``FOR UPDATE`` / ``FOR SHARE``);
* calling only functions that exist on the source (``pg_proc``) and are immutable or stable —
  plus a few harmless volatile ones (:data:`HARMLESS_VOLATILE`) — and none of the functions
  that run SQL given as text or read the server's state or files (:data:`DENIED_PREFIXES`);
  a function the source does not have is refused, naming it;
* using only operators whose functions are immutable or stable;
* reading no system catalog or statistics view (``pg_catalog``, ``information_schema``).

Everything not on the list is refused: the rule is what may run, not what may not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pglast import parser as pg_parser

# Volatile functions that change nothing and read nothing outside the query (pg_sleep only
# costs time, which the statement timeout bounds).
HARMLESS_VOLATILE = frozenset(
    {"random", "random_normal", "clock_timestamp", "timeofday", "gen_random_uuid", "uuidv4",
     "uuidv7", "pg_sleep"}
)  # fmt: skip
# Stable or immutable functions that still run SQL from text, read whole schemas, files,
# settings or other sessions' activity: never in a training query.
DENIED_PREFIXES = (
    "query_to_", "cursor_to_", "table_to_", "schema_to_", "database_to_", "ts_stat",
    "pg_stat_", "pg_ls_", "pg_read_", "pg_relation_file", "pg_filenode_", "pg_walfile",
    "pg_split_walfile", "pg_get_replication", "pg_show_", "current_setting", "dblink", "lo_",
    "pg_file", "pg_backend_pid", "inet_server_", "inet_client_", "pg_postmaster_",
    "pg_conf_", "pg_control_", "pg_current_logfile", "pg_tablespace_location", "txid_",
    "pg_current_xact", "pg_snapshot", "pg_blocking_pids", "pg_safe_snapshot",
)  # fmt: skip
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})
_WRITES = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE",
           "MergeStmt": "MERGE"}  # fmt: skip


class NotAllowed(ValueError):
    """The SQL is not on the allow-list; ``kind`` is the report's error kind."""

    def __init__(self, message: str, kind: str = "not_read_only"):
        super().__init__(message)
        self.kind = kind


@dataclass
class SourceCatalog:
    """The functions and operators of one source database, by name, with their volatilities.

    ``functions[name]`` maps schema → set of volatilities (``i``, ``s``, ``v``); the same for
    ``operators``. ``search_path`` are the schemas an unqualified name is looked up in.
    """

    functions: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    operators: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    search_path: tuple[str, ...] = ("pg_catalog", "public")

    @classmethod
    def from_rows(cls, functions, operators, search_path) -> SourceCatalog:
        catalog = cls(search_path=tuple(search_path or ("pg_catalog", "public")))
        for name, schema, volatility in functions:
            catalog.functions.setdefault(name, {}).setdefault(schema, set()).add(volatility)
        for name, schema, volatility in operators:
            catalog.operators.setdefault(name, {}).setdefault(schema, set()).add(volatility)
        return catalog

    def _visible(self, table: dict, names: list[str]) -> set[str] | None:
        *schema, name = names
        by_schema = table.get(name)
        if not by_schema:
            return None
        if schema:
            return by_schema.get(schema[-1])
        found = [by_schema[s] for s in self.search_path if s in by_schema]
        return set().union(*found) if found else None

    def function_volatility(self, names: list[str]) -> set[str] | None:
        return self._visible(self.functions, names)

    def operator_volatility(self, names: list[str]) -> set[str] | None:
        return self._visible(self.operators, names)


def _names(nodes) -> list[str]:
    return [n["String"]["sval"] for n in nodes or [] if "String" in n]


def _display(names: list[str]) -> str:
    return ".".join(names)


def check_allowed(sql: str, catalog: SourceCatalog) -> None:
    """Raise :class:`NotAllowed` (naming what) unless ``sql`` is on the allow-list."""
    try:
        tree = json.loads(pg_parser.parse_sql_json(sql))
    except pg_parser.ParseError as exc:
        raise NotAllowed(f"syntax error: {exc}", "syntax") from None
    statements = tree.get("stmts") or []
    if len(statements) != 1:
        raise NotAllowed(
            f"expected exactly one statement, found {len(statements)}", "multiple_statements"
        )
    stmt = statements[0].get("stmt") or {}
    kind = next(iter(stmt), "nothing")
    if kind != "SelectStmt":
        raise NotAllowed(f"only one SELECT (or WITH … SELECT) may run, not {_kind_name(kind)}")
    _walk(stmt, catalog)


def _kind_name(kind: str) -> str:
    return _WRITES.get(kind) or kind.removesuffix("Stmt").upper() or kind


def _walk(node, catalog: SourceCatalog) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key in _WRITES:
                raise NotAllowed(f"a data-modifying {_WRITES[key]} in WITH may not run")
            if key == "SelectStmt" and isinstance(value, dict):
                if value.get("intoClause"):
                    raise NotAllowed("SELECT INTO creates a table: not allowed")
                if value.get("lockingClause"):
                    raise NotAllowed("FOR UPDATE / FOR SHARE take row locks: not allowed")
            elif key == "FuncCall" and isinstance(value, dict):
                _check_function(_names(value.get("funcname")), catalog)
            elif key == "A_Expr" and isinstance(value, dict):
                operator = _names(value.get("name"))
                if operator:
                    _check_operator(operator, catalog)
            elif key == "RangeVar" and isinstance(value, dict):
                _check_relation(value)
            if isinstance(value, dict | list):
                stack.append(value)


def _check_function(names: list[str], catalog: SourceCatalog) -> None:
    name = names[-1] if names else ""
    shown = _display(names)
    if any(name.startswith(prefix) for prefix in DENIED_PREFIXES):
        raise NotAllowed(f"function {shown}() reads the server's state or runs SQL: not allowed")
    volatility = catalog.function_volatility(names)
    if volatility is None:
        raise NotAllowed(f"function {shown}() does not exist on the source", "unknown_function")
    if volatility <= {"i", "s"} or name in HARMLESS_VOLATILE:
        return
    raise NotAllowed(f"function {shown}() is volatile (it may change state): not allowed")


def _check_operator(names: list[str], catalog: SourceCatalog) -> None:
    volatility = catalog.operator_volatility(names)
    if volatility is not None and not volatility <= {"i", "s"}:
        raise NotAllowed(f"operator {_display(names)} calls a volatile function: not allowed")


def _check_relation(range_var: dict) -> None:
    schema = range_var.get("schemaname")
    name = range_var.get("relname") or ""
    if schema in SYSTEM_SCHEMAS or (not schema and name.startswith("pg_")):
        raise NotAllowed(f"{name} is a system catalog, not business data: not allowed")
