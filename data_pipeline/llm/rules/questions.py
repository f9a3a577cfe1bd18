"""Question wording of the templates, in Chinese and English: kind → (中文, English).

Besides the labels themselves (``{t}`` table, ``{c}`` child, ``{p}`` parent, ...), a template
can use count forms that depend on whether the table holds *entities* (rows with a name:
服务区, stalls) or *records* (facts/events: 每日营收, vehicle flow records):

* ``{tn}`` (Chinese): ``10个服务区`` style measure word + noun: ``个服务区`` / ``条每日营收记录``;
  ``{tr}``: the noun as counted: ``服务区`` / ``每日营收记录``.
  ``{tu}``: the measure word alone; ``{tk}``: ``数量`` / ``记录数``.
* ``{ts}`` (English): plural noun phrase: ``service areas`` / ``daily revenue records``.

Which placeholders name record tables is given by ``ask(..., records=("t",))``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from data_pipeline.llm.rules.words import has_cjk

# kind -> (Chinese, English) question text.
_SINGLE = {
    "count_all": ("共有多少{tn}？", "How many {ts} are there?"),
    "group_count": ("按{d}统计{t}的{tk}", "How many {ts} are there for each {d}?"),
    "group_sum": ("各{d}的{m}合计是多少？", "What is the total {m} for each {d}?"),
    "group_avg": ("各{d}的平均{m}是多少？", "What is the average {m} for each {d}?"),
    "stats": ("{t}的{m}平均值、最大值和最小值分别是多少？",
              "What are the average, maximum and minimum {m} of {ts}?"),
    "total": ("所有{tr}的{m}合计是多少？", "What is the total {m} of all {ts}?"),
    "top": ("{m}最高的10{tn}是哪些？", "Which 10 {ts} have the highest {m}?"),
    "bottom": ("{m}最低的10{tn}是哪些？", "Which 10 {ts} have the lowest {m}?"),
    "trend_count": ("按{dt}逐月统计{t}的{tk}", "How many {ts} are there per month of {dt}?"),
    "trend_sum": ("按{dt}逐月统计的{m}合计是多少？", "What is the total {m} per month of {dt}?"),
    "trend_avg": ("按{dt}逐月统计的平均{m}是多少？",
                  "What is the average {m} per month of {dt}?"),
    "year_count": ("按{dt}的年份统计{t}的{tk}", "How many {ts} are there per year of {dt}?"),
    "month_dim": ("按月份和{d}统计{t}的{tk}", "How many {ts} are there per month and {d}?"),
    "filter_count": ("{d}为“{v}”的{tr}有多少{tu}？", "How many {ts} have {d} '{v}'?"),
    "filter_list": ("列出{d}为“{v}”的{tr}的{n}和{m}",
                    "List the {n} and {m} of the {ts} whose {d} is '{v}'."),
    "filter_sum": ("{d}为“{v}”的{tr}的{m}合计是多少？",
                   "What is the total {m} of the {ts} whose {d} is '{v}'?"),
    "filter_avg": ("{d}为“{v}”的{tr}的平均{m}是多少？",
                   "What is the average {m} of the {ts} whose {d} is '{v}'?"),
    "lookup": ("{n}为“{v}”的{t}的详细信息是什么？",
               "What are the details of the {t} whose {n} is '{v}'?"),
    "lookup_self": ("{t}“{v}”的详细信息是什么？", "What are the details of {t} '{v}'?"),
    "distinct": ("{tr}中有多少个不同的{d}？", "How many distinct {d} values do the {ts} have?"),
    "latest": ("{dt}最近的10{tn}是哪些？", "Which 10 {ts} have the most recent {dt}?"),
    "since": ("{dt}在{v}及之后的{tr}有多少{tu}？", "How many {ts} have {dt} on or after {v}?"),
    "bool_count": ("{b}为“是”的{tr}有多少{tu}？", "How many {ts} have {b} set to true?"),
    "bool_has": ("{b}的{tr}有多少{tu}？", "How many {ts} have {b}?"),
    "bool_is": ("{b}的{tr}有多少{tu}？", "How many {ts} are {b}?"),
    "null_count": ("{c}为空的{tr}有多少{tu}？", "How many {ts} have no {c}?"),
    "at_least": ("{m}不低于{v}的{tr}有哪些？", "Which {ts} have {m} of at least {v}?"),
    "range": ("{tr}的{dt}最早和最晚分别是什么时候？",
              "What are the earliest and latest {dt} of the {ts}?"),
}  # fmt: skip


_JOINS = {
    "by_parent": ("各{p}分别有多少{cn}？", "How many {cs} does each {p} have?"),
    "sum_by_parent": ("各{p}的{m}合计是多少？", "What is the total {m} for each {p}?"),
    "avg_by_parent": ("各{p}的平均{m}是多少？", "What is the average {m} for each {p}?"),
    "by_parent_dim": ("按{p}的{d}统计{c}的{ck}", "How many {cs} are there per {d} of {p}?"),
    "parent_filter": ("{p}“{v}”有多少{cn}？", "How many {cs} belong to {p} '{v}'?"),
    "with_parent": ("列出{cr}及其所属{p}的{n}", "List the {cs} with the {n} of their {p}."),
    "with_parent_plain": ("列出各{cr}及其所属{p}", "List the {cs} with their {p}."),
    "chain": ("各{g}的{ps}共有多少{cn}？", "How many {cs} do the {ps} of each {g} have?"),
    "chain_sum": ("各{g}的{cm}合计是多少？", "What is the total {m} of {cs} for each {g}?"),
    "chain_avg": ("各{g}的平均{cm}是多少？", "What is the average {m} of {cs} for each {g}?"),
    "self": ("各{p}下属有多少{cn}？", "How many {cs} does each {p} have under it?"),
    "month_by_parent": ("各{p}每月分别有多少{cn}？", "How many {cs} does each {p} have per month?"),
    "month_sum_by_parent": ("各{p}每月的{m}合计是多少？",
                            "What is the total {m} for each {p} per month?"),
    "month_avg_by_parent": ("各{p}每月的平均{m}是多少？",
                            "What is the average {m} for each {p} per month?"),
    "chain_month": ("各{g}的{ps}每月共有多少{cn}？",
                    "How many {cs} do the {ps} of each {g} have per month?"),
    "chain_month_sum": ("各{g}每月的{cm}合计是多少？",
                        "What is the total {m} of {cs} for each {g} per month?"),
    "chain_month_avg": ("各{g}每月的平均{cm}是多少？",
                        "What is the average {m} of {cs} for each {g} per month?"),
}  # fmt: skip

QUESTIONS = {**_SINGLE, **_JOINS}

# Labels whose count forms ({tn}, {ts}, ...) are derived.
_NOUNS = ("t", "c", "p")
_TIDY = (
    (re.compile(r"平均平均"), "平均"),
    (re.compile(r"\baverage average\b"), "average"),
    (re.compile(r"\btotal total\b"), "total"),
    (re.compile(r"\bfor each whether\b"), "by whether"),
)


def ask(kind: str, lang: str, records: Iterable[str] = (), **words: str) -> str:
    """The question of template ``kind`` in ``lang`` (``zh`` or ``en``); ``records`` names the
    placeholders (``t``, ``c``, ``p``) whose table holds records rather than entities."""
    zh, en = QUESTIONS[kind]
    rec = set(records)
    if lang == "zh":
        for key in _NOUNS:
            if key in words:
                noun = words[key] + ("记录" if key in rec else "")
                words[f"{key}r"] = noun
                words[f"{key}u"] = "条" if key in rec else "个"
                words[f"{key}n"] = words[f"{key}u"] + noun
                words[f"{key}k"] = "记录数" if key in rec else "数量"
        if "ps" not in words and "p" in words:
            words["ps"] = words["p"]
        return _tidy(zh.format(**words))
    # Labels are lower-cased inside the sentence; values ({v}) are data and stay exact.
    words = {k: v if k == "v" else inline(v) for k, v in words.items()}
    for key in _NOUNS:
        if key in words:
            words[f"{key}s"] = f"{words[key]} records" if key in rec else plural(words[key])
    return _tidy(en.format(**words))


def _tidy(text: str) -> str:
    for pattern, repl in _TIDY:
        text = pattern.sub(repl, text)
    return text


def inline(label: str) -> str:
    """``Daily revenue`` → ``daily revenue`` inside an English sentence (keeps ``ID``)."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


