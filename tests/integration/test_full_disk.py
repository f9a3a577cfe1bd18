"""A full disk in the data root fails the run with a message saying so, registers no partial
file, leaves the task tables true, and the service keeps answering."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core import files
from data_pipeline.runs.executor import run_task
from data_pipeline.tasks.models import STEP_NAMES, TaskStatus
from data_pipeline.tasks.runtime import Runtime
from tests.api_support import API, make_app

TABLES = ["service_area", "stall", "business_type", "daily_revenue"]


def _task(store, config):
    task, _ = store.create_task(
        parameters={
            "db_connection": "source:demo",
            "table_list": TABLES,
            "business_context": "高速公路服务区经营分析",
        },
        data_root=config.data_root,
    )
    store.start_run(task.id, steps=list(STEP_NAMES))
    return task


def _assert_told_the_truth(store, task, step: str, file_hint: str) -> None:
    done = store.get_task(task.id)
    assert done.status == TaskStatus.FAILED
    assert "no space left on device while writing" in done.error_message, done.error_message
    assert file_hint in done.error_message
    assert done.error_step == step and done.step_status[step] == "failed"
    executions = store.list_executions(task.id)
    assert executions and not [e for e in executions if e["status"] == "running"]
    assert {e["execution_step"]: e["status"] for e in executions}[step] == "failed"
    folder = Path(done.output_directory)
    leftovers = [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []  # no half-written file is left behind
    for row in store.list_outputs(task.id):  # every registered file is whole and really there
        path = folder / row["file_path"]
        assert path.is_file() and path.stat().st_size == row["file_size"]


def test_a_full_disk_in_step_2_fails_the_run_saying_so(store, config, pipeline_db, monkeypatch):
    task = _task(store, config)
    folder = Path(task.output_directory)
    real_write = files._write

    def write(handle, data):
        if (folder / "schema_metadata.json").exists():  # step 1 is done: the disk is full now
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(handle, data)

    monkeypatch.setattr(files, "_write", write)
    runtime = Runtime(config=config, db=pipeline_db, store=store, pipeline_dsn=pipeline_db.dsn)
    app = make_app(config)
    try:
        assert run_task(config, task.id, runtime=runtime) == 1
        _assert_told_the_truth(store, task, "qa_generation", "qa_generation_progress.json")
        assert not list(folder.glob("*_pair.json"))
        client = app.test_client()  # the service keeps answering about it
        detail = client.get(f"{API}/tasks/{task.id}")
        assert detail.status_code == 200 and detail.json["data"]["status"] == "failed"
        assert client.get(f"{API}/tasks/{task.id}/files").status_code == 200
    finally:
        app.extensions["data_pipeline"].close()


def test_a_full_disk_refuses_a_table_list_upload_with_507(client, monkeypatch):
    r = client.post(
        f"{API}/tasks",
        json={
            "start": False,
            "parameters": {"db_connection": "source:demo", "business_context": "服务区"},
        },
    )
    task_id = r.json["data"]["task_id"]
    monkeypatch.setattr(
        files, "_write", lambda handle, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full"))
    )
    r = client.post(f"{API}/tasks/{task_id}/table-list", json={"tables": ["service_area"]})
    assert r.status_code == 507 and r.json["error"]["type"] == "storage_full"
    assert "no space left on device while writing table_list.txt" in r.json["message"]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, where the machine lets the test mount one (root, and allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small filesystem needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_really_full_filesystem(small_disk, store, config, pipeline_db):
    config = config.with_overrides(data_root=small_disk / "data")
    task = _task(store, config)
    folder = Path(task.output_directory)
    folder.mkdir(parents=True)
    filler = small_disk / "filler"
    # Leave about 8 KiB free: step 1 cannot write its files.
    with open(filler, "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * (2 * 1024 * 1024 - 8 * 1024))
    runtime = Runtime(config=config, db=pipeline_db, store=store, pipeline_dsn=pipeline_db.dsn)
    assert run_task(config, task.id, runtime=runtime) == 1
    _assert_told_the_truth(store, task, "ddl_generation", ".")
