"""The training store through the API (``/store…``, issue #13): counts, search as the assistant
would, filtered and paged lists, one document, the JSON Lines export, deletion by an admin
only, bad input, and a store whose tables do not exist yet. Documents are loaded with the
project's loader and the hashing embedder (fast; the e5 model is tested elsewhere)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app_config import Config
from data_pipeline.api.store import StoreDoc, StorePage, StoreSearchResult, StoreStats
from data_pipeline.training_load import browse
from data_pipeline.training_load.documents import collect_documents
from data_pipeline.training_load.embedders import HashingEmbedder
from data_pipeline.training_load.loader import load_documents
from data_pipeline.training_load.vector_store import ensure_store
from tests.api_support import API, make_app
from tests.conftest import new_database

TASK_A, TASK_B = "task_20261130_090000", "task_20261130_100000"
DDL_AREA = """-- 中文名: 服务区基础信息表
CREATE TABLE public.bss_service_area (
  id varchar(32) NOT NULL,        -- 主键ID
  service_area_name varchar(255), -- 服务区名称
  service_state varchar(50),      -- 营运状态（开放、关闭）
  PRIMARY KEY (id)
);"""
DDL_DAY = """-- 中文名: 业务日数据表 / daily business figures
CREATE TABLE public.bss_business_day_data (
  id varchar(32) NOT NULL,  -- 主键
  oper_date date,           -- 统计日期
  service_no varchar(255),  -- 服务区编码
  pay_sum numeric(19,4),    -- 支付总金额
  order_sum integer,        -- 订单总数
  PRIMARY KEY (id)
);"""
DDL_ORDERS = "CREATE TABLE public.orders (id int PRIMARY KEY, customer text, total numeric);"
SHARED = {
    "question": "查询所有开放状态的服务区名称",
    "sql": "SELECT service_area_name FROM bss_service_area WHERE service_state = '开放';",
}
PAIRS_A = [
    {
        "question": "统计每个服务区的支付总金额",
        "sql": "SELECT service_no, SUM(pay_sum) FROM bss_business_day_data GROUP BY service_no;",
    },
    SHARED,
    {
        "question": "How many orders were placed on each operating date?",
        "sql": "SELECT oper_date, SUM(order_sum) FROM bss_business_day_data GROUP BY oper_date;",
    },
    {
        "question": "名称里带有100%字样的服务区",
        "sql": "SELECT service_area_name FROM bss_service_area WHERE service_area_name LIKE '%100\\%%';",
    },
]
PAIRS_B = [
    SHARED,
    {
        "question": "Which customers spent the most in total?",
        "sql": "SELECT customer, SUM(total) FROM orders GROUP BY customer ORDER BY 2 DESC;",
    },
]
ROLES = {"vera": "viewer", "otto": "operator", "ada": "admin"}


def _folder(folder: Path, pairs: list[dict], ddls: dict[str, str], detail: bool) -> Path:
    folder.mkdir(parents=True)
    for stem, ddl in ddls.items():
        (folder / f"{stem}.ddl").write_text(ddl, encoding="utf-8")
    if detail:
        (folder / "bss_service_area_detail.md").write_text(
            "# public.bss_service_area（服务区基础信息表）\n\n高速公路服务区的基础信息。\n\n"
            "## Columns\n\n- **service_state** (varchar): 营运状态（开放、关闭）\n",
            encoding="utf-8",
        )
    (folder / "qs_demo_20261130_090000_pair.json").write_text(
        json.dumps(pairs, ensure_ascii=False), encoding="utf-8"
    )
    return folder


def _load(tmp_path: Path, dsn: str) -> dict[str, list]:
    """Task A (demo_business) and task B (sales) into the store; the shared pair is loaded by
    both. Returns the documents of each task."""
    a = collect_documents(
        _folder(
            tmp_path / "a",
            PAIRS_A,
            {"bss_service_area": DDL_AREA, "bss_business_day_data": DDL_DAY},
            detail=True,
        )
    ).documents
    b = collect_documents(
        _folder(tmp_path / "b", PAIRS_B, {"orders": DDL_ORDERS}, detail=False)
    ).documents
    embedder = HashingEmbedder(384)
    with ensure_store(dsn, 384) as store:
        load_documents(store, a, embedder, task_id=TASK_A, db_name="demo_business")
        load_documents(store, b, embedder, task_id=TASK_B, db_name="sales")
    return {"a": a, "b": b}


def _tokens() -> tuple[str, dict[str, dict]]:
    tokens = {name: f"token-of-{name}" for name in ROLES}
    spec = {
        name: {"sha256": hashlib.sha256(tokens[name].encode()).hexdigest(), "role": role}
        for name, role in ROLES.items()
    }
    headers = {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}
    return json.dumps(spec), headers


@pytest.fixture
def config(config):
    return config.with_overrides(embedding_provider="hashing")


def _client(config: Config):
    """An app with viewer, operator and admin tokens: its client and the headers of each."""
    spec, headers = _tokens()
    app = make_app(config.with_overrides(api_tokens=spec))
    return app, app.test_client(), headers


@pytest.fixture
def api(config):
    """A client on the test's own database (for tests that change the store)."""
    app, client, headers = _client(config)
    yield client, headers
    app.extensions["data_pipeline"].close()