_IRREGULAR = {
    "staff": "staff members", "person": "people", "child": "children", "man": "men",
    "woman": "women", "data": "data records", "media": "media", "info": "info records",
    "information": "information records", "series": "series", "equipment": "equipment items",
}  # fmt: skip


def plural(label: str) -> str:
    """``operating company`` → ``operating companies``; labels it cannot inflect (not plain
    English words) become ``... records``."""
    head, _, last = label.rpartition(" ")
    if last in _IRREGULAR:
        return f"{head} {_IRREGULAR[last]}".strip()
    if not (last.isascii() and last.isalpha() and last.islower()):
        return f"{label} records"
    if last.endswith(("ss", "x", "ch", "sh")):
        return label + "es"
    if last.endswith("s"):
        return label  # already plural (sales, details)
    if last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        return label[:-1] + "ies"
    return label + "s"


# Words that name nothing without their owner ("invoice line", "order item").
_GENERIC = frozenset(
    ("line", "lines", "item", "items", "detail", "details", "entry", "entries", "record", "log")
)


def strip_prefix(label: str, prefix: str) -> str:
    """``服务区每日进场车流量`` under ``(高速公路)服务区`` → ``每日进场车流量``: inside a question
    that already names the entity, a label starting with it (or its head noun) repeats it."""
    if not prefix or not label:
        return label
    if has_cjk(label):
        for k in range(len(prefix), 1, -1):
            if label.startswith(prefix[-k:]):
                rest = label[k:].lstrip("的")
                return rest if len(rest) >= 2 else label
        return label
    words, head = label.split(), prefix.lower().split()
    for k in range(len(head), 0, -1):
        rest = words[k:]
        # "invoice line" stays whole under "invoice": "lines" alone says too little.
        if (
            [w.lower() for w in words[:k]] == head[-k:]
            and rest
            and (len(rest) > 1 or rest[0].lower() not in _GENERIC)
        ):
            return " ".join(rest)
    return label


def merge(first: str, second: str) -> str:
    """``档口每日营收`` + ``营收金额`` → ``档口每日营收金额`` (no repeated overlap)."""
    for k in range(min(len(first), len(second)), 1, -1):
        if first.endswith(second[:k]):
            return first + second[k:]
    return first + second
