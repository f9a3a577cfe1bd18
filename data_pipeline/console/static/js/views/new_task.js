// The new-task form: source, tables (picked or pasted), business context, options, mode.
import { ApiError, get, request } from "../api.js";
import { h, replaceChildren } from "../dom.js";
import { confirmDialog, STEPS, toast } from "../ui.js";
import { activeTaskId, formErrors, sentence } from "./form_errors.js";
import { prefillFromTask } from "./clone.js";
import { describe, errorAlert } from "./list.js";
import { tablePicker } from "./table_picker.js";

const OPTIONS = [
  ["enable_sql_validation", true, "Validate SQL", "step 3: EXPLAIN every generated query"],
  ["enable_llm_repair", true, "Repair failing SQL", "ask the LLM to fix queries that fail"],
  ["modify_original_file", true, "Write repairs into the pair file", "keeps a .backup copy"],
  ["enable_training_data_load", true, "Load training data", "step 4: vectors into pgvector"],
  ["backup_vector_tables", false, "Back up vector tables first", "CSV export before loading"],
];
// Options that destroy data: apart, in a danger zone, and confirmed before the task is created.
const DANGER = [
  ["truncate_vector_tables", false, "Empty the vector tables first",
    "removes every existing training vector of every task before step 4 loads this one's"],
];

// The order of the fields on the page: focus goes to the first one with an error.
const FIELD_ORDER = [
  "task_name", "db_connection", "table_list", "business_context", "execution_mode",
  "single_step", "theme_count", "questions_per_theme", "sample_rows", "validation_level",
];

const ADVANCED = [
  ["theme_count", "Themes", "default 5", 1, 50],
  ["questions_per_theme", "Questions per theme", "default 10", 1, 100],
  ["sample_rows", "Sample rows per table", "default 20", 0, 1000],
];

