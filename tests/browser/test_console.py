"""The web console in headless Chromium against the real service and real executor processes.

One walk-through does what a person does on the demo source: create a task from the form,
watch it complete (timeline, live logs), download the pair file, run step 3 again, delete it.
Other tests cover the list (filters, pagination, narrow window), the form's error display
(400 next to the fields, 409 with a link to the running task, cancel), and token mode.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.api_support import wait_until
from tests.browser.conftest import ConsoleErrors, start_service
from tests.conftest import new_database
from tests.support import sample_dbs

pytestmark = pytest.mark.browser

CONTEXT_ZH = "高速公路服务区经营管理：服务区、档口、合同、每日营收与车流量统计"
NAME_ZH = "服务区营收 browser walk-through"


def api(service, method: str, path: str, token: str | None = None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, service.url(path), headers=headers, timeout=30, **kw)


def wait_for_status(service, task_id: str, statuses: set[str], timeout: float = 90) -> dict:
    def reached():
        task = api(service, "GET", f"/tasks/{task_id}").json()["data"]
        return task if task["status"] in statuses else None

    return wait_until(reached, timeout, interval=0.3, message=f"{task_id} to reach {statuses}")


def test_console_page_and_static_files(service):
    """``/`` is the console, its assets are served with the right types, nothing escapes."""
    index = requests.get(f"{service.base}/", timeout=10)
    assert index.status_code == 200
    assert index.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    assert '<script type="module" src="/console/static/js/app.js">' in index.text
    js = requests.get(f"{service.base}/console/static/js/app.js", timeout=10)
    assert js.status_code == 200
    assert "javascript" in js.headers["Content-Type"]
    css = requests.get(f"{service.base}/console/static/console.css", timeout=10)
    assert css.headers["Content-Type"].startswith("text/css")
    assert "Noto Sans CJK SC" in css.text
    for bad in ("/console/static/../__init__.py", "/console/static/%2e%2e/__init__.py"):
        assert requests.get(f"{service.base}{bad}", timeout=10).status_code == 404
    assert requests.get(f"{service.base}/favicon.ico", timeout=10).status_code == 200


def test_walk_through_create_watch_download_rerun_delete(service, page, tmp_path):
    page.goto(f"{service.base}/")
    expect(page.locator("#task-table")).to_be_visible()
    page.get_by_role("link", name="+ New task").click()
    expect(page).to_have_url(re.compile(r"#/new$"))

    # The form: the demo source's tables, picked with the filter + "select all shown".
    expect(page.locator("#db_connection")).to_have_value("source:demo")
    expect(page.locator(".table-item")).to_have_count(9)
    expect(page.locator('.table-item[data-table="service_area"]')).to_contain_text("服务区")
    page.fill("#table-search", "stall")
    expect(page.locator(".table-item")).to_have_count(2)
    page.check("#table-select-all")
    page.fill("#table-search", "")
    page.check('.table-item[data-table="service_area"] input')
    page.check('.table-item[data-table="daily_revenue"] input')
    expect(page.locator("#table-count")).to_have_text("4 of 9 selected")
    page.fill("#task_name", NAME_ZH)
    page.fill("#business_context", CONTEXT_ZH)
    page.click(".advanced summary")
    page.fill("#theme_count", "2")
    page.fill("#questions_per_theme", "4")
    page.click("#create-task")

    # The task page: live logs arrive while it runs, then the run completes.
    expect(page).to_have_url(re.compile(r"#/tasks/task_\d{8}_\d{6}"), timeout=15_000)
    task_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#task-title")).to_have_text(NAME_ZH)
    expect(page.locator(".log-line").first).to_be_visible(timeout=30_000)
    expect(page.locator("#task-header .badge")).to_have_text("completed", timeout=90_000)
    expect(page.locator("#task-progress")).to_have_text("100%")
    for step in ("ddl_generation", "qa_generation", "sql_validation", "training_load"):
        item = page.locator(f'.step[data-step="{step}"]')
        expect(item).to_have_attribute("data-status", "completed")
        expect(item.locator(".step-duration")).not_to_have_text("—")
        expect(item.locator(".step-times dd").first).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d "))
    logs = page.locator(".log-line")
    assert logs.count() > 5
    steps_seen = set(page.locator(".log-line").evaluate_all("ls => ls.map(l => l.dataset.step)"))
    assert {"ddl_generation", "qa_generation", "sql_validation", "training_load"} <= steps_seen
    expect(page.locator("#log-state")).to_have_text("run finished")

    # Log filters work on what arrived.
    page.select_option("#log-step", "qa_generation")
    shown = page.locator(".log-line").evaluate_all("ls => ls.map(l => l.dataset.step)")
    assert shown and set(shown) == {"qa_generation"}
    page.select_option("#log-step", "")
    page.select_option("#log-level", "WARNING")
    levels = set(page.locator(".log-line").evaluate_all("ls => ls.map(l => l.dataset.level)"))
    assert levels <= {"WARNING", "ERROR", "CRITICAL"}
    page.select_option("#log-level", "INFO")

    # The pair file: primary, downloadable, a JSON array of question/sql.
    pair_row = page.locator("#files-table tr.primary-file", has_text="_pair.json").first
    expect(pair_row).to_be_visible()
    with page.expect_download() as info:
        pair_row.get_by_role("link", name="Download").click()
    download = info.value
    assert re.fullmatch(r"qs_demo_business_\d{8}_\d{6}_pair\.json", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    pairs = json.loads(saved.read_text(encoding="utf-8"))
    assert isinstance(pairs, list) and pairs
    assert all(set(p) >= {"question", "sql"} for p in pairs)
    assert any(re.search(r"[\u4e00-\u9fff]", p["question"]) for p in pairs)

    # Run step 3 again: force is pre-ticked for a completed step; a new execution appears.
    # The log view is paused first: the new run's lines wait until it is resumed.
    page.click("#log-pause")
    lines_before = page.locator(".log-line").count()
    page.click("#btn-run-step")
    page.select_option("#run-step-select", "3")
    expect(page.locator("#run-force")).to_be_checked()
    page.locator("dialog.modal").get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#action-msg")).to_contain_text("Started")
    # Step 4 went back to pending, so the task is now partially completed.
    final = wait_for_status(service, task_id, {"completed", "partial_completed", "failed"}, 60)
    assert final["status"] == "partial_completed", final["error_message"]
    expect(page.locator("#task-header .badge")).to_have_text("partial", timeout=15_000)
    expect(page.locator('.step[data-step="sql_validation"]')).to_have_attribute(
        "data-status", "completed"
    )
    expect(page.locator('.step[data-step="training_load"]')).to_have_attribute(
        "data-status", "pending"
    )
    expect(page.locator("#log-pause")).to_have_text(re.compile(r"Resume \(\d+ new\)"))
    assert page.locator(".log-line").count() == lines_before
    page.click("#log-pause")
    expect(page.locator(".log-line")).not_to_have_count(lines_before)
    ids = page.locator(".log-line").evaluate_all("ls => ls.map(l => Number(l.dataset.id))")
    assert len(ids) == len(set(ids)) and ids == sorted(ids)  # resumed, nothing twice
    executions = api(service, "GET", f"/tasks/{task_id}/executions").json()["data"]["executions"]
    reruns = [e for e in executions if e["step"] == "sql_validation"]
    assert len(reruns) == 2 and all(e["status"] == "completed" for e in reruns)
    assert reruns[-1]["force_executed"]
    runs = api(service, "GET", f"/tasks/{task_id}/runs").json()["data"]["runs"]
    page.click(".runs summary")
    expect(page.locator("#runs-table tbody tr")).to_have_count(len(runs))
    assert len(runs) == 2

    # Delete with purge (in the danger zone): the vectors go only once the id is typed.
    page.click("#btn-delete")
    page.check("#delete-purge")
    delete = page.locator("dialog.modal").get_by_role("button", name="Delete task")
    delete.click()
    expect(page.locator("#delete-confirm-error")).to_contain_text("does not match")
    page.fill("#delete-confirm", task_id)
    delete.click()
    expect(page).to_have_url(re.compile(r"#/tasks$"))
    expect(page.locator(".toast", has_text="deleted")).to_be_visible()
    expect(page.locator(f'tr[data-task-id="{task_id}"]')).to_have_count(0)
    assert api(service, "GET", f"/tasks/{task_id}").status_code == 404

    assert page.errors.unexpected() == []


def test_form_errors_queue_and_cancel(service, page):
    """400 details appear next to their fields; a task created while the only slot is busy
    waits in the queue (its place shown) and can be cancelled; cancel stops a run."""
    page.goto(f"{service.base}/#/new")
    expect(page.locator(".table-item")).to_have_count(9)
    page.click("#create-task")  # no table, no business context
    expect(page.locator("#form-alert .alert-error")).to_be_visible()
    expect(page.locator("#err-business_context")).to_contain_text("required")
    expect(page.locator('[data-field="business_context"]')).to_have_class(re.compile("has-error"))

    page.click("#tab-paste")
    page.fill("#table-paste", "service_area\n# comment\nbad name!\n")
    page.fill("#business_context", "English context: service areas")
    page.click("#create-task")
    expect(page.locator("#err-table_list")).to_contain_text("line 3")
    expect(page.locator("#err-business_context")).to_be_empty()

    # A long run keeps the only slot busy: a task created from the form waits its turn.
    body = {
        "task_name": "long run",
        "parameters": {
            "db_connection": "source:demo",
            "table_list": ["service_area", "stall", "daily_revenue", "vehicle_flow"],
            "business_context": "Highway service areas",
            "theme_count": 20,
            "questions_per_theme": 50,
        },
    }
    created = api(service, "POST", "/tasks", json=body)
    assert created.status_code == 201, created.text
    running_id = created.json()["data"]["task_id"]

    # A second tab shows the list; it keeps itself up to date while the task runs.
    board = page.context.new_page()
    board_errors = ConsoleErrors(board)
    board.goto(f"{service.base}/#/tasks")
    board_row = board.locator(f'tr[data-task-id="{running_id}"]')
    expect(board_row.locator(".badge")).to_have_text("running")
    expect(board.locator(".live-note")).to_contain_text("live")

    page.fill("#table-paste", "service_area")
    page.click("#create-task")
    expect(page).to_have_url(re.compile(r"#/tasks/task_\d{8}_\d{6}"), timeout=15_000)
    queued_id = page.url.rsplit("/", 1)[1]
    assert queued_id != running_id
    expect(page.locator("#task-header .badge")).to_have_text("queued #1")
    expect(page.locator("#task-where")).to_contain_text("#1 in the queue")
    expect(board.locator(f'tr[data-task-id="{queued_id}"] .badge')).to_have_text("queued #1")
    page.click("#btn-cancel")
    page.locator("dialog.modal").get_by_role("button", name="Cancel run").click()
    expect(page.locator("#task-header .badge")).to_have_text("cancelled", timeout=10_000)
    assert api(service, "GET", f"/tasks/{queued_id}").json()["data"]["started_at"] is None

    page.goto(f"{service.base}/#/tasks/{running_id}")
    expect(page.locator("#task-header .badge")).to_have_text("running")

    page.click("#btn-cancel")
    page.locator("dialog.modal").get_by_role("button", name="Cancel run").click()
    expect(page.locator("#task-header .badge")).to_have_text("cancelled", timeout=20_000)
    final = wait_for_status(service, running_id, {"cancelled"}, timeout=5)
    assert final["status"] == "cancelled"
    expect(board_row.locator(".badge")).to_have_text("cancelled", timeout=10_000)
    expect(board.locator(".live-note")).to_have_text("")
    assert page.errors.unexpected(400, 409) == []
    assert board_errors.unexpected() == []


def test_list_filters_pagination_and_narrow_window(service, page):
    """Pending tasks (created without starting) fill two pages; filters and a phone width."""
    ids = []
    for i in range(23):
        name = f"批量任务 {i:02d}" if i % 2 else f"batch task {i:02d}"
        body = {
            "task_name": name,
            "start": False,
            "parameters": {
                "db_connection": "source:demo",
                "table_list": ["service_area"],
                "business_context": "分页测试 pagination",
            },
        }
        res = api(service, "POST", "/tasks", json=body)
        assert res.status_code == 201, res.text
        ids.append(res.json()["data"]["task_id"])
    total = api(service, "GET", "/tasks", params={"limit": 1}).json()["data"]["total"]

    page.goto(f"{service.base}/#/tasks")
    expect(page.locator("tr.task-row")).to_have_count(20)
    expect(page.locator(".pager")).to_contain_text(f"1–20 of {total}")
    page.get_by_role("button", name="Next ›").click()
    expect(page.locator("tr.task-row")).to_have_count(total - 20)
    expect(page).to_have_url(re.compile(r"page=2"))

    page.select_option("#filter-status", "pending")
    expect(page.locator(".pager")).to_contain_text("1–20 of 23")
    page.fill("#filter-q", "批量任务")
    expect(page.locator("tr.task-row")).to_have_count(11)
    expect(page.locator("tr.task-row").first).to_contain_text("批量任务")
    page.select_option("#filter-status", "completed")
    expect(page.locator(".empty-row")).to_contain_text("No task matches")

    # Reloading keeps the filters (they live in the address).
    page.select_option("#filter-status", "pending")
    page.reload()
    expect(page.locator("#filter-q")).to_have_value("批量任务")
    expect(page.locator("tr.task-row")).to_have_count(11)

    # Narrow window: no horizontal scrolling, rows become cards.
    page.set_viewport_size({"width": 390, "height": 800})
    expect(page.locator("tr.task-row").first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.locator("tr.task-row").first.locator("a.task-link").click()
    expect(page.locator("#task-header .badge")).to_have_text("pending")
    expect(page.locator(".step")).to_have_count(4)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.goto(f"{service.base}/#/new")
    expect(page.locator(".table-item")).to_have_count(9)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0

    for task_id in ids:
        assert api(service, "DELETE", f"/tasks/{task_id}").status_code == 200
    assert page.errors.unexpected() == []


def test_token_mode_asks_once_per_tab(pg_admin_dsn, template_db, demo_dsn, browser_home, context):
    token = "s3cret-token-42"
    svc = start_service(
        pg_admin_dsn, template_db, demo_dsn, browser_home, "token",
        DATA_PIPELINE_API_TOKEN=token,
    )  # fmt: skip
    try:
        assert requests.get(svc.url("/tasks"), timeout=10).status_code == 401
        page = context.new_page()
        errors = ConsoleErrors(page)
        page.goto(f"{svc.base}/#/tasks")
        dialog = page.locator("dialog.modal")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Cancel").click()  # dismissed: not asked again...
        expect(page.locator(".alert-error")).to_contain_text("authentication required")
        page.get_by_role("button", name="Refresh").click()
        expect(dialog).to_have_count(0)
        page.get_by_role("button", name="Enter API token").click()  # ...until asked for
        page.fill("#token-input", "wrong")
        page.get_by_role("button", name="Use token").click()
        expect(dialog).to_contain_text("refused")
        page.fill("#token-input", token)
        page.get_by_role("button", name="Use token").click()
        expect(dialog).to_have_count(0)
        expect(page.locator(".empty-row")).to_contain_text("No tasks yet")
        expect(page.get_by_role("link", name="Create the first task")).to_be_visible()

        page.goto(f"{svc.base}/#/new")
        expect(page.locator(".table-item")).to_have_count(9)
        page.goto(f"{svc.base}/#/tasks")
        page.reload()
        expect(page.locator(".empty-row")).to_be_visible()
        expect(page.locator("dialog.modal")).to_have_count(0)
        stored = page.evaluate("sessionStorage.getItem('dataPipeline.apiToken')")
        assert stored == token

        # The log stream cannot send headers: it carries ?access_token=. Downloads do not:
        # their links are plain addresses, fetched with the Authorization header.
        body = {
            "parameters": {
                "db_connection": "source:demo",
                "table_list": ["vehicle_flow"],
                "business_context": "车流量 vehicle flow",
                "execution_mode": "single",
                "single_step": 1,
            }
        }
        created = api(svc, "POST", "/tasks", token=token, json=body)
        assert created.status_code == 201, created.text
        task_id = created.json()["data"]["task_id"]
        page.goto(f"{svc.base}/#/tasks/{task_id}")
        expect(page.locator("#task-header .badge")).to_have_text("partial", timeout=30_000)
        expect(page.locator("#log-state")).to_have_text("run finished")
        assert page.locator(".log-line").count() > 0
        row = page.locator('#files-table tr[data-file="vehicle_flow.ddl"]')
        link = row.locator("a.download")
        assert "access_token" not in link.get_attribute("href")
        assert "access_token" not in page.locator("#log-download").get_attribute("href")
        with page.expect_download() as info:
            link.click()
        path = info.value.path()
        assert "CREATE TABLE" in path.read_text(encoding="utf-8")
        row.get_by_role("button", name="View").click()
        expect(page.locator("#file-view")).to_contain_text("CREATE TABLE")
        page.locator("dialog.modal").get_by_role("button", name="Close").click()
        expect(page.locator("dialog.modal")).to_have_count(0)
        assert errors.unexpected(401) == []
    finally:
        svc.stop()


def test_task_page_lists_inferred_relationships(
    pg_admin_dsn, template_db, demo_dsn, browser_home, page
):
    """Step 1 on a source that declares no key: the task page lists what it inferred."""
    loose = new_database(pg_admin_dsn)
    sample_dbs.build_loose(loose)
    svc = start_service(
        pg_admin_dsn, template_db, demo_dsn, browser_home, "loose", SOURCE_LOOSE_URL=loose
    )
    try:
        body = {
            "task_name": "loose keys",
            "start": False,
            "parameters": {
                "db_connection": "source:loose",
                "table_list": sample_dbs.LOOSE_TABLES,
                "business_context": "Orders, invoices, flights and stores",
            },
        }
        task_id = api(svc, "POST", "/tasks", json=body).json()["data"]["task_id"]
        res = api(svc, "POST", f"/tasks/{task_id}/execute", json={"step_name": "ddl_generation"})
        assert res.status_code == 202, res.text
        wait_for_status(svc, task_id, {"partial_completed", "failed"}, 60)
        page.goto(f"{svc.base}/#/tasks/{task_id}")
        block = page.locator('.step[data-step="ddl_generation"] details.relationships')
        expect(block.locator("summary")).to_contain_text(
            f"{len(sample_dbs.LOOSE_RELATIONSHIPS)} relationships inferred"
        )
        block.locator("summary").click()
        expect(block.locator("li.relationship")).to_have_count(len(sample_dbs.LOOSE_RELATIONSHIPS))
        expect(block).to_contain_text("public.orders.user_id → public.users.id")
        expect(block).to_contain_text("100% of 200 values match · table_id")
        assert page.errors.unexpected() == []
    finally:
        svc.stop()
