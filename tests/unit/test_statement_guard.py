"""The validator's lexical guard: statement boundaries exactly where PostgreSQL puts them."""

from __future__ import annotations

import pytest

from data_pipeline.sql_validation.statement_guard import inspect_statement

SINGLE = [
    "SELECT 1",
    "SELECT 1;",
    "SELECT 1 ;; \n -- trailing comment ; still a comment\n",
    "  ;; SELECT 1 ;; ",
    "SELECT 'a;b' AS x",
    "SELECT 'it''s; fine'",
    'SELECT "odd;name" FROM t',
    'SELECT "a""b;c" FROM t',
    "SELECT $$ ; DROP TABLE t; $$",
    "SELECT $body$ $$ ; $x$ ; $body$",
    "SELECT 1 /* outer /* nested ; */ still comment ; */",
    "SELECT 1 -- ; DROP TABLE t",
    "SELECT E'it\\'s; fine'",
    "SELECT B'0101', X'1F'",
    # a bit string ends at the first quote; the next quote opens an ordinary string
    "SELECT B'01''; DROP TABLE t; --'",
    "SELECT a$b$c FROM t",  # $ inside an identifier does not open a dollar quote
    "SELECT '服务区;停车区' AS 类型",
    "(SELECT 1) UNION ALL (SELECT 2)",
]
MULTIPLE = [
    "SELECT 1; DROP TABLE t",
    "SELECT 1; SELECT 2;",
    "SELECT 'it''s'; DROP TABLE t",
    # standard_conforming_strings = on: the backslash does not escape the quote
    "SELECT 'a\\'; DROP TABLE t; --'",
    # U&'' strings never take backslash escapes at the lexical level
    "SELECT U&'\\'; DROP TABLE t; --'",
    # an ideographic space is an identifier character for PostgreSQL, so this is
    # identifier "\u3000E" followed by the standard string '\' — not an E'' string
    "SELECT \u3000E'\\' ; DROP TABLE t; --'",
    "SELECT $$x$$; DROP TABLE t",
    "SELECT 1 /* c */; /* c */ DELETE FROM t",
]


@pytest.mark.parametrize("sql", SINGLE)
def test_single_statements(sql):
    result = inspect_statement(sql)
    assert result.ok, result.reason
    assert ";" not in result.body.rstrip()[-1:]


@pytest.mark.parametrize("sql", MULTIPLE)
def test_several_statements_are_refused(sql):
    result = inspect_statement(sql)
    assert not result.ok
    assert result.kind == "multiple_statements"


def test_body_is_cut_at_the_closing_semicolon():
    assert inspect_statement("  SELECT 1 ; -- bye\n").body == "SELECT 1"
    assert inspect_statement(";; SELECT 2;;").body == "SELECT 2"


def test_backslash_escapes_follow_the_server_setting():
    sql = "SELECT 'a\\'; DROP TABLE t; --'"
    assert not inspect_statement(sql).ok
    # standard_conforming_strings = off: the backslash escapes the quote
    assert inspect_statement(sql, backslash_escapes=True).ok


@pytest.mark.parametrize(
    "sql",
    ["SELECT 'open", 'SELECT "open', "SELECT $$ open", "SELECT 1 /* /* */", "SELECT E'\\'"],
)
def test_unterminated_literals_are_syntax_errors(sql):
    result = inspect_statement(sql)
    assert not result.ok and result.kind == "syntax"


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", ";;", "/* */"])
def test_empty(sql):
    result = inspect_statement(sql)
    assert not result.ok and result.reason == "empty SQL"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM service_area WHERE city = '南昌'",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "select comment, description from t",  # ordinary words that are also keywords
        "SELECT 'insert into t' AS text_only",  # inside a string
        '(SELECT "update_time" FROM t)',
    ],
)
def test_clean_statements_skip_the_full_parse(sql):
    assert inspect_statement(sql).clean


@pytest.mark.parametrize(
    "sql",
    [
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "WITH d AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM d",
        "WITH d AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM d",
        "SELECT * INTO t2 FROM t",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t FOR KEY SHARE",
        "SELECT nextval('s')",
        "SELECT \"pg_read_file\"('/etc/passwd')",
        "SELECT U&\"\\0070g_read_file\"('x')",
        "VALUES (1)",
        "DELETE FROM t",
        "DROP TABLE t",
    ],
)
def test_anything_that_might_write_goes_to_the_full_parse(sql):
    result = inspect_statement(sql)
    assert result.ok and not result.clean


FRAGMENTS = ["SELECT", "WITH", " ", "\n", "'", "''", "E'", "e'", "\\", '"', '""', ";", "--", "x",
             "U&", "B'", "N'", "é", "\u3000", "(", ")", "1", "1E", "insert", "nextval", "select",
             "_", "-", "/", "*", "服务区"]  # fmt: skip


def test_fast_path_agrees_with_the_token_loop():
    """The C-level fast path and the full token loop give the same answer on random SQL."""
    import random

    from data_pipeline.sql_validation.statement_guard import _inspect_fast, _inspect_tokens

    rng = random.Random(20240601)
    samples = (
        SINGLE
        + MULTIPLE
        + ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 14))) for _ in range(8000)]
    )
    compared = 0
    for sql in samples:
        if "$" in sql or "/*" in sql:
            continue
        fast = _inspect_fast(sql)
        if fast is not None:
            compared += 1
            assert fast == _inspect_tokens(sql, False), repr(sql)
    assert compared > 3000
