"""Step 4 (training_load) against the real PostgreSQL + pgvector: the store's layout (the one
Vanna's PG_VectorStore reads), idempotent loads, purge by task, backup and truncate, chunking,
content-derived ids, search (also through the command line), and the OpenAI-compatible
embedder against a local server speaking the embeddings protocol."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from core.errors import Cancelled, ProviderError, StepFailed
from data_pipeline.training_load import step as training_step
from data_pipeline.training_load.documents import (
    chunk_markdown,
    collect_documents,
    document_id,
    question_sql_document,
)
from data_pipeline.training_load.embedders import (
    HashingEmbedder,
    OpenAICompatibleEmbedder,
    get_embedder,
)
from data_pipeline.training_load.loader import load_documents
from data_pipeline.training_load.vector_store import TrainingStore, ensure_store
from data_pipeline.workflow.context import StepContext
from data_pipeline.workflow.params import WorkflowParams
from tests.conftest import new_database
from tests.fakes.openai_server import error, fake_openai_fixture, fake_vector  # noqa: F401

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DDL_AREA = """-- 中文名: 服务区基础信息表
-- 描述: 高速公路服务区的名称、编码、所属公司和状态
CREATE TABLE public.bss_service_area (
  id varchar(32) NOT NULL,      -- 主键ID
  service_area_name varchar(255), -- 服务区名称
  service_area_no varchar(255),   -- 服务区编码
  company_id varchar(32),         -- 所属公司ID
  service_state varchar(50),      -- 营运状态（开放、关闭）
  PRIMARY KEY (id)
);"""
DDL_DAY = """-- 中文名: 业务日数据表 / daily business figures
CREATE TABLE public.bss_business_day_data (
  id varchar(32) NOT NULL,  -- 主键
  oper_date date,           -- 统计日期 (operating date)
  service_no varchar(255),  -- 服务区编码
  pay_sum numeric(19,4),    -- 支付总金额 (total amount paid)
  order_sum integer,        -- 订单总数
  PRIMARY KEY (id)
);"""
PAIRS = [
    {
        "question": "统计每个服务区的支付总金额",
        "sql": "SELECT service_no, SUM(pay_sum) FROM bss_business_day_data GROUP BY service_no;",
    },
    {
        "question": "查询所有开放状态的服务区名称",
        "sql": "SELECT service_area_name FROM bss_service_area WHERE service_state = '开放';",
    },
    {
        "question": "How many orders were placed on each operating date?",
        "sql": "SELECT oper_date, SUM(order_sum) FROM bss_business_day_data GROUP BY oper_date ORDER BY oper_date;",
    },
    {
        "question": "Which service areas belong to company 1?",
        "sql": "SELECT service_area_name FROM bss_service_area WHERE company_id = '1';",
    },
]


@pytest.fixture
def config(config):
    """The test configuration with the hashing embedder: these tests are about the store and
    the loading, not the model (tests/integration/test_semantic_retrieval.py is)."""
    return config.with_overrides(embedding_provider="hashing")


def detail_md(columns: int = 40) -> str:
    lines = [
        "# public.bss_service_area（服务区基础信息表）",
        "",
        "高速公路服务区的基础信息。One row per highway service area.",
        "",
        "- Rows: about 1,000 (planner estimate)",
        "- Primary key: id",
        "",
        "## Columns",
        "",
    ]
    lines += [
        f"- **col_{i}** (varchar(255), nullable): 第{i}个字段 — field number {i} of the service area record"
        for i in range(columns)
    ]
    lines += [
        "",
        "## Relationships",
        "",
        "- company_id → public.bss_company.id（所属公司）",
        "",
        "## 示例数据",
        "",
        "| id | service_area_name | service_state |",
        "|---|---|---|",
    ]
    lines += [f"| {i} | 服务区{i} | 开放 |" for i in range(60)]
    return "\n".join(lines) + "\n"


def write_task_folder(
    folder: Path,
    pairs=PAIRS,
    ddls=(("bss_service_area", DDL_AREA), ("bss_business_day_data", DDL_DAY)),
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, ddl in ddls:
        (folder / f"{stem}.ddl").write_text(ddl, encoding="utf-8")
    (folder / "bss_service_area_detail.md").write_text(detail_md(), encoding="utf-8")
    # An older pair file and a validation backup: only the newest pair file is loaded.
    (folder / "qs_demo_20240101_090000_pair.json").write_text(
        json.dumps([{"question": "旧问题 old question", "sql": "SELECT 1"}]), encoding="utf-8"
    )
    newest = folder / "qs_demo_20240102_090000_pair.json"
    newest.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    (folder / (newest.name + ".backup")).write_text("[]", encoding="utf-8")
    return folder


def make_ctx(
    config, folder: Path, vector_dsn: str, task_id: str | None = "task_20240102_090000", **params
) -> StepContext:
    progress: list[float] = []
    ctx = StepContext(
        task_dir=folder,
        config=config,
        params=WorkflowParams(
            db_connection="source:demo",
            business_context="高速公路服务区 highway service areas",
            **params,
        ),
        source_dsn="unused",
        db_name="demo_business",
        llm=None,
        vector_dsn=vector_dsn,
        task_id=task_id,
        report_progress=lambda fraction, note=None: progress.append(fraction),
    )
    ctx.progress_seen = progress  # type: ignore[attr-defined]
    return ctx


def fetch(dsn: str, sql: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


# Embedder -------------------------------------------------------------------------------
def test_hashing_embedder_is_deterministic_normalised_and_batch_independent():
    e = HashingEmbedder(384)
    texts = [
        "统计每个服务区的支付总金额",
        "How many orders per day?",
        "",
        "  How   many ORDERS\tper day? ",
    ]
    vectors = e.embed(texts)
    assert [len(v) for v in vectors] == [384] * 4
    for v in vectors:
        assert abs(sum(x * x for x in v) - 1.0) < 1e-9
    assert vectors[1] == pytest.approx(vectors[3])  # case and whitespace do not matter
    assert e.embed([texts[0]])[0] == pytest.approx(vectors[0])  # the batch does not matter
    assert HashingEmbedder(384).embed([texts[0]]) == e.embed([texts[0]])
    assert vectors[0] != pytest.approx(vectors[1])
    assert len(HashingEmbedder(16).embed(["abc"])[0]) == 16
    # The same vector in another process (where Python's own hash() is salted differently).
    code = (
        "import json,sys; from data_pipeline.training_load.embedders import HashingEmbedder; "
        "print(json.dumps(HashingEmbedder(384).embed([sys.argv[1]])[0]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, texts[0]],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout
    assert json.loads(out) == pytest.approx(vectors[0], abs=1e-12)


def test_hashing_embedder_ranks_related_text_closer():
    e = HashingEmbedder(384)
    q, near, far = e.embed(
        ["服务区支付总金额", "统计每个服务区的支付总金额", "How many orders per day?"]
    )
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(q, near) > dot(q, far) + 0.2


# Documents ------------------------------------------------------------------------------
def test_markdown_chunks_are_bounded_keep_the_title_and_lose_nothing():
    text = detail_md() + "\n## Long line\n\n" + ("很长的一行没有空格" * 400) + "\n"
    chunks = chunk_markdown(text, max_chars=1500)
    title = "# public.bss_service_area（服务区基础信息表）"
    assert len(chunks) >= 4
    for section, chunk in chunks:
        assert len(chunk) <= 1500
        assert chunk.startswith(title)
        assert section
    body = "\n".join(c for _, c in chunks)
    for line in text.splitlines():  # every line of the file survives (the long one in pieces)
        if line.strip() and not line.startswith("很长"):
            assert line in body, line
    assert body.count("很长的一行没有空格") >= 400
    # A long section is split and its heading repeated; table rows keep their header.
    assert sum("## Columns" in c for _, c in chunks) >= 2
    table_chunks = [c for _, c in chunks if "| 59 | 服务区59 |" in c or "| 0 | 服务区0 |" in c]
    assert table_chunks and all(
        "| id | service_area_name | service_state |" in c for c in table_chunks
    )
    # Small sections share a chunk rather than making tiny ones.
    small = chunk_markdown("# t（表）\n\nintro\n\n## A\n\na\n\n## B\n\nb\n")
    assert small == [("t（表）", "# t（表）\n\nintro\n\n## A\n\na\n\n## B\n\nb")]
    assert chunk_markdown("") == []


def test_document_ids_come_from_content(tmp_path):
    a = collect_documents(write_task_folder(tmp_path / "a"))
    b = collect_documents(write_task_folder(tmp_path / "b"))
    assert [d.doc_id for d in a.documents] == [d.doc_id for d in b.documents]
    assert a.pair_file == "qs_demo_20240102_090000_pair.json"
    assert a.ddl_files == ["bss_business_day_data.ddl", "bss_service_area.ddl"]
    by = {c: [d for d in a.documents if d.collection == c] for c in ("sql", "ddl", "documentation")}
    assert len(by["sql"]) == len(PAIRS) and len(by["ddl"]) == 2 and len(by["documentation"]) >= 3
    assert all(d.doc_id.endswith("-sql") for d in by["sql"])
    assert all(d.doc_id.endswith("-ddl") for d in by["ddl"])
    assert all(d.doc_id.endswith("-doc") for d in by["documentation"])
    assert len({d.doc_id for d in a.documents}) == len(a.documents)
    # Formatting does not make a new document; other content does.
    q, s = PAIRS[0]["question"], PAIRS[0]["sql"]
    assert (
        question_sql_document(q, s, "x").doc_id
        == question_sql_document(f" {q} ", s.replace(" ", "  ").rstrip(";"), "y").doc_id
    )
    assert question_sql_document(q, s, "x").doc_id != question_sql_document(q + "？", s, "x").doc_id
    assert document_id("ddl", "CREATE TABLE t (a int)") == document_id(
        "ddl", "CREATE TABLE t (\n  a int\n)".replace("(\n  ", "(").replace("\n)", ")")
    )
    assert document_id("ddl", "x")[:-4] != document_id("documentation", "x")[:-4]


def test_missing_inputs_name_the_step_to_run_first(tmp_path, config, pipeline_dsn):
    folder = tmp_path / "t"
    folder.mkdir()
    assert "run step 1 first" in training_step.missing_inputs(folder)
    (folder / "t.ddl").write_text(DDL_AREA, encoding="utf-8")
    assert "run step 2 first" in training_step.missing_inputs(folder)
    with pytest.raises(StepFailed, match="step 2"):
        training_step.run(make_ctx(config, folder, pipeline_dsn))
    (folder / "qs_demo_20240101_000000_pair.json").write_text("[]", encoding="utf-8")
    assert training_step.missing_inputs(folder) is None
    (folder / "qs_demo_20240101_000000_pair.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(StepFailed, match=r"qs_demo_20240101_000000_pair\.json"):
        training_step.run(make_ctx(config, folder, pipeline_dsn))


# The store ------------------------------------------------------------------------------
def test_layout_is_the_one_vanna_reads(tmp_path, config, pipeline_dsn):
    training_step.run(make_ctx(config, write_task_folder(tmp_path / "t"), pipeline_dsn))
    columns = fetch(
        pipeline_dsn,
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relname IN ('langchain_pg_collection', 'langchain_pg_embedding')
           AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum""",
    )
    assert columns == [
        ("langchain_pg_collection", "uuid", "uuid"),
        ("langchain_pg_collection", "name", "character varying"),
        ("langchain_pg_collection", "cmetadata", "json"),
        ("langchain_pg_embedding", "id", "character varying"),
        ("langchain_pg_embedding", "collection_id", "uuid"),
        ("langchain_pg_embedding", "embedding", "vector(384)"),
        ("langchain_pg_embedding", "document", "character varying"),
        ("langchain_pg_embedding", "cmetadata", "jsonb"),
    ]
    constraints = fetch(
        pipeline_dsn,
        """
        SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'langchain_pg_embedding'::regclass ORDER BY contype""",
    )
    assert any(
        t == "f" and "REFERENCES langchain_pg_collection(uuid) ON DELETE CASCADE" in d
        for _, t, d in constraints
    )
    assert any(t == "p" and d == "PRIMARY KEY (id)" for _, t, d in constraints)
    assert sorted(
        r[0] for r in fetch(pipeline_dsn, "SELECT name FROM langchain_pg_collection")
    ) == ["ddl", "documentation", "sql"]
    # Read the rows the way vanna.pgvector.PG_VectorStore.get_training_data does.
    rows = fetch(pipeline_dsn, "SELECT cmetadata, document, id FROM langchain_pg_embedding")
    kinds = {}
    for cmetadata, document, row_id in rows:
        custom_id = cmetadata["id"]
        assert custom_id == row_id
        kind = "documentation" if custom_id[-3:] == "doc" else custom_id[-3:]
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "sql":
            pair = ast.literal_eval(document)  # what Vanna does
            assert pair == json.loads(document) and set(pair) == {"question", "sql"}
        assert cmetadata["task_id"] == "task_20240102_090000"
        assert cmetadata["db_name"] == "demo_business" and cmetadata["source_file"]
    assert kinds["sql"] == len(PAIRS) and kinds["ddl"] == 2 and kinds["documentation"] >= 3
    questions = {json.loads(d)["question"] for _, d, i in rows if i.endswith("-sql")}
    assert questions == {p["question"] for p in PAIRS}  # the newest pair file only


