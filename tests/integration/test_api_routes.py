"""The routes through the Flask test client on a real pipeline database (no executor runs
here: tasks are created with ``"start": false`` or their state is set through the store)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from core.db import Database
from data_pipeline.api import schemas
from data_pipeline.tasks.runtime import Runtime
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.outputs import register_outputs
from tests.api_support import API, make_app

SECRET = "S3cretPw"


@pytest.fixture
def config(config):
    """Callers' connection strings are allowed here: the tests show their password masked."""
    return config.with_overrides(allow_raw_connections=True)


def create(client, start=False, headers=None, **params) -> dict:
    body = {
        "task_name": params.pop("task_name", "服务区营收分析"),
        "parameters": {
            "db_connection": "source:demo",
            "business_context": "高速公路服务区的经营数据 (highway service areas)",
            "table_list": ["service_area", "public.daily_revenue"],
            **params,
        },
        "start": start,
    }
    r = client.post(f"{API}/tasks", json=body, headers=headers or {})
    assert r.status_code in (200, 201), r.get_data(as_text=True)
    return r.json["data"]


def test_create_detail_list_and_idempotency(client, app):
    first = create(client, db_connection=f"postgresql://reader:{SECRET}@127.0.0.1:1/sales")
    schemas.CreateTaskResponse.model_validate(first)
    assert first["status"] == "pending" and first["created"] is True
    assert first["output_directory"] == first["task_id"]  # relative to the data root
    r = client.get(f"{API}/tasks/{first['task_id']}")
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert SECRET not in body
    detail = r.json["data"]
    schemas.TaskDetail.model_validate(detail)  # the answer is what the OpenAPI says
    assert detail["parameters"]["db_connection"] == "postgresql://reader:***@127.0.0.1:1/sales"
    assert detail["parameters"]["table_list"] == ["public.service_area", "public.daily_revenue"]
    assert detail["db_name"] == "sales"
    assert [s["step"] for s in detail["step_details"]] == [
        "ddl_generation", "qa_generation", "sql_validation", "training_load",
    ]  # fmt: skip
    assert all(s["status"] == "pending" for s in detail["step_details"])

    key = {"Idempotency-Key": "create-服务区-1".encode().hex()}
    a = client.post(f"{API}/tasks", json={"parameters": {"db_connection": "source:demo",
        "business_context": "x", "table_list": ["a"]}, "start": False}, headers=key)  # fmt: skip
    b = client.post(f"{API}/tasks", json={"parameters": {"db_connection": "source:demo",
        "business_context": "x", "table_list": ["a"]}, "start": False}, headers=key)  # fmt: skip
    assert (a.status_code, b.status_code) == (201, 200)
    assert a.json["data"]["task_id"] == b.json["data"]["task_id"]
    assert b.json["data"]["created"] is False
    # The same key with another body is not silently answered with the first task.
    c = client.post(f"{API}/tasks", json={"parameters": {"db_connection": "source:demo",
        "business_context": "y", "table_list": ["a"]}, "start": False}, headers=key)  # fmt: skip
    assert c.status_code == 422, c.get_data(as_text=True)
    assert key["Idempotency-Key"] in c.json["message"]
    assert c.json["error"]["details"]["fields"][0]["field"] == "Idempotency-Key"

    create(client, task_name="English revenue task", business_context="Revenue by stall")
    r = client.get(f"{API}/tasks?limit=2")
    page = r.json["data"]
    schemas.TaskPage.model_validate(page)
    assert page["total"] == 3 and len(page["items"]) == 2  # the 422 created nothing
    r = client.get(f"{API}/tasks?limit=2&offset=2")
    assert len(r.json["data"]["items"]) == 1
    r = client.get(f"{API}/tasks?q=营收")
    assert [t["task_name"] for t in r.json["data"]["items"]] == ["服务区营收分析"]
    r = client.get(f"{API}/tasks?db_name=sales")
    assert [t["task_id"] for t in r.json["data"]["items"]] == [first["task_id"]]
    r = client.get(f"{API}/tasks?status=in_progress")
    assert r.json["data"]["total"] == 0
    r = client.get(f"{API}/tasks?sort=task_name&order=asc")
    names = [t["task_name"] for t in r.json["data"]["items"]]
    assert names == sorted(names, key=lambda n: (n is None, n))
    assert client.get(f"{API}/tasks/active").json["data"] == []  # always a list
    # Repeated filter values: a task with any of them; single-valued ones refused, as are
    # parameters the route does not take (access_token and the cache buster "_" pass).
    store = app.extensions["data_pipeline"].store
    store.cancel_task(first["task_id"], "stopped")
    r = client.get(f"{API}/tasks?status=cancelled&status=failed")
    assert [t["task_id"] for t in r.json["data"]["items"]] == [first["task_id"]]
    r = client.get(f"{API}/tasks?status=cancelled&status=pending&_=1712345678")
    assert r.status_code == 200 and r.json["data"]["total"] == 3
    r = client.get(f"{API}/tasks?limit=2&limit=3")
    assert r.status_code == 400
    assert r.json["error"]["details"]["fields"] == [
        {"field": "limit", "message": "given more than once"}
    ]
    r = client.get(f"{API}/tasks?stauts=failed&access_token=x")
    assert r.status_code == 400 and "stauts" in r.json["message"]
    assert r.json["error"]["details"]["fields"][0]["field"] == "stauts"
    r = client.get(f"{API}/tasks/{first['task_id']}?verbose=1")
    assert r.status_code == 400 and r.json["error"]["details"]["fields"][0]["field"] == "verbose"