@pytest.fixture
def loaded(tmp_path, pipeline_dsn):
    return _load(tmp_path, pipeline_dsn)


@pytest.fixture(scope="module")
def shared(pg_admin_dsn, template_db, demo_dsn, tmp_path_factory):
    """One loaded store and client for the tests that only read (loaded once per module):
    ``(client, headers, documents)``."""
    dsn = new_database(pg_admin_dsn, template_db)
    root = tmp_path_factory.mktemp("store_api")
    documents = _load(root, dsn)
    config = Config(
        pipeline_database_url=dsn,
        data_root=root / "data",
        data_sources={"demo": demo_dsn},
        load_demo_source=False,
        embedding_provider="hashing",
    )
    app, client, headers = _client(config)
    yield client, headers, documents
    app.extensions["data_pipeline"].close()


def _get(client, headers, path: str, **params):
    r = client.get(f"{API}{path}", query_string=params, headers=headers)
    return r


def _all_documents(client, headers, **filters) -> list[dict]:
    docs, page = [], 1
    while True:
        r = _get(client, headers, "/store/documents", page=page, page_size=3, **filters)
        assert r.status_code == 200, r.json
        docs += r.json["data"]["documents"]
        if len(r.json["data"]["documents"]) < 3:
            return docs
        page += 1


# Counts ------------------------------------------------------------------------------------
def test_counts_match_what_was_loaded(shared):
    client, h, loaded = shared
    r = _get(client, h["vera"], "/store")
    assert r.status_code == 200
    data = StoreStats.model_validate(r.json["data"]).model_dump()
    a, b = loaded["a"], loaded["b"]
    unique = {d.doc_id: d for d in [*a, *b]}
    assert data["total"] == len(unique) == len(a) + len(b) - 1  # the shared pair once
    per_collection = {c["collection"]: c["count"] for c in data["collections"]}
    for name in ("sql", "ddl", "documentation"):
        assert per_collection[name] == sum(1 for d in unique.values() if d.collection == name)
    dbs = {d["db_name"]: d for d in data["databases"]}
    assert set(dbs) == {"demo_business", "sales"}
    # The shared pair was stored by task A (its first loader, with A's db_name).
    assert dbs["demo_business"]["count"] == len(a)
    assert dbs["sales"]["collections"] == {"sql": 1, "ddl": 1, "documentation": 0}
    assert {t["task_id"]: t["count"] for t in data["tasks"]} == {TASK_A: len(a), TASK_B: len(b)}
    assert data["embedder"] == data["configured_embedder"] == "builtin-hashing"
    assert data["embedders"] == [{"name": "builtin-hashing", "count": len(unique)}]
    assert data["dimension"] == 384
    # Where the store is is never said.
    text = r.get_data(as_text=True)
    assert "postgres" not in text and "host=" not in text and "/tmp" not in text


