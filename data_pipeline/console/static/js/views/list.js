// The task list: filters, pagination, and a refresh loop that speeds up while a task runs.
import { ApiError, askTokenAgain, get } from "../api.js";
import { debounce, fmtDuration, fmtTime, h, replaceChildren, secondsBetween } from "../dom.js";
import { isActive, progressBar, statusBadge, stepLabel, TASK_STATUSES } from "../ui.js";

const PAGE_SIZE = 20;
const FAST_MS = 2000;
const SLOW_MS = 15000;

export function taskDuration(task) {
  for (const key of ["duration", "duration_seconds"]) {
    const v = task[key];
    if (typeof v === "number") return v;
  }
  return secondsBetween(task.started_at, task.completed_at);
}

export function renderTaskList(view, { query }) {
  const state = {
    status: query.get("status") || "",
    q: query.get("q") || "",
    page: Math.max(1, Number(query.get("page")) || 1),
  };
  let timer = null;
  let alive = true;
  let loading = false;

  const statusSelect = h(
    "select",
    { id: "filter-status", "aria-label": "Filter by status" },
    h("option", { value: "", text: "All statuses" }),
    TASK_STATUSES.map((s) => h("option", { value: s, text: s.replace("_", " ") })),
  );
  statusSelect.value = state.status;
  const search = h("input", {
    type: "search",
    id: "filter-q",
    placeholder: "Search name or business context…",
    value: state.q,
    "aria-label": "Search tasks",
  });
  const refreshBtn = h("button", { class: "btn ghost", type: "button", text: "Refresh" });
  const liveNote = h("span", { class: "live-note muted" });
  const body = h("tbody");
  const pager = h("nav", { class: "pager", "aria-label": "Pages of the task list" });
  const message = h("div", { class: "list-message" });

  replaceChildren(
    view,
    h(
      "div",
      { class: "page-head" },
      h("h1", { text: "Tasks" }),
      h("a", { class: "btn primary", href: "#/new", text: "+ New task" }),
    ),
    h(
      "section",
      { class: "card" },
      h("div", { class: "toolbar" }, statusSelect, search, refreshBtn, liveNote),
      message,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "task-table", id: "task-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Task", "Status", "Progress", "Current step", "Database", "By", "Created", "Duration"]
                .map((t) => h("th", { text: t })),
            ),
          ),
          body,
        ),
      ),
      pager,
    ),
  );

  function syncHash() {
    const params = new URLSearchParams();
    if (state.status) params.set("status", state.status);
    if (state.q) params.set("q", state.q);
    if (state.page > 1) params.set("page", String(state.page));
    const qs = params.toString();
    // replaceState: keep the filters in the address without re-rendering the view.
    history.replaceState(null, "", `#/tasks${qs ? `?${qs}` : ""}`);
  }

  function row(task) {
    const name = task.task_name || task.id;
    const href = `#/tasks/${encodeURIComponent(task.id)}`;
    const cell = (label, ...content) =>
      h("td", { dataset: { label } }, h("div", { class: "cell" }, content));
    const tr = h(
      "tr",
      { class: "task-row", dataset: { taskId: task.id, status: task.status } },
      cell(
        "Task",
        h("a", { class: "task-link", href, text: name }),
        task.task_name ? h("div", { class: "sub mono", text: task.id }) : null,
      ),
      cell("Status", statusBadge(task.status, task.queue_position)),
      cell(
        "Progress",
        h(
          "div",
          { class: "progress-cell" },
          progressBar(task.progress, task.status, `Progress of ${name}`),
          h("span", { class: "pct", text: `${task.progress ?? 0}%` }),
        ),
      ),
      cell("Current step", task.current_step ? stepLabel(task.current_step) : "—"),
      cell("Database", task.db_name || "—"),
      cell("By", task.created_by || "—"),
      cell("Created", h("span", { class: "nowrap", text: fmtTime(task.created_at) })),
      cell("Duration", fmtDuration(taskDuration(task))),
    );
    tr.addEventListener("click", (ev) => {
      if (ev.target.closest("a")) return;
      window.location.hash = href;
    });
    return tr;
  }

  async function load() {
    if (loading || !alive) return;
    loading = true;
    clearTimeout(timer);
    let running = false;
    try {
      const data = await get("/tasks", {
        limit: PAGE_SIZE,
        offset: (state.page - 1) * PAGE_SIZE,
        status: state.status,
        q: state.q,
        sort: "created_at",
        order: "desc",
      });
      if (!alive) return;
      const items = data.items || data.tasks || [];
      const total = Number(data.total ?? items.length);
      running = items.some((t) => isActive(t.status));
      replaceChildren(message);
      const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
      if (items.length === 0 && total > 0 && state.page > pages) {
        // An address from an older, longer list (or typed): say so and offer the last page.
        replaceChildren(
          body,
          h(
            "tr",
            { class: "empty-row", id: "beyond-end" },
            h(
              "td",
              { colspan: "8" },
              `No tasks on page ${state.page} — `,
              h("a", {
                href: pageHref(pages),
                text: `go to page ${pages}`,
                onClick: (ev) => {
                  ev.preventDefault();
                  state.page = pages;
                  syncHash();
                  load();
                },
              }),
              ` (the last of ${pages}).`,
            ),
          ),
        );
      } else if (items.length === 0) {
        const filtered = state.status || state.q;
        replaceChildren(
          body,
          h(
            "tr",
            { class: "empty-row" },
            filtered
              ? h("td", { colspan: "8" }, "No task matches these filters. ",
                  h("a", { href: "#/tasks", text: "Show all tasks" }), ".")
              : h(
                  "td",
                  { colspan: "8", class: "empty-state" },
                  h("p", { class: "empty-title", text: "No tasks yet." }),
                  h("p", {
                    text:
                      "A task reads tables of a business database, documents them, writes " +
                      "question→SQL pairs, checks the SQL and loads the pairs for search.",
                  }),
                  h("a", { class: "btn primary", href: "#/new", text: "Create the first task" }),
                ),
          ),
        );
      } else {
        replaceChildren(body, items.map(row));
      }
      renderPager(total, items.length);
      liveNote.textContent = running ? "● live — refreshing every 2 s" : "";
      liveNote.classList.toggle("on", running);
    } catch (err) {
      if (!alive) return;
      replaceChildren(message, errorAlert("Could not load tasks", err, load));
    } finally {
      loading = false;
      if (alive) timer = setTimeout(load, running ? FAST_MS : SLOW_MS);
    }
  }

  function pageHref(page) {
    const params = new URLSearchParams();
    if (state.status) params.set("status", state.status);
    if (state.q) params.set("q", state.q);
    if (page > 1) params.set("page", String(page));
    const qs = params.toString();
    return `#/tasks${qs ? `?${qs}` : ""}`;
  }

  function renderPager(total, shown) {
    const first = (state.page - 1) * PAGE_SIZE + 1;
    const last = (state.page - 1) * PAGE_SIZE + shown;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const range = shown ? `${first}–${last} of ${total}` : `${total} task${total === 1 ? "" : "s"}`;
    const go = (page) => () => {
      state.page = page;
      syncHash();
      load();
    };
    replaceChildren(
      pager,
      h("span", { class: "muted", text: range }),
      h("button", {
        class: "btn ghost small",
        type: "button",
        text: "‹ Previous",
        disabled: state.page <= 1,
        onClick: go(Math.min(state.page - 1, pages)),
      }),
      h("span", { class: "muted", text: state.page <= pages ? `page ${state.page} / ${pages}` : `${pages} page${pages === 1 ? "" : "s"}` }),
      h("button", {
        class: "btn ghost small",
        type: "button",
        text: "Next ›",
        disabled: state.page >= pages,
        onClick: go(state.page + 1),
      }),
    );
  }

  statusSelect.addEventListener("change", () => {
    state.status = statusSelect.value;
    state.page = 1;
    syncHash();
    load();
  });
  search.addEventListener(
    "input",
    debounce(() => {
      state.q = search.value.trim();
      state.page = 1;
      syncHash();
      load();
    }, 300),
  );
  refreshBtn.addEventListener("click", load);

  load();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}

/** An error box; a refused token gets a button to enter it, then `retry` runs. */
export function errorAlert(prefix, err, retry) {
  const needsToken = err instanceof ApiError && err.status === 401;
  return h(
    "div",
    { class: "alert alert-error" },
    `${prefix}: ${describe(err)}`,
    needsToken && retry
      ? h("button", {
          type: "button",
          class: "btn small",
          text: "Enter API token",
          onClick: () => {
            askTokenAgain();
            retry();
          },
        })
      : null,
  );
}

export function describe(err) {
  if (err instanceof ApiError) return err.message;
  return err && err.message ? err.message : String(err);
}
