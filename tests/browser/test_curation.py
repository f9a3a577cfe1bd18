"""Curation in the console (issue #13): review a task's pairs, then find them in the store.

The walk-through is what a reviewer does after steps 1–3 on the demo source: break a pair's
SQL (the error shows, the pair is not valid), fix it (valid), run it (rows), reword the
question in Chinese, approve it, load the approved pairs (step 4 runs as a normal run) and
search the training store for the new question: it comes first. A viewer sees the same pages
without any control that changes something (nor Run: the API runs SQL for operators only).
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ConsoleErrors, start_service
from tests.browser.test_console import api

pytestmark = pytest.mark.browser

TABLES = ["service_area", "stall", "daily_revenue"]
BROKEN_SQL = "SELECT area_name, no_such_column FROM service_area"
FIXED_SQL = "SELECT area_name, area_type FROM service_area ORDER BY area_name"
NEW_QUESTION = "按名称排序列出每个服务区的名称和类型（审核员改写的问题）"


def create_reviewable_task(service, token: str | None = None, **params) -> str:
    """A task on the demo source with steps 1–3 done (pairs generated and validated)."""
    body = {
        "task_name": "服务区 pairs review",
        "parameters": {
            "db_connection": "source:demo",
            "table_list": TABLES,
            "business_context": "高速公路服务区经营：服务区、档口、每日营收",
            "theme_count": 2,
            "questions_per_theme": 3,
            "end_step": 3,
            **params,
        },
    }
    created = api(service, "POST", "/tasks", token=token, json=body)
    assert created.status_code == 201, created.text
    task_id = created.json()["data"]["task_id"]

    def done():
        res = api(service, "GET", f"/tasks/{task_id}", token=token).json()["data"]
        return res if res["status"] not in ("pending", "queued", "running") else None

    from tests.api_support import wait_until

    task = wait_until(done, 90, interval=0.3, message=f"{task_id} steps 1-3")
    assert task["status"] == "partial_completed", task.get("error_message")
    assert task["step_status"]["sql_validation"] == "completed"
    return task_id


def test_review_edit_run_approve_load_and_search(service, page):
    task_id = create_reviewable_task(service)

    # The task page offers the review once a pair file exists.
    page.goto(f"{service.base}/#/tasks/{task_id}")
    page.locator("#btn-pairs").click()
    expect(page).to_have_url(re.compile(rf"#/tasks/{task_id}/pairs$"))
    expect(page).to_have_title(re.compile(r"^Pairs · "))
    cards = page.locator("article.pair")
    expect(cards.first).to_be_visible()
    total = cards.count()
    expect(page.locator('[data-count="total"] b')).to_have_text(str(total))
    expect(page.locator("#pairs-shown")).to_have_text(f"{total} of {total} shown")
    # Chinese questions render as text; the SQL is highlighted (keywords in their own spans).
    expect(page.locator(".pair-question").first).to_have_text(re.compile(r"[\u4e00-\u9fff]"))
    expect(page.locator("pre.pair-sql .sql-kw", has_text="SELECT").first).to_be_visible()

    # Filters drive the query: a table, a text, a state; the address keeps them.
    page.select_option("#pairs-table", "stall")
    expect(page).to_have_url(re.compile(r"table=stall"))
    expect(page.locator("#pair-list")).to_have_attribute("data-filters", "table=stall")
    for tags in page.locator("article.pair .pair-tables").all_inner_texts():
        assert "stall" in tags
    page.select_option("#pairs-table", "")
    page.select_option("#pairs-state", "invalid")
    expect(page.locator("#pair-list")).to_have_attribute("data-filters", "state=invalid")
    expect(page.locator('article.pair:not([data-state="invalid"])')).to_have_count(0)
    page.select_option("#pairs-state", "")
    expect(cards).to_have_count(total)

    card_id = page.locator('article.pair[data-state="valid"]').first.get_attribute("data-pair-id")
    card = page.locator(f'article.pair[data-pair-id="{card_id}"]')
    valid_before = int(page.locator('[data-count="valid"] b').inner_text())

    # Broken SQL: saved with its error, never as valid.
    card.locator('[data-action="edit"]').click()
    card.locator("textarea.edit-sql").fill(BROKEN_SQL)
    card.locator('[data-action="save"]').click()
    expect(card).to_have_attribute("data-state", "invalid")
    expect(card.locator(".pair-error")).to_contain_text("no_such_column")
    expect(card.locator(".save-note")).to_contain_text("invalid")
    expect(page.locator('[data-count="invalid"] b')).not_to_have_text("0")
    stored = api(service, "GET", f"/tasks/{task_id}/pairs/{card_id}").json()["data"]
    assert stored["state"] == "invalid" and stored["sql"] == BROKEN_SQL

    # An invalid pair cannot be approved: the box springs back with the reason.
    card.locator("input.pair-approve").click()  # not check(): the box may spring back at once
    expect(page.locator("#pairs-msg .alert-warn")).to_contain_text("Not approved")
    expect(card.locator("input.pair-approve")).not_to_be_checked()

    # Running it shows the database's error in place.
    card.locator('[data-action="run"]').click()
    expect(card.locator(".run-error")).to_contain_text("no_such_column")

    # Fixed SQL and a new question (Chinese): valid again; running it shows rows.
    card.locator('[data-action="edit"]').click()
    card.locator("textarea.edit-question").fill(NEW_QUESTION)
    card.locator("textarea.edit-sql").fill(FIXED_SQL)
    card.locator('[data-action="save"]').click()
    expect(card).to_have_attribute("data-state", "valid")
    expect(card.locator(".pair-question")).to_have_text(NEW_QUESTION)
    expect(card.locator(".pair-error")).to_have_count(0)
    expect(page.locator('[data-count="valid"] b')).to_have_text(str(valid_before))
    card.locator('[data-action="run"]').click()
    expect(card.locator(".result-table thead th")).to_have_text(["area_name", "area_type"])
    rows = card.locator(".result-table tbody tr").count()
    assert rows > 0
    expect(card.locator(".run-count")).to_have_text(re.compile(rf"^{rows} rows? · [\d.,]+ ms$"))

    # Approve it (alone): the mark shows who and when; the count follows.
    card.locator("input.pair-approve").check()
    expect(card.locator(".approved-mark")).to_contain_text("approved by anonymous")
    expect(page.locator('[data-count="approved"] b')).to_have_text("1")

    # The history records the edits and the approval, newest first.
    page.locator("#pairs-history summary").click()
    actions = page.locator("#pairs-history tbody .badge")
    expect(actions.first).to_have_text("approve")
    assert actions.all_inner_texts().count("edit") == 2

    # Load approved pairs: step 4 runs for the task, with progress and logs on its page.
    page.locator("#btn-load").click()
    dialog = page.locator("dialog.modal")
    expect(dialog).to_contain_text("Approved pairs only (1)")
    expect(dialog.locator("#load-approved")).to_be_checked()
    expect(dialog.locator("#load-replace")).to_be_checked()
    dialog.get_by_role("button", name="Load", exact=True).click()
    expect(page).to_have_url(re.compile(rf"#/tasks/{task_id}$"))
    expect(page.locator("#task-header .badge")).to_have_text("completed", timeout=90_000)
    expect(page.locator('.step[data-step="training_load"]')).to_have_attribute(
        "data-status", "completed"
    )
    expect(page.locator("#log-state")).to_have_text("run finished")

    # The pair file is the source of truth: the edit, its approval and who made them.
    files = api(service, "GET", f"/tasks/{task_id}/files").json()["data"]
    items = files["files"] if isinstance(files, dict) else files
    pair_file = next(f["path"] for f in items if f["path"].endswith("_pair.json"))
    raw = api(service, "GET", f"/tasks/{task_id}/files/download/{pair_file}")
    entry = next(p for p in json.loads(raw.content) if p.get("id") == card_id)
    assert (entry["question"], entry["sql"]) == (NEW_QUESTION, FIXED_SQL)
    assert entry["review"]["approved"] is True and entry["review"]["approved_by"] == "anonymous"

    # The store: only the approved pair of this task was loaded; searching for the new
    # question finds it first.
    page.locator('.topnav a[data-nav="store"]').click()
    expect(page).to_have_url(re.compile(r"#/store$"))
    expect(page.locator('.topnav a[data-nav="store"]')).to_have_class(re.compile("active"))
    expect(page.locator('[data-count="sql"] b')).to_have_text("1")
    expect(page.locator("#store-dbs tbody tr")).to_have_count(1)
    page.fill("#store-search-q", NEW_QUESTION)
    page.locator("#store-search-btn").click()
    first = page.locator("#store-hits .hit").first
    expect(first).to_have_attribute("data-collection", "sql")
    expect(first.locator(".pair-question")).to_have_text(NEW_QUESTION)
    expect(first.locator(".distance")).to_have_text(re.compile(r"^0\.\d{3}$"))
    expect(page.locator("#store-hits .hit .badge", has_text="ddl").first).to_be_visible()

    # The documents: filtered by collection (in the address), the edited pair among them.
    page.select_option("#docs-collection", "sql")
    expect(page).to_have_url(re.compile(r"collection=sql"))
    docs = page.locator("#docs-table tbody tr[data-doc-id]")
    expect(docs).to_have_count(1)
    expect(docs.first.locator(".pair-question")).to_have_text(NEW_QUESTION)
    href = page.locator("#docs-export").get_attribute("href")
    assert href.startswith("/api/v0/data_pipeline/store/export?") and "collection=sql" in href
    export = api(service, "GET", href.removeprefix("/api/v0/data_pipeline"))
    assert export.status_code == 200
    lines = [json.loads(x) for x in export.text.splitlines() if x.strip()]
    assert [d["question"] for d in lines] == [NEW_QUESTION]

    # Delete (the anonymous caller of an open API is an administrator), after a confirmation.
    page.select_option("#docs-collection", "ddl")
    ddl_rows = page.locator("#docs-table tbody tr[data-doc-id]")
    expect(ddl_rows).to_have_count(len(TABLES))
    ddl_rows.first.get_by_role("button", name="Delete").click()
    page.locator("dialog.modal").get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator(".toast", has_text="1 document deleted")).to_be_visible()
    expect(ddl_rows).to_have_count(len(TABLES) - 1)
    expect(page.locator('[data-count="ddl"] b')).to_have_text(str(len(TABLES) - 1))

    assert page.errors.unexpected(400) == []


def _token_entry(token: str, role: str) -> dict:
    return {"sha256": hashlib.sha256(token.encode()).hexdigest(), "role": role}


def test_viewer_sees_pairs_and_store_without_write_controls(
    pg_admin_dsn, template_db, demo_dsn, browser_home, context
):
    tokens = {"olga": ("op-token-1", "operator"), "vera": ("view-token-1", "viewer")}
    svc = start_service(
        pg_admin_dsn, template_db, demo_dsn, browser_home, "roles",
        API_TOKENS=json.dumps({name: _token_entry(t, role) for name, (t, role) in tokens.items()}),
    )  # fmt: skip
    try:
        task_id = create_reviewable_task(
            svc, token="op-token-1", table_list=["service_area"], theme_count=1
        )
        context.add_init_script("sessionStorage.setItem('dataPipeline.apiToken', 'view-token-1')")
        page = context.new_page()
        errors = ConsoleErrors(page)
        page.goto(f"{svc.base}/#/tasks/{task_id}/pairs")
        expect(page.locator("#whoami")).to_have_text("vera · viewer")
        card = page.locator("article.pair").first
        expect(card).to_be_visible()
        expect(card.locator(".pair-question")).to_have_text(re.compile(r"[\u4e00-\u9fff]"))
        for control in ('[data-action="run"]', '[data-action="edit"]', '[data-action="delete"]',
                        "input.pair-approve", "input.pair-select"):  # fmt: skip
            expect(page.locator(control)).to_have_count(0)
        for button in ("#btn-add-pair", "#btn-approve-valid", "#btn-load"):
            expect(page.locator(button)).to_have_count(0)
        expect(page.locator(".selection-bar")).to_be_hidden()
        expect(page.locator("#pairs-actions")).to_contain_text("read only")
        assert api(svc, "POST", f"/tasks/{task_id}/pairs/approve", token="view-token-1",
                   json={"all_valid": True}).status_code == 403  # fmt: skip

        page.goto(f"{svc.base}/#/store")
        expect(page.locator('[data-count="total"] b')).to_have_text("0")
        expect(page.locator("#docs-delete-selected")).to_be_hidden()

        # The task page offers a viewer nothing the API would refuse.
        page.goto(f"{svc.base}/#/tasks/{task_id}")
        expect(page.locator("#task-header .badge").first).to_have_text(
            re.compile("completed|partial")
        )
        expect(page.locator("#btn-pairs")).to_be_visible()
        for button in ("#btn-run-step", "#btn-clone", "#btn-resume", "#btn-cancel"):
            expect(page.locator(button)).to_have_count(0)
        expect(page.locator("#danger-zone")).to_be_hidden()
        assert errors.unexpected() == []
    finally:
        svc.stop()


def test_add_delete_bulk_approval_and_narrow_window(service, page):
    task_id = create_reviewable_task(
        service, table_list=["service_area"], theme_count=1, questions_per_theme=3
    )
    page.goto(f"{service.base}/#/tasks/{task_id}/pairs")
    cards = page.locator("article.pair")
    expect(cards.first).to_be_visible()
    n = cards.count()
    count = lambda key: page.locator(f'[data-count="{key}"] b')  # noqa: E731

    # Add a valid pair and an invalid one (kept, with its error).
    for question, sql in (("新增：服务区一共有多少个？", "SELECT COUNT(*) FROM service_area"),
                          ("新增：坏的 SQL", "SELECT nope FROM service_area")):  # fmt: skip
        page.locator("#btn-add-pair").click()
        page.fill("#add-question", question)
        page.fill("#add-sql", sql)
        page.locator("#add-save").click()
        expect(page.locator("#pair-add")).to_be_hidden()
    expect(cards).to_have_count(n + 2)
    expect(page.locator("#pairs-msg .alert-warn")).to_contain_text("Added as invalid")
    expect(count("total")).to_have_text(str(n + 2))
    expect(count("invalid")).to_have_text("1")
    added = cards.filter(has_text="新增：服务区一共有多少个？")
    expect(added).to_have_attribute("data-state", "valid")
    expect(added.locator(".pair-edited")).to_contain_text("added by anonymous")
    broken = cards.filter(has_text="新增：坏的 SQL")
    expect(broken.locator(".pair-error")).to_contain_text("nope")

    # Two selected, approved together; then every valid pair; then all shown (one skipped).
    cards.nth(0).locator("input.pair-select").check()
    cards.nth(1).locator("input.pair-select").check()
    expect(page.locator("#btn-approve-selected")).to_have_text("Approve selected (2)")
    page.locator("#btn-approve-selected").click()
    expect(count("approved")).to_have_text("2")
    expect(page.locator("#btn-approve-selected")).to_be_disabled()
    page.locator("#btn-approve-valid").click()
    expect(count("approved")).to_have_text(str(n + 1))
    page.locator("#pairs-select-all").check()
    page.locator("#btn-approve-selected").click()
    expect(page.locator("#pairs-msg .alert-warn")).to_contain_text("1 skipped")
    expect(count("approved")).to_have_text(str(n + 1))
    page.select_option("#pairs-state", "unapproved")
    expect(cards).to_have_count(1)
    page.select_option("#pairs-state", "")

    # Delete the broken one, after a confirmation.
    broken.locator('[data-action="delete"]').click()
    page.locator("dialog.modal").get_by_role("button", name="Delete pair").click()
    expect(broken).to_have_count(0)
    expect(count("total")).to_have_text(str(n + 1))
    expect(count("invalid")).to_have_text("0")

    page.locator("#pairs-history summary").click()
    actions = page.locator("#pairs-history tbody .badge")
    expect(actions.first).to_have_text("delete")
    assert {"add", "approve", "delete"} <= set(actions.all_inner_texts())

    # A phone-sized window: no horizontal scrolling on either page.
    page.set_viewport_size({"width": 390, "height": 800})
    expect(cards.first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.goto(f"{service.base}/#/store")
    expect(page.locator('[data-count="total"]')).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert page.errors.unexpected() == []
