// The training store (#/store): what the assistant retrieves from — counts per collection and
// per source database, a search as the assistant would do it, the documents (filter, page,
// delete, export as JSONL).
import { authUrl, del, get, post, whoami } from "../api.js";
import { debounce, fmtTime, h, replaceChildren } from "../dom.js";
import { sqlBlock } from "../sql.js";
import { confirmDialog, toast } from "../ui.js";
import { describe, errorAlert } from "./list.js";

const COLLECTIONS = ["sql", "ddl", "documentation"];
const PAGE_SIZE = 25;

export function renderStore(view, { query }) {
  const filters = {
    collection: query.get("collection") || "",
    task_id: query.get("task_id") || "",
    db_name: query.get("db_name") || "",
    q: query.get("q") || "",
  };
  let page = Math.max(1, Number(query.get("page")) || 1);
  let alive = true;
  let admin = false;
  let summary = null;
  const selected = new Set();

  view.classList.add("not-admin"); // until /whoami says otherwise

  const totals = h("div", { class: "pair-counts", id: "store-counts" });
  const embedderNote = h("div", { class: "sub", id: "store-embedder" });
  const dbBody = h("tbody");
  const summaryMsg = h("div");

  // Search.
  const searchInput = h("input", {
    type: "search",
    id: "store-search-q",
    placeholder: "Ask a question as a user would…",
    maxlength: "2000",
    "aria-label": "Question to search for",
  });
  const kSelect = h("select", { id: "store-search-k", "aria-label": "Number of hits" },
    [5, 10, 20, 50].map((k) => h("option", { value: String(k), text: `${k} nearest` })));
  kSelect.value = "10";
  const searchCollection = h("select", { id: "store-search-collection", "aria-label": "Collection to search" },
    h("option", { value: "", text: "All collections" }),
    COLLECTIONS.map((c) => h("option", { value: c, text: c })));
  const searchBtn = h("button", { class: "btn primary", type: "submit", id: "store-search-btn", text: "Search" });
  const hits = h("div", { class: "hits", id: "store-hits" });

  // Documents.
  const colSelect = h("select", { id: "docs-collection", "aria-label": "Filter by collection" });
  const taskSelect = h("select", { id: "docs-task", "aria-label": "Filter by task" });
  const dbSelect = h("select", { id: "docs-db", "aria-label": "Filter by database" });
  const textInput = h("input", { type: "search", id: "docs-q", placeholder: "Text in the document…", value: filters.q, "aria-label": "Search documents" });
  const exportLink = h("a", { class: "btn ghost", id: "docs-export", text: "Export JSONL", download: "training_store.jsonl" });
  const deleteSelectedBtn = h("button", { class: "btn danger-outline small admin-only", type: "button", id: "docs-delete-selected", text: "Delete selected", disabled: true, onClick: deleteSelected });
  const docsBody = h("tbody");
  const pager = h("div", { class: "pager" });
  const docsMsg = h("div");

  replaceChildren(
    view,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", { text: "Training store" }), embedderNote),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { text: "Contents" }),
      summaryMsg,
      totals,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "compact store-dbs", id: "store-dbs" },
          h("thead", {}, h("tr", {}, ["Source database", ...COLLECTIONS, "Total"].map((t) => h("th", { text: t })))),
          dbBody,
        ),
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { text: "Search as the assistant would" }),
      h(
        "form",
        { class: "toolbar", id: "store-search", onSubmit: (ev) => { ev.preventDefault(); runSearch(); } },
        searchInput,
        searchCollection,
        kSelect,
        searchBtn,
      ),
      hits,
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { class: "with-note" }, "Documents", h("span", { class: "muted small", id: "docs-total" })),
      h("div", { class: "toolbar" }, colSelect, taskSelect, dbSelect, textInput, exportLink, deleteSelectedBtn),
      docsMsg,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "compact docs", id: "docs-table" },
          h("thead", {}, h("tr", {},
            h("th", { class: "admin-only" }, h("input", { type: "checkbox", id: "docs-select-all", "aria-label": "Select all shown", onChange: selectAllShown })),
            ["Collection", "Document", "Database", "Tasks", "Created"].map((t) => h("th", { text: t })),
            h("th", { class: "admin-only" }))),
          docsBody,
        ),
      ),
      pager,
    ),
  );

  function syncHash() {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
    if (page > 1) params.set("page", String(page));
    const qs = params.toString();
    window.history.replaceState(null, "", `#/store${qs ? `?${qs}` : ""}`);
    exportLink.href = authUrl("/store/export", filters);
  }

  // ---- counts ---------------------------------------------------------------------------

  async function loadSummary() {
    try {
      summary = await get("/store");
      if (!alive) return;
      replaceChildren(summaryMsg);
      const byCollection = Object.fromEntries((summary.collections || []).map((c) => [c.collection, c.count]));
      const embedder = summary.embedder || summary.configured_embedder;
      embedderNote.textContent = embedder ? `embedder: ${embedder}` : "";
      replaceChildren(
        totals,
        chip("total", summary.total ?? 0, ""),
        [...new Set([...COLLECTIONS, ...Object.keys(byCollection)])].map((c) => chip(c, byCollection[c] ?? 0, c)),
      );
      const dbs = summary.databases || [];
      replaceChildren(
        dbBody,
        dbs.length
          ? dbs.map((d) =>
              h(
                "tr",
                { dataset: { db: d.db_name } },
                h("td", {}, h("button", { type: "button", class: "linkish", text: d.db_name || "—", onClick: () => setFilter("db_name", d.db_name) })),
                COLLECTIONS.map((c) => h("td", { class: "num", text: String((d.collections || {})[c] ?? 0) })),
                h("td", { class: "num", text: String(d.count ?? 0) }),
              ),
            )
          : h("tr", {}, h("td", { colspan: String(COLLECTIONS.length + 2), class: "muted", text: "The store is empty: load a task's pairs (step 4) first." })),
      );
      fillFilterSelects();
    } catch (err) {
      if (alive) replaceChildren(summaryMsg, errorAlert("Could not read the store", err, loadSummary));
    }
  }

  function chip(label, count, collection) {
    return h(
      "button",
      {
        type: "button",
        class: `count-chip count-${label}${filters.collection === collection ? " active" : ""}`,
        dataset: { count: label },
        onClick: () => setFilter("collection", collection),
      },
      h("b", { text: String(count) }),
      h("span", { text: label }),
    );
  }

  function fillFilterSelects() {
    const s = summary || {};
    const options = (select, none, values, current) => {
      replaceChildren(
        select,
        h("option", { value: "", text: none }),
        values.map(([v, label]) => h("option", { value: v, text: label })),
        current && !values.some(([v]) => v === current) ? h("option", { value: current, text: current }) : null,
      );
      select.value = current;
    };
    options(colSelect, "All collections", COLLECTIONS.map((c) => [c, c]), filters.collection);
    options(taskSelect, "All tasks", (s.tasks || []).map((t) => [t.task_id, `${t.task_id} (${t.count})`]), filters.task_id);
    options(dbSelect, "All databases", (s.databases || []).map((d) => [d.db_name, `${d.db_name} (${d.count})`]), filters.db_name);
  }

  // ---- search ---------------------------------------------------------------------------

  async function runSearch() {
    const q = searchInput.value.trim();
    if (!q) {
      replaceChildren(hits, h("p", { class: "muted", text: "Type a question first." }));
      return;
    }
    searchBtn.disabled = true;
    replaceChildren(hits, h("p", { class: "muted", text: "Searching…" }));
    try {
      const r = await get("/store/search", { q, k: kSelect.value, collection: searchCollection.value });
      if (!alive) return;
      const found = r.hits || [];
      replaceChildren(
        hits,
        found.length
          ? h("ol", { class: "hit-list" }, found.map(hitItem))
          : h("p", { class: "muted", text: "Nothing found (is the store empty?)." }),
      );
    } catch (err) {
      replaceChildren(hits, errorAlert("Search failed", err, runSearch));
    } finally {
      searchBtn.disabled = false;
    }
  }

  function hitItem(doc) {
    return h(
      "li",
      { class: "hit", dataset: { docId: doc.id, collection: doc.collection } },
      h(
        "div",
        { class: "hit-head" },
        h("span", { class: "distance mono", title: "cosine distance: smaller is nearer", text: fmtDistance(doc.distance) }),
        h("span", { class: `badge coll-${doc.collection}`, text: doc.collection }),
        h("span", { class: "muted small", text: [doc.db_name, (doc.task_ids || []).join(", ")].filter(Boolean).join(" · ") }),
      ),
      docContent(doc, true),
    );
  }

  // ---- documents ------------------------------------------------------------------------

  let docsSeq = 0; // filters change faster than answers come: only the latest is shown

  async function loadDocs() {
    syncHash();
    const mine = ++docsSeq;
    try {
      const r = await get("/store/documents", { ...filters, page, page_size: PAGE_SIZE });
      if (!alive || mine !== docsSeq) return;
      replaceChildren(docsMsg);
      const docs = r.documents || [];
      selected.clear();
      updateSelected();
      document.getElementById("docs-total").textContent = `${r.total ?? docs.length} matching`;
      replaceChildren(
        docsBody,
        docs.length
          ? docs.map(docRow)
          : h("tr", { class: "empty-row" }, h("td", { colspan: "7", text: "No document matches these filters." })),
      );
      renderPager(Number(r.total ?? docs.length), docs.length);
    } catch (err) {
      if (alive && mine === docsSeq) replaceChildren(docsMsg, errorAlert("Could not list the documents", err, loadDocs));
    }
  }

  function docRow(doc) {
    const box = h("input", { type: "checkbox", class: "doc-select", "aria-label": `Select ${doc.id}` });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(doc.id);
      else selected.delete(doc.id);
      updateSelected();
    });
    return h(
      "tr",
      { dataset: { docId: doc.id, collection: doc.collection } },
      h("td", { class: "admin-only" }, box),
      h("td", {}, h("span", { class: `badge coll-${doc.collection}`, text: doc.collection })),
      h("td", { class: "doc-cell" }, docContent(doc, false), h("div", { class: "sub mono", text: [doc.id, doc.source_file].filter(Boolean).join(" · ") })),
      h("td", { text: doc.db_name || "—" }),
      h("td", { class: "mono small" }, (doc.task_ids || []).map((t) => h("div", {}, h("a", { href: `#/tasks/${encodeURIComponent(t)}`, text: t })))),
      h("td", { class: "nowrap small", text: doc.created_at ? fmtTime(doc.created_at) : "—" }),
      h("td", { class: "admin-only" }, h("button", { type: "button", class: "btn ghost small danger-outline", text: "Delete", onClick: () => deleteDocs([doc.id]) })),
    );
  }

  /** A document's question and SQL (sql collection) or its text, long texts folded. */
  function docContent(doc, open) {
    if (doc.collection === "sql" && (doc.question || doc.sql)) {
      return h(
        "div",
        { class: "doc-pair" },
        doc.question ? h("p", { class: "pair-question", text: doc.question }) : null,
        doc.sql ? sqlBlock(doc.sql, { class: "pair-sql" }) : null,
      );
    }
    const text = String(doc.content ?? "");
    const head = text.split("\n").slice(0, open ? 8 : 3).join("\n");
    const body = doc.collection === "ddl" ? sqlBlock(text, { class: "doc-text" }) : h("pre", { class: "doc-text", text });
    if (head.length >= text.length) return body;
    return h(
      "details",
      { class: "doc-fold" },
      h("summary", {}, h("span", { class: "doc-head", text: head })),
      body,
    );
  }

  function renderPager(total, shown) {
    const first = total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
    const last = (page - 1) * PAGE_SIZE + shown;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const go = (p) => () => {
      page = p;
      loadDocs();
    };
    replaceChildren(
      pager,
      h("span", { class: "muted", text: `${first}–${last} of ${total}` }),
      h("button", { class: "btn ghost small", type: "button", text: "‹ Previous", disabled: page <= 1, onClick: go(page - 1) }),
      h("span", { class: "muted", text: `page ${page} / ${pages}` }),
      h("button", { class: "btn ghost small", type: "button", text: "Next ›", disabled: page >= pages, onClick: go(page + 1) }),
    );
  }

  function updateSelected() {
    deleteSelectedBtn.disabled = selected.size === 0;
    deleteSelectedBtn.textContent = selected.size ? `Delete selected (${selected.size})` : "Delete selected";
    const all = view.querySelector("#docs-select-all");
    if (all) all.checked = selected.size > 0 && selected.size === docsBody.querySelectorAll("input.doc-select").length;
  }

  function selectAllShown(ev) {
    for (const box of docsBody.querySelectorAll("input.doc-select")) {
      box.checked = ev.target.checked;
      const id = box.closest("tr").dataset.docId;
      if (box.checked) selected.add(id);
      else selected.delete(id);
    }
    updateSelected();
  }

  function deleteSelected() {
    if (selected.size) deleteDocs([...selected]);
  }

  async function deleteDocs(ids) {
    const one = ids.length === 1;
    const ok = await confirmDialog(
      one ? "Delete this document?" : `Delete ${ids.length} documents?`,
      "They are removed from the training store: the assistant no longer retrieves them. The task's files are not changed; loading the task again brings them back.",
      { confirmLabel: "Delete", danger: true },
    );
    if (!ok) return;
    try {
      const r = one
        ? await del(`/store/documents/${encodeURIComponent(ids[0])}`)
        : await post("/store/documents/delete", { ids });
      if (!alive) return;
      const n = (r.deleted || []).length;
      toast(`${n} document${n === 1 ? "" : "s"} deleted`, "success");
      await Promise.all([loadDocs(), loadSummary()]);
    } catch (err) {
      replaceChildren(docsMsg, h("div", { class: "alert alert-error", text: `Delete failed: ${describe(err)}` }));
    }
  }

  function setFilter(key, value) {
    filters[key] = value || "";
    page = 1;
    fillFilterSelects();
    if (summary) {
      for (const el of view.querySelectorAll("#store-counts .count-chip")) {
        const c = el.dataset.count === "total" ? "" : el.dataset.count;
        el.classList.toggle("active", filters.collection === c);
      }
    }
    loadDocs();
  }

  colSelect.addEventListener("change", () => setFilter("collection", colSelect.value));
  taskSelect.addEventListener("change", () => setFilter("task_id", taskSelect.value));
  dbSelect.addEventListener("change", () => setFilter("db_name", dbSelect.value));
  textInput.addEventListener("input", debounce(() => setFilter("q", textInput.value.trim()), 300));

  fillFilterSelects();
  whoami()
    .then((me) => {
      admin = me.role === "admin";
    })
    .catch(() => {
      admin = false;
    })
    .finally(() => {
      if (alive) view.classList.toggle("not-admin", !admin);
    });
  loadSummary();
  loadDocs();

  return () => {
    alive = false;
    view.classList.remove("not-admin");
  };
}

function fmtDistance(d) {
  const v = Number(d);
  return Number.isFinite(v) ? v.toFixed(3) : "—";
}
