"""Benchmark: does the training store find the pair a user means, when the user words it
differently? And what does step 4 cost on the demo, per embedder?

Data, all built here: an embedded PostgreSQL in a temporary folder (``scratch_server``) with
the demo business database, and training stores loaded with the project's code. The ``sql``
collection holds 18 intents (a canonical question and its SQL over the demo schema, in
Chinese like the demo's pairs) and 52 distractors written to be near misses (same tables,
other measures, groupings or filters). 37 paraphrases, 19 in Chinese and 18 in English, in
other words than the canonical question (每个档口一共卖了多少钱？ for 各档口的营收金额合计是多少？),
are looked up with :meth:`TrainingStore.search` (the user's text embedded as a search query,
as the search command and Vanna do); a paraphrase hits when its intent's pair is among the
first 1 / 3. Store ``zh`` holds those pairs; store ``zh+en`` also 11 English near misses, as
when tasks of both languages load one store (an English question then tends to find English
pairs first).

Each embedder (``hashing``, ``local-e5``) is measured with pairs embedded by their question as
a passage (what step 4 does), by their question as a query (e5's advice for symmetric tasks),
and by question + SQL (what step 4 did before).

Also measured: how often step 2's themes document (``metadata_detail.md``, which step 4 no
longer loads) would come first in the ``documentation`` collection; and step 4 on the demo
(steps 1 and 2 run with the project's code and the built-in LLM; ~80 documents): first load,
and a second load of the same folder.

    python benchmarks/bench_retrieval.py [--embedders hashing,local-e5] [--dsn ADMIN_DSN]

The last line printed is ``SUMMARY {json}``. Exit status 1 when the default embedder misses
the goal (hit@1 >= 0.7 and hit@3 >= 0.9 with question-only pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402

from app_config import DEFAULT_EMBEDDING_PROVIDER, Config  # noqa: E402
from core.demo_db import dsn_with_database, ensure_demo_database  # noqa: E402
from core.embedded_pg import scratch_server  # noqa: E402
from data_pipeline.ddl_generation import step as step1  # noqa: E402
from data_pipeline.llm.builtin import BuiltinLLM  # noqa: E402
from data_pipeline.llm.rules.words import has_cjk  # noqa: E402
from data_pipeline.qa_generation import step as step2  # noqa: E402
from data_pipeline.training_load import step as step4  # noqa: E402
from data_pipeline.training_load.documents import (  # noqa: E402
    TrainingDocument,
    chunk_markdown,
    collect_documents,
    pair_key,
    question_sql_document,
)
from data_pipeline.training_load.embedders import get_embedder  # noqa: E402
from data_pipeline.training_load.loader import load_documents  # noqa: E402
from data_pipeline.training_load.vector_store import TrainingStore  # noqa: E402
from data_pipeline.workflow.context import StepContext  # noqa: E402
from data_pipeline.workflow.params import WorkflowParams  # noqa: E402

DEMO_TABLES = [
    "public.service_area", "public.stall", "public.daily_revenue", "public.vehicle_flow",
    "public.employee", "public.business_type", "public.highway_route",
    "public.operating_company", "public.stall_contract",
]  # fmt: skip
CONTEXT = "高速公路服务区经营管理：服务区、档口、营收、车流、员工与合同"

# (canonical question, SQL, paraphrases)
INTENTS: list[tuple[str, str, list[str]]] = [
    ("各档口的营收金额合计是多少？",
     "SELECT s.stall_name, SUM(r.revenue_amount) AS revenue FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id GROUP BY s.stall_name ORDER BY revenue DESC",
     ["每个档口一共卖了多少钱？", "What are the total takings of every stall?", "把档口的收入汇总一下"]),
    ("各服务区每天的进场车辆总数是多少？",
     "SELECT a.area_name, f.flow_date, SUM(f.vehicle_count) AS vehicles FROM vehicle_flow f JOIN service_area a ON a.area_id = f.area_id GROUP BY a.area_name, f.flow_date ORDER BY f.flow_date",
     ["每个服务区每天来了多少辆车？", "How many vehicles came into each service area per day?"]),
    ("月薪最高的员工是谁？",
     "SELECT full_name, monthly_salary FROM employee ORDER BY monthly_salary DESC LIMIT 1",
     ["哪个员工工资拿得最多？", "Which employee is paid the most?"]),
    ("各运营公司管理多少个服务区？",
     "SELECT c.company_name, COUNT(*) AS areas FROM service_area a JOIN operating_company c ON c.company_id = a.company_id GROUP BY c.company_name ORDER BY areas DESC",
     ["每家公司负责几个服务区？", "How many service areas does each operator run?"]),
    ("各支付方式的营收占比是多少？",
     "SELECT payment_method, ROUND(SUM(revenue_amount) * 100.0 / SUM(SUM(revenue_amount)) OVER (), 2) AS share FROM daily_revenue GROUP BY payment_method",
     ["微信、支付宝、现金各收了百分之几的钱？", "What share of revenue comes from each payment method?"]),
    ("哪些档口合同在未来三个月内到期？",
     "SELECT contract_no, tenant_name, end_date FROM stall_contract WHERE end_date BETWEEN current_date AND current_date + interval '3 months' ORDER BY end_date",
     ["快到期的租约有哪些？", "Which stall leases run out in the next few months?"]),
    ("每月的退款总额是多少？",
     "SELECT date_trunc('month', biz_date) AS month, SUM(refund_amount) AS refunds FROM daily_revenue GROUP BY 1 ORDER BY 1",
     ["按月看一共退了多少钱", "How much was refunded each month?"]),
    ("哪些服务区有充电站？",
     "SELECT area_name FROM service_area WHERE has_charging_station ORDER BY area_name",
     ["能给电动车充电的服务区有哪些？", "Where can electric cars be charged?"]),
    ("各高速线路的长度是多少公里？",
     "SELECT route_name, length_km FROM highway_route ORDER BY length_km DESC",
     ["每条高速有多长？", "How long is each highway route?"]),
    ("各业态类型有多少个档口？",
     "SELECT t.type_name, COUNT(*) AS stalls FROM stall s JOIN business_type t ON t.type_id = s.type_id GROUP BY t.type_name ORDER BY stalls DESC",
     ["餐饮、零售这些业态分别开了几家店？", "Number of shops per kind of business"]),
    ("危化品车每月的进场数量是多少？",
     "SELECT date_trunc('month', flow_date) AS month, SUM(vehicle_count) AS vehicles FROM vehicle_flow WHERE vehicle_type = 'dangerous_goods' GROUP BY 1 ORDER BY 1",
     ["每个月进来多少辆危险品运输车？", "How many hazardous-goods trucks arrive each month?"]),
    ("各服务区的员工人数是多少？",
     "SELECT a.area_name, COUNT(*) AS staff FROM employee e JOIN service_area a ON a.area_id = e.area_id GROUP BY a.area_name ORDER BY staff DESC",
     ["每个服务区有几个工作人员？", "Headcount at each service area"]),
    ("月租金最高的十份档口合同",
     "SELECT contract_no, tenant_name, monthly_rent FROM stall_contract ORDER BY monthly_rent DESC LIMIT 10",
     ["租金最贵的十个合同是哪些？", "Top 10 leases by monthly rent"]),
    ("各城市有多少个服务区？",
     "SELECT city, COUNT(*) AS areas FROM service_area GROUP BY city ORDER BY areas DESC",
     ["每个地市有几个服务区？", "How many service areas are there in each city?"]),
    ("各档口的平均客单价是多少？",
     "SELECT s.stall_name, SUM(r.revenue_amount) / NULLIF(SUM(r.order_count), 0) AS avg_ticket FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id GROUP BY s.stall_name ORDER BY avg_ticket DESC",
     ["每个档口平均每单卖多少钱？", "Average order value at each stall"]),
    ("正在升级改造的服务区有哪些？",
     "SELECT area_name FROM service_area WHERE status = 'renovating'",
     ["哪些服务区在装修？", "Which service areas are being renovated?"]),
    ("哪家运营公司的注册资本最高？",
     "SELECT company_name, registered_capital FROM operating_company ORDER BY registered_capital DESC LIMIT 1",
     ["注册资金最多的公司是哪家？", "Which operating company has the most registered capital?"]),
    ("各服务区的停车位数量是多少？",
     "SELECT area_name, parking_spaces FROM service_area ORDER BY parking_spaces DESC",
     ["每个服务区能停多少辆车？", "Parking capacity of each service area"]),
]  # fmt: skip

# Near misses: the same tables and words, another question.
DISTRACTORS: list[tuple[str, str]] = [
    ("各档口的订单数合计是多少？", "SELECT s.stall_name, SUM(r.order_count) FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id GROUP BY s.stall_name"),
    ("各服务区的营收金额合计是多少？", "SELECT a.area_name, SUM(r.revenue_amount) FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id JOIN service_area a ON a.area_id = s.area_id GROUP BY a.area_name"),
    ("各档口每月的营收金额是多少？", "SELECT s.stall_name, date_trunc('month', r.biz_date), SUM(r.revenue_amount) FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id GROUP BY 1, 2"),
    ("营收金额最高的十个档口", "SELECT s.stall_name, SUM(r.revenue_amount) AS v FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id GROUP BY s.stall_name ORDER BY v DESC LIMIT 10"),
    ("各支付方式的订单数是多少？", "SELECT payment_method, SUM(order_count) FROM daily_revenue GROUP BY payment_method"),
    ("各服务区每月的进场车辆数是多少？", "SELECT a.area_name, date_trunc('month', f.flow_date), SUM(f.vehicle_count) FROM vehicle_flow f JOIN service_area a ON a.area_id = f.area_id GROUP BY 1, 2"),
    ("各车型的进场车辆总数是多少？", "SELECT vehicle_type, SUM(vehicle_count) FROM vehicle_flow GROUP BY vehicle_type"),
    ("进场车辆最多的服务区是哪个？", "SELECT a.area_name, SUM(f.vehicle_count) AS v FROM vehicle_flow f JOIN service_area a ON a.area_id = f.area_id GROUP BY a.area_name ORDER BY v DESC LIMIT 1"),
    ("员工的平均月薪是多少？", "SELECT AVG(monthly_salary) FROM employee"),
    ("各岗位的员工人数是多少？", "SELECT position, COUNT(*) FROM employee GROUP BY position"),
    ("各服务区员工的平均月薪是多少？", "SELECT a.area_name, AVG(e.monthly_salary) FROM employee e JOIN service_area a ON a.area_id = e.area_id GROUP BY a.area_name"),
    ("2023年入职的员工有哪些？", "SELECT full_name, hired_date FROM employee WHERE hired_date >= '2023-01-01' AND hired_date < '2024-01-01'"),
    ("各运营公司的注册资本是多少？", "SELECT company_name, registered_capital FROM operating_company ORDER BY registered_capital DESC"),
    ("各片区有多少家运营公司？", "SELECT region, COUNT(*) FROM operating_company GROUP BY region"),
    ("各运营公司的成立日期是哪天？", "SELECT company_name, established_date FROM operating_company ORDER BY established_date"),
    ("各合同状态的合同数量是多少？", "SELECT contract_status, COUNT(*) FROM stall_contract GROUP BY contract_status"),
    ("各租户签了多少份合同？", "SELECT tenant_name, COUNT(*) FROM stall_contract GROUP BY tenant_name"),
    ("档口合同的平均分成比例是多少？", "SELECT AVG(revenue_share_rate) FROM stall_contract"),
    ("已经到期的合同有哪些？", "SELECT contract_no, tenant_name, end_date FROM stall_contract WHERE end_date < current_date"),
    ("每月签订的合同数量是多少？", "SELECT date_trunc('month', signed_at), COUNT(*) FROM stall_contract GROUP BY 1 ORDER BY 1"),
    ("每天的退款总额是多少？", "SELECT biz_date, SUM(refund_amount) FROM daily_revenue GROUP BY biz_date ORDER BY biz_date"),
    ("退款金额最高的档口是哪个？", "SELECT s.stall_name, SUM(r.refund_amount) AS v FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id GROUP BY s.stall_name ORDER BY v DESC LIMIT 1"),
    ("各档口的退款率是多少？", "SELECT s.stall_name, SUM(r.refund_amount) / NULLIF(SUM(r.revenue_amount), 0) FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id GROUP BY s.stall_name"),
    ("哪些是停车区？", "SELECT area_name FROM service_area WHERE area_type = '停车区'"),
    ("各类型的服务区数量是多少？", "SELECT area_type, COUNT(*) FROM service_area GROUP BY area_type"),
    ("已关闭的服务区有哪些？", "SELECT area_name FROM service_area WHERE status = 'closed'"),
    ("各营业状态的服务区数量是多少？", "SELECT status, COUNT(*) FROM service_area GROUP BY status"),
    ("占地面积最大的服务区是哪个？", "SELECT area_name, land_area_sqm FROM service_area ORDER BY land_area_sqm DESC LIMIT 1"),
    ("各高速线路上有多少个服务区？", "SELECT h.route_name, COUNT(*) FROM service_area a JOIN highway_route h ON h.route_id = a.route_id GROUP BY h.route_name"),
    ("各高速线路有几条车道？", "SELECT route_name, lanes FROM highway_route"),
    ("哪条高速线路最早通车？", "SELECT route_name, opened_year FROM highway_route ORDER BY opened_year LIMIT 1"),
    ("各业态大类的平均客单价是多少？", "SELECT category, AVG(avg_ticket_price) FROM business_type GROUP BY category"),
    ("各经营品牌的档口数量是多少？", "SELECT brand_name, COUNT(*) FROM stall GROUP BY brand_name"),
    ("在营的档口有多少个？", "SELECT COUNT(*) FROM stall WHERE is_active"),
    ("各服务区有多少个档口？", "SELECT a.area_name, COUNT(*) FROM stall s JOIN service_area a ON a.area_id = s.area_id GROUP BY a.area_name"),
    ("档口的平均楼层面积是多少？", "SELECT AVG(floor_area_sqm) FROM stall"),
    ("所有服务区的停车位总数是多少？", "SELECT SUM(parking_spaces) FROM service_area"),
    ("最近开通的服务区是哪个？", "SELECT area_name, opened_date FROM service_area ORDER BY opened_date DESC LIMIT 1"),
    ("各城市有多少个带充电站的服务区？", "SELECT city, COUNT(*) FROM service_area WHERE has_charging_station GROUP BY city"),
    ("小客车每天的进场数量是多少？", "SELECT flow_date, SUM(vehicle_count) FROM vehicle_flow WHERE vehicle_type = 'passenger_car' GROUP BY flow_date ORDER BY flow_date"),
    ("货车的进场总数是多少？", "SELECT SUM(vehicle_count) FROM vehicle_flow WHERE vehicle_type = 'truck'"),
    ("各服务区每天的营收金额是多少？", "SELECT a.area_name, r.biz_date, SUM(r.revenue_amount) FROM daily_revenue r JOIN stall s ON s.stall_id = r.stall_id JOIN service_area a ON a.area_id = s.area_id GROUP BY 1, 2"),
    ("各支付方式的退款金额是多少？", "SELECT payment_method, SUM(refund_amount) FROM daily_revenue GROUP BY payment_method"),
    ("各岗位员工的平均月薪是多少？", "SELECT position, AVG(monthly_salary) FROM employee GROUP BY position"),
    ("哪些档口已经停止营业？", "SELECT stall_name FROM stall WHERE NOT is_active"),
    ("所有档口每月的营收金额是多少？", "SELECT date_trunc('month', biz_date), SUM(revenue_amount) FROM daily_revenue GROUP BY 1 ORDER BY 1"),
    ("进场车辆最多的是哪一天？", "SELECT flow_date, SUM(vehicle_count) AS v FROM vehicle_flow GROUP BY flow_date ORDER BY v DESC LIMIT 1"),
    ("每年入职的员工人数是多少？", "SELECT extract(year FROM hired_date), COUNT(*) FROM employee GROUP BY 1 ORDER BY 1"),
    ("长度超过100公里的高速线路有哪些？", "SELECT route_name FROM highway_route WHERE length_km > 100"),
    ("赣南片区的运营公司有哪些？", "SELECT company_name FROM operating_company WHERE region = '赣南'"),
    ("各服务区的占地面积是多少？", "SELECT area_name, land_area_sqm FROM service_area ORDER BY land_area_sqm DESC"),
    ("月租金超过一万元的合同有哪些？", "SELECT contract_no, tenant_name, monthly_rent FROM stall_contract WHERE monthly_rent > 10000"),
]  # fmt: skip

# The same kind of near misses in English: a store that tasks of both languages loaded.
ENGLISH_DISTRACTORS: list[tuple[str, str]] = [
    ("Total revenue of each service area", "SELECT a.area_name, SUM(r.revenue_amount) FROM daily_revenue r JOIN stall s USING (stall_id) JOIN service_area a ON a.area_id = s.area_id GROUP BY a.area_name"),
    ("Number of orders per payment method", "SELECT payment_method, SUM(order_count) FROM daily_revenue GROUP BY 1"),
    ("Average monthly salary by position", "SELECT position, AVG(monthly_salary) FROM employee GROUP BY position"),
    ("Which stall contracts have already expired?", "SELECT contract_no FROM stall_contract WHERE end_date < current_date"),
    ("List the stalls that are no longer active", "SELECT stall_name FROM stall WHERE NOT is_active"),
    ("Revenue per month across all stalls", "SELECT date_trunc('month', biz_date), SUM(revenue_amount) FROM daily_revenue GROUP BY 1 ORDER BY 1"),
    ("Refund amount per payment method", "SELECT payment_method, SUM(refund_amount) FROM daily_revenue GROUP BY 1"),
    ("Which day had the most vehicles?", "SELECT flow_date, SUM(vehicle_count) AS v FROM vehicle_flow GROUP BY flow_date ORDER BY v DESC LIMIT 1"),
    ("How many employees were hired each year?", "SELECT extract(year FROM hired_date), COUNT(*) FROM employee GROUP BY 1 ORDER BY 1"),
    ("Which highway routes are longer than 100 km?", "SELECT route_name FROM highway_route WHERE length_km > 100"),
    ("Which companies are in the 赣南 region?", "SELECT company_name FROM operating_company WHERE region = '赣南'"),
]  # fmt: skip

MODES = {
    # name: (what is embedded, as a search query?)
    "question": ("question", False),  # what step 4 does (as a passage)
    "question_as_query": ("question", True),
    "question_plus_sql": ("question+sql", False),  # what step 4 did before
}
STORES = {
    "zh": DISTRACTORS,  # the demo's language, like the pairs step 2 writes for it
    "zh+en": DISTRACTORS + ENGLISH_DISTRACTORS,  # tasks of both languages in one store
}


def pair_documents(mode: str, distractors) -> tuple[list[TrainingDocument], dict[str, str]]:
    """The sql collection's documents embedded as ``mode`` says, and paraphrase -> intent key."""
    text, as_query = MODES[mode]
    docs, expected = [], {}
    for question, sql in [(q, s) for q, s, _ in INTENTS] + distractors:
        doc = question_sql_document(question, sql, "bench_pair.json")
        embedding_text = question if text == "question" else f"{question}\n{sql}"
        docs.append(
            TrainingDocument.make(
                "sql",
                doc.content,
                doc.source_file,
                embedding_text=embedding_text,
                id_key=doc.content,
                extra=doc.extra,
                as_query=as_query,
            )
        )
    for question, sql, paraphrases in INTENTS:
        for p in paraphrases:
            expected[p] = pair_key(question, sql)
    return docs, expected


