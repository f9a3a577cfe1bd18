"""Accessibility of the console: axe-core on every view, contrast of the badges and the focus
ring, page titles, focus on navigation, ``lang`` of Chinese content, labelled controls.

axe-core (MPL-2.0) is vendored in ``tests/browser/vendor/axe.min.js`` (see its README): the
tests never fetch it. A view fails on any ``serious`` or ``critical`` violation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.api_support import wait_until
from tests.browser.conftest import ConsoleErrors
from tests.browser.test_console import api

pytestmark = pytest.mark.browser

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
CONTEXT_ZH = "高速公路服务区经营管理：服务区、档口与每日营收"
NAME_ZH = "服务区营收分析"

# Badges are 12 px text: WCAG AA asks 4.5:1 of them.
BADGE_STATUSES = ("completed", "cancelled", "skipped", "queued", "running", "partial_completed",
                  "failed", "pending")  # fmt: skip


@pytest.fixture
def a11y_page(browser):
    """A page that can run axe: the console's CSP allows only its own scripts, so the test
    context bypasses it (the console itself still runs under the CSP in every other test)."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
    ctx.set_default_timeout(15_000)
    ctx.add_init_script(path=str(AXE))
    page = ctx.new_page()
    page.errors = ConsoleErrors(page)
    yield page
    ctx.close()


@pytest.fixture(scope="module")
def done_task(service) -> str:
    """A small task on the demo source, run to the end (pairs, logs, outputs, vectors)."""
    body = {
        "task_name": NAME_ZH,
        "parameters": {
            "db_connection": "source:demo",
            "table_list": ["service_area", "stall"],
            "business_context": CONTEXT_ZH,
            "theme_count": 1,
            "questions_per_theme": 3,
        },
    }
    created = api(service, "POST", "/tasks", json=body)
    assert created.status_code == 201, created.text
    task_id = created.json()["data"]["task_id"]

    def done():
        task = api(service, "GET", f"/tasks/{task_id}").json()["data"]
        return task if task["status"] not in ("pending", "queued", "running") else None

    task = wait_until(done, 90, interval=0.3, message=f"{task_id} to finish")
    assert task["status"] == "completed", task.get("error_message")
    return task_id


