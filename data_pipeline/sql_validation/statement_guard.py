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
  make it write or lock (``INSERT``, ``UPDATE``, ``DELETE``, ``MERGE``, ``INTO``, ``SHARE``)
  nor a function name from :data:`data_pipeline.schema.sql_checks.FORBIDDEN_FUNCTIONS`? A clean
  statement is read-only by construction and goes straight to the database; anything else goes
  through :func:`data_pipeline.schema.sql_checks.parse_single_select`, which decides precisely
  (a column may well be called ``comment`` or ``share``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data_pipeline.schema.sql_checks import FORBIDDEN_FUNCTIONS

# Words that can turn a single SELECT/WITH into a write or a row lock: data-modifying CTEs,
# SELECT INTO, FOR UPDATE / FOR [KEY] SHARE. Statement-level commands (DROP, CREATE, ...)
# cannot appear inside one SELECT, so the first-word rule and the ';' rule cover them.
SUSPECT_WORDS = frozenset({"insert", "update", "delete", "merge", "into", "share"})
QUERY_STARTS = frozenset({"select", "with"})
_SPACE = " \t\n\r\f\v"  # PostgreSQL's whitespace (ASCII only)

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
  | (?P<number>[0-9][0-9A-Za-z_]*)
  | (?P<semicolon>;)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# Only ASCII whitespace separates tokens: PostgreSQL treats every other non-ASCII character
# as part of an identifier, and the two lexers must agree on where each token starts.
# Bodies after the opening quote, written as "unrolled loops" (no nested quantifiers over the
# same characters), so an unterminated literal fails in linear time.
_STANDARD_BODY = re.compile(r"[^']*(?:''[^']*)*'")
_BIT_BODY = re.compile(r"[^']*'")
_ESCAPE_BODY = re.compile(r"[^'\\]*(?:(?:\\.|'')[^'\\]*)*'", re.DOTALL)
_IDENT_BODY = re.compile(r'[^"]*(?:""[^"]*)*"')
_COMMENT_MARK = re.compile(r"/\*|\*/")

# Fast path for the usual SQL (no '$', no '/*'): only the few places where a literal or a
# comment starts are visited in Python; everything else is split and compared in C. A prefix
# (E'', B'', X'', U&'') counts only at the start of a token, as in PostgreSQL: ``namE'x'`` is
# the name ``namE`` followed by the string 'x'.
_FAST_SPECIAL = re.compile(r"['\"]|--")
_IDENT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")


# Keywords are ASCII and fold case in ASCII only, as in PostgreSQL: searching the UTF-8
# bytes lower-cased by bytes.lower() does exactly that, and every byte >= 0x80 is part of an
# identifier. A match counts only at the start of a word (checked by hand: a look-behind
# would disable the regex engine's first-character scan).
def _trie_pattern(words: list[str]) -> str:
    """An alternation of ``words`` factored by common prefixes (several times faster to
    search than a flat ``a|b|c``)."""
    groups: dict[str, list[str]] = {}
    for word in words:
        groups.setdefault(word[0], []).append(word[1:])
    parts = []
    for first, rests in sorted(groups.items()):
        tails = [r for r in rests if r]
        if not tails:
            parts.append(re.escape(first))
            continue
        optional = "?" if len(tails) < len(rests) else ""
        parts.append(f"{re.escape(first)}(?:{_trie_pattern(tails)}){optional}")
    return "|".join(parts)


_FAST_SUSPECT = re.compile(
    f"(?:{_trie_pattern(sorted(SUSPECT_WORDS | FORBIDDEN_FUNCTIONS))})".encode()
    + rb"(?![A-Za-z0-9_$\x80-\xff])"
)
_IDENT_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$"
) | frozenset(range(0x80, 0x100))
_FAST_FIRST = re.compile(
    r"[ \t\n\r\f\v(]*([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*)"
)
_FAST_MAX_CHARS = 200_000


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
    simple = "$" not in text and "/*" not in text and len(text) <= _FAST_MAX_CHARS
    if simple and not backslash_escapes:
        result = _inspect_fast(text)
        if result is not None:
            return result
    return _inspect_tokens(text, backslash_escapes)