def measure_pairs(store: TrainingStore, embedder, mode: str, distractors) -> dict:
    docs, expected = pair_documents(mode, distractors)
    store.truncate_vector_tables()
    load_documents(store, docs, embedder)
    hits: dict[str, list[tuple[bool, bool]]] = {"zh": [], "en": []}
    misses = []
    t = time.perf_counter()
    for paraphrase, key in expected.items():
        found = store.search(paraphrase, embedder, collection="sql", k=3)
        keys = [pair_key(**json.loads(h.document)) for h in found]
        hits["zh" if has_cjk(paraphrase) else "en"].append((keys[:1] == [key], key in keys))
        if keys[:1] != [key]:
            misses.append((paraphrase, json.loads(found[0].document)["question"]))
    per_query_ms = (time.perf_counter() - t) / len(expected) * 1000
    every = hits["zh"] + hits["en"]
    result = {"hit@1": _share(every, 0), "hit@3": _share(every, 1)}
    for lang, rows in hits.items():
        result[f"{lang}_hit@1"], result[f"{lang}_hit@3"] = _share(rows, 0), _share(rows, 1)
    return {**result, "search_ms": round(per_query_ms, 1), "first_misses": misses[:3]}


def _share(rows: list[tuple[bool, bool]], index: int) -> float:
    return round(sum(r[index] for r in rows) / len(rows), 3) if rows else 0.0


