"""The default embedder, multilingual-e5-small in-process (``local-e5``): what it returns, and
that step 4 with it lets a user's question in other words (or another language) find the pair
it means, through the store, the search command and Vanna's interface."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_pipeline.training_load import step as training_step
from data_pipeline.training_load.embedders import LocalE5Embedder, get_embedder
from data_pipeline.training_load.vector_store import TrainingStore
from tests.integration.test_training_load import make_ctx, write_task_folder

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DDL = """-- 中文名: 档口每日营收
CREATE TABLE public.daily_revenue (
  revenue_id bigint PRIMARY KEY,
  stall_id integer NOT NULL,      -- 档口ID
  biz_date date NOT NULL,         -- 营业日期
  revenue_amount numeric(12,2)    -- 营收金额（元）
);"""
PAIRS = [
    ("各档口的营收金额合计是多少？", "SELECT stall_id, SUM(revenue_amount) FROM daily_revenue GROUP BY stall_id"),
    ("月薪最高的员工是谁？", "SELECT full_name FROM employee ORDER BY monthly_salary DESC LIMIT 1"),
    ("各档口的订单数合计是多少？", "SELECT stall_id, SUM(order_count) FROM daily_revenue GROUP BY stall_id"),
    ("员工的平均月薪是多少？", "SELECT AVG(monthly_salary) FROM employee"),
    ("各服务区的停车位数量是多少？", "SELECT area_name, parking_spaces FROM service_area"),
    ("哪些服务区有充电站？", "SELECT area_name FROM service_area WHERE has_charging_station"),
    ("在营的档口有多少个？", "SELECT COUNT(*) FROM stall WHERE is_active"),
    ("各岗位的员工人数是多少？", "SELECT position, COUNT(*) FROM employee GROUP BY position"),
]  # fmt: skip


@pytest.fixture(scope="module")
def e5() -> LocalE5Embedder:
    return LocalE5Embedder()


def test_vectors_are_unit_length_384_dimensions_and_queries_differ_from_passages(e5):
    texts = ["各档口的营收金额合计是多少？", "How much did each stall take?", ""]
    passages = np.array(e5.embed_documents(texts))
    assert passages.shape == (3, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    # The same text as a search query gets e5's "query: " prefix, hence another vector.
    query = np.array(e5.embed_query(texts[0]))
    assert query.shape == (384,) and not np.allclose(query, passages[0], atol=1e-3)
    # Deterministic, and a text's vector does not depend on its batch.
    assert np.allclose(e5.embed_documents([texts[1]])[0], passages[1], atol=1e-4)
    # LangChain's Embeddings interface (what Vanna's PG_VectorStore calls): plain floats.
    assert all(isinstance(x, float) for x in e5.embed_query("服务区")[:3])
    assert e5.describe()["dimension"] == 384 and e5.name == "local-e5:multilingual-e5-small-q4"


def _load(tmp_path, config, pipeline_dsn) -> dict:
    folder = write_task_folder(
        tmp_path / "t",
        pairs=[{"question": q, "sql": s} for q, s in PAIRS],
        ddls=(("daily_revenue", DDL),),
    )
    (folder / "bss_service_area_detail.md").unlink()
    (folder / "daily_revenue_detail.md").write_text(
        "# public.daily_revenue（档口每日营收）\n\n每个档口每天的营收金额。\n", encoding="utf-8"
    )
    return training_step.run(make_ctx(config, folder, pipeline_dsn))


def test_a_question_in_other_words_finds_its_pair(tmp_path, config, pipeline_dsn, e5):
    assert config.embedding_provider_name == "local-e5"  # the default
    result = _load(tmp_path, config, pipeline_dsn)
    assert result["embedder"] == e5.name and result["dimension"] == 384
    with TrainingStore(pipeline_dsn) as store:
        for asked, meant in [
            ("每个档口一共卖了多少钱？", PAIRS[0][0]),
            ("Which employee is paid the most?", PAIRS[1][0]),
            ("能给电动车充电的服务区有哪些？", PAIRS[5][0]),
        ]:
            hits = store.search(asked, get_embedder(config), collection="sql", k=1)
            assert json.loads(hits[0].document)["question"] == meant, asked


@pytest.mark.slow
def test_the_search_command_uses_the_default_embedder(tmp_path, config, pipeline_dsn):
    _load(tmp_path, config, pipeline_dsn)
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "PIPELINE_DATABASE_URL": pipeline_dsn,
        "LOAD_DEMO_SOURCE": "false",
        "EMBEDDING_BASE_URL": "",
        "EMBEDDING_PROVIDER": "",
        "VECTOR_DATABASE_URL": "",
    }
    out = subprocess.run(
        [sys.executable, "-m", "data_pipeline.training_load.search", "每个档口一共卖了多少钱？",
         "--collection", "sql", "-k", "1", "--json"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["question"] == PAIRS[0][0]