def test_table_list_inline_upload_and_get(client, config):
    task = create(client, table_list=None)
    tid = task["task_id"]
    assert client.get(f"{API}/tasks/{tid}/table-list").status_code == 404
    r = client.post(f"{API}/tasks/{tid}/execute", json={})
    assert r.status_code == 400 and "table list" in r.json["message"]
    r = client.post(f"{API}/tasks/{tid}/table-list", json={"tables": ["Service_Area", "stall"]})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json["data"]["tables"] == ["public.service_area", "public.stall"]
    schemas.TableListOut.model_validate(r.json["data"])
    text = "# 服务区相关表\nservice_area, daily_revenue\n\npublic.employee  # 员工\n"
    r = client.post(
        f"{API}/tasks/{tid}/table-list",
        data={"file": (io.BytesIO(text.encode()), "tables.txt", "text/plain")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json["data"]["count"] == 3
    saved = config.data_root / tid / "table_list.txt"
    assert saved.read_text(encoding="utf-8") == text
    got = client.get(f"{API}/tasks/{tid}/table-list").json["data"]
    schemas.TableListOut.model_validate(got)
    assert got["tables"] == ["public.service_area", "public.daily_revenue", "public.employee"]
    assert got["file"] == "table_list.txt"
    detail = client.get(f"{API}/tasks/{tid}").json["data"]
    assert detail["parameters"]["table_list_file"] == "table_list.txt"
    assert detail["parameters"]["table_list"] is None


def test_execute_rules_and_cancel(client, app):
    store: TaskStore = app.extensions["data_pipeline"].store
    tid = create(client)["task_id"]
    # A completed step is not re-run without force.
    store.set_step_statuses(tid, {"ddl_generation": "completed"})
    r = client.post(f"{API}/tasks/{tid}/execute", json={"step_name": "ddl_generation"})
    assert r.status_code == 409 and "force" in r.json["message"]
    r = client.post(f"{API}/tasks/{tid}/execute", json={})
    assert r.status_code == 409  # complete mode would re-run step 1 too
    # A running task refuses another run and a table-list change.
    store.start_run(tid, steps=["qa_generation"])
    r = client.post(f"{API}/tasks/{tid}/execute", json={"single_step": 2, "force": True})
    assert r.status_code == 409 and "already running" in r.json["message"]
    r = client.post(f"{API}/tasks/{tid}/table-list", json={"tables": ["a"]})
    assert r.status_code == 409
    active = client.get(f"{API}/tasks/active").json["data"]
    assert [schemas.TaskSummary.model_validate(t).task_id for t in active] == [tid]
    r = client.delete(f"{API}/tasks/{tid}")
    assert r.status_code == 409 and "force" in r.json["message"]
    r = client.post(f"{API}/tasks/{tid}/cancel")
    assert r.status_code == 200 and r.json["data"]["status"] == "cancelled"
    schemas.CancelResponse.model_validate(r.json["data"])
    executions = client.get(f"{API}/tasks/{tid}/executions").json["data"]
    schemas.ExecutionList.model_validate(executions)
    assert client.post(f"{API}/tasks/{tid}/cancel").status_code == 409
    detail = client.get(f"{API}/tasks/{tid}").json["data"]
    assert detail["status"] == "cancelled" and detail["completed_at"]

    # Resume from step 2: no force needed for step 1, which is not run again; step 2's
    # inputs are checked (this folder has none).
    r = client.post(f"{API}/tasks/{tid}/execute", json={"start_step": 2})
    assert r.status_code == 409, r.get_data(as_text=True)
    assert r.json["error"]["details"] == {"step": "qa_generation"}
    for bad in ({"start_step": 2, "single_step": 2}, {"start_step": 0}, {"start_step": "x"},
                {"start_step": 2, "execution_mode": "single"}):  # fmt: skip
        r = client.post(f"{API}/tasks/{tid}/execute", json=bad)
        assert r.status_code == 400, (bad, r.get_data(as_text=True))
        assert "start_step" in r.get_data(as_text=True)


def _insert_logs(store: TaskStore, tid: str) -> None:
    base = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
    records = []
    for i in range(30):
        step = ("ddl_generation", "qa_generation", "sql_validation")[i % 3]
        level = ("INFO", "WARNING", "ERROR", "DEBUG")[i % 4]
        records.append(
            {
                "task_id": tid,
                "level": level,
                "message": f"记录 {i} table service_area" if i % 2 else f"record {i} 完成",
                "step": step,
                "module": "tests",
                "timestamp": base + timedelta(minutes=i),
            }
        )
    store.insert_logs(records)


def test_logs_filters_cursor_and_stream(client, app):
    store: TaskStore = app.extensions["data_pipeline"].store
    tid = create(client)["task_id"]
    _insert_logs(store, tid)
    url = f"{API}/tasks/{tid}/logs"
    page = client.get(f"{url}?limit=10").json["data"]
    schemas.LogPage.model_validate(page)
    assert page["count"] == 10 and page["has_more"] is True
    ids = [r["id"] for r in page["records"]]
    assert ids == sorted(ids) and page["next_cursor"] == ids[-1]
    nxt = client.get(f"{url}?limit=10&after_id={page['next_cursor']}").json["data"]
    assert nxt["records"][0]["id"] > ids[-1]
    warn = client.get(f"{url}?level=warning&limit=100").json["data"]["records"]
    assert warn and {r["level"] for r in warn} <= {"WARNING", "ERROR", "CRITICAL"}
    step = client.get(f"{url}?step=qa_generation&limit=100").json["data"]["records"]
    assert len(step) == 10 and {r["step"] for r in step} == {"qa_generation"}
    cn = client.get(f"{url}?q=记录&limit=100").json["data"]["records"]
    assert len(cn) == 15 and all("记录" in r["message"] for r in cn)
    window = client.get(
        f"{url}?since=2025-03-01T08:10:00Z&until=2025-03-01T08:14:00%2B00:00&limit=100"
    ).json["data"]["records"]
    assert len(window) == 5
    desc = client.get(f"{url}?order=desc&limit=5").json["data"]["records"]
    assert [r["id"] for r in desc] == sorted((r["id"] for r in desc), reverse=True)

    # SSE: records, then "end" once the run is over; Last-Event-ID resumes.
    store.cancel_task(tid, "stopped for the test")
    r = client.get(f"{url}/stream")
    assert r.mimetype == "text/event-stream"
    events = _parse_sse(r.get_data(as_text=True))
    logs = [e for e in events if e["event"] == "log"]
    assert len(logs) == 30 and events[-1]["event"] == "end"
    assert json.loads(events[-1]["data"])["status"] == "cancelled"
    assert [int(e["id"]) for e in logs] == [json.loads(e["data"])["id"] for e in logs]
    resume = int(logs[19]["id"])
    r = client.get(f"{url}/stream", headers={"Last-Event-ID": str(resume)})
    again = [e for e in _parse_sse(r.get_data(as_text=True)) if e["event"] == "log"]
    assert [int(e["id"]) for e in again] == [int(e["id"]) for e in logs[20:]]
    r = client.get(f"{url}/stream?level=ERROR")
    errors = [e for e in _parse_sse(r.get_data(as_text=True)) if e["event"] == "log"]
    assert errors and all(json.loads(e["data"])["level"] == "ERROR" for e in errors)


def _parse_sse(text: str) -> list[dict]:
    events = []
    for block in text.split("\n\n"):
        fields = {"event": "message"}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value.lstrip(" ")
        if "data" in fields:
            events.append(fields)
    return events


def test_files_listing_download_and_limits(client, app, config):
    store: TaskStore = app.extensions["data_pipeline"].store
    tid = create(client)["task_id"]
    folder = config.data_root / tid
    (folder / "vector_bak").mkdir(parents=True)
    pair = [{"question": "各服务区的营收是多少？", "sql": "SELECT 1"}]
    (folder / "qs_demo_business_20250301_080000_pair.json").write_text(
        json.dumps(pair, ensure_ascii=False), encoding="utf-8"
    )
    (folder / "service_area.ddl").write_text("CREATE TABLE service_area (id int);\n")
    (folder / "vector_bak" / "sql.csv").write_text("id,document\n")
    register_outputs(store, tid, folder, step_name="qa_generation")
    listing = client.get(f"{API}/tasks/{tid}/files").json["data"]
    schemas.FileList.model_validate(listing)
    files = listing["files"]
    by_path = {f["path"]: f for f in files}
    assert set(by_path) == {
        "qs_demo_business_20250301_080000_pair.json", "service_area.ddl", "vector_bak/sql.csv",
    }  # fmt: skip
    pair_file = by_path["qs_demo_business_20250301_080000_pair.json"]
    assert pair_file["is_primary"] and pair_file["type"] == "json"
    for f in files:
        r = client.get(f["download_url"])
        assert r.status_code == 200, f
        assert hashlib.sha256(r.get_data()).hexdigest() == f["sha256"]
        assert f["size"] == len(r.get_data())


def test_download_switch_and_size_limit(config):
    for overrides, status in (
        ({"enable_file_download": False}, 403),
        ({"max_download_file_size": 3}, 413),
    ):
        app = make_app(config.with_overrides(**overrides))
        client = app.test_client()
        tid = create(client)["task_id"]
        (config.data_root / tid).mkdir(parents=True, exist_ok=True)
        (config.data_root / tid / "metadata.txt").write_text("INSERT INTO metadata ...\n")
        r = client.get(f"{API}/tasks/{tid}/files/download/metadata.txt")
        assert r.status_code == status and r.json["success"] is False
        app.extensions["data_pipeline"].close()


def test_delete_reports_what_was_removed(client, app, config):
    store: TaskStore = app.extensions["data_pipeline"].store
    tid = create(client)["task_id"]
    folder = config.data_root / tid
    folder.mkdir(parents=True)
    (folder / "a.ddl").write_text("x")
    (folder / "b_detail.md").write_text("y")
    _insert_logs(store, tid)
    register_outputs(store, tid, folder)
    r = client.delete(f"{API}/tasks/{tid}")
    assert r.status_code == 200, r.get_data(as_text=True)
    data = r.json["data"]
    schemas.DeleteResponse.model_validate(data)
    assert data["rows"] == {"tasks": 1, "executions": 0, "logs": 30, "outputs": 2}
    assert data["folder_removed"] == tid and data["files_removed"] == 2
    assert not folder.exists() and config.data_root.is_dir()
    assert client.get(f"{API}/tasks/{tid}").status_code == 404


def test_sources_metrics_and_openapi(client, app):
    r = client.get(f"{API}/sources")
    schemas.SourceList.model_validate(r.json["data"])
    assert [s["reference"] for s in r.json["data"]["sources"]] == ["source:demo"]
    tables = client.get(f"{API}/sources/demo/tables").json["data"]
    schemas.SourceTables.model_validate(tables)
    names = {t["name"]: t for t in tables["tables"]}
    assert {"service_area", "daily_revenue", "vehicle_flow"} <= set(names)
    assert names["business_type"]["comment"]  # Chinese comments of the demo
    assert tables["database"] == "demo_business"

    client.get(f"{API}/tasks/task_20240101_000000")
    text = client.get(f"{API}/metrics").get_data(as_text=True)
    assert 'data_pipeline_tasks{status="pending"} 0' in text
    assert (
        'data_pipeline_api_requests_total{method="GET",route="/api/v0/data_pipeline/tasks/'
        '<task_id>",status="404"} 1'
    ) in text
    assert "data_pipeline_api_request_duration_seconds_bucket" in text

    doc = client.get(f"{API}/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API):
            continue
        path = rule.rule.replace("<path:", "<").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, (method, path)
    assert "CreateTaskRequest" in doc["components"]["schemas"]
    assert "WorkflowParams" in doc["components"]["schemas"]


def test_bearer_token(config):
    app = make_app(config.with_overrides(api_token="tok-秘密".encode().hex()))
    client = app.test_client()
    token = "tok-秘密".encode().hex()
    assert client.get(f"{API}/health").status_code == 200
    assert client.get(f"{API}/ready").status_code == 200
    r = client.get(f"{API}/tasks")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(f"{API}/tasks", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(f"{API}/tasks?access_token={token}").status_code == 401  # header only here
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/tasks", headers=auth).status_code == 200
    tid = create(client, headers=auth)["task_id"]
    app.extensions["data_pipeline"].store.cancel_task(tid, "done")
    assert client.get(f"{API}/tasks/{tid}/logs/stream").status_code == 401
    r = client.get(f"{API}/tasks/{tid}/logs/stream?access_token={token}")
    assert r.status_code == 200 and "event: end" in r.get_data(as_text=True)
    assert client.get(f"{API}/metrics").status_code == 401
    app.extensions["data_pipeline"].close()


def test_pipeline_database_down_is_503(config):
    from citu_app import create_app

    cfg = config.with_overrides(monitor_enabled=False, embedded_worker=False)
    db = Database("postgresql://nobody@127.0.0.1:1/none", connect_timeout=1)
    runtime = Runtime(config=cfg, db=db, store=TaskStore(db), pipeline_dsn=db.dsn)
    client = create_app(cfg, runtime).test_client()
    for url in ("/tasks", "/tasks/task_20240101_000000", "/ready"):
        r = client.get(f"{API}{url}")
        assert r.status_code == 503, (url, r.get_data(as_text=True))
        assert r.json["success"] is False


def test_open_log_streams_are_capped_and_released(config):
    from data_pipeline.api.logs import stream_slots

    app = make_app(config.with_overrides(server_threads=5))  # keeps 4 threads: 1 stream
    client = app.test_client()
    tid = create(client)["task_id"]  # pending: its stream stays open
    first = client.get(f"{API}/tasks/{tid}/logs/stream", buffered=False)
    with app.app_context():
        assert first.status_code == 200 and stream_slots().open == 1
        second = client.get(f"{API}/tasks/{tid}/logs/stream")
        assert second.status_code == 429 and second.json["error"]["type"] == "too_many_requests"
        first.close()  # the client goes away: its slot is free again
        assert stream_slots().open == 0
    app.extensions["data_pipeline"].close()


def test_unknown_tables_are_refused_before_a_run_starts(client, config):
    """A misspelt table no longer ends a run green with one table fewer: 400 naming it, and
    nothing is created or queued."""
    before = client.get(f"{API}/tasks").json["data"]["total"]
    body = {
        "parameters": {
            "db_connection": "source:demo",
            "business_context": "服务区",
            "table_list": ["service_area", "no_such_table", "Stall", "public.nope"],
        }
    }
    r = client.post(f"{API}/tasks", json=body)
    assert r.status_code == 400, r.get_data(as_text=True)
    error = r.json["error"]
    assert error["details"]["unknown_tables"] == ["public.no_such_table", "public.nope"]
    fields = error["details"]["fields"]
    assert [f["field"] for f in fields] == ["parameters.table_list"] * 2
    assert "no_such_table does not exist" in fields[0]["message"]
    assert "2 listed table(s) cannot be used" in r.json["message"]
    assert client.get(f"{API}/tasks").json["data"]["total"] == before
    assert not config.data_root.exists() or not list(config.data_root.glob("task_*"))

    # The same list on a task created without a run: refused when the run is asked for.
    task = create(client, table_list=["service_area", "no_such_table"])
    r = client.post(f"{API}/tasks/{task['task_id']}/execute", json={})
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.json["error"]["details"]["unknown_tables"] == ["public.no_such_table"]
    assert client.get(f"{API}/tasks/{task['task_id']}").json["data"]["status"] == "pending"
