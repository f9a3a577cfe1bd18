// Small shared widgets: status badges, progress bars, toasts and modal dialogs.
import { h } from "./dom.js";

export const STEPS = [
  { n: 1, name: "ddl_generation", label: "DDL & docs" },
  { n: 2, name: "qa_generation", label: "Question→SQL pairs" },
  { n: 3, name: "sql_validation", label: "SQL validation" },
  { n: 4, name: "training_load", label: "Training load" },
];

export const TASK_STATUSES = [
  "pending",
  "queued",
  "running",
  "completed",
  "partial_completed",
  "failed",
  "cancelled",
];

const STATUS_LABELS = { partial_completed: "partial", in_progress: "running" };

export function stepLabel(name) {
  const step = STEPS.find((s) => s.name === name);
  return step ? `${step.n} · ${step.label}` : name || "—";
}

/** A status badge; a queued task shows its place in the queue ("queued #2"). */
export function statusBadge(status, queuePosition) {
  const s = status || "unknown";
  const queued = s === "queued" && queuePosition;
  return h("span", {
    class: `badge badge-${s}`,
    text: queued ? `queued #${queuePosition}` : STATUS_LABELS[s] || s,
    title: queued ? `queued: ${queuePosition - 1} task(s) start before it` : s,
    dataset: { status: s },
  });
}

/** Whether a task is waiting or running (the console polls faster, offers Cancel). */
export function isActive(status) {
  return status === "running" || status === "queued";
}

/** A progress bar; `label` is its accessible name (screen readers announce it with the value). */
export function progressBar(pct, status, label = "Progress") {
  const value = Math.max(0, Math.min(100, Number(pct) || 0));
  return h(
    "div",
    {
      class: `progress progress-${status || "unknown"}`,
      role: "progressbar",
      "aria-label": label,
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": String(value),
    },
    h("div", { class: "progress-fill", style: { width: `${value}%` } }),
  );
}

export function toast(message, kind = "info", ms = 4000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  // Errors stay longer and can be dismissed; the region is aria-live, so they are read out.
  const error = kind === "error" || kind === "warn";
  const el = h("div", { class: `toast toast-${kind}` }, h("span", { text: message }),
    error ? h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", text: "×",
      onClick: () => el.remove() }) : null);
  box.append(el);
  setTimeout(() => el.remove(), error ? Math.max(ms, 8000) : ms);
}

/**
 * A modal dialog built from `body` nodes; resolves with the pressed button's value
 * (or null when dismissed with Escape / Cancel).
 */
export function modal({ title, body = [], buttons = [], onOpen, wide }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: wide ? "modal modal-wide" : "modal", "aria-label": title });
    const footer = h("div", { class: "modal-actions" });
    const close = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    for (const b of buttons) {
      footer.append(
        h("button", {
          type: b.submit ? "submit" : "button",
          class: `btn ${b.kind || ""}`,
          text: b.label,
          dataset: { value: String(b.value) },
          onClick: (ev) => {
            ev.preventDefault();
            if (b.validate && !b.validate()) return;
            close(b.value);
          },
        }),
      );
    }
    const form = h("form", { method: "dialog" }, h("h2", { text: title }), body, footer);
    dialog.append(form);
    dialog.addEventListener("cancel", (ev) => {
      ev.preventDefault();
      close(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    if (onOpen) onOpen(dialog);
  });
}

/** Ask for the API token; resolves with the entered token or null. */
export async function askToken(rejected) {
  const input = h("input", {
    type: "password",
    id: "token-input",
    name: "token",
    autocomplete: "off",
    placeholder: "DATA_PIPELINE_API_TOKEN",
  });
  const body = [
    h("p", {
      text: rejected
        ? "The API refused that token. Enter the correct one."
        : "This server requires an API token. It is kept for this browser tab only.",
      class: rejected ? "error-text" : "muted",
    }),
    h("label", { class: "field" }, h("span", { text: "API token" }), input),
  ];
  const value = await modal({
    title: "API token",
    body,
    buttons: [
      { label: "Cancel", value: false },
      { label: "Use token", value: true, kind: "primary", submit: true },
    ],
    onOpen: () => input.focus(),
  });
  const token = input.value.trim();
  return value && token ? token : null;
}

/** A yes/no confirmation; `extra` nodes (e.g. checkboxes) go under the message. */
export async function confirmDialog(title, message, { confirmLabel = "OK", danger, extra } = {}) {
  const value = await modal({
    title,
    body: [h("p", { text: message }), extra],
    buttons: [
      { label: "Cancel", value: false },
      { label: confirmLabel, value: true, kind: danger ? "danger" : "primary", submit: true },
    ],
  });
  return value === true;
}