function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `k-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export function renderNewTask(view, { query } = {}) {
  let alive = true;
  let idempotencyKey = newKey();
  const errorSlots = {};
  const controls = {}; // field -> the control that gets aria-invalid and the focus
  const slot = (name) => (errorSlots[name] = h("div", { class: "field-error", id: `err-${name}` }));

  // A labelled control; its hint and its error message are tied to it (aria-describedby).
  const field = (name, label, control, hint) => {
    controls[name] = control;
    const ids = [hint ? `hint-${name}` : "", `err-${name}`].filter(Boolean).join(" ");
    control.setAttribute("aria-describedby", ids);
    return h(
      "div",
      { class: "field", dataset: { field: name } },
      h("label", { for: control.id, text: label }),
      control,
      hint ? h("div", { class: "hint", id: `hint-${name}`, text: hint }) : null,
      slot(name),
    );
  };

  const taskName = h("input", {
    id: "task_name",
    name: "task_name",
    maxlength: "200",
    placeholder: "e.g. 服务区营收分析 — service area revenue",
  });
  const source = h("select", { id: "db_connection", name: "db_connection" });
  const context = h("textarea", {
    id: "business_context",
    name: "business_context",
    rows: "3",
    maxlength: "4000",
    placeholder:
      "What the database is about, in the language the questions should use — e.g. " +
      "高速公路服务区管理系统：服务区、档口、每日营收与车流量",
  });
  const picker = tablePicker({
    onError: (msg) => showFieldError("table_list", `Table list: ${msg}`),
    labelledBy: "label-table_list",
    describedBy: "err-table_list",
  });

  const optionBoxes = {};
  const optionBox = ([name, checked, label, hint]) => {
    const box = h("input", { type: "checkbox", id: `opt-${name}`, name, checked });
    optionBoxes[name] = box;
    return h(
      "label",
      { class: "option", for: box.id },
      box,
      h("span", {}, h("strong", { text: label }), h("small", { text: hint })),
    );
  };
  const optionList = h("div", { class: "options-grid" }, OPTIONS.map(optionBox));
  const dangerList = h("div", { class: "options-grid" }, DANGER.map(optionBox));
  const syncOptions = () => {
    const on = optionBoxes.enable_sql_validation.checked;
    for (const dep of ["enable_llm_repair", "modify_original_file"]) {
      optionBoxes[dep].disabled = !on;
      optionBoxes[dep].closest(".option").classList.toggle("disabled", !on);
    }
  };
  optionBoxes.enable_sql_validation.addEventListener("change", syncOptions);

  const modeComplete = h("input", {
    type: "radio",
    name: "execution_mode",
    id: "mode-complete",
    value: "complete",
    checked: true,
  });
  const modeSingle = h("input", {
    type: "radio",
    name: "execution_mode",
    id: "mode-single",
    value: "single",
  });
  // A new task has no outputs yet: only step 1 can run on its own (the others are listed,
  // disabled, so the choice is explained rather than hidden).
  const stepSelect = h(
    "select",
    { id: "single_step", name: "single_step", disabled: true, "aria-label": "Step to run" },
    STEPS.map((s) =>
      h("option", {
        value: String(s.n),
        disabled: s.n > 1,
        text: s.n > 1 ? `${s.n} · ${s.label} (needs earlier steps' outputs)` : `${s.n} · ${s.label}`,
      }),
    ),
  );
  controls.execution_mode = modeComplete;
  controls.single_step = stepSelect;
  const syncMode = () => {
    stepSelect.disabled = !modeSingle.checked;
  };
  modeComplete.addEventListener("change", syncMode);
  modeSingle.addEventListener("change", syncMode);

  const advancedInputs = {};
  const advanced = h(
    "details",
    { class: "advanced" },
    h("summary", { text: "Step settings" }),
    h(
      "div",
      { class: "advanced-grid" },
      ADVANCED.map(([name, label, placeholder, min, max]) => {
        const input = h("input", {
          type: "number",
          id: name,
          name,
          min: String(min),
          max: String(max),
          placeholder,
        });
        advancedInputs[name] = input;
        return field(name, label, input);
      }),
      field(
        "validation_level",
        "Validation level",
        (advancedInputs.validation_level = h(
          "select",
          { id: "validation_level", name: "validation_level" },
          h("option", { value: "explain", text: "EXPLAIN only" }),
          h("option", { value: "execute", text: "EXPLAIN and run (read only)" }),
        )),
      ),
    ),
  );

  const formAlert = h("div", { class: "form-alert", id: "form-alert" });
  const submit = h("button", {
    class: "btn primary",
    type: "submit",
    id: "create-task",
    text: "Create and start",
  });
  const form = h(
    "form",
    { class: "task-form", id: "new-task-form", novalidate: true },
    formAlert,
    h(
      "section",
      { class: "card form-section" },
      h("h2", { text: "Source" }),
      h(
        "div",
        { class: "form-row" },
        field("task_name", "Task name (optional)", taskName),
        field("db_connection", "Business database", source, "Named sources configured on the server"),
      ),
      h("div", { class: "field", dataset: { field: "table_list" } },
        h("span", { class: "label", id: "label-table_list", text: "Tables" }), picker.element, slot("table_list")),
      field("business_context", "Business context", context),
    ),
    h(
      "section",
      { class: "card form-section" },
      h("h2", { text: "Run" }),
      h(
        "fieldset",
        { class: "field", dataset: { field: "execution_mode" }, "aria-describedby": "err-execution_mode err-single_step" },
        h("legend", { class: "label", text: "Mode" }),
        h(
          "div",
          { class: "mode-row" },
          h("label", { class: "radio", for: "mode-complete" }, modeComplete, " Complete workflow (steps 1 → 4)"),
          h("span", { class: "radio" },
            h("label", { class: "radio", for: "mode-single" }, modeSingle, " Single step"), stepSelect),
        ),
        slot("execution_mode"),
        slot("single_step"),
      ),
      h("fieldset", { class: "field" }, h("legend", { class: "label", text: "Options" }), optionList),
      advanced,
      h(
        "fieldset",
        { class: "field danger-zone", id: "danger-zone" },
        h("legend", { class: "label", text: "Danger zone" }),
        dangerList,
      ),
    ),
    h(
      "div",
      { class: "form-actions" },
      h("a", { class: "btn ghost", href: "#/tasks", text: "Cancel" }),
      submit,
    ),
  );

  replaceChildren(
    view,
    h("div", { class: "page-head" }, h("h1", { text: "New task" })),
    form,
  );

  function clearErrors() {
    for (const el of Object.values(errorSlots)) replaceChildren(el);
    for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    picker.setInvalid(false);
    replaceChildren(formAlert);
  }

  /** One message under its field; the field's control is marked invalid. */
  function showFieldError(name, text) {
    const target = errorSlots[name];
    if (!target) return false;
    if ([...target.children].some((c) => c.textContent === text)) return true;
    target.append(h("div", { text }));
    const wrap = target.closest(".field");
    if (wrap) wrap.classList.add("has-error");
    if (wrap && wrap.closest("details")) wrap.closest("details").open = true;
    if (name === "table_list") picker.setInvalid(true);
    else if (controls[name]) controls[name].setAttribute("aria-invalid", "true");
    return true;
  }

  function focusField(name) {
    if (name === "table_list") picker.focus();
    else if (controls[name]) controls[name].focus();
  }

  /**
   * Every problem at once: each next to its field, all of them in a summary at the top whose
   * entries lead to the fields; focus moves to the first field with an error (or the summary).
   */
  function showErrors(problems, headline, detail) {
    const seen = new Set();
    const unique = problems.filter((p) => !seen.has(p.text) && seen.add(p.text));
    const placed = unique.filter((p) => showFieldError(p.field, p.text));
    const unplaced = unique.filter((p) => !placed.includes(p));
    placed.sort((a, b) => FIELD_ORDER.indexOf(a.field) - FIELD_ORDER.indexOf(b.field));
    const count = unique.length;
    const summary = h(
      "div",
      { class: "alert alert-error", id: "error-summary", tabindex: "-1" },
      h("strong", { text: headline }),
      detail ? h("span", { text: ` ${detail}` }) : null,
      count
        ? h(
            "ul",
            {},
            [...placed, ...unplaced].map((p) =>
              h(
                "li",
                {},
                p.field
                  ? h("button", {
                      type: "button",
                      class: "linkish",
                      text: p.text,
                      onClick: () => focusField(p.field),
                    })
                  : p.text,
              ),
            ),
          )
        : null,
    );
    replaceChildren(formAlert, summary);
    if (placed.length) focusField(placed[0].field);
    else summary.focus();
  }

  /** What the browser can tell before asking the server (the server checks the same again). */
  function clientErrors() {
    const out = [];
    const add = (name, text) => out.push({ field: name, text: sentence(name, text) });
    if (!source.value) add("db_connection", "choose a database");
    if (!picker.value().some((l) => l.replace(/#.*/, "").trim())) add("table_list", "add at least one table");
    if (!context.value.trim()) add("business_context", "required — describe what the database is about");
    for (const [name, , , min, max] of ADVANCED) {
      const raw = advancedInputs[name].value.trim();
      const bad = advancedInputs[name].validity && advancedInputs[name].validity.badInput;
      if (raw === "" && !bad) continue;
      const n = Number(raw);
      if (bad || !Number.isInteger(n)) add(name, "must be a whole number");
      else if (n < min) add(name, `must be ${min} or more`);
      else if (n > max) add(name, `must be ${max} or less`);
    }
    return out;
  }

  async function loadSources() {
    clearErrors();
    try {
      const data = await get("/sources");
      if (!alive) return;
      const list = Array.isArray(data) ? data : data.sources || data.items || [];
      const sources = list
        .map((s) => (typeof s === "string" ? { name: s } : s))
        .filter((s) => s && s.name);
      const names = sources.map((s) => s.name);
      replaceChildren(
        source,
        sources.map((s) =>
          h("option", {
            value: s.reference || `source:${s.name}`,
            text: s.database && s.database !== s.name ? `${s.name} — ${s.database}` : s.name,
          }),
        ),
      );
      if (!names.length) {
        source.append(h("option", { value: "", text: "no source configured" }));
        showFieldError("db_connection", sentence("db_connection", "the server has no named source (DATA_SOURCES)"));
        return;
      }
      picker.load(names[0]);
    } catch (err) {
      if (!alive) return;
      showFieldError("db_connection", sentence("db_connection", `could not load the sources: ${describe(err)}`));
      replaceChildren(formAlert, errorAlert("Could not load the sources", err, loadSources));
    }
  }
  source.addEventListener("change", () => {
    replaceChildren(errorSlots.table_list);
    if (source.value) picker.load(source.value.replace(/^source:/, ""));
  });

  function body() {
    const parameters = {
      db_connection: source.value,
      execution_mode: modeSingle.checked ? "single" : "complete",
    };
    // Left out when empty, so the API answers "required" rather than a length rule.
    if (context.value.trim()) parameters.business_context = context.value.trim();
    const tables = picker.value();
    if (tables.length) parameters.table_list = tables;
    if (modeSingle.checked) parameters.single_step = Number(stepSelect.value);
    for (const [name, box] of Object.entries(optionBoxes)) parameters[name] = box.checked;
    for (const [name, , , ,] of ADVANCED) {
      const raw = advancedInputs[name].value.trim();
      if (raw !== "") parameters[name] = Number(raw);
    }
    parameters.validation_level = advancedInputs.validation_level.value;
    const payload = { task_type: "data_workflow", parameters };
    if (taskName.value.trim()) payload.task_name = taskName.value.trim();
    return payload;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (optionBoxes.truncate_vector_tables.checked) {
      const ok = await confirmDialog(
        "Empty the vector tables?",
        "Step 4 will first remove every training vector in the store, of every task, then load " +
          "this task's pairs. This cannot be undone.",
        { confirmLabel: "Empty them and create", danger: true },
      );
      if (!ok) return;
    }
    clearErrors();
    const local = clientErrors();
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      // Sent even when the browser found problems: the server's answer lists all of its own
      // (a pasted line it cannot read, a table the source lacks) in the same go.
      const envelope = await request("POST", "/tasks", {
        body: body(),
        headers: { "Idempotency-Key": idempotencyKey },
      });
      const task = envelope.data || {};
      const id = task.task_id || task.id;
      toast(`Task ${id} created`, "success");
      window.location.hash = `#/tasks/${encodeURIComponent(id)}`;
    } catch (err) {
      idempotencyKey = newKey();
      if (alive) await showSubmitError(err, local);
    } finally {
      submit.disabled = false;
      submit.textContent = "Create and start";
    }
  });

  async function showSubmitError(err, local) {
    if (err instanceof ApiError && err.status === 409) {
      const activeId = await activeTaskId(err.details);
      const alert = h(
        "div",
        { class: "alert alert-warn", id: "conflict-alert", tabindex: "-1" },
        h("strong", { text: "A task is already running. " }),
        h("span", { text: err.message }),
        activeId
          ? h("a", {
              class: "btn small",
              href: `#/tasks/${encodeURIComponent(activeId)}`,
              text: `Open ${activeId}`,
            })
          : null,
      );
      replaceChildren(formAlert, alert);
      alert.focus(); // scrolls it into view below the sticky header (scroll-padding-top)
      return;
    }
    const server = err instanceof ApiError && err.status === 400 ? formErrors(err.details) : [];
    const problems = [...local, ...server];
    const n = new Set(problems.map((p) => p.text)).size;
    const detail =
      err instanceof ApiError && err.status === 400
        ? n === 1 ? "Fix this problem:" : `Fix these ${n} problems:`
        : `${describe(err)}${problems.length ? " — and fix these problems:" : ""}`;
    showErrors(problems, "The task was not created.", detail);
  }

  const sourcesLoaded = loadSources();
  const cloneOf = query && query.get("from"); // "Clone task": prefilled from that task
  if (cloneOf) {
    const note = h("div", { id: "clone-note", role: "status" });
    form.before(note);
    prefillFromTask(cloneOf, form, sourcesLoaded, note);
  }
  return () => {
    alive = false;
  };
}
