"""Benchmark of the task queue: many short tasks through two workers.

Made here: a pipeline database and a tiny business database (one table), on an embedded
PostgreSQL in a temporary folder (or on ``--dsn``'s server).

* **ours**: an API node without a worker (``citu_app.py --no-worker``) and two workers
  (``python -m data_pipeline.worker --concurrency 2``), ``MAX_CONCURRENT_TASKS=4``; ``--tasks``
  tasks (step 1 on one table, each its own executor process) are created through the API by
  four clients that each create the next task when their last one ended (the queue never holds
  more than the slots: what is measured is dispatch, not waiting for a slot).
* **baseline**: the same API and tasks, taken by a naive home-made dispatcher in place of the
  workers: two threads that poll the task table every second for queued tasks, claim one and
  start its executor (what a queue without notifications does).

Reported: tasks per minute, the dispatch latency (from the task's creation to its run
starting, both database timestamps), p50 and p99, and tasks lost (not finished) or run twice
(more than one step-1 execution). Goal: dispatch p99 <= 1 s, none lost, none run twice.

Usage: ``python benchmarks/bench_queue.py [--dsn ADMIN_DSN] [--tasks 200]
[--baseline-tasks 40]``. Ends with one line ``SUMMARY {json}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg2
import requests

from app_config import PROJECT_ROOT, Config
from core.db import Database
from core.demo_db import dsn_with_database
from core.embedded_pg import scratch_server
from core.migrations import apply_migrations, ensure_queue_schema
from data_pipeline.runs.launcher import Launcher
from data_pipeline.tasks.models import TaskStatus
from data_pipeline.tasks.store import TaskStore

API = "/api/v0/data_pipeline"
CLIENTS = 4
LIMIT = 4
SOURCE_SQL = """
CREATE TABLE IF NOT EXISTS station (id int PRIMARY KEY, name text NOT NULL, city text);
INSERT INTO station SELECT i, '站点 ' || i, (ARRAY['北京', '上海'])[1 + i % 2]
FROM generate_series(1, 20) i ON CONFLICT DO NOTHING;
"""


def _recreate(admin: str, name: str) -> str:
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return dsn_with_database(admin, name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not Config.is_setting_variable(k)}
    env.update(
        {
            "LC_ALL": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        }
    )
    env.update(extra)
    return env


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _feed(base: str, n: int, tag: str) -> tuple[list[str], float]:
    """``n`` tasks created by CLIENTS closed-loop clients; (ids, wall seconds)."""
    ids: list[str] = []
    lock = threading.Lock()
    counter = iter(range(n))
    body = {
        "task_name": f"bench {tag}",
        "parameters": {"db_connection": "source:bench", "table_list": ["station"],
                       "business_context": "站点 benchmark", "execution_mode": "single",
                       "single_step": 1},
    }  # fmt: skip

    def client() -> None:
        http = requests.Session()
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            r = http.post(f"{base}{API}/tasks", json=body, timeout=60)
            r.raise_for_status()
            task_id = r.json()["data"]["task_id"]
            with lock:
                ids.append(task_id)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                status = http.get(f"{base}{API}/tasks/{task_id}", timeout=30).json()["data"]
                if status["status"] not in ("queued", "running", "pending"):
                    break
                time.sleep(0.05)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids, time.monotonic() - started


def _measure(pipeline: str, ids: list[str], wall: float) -> dict:
    conn = psycopg2.connect(pipeline)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT t.id, t.status, EXTRACT(EPOCH FROM t.started_at - t.created_at),"
            " (SELECT count(*) FROM data_pipeline_task_executions e"
            "   WHERE e.task_id = t.id AND e.execution_step = 'ddl_generation')"
            " FROM data_pipeline_tasks t WHERE t.id = ANY(%s)",
            (ids,),
        )
        rows = cur.fetchall()
    conn.close()
    latencies = sorted(float(r[2]) for r in rows if r[2] is not None)
    lost = [r[0] for r in rows if r[1] != TaskStatus.PARTIAL_COMPLETED.value]
    twice = [r[0] for r in rows if r[3] != 1]
    p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)]
    return {
        "tasks": len(ids),
        "tasks_per_minute": round(60 * len(ids) / wall, 1),
        "dispatch_p50_s": round(statistics.median(latencies), 3),
        "dispatch_p99_s": round(p99, 3),
        "dispatch_max_s": round(latencies[-1], 3),
        "lost": len(lost),
        "run_twice": len(twice),
    }


class NaiveDispatcher:
    """The baseline: threads polling the task table every second, one executor each."""

    def __init__(self, pipeline: str, data_root: Path, source: str, threads: int = 2):
        self.config = Config(
            pipeline_database_url=pipeline, data_root=data_root, data_sources={"bench": source},
            load_demo_source=False, max_concurrent_tasks=LIMIT,
        )  # fmt: skip
        self.db = Database(pipeline, maxconn=8)
        self.store = TaskStore(self.db)
        self.launcher = Launcher(self.config, self.store)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.stop.wait(1.0)  # a poll a second
            queued, _ = self.store.list_tasks(status="queued", sort="created_at", order="asc")
            for task in queued:
                outcome, claimed = self.store.claim_queued_run(
                    task.id, worker="naive", host=socket.gethostname(), max_running=LIMIT
                )
                if outcome != "claimed":
                    continue
                folder = self.config.data_root / task.id
                pid = self.launcher.spawn(claimed, folder, execution_mode="single",
                                          step_name="ddl_generation")  # fmt: skip
                while not self.launcher.wait_child(pid, 0.2):
                    pass
                break

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)
        self.db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="admin DSN of a PostgreSQL server with pgvector")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--baseline-tasks", type=int, default=40)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    with scratch_server(args.dsn, prefix="bench-queue-pg-") as scratch:
        pipeline = _recreate(scratch.dsn, "bench_queue")
        source = _recreate(scratch.dsn, "bench_queue_src")
        conn = psycopg2.connect(source)
        with conn, conn.cursor() as cur:
            cur.execute(SOURCE_SQL)
        conn.close()
        db = Database(pipeline)
        apply_migrations(db)
        ensure_queue_schema(db)
        db.close()
        common = {
            "PIPELINE_DATABASE_URL": pipeline, "SOURCE_BENCH_URL": source,
            "LOAD_DEMO_SOURCE": "false", "MAX_CONCURRENT_TASKS": str(LIMIT),
            "SERVER_LOG_FILE": str(home / "server.log"),
        }  # fmt: skip
        port = _free_port()
        api = _start(
            [sys.executable, "citu_app.py", "--no-worker", "--port", str(port)],
            _env({**common, "DATA_PIPELINE_ROOT": str(home / "api")}), home / "api.log",
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}{API}/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        try:
            workers = [
                _start([sys.executable, "-m", "data_pipeline.worker", "--name", f"bench-w{i}",
                        "--concurrency", "2"],
                       _env({**common, "DATA_PIPELINE_ROOT": str(home / f"w{i}")}),
                       home / f"w{i}.log")
                for i in (1, 2)
            ]  # fmt: skip
            time.sleep(3)  # both workers listening
            ids, wall = _feed(base, args.tasks, "ours")
            ours = _measure(pipeline, ids, wall)
            for w in workers:
                _stop(w)
            print(f"ours: {json.dumps(ours)}", flush=True)
            naive = NaiveDispatcher(pipeline, home / "naive", source)
            naive.start()
            try:
                ids, wall = _feed(base, args.baseline_tasks, "baseline")
            finally:
                naive.close()
            baseline = _measure(pipeline, ids, wall)
            print(f"baseline: {json.dumps(baseline)}", flush=True)
        finally:
            _stop(api)
    summary = {
        "workers": 2,
        "limit": LIMIT,
        "ours": ours,
        "baseline": baseline,
        "dispatch_p50_ratio": round(
            baseline["dispatch_p50_s"] / max(ours["dispatch_p50_s"], 1e-3), 1
        ),
        "goal_met": ours["dispatch_p99_s"] <= 1.0 and ours["lost"] == 0 and ours["run_twice"] == 0,
    }
    print("SUMMARY " + json.dumps(summary))
    return 0 if summary["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
