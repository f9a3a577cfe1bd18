"""Screenshots of the web console for the README (docs/console-*.png).

Uses the browser set-up of the browser tests (Playwright + the system Chromium). Against a
running service (``--base-url``, default http://127.0.0.1:8084), or, with ``--start-server``,
against a service of its own on a temporary embedded database with the demo source.
When the service has no finished task yet, it creates a few on the demo source first (and
reviews the pairs of one: approves the valid ones, breaks one).

    .venv/bin/python scripts/screenshots.py --start-server
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]
API = "/api/v0/data_pipeline"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONTEXT = "高速公路服务区经营管理：服务区、档口、经营合同、每日营收与进场车流量"
TABLES = ["service_area", "stall", "stall_contract", "daily_revenue", "vehicle_flow",
          "business_type", "operating_company", "highway_route", "employee"]  # fmt: skip


class Client:
    def __init__(self, base: str, token: str | None):
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, **kw) -> dict:
        res = requests.request(
            method, f"{self.base}{API}{path}", headers=self.headers, timeout=60, **kw
        )
        body = res.json()
        if not body.get("success"):
            raise RuntimeError(f"{method} {path}: {res.status_code} {body.get('message')}")
        return body["data"]

    def wait(self, task_id: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.call("GET", f"/tasks/{task_id}")
            if task["status"] not in ("running", "pending", "queued"):
                return task
            time.sleep(0.5)
        raise TimeoutError(f"{task_id} still running after {timeout} s")


def seed(client: Client) -> str:
    """A finished task to show (and a little variety in the list); returns its id."""
    done = client.call("GET", "/tasks", params={"status": "completed", "limit": 1})["items"]
    if done:
        return done[0]["id"]
    try:
        failed = client.call("POST", "/tasks", json={
            "task_name": "Missing table (expected to fail)",
            "parameters": {"db_connection": "source:demo", "table_list": ["no_such_table"],
                           "business_context": "Highway service areas"},
        })  # fmt: skip
        client.wait(failed["task_id"])
    except RuntimeError:
        pass  # the API may refuse a missing table up front (its source check)
    single = client.call("POST", "/tasks", json={
        "task_name": "车流量 DDL only",
        "parameters": {"db_connection": "source:demo", "table_list": ["vehicle_flow"],
                       "business_context": CONTEXT, "execution_mode": "single",
                       "single_step": 1},
    })  # fmt: skip
    client.wait(single["task_id"])
    main = client.call("POST", "/tasks", json={
        "task_name": "服务区经营分析 training data",
        "parameters": {"db_connection": "source:demo", "table_list": TABLES,
                       "business_context": CONTEXT},
    })  # fmt: skip
    client.wait(main["task_id"])
    curate(client, main["task_id"])
    client.call("POST", "/tasks", json={
        "task_name": "Revenue tables (not started)", "start": False,
        "parameters": {"db_connection": "source:demo",
                       "table_list": ["daily_revenue", "stall"],
                       "business_context": "Daily revenue of stalls"},
    })  # fmt: skip
    return main["task_id"]


def curate(client: Client, task_id: str) -> None:
    """What a reviewer does (for the pairs page): approve the valid pairs, break one pair's
    SQL (it shows as invalid with its error). The store keeps what the task's run loaded."""
    pairs = client.call("GET", f"/tasks/{task_id}/pairs")["pairs"]
    client.call("POST", f"/tasks/{task_id}/pairs/approve", json={"all_valid": True})
    if len(pairs) > 1:
        broken = pairs[1]["sql"].replace("SELECT", "SELECT no_such_column,", 1)
        client.call("PATCH", f"/tasks/{task_id}/pairs/{pairs[1]['id']}", json={"sql": broken})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "EMBEDDED_PG_DIR": str(home / "pgdata"),
        "DATA_PIPELINE_ROOT": str(home / "tasks"),
    }
    for var in ("PIPELINE_DATABASE_URL", "DATA_PIPELINE_API_TOKEN", "LLM_BASE_URL"):
        env.pop(var, None)
    log = open(home / "service.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "citu_app.py"), "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited: see {home / 'service.log'}")
        try:
            if requests.get(f"{base}{API}/ready", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise TimeoutError("service did not become ready")


def shoot(base: str, token: str | None, task_id: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    chromium = next((p for p in CHROMIUM if Path(p).exists()), shutil.which("chromium"))
    if not chromium:
        raise SystemExit("Chromium is not installed (scripts/ensure-browser.sh)")
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1360, "height": 860})
        if token:
            ctx.add_init_script(f"sessionStorage.setItem('dataPipeline.apiToken', {token!r})")
        page = ctx.new_page()

        page.goto(f"{base}/#/tasks")
        page.wait_for_selector("tr.task-row")
        page.wait_for_timeout(300)
        shots.append(out / "console-list.png")
        page.screenshot(path=shots[-1])

        page.goto(f"{base}/#/new")
        page.wait_for_selector(".table-item")
        page.fill("#task_name", "服务区营收分析 — revenue questions")
        for name in ("service_area", "stall", "daily_revenue"):
            page.check(f'.table-item[data-table="{name}"] input')
        page.fill("#business_context", CONTEXT)
        shots.append(out / "console-new-task.png")
        page.screenshot(path=shots[-1], full_page=True)

        page.goto(f"{base}/#/tasks/{task_id}")
        page.wait_for_selector("#log-state:has-text('run finished')")
        page.wait_for_selector("#files-table tbody tr.primary-file")
        page.wait_for_timeout(300)
        shots.append(out / "console-task.png")
        page.screenshot(path=shots[-1], full_page=True)

        # The pairs of the task (the first screenful, one pair run), then the store.
        page.set_viewport_size({"width": 1360, "height": 1240})
        page.goto(f"{base}/#/tasks/{task_id}/pairs")
        card = page.locator("article.pair").first
        card.locator('[data-action="run"]').click()
        page.wait_for_selector("article.pair .result-table")
        question = card.locator(".pair-question").inner_text()
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        shots.append(out / "console-pairs.png")
        page.screenshot(path=shots[-1])

        page.set_viewport_size({"width": 1360, "height": 1500})
        page.goto(f"{base}/#/store")
        page.wait_for_selector("#store-dbs tbody tr[data-db]")
        page.fill("#store-search-q", question)
        page.select_option("#store-search-k", "5")
        page.click("#store-search-btn")
        page.wait_for_selector("#store-hits .hit")
        page.wait_for_selector("#docs-table tbody tr[data-doc-id]")
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        shots.append(out / "console-store.png")
        page.screenshot(path=shots[-1])
        browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8084")
    parser.add_argument("--token", default=os.environ.get("DATA_PIPELINE_API_TOKEN"))
    parser.add_argument(
        "--start-server",
        action="store_true",
        help="run a service of its own on a temporary embedded database",
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs")
    args = parser.parse_args(argv)
    proc, home = None, None
    base, token = args.base_url, args.token
    try:
        if args.start_server:
            home = Path(tempfile.mkdtemp(prefix="dp-shots-"))
            # The embedded PostgreSQL runs as another user when started as root.
            os.chmod(home, 0o755)  # noqa: S103
            proc, base = start_server(home)
            token = None
        client = Client(base, token)
        task_id = seed(client)
        for path in shoot(base, token, task_id, args.out):
            print(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path)
    finally:
        if proc is not None:
            proc.terminate()  # waitress + embedded PostgreSQL: stop the server below
            proc.wait(30)
        if home is not None:
            from core.embedded_pg import stop_embedded

            stop_embedded(home / "pgdata")
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    sys.exit(main())
