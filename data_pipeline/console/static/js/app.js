// Entry point: hash routing between the views, and the API status light.
import { API, whoami } from "./api.js";
import { h, langOf, replaceChildren } from "./dom.js";
import { renderTaskList } from "./views/list.js";
import { renderNewTask } from "./views/new_task.js";
import { renderPairs } from "./views/pairs.js";
import { renderStore } from "./views/store.js";
import { renderTask } from "./views/task.js";

// `title`: the page title (a view may refine it once it knows more, e.g. the task's name);
// `fromHeading`: the title follows the view's <h1> (the task's name once it is loaded).
// Task ids as the API makes them: anything else is a page that does not exist.
const TASK_ID = "((?:task|manual)_\\d{8}_\\d{6}(?:_[a-z0-9]{1,8})?)";
const routes = [
  { pattern: new RegExp(`^#/tasks/${TASK_ID}/pairs$`), nav: "tasks", render: renderPairs, title: (id) => `Pairs · ${id}`, contentLang: true },
  { pattern: new RegExp(`^#/tasks/${TASK_ID}$`), nav: "tasks", render: renderTask, title: (id) => id, fromHeading: true, contentLang: true },
  { pattern: /^#\/new$/, nav: "new", render: renderNewTask, title: () => "New task" },
  { pattern: /^#\/tasks$/, nav: "tasks", render: renderTaskList, title: () => "Tasks" },
  { pattern: /^#\/store$/, nav: "store", render: renderStore, title: () => "Training store" },
];
const APP_TITLE = "Data Pipeline console";

let cleanup = null;
let autoTitle = ""; // the title this module set last (a view that sets its own is left alone)
let focusPending = false; // move focus to the view's heading once it is drawn
let focusDeadline = 0;

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
    const current = Boolean(match && a.dataset.nav === match.r.nav);
    a.classList.toggle("active", current);
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  currentRoute = match ? match.r : null;
  focusPending = true;
  focusDeadline = Date.now() + 8000;
  if (!match) {
    setTitle(renderNotFound(view, path));
    afterRender();
    return;
  }
  const ctx = { params: match.m.slice(1).map(decodeURIComponent), query };
  setTitle(match.r.title(...ctx.params));
  const result = match.r.render(view, ctx);
  cleanup = typeof result === "function" ? result : null;
  window.scrollTo(0, 0);
  afterRender();
}

let currentRoute = null;

function setTitle(text) {
  autoTitle = `${text} — ${APP_TITLE}`;
  document.title = autoTitle;
}

/** A page that does not exist: say what was asked for and where to go instead. */
function renderNotFound(view, path) {
  const task = /^#\/tasks\/([^/]+)/.exec(path);
  const id = task ? decodeURIComponent(task[1]) : "";
  replaceChildren(
    view,
    h(
      "section",
      { class: "card empty not-found" },
      h("h1", { text: task ? "Task not found" : "Page not found" }),
      h("p", {
        text: task
          ? `“${id.slice(0, 80)}” is not a task id (task ids look like task_20250101_093000).`
          : `The console has no page at ${path.slice(0, 80)}.`,
      }),
      h("p", {}, h("a", { class: "btn", href: "#/tasks", text: "Back to the task list" })),
    ),
  );
  return task ? "Task not found" : "Page not found";
}

/**
 * After a view (re)draws: the title follows the heading where the route says so, focus moves to
 * the heading after a navigation, and text in another language than the page's is marked.
 */
function afterRender() {
  const view = document.getElementById("view");
  const heading = view.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    if (currentRoute && currentRoute.fromHeading && document.title === autoTitle) {
      const text = heading.textContent.trim();
      if (text) setTitle(text);
    }
  }
  if (focusPending && heading) afterFocus(heading);
  markLanguages();
}

/**
 * `<html lang>` follows the page's content: Chinese when the heading (and the business context
 * on a task page) is mainly Chinese, English otherwise; any text block in the other language
 * gets its own `lang`, so screen readers and fonts pick the right voice and glyphs.
 */
function markLanguages(roots) {
  const view = document.getElementById("view");
  const main = [view.querySelector("h1"), view.querySelector(".context")]
    .filter(Boolean)
    .map((el) => el.textContent)
    .join(" ");
  const pageLang = (currentRoute && currentRoute.contentLang && langOf(main)) || "en";
  const root = document.documentElement;
  let scope = roots;
  if (root.lang !== pageLang) {
    root.lang = pageLang;
    scope = null; // every block is measured against the new page language
  }
  for (const top of scope || [document.body]) {
    const base = top.nodeType === Node.TEXT_NODE ? top.parentElement : top;
    if (!base || !document.contains(base)) continue;
    const walker = document.createTreeWalker(base, NodeFilter.SHOW_TEXT);
    const parents = new Set();
    if (top.nodeType === Node.TEXT_NODE) parents.add(top.parentElement);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) parents.add(n.parentElement);
    for (const el of parents) {
      if (!el || el.closest("script, style, [data-lang-fixed]")) continue;
      const own = langOf(el.textContent);
      if (!own) continue;
      const inherited = el.parentElement ? el.parentElement.closest("[lang]").lang : pageLang;
      if (el.hasAttribute("lang") && el.dataset.langAuto === undefined) continue;
      if (own !== inherited) {
        el.lang = own;
        el.dataset.langAuto = "";
      } else if (el.dataset.langAuto !== undefined) {
        el.removeAttribute("lang");
        delete el.dataset.langAuto;
      }
    }
  }
}

const observer = new MutationObserver((records) => {
  const added = [];
  for (const r of records) {
    if (r.type === "characterData") added.push(r.target);
    else for (const n of r.addedNodes) added.push(n);
  }
  const view = document.getElementById("view");
  const heading = view.querySelector("h1");
  if (heading && !heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
  if (heading && currentRoute && currentRoute.fromHeading && document.title === autoTitle) {
    const text = heading.textContent.trim();
    if (text && autoTitle !== `${text} — ${APP_TITLE}`) setTitle(text);
  }
  if (focusPending && heading) afterFocus(heading);
  markLanguages(added);
});

function afterFocus(heading) {
  focusPending = false;
  if (Date.now() > focusDeadline) return;
  // After a link or the address changed the view, focus starts at its heading (a dialog that
  // is open, such as the token prompt, keeps it).
  const active = document.activeElement;
  if (!(active && active.closest && active.closest("dialog[open]"))) {
    heading.focus({ preventScroll: true });
  }
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
  observer.observe(document.body, { childList: true, subtree: true, characterData: true });
  route();
  showWhoAmI();
  pollReady();
  setInterval(pollReady, 15000);
});