def demo_folder(admin_dsn: str, folder: Path) -> str:
    """Steps 1 and 2 on the demo source, with the project's code and the built-in LLM."""
    demo = ensure_demo_database(admin_dsn)
    config = Config(data_root=folder.parent, load_demo_source=False)
    params = WorkflowParams(
        db_connection="source:demo", business_context=CONTEXT, table_list=DEMO_TABLES
    )
    ctx = StepContext(
        task_dir=folder, config=config, params=params, source_dsn=demo,
        db_name="demo_business", llm=BuiltinLLM(), tables=DEMO_TABLES,
    )  # fmt: skip
    step1.run(ctx)
    step2.run(ctx)
    return demo


def themes_chunk_rank(store: TrainingStore, embedder, folder: Path) -> dict:
    """With step 2's themes document loaded too: how often it is first, or in the first 3,
    of the documentation found for the paraphrases."""
    docs = [d for d in collect_documents(folder).documents if d.collection == "documentation"]
    text = (folder / "metadata_detail.md").read_text(encoding="utf-8")
    themes = [
        TrainingDocument.make("documentation", chunk, "metadata_detail.md")
        for _, chunk in chunk_markdown(text)
    ]
    theme_ids = {d.doc_id for d in themes}
    store.truncate_vector_tables()
    load_documents(store, docs + themes, embedder)
    first = top3 = 0
    paraphrases = [p for _, _, ps in INTENTS for p in ps]
    for p in paraphrases:
        ids = [h.id for h in store.search(p, embedder, collection="documentation", k=3)]
        first += ids[0] in theme_ids
        top3 += bool(theme_ids & set(ids))
    return {
        "themes_chunks": len(themes),
        "table_chunks": len(docs),
        "themes_first": f"{first}/{len(paraphrases)}",
        "themes_in_top3": f"{top3}/{len(paraphrases)}",
    }


