"""Question wording of the templates, in Chinese and English: kind → (中文, English)."""

from __future__ import annotations

# kind -> (Chinese, English) question text.
_SINGLE = {
    "count_all": ("{t}共有多少条记录？", "How many {t} records are there?"),
    "group_count": ("按{d}统计{t}的数量", "How many {t} records are there for each {d}?"),
    "group_sum": ("各{d}的{m}合计是多少？", "What is the sum of {m} for each {d}?"),
    "group_avg": ("各{d}的平均{m}是多少？", "What is the average {m} for each {d}?"),
    "stats": ("{t}的{m}平均值、最大值和最小值分别是多少？",
              "What are the average, maximum and minimum {m} of {t}?"),
    "total": ("{t}的{m}总计是多少？", "What is the sum of {m} over all {t} records?"),
    "top": ("{m}最高的10个{t}是哪些？", "Which 10 {t} records have the highest {m}?"),
    "bottom": ("{m}最低的10个{t}是哪些？", "Which 10 {t} records have the lowest {m}?"),
    "trend_count": ("按月统计{t}的数量变化趋势（按{dt}）",
                    "How does the number of {t} records change by month of {dt}?"),
    "trend_sum": ("按月统计{m}的变化趋势（按{dt}）", "How does {m} change by month of {dt}?"),
    "year_count": ("按年份统计{t}的数量（按{dt}）",
                   "How many {t} records are there per year of {dt}?"),
    "month_dim": ("按月份和{d}统计{t}的数量", "How many {t} records are there per month and {d}?"),
    "filter_count": ("{d}为“{v}”的{t}有多少条？", "How many {t} records have {d} equal to '{v}'?"),
    "filter_list": ("列出{d}为“{v}”的{t}的{n}和{m}",
                    "List the {n} and {m} of {t} records whose {d} is '{v}'."),
    "filter_sum": ("{d}为“{v}”的{t}的{m}合计是多少？",
                   "What is the sum of {m} of {t} records whose {d} is '{v}'?"),
    "lookup": ("{n}为“{v}”的{t}的详细信息是什么？",
               "What are the details of the {t} whose {n} is '{v}'?"),
    "distinct": ("{t}中有多少个不同的{d}？", "How many distinct {d} values are there in {t}?"),
    "latest": ("{dt}最近的10条{t}记录是哪些？", "What are the 10 most recent {t} records by {dt}?"),
    "since": ("{dt}在{v}及之后的{t}有多少条？", "How many {t} records have {dt} on or after {v}?"),
    "bool_count": ("{t}中{b}为是的记录有多少条？", "How many {t} records have {b} set to true?"),
    "null_count": ("{t}中{c}为空的记录有多少条？", "How many {t} records have no {c}?"),
    "at_least": ("{m}不低于{v}的{t}有哪些？", "Which {t} records have {m} of at least {v}?"),
    "range": ("{t}的{dt}最早和最晚分别是什么时候？",
              "What are the earliest and latest {dt} of {t}?"),
}  # fmt: skip


_JOINS = {
    "by_parent": ("各{p}的{c}数量是多少？", "How many {c} records does each {p} have?"),
    "sum_by_parent": ("各{p}的{m}合计是多少？", "What is the sum of {m} for each {p}?"),
    "avg_by_parent": ("各{p}的平均{m}是多少？", "What is the average {m} for each {p}?"),
    "by_parent_dim": ("按{p}的{d}统计{c}的数量", "How many {c} records are there per {d} of {p}?"),
    "parent_filter": ("{p}“{v}”有多少条{c}记录？", "How many {c} records belong to {p} '{v}'?"),
    "with_parent": ("列出{c}及其所属{p}的{n}", "List {c} records with the {n} of their {p}."),
    "chain": ("各{g}的{c}数量是多少？", "How many {c} records does each {g} have?"),
    "chain_sum": ("各{g}的{c}{m}合计是多少？", "What is the sum of {m} of {c} for each {g}?"),
    "self": ("各{p}下属的{c}数量是多少？", "How many {c} records does each {p} have under it?"),
}  # fmt: skip

QUESTIONS = {**_SINGLE, **_JOINS}


def ask(kind: str, lang: str, **words: str) -> str:
    """The question of template ``kind`` in ``lang`` (``zh`` or ``en``)."""
    zh, en = QUESTIONS[kind]
    if lang == "zh":
        return zh.format(**words)
    # Labels are lower-cased inside the sentence; values ({v}) are data and stay exact.
    return en.format(**{k: v if k == "v" else inline(v) for k, v in words.items()})


def inline(label: str) -> str:
    """``Daily revenue`` → ``daily revenue`` inside an English sentence (keeps ``ID``)."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label
