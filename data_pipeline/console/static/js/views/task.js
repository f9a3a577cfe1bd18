// The task page: header, step timeline, output files, live logs and actions.
import { ApiError, del, get, post } from "../api.js";
import { fmtBytes, fmtDuration, fmtTime, h, replaceChildren } from "../dom.js";
import { confirmDialog, isActive, modal, progressBar, STEPS, statusBadge, stepLabel, toast } from "../ui.js";
import { describe, errorAlert, taskDuration } from "./list.js";
import { LogViewer } from "./logs.js";
import { fileRow, runRow, sortFiles, stepDetails, timelineItem } from "./task_parts.js";

const FAST_MS = 2000;
const SLOW_MS = 10000;

export function renderTask(view, { params: [taskId] }) {
  let alive = true;
  let timer = null;
  let task = null;
  let filesKey = "";
  let hasPairs = false; // a *_pair.json among the outputs: the pairs can be reviewed
  let latestRun = {}; // step name -> its latest execution (for the step's key numbers)

  const header = h("section", { class: "card task-header", id: "task-header" });
  const actionMsg = h("div", { class: "action-msg", id: "action-msg" });
  const timeline = h("ol", { class: "timeline", id: "timeline" });
  const runs = h("tbody");
  const files = h("tbody");
  const filesTitle = h("span", { class: "muted small", id: "files-summary" });
  const logs = new LogViewer(taskId, { onEnd: () => refresh() });

  replaceChildren(
    view,
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: "#/tasks", text: "Tasks" }),
      h("span", { text: " / " }),
      h("span", { class: "mono", text: taskId }),
    ),
    header,
    actionMsg,
    h(
      "section",
      { class: "card" },
      h("h2", { text: "Steps" }),
      timeline,
      h(
        "details",
        { class: "runs" },
        h("summary", { text: "Run history" }),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "compact", id: "runs-table" },
            h("thead", {}, h("tr", {}, ["Execution", "Step", "Status", "Started", "Duration", "Flags"].map((t) => h("th", { text: t })))),
            runs,
          ),
        ),
      ),
    ),
    h(
      "div",
      { class: "split" },
      h(
        "section",
        { class: "card logs-card" },
        h("h2", { text: "Logs" }),
        logs.element,
      ),
      h(
        "section",
        { class: "card files-card" },
        h("h2", { class: "with-note" }, "Output files", filesTitle),
        h(
          "div",
          { class: "table-wrap files-wrap" },
          h(
            "table",
            { class: "compact files", id: "files-table" },
            h("thead", {}, h("tr", {}, ["File", "Size", ""].map((t) => h("th", { text: t })))),
            files,
          ),
        ),
      ),
    ),
  );

  function renderHeader() {
    const t = task;
    const running = t.status === "running";
    const active = isActive(t.status);
    const meta = (label, value, cls) =>
      h("div", { class: "meta-item" }, h("dt", { text: label }), h("dd", { class: cls || "", text: value }));
    replaceChildren(
      header,
      h(
        "div",
        { class: "task-title" },
        h(
          "div",
          {},
          h("h1", { text: t.task_name || t.id, id: "task-title" }),
          h("div", { class: "sub mono", text: `${t.id} · ${t.db_name || "?"} · by ${t.created_by || "?"}` }),
        ),
        h(
          "div",
          { class: "actions" },
          active
            ? h("button", { class: "btn warn", type: "button", id: "btn-cancel", text: running ? "Cancel run" : "Cancel (queued)", onClick: cancelRun })
            : null,
          hasPairs
            ? h("a", { class: "btn", id: "btn-pairs", href: `#/tasks/${encodeURIComponent(t.id)}/pairs`, text: "Review pairs" })
            : null,
          h("button", { class: "btn", type: "button", id: "btn-run-step", text: "Run a step…", disabled: active, onClick: runStep }),
          h("button", { class: "btn danger-outline", type: "button", id: "btn-delete", text: "Delete…", onClick: deleteTask }),
        ),
      ),
      h(
        "div",
        { class: "status-line" },
        statusBadge(t.status, t.queue_position),
        h("div", { class: "big-progress" }, progressBar(t.progress, t.status)),
        h("span", { class: "pct", id: "task-progress", text: `${t.progress ?? 0}%` }),
        h("span", {
          class: "muted",
          id: "task-where",
          text: running
            ? [t.current_step ? `running ${stepLabel(t.current_step)}` : "", t.worker_name ? `on ${t.worker_name}` : ""].filter(Boolean).join(" ")
            : t.status === "queued"
              ? `waiting for a free slot (#${t.queue_position || "?"} in the queue)`
              : "",
        }),
      ),
      h(
        "dl",
        { class: "meta" },
        meta("Created", fmtTime(t.created_at)),
        meta("Started", fmtTime(t.started_at)),
        meta("Completed", fmtTime(t.completed_at)),
        meta("Duration", fmtDuration(taskDuration(t)), "duration"),
      ),
      t.business_context || (t.parameters && t.parameters.business_context)
        ? h("p", { class: "context" }, h("strong", { text: "Business context: " }),
            h("span", { text: t.business_context || t.parameters.business_context }))
        : null,
      t.error_message
        ? h("div", { class: "alert alert-error", id: "task-error" },
            h("strong", { text: t.error_step ? `${stepLabel(t.error_step)} failed: ` : "Error: " }),
            h("span", { text: t.error_message }))
        : null,
    );
  }

  function renderTimeline() {
    const details = stepDetails(task);
    replaceChildren(
      timeline,
      STEPS.map((s) => timelineItem(s, details[s.name], latestRun[s.name])),
    );
  }

  async function loadRuns() {
    try {
      const data = await get(`/tasks/${encodeURIComponent(taskId)}/executions`);
      if (!alive) return;
      const items = Array.isArray(data) ? data : data.executions || data.items || [];
      latestRun = {};
      for (const e of items) latestRun[e.step || e.execution_step] = e;
      if (task) renderTimeline();
      replaceChildren(
        runs,
        items.length
          ? items.map(runRow)
          : h("tr", {}, h("td", { colspan: "6", class: "muted", text: "No runs yet." })),
      );
    } catch (err) {
      if (alive) replaceChildren(runs, h("tr", {}, h("td", { colspan: "6", class: "muted", text: describe(err) })));
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
      renderHeader();
      renderTimeline();
      logs.setDownloadable(Boolean(task.started_at));
      // Files and runs change when the step or status does; avoid reloading them every tick.
      const key = `${task.status}|${task.current_step}|${JSON.stringify(task.step_status || {})}|${task.completed_at}`;
      if (key !== filesKey) {
        filesKey = key;
        loadFiles();
        loadRuns();
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
      replaceChildren(actionMsg, errorAlert("Could not load the task", err, refresh));
    }
    if (alive) timer = setTimeout(refresh, task && isActive(task.status) ? FAST_MS : SLOW_MS);
  }

  function showAction(kind, text) {
    replaceChildren(actionMsg, h("div", { class: `alert alert-${kind}`, text }));
  }

  async function cancelRun() {
    const ok = await confirmDialog("Cancel the run?", "The executor is stopped; steps not finished are marked cancelled.", {
      confirmLabel: "Cancel run",
      danger: true,
    });
    if (!ok) return;
    try {
      await post(`/tasks/${encodeURIComponent(taskId)}/cancel`, {});
      toast("Cancellation requested", "info");
    } catch (err) {
      showAction("error", `Cancel failed: ${describe(err)}`);
    }
    refresh();
  }

  async function runStep() {
    const details = stepDetails(task);
    const select = h(
      "select",
      { id: "run-step-select", "aria-label": "Step to run" },
      STEPS.map((s) => h("option", { value: String(s.n), text: `${s.n} · ${s.label} (${details[s.name].status})` })),
      h("option", { value: "all", text: "All steps (complete workflow)" }),
    );
    const force = h("input", { type: "checkbox", id: "run-force" });
    const clean = h("input", { type: "checkbox", id: "run-clean" });
    const syncForce = () => {
      const s = STEPS.find((x) => String(x.n) === select.value);
      force.checked = select.value === "all" || (s && details[s.name].status === "completed");
    };
    select.addEventListener("change", syncForce);
    const firstNotDone = STEPS.find((s) => details[s.name].status !== "completed");
    select.value = firstNotDone ? String(firstNotDone.n) : "3";
    syncForce();
    const go = await modal({
      title: "Run a step",
      body: [
        h("label", { class: "field" }, h("span", { text: "Step" }), select),
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
    const body =
      select.value === "all"
        ? { execution_mode: "complete", force: force.checked, clean: clean.checked }
        : { execution_mode: "single", single_step: Number(select.value), force: force.checked, clean: clean.checked };
    try {
      const data = await post(`/tasks/${encodeURIComponent(taskId)}/execute`, body);
      filesKey = "";
      await refresh();
      if (!logs.streaming) logs.start();
      showAction("info", `Started ${data && data.execution_id ? data.execution_id : "a new run"}.`);
    } catch (err) {
      showAction(err instanceof ApiError && err.status === 409 ? "warn" : "error", `Could not start: ${describe(err)}`);
    }
  }

  async function deleteTask() {
    const running = task && task.status === "running";
    const purge = h("input", { type: "checkbox", id: "delete-purge" });
    const ok = await confirmDialog(
      `Delete ${taskId}?`,
      running
        ? "The task is running: the run is cancelled first. Its rows, logs and folder are removed."
        : "Its rows, logs and output folder are removed. This cannot be undone.",
      {
        confirmLabel: "Delete task",
        danger: true,
        extra: h("label", { class: "option" }, purge,
          h("span", {}, h("strong", { text: "Also purge training data" }),
            h("small", { text: "remove the vectors this task loaded into pgvector" }))),
      },
    );
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
      showAction("error", `Delete failed: ${describe(err)}`);
    }
  }

  refresh().then(() => {
    // Finished tasks: show their logs once (the stream sends everything, then "end"). A task
    // never started has none yet: its stream opens when it starts running.
    if (alive && !logs.streaming && task && task.status !== "pending") logs.start();
  });

  return () => {
    alive = false;
    clearTimeout(timer);
    logs.stop();
  };
}
