// The REST API client: envelope handling, errors, and the optional bearer token.
import { markDown, markUp } from "./connection.js";
import { askToken } from "./ui.js";

export const API = "/api/v0/data_pipeline";
const TOKEN_KEY = "dataPipeline.apiToken";

/** An answer with `success: false` (or no JSON at all). */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.type = (body && body.error && body.error.type) || "http_error";
    this.details = (body && body.error && body.error.details) || {};
    this.body = body;
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token then lives only as long as this page.
  }
  memoryToken = token || "";
}

let memoryToken = "";
const currentToken = () => getToken() || memoryToken;

// Several requests may hit 401 at once: they share one prompt. Once the user dismissed it,
// background refreshes do not ask again; `askTokenAgain()` (a button) re-enables the prompt.
let pendingPrompt = null;
let declined = false;

async function obtainToken(rejected) {
  if (declined) return null;
  if (!pendingPrompt) {
    pendingPrompt = askToken(rejected).finally(() => {
      pendingPrompt = null;
    });
  }
  const token = await pendingPrompt;
  if (token) setToken(token);
  else declined = true;
  return token;
}

export function askTokenAgain() {
  declined = false;
}

/** Path under the API prefix with a query string built from `query` (empty values dropped). */
export function apiUrl(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return `${API}${path}${qs ? `?${qs}` : ""}`;
}

/** The Authorization header for a fetch made outside `request` (downloads), or none. */
export function authHeaders() {
  const token = currentToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** URL for things the browser fetches by itself (EventSource: it cannot send headers). */
export function authUrl(path, query = {}) {
  const token = currentToken();
  return apiUrl(path, token ? { ...query, access_token: token } : query);
}

/**
 * Call the API; resolve with the whole envelope (`{success, code, message, data}`).
 * On 401 the token is asked for (once per prompt) and the request retried.
 */
export async function request(method, path, { query, body, headers = {} } = {}) {
  let rejected = false;
  for (;;) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    const token = currentToken();
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(apiUrl(path, query), init);
    } catch {
      markDown(); // no answer at all: the banner shows, actions wait for the server
      throw new ApiError(0, { message: "The server is not reachable", error: { type: "unreachable" } });
    }
    if (res.status === 503) {
      const body = await safeJson(res.clone());
      const type = body && body.error && body.error.type;
      if (!type || type === "database_unavailable") markDown();
    } else markUp();
    if (res.status === 401) {
      if (token && !rejected) setToken("");
      const fresh = await obtainToken(rejected || Boolean(token));
      rejected = true;
      if (!fresh) throw new ApiError(401, await safeJson(res));
      continue;
    }
    const envelope = await safeJson(res);
    if (!res.ok || !envelope || envelope.success === false) {
      throw new ApiError(res.status, envelope);
    }
    return envelope;
  }
}

async function safeJson(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

export const get = async (path, query) => (await request("GET", path, { query })).data;
export const post = async (path, body, opts = {}) =>
  (await request("POST", path, { ...opts, body })).data;
export const del = async (path, query) => (await request("DELETE", path, { query })).data;
export const patch = async (path, body) => (await request("PATCH", path, { body })).data;

let mePromise = null;

/** The caller as `GET /whoami` describes it (`{name, role, authenticated}`), asked once. */
export function whoami() {
  if (!mePromise) {
    mePromise = get("/whoami").catch((err) => {
      mePromise = null;
      throw err;
    });
  }
  return mePromise;
}

/** Whether the caller may change things (operators and administrators). */
export async function canWrite() {
  try {
    const me = await whoami();
    return me.role === "operator" || me.role === "admin";
  } catch {
    return false;
  }
}

/** "a/b c.json" → "a/b%20c.json": each segment encoded, slashes kept for sub-folders. */
export function encodePath(name) {
  return String(name).split("/").map(encodeURIComponent).join("/");
}
