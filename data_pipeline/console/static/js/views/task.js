// The task page: header, step timeline and run history, parameters, output files, live logs,
// actions (resume, run, clone, cancel) and a danger zone (delete).
import { ApiError, canWrite, del, get, post } from "../api.js";
import { isOffline, onConnectionChange } from "../connection.js";
import { fmtBytes, fmtClock, fmtDuration, fmtTime, h, replaceChildren } from "../dom.js";
import { isActive, modal, progressBar, STEPS, statusBadge, stepLabel, toast } from "../ui.js";
import { describe, errorAlert, taskDuration } from "./list.js";
import { LogViewer } from "./logs.js";
import { runHistory, warningList } from "./runs.js";
import { fileRow, sortFiles, stepDetails, timelineItem } from "./task_parts.js";

const FAST_MS = 2000;
const SLOW_MS = 10000;
const DONE = new Set(["completed", "skipped"]);

/**
 * What can run now. `resumeFrom`: the first step not completed (within the task's end step);
 * `runnable`: the steps that can run alone — step 1, or a step whose earlier steps all completed
 * (the API refuses the others with 409, naming the step to run first).
 */
export function stepPlan(task) {
  const details = stepDetails(task);
  const done = (s) => DONE.has(details[s.name].status);
  const end = Number((task.parameters || {}).end_step) || 4;
  const first = STEPS.find((s) => !done(s));
  const runnable = STEPS.filter((s, i) => i === 0 || STEPS.slice(0, i).every(done));
  return { details, runnable, resumeFrom: first && first.n <= end ? first.n : null };
}

