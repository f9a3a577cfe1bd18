"""Step 4 keeps the training store clean (real PostgreSQL + pgvector, hashing embedder): a
table's documentation replaces its earlier version, a pair already stored (by Vanna, or by
another task in other spelling) is not added again, step 2's themes document stays out, only
missing or out-of-date vectors are computed, and vectors of two embedders are never mixed."""

from __future__ import annotations

import dataclasses
import json
import uuid

import psycopg2
import pytest

from core.errors import StepFailed
from data_pipeline.training_load import step as training_step
from data_pipeline.training_load.documents import collect_documents, pair_key
from data_pipeline.training_load.embedders import HashingEmbedder
from data_pipeline.training_load.loader import load_documents
from data_pipeline.training_load.vector_store import TrainingStore, ensure_store
from tests.integration.test_training_load import (
    DDL_AREA,
    PAIRS,
    detail_md,
    fetch,
    make_ctx,
    write_task_folder,
)

TASK_A, TASK_B = "task_20240102_090000", "task_20240103_090000"


@pytest.fixture
def config(config):
    return config.with_overrides(embedding_provider="hashing")


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the texts it is asked to embed."""

    def __init__(self, name: str = HashingEmbedder.name):
        super().__init__(384)
        self.name = name
        self.texts: list[str] = []

    def embed_array(self, texts, *, query=False):
        self.texts += list(texts)
        return super().embed_array(texts, query=query)


def execute(dsn: str, sql: str, params=None) -> None:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(sql, params)
    conn.close()


def doc_rows(dsn: str, source_file: str) -> dict[str, list[str]]:
    """id -> task_ids of the documentation rows of one file."""
    rows = fetch(
        dsn,
        "SELECT id, cmetadata->'task_ids' FROM langchain_pg_embedding "
        "WHERE cmetadata->>'source_file' = %s AND id LIKE '%%-doc'",
        (source_file,),
    )
    return dict(rows)


def test_pairs_are_embedded_by_their_question_and_stored_as_vanna_reads_them(
    tmp_path, config, pipeline_dsn
):
    training_step.run(make_ctx(config, write_task_folder(tmp_path / "t"), pipeline_dsn))
    rows = fetch(
        pipeline_dsn,
        "SELECT document, embedding::text, cmetadata FROM langchain_pg_embedding "
        "WHERE id LIKE '%%-sql'",
    )
    e = HashingEmbedder(384)
    assert len(rows) == len(PAIRS)
    for document, vector, meta in rows:
        pair = json.loads(document)
        assert set(pair) == {"question", "sql"}  # the document is the whole pair
        # ... and its vector is the question's alone, not question + SQL
        assert json.loads(vector) == pytest.approx(
            e.embed_documents([pair["question"]])[0], abs=1e-6
        )
        assert meta["embedder"] == "builtin-hashing" and meta["embedding_key"]
        # The key that finds the pair spelt otherwise (case, spacing, final ? and ;).
        variant = (pair["question"].upper() + "？", "  " + pair["sql"].lower() + " ;")
        assert meta["pair_key"] == pair_key(*variant) != pair_key(pair["question"], "SELECT 1")


def test_reloaded_documentation_replaces_the_tables_earlier_chunks(tmp_path, config, pipeline_dsn):
    folder = write_task_folder(tmp_path / "t")
    first = training_step.run(make_ctx(config, folder, pipeline_dsn, task_id=TASK_A))
    v1 = doc_rows(pipeline_dsn, "bss_service_area_detail.md")
    assert len(v1) == first["collections"]["documentation"]["documents"] >= 3

    # The table's document changes (a column described otherwise, rows of the sample gone):
    # its new chunks replace the old ones, whatever task loads it.
    changed = (
        detail_md()
        .replace("第3个字段", "第三个字段（已更正）")
        .replace("| 59 | 服务区59 | 开放 |\n", "")
    )
    (folder / "bss_service_area_detail.md").write_text(changed, encoding="utf-8")
    second = training_step.run(make_ctx(config, folder, pipeline_dsn, task_id=TASK_B))
    v2 = doc_rows(pipeline_dsn, "bss_service_area_detail.md")
    expected = {
        d.doc_id for d in collect_documents(folder).documents if d.collection == "documentation"
    }
    assert set(v2) == expected and set(v1) - set(v2)
    assert second["replaced"]["documentation"] == len(set(v1) - set(v2))
    assert second["collections"]["documentation"]["inserted"] == len(set(v2) - set(v1))
    # The task that loaded the earlier version owns the new one too: purging either task
    # leaves the table documented while the other still wants it.
    assert all(sorted(owners) == [TASK_A, TASK_B] for owners in v2.values())
    with TrainingStore(pipeline_dsn) as store:
        assert store.counts(TASK_A)["documentation"] == len(v2)
        store.purge_task(TASK_B)
        assert set(doc_rows(pipeline_dsn, "bss_service_area_detail.md")) == expected
        store.purge_task(TASK_A)
        assert doc_rows(pipeline_dsn, "bss_service_area_detail.md") == {}

    # Loading the same folder twice still adds nothing, and another database's documentation
    # of a table with the same name is its own.
    again = training_step.run(make_ctx(config, folder, pipeline_dsn, task_id=TASK_A))
    assert again["totals"]["inserted"] == again["totals"]["documents"]
    twice = training_step.run(make_ctx(config, folder, pipeline_dsn, task_id=TASK_A))
    assert twice["totals"]["inserted"] == 0 and sum(twice["replaced"].values()) == 0
    (folder / "bss_service_area_detail.md").write_text(detail_md(), encoding="utf-8")
    other_db = dataclasses.replace(
        make_ctx(config, folder, pipeline_dsn, task_id=TASK_B), db_name="other_business"
    )
    result = training_step.run(other_db)
    assert sum(result["replaced"].values()) == 0
    assert set(doc_rows(pipeline_dsn, "bss_service_area_detail.md")) == expected | set(v1)


def test_the_ddl_of_a_changed_table_replaces_the_old_one(tmp_path, config, pipeline_dsn):
    folder = write_task_folder(tmp_path / "t")
    training_step.run(make_ctx(config, folder, pipeline_dsn, task_id=TASK_A))
    ddl = (folder / "bss_service_area.ddl").read_text(encoding="utf-8")
    (folder / "bss_service_area.ddl").write_text(
        ddl.replace("-- 服务区编码", "-- 服务区编码（唯一）"), encoding="utf-8"
    )
    result = training_step.run(make_ctx(config, folder, pipeline_dsn, task_id=TASK_A))
    assert result["replaced"]["ddl"] == 1 and result["collections"]["ddl"]["inserted"] == 1
    documents = [
        d
        for (d,) in fetch(
            pipeline_dsn, "SELECT document FROM langchain_pg_embedding WHERE id LIKE '%%-ddl'"
        )
    ]
    assert len(documents) == 2 and sum("服务区编码（唯一）" in d for d in documents) == 1


def test_a_pair_stored_already_is_not_added_again_whoever_wrote_it(tmp_path, config, pipeline_dsn):
    # Vanna's add_question_sql: a random id, the pair as JSON, only the id in cmetadata.
    with ensure_store(pipeline_dsn, 384) as store:
        sql_collection = store.collection_ids()["sql"]
    vanna_id = f"{uuid.uuid4()}-sql"
    vanna_doc = json.dumps(
        {
            "question": "统计每个服务区的支付总金额？",  # PAIRS[0] with a question mark,
            "sql": PAIRS[0]["sql"].upper().rstrip(";").replace(" ", "  "),  # case, spacing
        },
        ensure_ascii=False,
    )
    execute(
        pipeline_dsn,
        "INSERT INTO langchain_pg_embedding (id, collection_id, embedding, document, cmetadata) "
        "VALUES (%s, %s, %s::vector, %s, %s)",
        (
            vanna_id,
            sql_collection,
            json.dumps([1.0] + [0.0] * 383),
            vanna_doc,
            json.dumps({"id": vanna_id}),
        ),
    )
    result = training_step.run(
        make_ctx(config, write_task_folder(tmp_path / "a"), pipeline_dsn, task_id=TASK_A)
    )
    assert result["collections"]["sql"] == {"documents": 4, "inserted": 3, "already_present": 1}
    assert result["pairs_stored_under_other_ids"] == 1
    assert fetch(
        pipeline_dsn, "SELECT count(*) FROM langchain_pg_embedding WHERE id LIKE '%%-sql'"
    ) == [(4,)]
    # Vanna's row is left as it is: not claimed by the task, so purging the task keeps it.
    assert fetch(
        pipeline_dsn, "SELECT cmetadata FROM langchain_pg_embedding WHERE id = %s", (vanna_id,)
    ) == [({"id": vanna_id},)]

    # Another task with one of those pairs spelt otherwise: not added, but that task now
    # shares the stored row (purging the first task keeps it).
    variant = {
        "question": "  查询所有开放状态的服务区名称？ ",
        "sql": PAIRS[1]["sql"].rstrip(";").lower() + " ;",
    }
    b = write_task_folder(tmp_path / "b", pairs=[variant], ddls=(("bss_service_area", DDL_AREA),))
    (b / "bss_service_area_detail.md").unlink()
    result_b = training_step.run(make_ctx(config, b, pipeline_dsn, task_id=TASK_B))
    assert result_b["collections"]["sql"] == {"documents": 1, "inserted": 0, "already_present": 1}
    with TrainingStore(pipeline_dsn) as store:
        assert store.counts(TASK_B)["sql"] == 1
        store.purge_task(TASK_A)
        assert store.counts(TASK_B)["sql"] == 1
        left = {
            json.loads(d)["question"]
            for (d,) in fetch(
                pipeline_dsn, "SELECT document FROM langchain_pg_embedding WHERE id LIKE '%%-sql'"
            )
        }
        assert left == {"统计每个服务区的支付总金额？", PAIRS[1]["question"]}

    # Two spellings of one pair in the same file: the first is kept.
    c = write_task_folder(
        tmp_path / "c", pairs=[PAIRS[3], {**PAIRS[3], "question": PAIRS[3]["question"].upper()}]
    )
    assert sum(d.collection == "sql" for d in collect_documents(c).documents) == 2
    result_c = training_step.run(make_ctx(config, c, pipeline_dsn, task_id=TASK_A))
    assert result_c["duplicates_in_input"] == 1 and result_c["collections"]["sql"]["documents"] == 1


def test_the_themes_document_of_step_2_is_not_loaded(tmp_path, config, pipeline_dsn):
    folder = write_task_folder(tmp_path / "t")
    (folder / "metadata_detail.md").write_text(
        "# 业务主题与问答对\n\n## 1. 服务区经营分析\n\n- 相关表: `public.bss_service_area`\n",
        encoding="utf-8",
    )
    found = collect_documents(folder)
    assert found.detail_files == ["bss_service_area_detail.md"]
    assert not any(d.source_file == "metadata_detail.md" for d in found.documents)
    training_step.run(make_ctx(config, folder, pipeline_dsn))
    assert fetch(
        pipeline_dsn,
        "SELECT count(*) FROM langchain_pg_embedding WHERE cmetadata->>'source_file' = 'metadata_detail.md'",
    ) == [(0,)]


def test_only_missing_or_out_of_date_vectors_are_computed(tmp_path, pipeline_dsn):
    docs = collect_documents(write_task_folder(tmp_path / "t")).documents
    e = CountingEmbedder()
    with ensure_store(pipeline_dsn, 384) as store:
        first = load_documents(store, docs, e, task_id=TASK_A, db_name="demo_business")
        assert first.inserted == len(docs) and len(e.texts) == len(docs)
        e.texts.clear()
        again = load_documents(store, docs, e, task_id=TASK_B, db_name="demo_business")
        assert (again.inserted, again.already_present, e.texts) == (0, len(docs), [])
        assert store.counts(TASK_B) == store.counts(TASK_A)  # the second task shares them

        # Rows an earlier version loaded: no embedding_key, pairs embedded with their SQL.
        execute(
            pipeline_dsn,
            "UPDATE langchain_pg_embedding SET cmetadata = cmetadata - 'embedding_key' - 'embedder', "
            "embedding = %s::vector WHERE id LIKE '%%-sql'",
            (json.dumps([0.0, 1.0] + [0.0] * 382),),
        )
        third = load_documents(store, docs, e, task_id=TASK_A, db_name="demo_business")
        assert third.re_embedded == len(PAIRS) and third.inserted == 0
        assert sorted(e.texts) == sorted(p["question"] for p in PAIRS)
        vectors = fetch(
            pipeline_dsn,
            "SELECT document, embedding::text FROM langchain_pg_embedding WHERE id LIKE '%%-sql'",
        )
        for document, vector in vectors:
            question = json.loads(document)["question"]
            assert json.loads(vector) == pytest.approx(e.embed_documents([question])[0], abs=1e-6)
        assert store.counts(TASK_B)["sql"] == len(PAIRS)  # re-embedding kept the owners


def test_vectors_of_another_embedder_are_never_mixed_in(tmp_path, pipeline_dsn):
    folder = write_task_folder(tmp_path / "t")
    docs = collect_documents(folder).documents
    with ensure_store(pipeline_dsn, 384) as store:
        load_documents(store, docs, HashingEmbedder(384), task_id=TASK_A, db_name="demo_business")
        other = CountingEmbedder(name="openai-compatible:bge-m3")
        # Same dimension, other model: the new task's documents would sit among vectors
        # that cannot be compared with them.
        (tmp_path / "u").mkdir()
        new_docs = collect_documents(
            write_task_folder(tmp_path / "u", pairs=[{"question": "新问题", "sql": "SELECT 2"}])
        ).documents
        with pytest.raises(StepFailed, match="builtin-hashing") as info:
            load_documents(store, new_docs, other, task_id=TASK_B, db_name="demo_business")
        assert "EMBEDDING_PROVIDER" in info.value.message and other.texts == []
        assert store.counts(TASK_B) == {"sql": 0, "ddl": 0, "documentation": 0}
        # Re-loading everything the store holds with the new embedder is allowed: every
        # vector is made again.
        report = load_documents(store, docs, other, task_id=TASK_A, db_name="demo_business")
        assert report.re_embedded == len(docs)
        assert fetch(
            pipeline_dsn, "SELECT DISTINCT cmetadata->>'embedder' FROM langchain_pg_embedding"
        ) == [("openai-compatible:bge-m3",)]
