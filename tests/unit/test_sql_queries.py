"""Named SQL (``sql/queries``, ``sql/catalog``, ``sql/vector``): every name the code asks for
exists, and every statement defined is used."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.sql_queries import all_queries, parse_named_queries, query

ROOT = Path(__file__).resolve().parents[2]
# Methods whose first argument is a query name (core.db.Database) and the loader itself.
_NAMED = {"query", "fetch_one", "fetch_all", "read_one", "execute"}


def _trees():
    for folder in ("data_pipeline", "core"):
        for path in (ROOT / folder).rglob("*.py"):
            yield ast.parse(path.read_text(encoding="utf-8"))


def _strings_in_code() -> set[str]:
    """Every string constant of the code (a query name may travel as data before use)."""
    return {
        node.value
        for tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _named_in_code() -> set[str]:
    """Names given directly to the loader or to a Database method."""
    names: set[str] = set()
    for tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = getattr(func, "attr", None) or getattr(func, "id", None)
            first = node.args[0]
            if (
                name in _NAMED
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and first.value.isidentifier()
            ):
                names.add(first.value)
    return names


def test_every_named_query_the_code_uses_exists():
    assert sorted(_named_in_code() - set(all_queries())) == []


def test_every_defined_query_is_used():
    used = _strings_in_code()
    assert sorted(set(all_queries()) - used) == []


def test_unknown_and_repeated_names_are_errors():
    with pytest.raises(KeyError, match="no SQL query named 'nope'"):
        query("nope")
    with pytest.raises(ValueError, match="defined twice"):
        parse_named_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")
