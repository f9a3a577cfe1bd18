// Reading the API's error answers for the new-task form: which field a message belongs to, in
// the user's words ("Questions per theme must be 1 or more", not "parameters.questions_per_theme:
// Input should be greater than or equal to 1"), and which task holds the only running slot when
// the answer is a 409.
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

/** The form's name of each field, as its label says. */
export const FIELD_LABELS = {
  task_name: "Task name",
  db_connection: "Business database",
  table_list: "Table list",
  business_context: "Business context",
  execution_mode: "Mode",
  single_step: "Step",
  theme_count: "Themes",
  questions_per_theme: "Questions per theme",
  sample_rows: "Sample rows per table",
  validation_level: "Validation level",
};

const REQUIRED = {
  table_list: "add at least one table",
  business_context: "required — describe what the database is about",
  db_connection: "choose a database",
  single_step: "choose the step to run",
};

/** One API (or pydantic) message about `field` in the user's words: "must be 1 or more"... */
export function plainMessage(field, message) {
  const m = String(message || "").trim();
  let r;
  if (/^(required|field required|empty|missing)$/i.test(m) || /at least 1 (character|item)/i.test(m)) {
    return REQUIRED[field] || "required";
  }
  if ((r = /greater than or equal to (-?[\d.]+)/i.exec(m))) return `must be ${r[1]} or more`;
  if ((r = /greater than (-?[\d.]+)/i.exec(m))) return `must be more than ${r[1]}`;
  if ((r = /less than or equal to (-?[\d.]+)/i.exec(m))) return `must be ${r[1]} or less`;
  if ((r = /less than (-?[\d.]+)/i.exec(m))) return `must be less than ${r[1]}`;
  if (/valid integer|whole number|fractional part/i.test(m)) return "must be a whole number";
  if ((r = /at most (\d+) characters?/i.exec(m))) return `must be at most ${r[1]} characters long`;
  if ((r = /at least (\d+) characters?/i.exec(m))) return `must be at least ${r[1]} characters long`;
  if ((r = /at most (\d+) items?/i.exec(m))) return `can list at most ${r[1]} tables`;
  if (/^unknown field$/i.test(m)) return "is not a setting the server knows";
  if (/^input should be /i.test(m)) return `must be ${m.replace(/^input should be /i, "")}`;
  if (/needs single_step/i.test(m)) return "choose the step to run";
  if (/can only start at step 1/i.test(m)) {
    return "a new task can only run step 1 on its own (later steps need its outputs)";
  }
  return m;
}

/** "Questions per theme must be 1 or more", "Table list: add at least one table". */
export function sentence(field, text) {
  const label = FIELD_LABELS[field];
  if (!label) return text;
  return /^(must|can|is) /.test(text) ? `${label} ${text}` : `${label}: ${text}`;
}

/**
 * Every problem of a 400 as `{field, text}` (field "" when no control of the form owns it), in
 * the user's words. `details.fields` is `[{field, message}]`; table-list line errors and the
 * tables the source does not have (`details.unknown_tables`) go to the table list.
 */
export function formErrors(details) {
  const out = [];
  const lines = new Map();
  for (const e of (details && Array.isArray(details.errors) ? details.errors : [])) {
    if (e && e.line !== undefined) lines.set(Number(e.line), e);
  }
  const unknown = new Set((details && details.unknown_tables) || []);
  const fields = details && Array.isArray(details.fields) ? details.fields : null;
  const pairs = fields
    ? fields.map((f) => [String(f.field || ""), String(f.message || ""), f])
    : fieldErrors(details).map(([path, msg]) => [Array.isArray(path) ? path.join(".") : String(path || ""), msg, {}]);
  for (const [path, message, item] of pairs) {
    let field = fieldName(path);
    if (!field && /single_step|execution_mode|single|step 1/.test(message)) field = "execution_mode";
    const index = /table_list\[(\d+)\]/.exec(path);
    if (field === "table_list" && (index || item.line !== undefined)) {
      const line = item.line !== undefined ? Number(item.line) : Number(index[1]) + 1;
      const e = lines.get(line);
      const shown = e && e.value ? ` (${String(e.value).slice(0, 60)})` : "";
      const why = String(message).replace(/^line \d+:\s*/, "");
      out.push({ field, text: `Table list, line ${line}${shown}: ${why}` });
      continue;
    }
    if (field === "table_list" && unknown.size) {
      out.push({ field, text: `Table list: ${message}` });
      continue;
    }
    if (field) {
      out.push({ field, text: sentence(field, plainMessage(field, message)) });
    } else {
      const where = path && !["body", "request", "parameters"].includes(path) ? `${path}: ` : "";
      out.push({ field: "", text: `${where}${message}` });
    }
  }
  return out;
}