def test_second_load_adds_nothing_and_counts_are_per_collection(tmp_path, config, pipeline_dsn):
    folder = write_task_folder(tmp_path / "t")
    ctx = make_ctx(config, folder, pipeline_dsn)
    first = training_step.run(ctx)
    n_docs = len(collect_documents(folder).documents)
    assert first["totals"] == {"documents": n_docs, "inserted": n_docs, "already_present": 0}
    assert first["collections"]["sql"] == {"documents": 4, "inserted": 4, "already_present": 0}
    assert first["collections"]["ddl"] == {"documents": 2, "inserted": 2, "already_present": 0}
    assert first["store_counts"] == {
        c: first["collections"][c]["documents"] for c in first["collections"]
    }
    assert first["embedder"] == "builtin-hashing" and first["dimension"] == 384
    assert ctx.progress_seen[-1] == 1.0 and ctx.progress_seen == sorted(ctx.progress_seen)
    rows_before = fetch(pipeline_dsn, "SELECT count(*) FROM langchain_pg_embedding")[0][0]
    assert rows_before == n_docs

    second = training_step.run(make_ctx(config, folder, pipeline_dsn))
    assert second["totals"] == {"documents": n_docs, "inserted": 0, "already_present": n_docs}
    assert fetch(pipeline_dsn, "SELECT count(*) FROM langchain_pg_embedding")[0][0] == rows_before
    # Vectors are real: unit length, one per row.
    norms = fetch(
        pipeline_dsn,
        "SELECT min(vector_norm(embedding)), max(vector_norm(embedding)) FROM langchain_pg_embedding",
    )
    assert norms[0][0] == pytest.approx(1.0, abs=1e-5) and norms[0][1] == pytest.approx(
        1.0, abs=1e-5
    )


