// Run history of a task (GET /tasks/<id>/runs and /runs/<n>): the latest run in one line, every
// run in a table, and an earlier run opened with its steps, times, outcome and warnings.
import { get } from "../api.js";
import { fmtDuration, fmtTime, h, replaceChildren, secondsBetween } from "../dom.js";
import { STEPS, statusBadge, stepLabel } from "../ui.js";
import { describe } from "./list.js";
import { stepStats } from "./task_parts.js";

const stepNumber = (name) => (STEPS.find((s) => s.name === name) || {}).n;

/** What a run was asked to do, in words: "all steps", "step 3 only, force", "from step 2". */
export function describeRequest(run) {
  const r = run.request;
  if (!r) return "run from the command line";
  const p = run.parameters || {};
  let what;
  if (r.execution_mode === "single" && (r.step_name || r.single_step)) {
    const n = r.single_step || stepNumber(r.step_name);
    what = `step ${n} only`;
  } else if (r.start_step) {
    what = `from step ${r.start_step} to the end`;
  } else {
    const a = Number(p.start_step) || 1;
    const b = Number(p.end_step) || 4;
    what = a === 1 && b === 4 ? "all steps" : `steps ${a}–${b}`;
  }
  return [what, r.force && "force", r.clean && "clean"].filter(Boolean).join(", ");
}

const runDuration = (run) => secondsBetween(run.started_at, run.finished_at);

function warningList(warnings, id) {
  if (!Array.isArray(warnings) || !warnings.length) return null;
  return h(
    "div",
    { class: "alert alert-warn warnings", id },
    h("strong", { text: warnings.length === 1 ? "1 warning" : `${warnings.length} warnings` }),
    h("ul", {}, warnings.map((w) => h("li", { text: w }))),
  );
}

export { warningList };

/** The run history block; `load(task)` refreshes it, `element` goes into the page. */
export function runHistory(taskId) {
  const latest = h("div", { class: "latest-run", id: "latest-run" });
  const body = h("tbody");
  const summary = h("summary", { text: "Run history" });
  const detail = h("div", { class: "run-detail", id: "run-detail" });
  const select = h("details", { class: "runs", id: "runs" }, summary,
    h("div", { class: "table-wrap" },
      h("table", { class: "compact", id: "runs-table" },
        h("thead", {}, h("tr", {}, ["Run", "Status", "Asked", "By", "Started", "Duration", ""].map((t) => h("th", { text: t })))),
        body)),
    detail);
  let opened = null;
  let currentNumber = null;

  async function open(number) {
    opened = number;
    for (const tr of body.querySelectorAll("tr[data-run]")) {
      tr.classList.toggle("selected", Number(tr.dataset.run) === number);
    }
    replaceChildren(detail, h("p", { class: "muted", text: `Loading run ${number}…` }));
    try {
      const run = await get(`/tasks/${encodeURIComponent(taskId)}/runs/${number}`);
      if (opened !== number) return;
      replaceChildren(detail, runPanel(run, number === currentNumber));
    } catch (err) {
      if (opened === number) replaceChildren(detail, h("p", { class: "error-text", text: describe(err) }));
    }
  }

  function runPanel(run, isLatest) {
    const executions = run.executions || [];
    return h(
      "section",
      { class: "run-panel", dataset: { run: String(run.run_number) } },
      h("h3", {},
        `Run #${run.run_number}${isLatest ? " (latest)" : ""} `, statusBadge(run.status),
        h("button", { type: "button", class: "btn ghost small", text: "Close", onClick: () => {
          opened = null;
          replaceChildren(detail);
          for (const tr of body.querySelectorAll("tr.selected")) tr.classList.remove("selected");
        } })),
      h("p", { class: "muted small" },
        `${describeRequest(run)} · by ${run.requested_by || "?"} · ${fmtTime(run.started_at)} → ${fmtTime(run.finished_at)}` +
        `${run.worker_name ? ` · on ${run.worker_name}` : ""}`),
      run.error_message
        ? h("div", { class: "alert alert-error" },
            h("strong", { text: run.error_step ? `${stepLabel(run.error_step)} failed: ` : "Error: " }),
            h("span", { text: run.error_message }))
        : null,
      warningList(run.warnings || (run.result && run.result.warnings), null),
      executions.length
        ? h("table", { class: "compact run-steps" },
            h("thead", {}, h("tr", {}, ["Step", "Status", "Started", "Duration", "Outcome"].map((t) => h("th", { text: t })))),
            h("tbody", {}, executions.map((e) =>
              h("tr", { dataset: { step: e.step } },
                h("td", { text: stepLabel(e.step) }),
                h("td", {}, statusBadge(e.status)),
                h("td", { class: "nowrap", text: fmtTime(e.started_at) }),
                h("td", { text: fmtDuration(e.duration ?? secondsBetween(e.started_at, e.completed_at)) }),
                h("td", {}, e.error_message ? h("span", { class: "error-text", text: e.error_message }) : stepStats(e) || "—"),
              ))))
        : h("p", { class: "muted", text: "This run ran no step." }),
    );
  }

  async function load(task) {
    currentNumber = task.run_number ?? null;
    let runs;
    try {
      const data = await get(`/tasks/${encodeURIComponent(taskId)}/runs`, { limit: 50 });
      runs = data.runs || [];
    } catch (err) {
      replaceChildren(latest, h("span", { class: "muted", text: `Run history unavailable: ${describe(err)}` }));
      return;
    }
    summary.textContent = `Run history (${runs.length} run${runs.length === 1 ? "" : "s"})`;
    const last = runs[0];
    replaceChildren(
      latest,
      last
        ? [
            h("strong", { text: `Run #${last.run_number}` }), " ", statusBadge(last.status), " ",
            h("span", { class: "asked", text: describeRequest(last) }),
            h("span", { class: "muted", text: ` · by ${last.requested_by || "?"} · started ${fmtTime(last.started_at)}` +
              (last.finished_at ? ` · finished ${fmtTime(last.finished_at)}` : "") }),
          ]
        : h("span", { class: "muted", text: "Not run yet." }),
    );
    replaceChildren(
      body,
      runs.length
        ? runs.map((r) =>
            h("tr", { dataset: { run: String(r.run_number) }, class: r.run_number === opened ? "selected" : "" },
              h("td", { text: `#${r.run_number}` }),
              h("td", {}, statusBadge(r.status)),
              h("td", { text: describeRequest(r) }),
              h("td", { text: r.requested_by || "—" }),
              h("td", { class: "nowrap", text: fmtTime(r.started_at) }),
              h("td", { text: fmtDuration(runDuration(r)) }),
              h("td", {}, h("button", { type: "button", class: "btn ghost small open-run", text: "Open",
                "aria-label": `Open run ${r.run_number}`, onClick: () => open(r.run_number) })),
            ))
        : h("tr", {}, h("td", { colspan: "7", class: "muted", text: "No runs yet." })),
    );
    if (opened !== null) open(opened);
  }

  return { latest, element: select, load };
}
