// "Clone task": the new-task form prefilled with another task's parameters (`#/new?from=<id>`).
import { get } from "../api.js";
import { h } from "../dom.js";
import { describe } from "./list.js";

const BOOLEAN_OPTIONS = ["enable_sql_validation", "enable_llm_repair", "modify_original_file",
  "enable_training_data_load", "backup_vector_tables"]; // never truncate: it is asked for anew
const NUMBERS = ["theme_count", "questions_per_theme", "sample_rows"];

/** "public.stall" → "stall" (how the picker and the table list write public tables). */
const listName = (name) => String(name).replace(/^public\./, "");

function setValue(form, id, value) {
  const el = form.querySelector(`#${id}`);
  if (!el || value === null || value === undefined) return;
  if (el.type === "checkbox" || el.type === "radio") el.checked = Boolean(value);
  else el.value = String(value);
  el.dispatchEvent(new Event("change", { bubbles: true }));
  el.dispatchEvent(new Event("input", { bubbles: true }));
}

/**
 * Fill the form with the parameters of task `taskId` once the sources are loaded
 * (`sourcesLoaded`); `note` shows what was copied. Passwords come masked: a task on a raw
 * connection string cannot be cloned with it (the source field is left as it is).
 */
export async function prefillFromTask(taskId, form, sourcesLoaded, note) {
  note.className = "alert alert-info clone-note";
  note.textContent = `Copying the parameters of ${taskId}…`;
  let task;
  try {
    [task] = await Promise.all([get(`/tasks/${encodeURIComponent(taskId)}`), sourcesLoaded]);
  } catch (err) {
    note.className = "alert alert-error clone-note";
    note.textContent = `Could not copy ${taskId}: ${describe(err)}`;
    return;
  }
  const p = task.parameters || {};
  const source = form.querySelector("#db_connection");
  if (source && [...source.options].some((o) => o.value === p.db_connection)) {
    setValue(form, "db_connection", p.db_connection);
  }
  setValue(form, "task_name", `${task.task_name || task.id} (copy)`);
  setValue(form, "business_context", p.business_context || task.business_context);
  const tables = Array.isArray(p.table_list) ? p.table_list.map(listName) : [];
  if (tables.length) {
    const pasteTab = form.querySelector("#tab-paste");
    if (pasteTab) pasteTab.click();
    setValue(form, "table-paste", tables.join("\n"));
  }
  for (const name of BOOLEAN_OPTIONS) if (typeof p[name] === "boolean") setValue(form, `opt-${name}`, p[name]);
  for (const name of NUMBERS) setValue(form, name, p[name]);
  setValue(form, "validation_level", p.validation_level);
  const numbers = NUMBERS.filter((n) => p[n] !== null && p[n] !== undefined);
  if (numbers.length || p.validation_level === "execute") {
    const adv = form.querySelector("details.advanced");
    if (adv) adv.open = true;
  }
  if (p.execution_mode === "single" && p.single_step) {
    setValue(form, "mode-single", true);
    setValue(form, "single_step", p.single_step);
  }
  note.className = "alert alert-info clone-note";
  note.replaceChildren(
    "Copied from ",
    h("a", { href: `#/tasks/${encodeURIComponent(task.id)}`, class: "mono", text: task.id }),
    `: source, ${tables.length ? `${tables.length} table(s)` : "no table list (it was uploaded: pick the tables)"}, ` +
      "business context and options. Check them, then create.",
  );
}