def step4_on_demo(store_dsn: str, folder: Path, provider: str) -> dict:
    """Step 4 (the project's step) on the demo folder, into an empty store; then again."""
    config = Config(data_root=folder.parent, load_demo_source=False, embedding_provider=provider)
    params = WorkflowParams(db_connection="source:demo", business_context=CONTEXT)
    times, cpu, results = [], [], []
    for _ in range(2):
        ctx = StepContext(
            task_dir=folder, config=config, params=params, source_dsn="unused",
            db_name="demo_business", llm=None, vector_dsn=store_dsn, task_id="task_bench",
        )  # fmt: skip
        t, c = time.perf_counter(), time.process_time()
        results.append(step4.run(ctx))
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "documents": results[0]["totals"]["documents"],
        "first_load_s": round(times[0], 2),
        "first_load_cpu_s": round(cpu[0], 2),
        "second_load_s": round(times[1], 2),
        "second_load_inserted": results[1]["totals"]["inserted"],
    }


def new_store_database(admin_dsn: str, name: str) -> str:
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return dsn_with_database(admin_dsn, name)


def run(admin_dsn: str, providers: list[str]) -> dict:
    summary: dict = {
        "intents": len(INTENTS),
        "distractors": len(DISTRACTORS),
        "english_distractors": len(ENGLISH_DISTRACTORS),
        "paraphrases": sum(len(p) for _, _, p in INTENTS),
        "default_embedder": DEFAULT_EMBEDDING_PROVIDER,
        "cores": os.cpu_count(),
        "retrieval": {},
        "themes_document": {},
        "step4_demo": {},
    }
    with tempfile.TemporaryDirectory(prefix="dp-bench-retrieval-") as tmp:
        folder = Path(tmp) / "demo_task"
        folder.mkdir()
        demo_folder(admin_dsn, folder)
        for provider in providers:
            embedder = get_embedder(Config(embedding_provider=provider))
            modes = list(MODES) if provider == "local-e5" else ["question", "question_plus_sql"]
            store_dsn = new_store_database(admin_dsn, f"bench_{provider.replace('-', '_')}")
            with TrainingStore(store_dsn) as store:
                store.ensure(embedder.dimension)
                summary["retrieval"][provider] = {
                    name: {mode: measure_pairs(store, embedder, mode, d) for mode in modes}
                    for name, d in STORES.items()
                }
                summary["themes_document"][provider] = themes_chunk_rank(store, embedder, folder)
                store.truncate_vector_tables()
            summary["step4_demo"][provider] = step4_on_demo(store_dsn, folder, provider)
            print_provider(provider, summary)
    return summary


