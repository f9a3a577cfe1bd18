"""The task page (issue #14): run history, warnings, parameters and clone, resume, an outage of
the server, text outputs read in the page, and a log stream refused with 401.

Real service and executors; the outage and the refused stream are simulated in the browser
(requests aborted or answered 401), which is what the page sees when the server goes away.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.api_support import wait_until
from tests.browser.test_console import api, wait_for_status

pytestmark = pytest.mark.browser

TABLES = ["service_area", "stall", "daily_revenue"]
BROKEN_SQL = "SELECT area_name, no_such_column FROM service_area"


def run_and_wait(service, task_id: str, body: dict) -> dict:
    res = api(service, "POST", f"/tasks/{task_id}/execute", json=body)
    assert res.status_code == 202, res.text
    return wait_for_status(service, task_id, {"completed", "partial_completed", "failed"}, 90)


def test_runs_warnings_parameters_clone_and_viewer(service, page):
    """Two runs: all four steps, then step 3 again after a broken pair was added. The page
    shows the latest run, warns about the invalid SQL, keeps step 4's old figures out of the
    timeline (step 4 is pending now) but shows them in run 1; the parameters, a clone of the
    task, and a text output read in the page (cut at 200 KB)."""
    body = {
        "task_name": "history 服务区",
        "parameters": {
            "db_connection": "source:demo",
            "table_list": TABLES,
            "business_context": "高速公路服务区经营：服务区、档口、每日营收",
            "theme_count": 2,
            "questions_per_theme": 3,
            "enable_llm_repair": False,
        },
    }
    created = api(service, "POST", "/tasks", json=body)
    assert created.status_code == 201, created.text
    task_id = created.json()["data"]["task_id"]
    first = wait_for_status(service, task_id, {"completed", "partial_completed", "failed"}, 90)
    assert first["status"] == "completed", first["error_message"]
    added = api(service, "POST", f"/tasks/{task_id}/pairs",
                json={"question": "坏的查询 broken", "sql": BROKEN_SQL})  # fmt: skip
    assert added.status_code == 201, added.text
    second = run_and_wait(service, task_id, {"single_step": 3, "force": True})
    assert second["status"] == "partial_completed"
    assert any("stayed invalid" in w for w in second["result"]["warnings"])

    page.goto(f"{service.base}/#/tasks/{task_id}")
    expect(page.locator("#task-header .badge").first).to_have_text("partial")
    warnings = page.locator("#task-warnings")
    expect(warnings).to_have_class(re.compile("alert-warn"))
    expect(warnings.locator("li")).to_contain_text("stayed invalid")
    expect(page.locator("#latest-run")).to_contain_text("Run #2")
    expect(page.locator("#latest-run")).to_contain_text("step 3 only, force")

    # Step 4 is pending: no figures of run 1 beside it; step 3 shows this run's.
    load = page.locator('.step[data-step="training_load"]')
    expect(load).to_have_attribute("data-status", "pending")
    expect(load.locator(".step-duration")).to_have_text("—")
    expect(load.locator(".step-stats")).to_have_count(0)
    expect(page.locator('.step[data-step="sql_validation"] .step-stats')).to_contain_text(
        "1 invalid"
    )

    # Earlier runs: the list, then run 1 with its four steps and step 4's figures.
    page.click("#runs summary")
    expect(page.locator("#runs-table tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Open run 1").click()
    panel = page.locator(".run-panel")
    expect(panel.locator("h3")).to_contain_text("Run #1")
    expect(panel).to_contain_text("all steps")
    expect(panel.locator("tr[data-step]")).to_have_count(4)
    expect(panel.locator('tr[data-step="training_load"]')).to_contain_text("inserted")
    expect(panel.locator(".warnings")).to_have_count(0)
    page.get_by_role("button", name="Open run 2").click()
    expect(panel.locator("h3")).to_contain_text("Run #2 (latest)")
    expect(panel.locator(".warnings")).to_contain_text("stayed invalid")

    # Parameters as the API gives them.
    params = page.locator("#params-panel")
    expect(params.locator('[data-param="enable_llm_repair"] dd')).to_have_text("false")
    expect(params.locator('[data-param="table_list"] dd')).to_contain_text("public.daily_revenue")

    # A text output read in the page; a big one is cut at 200 KB with a note.
    ddl = page.locator('#files-table tr[data-file="stall.ddl"]')
    ddl.get_by_role("button", name="View").click()
    dialog = page.locator("dialog.modal")
    expect(dialog.locator("#file-view")).to_contain_text("CREATE TABLE")
    expect(dialog.get_by_role("link", name="Download")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    big = "服务区 line\n" * 30000  # ~450 KB of UTF-8
    page.route("**/files/download/metadata.txt", lambda route: route.fulfill(
        status=200, body=big.encode(), headers={"Content-Type": "text/plain; charset=utf-8"}))  # fmt: skip
    page.locator('#files-table tr[data-file="metadata.txt"]').get_by_role(
        "button", name="View"
    ).click()
    expect(dialog.locator("#file-view-note")).to_contain_text("Showing the first 200 KiB of")
    shown = dialog.locator("#file-view").text_content()
    assert shown.startswith("服务区 line") and len(shown.encode()) <= 200 * 1024
    dialog.get_by_role("button", name="Close").click()

    # Clone: the form comes prefilled with the task's parameters.
    page.click("#btn-clone")
    expect(page).to_have_url(re.compile(rf"#/new\?from={task_id}$"))
    expect(page.locator("#clone-note")).to_contain_text(f"Copied from {task_id}")
    expect(page.locator("#table-paste")).to_have_value("\n".join(TABLES))
    expect(page.locator("#business_context")).to_have_value(body["parameters"]["business_context"])
    expect(page.locator("#theme_count")).to_have_value("2")
    expect(page.locator("#opt-enable_llm_repair")).not_to_be_checked()
    expect(page.locator("#opt-enable_sql_validation")).to_be_checked()
    assert page.errors.unexpected() == []


def test_single_steps_offered_only_where_they_can_run(service, page):
    """A new task never run: only step 1 (or all steps) is offered; the dialog says why."""
    body = {"start": False, "parameters": {"db_connection": "source:demo",
            "table_list": ["stall"], "business_context": "档口"}}  # fmt: skip
    task_id = api(service, "POST", "/tasks", json=body).json()["data"]["task_id"]
    page.goto(f"{service.base}/#/tasks/{task_id}")
    expect(page.locator("#task-header .badge").first).to_have_text("pending")
    expect(page.locator("#btn-resume")).to_have_count(0)
    page.click("#btn-run-step")
    values = page.locator("#run-step-select option").evaluate_all("os => os.map(o => o.value)")
    assert values == ["1", "all"]
    expect(page.locator("#run-blocked")).to_contain_text("2, 3, 4 cannot run alone")
    page.locator("dialog.modal").get_by_role("button", name="Cancel").click()
    assert api(service, "DELETE", f"/tasks/{task_id}").status_code == 200


def test_outage_banner_then_cancel_and_resume_from_the_stopped_step(service, page):
    """While the server does not answer: a banner, actions disabled, progress shown as last
    known. Back: cancel the run; the cancelled task offers "Run from step 2 to the end"."""
    body = {
        "task_name": "long run to resume",
        "parameters": {
            "db_connection": "source:demo",
            "table_list": ["service_area", "stall", "daily_revenue", "vehicle_flow"],
            "business_context": "Highway service areas",
            "theme_count": 20,
            "questions_per_theme": 50,
        },
    }
    task_id = api(service, "POST", "/tasks", json=body).json()["data"]["task_id"]
    try:
        wait_until(
            lambda: api(service, "GET", f"/tasks/{task_id}").json()["data"]["current_step"]
            == "qa_generation",
            60, interval=0.2, message="step 2 to start",
        )  # fmt: skip
        page.goto(f"{service.base}/#/tasks/{task_id}")
        expect(page.locator("#task-header .badge").first).to_have_text("running")
        expect(page.locator("#btn-cancel")).to_be_enabled()
        # The header is redrawn as the run goes on; keyboard focus in it stays where it was.
        page.locator("#btn-clone").focus()
        progress = page.locator("#task-progress").text_content()
        expect(page.locator("#task-progress")).not_to_have_text(progress, timeout=15_000)
        expect(page.locator("#btn-clone")).to_be_focused()

        page.route("**/api/v0/data_pipeline/**", lambda route: route.abort())
        banner = page.locator("#server-banner")
        expect(banner).to_have_text("The server is not reachable — retrying…", timeout=15_000)
        expect(page.locator("#btn-cancel")).to_be_disabled()
        expect(page.locator("#btn-delete")).to_be_disabled()
        expect(page.locator("#task-where")).to_contain_text("last known state")
        expect(page.locator("#task-header")).to_have_class(re.compile("stale"))
        # The banner sits below the sticky bar, not under it.
        top = page.evaluate("document.getElementById('server-banner').getBoundingClientRect().top")
        assert (
            top
            >= page.evaluate("document.querySelector('.topbar').getBoundingClientRect().bottom") - 1
        )

        page.unroute("**/api/v0/data_pipeline/**")
        expect(banner).to_be_hidden(timeout=10_000)
        expect(page.locator("#btn-cancel")).to_be_enabled()
        expect(page.locator("#task-where")).not_to_contain_text("last known")

        page.click("#btn-cancel")
        page.locator("dialog.modal").get_by_role("button", name="Cancel run").click()
        expect(page.locator("#task-header .badge").first).to_have_text("cancelled", timeout=20_000)
        task = api(service, "GET", f"/tasks/{task_id}").json()["data"]
        assert task["step_status"]["ddl_generation"] == "completed"

        # The menu offers the resume and the steps that can run alone (1 and 2, not 3 or 4).
        page.click("#btn-run-step")
        values = page.locator("#run-step-select option").evaluate_all("os => os.map(o => o.value)")
        assert values == ["from-2", "1", "2", "all"]
        expect(page.locator("#run-step-select")).to_have_value("from-2")
        page.locator("dialog.modal").get_by_role("button", name="Cancel").click()

        resume = page.locator("#btn-resume")
        expect(resume).to_have_text("Run from step 2 to the end")
        resume.click()
        expect(page.locator("#action-msg")).to_contain_text("Started steps 2–end")
        expect(page.locator("#latest-run")).to_contain_text("from step 2 to the end")
        runs = api(service, "GET", f"/tasks/{task_id}/runs").json()["data"]["runs"]
        assert runs[0]["request"]["start_step"] == 2 and runs[0]["run_number"] == 2
        # The aborted requests of the outage are the only errors.
        assert [e for e in page.errors.unexpected() if "net::ERR_FAILED" not in e] == []
    finally:
        api(service, "POST", f"/tasks/{task_id}/cancel")
        wait_for_status(
            service, task_id, {"cancelled", "completed", "partial_completed", "failed"}, 30
        )


def test_log_stream_refused_stops_retrying(service, page):
    """A stream answered 401 (a token set in another tab, say) is not retried every 3 s."""
    body = {"parameters": {"db_connection": "source:demo", "table_list": ["stall"],
            "business_context": "档口", "execution_mode": "single", "single_step": 1}}  # fmt: skip
    task_id = api(service, "POST", "/tasks", json=body).json()["data"]["task_id"]
    wait_for_status(service, task_id, {"partial_completed", "failed"}, 60)
    calls = []

    def refuse(route):
        calls.append(route.request.url)
        route.fulfill(status=401, content_type="application/json",
                      body='{"success": false, "code": 401, "message": "authentication required"}')  # fmt: skip

    page.route("**/logs/stream*", refuse)
    page.goto(f"{service.base}/#/tasks/{task_id}")
    expect(page.locator("#log-state")).to_have_text("not authorised — set a token")
    expect(page.locator("#log-token")).to_be_visible()
    seen = len(calls)
    time.sleep(4)  # longer than the 3 s retry delay
    assert len(calls) == seen <= 2
    assert page.errors.unexpected(401) == []
