// Pieces of the task page built from API data: a step of the timeline, a run, an output file.
import { encodePath } from "../api.js";
import { fmtBytes, fmtDuration, fmtTime, h, secondsBetween } from "../dom.js";
import { STEPS, statusBadge, stepLabel } from "../ui.js";
import { downloadLink, isTextFile, viewFile } from "./outputs.js";

/** step_details as an object keyed by step name, whatever shape the API used. */
export function stepDetails(task) {
  const raw = task.step_details || {};
  const out = {};
  if (Array.isArray(raw)) {
    for (const d of raw) out[d.step || d.step_name || d.name] = d;
  } else Object.assign(out, raw);
  for (const s of STEPS) {
    out[s.name] = { ...(out[s.name] || {}) };
    if (!out[s.name].status) out[s.name].status = (task.step_status || {})[s.name] || "pending";
  }
  return out;
}

const SKIP_STAT = /duration|seconds|second|time|_ms$|percent|dimension|concurrency|quer|statement/;
const USEFUL_STAT = /table|theme|pair|valid|repair|insert|load|document|present|comment/;

/** A step's key numbers from its latest execution summary: "9 tables · 50 pairs kept". */
export function stepStats(run) {
  const result = run && run.status === "completed" ? run.result : null;
  if (!result || typeof result !== "object") return null;
  // Step summaries keep their headline numbers at the top level or under "totals".
  const totals = result.totals && typeof result.totals === "object" ? result.totals : {};
  const stats = [...Object.entries(totals), ...Object.entries(result)]
    .filter(([k, v]) => typeof v === "number" && !SKIP_STAT.test(k))
    .sort(([a], [b]) => Number(USEFUL_STAT.test(b)) - Number(USEFUL_STAT.test(a)))
    .slice(0, 4);
  if (!stats.length) return null;
  return h(
    "div",
    { class: "step-stats" },
    stats.map(([k, v]) =>
      h("span", {}, h("b", { text: v.toLocaleString("en-US") }), ` ${k.replace(/_/g, " ")}`),
    ),
  );
}

/** Step 1's inferred relationships (foreign keys no schema declares), with their evidence. */
function inferredRelationships(run) {
  const result = run && run.status === "completed" ? run.result : null;
  const found = result && result.relationships && result.relationships.inferred;
  if (!Array.isArray(found) || !found.length) return null;
  const rejected = Number(result.relationships.rejected_total || 0);
  const title = `${found.length} relationship${found.length === 1 ? "" : "s"} inferred`;
  return h(
    "details",
    { class: "relationships" },
    h("summary", { text: rejected ? `${title} (${rejected} candidates rejected)` : title }),
    h(
      "ul",
      {},
      found.map((r) =>
        h(
          "li",
          { class: "relationship" },
          h("span", { class: "mono", text: `${r.from} → ${r.to}` }),
          h("span", {
            class: "muted small",
            text: ` · ${Math.round(100 * Number(r.match_share || 0))}% of ${r.values_probed} values match · ${r.rule}`,
          }),
        ),
      ),
    ),
  );
}

/**
 * One step of the timeline: status, start, end, duration, key numbers, error. `execution` is
 * the one step_details names (the API names none for a step an earlier run left behind, so a
 * pending step never shows that run's "65 inserted").
 */
export function timelineItem(step, detail, execution) {
  const status = detail.status || "pending";
  const latestRun =
    execution && status !== "pending" && execution.execution_id === detail.execution_id ? execution : null;
  const started = detail.started_at || detail.start_time;
  const ended = detail.completed_at || detail.end_time;
  const duration =
    detail.duration ??
    detail.duration_seconds ??
    (started && ended ? secondsBetween(started, ended) : null);
  const error = detail.error_message || detail.error;
  return h(
    "li",
    { class: `step step-${status}`, dataset: { step: step.name, status } },
    h("div", { class: "step-dot", text: String(step.n) }),
    h(
      "div",
      { class: "step-body" },
      h("div", { class: "step-head" }, h("strong", { text: step.label }), statusBadge(status)),
      h("div", { class: "step-name mono muted", text: step.name }),
      h(
        "dl",
        { class: "step-times" },
        h("dt", { text: "Start" }),
        h("dd", { text: fmtTime(started) }),
        h("dt", { text: "End" }),
        h("dd", { text: fmtTime(ended) }),
        h("dt", { text: "Duration" }),
        h("dd", { class: "step-duration", text: fmtDuration(duration) }),
      ),
      stepStats(latestRun),
      step.name === "ddl_generation" ? inferredRelationships(latestRun) : null,
      error ? h("div", { class: "step-error", text: error }) : null,
    ),
  );
}

/** Primary outputs first, then by name. */
export function sortFiles(items) {
  const name = (f) => String(f.path || f.name || f.file_name || "");
  return items.sort(
    (a, b) =>
      Number(Boolean(b.is_primary)) - Number(Boolean(a.is_primary)) ||
      name(a).localeCompare(name(b)),
  );
}

/** A row of the output files: name (★ when primary), type, step, size, download link. */
export function fileRow(taskId, f) {
  const name = f.path || f.file_path || f.name || f.file_name;
  const primary = Boolean(f.is_primary ?? f.primary);
  const downloadable = f.is_downloadable ?? f.downloadable ?? true;
  const step = f.step || f.step_name;
  const path = `/tasks/${encodeURIComponent(taskId)}/files/download/${encodePath(name)}`;
  return h(
    "tr",
    { class: primary ? "primary-file" : "", dataset: { file: name } },
    h(
      "td",
      { class: "file-name" },
      h(
        "div",
        {},
        primary ? h("span", { class: "star", title: "primary output", text: "★ " }) : null,
        h("span", { class: "mono", text: name }),
      ),
      h(
        "div",
        { class: "sub" },
        h("span", { class: "type-tag", text: f.type || f.file_type || "?" }),
        step ? ` ${stepLabel(step)}` : "",
      ),
    ),
    h("td", { class: "nowrap num", text: fmtBytes(f.size ?? f.file_size) }),
    h(
      "td",
      { class: "file-action" },
      downloadable && isTextFile(name)
        ? h("button", {
            type: "button",
            class: "btn ghost small view",
            text: "View",
            title: `Read ${name} here`,
            onClick: () => viewFile(path, name, f.size ?? f.file_size),
          })
        : null,
      downloadable
        ? downloadLink(path, name.split("/").pop(), { class: "btn ghost small download", text: "Download" })
        : null,
    ),
  );
}
