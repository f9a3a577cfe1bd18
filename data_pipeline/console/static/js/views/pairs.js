// The pairs of a task (#/tasks/<id>/pairs): read, run, edit, add, delete and approve each
// question/SQL pair, then load the approved ones into the training store (step 4).
import { ApiError, canWrite, del, get, patch, post } from "../api.js";
import { debounce, fmtTime, h, replaceChildren } from "../dom.js";
import { sqlBlock } from "../sql.js";
import { confirmDialog, isActive, modal, statusBadge, toast } from "../ui.js";
import { describe, errorAlert } from "./list.js";

const STATES = ["valid", "repaired", "invalid", "unchecked"];
const FILTERS = [...STATES, "approved", "unapproved"];
const STATE_HELP = {
  valid: "step 3 (or the last edit) ran it without error",
  repaired: "step 3 fixed the SQL; the original is kept",
  invalid: "the SQL fails; it is not loaded unless approved, and cannot be approved",
  unchecked: "not validated yet (run step 3, or edit it)",
};
const COUNT_KEYS = ["total", "valid", "repaired", "invalid", "unchecked", "approved"];
const RUN_LIMIT = 100;

export function renderPairs(view, { params: [taskId], query }) {
  const base = `/tasks/${encodeURIComponent(taskId)}/pairs`;
  const filters = {
    state: query.get("state") || "",
    table: query.get("table") || "",
    q: query.get("q") || "",
  };
  let alive = true;
  let writable = false;
  let task = null;
  let data = null; // last GET answer
  const selected = new Set();

  const title = h("h1", { id: "pairs-title", text: "Pairs" });
  const sub = h("div", { class: "sub mono", id: "pairs-file" });
  const counts = h("div", { class: "pair-counts", id: "pair-counts" });
  const headActions = h("div", { class: "actions", id: "pairs-actions" });
  const message = h("div", { class: "action-msg", id: "pairs-msg" });
  const stateSelect = h(
    "select",
    { id: "pairs-state", "aria-label": "Filter by state" },
    h("option", { value: "", text: "All states" }),
    FILTERS.map((s) => h("option", { value: s, text: s })),
  );
  stateSelect.value = filters.state;
  const tableSelect = h(
    "select",
    { id: "pairs-table", "aria-label": "Filter by table" },
    h("option", { value: "", text: "All tables" }),
  );
  const search = h("input", {
    type: "search",
    id: "pairs-q",
    placeholder: "Text in the question or SQL…",
    value: filters.q,
    "aria-label": "Search pairs",
  });
  const selectAll = h("input", { type: "checkbox", id: "pairs-select-all", "aria-label": "Select all shown" });
  const selectionNote = h("span", { class: "muted small", id: "pairs-selection" });
  const approveSelectedBtn = h("button", {
    class: "btn small",
    type: "button",
    id: "btn-approve-selected",
    text: "Approve selected",
    disabled: true,
    onClick: () => approve({ ids: [...selected] }, "selected"),
  });
  const selectionBar = h(
    "div",
    { class: "selection-bar write-only" },
    h("label", { class: "inline" }, selectAll, h("span", { text: "Select all shown" })),
    approveSelectedBtn,
    selectionNote,
  );
  const shownNote = h("span", { class: "muted small", id: "pairs-shown" });
  const addBox = h("div", { id: "pair-add", class: "pair-add hidden" });
  const list = h("div", { class: "pair-list", id: "pair-list" }, h("p", { class: "muted", text: "Loading…" }));
  const historyBody = h("tbody");
  const historyPanel = h(
    "details",
    { class: "card history", id: "pairs-history" },
    h("summary", { text: "History of changes" }),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "compact" },
        h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Pair", "Change"].map((t) => h("th", { text: t })))),
        historyBody,
      ),
    ),
  );
  historyPanel.addEventListener("toggle", () => {
    if (historyPanel.open) loadHistory();
  });

  replaceChildren(
    view,
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: "#/tasks", text: "Tasks" }),
      h("span", { text: " / " }),
      h("a", { href: `#/tasks/${encodeURIComponent(taskId)}`, class: "mono", text: taskId }),
      h("span", { text: " / Pairs" }),
    ),
    h(
      "section",
      { class: "card pairs-header" },
      h("div", { class: "task-title" }, h("div", {}, title, sub), headActions),
      counts,
    ),
    message,
    addBox,
    h(
      "section",
      { class: "card" },
      h("div", { class: "toolbar" }, stateSelect, tableSelect, search, shownNote),
      selectionBar,
      list,
    ),
    historyPanel,
  );

  // ---- loading --------------------------------------------------------------------------

  function filterString() {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
    return params.toString();
  }

  function syncHash() {
    const qs = filterString();
    window.history.replaceState(null, "", `#/tasks/${encodeURIComponent(taskId)}/pairs${qs ? `?${qs}` : ""}`);
  }

  async function loadTask() {
    try {
      task = await get(`/tasks/${encodeURIComponent(taskId)}`);
    } catch {
      task = null;
    }
    if (!alive || !task) return;
    title.textContent = `Pairs · ${task.task_name || task.id}`;
    document.title = `Pairs · ${task.task_name || task.id} — Data Pipeline console`;
    renderHeadActions();
  }

  let loadSeq = 0; // filters change faster than answers come: only the latest is shown

  async function load() {
    const mine = ++loadSeq;
    try {
      const asked = filterString();
      const answer = await get(base, filters);
      if (!alive || mine !== loadSeq) return;
      data = { ...answer, filters: asked }; // the filters this list answers (the query string)
      renderCounts();
      renderTables();
      renderList();
    } catch (err) {
      if (!alive || mine !== loadSeq) return;
      if (err instanceof ApiError && err.status === 404) {
        replaceChildren(
          list,
          h("div", { class: "card empty" }, h("h2", { text: "No pairs" }),
            h("p", { text: err.message }),
            h("a", { class: "btn", href: `#/tasks/${encodeURIComponent(taskId)}`, text: "Back to the task" })),
        );
        return;
      }
      replaceChildren(list, errorAlert("Could not load the pairs", err, load));
    }
  }

  /** Counts and table names only (after a change to one pair, its card is updated in place). */
  async function refreshCounts() {
    const seen = loadSeq;
    try {
      const answer = await get(base, filters);
      if (!alive || seen !== loadSeq) return;
      data = { ...answer, pairs: data ? data.pairs : answer.pairs, filters: data ? data.filters : "" };
      renderCounts();
      renderTables();
    } catch {
      // The next full load shows the error.
    }
  }

  // ---- header ---------------------------------------------------------------------------

  function renderCounts() {
    const c = data.counts || {};
    sub.textContent = data.pair_file ? String(data.pair_file).split("/").pop() : "";
    replaceChildren(
      counts,
      COUNT_KEYS.map((key) => {
        const filter = key === "total" ? "" : key;
        return h(
          "button",
          {
            type: "button",
            class: `count-chip count-${key}${filters.state === filter ? " active" : ""}`,
            dataset: { count: key },
            title: key === "total" ? "show every pair" : `show ${key} pairs`,
            onClick: () => setFilter("state", filter),
          },
          h("b", { text: String(c[key] ?? 0) }),
          h("span", { text: key }),
        );
      }),
    );
    renderHeadActions();
  }

  function renderHeadActions() {
    const busy = task && isActive(task.status);
    const c = (data && data.counts) || {};
    replaceChildren(
      headActions,
      task && busy ? statusBadge(task.status, task.queue_position) : null,
      writable
        ? [
            h("button", { class: "btn", type: "button", id: "btn-add-pair", text: "+ Add pair", disabled: busy, onClick: openAdd }),
            h("button", {
              class: "btn",
              type: "button",
              id: "btn-approve-valid",
              text: "Approve all valid",
              disabled: busy || !(c.valid || c.repaired),
              onClick: () => approve({ all_valid: true }, "all valid"),
            }),
            h("button", { class: "btn primary", type: "button", id: "btn-load", text: "Load approved pairs…", disabled: busy, onClick: loadPairs }),
          ]
        : h("span", { class: "muted small", text: "read only" }),
    );
  }

  function renderTables() {
    const names = data.tables || [];
    const current = filters.table;
    replaceChildren(
      tableSelect,
      h("option", { value: "", text: "All tables" }),
      names.map((t) => h("option", { value: t, text: t })),
      current && !names.includes(current) ? h("option", { value: current, text: current }) : null,
    );
    tableSelect.value = current;
  }

  function setFilter(key, value) {
    filters[key] = value;
    if (key === "state") stateSelect.value = value;
    syncHash();
    load();
  }

  // ---- the list -------------------------------------------------------------------------

  function renderList() {
    const pairs = data.pairs || [];
    list.dataset.filters = data.filters || "";
    const total = (data.counts && data.counts.total) || 0;
    shownNote.textContent = `${pairs.length} of ${total} shown`;
    for (const id of [...selected]) if (!pairs.some((p) => p.id === id)) selected.delete(id);
    updateSelection();
    if (!pairs.length) {
      replaceChildren(
        list,
        h("p", { class: "empty-list muted", text: total ? "No pair matches these filters." : "The pair file is empty." }),
      );
      return;
    }
    replaceChildren(list, pairs.map(pairCard));
  }

  function updateSelection() {
    const shown = (data && data.pairs) || [];
    approveSelectedBtn.disabled = selected.size === 0;
    approveSelectedBtn.textContent = selected.size ? `Approve selected (${selected.size})` : "Approve selected";
    selectionNote.textContent = selected.size ? `${selected.size} selected` : "";
    selectAll.checked = shown.length > 0 && shown.every((p) => selected.has(p.id));
  }

  selectAll.addEventListener("change", () => {
    const shown = (data && data.pairs) || [];
    for (const p of shown) {
      if (selectAll.checked) selected.add(p.id);
      else selected.delete(p.id);
    }
    for (const box of list.querySelectorAll("input.pair-select")) box.checked = selectAll.checked;
    updateSelection();
  });

  function stateBadge(state) {
    return h("span", {
      class: `badge pair-state state-${state || "unchecked"}`,
      text: state || "unchecked",
      title: STATE_HELP[state] || "",
    });
  }

  function approvedMark(p) {
    if (!p.approved) return null;
    const who = [p.approved_by ? `by ${p.approved_by}` : "", p.approved_at ? fmtTime(p.approved_at) : ""].filter(Boolean).join(" · ");
    return h("span", { class: "approved-mark", title: `approved ${who}`.trim() }, "✓ approved", who ? h("span", { class: "muted", text: ` ${who}` }) : null);
  }

  /** One pair: its header (select, state, approval, tables, actions), question, SQL, details. */
  function pairCard(p) {
    const card = h("article", {
      class: `pair state-${p.state || "unchecked"}${p.approved ? " is-approved" : ""}`,
      dataset: { pairId: p.id, state: p.state || "unchecked" },
    });
    const body = h("div", { class: "pair-body" });
    const output = h("div", { class: "pair-output" });
    const busy = task && isActive(task.status);

    const actions = h("div", { class: "pair-actions" });
    if (writable) {
      // Run is a POST: the API lets operators and administrators run SQL, not viewers.
      const runBtn = h("button", { class: "btn small", type: "button", text: "Run", dataset: { action: "run" } });
      runBtn.addEventListener("click", () => runPair(p, output, runBtn));
      actions.append(runBtn);
      const approveBox = h("input", {
        type: "checkbox",
        class: "pair-approve",
        checked: Boolean(p.approved),
        disabled: busy,
        "aria-label": `Approve pair #${(p.index ?? 0) + 1}`,
      });
      approveBox.addEventListener("change", () => approveOne(p, approveBox, card));
      actions.append(
        h("button", { class: "btn small", type: "button", text: "Edit", disabled: busy, dataset: { action: "edit" },
          onClick: () => editPair(p, card, body) }),
        h("button", { class: "btn small danger-outline", type: "button", text: "Delete", disabled: busy, dataset: { action: "delete" },
          onClick: () => deletePair(p, card) }),
        h("label", { class: "inline approve-toggle", title: "approved pairs are loaded by “Load approved pairs”" },
          approveBox, h("span", { text: "Approved" })),
      );
    }

    const selectBox = writable
      ? h("input", { type: "checkbox", class: "pair-select", checked: selected.has(p.id), "aria-label": `Select pair #${(p.index ?? 0) + 1}` })
      : null;
    if (selectBox) {
      selectBox.addEventListener("change", () => {
        if (selectBox.checked) selected.add(p.id);
        else selected.delete(p.id);
        updateSelection();
      });
    }

    const tables = (p.tables || []).map((t) =>
      h("button", { type: "button", class: "table-tag", text: t, title: `only pairs using ${t}`, onClick: () => setFilter("table", t) }),
    );

    fillBody(body, p);
    card.append(
      h(
        "div",
        { class: "pair-head" },
        selectBox,
        h("span", { class: "pair-index mono", text: `#${(p.index ?? 0) + 1}` }),
        stateBadge(p.state),
        approvedMark(p),
        h("span", { class: "pair-tables" }, tables),
        h("span", { class: "spacer" }),
        actions,
      ),
      body,
      output,
    );
    return card;
  }

  /** Question, SQL, and what the state explains (the original of a repair, the error). */
  function fillBody(body, p) {
    const when = p.edited_at ? ` · ${fmtTime(p.edited_at)}` : "";
    const edited = p.added_by
      ? `added by ${p.added_by}${p.edited_by && p.edited_by !== p.added_by ? ` · edited by ${p.edited_by}` : ""}${when}`
      : p.edited_by || p.edited_at
        ? `edited${p.edited_by ? ` by ${p.edited_by}` : ""}${when}`
        : "";
    replaceChildren(
      body,
      h("p", { class: "pair-question", text: p.question }),
      sqlBlock(p.sql, { class: "pair-sql" }),
      p.state === "invalid" && p.error
        ? h("div", { class: "pair-error" }, h("strong", { text: "Error: " }), h("span", { text: p.error }))
        : null,
      p.original_sql
        ? h(
            "details",
            { class: "pair-original" },
            h("summary", { text: p.state === "repaired" ? "Original SQL (before step 3 repaired it)" : "Original SQL" }),
            sqlBlock(p.original_sql, { class: "pair-sql original" }),
          )
        : null,
      edited ? h("div", { class: "sub pair-edited", text: edited }) : null,
    );
  }

  function replaceCard(oldCard, pair) {
    const idx = data.pairs.findIndex((x) => x.id === pair.id);
    if (idx >= 0) data.pairs[idx] = pair;
    const card = pairCard(pair);
    oldCard.replaceWith(card);
    return card;
  }

  // ---- per pair actions -----------------------------------------------------------------

  async function runPair(p, output, btn) {
    btn.disabled = true;
    replaceChildren(output, h("p", { class: "muted small", text: "Running…" }));
    try {
      const r = await post(`${base}/${encodeURIComponent(p.id)}/run`, { limit: RUN_LIMIT });
      if (!alive) return;
      replaceChildren(output, resultTable(r));
    } catch (err) {
      replaceChildren(
        output,
        h("div", { class: "alert alert-error run-error" }, h("strong", { text: "Run failed: " }), h("span", { text: describe(err) })),
      );
    } finally {
      btn.disabled = false;
    }
  }

  function resultTable(r) {
    const columns = r.columns || [];
    const rows = r.rows || [];
    const cell = (v) => {
      if (v === null || v === undefined) return h("td", { class: "null", text: "NULL" });
      const text = typeof v === "object" ? JSON.stringify(v) : String(v);
      return h("td", { class: typeof v === "number" ? "num" : "", text });
    };
    const note = [
      `${r.row_count ?? rows.length} row${(r.row_count ?? rows.length) === 1 ? "" : "s"}`,
      r.duration_ms !== undefined && r.duration_ms !== null ? `${Number(r.duration_ms).toLocaleString("en-US", { maximumFractionDigits: 1 })} ms` : "",
    ].filter(Boolean).join(" · ");
    return h(
      "div",
      { class: "run-result" },
      h(
        "div",
        { class: "run-note" },
        h("span", { class: "run-count", text: note }),
        r.truncated ? h("span", { class: "truncated", text: `truncated: only the first ${rows.length} rows are shown` }) : null,
        h("button", { type: "button", class: "btn ghost small", text: "Close", onClick: (ev) => ev.target.closest(".run-result").remove() }),
      ),
      h(
        "div",
        { class: "table-wrap result-wrap" },
        h(
          "table",
          { class: "compact result-table" },
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", { text: c })))),
          h("tbody", {}, rows.length
            ? rows.map((row) => h("tr", {}, (Array.isArray(row) ? row : columns.map((c) => row[c])).map(cell)))
            : h("tr", {}, h("td", { colspan: String(Math.max(1, columns.length)), class: "muted", text: "No rows." }))),
        ),
      ),
    );
  }

  function editPair(p, card, body) {
    if (card.classList.contains("editing")) return;
    card.classList.add("editing");
    const question = h("textarea", { class: "edit-question", rows: "2", maxlength: "2000", "aria-label": "Question" });
    question.value = p.question;
    const sql = h("textarea", { class: "edit-sql mono", rows: String(Math.min(14, String(p.sql).split("\n").length + 2)), maxlength: "20000", "aria-label": "SQL", spellcheck: "false" });
    sql.value = p.sql;
    const note = h("div", { class: "edit-note" });
    const save = h("button", { class: "btn primary small", type: "button", text: "Save", dataset: { action: "save" } });
    const cancel = h("button", { class: "btn small", type: "button", text: "Cancel", dataset: { action: "cancel" } });
    replaceChildren(
      body,
      h("label", { class: "field" }, h("span", { text: "Question" }), question),
      h("label", { class: "field" }, h("span", { text: "SQL" }), sql),
      h("p", { class: "muted small", text: "Saving validates the SQL with step 3's validator; an edit un-approves the pair." }),
      note,
      h("div", { class: "edit-actions" }, save, cancel),
    );
    cancel.addEventListener("click", () => {
      card.classList.remove("editing");
      fillBody(body, p);
    });
    save.addEventListener("click", async () => {
      const changes = {};
      if (question.value !== p.question) changes.question = question.value;
      if (sql.value !== p.sql) changes.sql = sql.value;
      if (!Object.keys(changes).length) {
        card.classList.remove("editing");
        fillBody(body, p);
        return;
      }
      save.disabled = true;
      try {
        const updated = await patch(`${base}/${encodeURIComponent(p.id)}`, changes);
        if (!alive) return;
        const fresh = replaceCard(card, updated);
        const invalid = updated.state === "invalid";
        fresh.querySelector(".pair-output").append(
          h("div", {
            class: `alert ${invalid ? "alert-error" : "alert-success"} save-note`,
            text: invalid
              ? "Saved, but the SQL is invalid: the pair stays invalid until it is fixed."
              : `Saved · ${updated.state}`,
          }),
        );
        refreshCounts();
      } catch (err) {
        save.disabled = false;
        replaceChildren(note, h("div", { class: "alert alert-error", text: `Not saved: ${describe(err)}` }));
      }
    });
    sql.focus();
  }

  async function deletePair(p, card) {
    const ok = await confirmDialog("Delete this pair?", `“${p.question}” is removed from the pair file (the previous version is kept as a backup).`, {
      confirmLabel: "Delete pair",
      danger: true,
    });
    if (!ok) return;
    try {
      await del(`${base}/${encodeURIComponent(p.id)}`);
      if (!alive) return;
      card.remove();
      selected.delete(p.id);
      data.pairs = data.pairs.filter((x) => x.id !== p.id);
      updateSelection();
      toast("Pair deleted", "success");
      refreshCounts();
    } catch (err) {
      showMessage("error", `Delete failed: ${describe(err)}`);
    }
  }

  async function approveOne(p, box, card) {
    const wanted = box.checked;
    box.disabled = true;
    try {
      const r = await post(`${base}/approve`, { ids: [p.id], approved: wanted });
      if (!alive) return;
      const skipped = (r.skipped || []).find((s) => s.id === p.id);
      if (skipped) {
        box.checked = !wanted;
        box.disabled = false;
        showMessage("warn", `Not approved: ${skipped.reason}`);
        return;
      }
      const fresh = await get(`${base}/${encodeURIComponent(p.id)}`);
      if (!alive) return;
      replaceCard(card, fresh);
      if (r.counts) {
        data.counts = r.counts;
        renderCounts();
      } else refreshCounts();
    } catch (err) {
      box.checked = !wanted;
      box.disabled = false;
      showMessage("error", `Approval failed: ${describe(err)}`);
    }
  }

  // ---- whole-file actions ---------------------------------------------------------------

  async function approve(body, what) {
    try {
      const r = await post(`${base}/approve`, body);
      if (!alive) return;
      const skipped = r.skipped || [];
      const n = (r.approved || []).length;
      const text = `${n} pair${n === 1 ? "" : "s"} approved (${what})`;
      if (skipped.length) {
        showMessage("warn", `${text}; ${skipped.length} skipped: ${skipped.slice(0, 5).map((s) => s.reason).join("; ")}${skipped.length > 5 ? " …" : ""}`);
      } else {
        replaceChildren(message);
        toast(text, "success");
      }
      selected.clear();
      await load();
    } catch (err) {
      showMessage("error", `Approval failed: ${describe(err)}`);
    }
  }

  function openAdd() {
    const question = h("textarea", { id: "add-question", rows: "2", maxlength: "2000" });
    const sql = h("textarea", { id: "add-sql", class: "mono", rows: "6", maxlength: "20000", spellcheck: "false" });
    const note = h("div");
    const save = h("button", { class: "btn primary", type: "button", id: "add-save", text: "Add pair" });
    const close = () => {
      addBox.classList.add("hidden");
      replaceChildren(addBox);
    };
    replaceChildren(
      addBox,
      h(
        "section",
        { class: "card" },
        h("h2", { text: "Add a pair" }),
        h("label", { class: "field" }, h("span", { text: "Question" }), question),
        h("label", { class: "field" }, h("span", { text: "SQL" }), sql),
        h("p", { class: "muted small", text: "The SQL is validated at once; an invalid pair is added as invalid, with its error." }),
        note,
        h("div", { class: "edit-actions" }, save, h("button", { class: "btn", type: "button", text: "Cancel", onClick: close })),
      ),
    );
    addBox.classList.remove("hidden");
    question.focus();
    save.addEventListener("click", async () => {
      if (!question.value.trim() || !sql.value.trim()) {
        replaceChildren(note, h("div", { class: "alert alert-error", text: "A pair needs a question and its SQL." }));
        return;
      }
      save.disabled = true;
      try {
        const pair = await post(base, { question: question.value, sql: sql.value });
        if (!alive) return;
        close();
        if (pair.state === "invalid") showMessage("warn", `Added as invalid: ${pair.error || "the SQL fails"}`);
        else toast(`Pair added (${pair.state})`, "success");
        await load();
      } catch (err) {
        save.disabled = false;
        replaceChildren(note, h("div", { class: "alert alert-error", text: `Not added: ${describe(err)}` }));
      }
    });
  }

  async function loadPairs() {
    const c = (data && data.counts) || {};
    const approvedOnly = h("input", { type: "radio", name: "load-which", value: "approved", id: "load-approved", checked: true });
    const all = h("input", { type: "radio", name: "load-which", value: "all", id: "load-all" });
    const replace = h("input", { type: "checkbox", id: "load-replace", checked: true });
    const go = await modal({
      title: "Load pairs into the training store",
      body: [
        h("p", { text: "Runs step 4 (training load) for this task, as a normal run with progress and logs." }),
        h("label", { class: "option" }, approvedOnly,
          h("span", {}, h("strong", { text: `Approved pairs only (${c.approved ?? 0})` }), h("small", { text: "what a reviewer accepted" }))),
        h("label", { class: "option" }, all,
          h("span", {}, h("strong", { text: `All pairs (${c.total ?? 0})` }), h("small", { text: "as step 4 does without review" }))),
        h("hr", { class: "sep" }),
        h("label", { class: "option" }, replace,
          h("span", {}, h("strong", { text: "Replace what this task loaded before" }),
            h("small", { text: "the store then holds exactly this load: earlier versions of edited pairs and pairs no longer approved leave it" }))),
      ],
      buttons: [
        { label: "Cancel", value: false },
        { label: "Load", value: true, kind: "primary", submit: true },
      ],
    });
    if (!go) return;
    try {
      await post(`${base}/load`, { pairs: all.checked ? "all" : "approved", replace: replace.checked });
      toast("Step 4 started", "success");
      window.location.hash = `#/tasks/${encodeURIComponent(taskId)}`;
    } catch (err) {
      showMessage(err instanceof ApiError && err.status === 409 ? "warn" : "error", `Could not load: ${describe(err)}`);
    }
  }

  async function loadHistory() {
    replaceChildren(historyBody, h("tr", {}, h("td", { colspan: "5", class: "muted", text: "Loading…" })));
    try {
      const r = await get(`${base}/history`);
      if (!alive) return;
      const changes = r.changes || [];
      replaceChildren(
        historyBody,
        changes.length
          ? changes.map((c) =>
              h(
                "tr",
                {},
                h("td", { class: "nowrap", text: fmtTime(c.at) }),
                h("td", { text: c.by || "—" }),
                h("td", {}, h("span", { class: `badge action-${c.action}`, text: c.action })),
                h("td", { class: "mono small", title: c.pair_id || "", text: pairLabel(c.pair_id) }),
                h("td", { class: "change" }, describeChange(c)),
              ),
            )
          : h("tr", {}, h("td", { colspan: "5", class: "muted", text: "No changes yet." })),
      );
    } catch (err) {
      replaceChildren(historyBody, h("tr", {}, h("td", { colspan: "5", class: "muted", text: describe(err) })));
    }
  }

  function describeChange(c) {
    const before = c.before || {};
    const after = c.after || {};
    const parts = [];
    let questionShown = false;
    for (const key of ["question", "sql"]) {
      const a = before[key];
      const b = after[key];
      if (a === b) continue;
      if (key === "question") questionShown = true;
      parts.push(
        h(
          "div",
          { class: "change-line" },
          h("span", { class: "muted", text: `${key}: ` }),
          a ? h("del", { text: clip(a) }) : null,
          a && b ? " → " : null,
          b ? h("ins", { text: clip(b) }) : null,
        ),
      );
    }
    if ("approved" in after && before.approved !== after.approved) {
      parts.push(h("div", { class: "change-line", text: after.approved ? "approved" : "approval withdrawn" }));
    }
    if (!questionShown) {
      const known = ((data && data.pairs) || []).find((p) => p.id === c.pair_id);
      const question = after.question || before.question || (known && known.question);
      if (question) parts.push(h("div", { class: "change-line muted", text: clip(question, 100) }));
    }
    return parts;
  }

  /** "#3" for a pair of the list shown, else its id. */
  function pairLabel(id) {
    const known = ((data && data.pairs) || []).find((p) => p.id === id);
    return known ? `#${(known.index ?? 0) + 1}` : id || "—";
  }

  function showMessage(kind, text) {
    replaceChildren(message, h("div", { class: `alert alert-${kind}`, text }));
  }

  // ---- filters --------------------------------------------------------------------------

  stateSelect.addEventListener("change", () => setFilter("state", stateSelect.value));
  tableSelect.addEventListener("change", () => setFilter("table", tableSelect.value));
  search.addEventListener("input", debounce(() => setFilter("q", search.value.trim()), 300));

  view.classList.add("read-only"); // until /whoami says otherwise
  (async () => {
    writable = await canWrite();
    if (!alive) return;
    view.classList.toggle("read-only", !writable);
    await loadTask();
    await load();
  })();

  return () => {
    alive = false;
    view.classList.remove("read-only");
  };
}

function clip(text, n = 160) {
  const s = String(text);
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