def test_purge_removes_exactly_the_task_rows_and_keeps_shared_ones(tmp_path, config, pipeline_dsn):
    other_pairs = [
        PAIRS[0],
        {
            "question": "列出所有服务区编码 list all service area codes",
            "sql": "SELECT service_area_no FROM bss_service_area;",
        },
    ]
    a = write_task_folder(tmp_path / "a")
    b = write_task_folder(tmp_path / "b", pairs=other_pairs, ddls=(("bss_service_area", DDL_AREA),))
    (b / "bss_service_area_detail.md").unlink()
    training_step.run(make_ctx(config, a, pipeline_dsn, task_id="task_20240102_090000"))
    result_b = training_step.run(make_ctx(config, b, pipeline_dsn, task_id="task_20240103_090000"))
    # B shares one DDL and one pair with A: those were already there.
    assert result_b["totals"] == {"documents": 3, "inserted": 1, "already_present": 2}
    with TrainingStore(pipeline_dsn) as store:
        a_counts = store.counts("task_20240102_090000")
        assert store.counts("task_20240103_090000") == {"sql": 2, "ddl": 1, "documentation": 0}
        total = store.total()
        purged = store.purge_task("task_20240102_090000")
        assert purged["kept_shared"] == 2
        assert sum(purged["removed"].values()) == sum(a_counts.values()) - 2
        assert store.counts("task_20240102_090000") == {"sql": 0, "ddl": 0, "documentation": 0}
        assert store.counts("task_20240103_090000") == {"sql": 2, "ddl": 1, "documentation": 0}
        assert store.total() == total - sum(purged["removed"].values()) == 3
        owners = fetch(
            pipeline_dsn,
            "SELECT cmetadata->>'task_id', cmetadata->'task_ids' FROM langchain_pg_embedding",
        )
        assert all(o == ("task_20240103_090000", ["task_20240103_090000"]) for o in owners)
        assert store.purge_task("task_20240103_090000")["removed"] == {
            "sql": 2,
            "ddl": 1,
            "documentation": 0,
        }
        assert store.total() == 0
        assert store.purge_task("task_20240101_000000") == {
            "removed": {"sql": 0, "ddl": 0, "documentation": 0},
            "kept_shared": 0,
        }