# Search ------------------------------------------------------------------------------------
def test_search_returns_the_nearest_pair_first_in_chinese_and_english(shared):
    client, h, loaded = shared
    for asked, meant in [
        ("每个服务区的支付总金额是多少", PAIRS_A[0]["question"]),
        ("how many orders were placed per operating date", PAIRS_A[2]["question"]),
    ]:
        r = _get(client, h["vera"], "/store/search", q=asked, collection="sql", k=3)
        assert r.status_code == 200, r.json
        data = StoreSearchResult.model_validate(r.json["data"])
        assert data.query == asked and data.embedder == "builtin-hashing"
        assert data.hits[0].question == meant, asked
        assert data.hits[0].sql and data.hits[0].collection == "sql"
        distances = [hit.distance for hit in data.hits]
        assert distances == sorted(distances) and len(distances) == 3
    # Every collection by default; filters narrow it.
    everything = _get(client, h["vera"], "/store/search", q="服务区 营运状态", k=50).json["data"]
    assert {hit["collection"] for hit in everything["hits"]} == {"sql", "ddl", "documentation"}
    only_b = _get(client, h["vera"], "/store/search", q="服务区", task_id=TASK_B, k=50).json
    assert {hit["id"] for hit in only_b["data"]["hits"]} == {d.doc_id for d in loaded["b"]}
    sales = _get(client, h["vera"], "/store/search", q="orders", db_name="sales", k=50).json
    assert {hit["db_name"] for hit in sales["data"]["hits"]} == {"sales"}
    ddl = _get(client, h["vera"], "/store/search", q="订单", collection="ddl").json["data"]
    assert ddl["hits"] and all(hit["collection"] == "ddl" for hit in ddl["hits"])
    assert all("content" in hit for hit in ddl["hits"])


def test_search_refuses_bad_parameters(shared):
    client, h, _ = shared
    cases = [
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 2001}, "q"),
        ({"q": "服务区", "k": 0}, "k"),
        ({"q": "服务区", "k": 51}, "k"),
        ({"q": "服务区", "k": "ten"}, "k"),
        ({"q": "服务区", "collection": "tables"}, "collection"),
        ({"q": "服务区", "task_id": "../etc"}, "task_id"),
    ]
    for params, field in cases:
        r = _get(client, h["vera"], "/store/search", **params)
        assert r.status_code == 400, params
        assert field in [f["field"] for f in r.json["error"]["details"]["fields"]], params
    r = _get(client, h["vera"], "/store/search", q="服务区", collection="tables")
    assert "unknown collection 'tables'" in r.json["message"]


def test_search_refuses_a_store_of_another_embedder(config, loaded):
    app = make_app(config.with_overrides(embedding_provider="local-e5"))
    try:
        r = app.test_client().get(f"{API}/store/search", query_string={"q": "服务区"})
        assert r.status_code == 409
        assert "EMBEDDING_PROVIDER=hashing" in r.json["message"]
        assert "local-e5" in r.json["message"]
        # Counts still answer, saying which embedder made the vectors.
        stats = app.test_client().get(f"{API}/store").json["data"]
        assert stats["embedder"] == "builtin-hashing"
        assert stats["configured_embedder"].startswith("local-e5")
    finally:
        app.extensions["data_pipeline"].close()


# List, one document, export ------------------------------------------------------------------
def test_list_filters_and_pages(shared):
    client, h, loaded = shared
    a, b = loaded["a"], loaded["b"]
    every = _all_documents(client, h["vera"])
    for doc in every:
        StoreDoc.model_validate(doc)
    assert len(every) == len({d["id"] for d in every}) == len(a) + len(b) - 1
    assert [d["collection"] for d in every] == sorted(d["collection"] for d in every)
    r = _get(client, h["vera"], "/store/documents", page_size=2)
    page = StorePage.model_validate(r.json["data"])
    assert page.total == len(every) and len(page.documents) == 2 and page.page == 1
    assert [d.id for d in page.documents] == [d["id"] for d in every[:2]]
    beyond = _get(client, h["vera"], "/store/documents", page=99, page_size=2).json["data"]
    assert beyond["documents"] == [] and beyond["total"] == len(every)

    def ids(**filters) -> set[str]:
        r = _get(client, h["vera"], "/store/documents", page_size=200, **filters)
        assert r.status_code == 200, r.json
        assert r.json["data"]["total"] == len(r.json["data"]["documents"])
        return {d["id"] for d in r.json["data"]["documents"]}

    assert ids(collection="sql") == {
        d.doc_id for d in [*a, *b] if d.collection == "sql"
    }  # fmt: skip
    assert ids(task_id=TASK_B) == {d.doc_id for d in b}
    assert ids(db_name="sales") == {d.doc_id for d in b} - {d.doc_id for d in a}
    assert ids(collection="ddl", db_name="demo_business") == {
        d.doc_id for d in a if d.collection == "ddl"
    }
    # Text, case-insensitive, with LIKE's wildcards taken as plain characters.
    shared = {d.doc_id for d in a if d.collection == "sql" and "开放状态" in d.content}
    assert ids(q="开放状态", collection="sql") == shared
    assert len(ids(q="HOW MANY ORDERS")) == 1
    percent = ids(q="100%")
    assert len(percent) == 1
    assert ids(q="%") == percent  # only the document holding a "%"
    assert ids(q="服_区") == set()  # "_" is no wildcard: 服务区 does not match
    assert ids(q="_") == {d["id"] for d in every if "_" in d["content"]}
    assert ids(q="no such text anywhere") == set()
    pair = next(
        d for d in every if d["collection"] == "sql" and d["question"] == SHARED["question"]
    )
    assert pair["sql"] == SHARED["sql"] and sorted(pair["task_ids"]) == [TASK_A, TASK_B]


