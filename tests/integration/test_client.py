"""The shipped Python client (``data_pipeline.client``) against the app served over real HTTP
(werkzeug in a thread, on the test database; no run is started here: the acceptance test
follows a real run to its end)."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from data_pipeline.api import schemas
from data_pipeline.client import ApiError, Client
from tests.api_support import API

PARAMS = {
    "db_connection": "source:demo",
    "business_context": "高速公路服务区经营数据",
    "table_list": ["service_area", "daily_revenue"],
}


@pytest.fixture
def api(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Client(f"http://127.0.0.1:{server.port}", timeout=10)
    finally:
        server.shutdown()
        thread.join(5)


def test_client_tasks_table_lists_logs_and_errors(api, app):
    assert api.base_url.endswith(API)
    assert api.health()["status"] == "ok"
    assert api.whoami().role == "admin"
    created = api.create_task(PARAMS, task_name="客户端", start=False, idempotency_key="cli-1")
    assert isinstance(created, schemas.CreateTaskResponse) and created.created
    again = api.create_task(PARAMS, task_name="客户端", start=False, idempotency_key="cli-1")
    assert again.task_id == created.task_id and again.created is False
    tid = created.task_id

    task = api.get_task(tid)
    assert isinstance(task, schemas.TaskDetail) and task.status == "pending"
    assert task.parameters["table_list"] == ["public.service_area", "public.daily_revenue"]
    page = api.list_tasks(status=["pending", "failed"])
    assert [t.task_id for t in page.items] == [tid]
    assert api.list_tasks(status="failed").total == 0
    assert api.active_tasks() == []

    assert api.set_table_list(tid, ["stall", "employee"]).tables == [
        "public.stall", "public.employee",
    ]  # fmt: skip
    uploaded = api.upload_table_list(tid, "# 表\nservice_area\nvehicle_flow  # 车流\n")
    assert uploaded.count == 2 and api.table_list(tid).tables == uploaded.tables

    logs = api.logs(tid)
    assert logs.records == [] and logs.next_cursor is None
    assert api.files(tid).task_id == tid
    assert "demo" in [s.name for s in api.sources().sources]
    assert api.source_tables("demo").count >= 9
    assert api.openapi()["paths"]

    # Errors: typed, with the status, the type and every field of a 400.
    with pytest.raises(ApiError) as err:
        api.get_task("task_20240101_000000")
    assert (err.value.status, err.value.type) == (404, "not_found")
    with pytest.raises(ApiError) as err:
        api.create_task({"db_connection": "source:demo"}, start=False)
    assert err.value.status == 400
    assert "parameters.business_context" in {f["field"] for f in err.value.fields}
    with pytest.raises(ApiError) as err:
        api.execute(tid, step=2)  # step 2 needs step 1's outputs
    assert err.value.status == 409
    with pytest.raises(ApiError) as err:
        api.download(tid, "nope.txt")
    assert err.value.status == 404

    # Cancel, then the stream ends at once with the final status.
    assert api.cancel(tid).status == "cancelled"
    events = list(api.stream_logs(tid, reconnect=False, timeout=10))
    assert events[-1].event == "end" and events[-1].data["status"] == "cancelled"
    assert api.wait(tid, timeout=5).status == "cancelled"
    assert api.delete_task(tid).task_id == tid
    with pytest.raises(ValueError):
        Client("file:///etc/passwd")
