// Output files: downloads that carry no token in their address, and a viewer that shows a text
// file (DDL, Markdown, logs, JSON reports) in the page.
import { ApiError, apiUrl, authHeaders } from "../api.js";
import { markDown } from "../connection.js";
import { fmtBytes, h } from "../dom.js";
import { modal, toast } from "../ui.js";

export const VIEW_LIMIT = 200 * 1024; // bytes shown at most; the rest is for the download
const TEXT_FILE = /\.(ddl|sql|md|txt|log|json|jsonl|csv|ya?ml)$/i;

/** Whether the viewer can show this file (text types only). */
export const isTextFile = (name) => TEXT_FILE.test(String(name || ""));

async function fetchOrThrow(path) {
  let res;
  try {
    res = await fetch(apiUrl(path), { headers: authHeaders() });
  } catch {
    markDown();
    throw new ApiError(0, { message: "The server is not reachable" });
  }
  if (!res.ok) {
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    throw new ApiError(res.status, body);
  }
  return res;
}

/**
 * A download link: a plain address (no `?access_token=`, so a copied link leaks nothing). With
 * a token set, a click fetches the file with the Authorization header and saves it from memory.
 */
export function downloadLink(path, filename, attrs = {}) {
  const link = h("a", { ...attrs, href: apiUrl(path), download: filename });
  link.addEventListener("click", async (ev) => {
    if (!authHeaders().Authorization) return; // no token: the browser downloads by itself
    ev.preventDefault();
    try {
      const blob = await (await fetchOrThrow(path)).blob();
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: filename, class: "hidden" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      toast(`Download failed: ${err.message}`, "error");
    }
  });
  return link;
}

/** The first `limit` bytes of a file as text, and whether there was more. */
async function readHead(path, limit) {
  const res = await fetchOrThrow(path);
  const total = Number(res.headers.get("Content-Length")) || null;
  const reader = res.body.getReader();
  const chunks = [];
  let size = 0;
  let more = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    if (size > limit) {
      more = true;
      reader.cancel().catch(() => {});
      break;
    }
  }
  const bytes = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const c of chunks) {
    const part = c.subarray(0, Math.min(c.length, bytes.length - at));
    bytes.set(part, at);
    at += part.length;
    if (at >= bytes.length) break;
  }
  // A cut may split a multi-byte character: the decoder drops the incomplete end.
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes, { stream: more });
  return { text, more, total };
}

/** Show a text output in a dialog: the first 200 KB, JSON indented, with a download button. */
export async function viewFile(path, name, size) {
  const pre = h("pre", { class: "file-view mono", id: "file-view", tabindex: "0", text: "Loading…" });
  const note = h("p", { class: "muted small", id: "file-view-note" });
  const shown = modal({
    title: name,
    body: [note, pre, h("div", { class: "viewer-download" },
      downloadLink(path, name.split("/").pop(), { class: "btn small", text: "Download" }))],
    buttons: [{ label: "Close", value: false, kind: "primary" }],
    wide: true,
  });
  try {
    const { text, more, total } = await readHead(path, VIEW_LIMIT);
    let shownText = text;
    if (!more && /\.json$/i.test(name)) {
      try {
        shownText = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        shownText = text;
      }
    }
    pre.textContent = shownText || "(empty file)";
    const whole = total || size;
    note.textContent = more
      ? `Showing the first ${fmtBytes(VIEW_LIMIT)}${whole ? ` of ${fmtBytes(whole)}` : ""} — download the file for the rest.`
      : `${fmtBytes(whole ?? text.length)}`;
    note.classList.toggle("truncated", more);
  } catch (err) {
    pre.textContent = "";
    note.textContent = `Could not read the file: ${err.message}`;
    note.classList.add("error-text");
  }
  return shown;
}