def _finish(text: str, start: int, cut: int | None, words, first_word, suspicious) -> GuardResult:
    body = text[start:cut].strip(_SPACE)
    clean = (
        first_word in QUERY_STARTS
        and not suspicious
        and SUSPECT_WORDS.isdisjoint(words)
        and FORBIDDEN_FUNCTIONS.isdisjoint(words)
    )
    return GuardResult(True, None, None, clean, body)


def _several(count: int) -> GuardResult:
    return GuardResult(
        False, f"expected exactly one statement, found {count}", "multiple_statements"
    )


def _keyword(word: str) -> str:
    """The word as a keyword would match it: ASCII letters folded (others never match)."""
    return word.lower() if word.isascii() else word


def _has_suspect_word(part: str) -> bool:
    data = part.encode("utf-8", "surrogatepass").lower()
    return any(
        m.start() == 0 or data[m.start() - 1] not in _IDENT_BYTES
        for m in _FAST_SUSPECT.finditer(data)
    )


def _is_ident_char(ch: str) -> bool:
    return ch in _IDENT_CHARS or ch >= "\u0080"


def _token_start(text: str, i: int) -> bool:
    """True when position ``i`` is not inside an identifier or number."""
    return i == 0 or not _is_ident_char(text[i - 1])


def _literal_end(text: str, i: int) -> tuple[int, bool] | None:
    """End of the literal or comment starting at ``i`` (and whether it is a quoted name that
    needs the full parse); None when unterminated."""
    ch = text[i]
    if ch == "-":
        ends = [p for p in (text.find("\n", i), text.find("\r", i)) if p >= 0]
        return (min(ends) if ends else len(text)), False
    unicode = i >= 2 and text[i - 2 : i] in ("U&", "u&") and _token_start(text, i - 2)
    if ch == '"':
        m = _IDENT_BODY.match(text, i + 1)
        if m is None:
            return None
        name = text[i + 1 : m.end() - 1].replace('""', '"')
        return m.end(), unicode or name in FORBIDDEN_FUNCTIONS
    prefix = text[i - 1] if i >= 1 and _token_start(text, i - 1) else ""
    if prefix in ("e", "E"):
        body = _ESCAPE_BODY
    elif prefix in ("b", "B", "x", "X"):
        body = _BIT_BODY
    else:  # standard, N'' and U&'' strings
        body = _STANDARD_BODY
    m = body.match(text, i + 1)
    return (m.end(), False) if m else None


def _inspect_fast(text: str) -> GuardResult | None:
    """The common case; None when the token loop must decide (an unterminated literal)."""
    suspicious = False
    pieces = []
    pos = 0
    while (m := _FAST_SPECIAL.search(text, pos)) is not None:
        i = m.start()
        found = _literal_end(text, i)
        if found is None:
            return None
        end, flagged = found
        suspicious = suspicious or flagged
        pieces.append(text[pos:i])
        # A comment is whitespace; a literal becomes '#'s, which is no identifier character,
        # so the placeholder never glues to a neighbouring word.
        pieces.append((" " if text[i] == "-" else "#") * (end - i))
        pos = end
    stripped = "".join(pieces) + text[pos:] if pieces else text
    parts = stripped.split(";")
    filled = [i for i, part in enumerate(parts) if part.strip(_SPACE)]
    if not filled:
        return GuardResult(False, "empty SQL", "syntax")
    if len(filled) > 1:
        return _several(len(filled))
    index = filled[0]
    part = parts[index]
    # The statement starts at its first token (comments are blank here, as in the token
    # loop) and ends at its ';'.
    lead = len(part) - len(part.lstrip(_SPACE))
    start = sum(len(p) + 1 for p in parts[:index]) + lead
    m = _FAST_FIRST.match(part)
    first = _keyword(m.group(1)) if m else ""
    suspicious = suspicious or _has_suspect_word(part)
    return _finish(text, start, start - lead + len(part), (), first, suspicious)


def _inspect_tokens(text: str, backslash_escapes: bool) -> GuardResult:
    """The full token loop: dollar quotes, nested comments, server without standard strings."""
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
                first_word = _keyword(m.group()) if kind == "word" else ""
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
                words.append(_keyword(m.group()))
    except _Unterminated as exc:
        return GuardResult(False, f"syntax error: {exc}", "syntax")
    if current_has_tokens:
        statements += 1
    if statements == 0:
        return GuardResult(False, "empty SQL", "syntax")
    if statements > 1:
        return _several(statements)
    return _finish(text, start, cut, words, first_word, suspicious_ident)