function paramValue(value) {
  if (value === null || value === undefined) return h("span", { class: "muted", text: "— (server default)" });
  if (Array.isArray(value)) return value.length ? value.join(", ") : h("span", { class: "muted", text: "none" });
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function renderTask(view, { params: [taskId] }) {
  let alive = true;
  let timer = null;
  let task = null;
  let loadedAt = null;
  let filesKey = "";
  let hasPairs = false; // a *_pair.json among the outputs: the pairs can be reviewed
  let executions = {}; // execution id -> execution (the timeline's key numbers)
  let writable = true; // a viewer's token: no write controls (the API would answer 403)

  const header = h("section", { class: "card task-header", id: "task-header" });
  const actionMsg = h("div", { class: "action-msg", id: "action-msg" });
  const timeline = h("ol", { class: "timeline", id: "timeline" });
  const history = runHistory(taskId);
  const params = h("div", { class: "params-body" });
  const files = h("tbody");
  const filesTitle = h("span", { class: "muted small", id: "files-summary" });
  const logs = new LogViewer(taskId, { onEnd: () => refresh() });
  const deleteBtn = h("button", { class: "btn danger-outline", type: "button", id: "btn-delete", text: "Delete task…", onClick: deleteTask });

  replaceChildren(
    view,
    h("nav", { class: "crumbs" },
      h("a", { href: "#/tasks", text: "Tasks" }), h("span", { text: " / " }), h("span", { class: "mono", text: taskId })),
    header,
    actionMsg,
    h("section", { class: "card" },
      h("h2", { text: "Steps" }),
      history.latest,
      timeline,
      history.element),
    h("div", { class: "split" },
      h("section", { class: "card logs-card" }, h("h2", { text: "Logs" }), logs.element),
      h("section", { class: "card files-card" },
        h("h2", { class: "with-note" }, "Output files", filesTitle),
        h("div", { class: "table-wrap files-wrap" },
          h("table", { class: "compact files", id: "files-table" },
            h("thead", {}, h("tr", {}, ["File", "Size", ""].map((t) => h("th", { text: t })))),
            files)))),
    h("section", { class: "card params-card", id: "params-panel" },
      h("h2", { class: "with-note" }, "Parameters",
        h("span", { class: "muted small", text: "as the task runs with them (passwords masked)" })),
      params),
    h("section", { class: "card danger-card", id: "danger-zone", hidden: true },
      h("h2", { text: "Danger zone" }),
      h("div", { class: "danger-row" },
        h("div", {}, h("strong", { text: "Delete this task" }),
          h("p", { class: "muted small", text: "Removes its rows, logs and output folder; optionally the vectors it loaded into the training store. Cannot be undone." })),
        deleteBtn)),
  );

  function renderHeader() {
    const t = task;
    const offline = isOffline();
    const running = t.status === "running";
    const active = isActive(t.status);
    const plan = stepPlan(t);
    const resumable = (t.status === "failed" || t.status === "cancelled") && plan.resumeFrom;
    const meta = (label, value, cls) =>
      h("div", { class: "meta-item" }, h("dt", { text: label }), h("dd", { class: cls || "", text: value }));
    const warnings = t.result && Array.isArray(t.result.warnings) ? t.result.warnings : [];
    const where = offline
      ? `last known state at ${fmtClock(loadedAt)} — the server is not answering`
      : running
        ? [t.current_step ? `running ${stepLabel(t.current_step)}` : "", t.worker_name ? `on ${t.worker_name}` : ""].filter(Boolean).join(" ")
        : t.status === "queued"
          ? `waiting for a free slot (#${t.queue_position || "?"} in the queue)`
          : "";
    header.classList.toggle("stale", offline);
    deleteBtn.disabled = offline;
    // The header is redrawn every few seconds: whatever had focus in it keeps it.
    const focused = header.contains(document.activeElement) ? document.activeElement.id : null;
    replaceChildren(
      header,
      h("div", { class: "task-title" },
        h("div", {},
          h("h1", { text: t.task_name || t.id, id: "task-title" }),
          h("div", { class: "sub mono", text: `${t.id} · ${t.db_name || "?"} · by ${t.created_by || "?"}` })),
        h("div", { class: "actions" },
          active && writable
            ? h("button", { class: "btn warn", type: "button", id: "btn-cancel", text: running ? "Cancel run" : "Cancel (queued)", disabled: offline, onClick: cancelRun })
            : null,
          resumable && writable
            ? h("button", { class: "btn primary", type: "button", id: "btn-resume", disabled: offline,
                text: `Run from step ${plan.resumeFrom} to the end`, onClick: () => resume(plan.resumeFrom) })
            : null,
          hasPairs
            ? h("a", { class: "btn", id: "btn-pairs", href: `#/tasks/${encodeURIComponent(t.id)}/pairs`, text: "Review pairs" })
            : null,
          !writable ? null : h("button", { class: "btn", type: "button", id: "btn-run-step", text: resumable ? "Other runs…" : "Run…", disabled: active || offline, onClick: runStep }),
          !writable ? null : h("a", { class: "btn", id: "btn-clone", href: `#/new?from=${encodeURIComponent(t.id)}`, text: "Clone task", title: "A new task with these parameters" }))),
      h("div", { class: "status-line" },
        statusBadge(t.status, t.queue_position),
        h("div", { class: "big-progress" }, progressBar(t.progress, offline ? "stale" : t.status)),
        h("span", { class: "pct", id: "task-progress", text: `${t.progress ?? 0}%` }),
        h("span", { class: offline ? "stale-note" : "muted", id: "task-where", text: where })),
      h("dl", { class: "meta" },
        meta("Created", fmtTime(t.created_at)),
        meta("Started", fmtTime(t.started_at)),
        meta("Completed", fmtTime(t.completed_at)),
        meta("Duration", fmtDuration(taskDuration(t)), "duration")),
      t.business_context || (t.parameters && t.parameters.business_context)
        ? h("p", { class: "context" }, h("strong", { text: "Business context: " }),
            h("span", { text: t.business_context || t.parameters.business_context }))
        : null,
      t.error_message
        ? h("div", { class: "alert alert-error", id: "task-error" },
            h("strong", { text: t.error_step ? `${stepLabel(t.error_step)} failed: ` : "Error: " }),
            h("span", { text: t.error_message }))
        : null,
      warningList(warnings, "task-warnings"),
    );
    const again = focused ? document.getElementById(focused) : null;
    if (again && header.contains(again)) {
      if (again.tagName === "H1") again.setAttribute("tabindex", "-1");
      again.focus({ preventScroll: true });
    }
  }

  function renderTimeline() {
    const details = stepDetails(task);
    replaceChildren(timeline, STEPS.map((s) => timelineItem(s, details[s.name], executions[details[s.name].execution_id])));
  }

  function renderParams() {
    const p = task.parameters || {};
    replaceChildren(
      params,
      h("dl", { class: "params", id: "params-list" },
        Object.entries(p).map(([k, v]) =>
          h("div", { class: "param", dataset: { param: k } }, h("dt", { class: "mono", text: k }), h("dd", {}, paramValue(v))))),
    );
  }

  async function loadExecutions() {
    try {
      const data = await get(`/tasks/${encodeURIComponent(taskId)}/executions`);
      if (!alive) return;
      const items = Array.isArray(data) ? data : data.executions || data.items || [];
      executions = {};
      for (const e of items) executions[e.execution_id] = e;
      if (task) renderTimeline();
    } catch (err) {
      console.warn("executions unavailable", err);
    }
  }

  async function loadFiles() {
    try {
      const data = await get(`/tasks/${encodeURIComponent(taskId)}/files`);
      if (!alive) return;
      const items = Array.isArray(data) ? data : data.files || data.items || [];
      const bytes = items.reduce((sum, f) => sum + Number(f.size ?? f.file_size ?? 0), 0);
      filesTitle.textContent = items.length ? `${items.length} files · ${fmtBytes(bytes)}` : "";
      sortFiles(items);
      const pairs = items.some((f) => /_pair\.json$/.test(String(f.path || f.file_path || f.name || f.file_name || "")));
      if (pairs !== hasPairs) {
        hasPairs = pairs;
        if (task) renderHeader();
      }
      replaceChildren(
        files,
        items.length
          ? items.map((f) => fileRow(taskId, f))
          : h("tr", {}, h("td", { colspan: "3", class: "muted", text: "No files yet." })),
      );
    } catch (err) {
      if (alive) replaceChildren(files, h("tr", {}, h("td", { colspan: "3", class: "muted", text: describe(err) })));
    }
  }

  async function refresh() {
    if (!alive) return;
    clearTimeout(timer);
    try {
      task = await get(`/tasks/${encodeURIComponent(taskId)}`);
      if (!alive) return;
      loadedAt = new Date();
      if (actionMsg.querySelector(".load-error")) replaceChildren(actionMsg);
      renderHeader();
      renderTimeline();
      renderParams();
      logs.setDownloadable(Boolean(task.started_at));
      // Files and runs change when the step or status does; avoid reloading them every tick.
      const key = `${task.status}|${task.current_step}|${JSON.stringify(task.step_status || {})}|${task.completed_at}|${task.run_number}`;
      if (key !== filesKey) {
        filesKey = key;
        loadFiles();
        loadExecutions();
        history.load(task);
      }
      if (task.status === "running" && !logs.streaming) logs.start();
    } catch (err) {
      if (!alive) return;
      if (err instanceof ApiError && err.status === 404) {
        replaceChildren(
          view,
          h("section", { class: "card empty" }, h("h1", { text: "Task not found" }),
            h("p", { text: `There is no task ${taskId}. It may have been deleted.` }),
            h("a", { href: "#/tasks", class: "btn", text: "Back to the list" })),
        );
        logs.stop();
        return;
      }
      if (isOffline()) {
        // The banner says it; the page shows what it last knew, greyed.
        if (task) renderHeader();
      } else {
        const alert = errorAlert("Could not load the task", err, refresh);
        alert.classList.add("load-error");
        replaceChildren(actionMsg, alert);
      }
    }
    if (alive) timer = setTimeout(refresh, task && isActive(task.status) && !isOffline() ? FAST_MS : SLOW_MS);
  }

  const unsubscribe = onConnectionChange((offline) => {
    if (!alive) return;
    if (offline) {
      if (task) renderHeader();
    } else refresh();
  });

  async function cancelRun() {
    const go = await modal({
      title: "Cancel the run?",
      body: [h("p", { text: "The executor is stopped; steps not finished are marked cancelled." })],
      buttons: [
        { label: "Keep running", value: false },
        { label: "Cancel run", value: true, kind: "danger", submit: true },
      ],
    });
    if (!go) return;
    try {
      await post(`/tasks/${encodeURIComponent(taskId)}/cancel`, {});
      toast("Cancellation requested", "info");
    } catch (err) {
      toast(`Cancel failed: ${describe(err)}`, "error");
    }
    refresh();
  }

  async function execute(body, what) {
    try {
      const data = await post(`/tasks/${encodeURIComponent(taskId)}/execute`, body);
      filesKey = "";
      await refresh();
      if (!logs.streaming) logs.start();
      const text = `Started ${what}${data && data.status === "queued" ? ` (queued #${data.queue_position || "?"})` : ""}.`;
      replaceChildren(actionMsg, h("div", { class: "alert alert-info", role: "status", text }));
    } catch (err) {
      const conflict = err instanceof ApiError && err.status === 409;
      toast(`Could not start: ${describe(err)}`, conflict ? "warn" : "error");
    }
  }

  function resume(n) {
    return execute({ start_step: n }, `steps ${n}–end`);
  }

  async function runStep() {
    const { details, runnable, resumeFrom } = stepPlan(task);
    const failedRun = task.status === "failed" || task.status === "cancelled";
    const blocked = STEPS.filter((s) => !runnable.includes(s));
    const select = h(
      "select",
      { id: "run-step-select", "aria-label": "What to run" },
      resumeFrom && resumeFrom > 1
        ? h("option", { value: `from-${resumeFrom}`, text: `From step ${resumeFrom} to the end (resume)` })
        : null,
      runnable.map((s) => h("option", { value: String(s.n), text: `Only step ${s.n} · ${s.label} (${details[s.name].status})` })),
      h("option", { value: "all", text: "All steps (complete workflow)" }),
    );
    const force = h("input", { type: "checkbox", id: "run-force" });
    const clean = h("input", { type: "checkbox", id: "run-clean" });
    const syncForce = () => {
      const s = STEPS.find((x) => String(x.n) === select.value);
      force.checked = select.value === "all" || Boolean(s && details[s.name].status === "completed");
    };
    select.addEventListener("change", syncForce);
    const firstSingle = runnable.find((s) => !DONE.has(details[s.name].status));
    select.value = failedRun && resumeFrom > 1 ? `from-${resumeFrom}` : firstSingle ? String(firstSingle.n) : select.options[0].value;
    syncForce();
    const go = await modal({
      title: "Run",
      body: [
        h("label", { class: "field" }, h("span", { text: "What to run" }), select),
        blocked.length
          ? h("p", { class: "muted small", id: "run-blocked",
              text: `Step${blocked.length > 1 ? "s" : ""} ${blocked.map((s) => s.n).join(", ")} cannot run alone yet: ` +
                `run step ${STEPS.find((s) => !DONE.has(details[s.name].status)).n} first (or resume from it).` })
          : null,
        h("label", { class: "option" }, force,
          h("span", {}, h("strong", { text: "Force" }), h("small", { text: "run again even if it already completed" }))),
        h("label", { class: "option" }, clean,
          h("span", {}, h("strong", { text: "Clean" }), h("small", { text: "remove the step's earlier output files first" }))),
        h("p", { class: "muted small", text: "Later steps go back to pending." }),
      ],
      buttons: [
        { label: "Cancel", value: false },
        { label: "Run", value: true, kind: "primary", submit: true },
      ],
    });
    if (!go) return;
    const opts = { force: force.checked, clean: clean.checked };
    if (select.value.startsWith("from-")) {
      const n = Number(select.value.slice(5));
      return execute({ start_step: n, ...opts }, `steps ${n}–end`);
    }
    if (select.value === "all") return execute({ execution_mode: "complete", ...opts }, "all steps");
    const n = Number(select.value);
    return execute({ execution_mode: "single", single_step: n, ...opts }, `step ${n}`);
  }

  async function deleteTask() {
    const running = task && task.status === "running";
    const purge = h("input", { type: "checkbox", id: "delete-purge" });
    const typed = h("input", { id: "delete-confirm", autocomplete: "off", spellcheck: "false", placeholder: taskId });
    const error = h("div", { class: "field-error", id: "delete-confirm-error" });
    const confirmField = h("label", { class: "field hidden", id: "delete-confirm-field" },
      h("span", { text: `Type the task id (${taskId}) to remove its vectors too` }), typed, error);
    purge.addEventListener("change", () => confirmField.classList.toggle("hidden", !purge.checked));
    const ok = await modal({
      title: `Delete ${taskId}?`,
      body: [
        h("p", { text: running
          ? "The task is running: the run is cancelled first. Its rows, logs and folder are removed."
          : "Its rows, logs and output folder are removed. This cannot be undone." }),
        h("label", { class: "option" }, purge,
          h("span", {}, h("strong", { text: "Also purge training data" }),
            h("small", { text: "remove the vectors this task loaded into pgvector — the assistant stops finding them" }))),
        confirmField,
      ],
      buttons: [
        { label: "Cancel", value: false },
        { label: "Delete task", value: true, kind: "danger", submit: true, validate: () => {
          if (!purge.checked || typed.value.trim() === taskId) return true;
          error.textContent = "The id does not match: the vectors are kept unless you type it.";
          typed.setAttribute("aria-invalid", "true");
          typed.focus();
          return false;
        } },
      ],
    });
    if (!ok) return;
    try {
      const data = await del(`/tasks/${encodeURIComponent(taskId)}`, {
        purge_training_data: purge.checked ? "true" : undefined,
        force: running ? "true" : undefined,
      });
      const purged = data && data.training_data_removed;
      const detail = purged && typeof purged === "object"
        ? ` — vectors removed: ${Object.entries(purged).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`
        : "";
      toast(`Task ${taskId} deleted${detail}`, "success", 6000);
      window.location.hash = "#/tasks";
    } catch (err) {
      toast(`Delete failed: ${describe(err)}`, "error");
    }
  }

  canWrite().then((allowed) => {
    if (!alive) return;
    writable = allowed;
    const zone = view.querySelector("#danger-zone");
    if (zone) zone.hidden = !allowed;
    if (task) renderHeader();
  });

  refresh().then(() => {
    // Finished tasks: show their logs once (the stream sends everything, then "end"). A task
    // never started has none yet: its stream opens when it starts running.
    if (alive && !logs.streaming && task && task.status !== "pending") logs.start();
  });

  return () => {
    alive = false;
    clearTimeout(timer);
    unsubscribe();
    logs.stop();
  };
}