def test_list_refuses_bad_parameters(shared):
    client, h, _ = shared
    for params, field in [
        ({"page_size": 201}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"collection": "vectors"}, "collection"),
        ({"task_id": "task_1"}, "task_id"),
        ({"q": "x" * 201}, "q"),
        ({"db_name": "d" * 101}, "db_name"),
    ]:
        for path in ("/store/documents", "/store/export"):
            if path == "/store/export" and field in ("page", "page_size"):
                continue
            r = _get(client, h["vera"], path, **params)
            assert r.status_code == 400, (path, params)
            assert r.json["error"]["details"]["fields"][0]["field"] == field


def test_one_document_and_its_ids(shared):
    client, h, _ = shared
    doc = _all_documents(client, h["vera"], collection="documentation")[0]
    r = _get(client, h["vera"], f"/store/documents/{doc['id']}")
    assert r.status_code == 200 and r.json["data"] == doc
    assert "question" not in doc and doc["content"].startswith("# public.bss_service_area")
    unknown = "00000000-0000-0000-0000-000000000000-sql"
    r = _get(client, h["vera"], f"/store/documents/{unknown}")
    assert r.status_code == 404 and unknown in r.json["message"]
    for bad in ("bad%20id!", "-leading-dash", "x" * 129, "%E4%B8%AD"):
        r = _get(client, h["vera"], f"/store/documents/{bad}")
        assert r.status_code == 400, bad
        assert r.json["error"]["type"] == "invalid_input"


def test_export_is_json_lines_matching_the_list(shared, monkeypatch):
    client, h, _ = shared
    monkeypatch.setattr(browse, "EXPORT_BATCH", 2)  # several fetches and chunks per export
    for filters in ({}, {"collection": "sql"}, {"task_id": TASK_B}, {"q": "服务区"}):
        r = _get(client, h["vera"], "/store/export", **filters)
        assert r.status_code == 200
        assert r.mimetype == "application/x-ndjson"
        disposition = r.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and ".jsonl" in disposition
        body = r.get_data()
        assert "服务区".encode() in body or filters.get("task_id")  # UTF-8, not \\u escapes
        lines = body.decode("utf-8").splitlines()
        assert [json.loads(line) for line in lines] == _all_documents(client, h["vera"], **filters)
    # A plain download link may carry the token in the query string.
    r = client.get(f"{API}/store/export", query_string={"access_token": "token-of-vera"})
    assert r.status_code == 200 and r.get_data()


# Deleting ----------------------------------------------------------------------------------
def test_an_admin_deletes_documents_and_search_no_longer_finds_them(api, loaded):
    client, h = api
    asked = "每个服务区的支付总金额是多少"
    first = _get(client, h["vera"], "/store/search", q=asked, collection="sql").json["data"]
    target = first["hits"][0]
    assert target["question"] == PAIRS_A[0]["question"]
    r = client.delete(f"{API}/store/documents/{target['id']}", headers=h["ada"])
    assert r.status_code == 200 and r.json["data"] == {"deleted": [target["id"]]}
    assert _get(client, h["vera"], f"/store/documents/{target['id']}").status_code == 404
    after = _get(client, h["vera"], "/store/search", q=asked, collection="sql", k=50).json
    assert target["id"] not in {hit["id"] for hit in after["data"]["hits"]}
    again = client.delete(f"{API}/store/documents/{target['id']}", headers=h["ada"])
    assert again.status_code == 404

    total = _get(client, h["vera"], "/store").json["data"]["total"]
    ddl = [d["id"] for d in _all_documents(client, h["vera"], collection="ddl")]
    unknown = "11111111-1111-1111-1111-111111111111-ddl"
    r = client.post(
        f"{API}/store/documents/delete", json={"ids": [*ddl, unknown, ddl[0]]}, headers=h["ada"]
    )
    assert r.status_code == 200
    assert r.json["data"] == {"deleted": ddl, "missing": [unknown]}
    stats = _get(client, h["vera"], "/store").json["data"]
    assert stats["total"] == total - len(ddl)
    assert {c["collection"]: c["count"] for c in stats["collections"]}["ddl"] == 0
    assert (
        _get(client, h["vera"], "/store/search", q="订单", collection="ddl").json["data"]["hits"]
        == []
    )


