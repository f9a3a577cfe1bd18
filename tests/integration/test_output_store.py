"""The output store: copies of task outputs that every API node and worker can read.

Both backends run for real: the pipeline database (the test's PostgreSQL) and S3 through
boto3 against moto's S3 server over HTTP. Another API node is a second app on the same
pipeline database with a data root of its own, which never holds the task's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
from moto.server import ThreadedMotoServer

from data_pipeline.api import schemas
from data_pipeline.runs.executor import run_task
from data_pipeline.tasks.models import StepStatus, TaskStatus
from data_pipeline.tasks.output_store import (
    CHUNK_SIZE,
    DatabaseOutputStore,
    OutputStoreError,
    S3OutputStore,
    output_store_for,
)
from data_pipeline.tasks.runtime import Runtime
from data_pipeline.workflow.outputs import register_outputs
from data_pipeline.workflow.tracking import DatabaseTracker
from tests.api_support import API, demo_task_body, make_app

MIB = 1024 * 1024
ACCESS_KEY, SECRET_KEY = "pipeline-test", "s3cr/et+key"  # "/" and "+" must survive the URL
CHINESE = "-- 主题：高速公路服务区营收分析\nSELECT 服务区, sum(营收) FROM 日营收 GROUP BY 1;\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _big_pairs(min_bytes: int) -> bytes:
    """A pair file in Chinese larger than ``min_bytes`` (several chunks / S3 parts)."""
    pairs, size, i = [], 0, 0
    while size < min_bytes:
        pair = {
            "question": f"第{i}号服务区在二〇二五年每个月的档口营收合计是多少？",
            "sql": f"SELECT month, sum(amount) FROM daily_revenue WHERE area_id = {i} GROUP BY 1;",
        }
        pairs.append(pair)
        size += len(json.dumps(pair, ensure_ascii=False).encode()) + 2
        i += 1
    return json.dumps(pairs, ensure_ascii=False).encode("utf-8")


# S3 through moto's server -----------------------------------------------------------------
@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )  # fmt: skip


def _s3_url(endpoint: str, bucket: str) -> str:
    secret = quote(SECRET_KEY, safe="")
    return (
        f"s3://{ACCESS_KEY}:{secret}@{bucket}/pipeline/outputs"
        f"?endpoint_url={endpoint}&region=us-east-1"
    )


@pytest.fixture
def s3_bucket(s3_endpoint) -> str:
    bucket = f"outputs-{uuid.uuid4().hex[:12]}"
    _s3(s3_endpoint).create_bucket(Bucket=bucket)
    return bucket


def _objects(endpoint: str, bucket: str) -> list[str]:
    answer = _s3(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in answer.get("Contents") or [])


# Both backends in `make test`; the S3 one (moto server) is left out of the inner loop.
@pytest.fixture(params=["database", pytest.param("s3", marks=pytest.mark.slow)])
def backend(request) -> dict:
    """The settings of one backend: ``{}`` (the database) or an S3 URL on a new bucket."""
    if request.param == "database":
        return {}
    endpoint = request.getfixturevalue("s3_endpoint")
    return {"output_store_url": _s3_url(endpoint, request.getfixturevalue("s3_bucket"))}


def _store_of(overrides: dict, db):
    if overrides:  # S3 parts of the minimum size, so that a 5.5 MiB file takes two
        return S3OutputStore(db, overrides["output_store_url"], part_size=5 * MIB)
    return DatabaseOutputStore(db)


def _task(store, config) -> str:
    task, _ = store.create_task(
        parameters={"db_connection": "source:demo", "business_context": "高速公路服务区"},
        data_root=config.data_root,
    )
    return task.id


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# The store itself ---------------------------------------------------------------------------
def test_publish_stream_materialize_round_trip(backend, store, pipeline_db, config, tmp_path):
    outputs = _store_of(backend, pipeline_db)
    tid = _task(store, config)
    files = {
        "metadata.txt": CHINESE.encode("utf-8"),
        "big/qs_demo_pair.json": _big_pairs(5 * MIB + MIB // 2),
        "empty.log": b"",
    }
    node_a = tmp_path / "node-a"
    _write(node_a, files)
    for rel, data in files.items():
        copy = outputs.publish(tid, rel, node_a / rel, _sha(data))
        assert (copy.sha256, copy.size) == (_sha(data), len(data))
    assert outputs.exists(tid, "metadata.txt") and not outputs.exists(tid, "nope.txt")
    assert set(outputs.list_files(tid)) == set(files)

    # The same content again is not written again.
    before = outputs.info(tid, "metadata.txt")
    assert outputs.publish(tid, "metadata.txt", node_a / "metadata.txt", _sha(files["metadata.txt"])) is None  # fmt: skip
    assert outputs.info(tid, "metadata.txt").stored_at == before.stored_at

    # Streams: several chunks for the big file, each at most CHUNK_SIZE; checked bytes.
    big = files["big/qs_demo_pair.json"]
    stream = outputs.open_stream(tid, "big/qs_demo_pair.json")
    assert (stream.size, stream.sha256) == (len(big), _sha(big))
    chunks = list(stream.chunks)
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= CHUNK_SIZE
    assert b"".join(chunks) == big
    stream = outputs.open_stream(tid, "metadata.txt")
    assert b"".join(stream.chunks).decode("utf-8") == CHINESE
    assert outputs.open_stream(tid, "nope.txt") is None

    # Another host's folder: everything is written, with the files' modification times.
    node_b = tmp_path / "node-b"
    assert sorted(outputs.materialize(tid, node_b)) == sorted(files)
    for rel, data in files.items():
        assert (node_b / rel).read_bytes() == data
        assert (node_b / rel).stat().st_mtime_ns // 1000 == (
            node_a / rel
        ).stat().st_mtime_ns // 1000
    assert outputs.materialize(tid, node_b) == []  # up to date: nothing written
    (node_b / "metadata.txt").write_text("changed locally\n", encoding="utf-8")
    (node_b / "deleted_elsewhere.md").write_text("# 旧文件\n", encoding="utf-8")
    assert outputs.materialize(tid, node_b, prune=True) == ["metadata.txt"]
    assert (node_b / "metadata.txt").read_bytes() == files["metadata.txt"]
    assert not (node_b / "deleted_elsewhere.md").exists()

    # A changed file is copied again.
    changed = (CHINESE + "-- 第二版\n").encode("utf-8")
    (node_a / "metadata.txt").write_bytes(changed)
    copy = outputs.publish(tid, "metadata.txt", node_a / "metadata.txt", _sha(changed))
    assert copy.sha256 == _sha(changed) and copy.stored_at > before.stored_at
    assert b"".join(outputs.open_stream(tid, "metadata.txt").chunks) == changed
    assert outputs.materialize(tid, node_b) == ["metadata.txt"]

    # Deleting.
    assert outputs.delete_paths(tid, ["metadata.txt"]) == 1
    assert outputs.info(tid, "metadata.txt") is None
    assert outputs.delete_task(tid) == 2
    assert outputs.list_files(tid) == {}
    if backend:
        endpoint = backend["output_store_url"].split("endpoint_url=")[1].split("&")[0]
        assert _objects(endpoint, outputs.where.bucket) == []
    else:
        with pipeline_db.transaction() as cur:
            cur.execute("SELECT count(*) AS n FROM data_pipeline_output_blobs")
            assert cur.fetchone()["n"] == 0


def test_a_damaged_copy_is_never_served_whole(backend, store, pipeline_db, config, tmp_path):
    outputs = _store_of(backend, pipeline_db)
    tid = _task(store, config)
    data = _big_pairs(MIB + 10)
    _write(tmp_path / "a", {"qs_pair.json": data})
    outputs.publish(tid, "qs_pair.json", tmp_path / "a" / "qs_pair.json", _sha(data))
    damaged = data[:-3] + b"]]]"  # same size, other bytes
    if backend:
        bucket = outputs.where.bucket
        outputs.client.put_object(
            Bucket=bucket, Key=outputs._key(tid, "qs_pair.json"), Body=damaged
        )
    else:
        with pipeline_db.transaction() as cur:
            cur.execute(
                "UPDATE data_pipeline_output_blobs SET data = %s WHERE task_id = %s AND chunk_no = 1",
                (damaged[MIB:], tid),
            )
    stream = outputs.open_stream(tid, "qs_pair.json")
    with pytest.raises(OutputStoreError, match="does not match its sha256"):
        for _ in stream.chunks:
            pass
    folder = tmp_path / "b"
    _write(folder, {"qs_pair.json": b"[]"})
    with pytest.raises(OutputStoreError):
        outputs.materialize(tid, folder)
    assert (folder / "qs_pair.json").read_bytes() == b"[]"  # left as it was
    assert [p.name for p in folder.iterdir()] == ["qs_pair.json"]  # no temporary file left


def test_s3_objects_are_laid_out_by_task_and_path(s3_endpoint, s3_bucket, store, pipeline_db,
                                                  config, tmp_path):  # fmt: skip
    outputs = output_store_for(
        config.with_overrides(output_store_url=_s3_url(s3_endpoint, s3_bucket)), pipeline_db
    )
    assert outputs.location == f"s3://{s3_bucket}/pipeline/outputs"
    assert SECRET_KEY not in repr(outputs) and SECRET_KEY not in repr(outputs.where)
    tid = _task(store, config)
    _write(tmp_path, {"vector_bak/sql.csv": "id,问题\n1,营收\n".encode()})
    outputs.publish(tid, "vector_bak/sql.csv", tmp_path / "vector_bak/sql.csv")
    assert _objects(s3_endpoint, s3_bucket) == [f"pipeline/outputs/{tid}/vector_bak/sql.csv"]


def test_registration_copies_new_and_changed_files_only(backend, store, pipeline_db, config):
    outputs = _store_of(backend, pipeline_db)
    tid = _task(store, config)
    folder = config.data_root / tid
    _write(folder, {"a.ddl": b"CREATE TABLE a (id int);\n", "b_detail.md": "# 表 b\n".encode(),
                    "metadata.txt": CHINESE.encode()})  # fmt: skip
    counts = register_outputs(store, tid, folder, step_name="ddl_generation", output_store=outputs)
    assert (counts["added"], counts["published"]) == (3, 3)
    rows = {r["file_path"]: r for r in store.list_outputs(tid)}
    stored = outputs.list_files(tid)
    assert {p: r["content_hash"] for p, r in rows.items()} == {
        p: s.sha256 for p, s in stored.items()
    }

    counts = register_outputs(store, tid, folder, output_store=outputs)
    assert (counts["unchanged"], counts["published"]) == (3, 0)
    assert {p: s.stored_at for p, s in outputs.list_files(tid).items()} == {
        p: s.stored_at for p, s in stored.items()
    }

    # One file changed, one only touched (same content), one removed.
    (folder / "a.ddl").write_bytes(b"CREATE TABLE a (id bigint);\n")
    os.utime(folder / "b_detail.md", ns=(1_700_000_000 * 10**9,) * 2)
    (folder / "metadata.txt").unlink()
    counts = register_outputs(store, tid, folder, output_store=outputs)
    assert (counts["changed"], counts["removed"], counts["published"]) == (1, 1, 1)
    now = outputs.list_files(tid)
    assert set(now) == {"a.ddl", "b_detail.md"}
    assert now["a.ddl"].stored_at > stored["a.ddl"].stored_at
    assert now["b_detail.md"].stored_at == stored["b_detail.md"].stored_at

    # A copy the store lost is made again although the folder did not change.
    outputs.delete_paths(tid, ["b_detail.md"])
    assert register_outputs(store, tid, folder, output_store=outputs)["published"] == 1
    assert outputs.exists(tid, "b_detail.md")


def test_a_step_whose_files_cannot_be_copied_fails(s3_endpoint, store, pipeline_db, config):
    broken = S3OutputStore(pipeline_db, _s3_url(s3_endpoint, "no-such-bucket-here"))
    task, _ = store.create_task(
        parameters={"db_connection": "source:demo", "business_context": "服务区"},
        data_root=config.data_root,
    )
    store.start_run(task.id, steps=["ddl_generation"])
    folder = Path(task.output_directory)
    _write(folder, {"service_area.ddl": b"CREATE TABLE service_area (id int);\n"})
    tracker = DatabaseTracker(store, task.id, output_store=broken)
    execution_id = tracker.open_execution("ddl_generation", force=False, files_cleaned=False)
    with pytest.raises(OutputStoreError) as caught:
        tracker.end_step("ddl_generation", execution_id, StepStatus.COMPLETED, summary={},
                         error=None, task_dir=folder)  # fmt: skip
    message = caught.value.message
    assert "service_area.ddl" in message and "s3://no-such-bucket-here" in message
    assert "NoSuchBucket" in message and SECRET_KEY not in message
    [execution] = store.list_executions(task.id)
    assert execution["status"] == "failed" and "output store" in execution["error_message"]
    assert store.get_task(task.id).step_status["ddl_generation"] == "failed"
    # The tables never name content no machine can serve: no row for the file.
    assert store.list_outputs(task.id) == []


# Through the API ------------------------------------------------------------------------------
@pytest.fixture
def two_nodes(backend, config, tmp_path):
    """Two API nodes on the same pipeline database and output store, each with its own data
    root: (config, client) of node A, (config, client) of node B."""
    cfg_a = config.with_overrides(**backend)
    cfg_b = cfg_a.with_overrides(data_root=tmp_path / "node-b")
    app_a, app_b = make_app(cfg_a), make_app(cfg_b)
    yield (cfg_a, app_a), (cfg_b, app_b)
    for app in (app_a, app_b):
        app.extensions["data_pipeline"].close()


def _app_store(app):
    with app.app_context():
        from data_pipeline.api.files import output_store

        return output_store()


def test_download_on_another_node_streams_the_registered_bytes(two_nodes):
    (cfg_a, app_a), (cfg_b, app_b) = two_nodes
    client_a, client_b = app_a.test_client(), app_b.test_client()
    r = client_a.post(f"{API}/tasks", json={**demo_task_body(), "start": False})
    tid = r.json["data"]["task_id"]
    folder = cfg_a.data_root / tid
    files = {
        "metadata.txt": CHINESE.encode("utf-8"),
        "qs_demo_business_20250301_080000_pair.json": _big_pairs(2 * MIB + 123),
        "vector_bak/sql.csv": "id,question\n1,各服务区营收\n".encode(),
    }
    _write(folder, files)
    outputs = _app_store(app_a)
    register_outputs(app_a.extensions["data_pipeline"].store, tid, folder, output_store=outputs)
    assert not (cfg_b.data_root / tid).exists()

    listing = client_b.get(f"{API}/tasks/{tid}/files").json["data"]
    schemas.FileList.model_validate(listing)
    assert listing["count"] == 3
    for f in listing["files"]:
        local = client_a.get(f["download_url"])
        remote = client_b.get(f["download_url"])
        assert local.status_code == remote.status_code == 200, remote.get_data(as_text=True)
        body = remote.get_data()
        assert body == files[f["path"]] and _sha(body) == f["sha256"]
        assert int(remote.headers["Content-Length"]) == f["size"] == len(body)
        assert remote.headers["ETag"] == f'"{f["sha256"]}"'
        # The same headers whichever copy answers (but the times of the answers).
        same = {k: v for k, v in local.headers.items() if k not in ("Date", "Expires")}
        assert {k: v for k, v in remote.headers.items() if k not in ("Date", "Expires")} == same
    r = client_b.get(f"{API}/tasks/{tid}/files/download/metadata.txt")
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "attachment" in r.headers["Content-Disposition"]
    assert r.get_data().decode("utf-8") == CHINESE

    # Ranges and conditional requests work on a stream too.
    pair_url = f"{API}/tasks/{tid}/files/download/qs_demo_business_20250301_080000_pair.json"
    big = files["qs_demo_business_20250301_080000_pair.json"]
    r = client_b.get(pair_url, headers={"Range": f"bytes={MIB - 5}-{MIB + 9}"})
    assert r.status_code == 206 and r.get_data() == big[MIB - 5 : MIB + 10]
    r = client_b.get(pair_url, headers={"If-None-Match": f'"{_sha(big)}"'})
    assert r.status_code == 304 and r.get_data() == b""

    # Node A's file changed after it was registered: the registered bytes come from the store.
    (folder / "metadata.txt").write_text("not registered yet\n", encoding="utf-8")
    r = client_a.get(f"{API}/tasks/{tid}/files/download/metadata.txt")
    assert r.status_code == 200 and r.get_data() == files["metadata.txt"]

    # Neither copy: 404 saying so. The node holding it still serves it.
    outputs.delete_paths(tid, ["vector_bak/sql.csv"])
    r = client_b.get(f"{API}/tasks/{tid}/files/download/vector_bak/sql.csv")
    assert r.status_code == 404 and "output store" in r.json["message"]
    assert client_a.get(f"{API}/tasks/{tid}/files/download/vector_bak/sql.csv").status_code == 200

    # Path tricks are refused before any copy is looked for.
    base = f"{API}/tasks/{tid}/files/download/"
    for name in ("../../etc/passwd", "sub/../metadata.txt", ".env", "vector_bak/../../x",
                 "..%5cmetadata.txt", "./metadata.txt", "%2e%2e/metadata.txt"):  # fmt: skip
        r = client_b.get(base + name)
        assert r.status_code == 400, (name, r.status_code)
        assert r.json["error"]["type"] == "invalid_input"
    assert client_b.get(base + "%2Fetc%2Fpasswd").status_code == 404  # no route: "//etc"


def test_table_list_and_delete_reach_every_copy(two_nodes, s3_endpoint):
    (cfg_a, app_a), (cfg_b, app_b) = two_nodes
    client_a, client_b = app_a.test_client(), app_b.test_client()
    r = client_a.post(f"{API}/tasks", json={**demo_task_body(), "start": False})
    tid = r.json["data"]["task_id"]
    tables = ["public.service_area", "public.daily_revenue"]
    r = client_a.post(f"{API}/tasks/{tid}/table-list", json={"tables": tables})
    assert r.status_code == 200, r.get_data(as_text=True)
    text = r.json["data"]["text"]
    # Another node (a worker's host) reads it from the store.
    r = client_b.get(f"{API}/tasks/{tid}/table-list")
    assert r.status_code == 200 and r.json["data"]["tables"] == tables
    r = client_b.get(f"{API}/tasks/{tid}/files/download/table_list.txt")
    assert r.status_code == 200 and r.get_data().decode() == text
    outputs = _app_store(app_a)
    assert outputs.materialize(tid, cfg_b.data_root / tid) == ["table_list.txt"]

    folder = cfg_a.data_root / tid
    _write(folder, {"service_area.ddl": b"CREATE TABLE service_area (id int);\n"})
    register_outputs(app_a.extensions["data_pipeline"].store, tid, folder, output_store=outputs)
    assert set(outputs.list_files(tid)) == {"table_list.txt", "service_area.ddl"}

    r = client_b.delete(f"{API}/tasks/{tid}")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert outputs.list_files(tid) == {}
    if isinstance(outputs, S3OutputStore):
        assert _objects(s3_endpoint, outputs.where.bucket) == []
    else:
        with app_a.extensions["data_pipeline"].db.transaction() as cur:
            cur.execute("SELECT count(*) AS n FROM data_pipeline_output_blobs")
            assert cur.fetchone()["n"] == 0
    assert client_a.get(f"{API}/tasks/{tid}/files/download/service_area.ddl").status_code == 404


# A real run -----------------------------------------------------------------------------------
def _run_step_1(config, store, pipeline_db, pipeline_dsn) -> str:
    task, _ = store.create_task(
        parameters={
            "db_connection": "source:demo",
            "table_list": ["public.service_area"],
            "business_context": "高速公路服务区管理",
            "execution_mode": "single",
            "single_step": 1,
        },
        data_root=config.data_root,
    )
    store.start_run(task.id, steps=["ddl_generation"])
    runtime = Runtime(config=config, db=pipeline_db, store=store, pipeline_dsn=pipeline_dsn)
    run_task(config, task.id, runtime=runtime)
    return task.id


def test_a_run_is_downloadable_from_a_node_without_its_folder(
    s3_endpoint, s3_bucket, store, pipeline_db, pipeline_dsn, config, tmp_path
):
    cfg = config.with_overrides(output_store_url=_s3_url(s3_endpoint, s3_bucket))
    tid = _run_step_1(cfg, store, pipeline_db, pipeline_dsn)
    assert store.get_task(tid).status == TaskStatus.PARTIAL_COMPLETED
    rows = store.list_outputs(tid)
    assert {"service_area.ddl", "service_area_detail.md", "data_pipeline.log"} <= {
        r["file_path"] for r in rows
    }
    shutil.rmtree(cfg.data_root / tid)  # as if the run had executed on another host
    app = make_app(cfg.with_overrides(data_root=tmp_path / "api-node"))
    try:
        client = app.test_client()
        for row in rows:
            r = client.get(f"{API}/tasks/{tid}/files/download/{row['file_path']}")
            assert r.status_code == 200, (row["file_path"], r.get_data(as_text=True))
            assert _sha(r.get_data()) == row["content_hash"], row["file_path"]
    finally:
        app.extensions["data_pipeline"].close()


def test_a_run_whose_store_fails_fails_its_step(
    s3_endpoint, store, pipeline_db, pipeline_dsn, config
):
    cfg = config.with_overrides(output_store_url=_s3_url(s3_endpoint, "no-such-bucket-here"))
    tid = _run_step_1(cfg, store, pipeline_db, pipeline_dsn)
    task = store.get_task(tid)
    assert task.status == TaskStatus.FAILED and task.error_step == "ddl_generation"
    assert "could not be copied to the output store" in task.error_message
    assert task.step_status["ddl_generation"] == "failed"
    assert SECRET_KEY not in task.error_message and quote(SECRET_KEY, safe="") not in (
        task.error_message
    )
    errors = [r["message"] for r in store.query_logs(tid, level="ERROR")]
    assert any("not copied to the output store" in m for m in errors)
