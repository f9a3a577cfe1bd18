"""Duplicate detection for question→SQL pairs.

Two pairs are duplicates when their SQL is the same *template* (equal after replacing literals
with placeholders and normalising whitespace, keyword and unquoted-identifier case) or when
their questions are the same text (ignoring case, spaces and final punctuation).
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")
_QUESTION_END = re.compile(r"[\s?？。.!！]+$")


def template_key(sql: str) -> str:
    """The SQL with literals replaced by ``?``, in one canonical spelling."""
    text = (sql or "").strip().rstrip(";").strip()
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except SqlglotError:
        tree = None
    if tree is None:
        return _fallback_key(text)

    def _blank(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Literal | exp.Boolean | exp.Null):
            return exp.Placeholder()
        return node

    tree = normalize_identifiers(tree.transform(_blank), dialect="postgres")
    return tree.sql(dialect="postgres")


def _fallback_key(text: str) -> str:
    text = _STRING.sub("?", text)
    text = _NUMBER.sub("?", text)
    return _SPACE.sub(" ", text).strip().lower()


def question_key(question: str) -> str:
    """The question with case, inner spaces and final punctuation ignored."""
    text = _SPACE.sub(" ", (question or "").strip()).lower()
    return _QUESTION_END.sub("", text)


class Deduplicator:
    """Remembers accepted pairs; ``add`` says whether a new pair is a duplicate."""

    def __init__(self) -> None:
        self._templates: set[str] = set()
        self._questions: set[str] = set()

    def add(self, question: str, sql: str) -> str | None:
        """Record the pair; return None when new, else why it is a duplicate."""
        t_key, q_key = template_key(sql), question_key(question)
        if t_key in self._templates:
            return "duplicate SQL template"
        if q_key in self._questions:
            return "duplicate question"
        self._templates.add(t_key)
        self._questions.add(q_key)
        return None

    def __len__(self) -> int:
        return len(self._templates)