def test_only_an_admin_may_delete(shared):
    client, h, _ = shared
    doc_id = _all_documents(client, h["vera"])[0]["id"]
    for who, why in (("otto", "needs an admin"), ("vera", "is a viewer")):
        one = client.delete(f"{API}/store/documents/{doc_id}", headers=h[who])
        many = client.post(f"{API}/store/documents/delete", json={"ids": [doc_id]}, headers=h[who])
        for r in (one, many):
            assert r.status_code == 403, who
            assert r.json["error"]["type"] == "forbidden" and why in r.json["message"], who
    assert client.delete(f"{API}/store/documents/{doc_id}").status_code == 401
    assert _get(client, h["vera"], f"/store/documents/{doc_id}").status_code == 200  # still there


def test_delete_refuses_bad_input(shared):
    client, h, _ = shared
    url = f"{API}/store/documents/delete"
    for body in (
        {"ids": []},
        {"ids": ["ok-id", "not ok"]},
        {"ids": "a-sql"},
        {"ids": ["a"] * 1001},
        {"ids": ["a"], "all": True},
        {},
    ):
        r = client.post(url, json=body, headers=h["ada"])
        assert r.status_code == 400, body
    r = client.post(url, data="ids=a", content_type="text/plain", headers=h["ada"])
    assert r.status_code == 415
    r = client.delete(f"{API}/store/documents/bad%20id", headers=h["ada"])
    assert r.status_code == 400


# No store yet --------------------------------------------------------------------------------
def test_a_store_without_tables_answers_empty(api):
    client, h = api
    stats = _get(client, h["vera"], "/store").json["data"]
    assert stats["total"] == 0 and stats["databases"] == [] and stats["tasks"] == []
    assert [c["count"] for c in stats["collections"]] == [0, 0, 0]
    assert stats["embedder"] is None and stats["configured_embedder"] == "builtin-hashing"
    page = _get(client, h["vera"], "/store/documents").json["data"]
    assert page == {"documents": [], "total": 0, "page": 1, "page_size": 50}
    search = _get(client, h["vera"], "/store/search", q="服务区").json["data"]
    assert search["hits"] == []
    export = _get(client, h["vera"], "/store/export")
    assert export.status_code == 200 and export.get_data() == b""
    some_id = "00000000-0000-0000-0000-000000000000-doc"
    assert _get(client, h["vera"], f"/store/documents/{some_id}").status_code == 404
    assert client.delete(f"{API}/store/documents/{some_id}", headers=h["ada"]).status_code == 404
    r = client.post(f"{API}/store/documents/delete", json={"ids": [some_id]}, headers=h["ada"])
    assert r.json["data"] == {"deleted": [], "missing": [some_id]}


def test_store_routes_are_in_the_openapi_document(shared):
    client, h, _ = shared
    paths = _get(client, h["vera"], "/openapi.json").json["paths"]
    prefix = "/api/v0/data_pipeline/store"
    assert set(paths[f"{prefix}/documents/{{doc_id}}"]) == {"get", "delete"}
    assert "application/x-ndjson" in paths[f"{prefix}/export"]["get"]["responses"]["200"]["content"]
    params = {p["name"] for p in paths[f"{prefix}/search"]["get"]["parameters"]}
    assert params == {"q", "k", "collection", "task_id", "db_name"}
    assert "requestBody" in paths[f"{prefix}/documents/delete"]["post"]


def test_the_store_at_vector_database_url_is_the_one_shown(
    config, tmp_path, pg_admin_dsn, template_db
):
    elsewhere = new_database(pg_admin_dsn, template_db)
    documents = _load(tmp_path, elsewhere)
    app, client, h = _client(config.with_overrides(vector_database_url=elsewhere))
    try:
        stats = _get(client, h["vera"], "/store").json["data"]
        assert stats["total"] == len(documents["a"]) + len(documents["b"]) - 1
        hits = _get(client, h["vera"], "/store/search", q="customers spent", k=1).json["data"]
        assert hits["hits"][0]["question"] == PAIRS_B[1]["question"]
    finally:
        app.extensions["data_pipeline"].close()
