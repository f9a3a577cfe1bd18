"""Curation of a task's pairs through the API (issue #13): list with states, tables and
filters; edit, add, delete with validation against the demo source; run read-only; approve;
load the approved pairs with step 4; the change log and backup; roles; bad input everywhere.

Most tests build the task folder directly (a DDL, a table document, a pair file and a step-3
report) because the steps' outputs are not the point; the load test runs step 4 for real."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import psycopg2
import pytest

from data_pipeline.api import pairs as pairs_api
from data_pipeline.tasks.models import TaskStatus
from data_pipeline.training_load.documents import collect_documents, read_pairs
from tests.api_support import API, make_app, wait_until

BUSY = (TaskStatus.RUNNING, TaskStatus.QUEUED, TaskStatus.PENDING)
PAIR_FILE = "qs_demo_business_20250301_080000_pair.json"
REPORT = "sql_validation_20250301_090000_report.json"
BROKEN = "SELECT payment_method, sum(revenue) FROM daily_revenue GROUP BY payment_method;"
PAIRS = [
    {"question": "每个城市有多少个服务区？",
     "sql": "SELECT city, count(*) AS n FROM service_area GROUP BY city ORDER BY city;"},
    {"question": "How many stalls are there?", "sql": "SELECT count(*) FROM stall;"},
    {"question": "各服务区的档口数量",
     "sql": "SELECT area_id, count(*) FROM stall GROUP BY area_id;"},
    {"question": "Total revenue by payment method", "sql": BROKEN},
    {"question": "员工人数", "sql": "SELECT count(*) FROM employee;", "theme": "人员"},
]  # fmt: skip
REPORT_ITEMS = [
    {"index": 0, "question": PAIRS[0]["question"], "sql": PAIRS[0]["sql"], "status": "valid",
     "error": None, "repaired_sql": None},
    {"index": 1, "question": PAIRS[1]["question"], "sql": PAIRS[1]["sql"], "status": "valid",
     "error": None, "repaired_sql": None},
    {"index": 2, "question": PAIRS[2]["question"],
     "sql": "SELECT area_id, count(*) FROM stalls GROUP BY area_id;", "status": "repaired",
     "error": 'relation "stalls" does not exist', "repaired_sql": PAIRS[2]["sql"]},
    {"index": 3, "question": PAIRS[3]["question"], "sql": BROKEN, "status": "invalid",
     "error": 'column "revenue" does not exist', "repaired_sql": None},
]  # fmt: skip


@pytest.fixture
def config(config):
    """The hashing embedder: step 4 runs offline and fast."""
    return config.with_overrides(embedding_provider="hashing")


def _create(client, headers=None, **params) -> str:
    body = {
        "task_name": "服务区 pairs 审核",
        "parameters": {
            "db_connection": "source:demo",
            "business_context": "高速公路服务区经营管理 (highway service areas)",
            "table_list": ["service_area", "stall"],
            **params,
        },
        "start": False,
    }
    r = client.post(f"{API}/tasks", json=body, headers=headers or {})
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.json["data"]["task_id"]


def _write_folder(folder: Path, pairs=PAIRS, report=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service_area.ddl").write_text(
        "-- 服务区\nCREATE TABLE public.service_area (area_id integer PRIMARY KEY, "
        "area_name varchar(50), city text);\n",
        encoding="utf-8",
    )
    (folder / "service_area_detail.md").write_text(
        "# public.service_area（服务区）\n\n高速公路服务区 / highway service areas.\n",
        encoding="utf-8",
    )
    path = folder / PAIR_FILE
    path.write_text(json.dumps(pairs, ensure_ascii=False, indent=2), encoding="utf-8")
    if report:
        (folder / REPORT).write_text(
            json.dumps({"input_file": PAIR_FILE, "items": REPORT_ITEMS}, ensure_ascii=False),
            encoding="utf-8",
        )
    return path


@pytest.fixture
def task(client, config):
    """A task on the demo source whose folder holds steps 1-3's outputs (written directly)."""
    tid = _create(client)
    path = _write_folder(config.data_root / tid)
    return tid, path


