// Entry point: hash routing between the views, and the API status light.
import { API, whoami } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { renderTaskList } from "./views/list.js";
import { renderNewTask } from "./views/new_task.js";
import { renderPairs } from "./views/pairs.js";
import { renderStore } from "./views/store.js";
import { renderTask } from "./views/task.js";

// `title`: the page title (a view may refine it once it knows more, e.g. the task's name).
const routes = [
  { pattern: /^#\/tasks\/([A-Za-z0-9_]+)\/pairs$/, nav: "tasks", render: renderPairs, title: (id) => `Pairs · ${id}` },
  { pattern: /^#\/tasks\/([A-Za-z0-9_]+)$/, nav: "tasks", render: renderTask, title: (id) => id },
  { pattern: /^#\/new$/, nav: "new", render: renderNewTask, title: () => "New task" },
  { pattern: /^#\/tasks$/, nav: "tasks", render: renderTaskList, title: () => "Tasks" },
  { pattern: /^#\/store$/, nav: "store", render: renderStore, title: () => "Training store" },
];
const APP_TITLE = "Data Pipeline console";

let cleanup = null;

function parseHash() {
  const raw = window.location.hash || "#/tasks";
  const [path, qs = ""] = raw.split("?");
  return { path, query: new URLSearchParams(qs) };
}

async function route() {
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.warn("view cleanup failed", err);
    }
    cleanup = null;
  }
  const { path, query } = parseHash();
  const view = document.getElementById("view");
  const match = routes.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", Boolean(match && a.dataset.nav === match.r.nav));
  }
  if (!match) {
    replaceChildren(
      view,
      h("section", { class: "card empty" }, h("h1", { text: "Page not found" }),
        h("p", {}, h("a", { href: "#/tasks", text: "Back to the task list" }))),
    );
    return;
  }
  const ctx = { params: match.m.slice(1).map(decodeURIComponent), query };
  document.title = `${match.r.title(...ctx.params)} — ${APP_TITLE}`;
  const result = match.r.render(view, ctx);
  cleanup = typeof result === "function" ? result : null;
  window.scrollTo(0, 0);
}

/** A dot in the top bar: green when /ready answers, red otherwise (health is unauthenticated). */
async function pollReady() {
  const light = document.getElementById("server-state");
  try {
    const res = await fetch(`${API}/ready`, { headers: { Accept: "application/json" } });
    const ok = res.ok;
    light.className = `server-state ${ok ? "up" : "down"}`;
    light.textContent = ok ? "API ready" : "database unavailable";
  } catch {
    light.className = "server-state down";
    light.textContent = "API unreachable";
  }
}

/** Who the API says we are: a token's name and role (viewers cannot change anything). */
async function showWhoAmI() {
  const badge = document.getElementById("whoami");
  try {
    const me = await whoami();
    badge.textContent = me.authenticated ? `${me.name} · ${me.role}` : "open access";
    badge.dataset.role = me.role;
    document.body.dataset.role = me.role;
  } catch {
    badge.textContent = "";
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  if (!window.location.hash) window.location.replace("#/tasks");
  route();
  showWhoAmI();
  pollReady();
  setInterval(pollReady, 15000);
});
