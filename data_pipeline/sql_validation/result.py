"""The verdict on one SQL, and the kinds of error a verdict names."""

from __future__ import annotations

from dataclasses import asdict, dataclass

LEVELS = ("explain", "execute")
ERROR_KINDS = (
    "syntax", "unknown_table", "unknown_column", "type_error", "not_read_only",
    "multiple_statements", "unknown_function", "timeout", "other",
)  # fmt: skip

_SQLSTATE_KINDS = {
    "42601": "syntax",  # syntax_error
    "42P01": "unknown_table",  # undefined_table
    "3F000": "unknown_table",  # invalid_schema_name
    "42703": "unknown_column",  # undefined_column
    "42702": "unknown_column",  # ambiguous_column
    "42P09": "unknown_column",  # ambiguous_alias
    "42883": "type_error",  # undefined_function: no function/operator for these types
    "42725": "type_error",  # ambiguous_function
    "42804": "type_error",  # datatype_mismatch
    "42846": "type_error",  # cannot_coerce
    "42P18": "type_error",  # indeterminate_datatype
    "25006": "not_read_only",  # read_only_sql_transaction
    "57014": "timeout",  # query_canceled (statement_timeout)
}


def error_kind_for(sqlstate: str | None) -> str:
    """Our error kind for a PostgreSQL SQLSTATE code."""
    if not sqlstate:
        return "other"
    if sqlstate in _SQLSTATE_KINDS:
        return _SQLSTATE_KINDS[sqlstate]
    if sqlstate.startswith("22"):  # data exceptions: invalid input for a type, overflow, ...
        return "type_error"
    return "other"


def static_error_kind(reason: str) -> str:
    """Error kind for a static-check reason of :mod:`data_pipeline.schema.sql_checks`."""
    text = reason.lower()
    if "exactly one statement" in text:
        return "multiple_statements"
    if text.startswith(("syntax error", "cannot parse", "empty sql")):
        return "syntax"
    return "not_read_only"


@dataclass
class ValidationResult:
    """The verdict on one SQL.

    ``error`` is a clean one-line message (PostgreSQL's primary message or the static
    reason); ``hint`` is PostgreSQL's hint when it gave one (useful for repair).
    """

    sql: str
    valid: bool
    error: str | None = None
    error_kind: str | None = None
    duration_ms: float = 0.0
    sqlstate: str | None = None
    hint: str | None = None
    stage: str = "database"  # "static" when the static check rejected it

    def to_dict(self) -> dict:
        return asdict(self)
