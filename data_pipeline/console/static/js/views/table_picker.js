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

/**
 * `labelledBy`: the id of the field's label (names the list and the tabs); `describedBy`: ids
 * of the hint and the error message, read with the list and the paste area.
 */
export function tablePicker({ onError, labelledBy, describedBy }) {
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
  const list = h("div", {
    class: "table-list",
    id: "table-list",
    role: "group",
    tabindex: "-1",
    "aria-labelledby": labelledBy,
    "aria-describedby": describedBy,
  });
  const paste = h("textarea", {
    id: "table-paste",
    name: "table_list",
    rows: "7",
    spellcheck: "false",
    class: "mono",
    "aria-describedby": describedBy,
    placeholder: "# one table per line, or comma separated\nservice_area\nstall, daily_revenue\nreporting.monthly_summary",
  });
  const tab = (id, text, pane, selected) =>
    h("button", {
      type: "button",
      class: `tab${selected ? " active" : ""}`,
      id,
      role: "tab",
      "aria-selected": selected ? "true" : "false",
      "aria-controls": pane,
      tabindex: selected ? "0" : "-1",
      text,
    });
  const pickTab = tab("tab-pick", "Pick from source", "pane-pick", true);
  const pasteTab = tab("tab-paste", "Paste a list", "pane-paste", false);
  const pickPane = h(
    "div",
    { class: "pane", id: "pane-pick", role: "tabpanel", "aria-labelledby": "tab-pick" },
    h(
      "div",
      { class: "picker-toolbar" },
      search,
      h("label", { class: "inline", for: "table-select-all" }, selectAll, " Select all shown"),
      count,
    ),
    list,
  );
  const pastePane = h(
    "div",
    { class: "pane hidden", id: "pane-paste", role: "tabpanel", "aria-labelledby": "tab-paste" },
    h("label", {
      class: "paste-label",
      for: "table-paste",
      text: "Table names: one per line or comma separated, schema.table outside public, # starts a comment",
    }),
    paste,
  );

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
    for (const [t, on] of [[pickTab, mode === "pick"], [pasteTab, mode === "paste"]]) {
      t.classList.toggle("active", on);
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
    }
    pickPane.classList.toggle("hidden", mode !== "pick");
    pastePane.classList.toggle("hidden", mode !== "paste");
  }
  pickTab.addEventListener("click", () => setMode("pick"));
  pasteTab.addEventListener("click", () => setMode("paste"));
  // Tabs as the ARIA pattern has them: arrow keys move between them.
  for (const t of [pickTab, pasteTab]) {
    t.addEventListener("keydown", (ev) => {
      if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key)) return;
      ev.preventDefault();
      const next = mode === "pick" ? pasteTab : pickTab;
      setMode(next === pickTab ? "pick" : "paste");
      next.focus();
    });
  }

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
    h("div", { class: "tabs", role: "tablist", "aria-labelledby": labelledBy }, pickTab, pasteTab),
    pickPane,
    pastePane,
  );

  /** Mark the shown control invalid (or not); aria-invalid is what screen readers announce. */
  function setInvalid(on) {
    for (const el of [list, paste]) {
      if (on) el.setAttribute("aria-invalid", "true");
      else el.removeAttribute("aria-invalid");
    }
  }

  /** Focus where the table list is edited: the paste area, or the first table's box. */
  function focus() {
    if (mode === "paste") paste.focus();
    else (list.querySelector("input") || list).focus();
  }

  return { element, load, value, setInvalid, focus, mode: () => mode };
}
