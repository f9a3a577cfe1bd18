// Reading the API's error answers for the new-task form: which field a message belongs to,
// and which task holds the only running slot when the answer is a 409.
import { get } from "../api.js";

const KNOWN_FIELDS = new Set([
  "task_name",
  "db_connection",
  "table_list",
  "table_list_file",
  "business_context",
  "execution_mode",
  "single_step",
  "theme_count",
  "questions_per_theme",
  "sample_rows",
  "validation_level",
]);

/** "parameters.business_context" / ["parameters", "single_step"] → the form's field name. */
export function fieldName(path) {
  const parts = Array.isArray(path) ? path.map(String) : String(path || "").split(/[.[\]/]+/);
  for (let i = parts.length - 1; i >= 0; i -= 1) {
    if (KNOWN_FIELDS.has(parts[i])) return parts[i] === "table_list_file" ? "table_list" : parts[i];
  }
  // Rules about the mode combination (pydantic model validators) have no field of their own.
  return parts.includes("parameters") || parts.length === 0 ? "" : parts.join(".");
}

/** Flatten the API's error details into [fieldPath, message] pairs, whatever their shape. */
export function fieldErrors(details) {
  const out = [];
  if (!details || typeof details !== "object") return out;
  const fromItem = (item, fallbackPath) => {
    if (typeof item === "string") return out.push([fallbackPath, item]);
    if (!item || typeof item !== "object") return undefined;
    const path = item.loc || item.field || item.path || fallbackPath;
    let msg = item.msg || item.message || item.error || item.reason || JSON.stringify(item);
    if (item.line !== undefined) {
      // Table-list errors: one per line, with the offending text.
      const shown = item.value ? ` (${String(item.value).slice(0, 60)})` : "";
      msg = `line ${item.line}${shown}: ${msg}`;
      if (!item.loc && !item.field) return out.push([fallbackPath || "table_list", msg]);
    }
    return out.push([path, msg]);
  };
  // {"field": "parameters.table_list", "errors": [...]} names the field of its errors.
  const owner = typeof details.field === "string" ? details.field : "";
  for (const [key, value] of Object.entries(details)) {
    if (key === "field" && owner && Array.isArray(details.errors)) continue;
    if (Array.isArray(value)) value.forEach((item) => fromItem(item, key === "errors" ? owner : key));
    else if (value && typeof value === "object") {
      for (const [sub, msg] of Object.entries(value)) {
        out.push([key === "fields" ? sub : `${key}.${sub}`, typeof msg === "string" ? msg : JSON.stringify(msg)]);
      }
    } else if (typeof value === "string") out.push([key, value]);
  }
  // Mode rules come from a model validator with no field: show them by the mode selector.
  return out.map(([path, msg]) => {
    const name = fieldName(path);
    if (!name && /single_step|execution_mode|single/.test(msg)) return ["execution_mode", msg];
    return [path, msg];
  });
}

export async function activeTaskId(details) {
  const direct =
    details.active_task_id || details.task_id || (details.active_task && details.active_task.id);
  if (direct) return direct;
  if (Array.isArray(details.active_tasks) && details.active_tasks.length) {
    const t = details.active_tasks[0];
    return typeof t === "string" ? t : t.id || t.task_id;
  }
  try {
    const active = await get("/tasks/active");
    const first = Array.isArray(active) ? active[0] : active && (active.tasks || [active])[0];
    return first ? first.id || first.task_id : null;
  } catch {
    return null;
  }
}
