// Whether the API answers: a banner and disabled actions while it does not, a probe that
// notices when it is back. `api.js` reports every failed fetch and every 503 here.
const API_READY = "/api/v0/data_pipeline/ready";
const PROBE_MS = 3000;

let down = false;
let since = null;
let probeTimer = null;
const listeners = new Set();

export const isOffline = () => down;
/** When the server stopped answering (a Date), or null. */
export const offlineSince = () => since;

/** `fn(offline)` on every change; returns the function that unsubscribes. */
export function onConnectionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function banner() {
  let el = document.getElementById("server-banner");
  if (!el) {
    el = document.createElement("div");
    el.id = "server-banner";
    el.className = "server-banner hidden";
    el.setAttribute("role", "alert");
    const header = document.querySelector(".topbar");
    if (header) header.after(el);
    else document.body.prepend(el);
  }
  return el;
}

function publish() {
  const el = banner();
  el.textContent = down ? "The server is not reachable — retrying…" : "";
  el.classList.toggle("hidden", !down);
  document.body.classList.toggle("offline", down);
  for (const fn of listeners) {
    try {
      fn(down);
    } catch (err) {
      console.warn("connection listener failed", err);
    }
  }
}

async function probe() {
  probeTimer = null;
  let ok = false;
  try {
    const res = await fetch(API_READY, { headers: { Accept: "application/json" }, cache: "no-store" });
    ok = res.ok;
  } catch {
    ok = false;
  }
  if (ok) markUp();
  else if (down) probeTimer = setTimeout(probe, PROBE_MS);
}

/** A request failed for want of a server (no answer, or 503). */
export function markDown() {
  if (!probeTimer) probeTimer = setTimeout(probe, PROBE_MS);
  if (down) return;
  down = true;
  since = new Date();
  publish();
}

/** The server answered. */
export function markUp() {
  if (!down) return;
  down = false;
  since = null;
  clearTimeout(probeTimer);
  probeTimer = null;
  publish();
}