def print_provider(provider: str, summary: dict) -> None:
    print(f"\n== {provider}")
    head = "store  pairs embedded by     hit@1  hit@3   zh@1   zh@3   en@1   en@3  search ms"
    print(head)
    for store, results in summary["retrieval"][provider].items():
        for mode, r in results.items():
            figures = [r[k] for k in ("hit@1", "hit@3", "zh_hit@1", "zh_hit@3", "en_hit@1")]
            figures.append(r["en_hit@3"])
            row = " ".join(f"{x:>6.3f}" for x in figures)
            print(f"{store:<6} {mode:<20} {row} {r['search_ms']:>10.1f}")
            for paraphrase, found in r["first_misses"] if store == "zh" else []:
                print(f"         missed: {paraphrase}  ->  {found}")
    themes = summary["themes_document"][provider]
    print(
        f"themes document (metadata_detail.md, {themes['themes_chunks']} chunks) among "
        f"{themes['table_chunks']} table chunks: first for {themes['themes_first']} "
        f"paraphrases, in the first 3 for {themes['themes_in_top3']}"
    )
    s4 = summary["step4_demo"][provider]
    print(
        f"step 4 on the demo ({s4['documents']} documents): {s4['first_load_s']:.1f} s "
        f"({s4['first_load_cpu_s']:.1f} s of CPU), again {s4['second_load_s']:.1f} s "
        f"({s4['second_load_inserted']} inserted)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedders", default="hashing,local-e5")
    parser.add_argument("--dsn", help="admin DSN of a server with pgvector (default: embedded)")
    args = parser.parse_args()
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    providers = [p.strip() for p in args.embedders.split(",") if p.strip()]
    with scratch_server(args.dsn, prefix="dp-bench-") as (dsn, _):
        summary = run(dsn, providers)
    default = summary["retrieval"].get(DEFAULT_EMBEDDING_PROVIDER, {}).get("zh", {})
    default = default.get("question")
    met = bool(default) and default["hit@1"] >= 0.7 and default["hit@3"] >= 0.9
    summary["goal_met"] = met
    print(
        f"\ngoal for the default embedder ({DEFAULT_EMBEDDING_PROVIDER}, pairs embedded by their "
        f"question, store in the demo's language): hit@1 >= 0.7, hit@3 >= 0.9: "
        f"{'met' if met else 'NOT met'}"
    )
    for stores in summary["retrieval"].values():
        for results in stores.values():
            for r in results.values():
                r.pop("first_misses", None)
    print("SUMMARY " + json.dumps(summary, ensure_ascii=False))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
