"""Rule-based SQL repairs, grounded in the DDL of the tables involved.

* several statements or trailing semicolons → the first SELECT/WITH statement;
* an unquoted name that exists only in mixed case (``OrderDate``) → quoted exactly;
* an unknown table → the closest table of the DDL; an unknown column → the closest column of
  the tables in the DDL (``difflib``, so only near misses are corrected).

Returns None when no rule changes anything.
"""

from __future__ import annotations

import difflib
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from data_pipeline.llm.rules.sqlgen import quote_ident

_CREATE = re.compile(
    r"CREATE\s+(?:UNLOGGED\s+|TEMP(?:ORARY)?\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r'((?:"(?:[^"]|"")+"|[\w$]+)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[\w$]+))?)\s*\(',
    re.IGNORECASE,
)
_IDENT = re.compile(r'^\s*("(?:[^"]|"")+"|[\w$]+)')
_NOT_COLUMNS = {"constraint", "primary", "foreign", "unique", "check", "exclude", "like"}
_CUTOFF = 0.6


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"')
    return token.lower()


def parse_ddl(ddl: str) -> dict[str, list[str]]:
    """``{table name: [column names]}`` from CREATE TABLE statements (exact catalog names)."""
    tables: dict[str, list[str]] = {}
    for match in _CREATE.finditer(ddl or ""):
        name = _unquote(re.split(r"\s*\.\s*(?=[\"\w$]+$)", match.group(1))[-1].strip())
        depth, start = 1, match.end()
        i = start
        while i < len(ddl) and depth:
            depth += {"(": 1, ")": -1}.get(ddl[i], 0)
            i += 1
        columns = []
        for part in _split_top_level(ddl[start : i - 1]):
            ident = _IDENT.match(part)
            if ident and ident.group(1).lower() not in _NOT_COLUMNS:
                columns.append(_unquote(ident.group(1)))
        tables[name] = columns
    return tables


def _split_top_level(text: str) -> list[str]:
    parts, depth, current, quote = [], 0, [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    # Drop "-- comment" lines so they are not taken for columns.
    return [re.sub(r"--[^\n]*", "", p) for p in parts if p.strip()]


def first_statement(sql: str) -> tuple[str, bool]:
    """The first SELECT/WITH statement of ``sql`` without trailing semicolons, and whether
    anything (other statements, semicolons) was dropped."""
    text = sql.strip()
    try:
        statements = [s for s in sqlglot.parse(text, read="postgres") if s is not None]
    except SqlglotError:
        statements = []
    if len(statements) > 1:
        query = next((s for s in statements if isinstance(s, exp.Query)), None)
        if query is not None:
            return query.sql(dialect="postgres"), True
    stripped = text.rstrip(";").strip()
    return stripped, stripped != text


def _fix_name(ident: exp.Identifier, known: list[str]) -> bool:
    """Point ``ident`` at an existing name; True when it changed."""
    name = ident.this
    effective = name if ident.quoted else name.lower()
    if effective in known or not known:
        return False
    exact_case = [k for k in known if k.lower() == name.lower()]
    close = exact_case or difflib.get_close_matches(effective, known, n=1, cutoff=_CUTOFF)
    if not close:
        return False
    replacement = quote_ident(close[0])
    ident.set("this", close[0])
    ident.set("quoted", replacement.startswith('"'))
    return True


def repair_sql(sql: str, error: str, ddl: str) -> str | None:
    """A repaired SQL, or None when no rule applies."""
    original = (sql or "").strip()
    text, changed = first_statement(original)
    tables = parse_ddl(ddl)
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except SqlglotError:
        tree = None
    if tree is None:
        return text if changed and text else None
    names_changed = False
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    aliases = {a.alias for a in tree.find_all(exp.Alias)} | ctes
    aliases |= {t.alias for t in tree.find_all(exp.Table) if t.alias}
    all_columns = sorted({c for cols in tables.values() for c in cols})
    for table in tree.find_all(exp.Table):
        ident = table.this
        if isinstance(ident, exp.Identifier) and table.name not in ctes:
            names_changed |= _fix_name(ident, sorted(tables))
    used = [t.name for t in tree.find_all(exp.Table) if t.name in tables]
    columns = sorted({c for t in used for c in tables[t]}) or all_columns
    for column in tree.find_all(exp.Column):
        ident = column.this
        if not isinstance(ident, exp.Identifier) or column.name in aliases:
            continue
        names_changed |= _fix_name(ident, columns)
    if names_changed:
        return tree.sql(dialect="postgres")
    return text if changed and text else None
