"""A PostgreSQL-faithful lexical guard: where statements end, and whether a full parse is needed.

The validator must never hand the driver more than one statement, and it must be fast (a full
sqlglot parse costs more than PostgreSQL's own EXPLAIN of the query). This module lexes SQL
the way PostgreSQL's scanner does — ``'…'`` strings (``''`` escapes; backslash escapes in
``E'…'`` and when ``standard_conforming_strings`` is off), ``"…"`` identifiers, ``$tag$…$tag$``
bodies, ``--`` and nested ``/* */`` comments — and answers three questions:

* Is there exactly one statement (a ``;`` outside literals and comments only at the end)?
  This is authoritative: the text sent to the server is cut at that ``;``.
* Is every literal and comment terminated?
* Is the statement *clean*: it starts with ``SELECT``/``WITH`` and contains no word that could
  make it write or lock (``INSERT``, ``UPDATE``, ``DELETE``, ``MERGE``, ``INTO``, ``SHARE``) nor
  a function name from :data:`data_pipeline.sql_checks.FORBIDDEN_FUNCTIONS`? A clean statement
  is read-only by construction and goes straight to the database; anything else goes through
  :func:`data_pipeline.sql_checks.parse_single_select`, which decides precisely (a column may
  well be called ``comment`` or ``share``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data_pipeline.sql_checks import FORBIDDEN_FUNCTIONS

# Words that can turn a single SELECT/WITH into a write or a row lock: data-modifying CTEs,
# SELECT INTO, FOR UPDATE / FOR [KEY] SHARE. Statement-level commands (DROP, CREATE, ...)
# cannot appear inside one SELECT, so the first-word rule and the ';' rule cover them.
SUSPECT_WORDS = frozenset({"insert", "update", "delete", "merge", "into", "share"})
QUERY_STARTS = frozenset({"select", "with"})

_ID_START = r"A-Za-z_\u0080-\U0010ffff"
_ID_CONT = r"A-Za-z_0-9\u0080-\U0010ffff"
_TOKEN = re.compile(
    rf"""
    (?P<ws>[\ \t\n\r\f\v]+)
  | (?P<line_comment>--[^\r\n]*)
  | (?P<block_comment>/\*)
  | (?P<estring>[eE]')
  | (?P<bitstring>[bBxX]')
  | (?P<ustring>[uU]&')
  | (?P<string>[nN]?')
  | (?P<uident>[uU]&")
  | (?P<ident>")
  | (?P<dollar>\$(?:[{_ID_START}][{_ID_CONT}]*)?\$)
  | (?P<param>\$[0-9]+)
  | (?P<word>[{_ID_START}][{_ID_CONT}$]*)
  | (?P<number>[0-9][0-9A-Za-z_.]*)
  | (?P<semicolon>;)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# Only ASCII whitespace separates tokens: PostgreSQL treats every other non-ASCII character
# as part of an identifier, and the two lexers must agree on where each token starts.
# Bodies after the opening quote; each alternative starts with a different character, so
# matching is linear (no catastrophic backtracking).
_STANDARD_BODY = re.compile(r"(?:[^']+|'')*'", re.DOTALL)
_BIT_BODY = re.compile(r"[^']*'")
_ESCAPE_BODY = re.compile(r"(?:[^'\\]+|\\.|'')*'", re.DOTALL)
_IDENT_BODY = re.compile(r'(?:[^"]+|"")*"', re.DOTALL)
_COMMENT_MARK = re.compile(r"/\*|\*/")


@dataclass(frozen=True)
class GuardResult:
    """What the lexer found.

    Attributes:
        ok: one complete statement (no stray ``;``, every literal and comment closed).
        reason: why not, when ``ok`` is False.
        kind: error kind for the reason (``multiple_statements`` or ``syntax``).
        clean: ``ok`` and provably a read-only SELECT/WITH: no full parse needed.
        body: the statement to send (trailing ``;`` and what follows it removed).
    """

    ok: bool
    reason: str | None = None
    kind: str | None = None
    clean: bool = False
    body: str = ""


class _Unterminated(Exception):
    pass


def _skip_block_comment(text: str, pos: int) -> int:
    """Position after the comment opened just before ``pos`` (comments nest in PostgreSQL)."""
    depth = 1
    while depth:
        m = _COMMENT_MARK.search(text, pos)
        if m is None:
            raise _Unterminated("unterminated /* comment")
        depth += 1 if m.group() == "/*" else -1
        pos = m.end()
    return pos


def _skip_body(pattern: re.Pattern, text: str, pos: int, what: str) -> int:
    m = pattern.match(text, pos)
    if m is None:
        raise _Unterminated(f"unterminated {what}")
    return m.end()


def inspect_statement(sql: str, *, backslash_escapes: bool = False) -> GuardResult:
    """Lex ``sql`` as PostgreSQL would and classify it (see the module docstring).

    Args:
        sql: the SQL text.
        backslash_escapes: True when the server has ``standard_conforming_strings = off``
            (then a backslash escapes a quote in ordinary ``'…'`` strings too).
    """
    text = sql or ""
    string_body = _ESCAPE_BODY if backslash_escapes else _STANDARD_BODY
    words: list[str] = []
    first_word: str | None = None
    statements = 0  # statements that have at least one token
    current_has_tokens = False
    start: int | None = None  # where the (first non-empty) statement begins
    cut: int | None = None  # where it ends, when a ';' closes it
    suspicious_ident = False
    pos, end = 0, len(text)
    try:
        while pos < end:
            m = _TOKEN.match(text, pos)
            kind, pos = m.lastgroup, m.end()
            if kind in ("ws", "line_comment"):
                continue
            if kind == "block_comment":
                pos = _skip_block_comment(text, pos)
                continue
            if kind == "semicolon":
                if current_has_tokens:
                    statements += 1
                    if cut is None:
                        cut = m.start()
                current_has_tokens = False
                continue
            if not current_has_tokens and start is None:
                start = m.start()
            current_has_tokens = True
            if first_word is None and m.group() != "(":
                first_word = m.group().lower() if kind == "word" else ""
            if kind == "estring":
                pos = _skip_body(_ESCAPE_BODY, text, pos, "quoted string")
            elif kind == "string":
                pos = _skip_body(string_body, text, pos, "quoted string")
            elif kind == "ustring":  # never backslash escapes at the lexical level
                pos = _skip_body(_STANDARD_BODY, text, pos, "quoted string")
            elif kind == "bitstring":  # ends at the first quote; '' starts a new literal
                pos = _skip_body(_BIT_BODY, text, pos, "bit-string literal")
            elif kind in ("ident", "uident"):
                name_start = pos
                pos = _skip_body(_IDENT_BODY, text, pos, "quoted identifier")
                name = text[name_start : pos - 1].replace('""', '"')
                # A quoted name calls the same function; U&"..." may spell any name.
                if kind == "uident" or name in FORBIDDEN_FUNCTIONS:
                    suspicious_ident = True
            elif kind == "dollar":
                close = text.find(m.group(), pos)
                if close < 0:
                    raise _Unterminated("unterminated dollar-quoted string")
                pos = close + len(m.group())
            elif kind == "word":
                words.append(m.group().lower())
    except _Unterminated as exc:
        return GuardResult(False, f"syntax error: {exc}", "syntax")
    if current_has_tokens:
        statements += 1
    if statements == 0:
        return GuardResult(False, "empty SQL", "syntax")
    if statements > 1:
        return GuardResult(
            False, f"expected exactly one statement, found {statements}", "multiple_statements"
        )
    body = text[start:cut].strip()
    clean = (
        first_word in QUERY_STARTS
        and not suspicious_ident
        and SUSPECT_WORDS.isdisjoint(words)
        and FORBIDDEN_FUNCTIONS.isdisjoint(words)
    )
    return GuardResult(True, None, None, clean, body)
