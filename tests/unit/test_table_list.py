"""Table list parsing (SPEC §6): names, quoting, comments, errors with line numbers, files."""

from __future__ import annotations

import os

import pytest

from core.errors import InvalidInput
from data_pipeline.schema.table_list import (
    MAX_TABLES,
    TableListError,
    format_table_list,
    load_table_list,
    parse_table_list,
    split_qualified,
)
from data_pipeline.workflow.params import WorkflowParams


def _errors(text: str) -> list[dict]:
    with pytest.raises(TableListError) as info:
        parse_table_list(text)
    assert isinstance(info.value, InvalidInput)
    assert info.value.http_status == 400
    return info.value.details["errors"]


def test_lines_commas_comments_blank_lines_and_default_schema():
    text = """
# 服务区相关表
service_area            # 服务区
public.stall, daily_revenue ,  sales.orders

   Sales.Customers  # unquoted: folded to lower case
"""
    assert parse_table_list(text) == [
        "public.service_area",
        "public.stall",
        "public.daily_revenue",
        "sales.orders",
        "sales.customers",
    ]


def test_duplicates_dropped_keeping_first_position():
    text = 'b\na, public.b\nA\n"a"\npublic."a"\n'
    assert parse_table_list(text) == ["public.b", "public.a"]


def test_quoted_identifiers_kept_exactly():
    names = parse_table_list('"Sales"."Order Items"\n"Mixed"."Case"\n"we""ird"."a.b,c#d"')
    assert names == ['"Sales"."Order Items"', '"Mixed"."Case"', '"we""ird"."a.b,c#d"']
    assert split_qualified(names[0]) == ("Sales", "Order Items")
    assert split_qualified(names[2]) == ('we"ird', "a.b,c#d")
    # quoted lower-case names need no quotes in the canonical form
    assert parse_table_list('"public"."orders"') == ["public.orders"]


def test_unicode_names_and_split_qualified():
    names = parse_table_list("销售.订单明细\n客户")
    assert names == ["销售.订单明细", "public.客户"]
    assert split_qualified("销售.订单明细") == ("销售", "订单明细")
    assert split_qualified("orders") == ("public", "orders")
    assert split_qualified("ABC.Def") == ("abc", "def")


def test_all_invalid_lines_reported_at_once():
    text = "\n".join(
        [
            "good_table",  # 1
            "1bad",  # 2
            "a.b.c",  # 3
            "pg_catalog.pg_class",  # 4
            "information_schema.tables",  # 5
            "ok, pg_toast.x",  # 6
            '"unclosed',  # 7
            "my table",  # 8
            "x" * 64,  # 9
            "pg_temp_3.t",  # 10
            "# just a comment",  # 11
            '"".t',  # 12
            "schema.",  # 13
        ]
    )
    errors = _errors(text)
    assert [e["line"] for e in errors] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    by_line = {e["line"]: e for e in errors}
    assert "system schema" in by_line[4]["reason"]
    assert by_line[6]["value"] == "pg_toast.x"
    assert "63" in by_line[9]["reason"]
    assert all(e["reason"] for e in errors)


def test_error_message_names_lines():
    with pytest.raises(TableListError) as info:
        parse_table_list("ok\nbad name\nok2\n3x")
    assert "2, 4" in info.value.message


def test_length_limit_counts_bytes():
    parse_table_list("a" * 63)
    parse_table_list("表" * 21)  # 63 bytes in UTF-8
    assert _errors("表" * 22)[0]["line"] == 1


def test_too_many_tables():
    text = "\n".join(f"t{i}" for i in range(MAX_TABLES))
    assert len(parse_table_list(text)) == MAX_TABLES
    with pytest.raises(TableListError, match="too many"):
        parse_table_list(text + "\nextra")


def test_empty_text_gives_empty_list():
    assert parse_table_list("") == []
    assert parse_table_list("# nothing\n\n  ,  \n") == []


def test_format_round_trip():
    names = parse_table_list('a\n"Sales"."Order Items"\nsales.x\n"we""ird".t')
    text = format_table_list(names)
    assert text.endswith("\n")
    assert parse_table_list(text) == names


def _params(**kw) -> WorkflowParams:
    return WorkflowParams(db_connection="source:demo", business_context="高速公路服务区", **kw)


def test_load_inline_list_errors_name_item_position(tmp_path):
    assert load_table_list(_params(table_list=["a", "s.b", "a"]), tmp_path) == [
        "public.a",
        "s.b",
    ]
    with pytest.raises(TableListError) as info:
        load_table_list(_params(table_list=["a", "bad name"]), tmp_path)
    assert info.value.details["errors"][0]["line"] == 2


def test_load_file_default_and_named(tmp_path):
    (tmp_path / "table_list.txt").write_text("\ufeffstall\n# c\nsales.orders\n", encoding="utf-8")
    assert load_table_list(_params(), tmp_path) == ["public.stall", "sales.orders"]
    (tmp_path / "mine.txt").write_text("x,y", encoding="utf-8")
    assert load_table_list(_params(table_list_file="mine.txt"), tmp_path) == [
        "public.x",
        "public.y",
    ]
    # an uploaded file replaces an inline list
    assert load_table_list(_params(table_list=["z"], table_list_file="mine.txt"), tmp_path) == [
        "public.x",
        "public.y",
    ]


def test_load_missing_or_empty(tmp_path):
    with pytest.raises(TableListError, match="no table list"):
        load_table_list(_params(), tmp_path)
    with pytest.raises(TableListError, match="not found"):
        load_table_list(_params(table_list_file="other.txt"), tmp_path)
    (tmp_path / "table_list.txt").write_text("# only comments\n", encoding="utf-8")
    with pytest.raises(TableListError, match="empty"):
        load_table_list(_params(), tmp_path)
    (tmp_path / "table_list.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(TableListError, match="UTF-8"):
        load_table_list(_params(), tmp_path)


@pytest.mark.parametrize(
    "name",
    ["../table_list.txt", "/etc/passwd", "sub/list.txt", "..", ".hidden", "a\\b.txt", "c:x.txt"],
)
def test_load_refuses_path_tricks(tmp_path, name):
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    (tmp_path / "table_list.txt").write_text("secret_table\n", encoding="utf-8")
    with pytest.raises(TableListError):
        load_table_list(_params(table_list_file=name), task_dir)


def test_load_refuses_symlink_out_of_task_folder(tmp_path):
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("secret_table\n", encoding="utf-8")
    os.symlink(outside, task_dir / "table_list.txt")
    with pytest.raises(TableListError, match="outside"):
        load_table_list(_params(), task_dir)
