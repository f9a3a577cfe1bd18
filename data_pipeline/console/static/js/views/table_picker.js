// Choosing tables: tick them in the source's table list (with search and select-all), or paste
// a list (one per line or comma separated, `#` comments) that the API parses.
import { get } from "../api.js";
import { h, replaceChildren } from "../dom.js";
import { describe } from "./list.js";

const PLAIN = /^[a-z_\u0080-\uffff][a-z0-9_$\u0080-\uffff]*$/;

const quote = (part) => (PLAIN.test(part) ? part : `"${part.replace(/"/g, '""')}"`);

/** The name as a table list writes it: `table` in public, `schema.table` elsewhere. */
export function listName(t) {
  const schema = t.schema || t.table_schema || "public";
  const name = t.name || t.table || t.table_name;
  return schema === "public" ? quote(name) : `${quote(schema)}.${quote(name)}`;
}

function rowEstimate(t) {
  const v = t.estimated_rows ?? t.row_estimate ?? t.rows ?? t.row_count;
  if (v === undefined || v === null || Number(v) < 0) return "";
  return `~${Number(v).toLocaleString("en-US")} rows`;
}

export function tablePicker({ onError }) {
  let mode = "pick";
  let tables = [];
  const selected = new Set();

  const search = h("input", {
    type: "search",
    id: "table-search",
    placeholder: "Filter tables…",
    "aria-label": "Filter tables",
  });
  const selectAll = h("input", { type: "checkbox", id: "table-select-all" });
  const count = h("span", { class: "muted", id: "table-count" });
  const list = h("div", { class: "table-list", id: "table-list", role: "group" });
  const paste = h("textarea", {
    id: "table-paste",
    rows: "7",
    spellcheck: "false",
    class: "mono",
    placeholder: "# one table per line, or comma separated\nservice_area\nstall, daily_revenue\nreporting.monthly_summary",
  });
  const pickTab = h("button", { type: "button", class: "tab active", id: "tab-pick", text: "Pick from source" });
  const pasteTab = h("button", { type: "button", class: "tab", id: "tab-paste", text: "Paste a list" });
  const pickPane = h(
    "div",
    { class: "pane" },
    h(
      "div",
      { class: "picker-toolbar" },
      search,
      h("label", { class: "inline", for: "table-select-all" }, selectAll, " Select all shown"),
      count,
    ),
    list,
  );
  const pastePane = h("div", { class: "pane hidden" }, paste);

  const visible = () => {
    const q = search.value.trim().toLowerCase();
    return tables.filter(
      (t) =>
        !q || t.key.toLowerCase().includes(q) || (t.comment || "").toLowerCase().includes(q),
    );
  };

  function updateCount() {
    const shown = visible();
    count.textContent = `${selected.size} of ${tables.length} selected`;
    selectAll.checked = shown.length > 0 && shown.every((t) => selected.has(t.key));
    selectAll.indeterminate = !selectAll.checked && shown.some((t) => selected.has(t.key));
  }

  function renderList() {
    const shown = visible();
    if (!tables.length) return;
    replaceChildren(
      list,
      shown.length
        ? shown.map((t) => {
            const box = h("input", {
              type: "checkbox",
              value: t.key,
              checked: selected.has(t.key),
              "aria-label": t.key,
            });
            box.addEventListener("change", () => {
              if (box.checked) selected.add(t.key);
              else selected.delete(t.key);
              updateCount();
            });
            return h(
              "label",
              { class: "table-item", dataset: { table: t.key } },
              box,
              h("span", { class: "mono table-name", text: t.key }),
              h("span", { class: "table-comment", text: t.comment || "" }),
              h("span", { class: "table-rows muted", text: rowEstimate(t) }),
            );
          })
        : h("p", { class: "muted pad", text: "No table matches the filter." }),
    );
    updateCount();
  }

  search.addEventListener("input", renderList);
  selectAll.addEventListener("change", () => {
    for (const t of visible()) {
      if (selectAll.checked) selected.add(t.key);
      else selected.delete(t.key);
    }
    renderList();
  });

  function setMode(next) {
    mode = next;
    pickTab.classList.toggle("active", mode === "pick");
    pasteTab.classList.toggle("active", mode === "paste");
    pickPane.classList.toggle("hidden", mode !== "pick");
    pastePane.classList.toggle("hidden", mode !== "paste");
  }
  pickTab.addEventListener("click", () => setMode("pick"));
  pasteTab.addEventListener("click", () => setMode("paste"));

  async function load(sourceName) {
    tables = [];
    selected.clear();
    replaceChildren(list, h("p", { class: "muted pad", text: `Loading the tables of ${sourceName}…` }));
    updateCount();
    try {
      const data = await get(`/sources/${encodeURIComponent(sourceName)}/tables`);
      const raw = Array.isArray(data) ? data : data.tables || data.items || [];
      tables = raw.map((t) => ({ ...t, key: listName(t) }));
      if (!tables.length) {
        replaceChildren(list, h("p", { class: "muted pad", text: "This source has no tables." }));
      }
      renderList();
    } catch (err) {
      replaceChildren(list, h("p", { class: "muted pad", text: "Table list unavailable." }));
      onError(`Could not read the tables of ${sourceName}: ${describe(err)}`);
    }
  }

  function value() {
    if (mode === "paste") {
      // Lines are sent as they are so the API's line numbers match what the user sees.
      const lines = paste.value.replace(/\s+$/, "").split("\n");
      return lines.length === 1 && lines[0].trim() === "" ? [] : lines;
    }
    return tables.filter((t) => selected.has(t.key)).map((t) => t.key);
  }

  const element = h(
    "div",
    { class: "picker" },
    h("div", { class: "tabs", role: "tablist" }, pickTab, pasteTab),
    pickPane,
    pastePane,
  );
  return { element, load, value };
}