def axe_violations(page) -> list[dict]:
    """Serious and critical violations of WCAG 2.x A/AA rules (and best practices) on the page."""
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                  'wcag22aa', 'best-practice']},
                resultTypes: ['violations'],
            });
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                          summary: n.failureSummary || ''})),
            }));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def readable(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']}")
        for n in v["nodes"][:8]:
            summary = " ".join(n["summary"].split())[:300]
            lines.append(f"    {n['target']}  —  {summary}")
        if len(v["nodes"]) > 8:
            lines.append(f"    … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def check_view(page, name: str, failures: dict) -> None:
    found = axe_violations(page)
    if found:
        failures[name] = readable(found)


def contrast(page, selector: str) -> list[dict]:
    """Text contrast of every element matching ``selector`` (colour over the nearest opaque
    background, alpha blended), from the computed styles."""
    return page.evaluate(
        """(selector) => {
            const parse = (c) => {
                const m = c.match(/rgba?\\(([^)]+)\\)/);
                const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
                return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
            };
            const over = (top, below) => [0, 1, 2].map(i => top[i] * top[3] + below[i] * (1 - top[3]));
            const background = (el) => {
                const layers = [];
                for (let e = el; e; e = e.parentElement) {
                    const c = parse(getComputedStyle(e).backgroundColor);
                    if (c[3] > 0) layers.push(c);
                    if (c[3] >= 1) break;
                }
                let rgb = [255, 255, 255];
                for (const layer of layers.reverse()) rgb = over(layer, rgb);
                return rgb;
            };
            const lum = (rgb) => {
                const ch = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
            };
            const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
            return [...document.querySelectorAll(selector)].map(el => {
                const st = getComputedStyle(el);
                const bg = background(el);
                const fg = over(parse(st.color), bg);
                const ring = parse(st.outlineColor);
                const around = background(el.parentElement || el); // the ring lies outside
                return {
                    text: el.textContent.trim(), status: el.dataset.status || '',
                    fontSize: parseFloat(st.fontSize),
                    ratio: Math.round(ratio(fg, bg) * 100) / 100,
                    outline: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0
                        ? Math.round(ratio(over(ring, around), around) * 100) / 100 : null,
                };
            });
        }""",
        selector,
    )


def test_axe_on_every_view(service, done_task, a11y_page):
    """No serious or critical axe violation on any view (all are checked before failing)."""
    page = a11y_page
    base = service.base
    failures: dict[str, str] = {}
    titles: dict[str, str] = {}

    page.goto(f"{base}/#/tasks")
    row = page.locator(f'tr[data-task-id="{done_task}"]')
    expect(row).to_be_visible()
    titles["list"] = page.title()
    # The UI is English; a Chinese task name in it says so itself.
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(row.locator("a.task-link")).to_have_attribute("lang", "zh")
    check_view(page, "task list", failures)

    # A route change moves focus to the new view's heading.
    page.get_by_role("navigation", name="main").get_by_role("link", name="New task").click()
    expect(page.locator("#view h1")).to_be_focused()
    expect(page.locator(".table-item")).to_have_count(9)
    titles["new"] = page.title()
    check_view(page, "new task", failures)
    page.click("#create-task")  # errors shown: fields invalid, messages tied to them
    expect(page.locator("#form-alert .alert-error")).to_be_visible()
    page.click("#tab-paste")
    check_view(page, "new task with errors (paste)", failures)

    page.goto(f"{base}/#/tasks/{done_task}")
    expect(page.locator("#task-header .badge")).to_have_text("completed")
    expect(page.locator(".log-line").first).to_be_visible()
    expect(page.locator("#files-table tbody tr").first).to_be_visible()
    # A task whose name and business context are Chinese: the page says it is Chinese.
    expect(page).to_have_title(re.compile(NAME_ZH))
    titles["task"] = page.title()
    assert page.evaluate("document.documentElement.lang") == "zh"
    expect(page.locator(".context span").last).not_to_have_attribute("lang", "en")
    check_view(page, "task page (completed, with logs)", failures)

    page.goto(f"{base}/#/tasks/{done_task}/pairs")
    expect(page.locator("article.pair").first).to_be_visible()
    titles["pairs"] = page.title()
    check_view(page, "pairs", failures)

    page.goto(f"{base}/#/store")
    expect(page.locator("h1")).to_have_text("Training store")
    page.wait_for_load_state("networkidle")
    titles["store"] = page.title()
    assert page.evaluate("document.documentElement.lang") == "en"
    check_view(page, "training store", failures)

    for path in ("#/no/such/page", "#/tasks/abc", "#/tasks/task_20000101_000000"):
        page.goto(f"{base}/{path}")
        heading = page.locator("#view h1")
        expect(heading).to_have_text(re.compile("not found"))
        expect(
            page.locator("#view").get_by_role("link", name=re.compile("Back to the"))
        ).to_be_visible()
        titles[path] = page.title()
        check_view(page, f"not found ({path})", failures)
    expect(page).to_have_title(re.compile("^Task not found"))

    # Every view its own title.
    assert len(set(list(titles.values())[:5])) == 5, titles
    assert all(t.endswith("Data Pipeline console") for t in titles.values()), titles

    assert not failures, "axe found serious or critical violations:\n" + "\n".join(
        f"== {name}\n{text}" for name, text in failures.items()
    )


def test_contrast_of_badges_muted_text_links_and_focus(service, page):
    """WCAG AA, measured on the computed styles: 12 px badges and small text 4.5:1, the focus
    ring 3:1 against what surrounds it (also in the dark top bar)."""
    page.goto(f"{service.base}/#/tasks")
    expect(page.locator("#view h1")).to_be_focused()
    page.evaluate(
        """async (statuses) => {
            const { statusBadge } = await import('/console/static/js/ui.js');
            const box = document.createElement('p');
            box.id = 'badge-sample';
            box.className = 'card';
            for (const s of statuses) box.append(statusBadge(s), ' ');
            document.getElementById('view').prepend(box);
        }""",
        list(BADGE_STATUSES),
    )
    low = []
    for item in contrast(page, "#badge-sample .badge"):
        assert item["fontSize"] <= 13  # small text: the 4.5:1 rule applies
        if item["ratio"] < 4.5:
            low.append(item)
    for item in contrast(page, ".muted, .hint, th, a.task-link, .sub, .pager span"):
        if item["text"] and item["ratio"] < 4.5:
            low.append(item)
    assert not low, f"below 4.5:1: {low}"
    assert len(contrast(page, "#badge-sample .badge")) == len(BADGE_STATUSES)

    # Keyboard focus: the ring of each control reached with Tab is 3:1 or more.
    rings = []
    for _ in range(8):
        page.keyboard.press("Tab")
        what = page.evaluate(
            """() => { const el = document.activeElement;
                       el.dataset.ringProbe = '1'; return el.tagName + '.' + el.className; }"""
        )
        (measured,) = contrast(page, "[data-ring-probe]")
        page.evaluate("delete document.querySelector('[data-ring-probe]').dataset.ringProbe")
        rings.append((what, measured["outline"]))
    rings = [r for r in rings if not r[0].startswith("BODY")]
    weak = [r for r in rings if r[1] is None or r[1] < 3]
    assert not weak, f"focus ring missing or below 3:1: {weak} (all: {rings})"
    assert any("topnav" in r[0] or r[0].startswith("A.") for r in rings)


def test_new_task_errors_all_at_once_tied_to_fields(service, page):
    """Browser and server problems together, in the user's words, each by its field
    (aria-invalid + aria-describedby), focus on the first; unknown tables named."""
    page.goto(f"{service.base}/#/new")
    expect(page.locator(".table-item")).to_have_count(9)
    page.click(".advanced summary")
    page.fill("#questions_per_theme", "0")
    page.fill("#theme_count", "2.5")
    page.click("#create-task")
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("Fix these 4 problems")
    expect(page.locator("#err-table_list")).to_have_text("Table list: add at least one table")
    expect(page.locator("#err-business_context")).to_contain_text("Business context: required")
    expect(page.locator("#err-questions_per_theme")).to_have_text(
        "Questions per theme must be 1 or more"
    )
    expect(page.locator("#err-theme_count")).to_have_text("Themes must be a whole number")
    for name in ("business_context", "questions_per_theme", "theme_count"):
        control = page.locator(f"#{name}")
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_attribute("aria-describedby", re.compile(rf"\berr-{name}\b"))
    expect(page.locator("#table-list")).to_have_attribute("aria-invalid", "true")
    # Focus on the first field with an error: the table list (its first box).
    expect(page.locator(".table-item input").first).to_be_focused()
    assert "parameters." not in page.locator("#new-task-form").inner_text()
    assert "Input should" not in page.locator("#new-task-form").inner_text()
    # The summary's entries lead to their fields.
    summary.get_by_role("button", name="Questions per theme must be 1 or more").click()
    expect(page.locator("#questions_per_theme")).to_be_focused()

    # The paste area has a label; a table the source lacks is named by the table list.
    page.click("#tab-paste")
    paste = page.get_by_label(re.compile("^Table names"))
    expect(paste).to_have_attribute("id", "table-paste")
    paste.fill("service_area\nno_such_table")
    page.fill("#business_context", "Highway service areas")
    page.fill("#questions_per_theme", "")
    page.fill("#theme_count", "")
    page.click("#create-task")
    expect(page.locator("#err-table_list")).to_contain_text("no_such_table")
    expect(page.locator("#err-table_list")).not_to_contain_text("service_area")
    expect(summary).to_contain_text("Fix this problem")
    expect(paste).to_be_focused()
    expect(paste).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#business_context")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-business_context")).to_be_empty()

    # Only step 1 can run alone on a new task; emptying the vector tables is confirmed first.
    expect(page.locator('#single_step option[value="2"]')).to_be_disabled()
    page.locator("#danger-zone").get_by_label(re.compile("Empty the vector tables")).check()
    page.click("#create-task")
    dialog = page.locator("dialog.modal")
    expect(dialog).to_contain_text("Empty the vector tables?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(page).to_have_url(re.compile(r"#/new$"))
    assert page.errors.unexpected(400) == []


def test_list_beyond_the_last_page_and_malformed_task_address(service, page):
    page.goto(f"{service.base}/#/tasks?page=50")
    beyond = page.locator("#beyond-end")
    expect(beyond).to_contain_text(re.compile(r"No tasks on page 50 — go to page \d+"))
    expect(page.locator(".pager")).not_to_contain_text("–")
    beyond.get_by_role("link", name=re.compile("go to page")).click()
    expect(page.locator("tr.task-row").first).to_be_visible()
    expect(page.locator(".pager")).to_contain_text(re.compile(r"\d+–\d+ of \d+"))

    page.goto(f"{service.base}/#/tasks/abc")
    expect(page.locator("#view h1")).to_have_text("Task not found")
    expect(page.locator("#view")).to_contain_text("“abc” is not a task id")
    page.locator("#view").get_by_role("link", name="Back to the task list").click()
    expect(page).to_have_url(re.compile(r"#/tasks$"))
    expect(page.locator("#view h1")).to_be_focused()
    assert page.errors.unexpected() == []
