"""Wording of the built-in provider's questions: natural, no repeated entity, short nouns."""

from __future__ import annotations

from data_pipeline.llm.base import Theme
from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.llm.rules.questions import merge, plural, strip_prefix
from data_pipeline.llm.rules.words import phrase, split_identifier
from data_pipeline.schema.dedupe import question_key
from data_pipeline.schema.model import ColumnMeta, ForeignKey, SchemaMetadata, TableMeta


def col(name, data_type, category, comment=None, **kw) -> ColumnMeta:
    return ColumnMeta(name, data_type, category=category, comment=comment, **kw)


def area_schema() -> SchemaMetadata:
    """Service areas (named entities) with fact tables whose comments start with the parent."""
    area = TableMeta(
        "public",
        "service_area",
        comment="高速公路服务区基础信息",
        columns=[
            col("area_id", "integer", "integer", "服务区ID", is_primary_key=True),
            col("area_name", "text", "text", "服务区名称", samples=["吉安服务区"], is_unique=True),
            col("has_charging_station", "boolean", "boolean", "是否有充电站", samples=[True]),
        ],
        primary_key=["area_id"],
        row_count=20,
        sample_rows=[{"area_id": 1, "area_name": "吉安服务区", "has_charging_station": True}],
    )
    flow = TableMeta(
        "public",
        "vehicle_flow",
        comment="服务区每日进场车流量，按车型统计",
        columns=[
            col("flow_id", "bigint", "integer", is_primary_key=True),
            col("area_id", "integer", "integer", "服务区ID"),
            col("flow_date", "date", "date", "统计日期", samples=["2024-01-02", "2024-01-03"]),
            col("vehicle_type", "text", "enum", "车型", enum_values=["car", "bus"]),
            col("vehicle_count", "integer", "integer", "进场车辆数（辆）", samples=[12, 40]),
        ],
        primary_key=["flow_id"],
        foreign_keys=[ForeignKey("fk_area", ["area_id"], "public", "service_area", ["area_id"])],
        row_count=500,
        sample_rows=[
            {"flow_id": 1, "area_id": 1, "flow_date": "2024-01-02", "vehicle_type": "car",
             "vehicle_count": 12},
            {"flow_id": 2, "area_id": 1, "flow_date": "2024-01-03", "vehicle_type": "bus",
             "vehicle_count": 40},
        ],
    )  # fmt: skip
    return SchemaMetadata("demo", [area, flow])


def questions(lang_context: str) -> list[str]:
    schema = area_schema()
    theme = Theme("车流", "车流量", ["vehicle_flow", "service_area"], [], [])
    pairs = BuiltinLLM().generate_pairs(theme, schema, lang_context, 200, "")
    keys = [question_key(p.question) for p in pairs]
    assert len(keys) == len(set(keys)), "questions stay unique"
    return [p.question for p in pairs]


def test_chinese_questions_do_not_repeat_the_entity_and_trim_comment_notes():
    qs = questions("高速公路服务区经营管理")
    # The parent is "高速公路服务区": its head noun 服务区 is not repeated in the child's label.
    assert "各高速公路服务区分别有多少条每日进场车流量记录？" in qs
    assert "高速公路服务区“吉安服务区”有多少条每日进场车流量记录？" in qs
    per_area = [q for q in qs if q.startswith(("各高速公路服务区", "高速公路服务区“"))]
    assert len(per_area) >= 3 and not [q for q in per_area if "服务区每日" in q]
    # Explanations after '，' / '（' in comments are not part of the noun.
    assert not [q for q in qs if "（辆）" in q or "，按" in q or "基础信息" in q]
    assert "各车型的进场车辆数合计是多少？" in qs
    # Facts are counted as records, named entities with 个; 是否 flags read as a condition.
    assert "共有多少条服务区每日进场车流量记录？" in qs
    assert "共有多少个高速公路服务区？" in qs
    assert "有充电站的高速公路服务区有多少个？" in qs
    assert "按统计日期逐月统计的进场车辆数合计是多少？" in qs


def test_english_questions_use_plurals_and_records():
    qs = questions("Highway service area operations")
    assert "How many vehicle flow records does each service area have?" in qs
    assert "How many service areas are there?" in qs
    assert "How many service areas have charging station?" in qs
    assert "What is the total vehicle count for each vehicle type?" in qs
    assert not [q for q in qs if "average average" in q or "sum of" in q]


def test_wording_helpers():
    assert strip_prefix("服务区每日进场车流量", "服务区") == "每日进场车流量"
    assert strip_prefix("档口", "档口") == "档口"  # nothing would be left
    assert strip_prefix("服务区每日进场车流量", "高速公路服务区") == "每日进场车流量"
    assert strip_prefix("员工", "服务区") == "员工"
    assert strip_prefix("Stall contract", "stall") == "contract"
    assert strip_prefix("Stall", "stall") == "Stall"
    assert merge("档口每日营收", "营收金额") == "档口每日营收金额"
    assert merge("档口", "楼层面积") == "档口楼层面积"
    assert plural("operating company") == "operating companies"
    assert plural("business") == "businesses"
    assert plural("stall") == "stalls"
    assert plural("sales") == "sales"
    assert plural("服务区") == "服务区 records"
    assert plural("staff") == "staff members"
    assert strip_prefix("Invoice line", "invoice") == "Invoice line"  # "lines" says too little


def test_identifiers_become_words():
    """Glued words are split only into known words; numbered variants read as ordinals."""
    assert split_identifier("activebool") == ["active", "bool"]
    assert split_identifier("invoicelineid") == ["invoice", "line", "id"]
    assert split_identifier("reportsto") == ["reports", "to"]
    assert split_identifier("isactive") == ["is", "active"]
    assert split_identifier("island") == ["island"]  # a word of its own, not "is land"
    assert split_identifier("composer") == ["composer"]
    assert split_identifier("xqzfoo") == ["xqzfoo"]  # unknown stays whole
    assert phrase("activebool", "en") == "Active"
    assert phrase("address2", "en") == "Second address"
    assert phrase("address2", "zh") == "第二地址"
    assert phrase("sales_2024", "zh") == "2024年销售额"
    assert phrase("firstname", "zh") == "名"
    assert phrase("milliseconds", "zh") == "毫秒数"
    assert phrase("playlisttrack", "zh") == "播放列表曲目"
    assert phrase("billingcity", "en") == "Billing city"
