"""A catalogue of bad input for every route: the right 4xx with a JSON message, never a 500
or an HTML page, and nothing outside the data root read, written or deleted."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from tests.api_support import API

VALID_UNKNOWN = "task_20240101_000000"
BAD_IDS = [
    "%2e%2e",
    "..",
    "%2e%2e%2fetc",
    "task_20240101_000000%00",
    "task_20240101_000000_" + "a" * 40,
    "TASK_20240101_000000",
    "task_2024_01",
    "%252e%252e",
    "task_20240101_000000;rm",
    "ta%20sk",
    "..%5c..%5cwindows",
    "task_20240101_000000'--",
]
TASK_ROUTES = [
    ("get", ""),
    ("delete", ""),
    ("post", "/execute"),
    ("post", "/cancel"),
    ("get", "/executions"),
    ("get", "/table-list"),
    ("post", "/table-list"),
    ("get", "/logs"),
    ("get", "/logs/stream"),
    ("get", "/logs/download"),
    ("get", "/files"),
    ("get", "/files/download/metadata.txt"),
]


def _tree(root: Path, skip: Path) -> dict[str, str]:
    """Path -> sha256 of every file under ``root`` except the data root."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath).resolve() == skip.resolve():
            dirnames[:] = []
            continue
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file():
                found[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


@pytest.fixture
def setup(app, client, config, tmp_path):
    """App + client, a pending task, canary files outside the data root."""
    (tmp_path / "canary.txt").write_text("canary 金丝雀\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("do not touch\n")
    r = client.post(
        f"{API}/tasks",
        json={
            "parameters": {
                "db_connection": "source:demo",
                "business_context": "高速服务区 revenue analysis",
                "table_list": ["service_area"],
            },
            "start": False,
        },
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    task_id = r.json["data"]["task_id"]
    before = _tree(tmp_path, config.data_root)
    yield app, client, task_id
    after = _tree(tmp_path, config.data_root)
    # Nothing outside the data root was written or deleted (the log is the app's own).
    assert {k: v for k, v in after.items() if k in before} == before
    assert not [k for k in after if k not in before]


def assert_json_error(response, *statuses):
    body = response.get_data(as_text=True)
    assert response.status_code in statuses, (response.status_code, body[:500])
    assert response.mimetype == "application/json", body[:300]
    data = response.get_json()
    assert data["success"] is False and data["code"] == response.status_code
    assert isinstance(data["message"], str) and data["message"]
    assert "Traceback" not in body and "<html" not in body.lower()
    if response.status_code == 400:  # one shape for every 400: fields [{field, message}]
        fields = data["error"]["details"]["fields"]
        assert fields and all(
            isinstance(f["field"], str) and f["field"] and isinstance(f["message"], str)
            for f in fields
        ), data
    if response.status_code == 405:
        assert response.headers["Allow"], "a 405 says which methods the resource has"
    return data


def _call(client, method, url, **kw):
    return getattr(client, method)(url, **kw)


def test_malformed_and_unknown_task_ids_on_every_route(setup):
    _, client, _ = setup
    for method, suffix in TASK_ROUTES:
        for bad in BAD_IDS:
            r = _call(client, method, f"{API}/tasks/{bad}{suffix}")
            assert_json_error(r, 400, 404, 405)
        r = _call(client, method, f"{API}/tasks/{VALID_UNKNOWN}{suffix}")
        data = assert_json_error(r, 404)
        assert VALID_UNKNOWN in data["message"]
        # A malformed but routable id is refused as such (400), naming the expected form.
        r = _call(client, method, f"{API}/tasks/TASK_20240101_000000{suffix}")
        assert "invalid task id" in assert_json_error(r, 400)["message"]


def test_create_body_errors(setup):
    _, client, _ = setup
    url = f"{API}/tasks"
    ok_params = {"db_connection": "source:demo", "business_context": "服务区", "table_list": ["a"]}

    def post(body=None, raw=None, ctype="application/json", headers=None):
        if raw is not None:
            return client.post(url, data=raw, content_type=ctype, headers=headers or {})
        return client.post(url, json=body, headers=headers or {})

    assert "not valid JSON" in assert_json_error(post(raw=b"{not json"), 400)["message"]
    assert "not valid JSON" in assert_json_error(post(raw=b"\xff\xfe{}"), 400)["message"]
    assert "JSON object" in assert_json_error(post(raw=b"[1, 2]"), 400)["message"]
    assert "JSON object" in assert_json_error(post(raw=b'"text"'), 400)["message"]
    assert_json_error(post(raw=b""), 400)
    assert_json_error(post(raw=b'{"a": 1}', ctype="text/plain"), 415)
    assert_json_error(post(raw=b"a=1", ctype="application/x-www-form-urlencoded"), 415)
    big = b'{"task_name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert_json_error(post(raw=big), 413)

    def fields_of(body) -> dict:
        data = assert_json_error(post(body), 400)
        return {f["field"]: f["message"] for f in data["error"]["details"]["fields"]}

    missing = fields_of({"parameters": {}})
    assert {"parameters.db_connection", "parameters.business_context"} <= set(missing)
    assert fields_of({}) == {"parameters": "required"}
    assert "parameters" in fields_of({"parameters": "x"})
    assert "start" in fields_of({"parameters": ok_params, "start": "maybe"})
    assert "surprise" in fields_of({"parameters": ok_params, "surprise": 1})
    assert "parameters.typo_field" in fields_of({"parameters": {**ok_params, "typo_field": 1}})
    assert "parameters.execution_mode" in fields_of(
        {"parameters": {**ok_params, "execution_mode": "fast"}}
    )
    assert "parameters.table_list" in fields_of({"parameters": {**ok_params, "table_list": "a"}})
    assert "task_name" in fields_of({"parameters": ok_params, "task_name": "名" * 201})
    assert "parameters.business_context" in fields_of(
        {"parameters": {**ok_params, "business_context": "x" * 4001}}
    )
    for rule in (
        {"execution_mode": "single"},
        {"execution_mode": "single", "single_step": 7},
        {"execution_mode": "complete", "single_step": 2},
        {"start_step": 3, "end_step": 2},
        {"skip_steps": [9]},
    ):
        data = assert_json_error(post({"parameters": {**ok_params, **rule}}), 400)
        assert data["error"]["details"]["fields"], rule
    # Sources and connection strings.
    for conn in ("source:nope", "source:../x", "mysql://u@h/db", "   "):
        assert_json_error(post({"parameters": {**ok_params, "db_connection": conn}}), 400)
    # Table lists: line errors, system schemas, file names that are paths.
    data = assert_json_error(
        post(
            {"parameters": {**ok_params, "table_list": ["ok_table", "bad name!", "pg_catalog.x"]}}
        ),
        400,
    )
    lines = [e["line"] for e in data["error"]["details"]["errors"]]
    assert lines == [2, 3]
    for name in ("../../etc/passwd", "/etc/passwd", "..", "a/b.txt", "x\x00.txt"):
        body = {"parameters": {**ok_params, "table_list": None, "table_list_file": name}}
        assert_json_error(post(body), 400)
    # Starting needs a table list for step 1.
    no_list = {k: v for k, v in ok_params.items() if k != "table_list"}
    data = assert_json_error(post({"parameters": no_list}), 400)
    assert "table_list" in data["message"]
    # A new task cannot start at step 2: nothing to read yet.
    single2 = {**ok_params, "execution_mode": "single", "single_step": 2}
    assert_json_error(post({"parameters": single2}), 400)
    # Idempotency keys are bounded.
    assert_json_error(post({"parameters": ok_params}, headers={"Idempotency-Key": "k" * 201}), 400)
    assert_json_error(post({"parameters": ok_params}, headers={"Idempotency-Key": "a b"}), 400)
    # Wrong method on a known path: JSON 405.
    r = client.put(url, json={})
    assert_json_error(r, 405)
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert_json_error(client.get(f"{API}/no/such/route"), 404)


def test_execute_and_table_list_body_errors(setup):
    _, client, task_id = setup
    url = f"{API}/tasks/{task_id}/execute"
    for body in (
        {"execution_mode": "single"},
        {"step_name": "nope"},
        {"single_step": 2, "step_name": "ddl_generation"},
        {"single_step": 0},
        {"force": "often"},
        {"execution_mode": "complete", "step_name": "qa_generation"},
        {"unknown": True},
    ):
        assert_json_error(client.post(url, json=body), 400)
    assert_json_error(client.post(url, data=b"{", content_type="application/json"), 400)
    assert_json_error(client.post(url, data=b"[]", content_type="application/json"), 400)
    # Step 2 on a task without step 1's outputs: refused, naming the step to run first.
    data = assert_json_error(client.post(url, json={"single_step": 2}), 409, 422)
    assert "step 1" in data["message"] or "ddl_generation" in data["message"]

    tl = f"{API}/tasks/{task_id}/table-list"
    assert_json_error(client.post(tl, json={"tables": []}), 400)
    assert_json_error(client.post(tl, json={"tables": "a"}), 400)
    assert_json_error(client.post(tl, json={"tables": [1, 2]}), 400)
    data = assert_json_error(client.post(tl, json={"tables": ["ok", "no good"]}), 400)
    assert data["error"]["details"]["errors"][0]["line"] == 2
    assert_json_error(client.post(tl, data=b"x", content_type="text/plain"), 415)

    def upload(content: bytes, name="tables.txt", ctype="text/plain"):
        return client.post(
            tl,
            data={"file": (io.BytesIO(content), name, ctype)},
            content_type="multipart/form-data",
        )

    assert_json_error(upload(b"service_area\n", name="tables.exe"), 415)
    assert_json_error(upload(b"service_area\n", ctype="application/x-msdownload"), 415)
    assert_json_error(upload(b"a\n" * 6000), 413)
    assert_json_error(upload(b"x" * (300 * 1024)), 413)
    assert_json_error(upload(b"\xff\xfe\x00bad"), 400)
    assert_json_error(upload(b"service_area\nbad name!\n"), 400)
    assert_json_error(upload(b""), 400)
    assert_json_error(client.post(tl, data={}, content_type="multipart/form-data"), 400)


def test_query_parameter_errors(setup):
    _, client, task_id = setup
    for query in (
        "limit=0", "limit=101", "limit=x", "offset=-1", "status=bogus", "sort=password",
        "order=up", "created_by=root",
    ):  # fmt: skip
        assert_json_error(client.get(f"{API}/tasks?{query}"), 400)
    for query in (
        "limit=0", "limit=5000", "level=TRACE", "since=yesterday", "until=2024-13-01",
        "after_id=-1", "after_id=abc", "order=sideways", "step=nope", "q=" + "x" * 300,
        "since=2024-02-01T00:00:00Z&until=2024-01-01T00:00:00Z",
    ):  # fmt: skip
        assert_json_error(client.get(f"{API}/tasks/{task_id}/logs?{query}"), 400)
    r = client.get(f"{API}/tasks/{task_id}/logs/stream", headers={"Last-Event-ID": "x1"})
    assert_json_error(r, 400)
    assert_json_error(client.get(f"{API}/tasks/{task_id}/logs/stream?level=LOUD"), 400)
    assert_json_error(client.delete(f"{API}/tasks/{task_id}?force=maybe"), 400)
    assert_json_error(client.get(f"{API}/sources/NOPE/tables"), 400)
    assert_json_error(client.get(f"{API}/sources/unknown/tables"), 404)
    assert_json_error(client.get(f"{API}/sources/{'a' * 80}/tables"), 400)


def test_file_names_that_leave_the_task_folder(setup, config, tmp_path):
    _, client, task_id = setup
    folder = config.data_root / task_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ok.txt").write_text("fine\n")
    (folder / ".hidden").write_text("hidden\n")
    (folder / "link.txt").symlink_to(tmp_path / "canary.txt")
    (folder / "dirlink").symlink_to(tmp_path / "outside", target_is_directory=True)
    base = f"{API}/tasks/{task_id}/files/download/"
    for name in (
        "..%2Fcanary.txt", "%2e%2e/%2e%2e/canary.txt", "../../canary.txt", "%2Fetc%2Fpasswd",
        "/etc/passwd", ".hidden", "ok.txt%00.png", "sub/../../canary.txt", "C:%5Cx",
        "..%5c..%5ccanary.txt", "link.txt", "dirlink/secret.txt", "a" * 600, "nope.txt",
        "./ok.txt", "%2e%2e",
    ):  # fmt: skip
        r = client.get(base + name)
        data = assert_json_error(r, 400, 404)
        assert "canary" not in r.get_data(as_text=True).replace(name, "")
        assert data["error"]["type"] in ("invalid_input", "not_found")
    r = client.get(base + "ok.txt")
    assert r.status_code == 200 and r.get_data() == b"fine\n"
    assert "attachment" in r.headers["Content-Disposition"]


def test_delete_never_removes_a_folder_outside_the_data_root(setup, config, tmp_path):
    app, client, task_id = setup
    outside = tmp_path / "outside"
    db = app.extensions["data_pipeline"].db
    with db.transaction() as cur:  # a row pointing elsewhere, as a tampered row would
        cur.execute(
            "UPDATE data_pipeline_tasks SET output_directory = %s WHERE id = %s",
            (str(outside), task_id),
        )
    r = client.delete(f"{API}/tasks/{task_id}")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json["data"]["folder_removed"] is None
    assert (outside / "secret.txt").read_text() == "do not touch\n"
    assert_json_error(client.get(f"{API}/tasks/{task_id}"), 404)