def test_backup_then_truncate(tmp_path, config, pipeline_dsn):
    folder = write_task_folder(tmp_path / "t")
    first = training_step.run(make_ctx(config, folder, pipeline_dsn))
    n = first["totals"]["documents"]
    assert training_step.output_files(folder) == []
    again = training_step.run(
        make_ctx(
            config, folder, pipeline_dsn, backup_vector_tables=True, truncate_vector_tables=True
        )
    )
    assert again["truncated"] == first["store_counts"]
    assert again["totals"]["inserted"] == n  # emptied first, so everything is new again
    assert training_step.output_files(folder) == []  # a clean re-run keeps the backups
    files = sorted((folder / "vector_bak").iterdir())
    assert [f.parent.name for f in files] == ["vector_bak", "vector_bak"]
    assert sorted(again["backup_files"]) == sorted(f"vector_bak/{f.name}" for f in files)
    emb = next(f for f in files if f.name.startswith("langchain_pg_embedding_"))
    col = next(f for f in files if f.name.startswith("langchain_pg_collection_"))
    with open(emb, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n
    assert set(rows[0]) == {"id", "collection_id", "embedding", "document", "cmetadata"}
    assert all(len(json.loads(r["embedding"])) == 384 for r in rows)
    assert any("服务区" in r["document"] for r in rows)
    with open(col, encoding="utf-8", newline="") as fh:
        assert sorted(r["name"] for r in csv.DictReader(fh)) == ["ddl", "documentation", "sql"]
    with TrainingStore(pipeline_dsn) as store:
        assert store.truncate_vector_tables() == first["store_counts"]
        assert store.total() == 0


@pytest.mark.slow
def test_search_finds_the_nearest_document_and_the_cli_prints_it(tmp_path, config, pipeline_dsn):
    training_step.run(make_ctx(config, write_task_folder(tmp_path / "t"), pipeline_dsn))
    e = HashingEmbedder(384)
    with TrainingStore(pipeline_dsn) as store:
        hits = store.search("每个服务区的支付总金额是多少", e, collection="sql", k=3)
        assert json.loads(hits[0].document)["question"] == PAIRS[0]["question"]
        assert hits[0].distance <= hits[1].distance <= hits[2].distance
        hits = store.search("orders placed on each operating date", e, collection="sql", k=2)
        assert json.loads(hits[0].document)["question"] == PAIRS[2]["question"]
        hits = store.search("daily business figures pay_sum order_sum", e, collection="ddl", k=1)
        assert hits[0].document == DDL_DAY
        assert store.search("服务区", e, task_id="task_20990101_000000") == []
        assert {h.collection for h in store.search("服务区", e, k=50)} == {
            "sql",
            "ddl",
            "documentation",
        }
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "PIPELINE_DATABASE_URL": pipeline_dsn,
        "LOAD_DEMO_SOURCE": "false",
        "EMBEDDING_BASE_URL": "",
        "EMBEDDING_PROVIDER": "hashing",
        "VECTOR_DATABASE_URL": "",
    }
    cmd = [
        sys.executable,
        "-m",
        "data_pipeline.training_load.search",
        "哪些服务区是开放状态",
        "--collection",
        "sql",
        "-k",
        "2",
    ]
    out = subprocess.run(
        [*cmd, "--json"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert len(results) == 2 and results[0]["question"] == PAIRS[1]["question"]
    assert results[0]["sql"] == PAIRS[1]["sql"] and results[0]["task_id"] == "task_20240102_090000"
    text = subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert text.returncode == 0 and "Q: 查询所有开放状态的服务区名称" in text.stdout
    bad = subprocess.run(
        [*cmd[:4], "--collection", "tables"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    # Searched with another embedder than the one that made the vectors: refused, saying which.
    mixed = subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env={**env, "EMBEDDING_PROVIDER": "local-e5"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert mixed.returncode == 1 and "EMBEDDING_PROVIDER=hashing" in mixed.stderr, mixed.stderr


def test_cancelled_load_keeps_committed_batches_and_a_rerun_completes(tmp_path, pipeline_dsn):
    docs = collect_documents(write_task_folder(tmp_path / "t")).documents
    e = HashingEmbedder(384)
    calls = {"n": 0}

    def cancel_after_two_batches():
        calls["n"] += 1
        if calls["n"] > 2:
            raise Cancelled("the run was cancelled")

    with ensure_store(pipeline_dsn, 384) as store:
        with pytest.raises(Cancelled):
            load_documents(
                store,
                docs,
                e,
                batch_size=2,
                task_id="task_20240102_090000",
                check_cancelled=cancel_after_two_batches,
            )
        assert store.total() == 4
        report = load_documents(
            store, docs + docs[:3], e, batch_size=3, task_id="task_20240102_090000"
        )
        assert (report.inserted, report.already_present, report.duplicates_in_input) == (
            len(docs) - 4,
            4,
            3,
        )
        assert store.total() == len(docs)


def test_dimension_mismatch_and_old_layout_are_refused_clearly(
    tmp_path, config, pipeline_dsn, pg_admin_dsn
):
    folder = write_task_folder(tmp_path / "t")
    training_step.run(make_ctx(config, folder, pipeline_dsn))
    small = config.with_overrides(embedding_dimension=64)
    with pytest.raises(StepFailed, match=r"holds 384-dimension vectors .* 64-dimension"):
        training_step.run(make_ctx(small, folder, pipeline_dsn))
    result = training_step.run(make_ctx(small, folder, pipeline_dsn, truncate_vector_tables=True))
    assert (
        result["dimension"] == 64 and result["totals"]["inserted"] == result["totals"]["documents"]
    )
    assert fetch(
        pipeline_dsn, "SELECT DISTINCT vector_dims(embedding) FROM langchain_pg_embedding"
    ) == [(64,)]

    old = new_database(pg_admin_dsn)
    conn = psycopg2.connect(old)
    with conn, conn.cursor() as cur:
        cur.execute(
            "CREATE EXTENSION vector; CREATE TABLE langchain_pg_embedding (uuid uuid PRIMARY KEY, "
            "collection_id uuid, embedding vector, document varchar, cmetadata json, custom_id varchar)"
        )
    conn.close()
    with pytest.raises(StepFailed, match="old langchain_community layout"):
        training_step.run(make_ctx(config, folder, old))


def test_missing_vector_extension_is_named(tmp_path, config, pg_admin_dsn):
    """A user who may not create the extension gets a message naming it and what to do."""
    dsn = new_database(pg_admin_dsn)
    db = psycopg2.extensions.parse_dsn(dsn)["dbname"]
    role = f"u_{db[-10:]}"
    conn = psycopg2.connect(pg_admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN")
        cur.execute(f"REVOKE CREATE ON DATABASE {db} FROM PUBLIC")
    conn.close()
    user_dsn = psycopg2.extensions.make_dsn(dsn, user=role)
    with pytest.raises(StepFailed, match="'vector' extension") as info:
        training_step.run(make_ctx(config, write_task_folder(tmp_path / "t"), user_dsn))
    assert "CREATE EXTENSION vector" in info.value.message


# The OpenAI-compatible embedder ---------------------------------------------------------
def _remote(fake, **kw) -> OpenAICompatibleEmbedder:
    args = {
        "base_url": fake.base_url,
        "api_key": "sk-secret-123",
        "model": "text-embedding-v3",
        "dimension": 384,
        "batch_size": 3,
        "max_retries": 2,
        "backoff_seconds": 0.01,
    }
    return OpenAICompatibleEmbedder(**{**args, **kw})


def test_openai_compatible_embedder_batches_and_keeps_order(fake_openai):
    texts = [f"文本 {i} text" for i in range(7)]
    vectors = _remote(fake_openai).embed(texts)
    assert vectors == [pytest.approx(fake_vector(t, 384)) for t in texts]
    calls = [r for r in fake_openai.requests if r.path.endswith("/embeddings")]
    assert [len(r.body["input"]) for r in calls] == [3, 3, 1]
    assert calls[0].body["model"] == "text-embedding-v3"
    assert calls[0].headers["authorization"] == "Bearer sk-secret-123"


def test_openai_compatible_embedder_retries_transient_errors(fake_openai):
    fake_openai.embedding_errors.extend([error(500), error(503)])
    assert _remote(fake_openai).embed(["服务区"]) == [pytest.approx(fake_vector("服务区", 384))]
    assert len(fake_openai.requests) == 3
    fake_openai.embedding_errors.extend([error(500)] * 3)
    with pytest.raises(ProviderError, match=r"127\.0\.0\.1:\d+ failed after 3 attempts") as info:
        _remote(fake_openai).embed(["x"])
    assert "sk-secret-123" not in info.value.message


def test_openai_compatible_embedder_errors_are_clear_and_keyless(fake_openai):
    fake_openai.embedding_errors.append(error(401, "invalid key sk-secret-123"))
    with pytest.raises(ProviderError, match=r"refused the request \(HTTP 401\)") as info:
        _remote(fake_openai).embed(["x"])
    assert "sk-secret-123" not in info.value.message and len(fake_openai.requests) == 1
    fake_openai.embedding_dimension = 8
    with pytest.raises(ProviderError, match="returns 8-dimension vectors but 384 are configured"):
        _remote(fake_openai).embed(["x"])


def test_step_loads_through_the_remote_embedder(tmp_path, config, pipeline_dsn, fake_openai):
    remote = config.with_overrides(
        embedding_provider=None,  # implied by the base URL
        embedding_base_url=fake_openai.base_url,
        embedding_api_key="k",
        embedding_dimension=384,
        embedding_batch_size=4,
    )
    assert isinstance(get_embedder(remote), OpenAICompatibleEmbedder)
    folder = write_task_folder(tmp_path / "t")
    result = training_step.run(make_ctx(remote, folder, pipeline_dsn))
    n = result["totals"]["documents"]
    assert result["embedder"] == "openai-compatible:text-embedding-v3"
    assert result["totals"]["inserted"] == n
    assert sum(len(r.body["input"]) for r in fake_openai.requests) == n
    assert max(len(r.body["input"]) for r in fake_openai.requests) == 4
    row = fetch(
        pipeline_dsn,
        "SELECT embedding::text, document FROM langchain_pg_embedding WHERE id LIKE '%%-ddl' ORDER BY document LIMIT 1",
    )[0]
    assert json.loads(row[0]) == pytest.approx(fake_vector(row[1], 384), abs=1e-6)
    again = training_step.run(make_ctx(remote, folder, pipeline_dsn))
    assert again["totals"]["inserted"] == 0


def test_embedding_failure_in_the_background_thread_fails_the_load(
    tmp_path, pipeline_dsn, fake_openai
):
    docs = collect_documents(write_task_folder(tmp_path / "t")).documents
    fake_openai.embedding_errors.append(error(400, "input too long"))
    with ensure_store(pipeline_dsn, 384) as store:
        with pytest.raises(ProviderError, match=r"HTTP 400\): input too long"):
            load_documents(store, docs, _remote(fake_openai, batch_size=2), batch_size=2)
        assert store.total() == 0
