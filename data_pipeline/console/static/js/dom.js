// Building DOM without innerHTML: every piece of data becomes a text node, so nothing a task,
// a log line or a database comment contains can turn into markup.

/**
 * Create an element. `attrs`: `class`, `text`, `on<Event>` handlers, `dataset`, `style`
 * (object), booleans for flags (`disabled`, `checked`...), anything else as an attribute.
 * Children: nodes, strings/numbers (as text), arrays, null/undefined/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) el.setAttribute(key, "");
    else if (key === "value" || key === "checked") el[key] = value;
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replaceChildren(el, ...children) {
  clear(el);
  return append(el, children);
}

/**
 * "zh" when a text is mainly Chinese, "en" when mainly Latin letters, null when it has no
 * letters (numbers, ids of digits, punctuation). A Han character weighs as much as three Latin
 * letters (about a word each): "服务区营收 browser walk-through" is English, "分页测试 pagination"
 * Chinese.
 */
export function langOf(text) {
  const s = String(text || "");
  const han = (s.match(/[\u3400-\u9fff\uf900-\ufaff]/g) || []).length;
  const latin = (s.match(/[A-Za-z]/g) || []).length;
  if (!han && !latin) return null;
  return han * 3 >= latin ? "zh" : "en";
}

// ---- formatting -------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** "2025-11-29 09:23:05" in the browser's time zone; "—" when missing. */
export function fmtTime(value) {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** "09:23:05.120" for log lines. */
export function fmtClock(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const ms = String(d.getMilliseconds()).padStart(3, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${ms}`;
}

/** "4.2 s", "3 min 07 s", "2 h 05 min"; "—" when unknown. */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || seconds === "") return "—";
  const s = Number(seconds);
  if (!Number.isFinite(s) || s < 0) return "—";
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  if (h) return `${h} h ${pad(m)} min`;
  return `${m} min ${pad(total % 60)} s`;
}

/** Seconds between two timestamps (end defaults to now), or null. */
export function secondsBetween(start, end) {
  if (!start) return null;
  const a = new Date(start).getTime();
  const b = end ? new Date(end).getTime() : Date.now();
  if (Number.isNaN(a) || Number.isNaN(b)) return null;
  return Math.max(0, (b - a) / 1000);
}

export function fmtBytes(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return "—";
  if (v < 1024) return `${v} B`;
  const units = ["KiB", "MiB", "GiB"];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  return `${x < 10 ? x.toFixed(1) : Math.round(x)} ${units[i]}`;
}

/** Call `fn` once `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