def _pairs(client, tid, query="", headers=None) -> dict:
    r = client.get(f"{API}/tasks/{tid}/pairs{query}", headers=headers or {})
    assert r.status_code == 200, r.get_data(as_text=True)
    pairs_api.PairList.model_validate(r.json["data"])
    return r.json["data"]


def _by_question(data: dict) -> dict[str, dict]:
    return {p["question"]: p for p in data["pairs"]}


def _entries(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


# Listing -------------------------------------------------------------------------------------
def test_list_gives_states_from_the_report_tables_counts_and_filters(client, task):
    tid, path = task
    before = path.read_bytes()
    data = _pairs(client, tid)
    assert data["pair_file"] == PAIR_FILE
    assert data["counts"] == {"total": 5, "valid": 2, "repaired": 1, "invalid": 1,
                              "unchecked": 1, "approved": 0}  # fmt: skip
    assert data["tables"] == ["daily_revenue", "employee", "service_area", "stall"]
    got = _by_question(data)
    assert got["每个城市有多少个服务区？"]["state"] == "valid"
    assert got["每个城市有多少个服务区？"]["tables"] == ["service_area"]
    repaired = got["各服务区的档口数量"]
    assert repaired["state"] == "repaired"
    assert repaired["original_sql"] == "SELECT area_id, count(*) FROM stalls GROUP BY area_id;"
    invalid = got["Total revenue by payment method"]
    assert invalid["state"] == "invalid" and "revenue" in invalid["error"]
    assert got["员工人数"]["state"] == "unchecked"
    assert [p["index"] for p in data["pairs"]] == [0, 1, 2, 3, 4]
    assert all(p["id"].startswith("p_") and len(p["id"]) == 12 for p in data["pairs"])
    assert [p["id"] for p in _pairs(client, tid)["pairs"]] == [p["id"] for p in data["pairs"]]
    assert path.read_bytes() == before  # reading never writes

    one = client.get(f"{API}/tasks/{tid}/pairs/{repaired['id']}")
    assert one.status_code == 200 and one.json["data"] == repaired
    pairs_api.Pair.model_validate(one.json["data"])

    def questions(query):
        return [p["question"] for p in _pairs(client, tid, query)["pairs"]]

    assert questions("?state=invalid") == ["Total revenue by payment method"]
    assert questions("?state=unapproved") == [p["question"] for p in PAIRS]
    assert questions("?state=approved") == []
    assert questions("?table=stall") == ["How many stalls are there?", "各服务区的档口数量"]
    assert questions("?table=public.STALL") == questions("?table=stall")
    assert questions("?q=服务区") == ["每个城市有多少个服务区？", "各服务区的档口数量"]
    assert questions("?q=EMPLOYEE") == ["员工人数"]  # in the SQL, any case
    counts = _pairs(client, tid, "?state=valid&q=nothing")
    assert counts["pairs"] == [] and counts["counts"]["total"] == 5
    r = client.get(f"{API}/tasks/{tid}/pairs?state=great")
    assert r.status_code == 400 and "state" in r.json["message"]


def test_a_task_without_pairs_lists_none_and_refuses_writes(client):
    tid = _create(client)
    data = _pairs(client, tid)
    assert data["pair_file"] is None and data["pairs"] == [] and data["counts"]["total"] == 0
    r = client.post(f"{API}/tasks/{tid}/pairs", json={"question": "q?", "sql": "SELECT 1"})
    assert r.status_code == 409 and "step 2" in r.json["message"]
    assert client.get(f"{API}/tasks/{tid}/pairs/p_0123456789").status_code == 404
    assert client.get(f"{API}/tasks/{tid}/pairs/history").json["data"]["changes"] == []


# Editing ---------------------------------------------------------------------------------------
def test_edit_into_broken_sql_is_saved_invalid_then_fixed_valid(client, task, app, config):
    tid, path = task
    pid = _by_question(_pairs(client, tid))["How many stalls are there?"]["id"]
    url = f"{API}/tasks/{tid}/pairs/{pid}"
    original = path.read_bytes()

    r = client.patch(url, json={"sql": "SELECT count(*) FROM stal"})
    assert r.status_code == 200, r.get_data(as_text=True)
    broken = r.json["data"]
    assert broken["state"] == "invalid" and "stal" in broken["error"]
    assert broken["edited_by"] == "anonymous" and broken["edited_at"]
    entry = next(e for e in _entries(path) if e.get("id") == pid)
    assert entry["sql"] == "SELECT count(*) FROM stal"
    assert entry["review"]["state"] == "invalid"  # never saved as valid
    backup = path.with_name(path.name + ".curation.bak")
    assert backup.read_bytes() == original  # the version before the change
    assert json.loads(original)[1]["sql"] == "SELECT count(*) FROM stall;"

    r = client.patch(url, json={"sql": "SELECT count(*) AS stalls FROM stall"})
    fixed = r.json["data"]
    assert fixed["state"] == "valid" and fixed["error"] is None and fixed["tables"] == ["stall"]
    assert json.loads(backup.read_text(encoding="utf-8"))[1]["sql"] == "SELECT count(*) FROM stal"
    assert fixed["id"] == pid  # an entry keeps its id whatever is edited

    # Every entry now stores its id; keys curation does not know are kept.
    entries = _entries(path)
    assert all(e["id"].startswith("p_") for e in entries)
    assert next(e for e in entries if e["question"] == "员工人数")["theme"] == "人员"

    history = client.get(f"{API}/tasks/{tid}/pairs/history").json["data"]
    pairs_api.PairHistory.model_validate(history)
    changes = history["changes"]
    assert [c["action"] for c in changes] == ["edit", "edit"]
    assert changes[0]["after"]["sql"] == "SELECT count(*) AS stalls FROM stall"
    assert changes[0]["before"]["sql"] == "SELECT count(*) FROM stal"
    assert changes[1]["before"]["state"] == "valid" and changes[1]["after"]["state"] == "invalid"
    assert all(c["by"] == "anonymous" and c["at"].endswith("Z") for c in changes)
    assert changes[0]["at"] >= changes[1]["at"]

    # The pair file, its backup and the log are registered and in the output store.
    runtime = app.extensions["data_pipeline"]
    stored = runtime.output_store.list_files(tid)
    for name in (PAIR_FILE, backup.name, "pair_curation.log"):
        local = (config.data_root / tid / name).read_bytes()
        assert stored[name].sha256 == hashlib.sha256(local).hexdigest(), name
    registered = {r["file_path"] for r in runtime.store.list_outputs(tid)}
    assert {PAIR_FILE, backup.name, "pair_curation.log"} <= registered


def test_question_edit_keeps_the_verdict_and_unapproves(client, task):
    tid, _path = task
    got = _by_question(_pairs(client, tid))
    pid = got["各服务区的档口数量"]["id"]
    r = client.post(f"{API}/tasks/{tid}/pairs/approve", json={"ids": [pid]})
    assert r.json["data"]["approved"] == [pid]
    r = client.patch(
        f"{API}/tasks/{tid}/pairs/{pid}", json={"question": "  每个服务区有几个档口？ "}
    )
    view = r.json["data"]
    assert view["question"] == "每个服务区有几个档口？"
    assert view["state"] == "repaired" and view["original_sql"].endswith(
        "FROM stalls GROUP BY area_id;"
    )
    assert view["approved"] is False and view["approved_by"] is None  # editing un-approves
    # The same text again changes nothing and logs nothing.
    r = client.patch(f"{API}/tasks/{tid}/pairs/{pid}", json={"question": "每个服务区有几个档口？"})
    assert r.status_code == 200
    actions = [
        c["action"] for c in client.get(f"{API}/tasks/{tid}/pairs/history").json["data"]["changes"]
    ]
    assert actions == ["edit", "approve"]


def test_add_and_delete_pairs_in_chinese_and_english(client, task):
    tid, path = task
    r = client.post(
        f"{API}/tasks/{tid}/pairs",
        json={
            "question": "停车区有哪些？",
            "sql": "SELECT area_name FROM service_area WHERE area_type = '停车区'",
        },
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    added = r.json["data"]
    pairs_api.Pair.model_validate(added)
    assert added["state"] == "valid" and added["added_by"] == "anonymous" and added["index"] == 5
    r = client.post(
        f"{API}/tasks/{tid}/pairs",
        json={"question": "Which employees earn the most?", "sql": "SELECT salary FROM staff"},
    )
    assert r.status_code == 201
    bad = r.json["data"]
    assert bad["state"] == "invalid" and "staff" in bad["error"]
    entries = _entries(path)
    assert [e["question"] for e in entries[-2:]] == [
        "停车区有哪些？",
        "Which employees earn the most?",
    ]
    assert entries[-1]["review"]["state"] == "invalid"

    r = client.delete(f"{API}/tasks/{tid}/pairs/{bad['id']}")
    assert r.status_code == 200 and r.json["data"] == {"deleted": bad["id"]}
    assert client.get(f"{API}/tasks/{tid}/pairs/{bad['id']}").status_code == 404
    assert client.delete(f"{API}/tasks/{tid}/pairs/{bad['id']}").status_code == 404
    assert len(_entries(path)) == 6
    changes = client.get(f"{API}/tasks/{tid}/pairs/history").json["data"]["changes"]
    assert [c["action"] for c in changes] == ["delete", "add", "add"]
    assert changes[0]["before"]["question"] == "Which employees earn the most?"
    assert changes[0]["after"] is None and changes[2]["before"] is None


# Running ---------------------------------------------------------------------------------------
def test_run_returns_rows_within_the_limit(client, task):
    tid, _ = task
    got = _by_question(_pairs(client, tid))
    pid = got["每个城市有多少个服务区？"]["id"]
    r = client.post(f"{API}/tasks/{tid}/pairs/{pid}/run")
    assert r.status_code == 200, r.get_data(as_text=True)
    rows = r.json["data"]
    pairs_api.PairRows.model_validate(rows)
    assert rows["columns"] == ["city", "n"] and rows["row_count"] >= 2
    assert rows["truncated"] is False and rows["duration_ms"] >= 0
    r = client.post(f"{API}/tasks/{tid}/pairs/{pid}/run", json={"limit": 1})
    one = r.json["data"]
    assert one["row_count"] == 1 and one["truncated"] is True
    assert one["rows"][0] == rows["rows"][0]

    # Values JSON cannot carry as they are: exact numbers as text, dates in ISO 8601.
    r = client.patch(
        f"{API}/tasks/{tid}/pairs/{pid}",
        json={
            "sql": "SELECT biz_date, revenue_amount FROM daily_revenue ORDER BY revenue_id LIMIT 2"
        },
    )
    assert r.json["data"]["state"] == "valid"
    row = client.post(f"{API}/tasks/{tid}/pairs/{pid}/run").json["data"]["rows"][0]
    assert len(row[0]) == 10 and row[0][4] == "-" and isinstance(row[1], str) and "." in row[1]

    for body in ({"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"rows": 5}):
        r = client.post(f"{API}/tasks/{tid}/pairs/{pid}/run", json=body)
        assert r.status_code == 400, body


WRITE_ATTEMPTS = [
    ("DELETE FROM stall", "DELETE"),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("SELECT 1; DROP TABLE stall", "one statement"),
    ("WITH gone AS (DELETE FROM stall RETURNING *) SELECT * FROM gone", "DELETE"),
    ("SELECT * FROM stall FOR UPDATE", "FOR UPDATE"),
]


def test_write_attempts_through_run_are_refused(client, task, demo_dsn):
    tid, path = task
    pid = _by_question(_pairs(client, tid))["How many stalls are there?"]["id"]
    for sql, why in WRITE_ATTEMPTS:
        r = client.patch(f"{API}/tasks/{tid}/pairs/{pid}", json={"sql": sql})
        assert r.status_code == 200 and r.json["data"]["state"] == "invalid", sql
        saved = path.read_bytes()
        r = client.post(f"{API}/tasks/{tid}/pairs/{pid}/run")
        assert r.status_code == 400, r.get_data(as_text=True)
        assert r.json["success"] is False and why.lower() in r.json["message"].lower(), sql
        assert path.read_bytes() == saved  # nothing changed
    conn = psycopg2.connect(demo_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM stall")
            assert cur.fetchone()[0] > 0
    finally:
        conn.close()


# Approving -------------------------------------------------------------------------------------
def test_approve_skips_invalid_and_unchecked_and_can_be_withdrawn(client, task):
    tid, path = task
    got = _by_question(_pairs(client, tid))
    ids = [p["id"] for p in got.values()]
    url = f"{API}/tasks/{tid}/pairs/approve"
    r = client.post(url, json={"ids": [*ids, "p_0000000000"]})
    assert r.status_code == 200, r.get_data(as_text=True)
    data = r.json["data"]
    pairs_api.ApproveResult.model_validate(data)
    valid = [
        got[q]["id"]
        for q in ("每个城市有多少个服务区？", "How many stalls are there?", "各服务区的档口数量")
    ]
    assert data["approved"] == valid
    reasons = {s["id"]: s["reason"] for s in data["skipped"]}
    assert reasons[got["Total revenue by payment method"]["id"]].startswith("invalid: column")
    assert reasons[got["员工人数"]["id"]] == "unchecked"
    assert reasons["p_0000000000"] == "no such pair"
    assert data["counts"]["approved"] == 3
    one = client.get(f"{API}/tasks/{tid}/pairs/{valid[0]}").json["data"]
    assert one["approved"] is True and one["approved_by"] == "anonymous" and one["approved_at"]

    r = client.post(url, json={"ids": [valid[0]], "approved": False})
    assert r.json["data"]["unapproved"] == [valid[0]] and r.json["data"]["counts"]["approved"] == 2
    r = client.post(url, json={"all_valid": True})
    assert sorted(r.json["data"]["approved"]) == sorted(valid)
    assert r.json["data"]["counts"]["approved"] == 3
    changes = client.get(f"{API}/tasks/{tid}/pairs/history").json["data"]["changes"]
    assert [c["action"] for c in changes] == [
        "approve",
        "unapprove",
        "approve",
        "approve",
        "approve",
    ]
    assert read_pairs(path, approved_only=True) == [
        (PAIRS[i]["question"], PAIRS[i]["sql"]) for i in (0, 1, 2)
    ]
    docs = collect_documents(path.parent, load_pairs="approved").documents
    assert sum(d.collection == "sql" for d in docs) == 3

    for body in ({}, {"ids": []}, {"ids": ["p_1"]}, {"ids": valid, "all_valid": True},
                 {"all_valid": False}, {"ids": valid, "approve": True}):  # fmt: skip
        assert client.post(url, json=body).status_code == 400, body


# Loading ---------------------------------------------------------------------------------------
def _sql_documents(dsn: str) -> list[dict]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT e.document FROM langchain_pg_embedding e JOIN langchain_pg_collection c "
                "ON c.uuid = e.collection_id WHERE c.name = 'sql'"
            )
            return [json.loads(row[0]) for row in cur.fetchall()]
    finally:
        conn.close()


@pytest.mark.slow
def test_load_approved_puts_exactly_the_approved_pairs_in_the_store(
    client, task, app, pipeline_dsn
):
    tid, _path = task
    url = f"{API}/tasks/{tid}/pairs"
    store = app.extensions["data_pipeline"].store

    def finished():
        return wait_until(
            lambda: (t := store.get_task(tid)).status not in BUSY and t, 60, interval=0.2,
            message="step 4 to end",
        )  # fmt: skip

    r = client.post(f"{url}/load", json={"pairs": "approved"})
    assert r.status_code == 409 and "no approved pair" in r.json["message"]
    assert client.post(f"{url}/load", json={"pairs": "all"}).status_code == 202
    assert finished().step_status["training_load"] == "completed"
    assert len(_sql_documents(pipeline_dsn)) == 5
    got = _by_question(_pairs(client, tid))
    stalls = got["How many stalls are there?"]["id"]
    r = client.patch(f"{url}/{stalls}", json={"question": "How many stalls does the network have?"})
    assert r.status_code == 200
    chosen = [stalls, got["每个城市有多少个服务区？"]["id"]]
    assert client.post(f"{url}/approve", json={"ids": chosen}).json["data"]["approved"] == chosen

    r = client.post(f"{url}/load", json={"pairs": "approved", "replace": True})
    assert r.status_code == 202, r.get_data(as_text=True)
    assert r.json["data"]["steps"] == ["training_load"]
    done = finished()
    assert done.step_status["training_load"] == "completed", done.error_message
    assert store.get_task(tid).parameters["load_pairs"] == "approved"
    questions = sorted(d["question"] for d in _sql_documents(pipeline_dsn))
    assert questions == ["How many stalls does the network have?", "每个城市有多少个服务区？"]

    r = client.post(f"{url}/load", json={"replace": False})  # approved by default
    assert r.status_code == 202
    assert finished().parameters["truncate_vector_tables"] is False
    # Loading the same pairs again adds nothing.
    assert len(_sql_documents(pipeline_dsn)) == 2
    for body in ({"pairs": "some"}, {"pairs": "all", "force": True}):
        assert client.post(f"{url}/load", json=body).status_code == 400, body


# Refusals -------------------------------------------------------------------------------------
def test_bad_bodies_and_oversize_edits_change_nothing(client, task):
    tid, path = task
    pid = _pairs(client, tid)["pairs"][0]["id"]
    before = path.read_bytes()
    url = f"{API}/tasks/{tid}/pairs"
    cases = [
        ("patch", f"{url}/{pid}", {"question": "问" * 2001}),
        ("patch", f"{url}/{pid}", {"sql": "SELECT 1 " + " " * 20_000 + "+ 1"}),
        ("patch", f"{url}/{pid}", {}),
        ("patch", f"{url}/{pid}", {"question": ""}),
        ("patch", f"{url}/{pid}", {"question": "ok", "approved": True}),
        ("patch", f"{url}/{pid}", {"sql": 42}),
        ("post", url, {"question": "Q" * 2001, "sql": "SELECT 1"}),
        ("post", url, {"question": "只有问题"}),
        ("post", url, {"question": "q", "sql": "x" * 20_001}),
        ("post", url, {"question": "q", "sql": "SELECT 1", "id": "p_0123456789"}),
    ]
    for method, target, body in cases:
        r = getattr(client, method)(target, json=body)
        assert r.status_code == 400, (body, r.get_data(as_text=True)[:300])
        assert r.json["success"] is False and r.json["error"]["details"]["fields"]
    r = client.patch(f"{url}/{pid}", data="question=x", content_type="text/plain")
    assert r.status_code == 415
    r = client.patch(f"{url}/{pid}", data="{not json", content_type="application/json")
    assert r.status_code == 400
    assert path.read_bytes() == before
    assert not path.with_name(path.name + ".curation.bak").exists()


def test_unknown_and_malformed_ids_on_every_route(client, task):
    tid, _ = task
    pid = _pairs(client, tid)["pairs"][0]["id"]
    routes = [
        ("get", "/pairs", None), ("post", "/pairs", {"question": "q", "sql": "SELECT 1"}),
        ("get", "/pairs/history", None), ("post", "/pairs/approve", {"all_valid": True}),
        ("post", "/pairs/load", {}), ("get", f"/pairs/{pid}", None),
        ("patch", f"/pairs/{pid}", {"question": "q"}), ("delete", f"/pairs/{pid}", None),
        ("post", f"/pairs/{pid}/run", {}),
    ]  # fmt: skip
    for method, suffix, body in routes:
        kw = {"json": body} if body is not None else {}
        r = getattr(client, method)(f"{API}/tasks/task_20240101_000000{suffix}", **kw)
        assert r.status_code == 404, (method, suffix, r.status_code)
        r = getattr(client, method)(f"{API}/tasks/TASK_2024{suffix}", **kw)
        assert r.status_code == 400, (method, suffix, r.status_code)
    for bad in ("p_XYZ", "p_0123456789a", "..", "p_0123456789%00", "P_0123456789"):
        for method in ("get", "patch", "delete"):
            r = getattr(client, method)(f"{API}/tasks/{tid}/pairs/{bad}", json={"question": "q"})
            assert r.status_code in (400, 404, 405), (bad, method, r.status_code)
            assert r.status_code != 200
        r = client.get(f"{API}/tasks/{tid}/pairs/{bad}")
        assert r.status_code in (400, 404)
    assert client.get(f"{API}/tasks/{tid}/pairs/p_XYZ").status_code == 400
    for method, suffix, body in [("get", "", None), ("patch", "", {"question": "q"}),
                                 ("delete", "", None), ("post", "/run", {})]:  # fmt: skip
        kw = {"json": body} if body is not None else {}
        r = getattr(client, method)(f"{API}/tasks/{tid}/pairs/p_0000000000{suffix}", **kw)
        assert r.status_code == 404 and "p_0000000000" in r.json["message"]


def test_writes_are_refused_while_the_task_runs(client, task, app):
    tid, path = task
    pid = _pairs(client, tid)["pairs"][1]["id"]
    before = path.read_bytes()
    app.extensions["data_pipeline"].store.start_run(tid, steps=["sql_validation"])
    url = f"{API}/tasks/{tid}/pairs"
    for method, target, body in [
        ("post", url, {"question": "q", "sql": "SELECT 1"}),
        ("patch", f"{url}/{pid}", {"question": "q"}),
        ("delete", f"{url}/{pid}", None),
        ("post", f"{url}/approve", {"all_valid": True}),
        ("post", f"{url}/load", {"pairs": "all"}),
    ]:
        kw = {"json": body} if body is not None else {}
        r = getattr(client, method)(target, **kw)
        assert r.status_code == 409 and "running" in r.json["message"], (method, target)
    assert path.read_bytes() == before
    assert _pairs(client, tid)["counts"]["total"] == 5  # reading still works
    assert client.post(f"{url}/{pid}/run").status_code == 200  # and running the SQL


def test_viewers_read_operators_write_and_are_recorded(config):
    tokens = {"vera": "token-vera-看", "otto": "token-otto-写"}
    spec = {name: {"sha256": hashlib.sha256(tok.encode()).hexdigest(),
                   "role": "viewer" if name == "vera" else "operator"}
            for name, tok in tokens.items()}  # fmt: skip
    app = make_app(config.with_overrides(api_tokens=json.dumps(spec)))
    try:
        client = app.test_client()
        vera = {"Authorization": f"Bearer {tokens['vera']}"}
        otto = {"Authorization": f"Bearer {tokens['otto']}"}
        tid = _create(client, headers=otto)
        path = _write_folder(config.data_root / tid)
        data = _pairs(client, tid, headers=vera)
        pid = data["pairs"][1]["id"]
        url = f"{API}/tasks/{tid}/pairs"
        assert client.get(f"{url}/{pid}", headers=vera).status_code == 200
        assert client.get(f"{url}/history", headers=vera).status_code == 200
        assert client.get(url).status_code == 401
        before = path.read_bytes()
        for method, target, body in [
            ("post", url, {"question": "q", "sql": "SELECT 1"}),
            ("patch", f"{url}/{pid}", {"question": "q"}),
            ("delete", f"{url}/{pid}", None),
            ("post", f"{url}/{pid}/run", {}),
            ("post", f"{url}/approve", {"all_valid": True}),
            ("post", f"{url}/load", {"pairs": "all"}),
        ]:
            kw = {"json": body} if body is not None else {}
            r = getattr(client, method)(target, headers=vera, **kw)
            assert r.status_code == 403, (method, target, r.status_code)
        assert path.read_bytes() == before
        r = client.patch(f"{url}/{pid}", json={"question": "档口一共有多少个？"}, headers=otto)
        assert r.status_code == 200 and r.json["data"]["edited_by"] == "otto"
        r = client.post(f"{url}/approve", json={"ids": [pid]}, headers=otto)
        assert r.json["data"]["approved"] == [pid]
        assert client.get(f"{url}/{pid}", headers=vera).json["data"]["approved_by"] == "otto"
        changes = client.get(f"{url}/history", headers=vera).json["data"]["changes"]
        assert [(c["action"], c["by"]) for c in changes] == [("approve", "otto"), ("edit", "otto")]
        assert changes[1]["after"]["question"] == "档口一共有多少个？"
    finally:
        app.extensions["data_pipeline"].close()


def test_openapi_documents_the_pairs_routes(client):
    doc = client.get(f"{API}/openapi.json").json
    base = f"{API}/tasks/{{task_id}}/pairs"
    assert set(doc["paths"][base]) == {"get", "post"}
    assert set(doc["paths"][f"{base}/{{pair_id}}"]) == {"get", "patch", "delete"}
    for suffix in ("/history", "/approve", "/load", "/{pair_id}/run"):
        assert f"{base}{suffix}" in doc["paths"]
    assert {"Pair", "PairList", "ApproveRequest", "PairEdit"} <= set(doc["components"]["schemas"])


def test_another_node_sees_the_changes_through_the_output_store(client, task, config):
    tid, path = task
    pid = _pairs(client, tid)["pairs"][1]["id"]
    r = client.patch(f"{API}/tasks/{tid}/pairs/{pid}", json={"question": "档口一共有多少个？"})
    assert r.status_code == 200
    edited = path.read_bytes()
    shutil.rmtree(path.parent)  # as if node B, with the same data root, had never seen it
    node_b = make_app(config.with_overrides(embedded_worker=False))
    try:
        other = node_b.test_client()
        seen = other.get(f"{API}/tasks/{tid}/pairs/{pid}").json["data"]
        assert seen["question"] == "档口一共有多少个？" and seen["edited_by"] == "anonymous"
        assert seen["state"] == "valid"  # the verdict travels with the pair
        assert path.read_bytes() == edited  # brought back from the output store
        changes = other.get(f"{API}/tasks/{tid}/pairs/history").json["data"]["changes"]
        assert [c["action"] for c in changes] == ["edit"]
        r = other.post(f"{API}/tasks/{tid}/pairs/approve", json={"ids": [pid]})
        assert r.json["data"]["approved"] == [pid]
    finally:
        node_b.extensions["data_pipeline"].close()
    mine = client.get(f"{API}/tasks/{tid}/pairs/{pid}").json["data"]
    assert mine["approved"] is True and mine["approved_by"] == "anonymous"


@pytest.mark.slow
def test_pairs_of_a_real_run_of_steps_1_to_3(client, app, config):
    """Steps 1-3 on the demo with the built-in provider: every pair has step 3's verdict."""
    body = {
        "task_name": "服务区真实运行",
        "parameters": {
            "db_connection": "source:demo",
            "business_context": "高速公路服务区经营管理：档口营收与员工",
            "table_list": ["service_area", "stall", "daily_revenue"],
            "end_step": 3,
            "theme_count": 2,
            "questions_per_theme": 3,
        },
    }
    r = client.post(f"{API}/tasks", json=body)
    assert r.status_code == 201, r.get_data(as_text=True)
    tid = r.json["data"]["task_id"]
    store = app.extensions["data_pipeline"].store
    done = wait_until(
        lambda: (t := store.get_task(tid)).status not in BUSY and t, 120, interval=0.3,
        message="steps 1-3 to end",
    )  # fmt: skip
    assert done.step_status["sql_validation"] == "completed", done.error_message
    data = _pairs(client, tid)
    assert data["counts"]["total"] > 0 and data["counts"]["unchecked"] == 0
    assert set(data["tables"]) <= {"service_area", "stall", "daily_revenue"}
    first = data["pairs"][0]
    run = client.post(f"{API}/tasks/{tid}/pairs/{first['id']}/run", json={"limit": 3})
    assert run.status_code == 200, run.get_data(as_text=True)
    r = client.post(f"{API}/tasks/{tid}/pairs/approve", json={"all_valid": True})
    counts = r.json["data"]["counts"]
    assert counts["approved"] == counts["valid"] + counts["repaired"]
