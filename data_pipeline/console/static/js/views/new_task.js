// The new-task form: source, tables (picked or pasted), business context, options, mode.
import { ApiError, get, request } from "../api.js";
import { h, replaceChildren } from "../dom.js";
import { STEPS, toast } from "../ui.js";
import { activeTaskId, fieldErrors, fieldName } from "./form_errors.js";
import { describe, errorAlert } from "./list.js";
import { tablePicker } from "./table_picker.js";

const OPTIONS = [
  ["enable_sql_validation", true, "Validate SQL", "step 3: EXPLAIN every generated query"],
  ["enable_llm_repair", true, "Repair failing SQL", "ask the LLM to fix queries that fail"],
  ["modify_original_file", true, "Write repairs into the pair file", "keeps a .backup copy"],
  ["enable_training_data_load", true, "Load training data", "step 4: vectors into pgvector"],
  ["backup_vector_tables", false, "Back up vector tables first", "CSV export before loading"],
  ["truncate_vector_tables", false, "Empty vector tables first", "removes existing vectors"],
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

export function renderNewTask(view) {
  let alive = true;
  let idempotencyKey = newKey();
  const errorSlots = {};
  const slot = (name) => (errorSlots[name] = h("div", { class: "field-error", id: `err-${name}` }));

  const field = (name, label, control, hint) =>
    h(
      "div",
      { class: "field", dataset: { field: name } },
      h("label", { for: control.id, text: label }),
      control,
      hint ? h("div", { class: "hint", text: hint }) : null,
      slot(name),
    );

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
  const picker = tablePicker({ onError: (msg) => showFieldError("table_list", msg) });

  const optionBoxes = {};
  const optionList = h(
    "div",
    { class: "options-grid" },
    OPTIONS.map(([name, checked, label, hint]) => {
      const box = h("input", { type: "checkbox", id: `opt-${name}`, name, checked });
      optionBoxes[name] = box;
      return h(
        "label",
        { class: "option", for: box.id },
        box,
        h("span", {}, h("strong", { text: label }), h("small", { text: hint })),
      );
    }),
  );
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
  const stepSelect = h(
    "select",
    { id: "single_step", name: "single_step", disabled: true, "aria-label": "Step" },
    STEPS.map((s) => h("option", { value: String(s.n), text: `${s.n} · ${s.label}` })),
  );
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
        h("label", { text: "Tables" }), picker.element, slot("table_list")),
      field("business_context", "Business context", context),
    ),
    h(
      "section",
      { class: "card form-section" },
      h("h2", { text: "Run" }),
      h(
        "div",
        { class: "field", dataset: { field: "execution_mode" } },
        h("span", { class: "label", text: "Mode" }),
        h(
          "div",
          { class: "mode-row" },
          h("label", { class: "radio" }, modeComplete, " Complete workflow (steps 1 → 4)"),
          h("label", { class: "radio" }, modeSingle, " Single step", stepSelect),
        ),
        slot("execution_mode"),
        slot("single_step"),
      ),
      h("div", { class: "field" }, h("span", { class: "label", text: "Options" }), optionList),
      advanced,
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
    for (const el of Object.values(errorSlots)) el.textContent = "";
    for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
    replaceChildren(formAlert);
  }

  function showFieldError(name, msg) {
    const target = errorSlots[name];
    if (!target) return false;
    target.textContent = target.textContent ? `${target.textContent}; ${msg}` : msg;
    const wrap = target.closest(".field");
    if (wrap) wrap.classList.add("has-error");
    if (wrap && wrap.closest("details")) wrap.closest("details").open = true;
    return true;
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
        showFieldError("db_connection", "The server has no named source (DATA_SOURCES).");
        return;
      }
      picker.load(names[0]);
    } catch (err) {
      if (!alive) return;
      showFieldError("db_connection", `Could not load sources: ${describe(err)}`);
      replaceChildren(formAlert, errorAlert("Could not load the sources", err, loadSources));
    }
  }
  source.addEventListener("change", () => {
    errorSlots.table_list.textContent = "";
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
    clearErrors();
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
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
      if (alive) showSubmitError(err);
    } finally {
      submit.disabled = false;
      submit.textContent = "Create and start";
    }
  });

  async function showSubmitError(err) {
    if (err instanceof ApiError && err.status === 409) {
      const activeId = await activeTaskId(err.details);
      replaceChildren(
        formAlert,
        h(
          "div",
          { class: "alert alert-warn", id: "conflict-alert" },
          h("strong", { text: "A task is already running. " }),
          h("span", { text: err.message }),
          activeId
            ? h("a", {
                class: "btn small",
                href: `#/tasks/${encodeURIComponent(activeId)}`,
                text: `Open ${activeId}`,
              })
            : null,
        ),
      );
      formAlert.scrollIntoView({ block: "nearest" });
      return;
    }
    const unplaced = [];
    if (err instanceof ApiError) {
      for (const [path, msg] of fieldErrors(err.details)) {
        if (!showFieldError(fieldName(path), msg)) unplaced.push(path ? `${path}: ${msg}` : msg);
      }
    }
    replaceChildren(
      formAlert,
      h(
        "div",
        { class: "alert alert-error" },
        h("strong", { text: "The task was not created. " }),
        h("span", { text: describe(err) }),
        unplaced.length ? h("ul", {}, unplaced.map((m) => h("li", { text: m }))) : null,
      ),
    );
    const first = form.querySelector(".has-error");
    (first || formAlert).scrollIntoView({ block: "center" });
  }

  loadSources();
  return () => {
    alive = false;
  };
}
