// Live log viewer: Server-Sent Events with resume, level/step filters, pause, auto-scroll.
import { askTokenAgain, authUrl, get } from "../api.js";
import { fmtClock, h, replaceChildren } from "../dom.js";
import { STEPS } from "../ui.js";
import { downloadLink } from "./outputs.js";

const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const MAX_KEPT = 20000;
const MAX_SHOWN = 3000;
const RETRY_MS = 3000;

const levelOf = (r) => String(r.level || r.log_level || "INFO").toUpperCase();
const stepOf = (r) => r.step || r.step_name || "";

export class LogViewer {
  constructor(taskId, { onEnd } = {}) {
    this.taskId = taskId;
    this.onEnd = onEnd;
    this.records = [];
    this.lastId = 0;
    this.source = null;
    this.ended = false;
    this.paused = false;
    this.unseen = 0;
    this.retryTimer = null;
    this.build();
  }

  build() {
    this.level = h(
      "select",
      { id: "log-level", "aria-label": "Minimum level" },
      LEVELS.slice(0, 4).map((l) => h("option", { value: l, text: `${l}+` })),
    );
    this.level.value = "INFO";
    this.step = h(
      "select",
      { id: "log-step", "aria-label": "Step" },
      h("option", { value: "", text: "All steps" }),
      STEPS.map((s) => h("option", { value: s.name, text: `${s.n} · ${s.label}` })),
      h("option", { value: "-", text: "Outside steps" }),
    );
    this.pauseBtn = h("button", { type: "button", class: "btn ghost small", id: "log-pause", text: "Pause" });
    this.autoScroll = h("input", { type: "checkbox", id: "log-autoscroll", checked: true });
    this.download = downloadLink(
      `/tasks/${encodeURIComponent(this.taskId)}/logs/download`,
      `${this.taskId}_data_pipeline.log`,
      { class: "btn ghost small", id: "log-download", text: "Download log" },
    );
    this.tokenBtn = h("button", {
      type: "button",
      class: "btn small hidden",
      id: "log-token",
      text: "Set token",
      onClick: () => this.askForToken(),
    });
    this.state = h("span", { class: "stream-state", id: "log-state" });
    this.counter = h("span", { class: "muted", id: "log-count" });
    this.pane = h("div", { class: "log-pane mono", id: "log-pane", tabindex: "0" });
    this.element = h(
      "div",
      { class: "log-viewer" },
      h(
        "div",
        { class: "toolbar" },
        this.level,
        this.step,
        this.pauseBtn,
        h("label", { class: "inline", for: "log-autoscroll" }, this.autoScroll, " Auto-scroll"),
        h("span", { class: "spacer" }),
        this.state,
        this.tokenBtn,
        this.counter,
        this.download,
      ),
      this.pane,
    );
    this.level.addEventListener("change", () => this.rerender());
    this.step.addEventListener("change", () => this.rerender());
    this.pauseBtn.addEventListener("click", () => this.togglePause());
    this.autoScroll.addEventListener("change", () => this.scroll());
    this.rerender();
  }

  matches(r) {
    const min = LEVELS.indexOf(this.level.value);
    const lvl = LEVELS.indexOf(levelOf(r));
    if ((lvl === -1 ? 1 : lvl) < min) return false;
    const want = this.step.value;
    if (want === "-") return !stepOf(r);
    return !want || stepOf(r) === want;
  }

  line(r) {
    const lvl = levelOf(r);
    const step = stepOf(r);
    const s = STEPS.find((x) => x.name === step);
    return h(
      "div",
      { class: `log-line lvl-${lvl.toLowerCase()}`, dataset: { id: String(r.id ?? ""), level: lvl, step } },
      h("span", { class: "log-time", text: fmtClock(r.timestamp || r.time || r.created_at) }),
      h("span", { class: "log-level", text: lvl }),
      h("span", { class: "log-step", text: s ? `${s.n}·${s.name}` : "—", title: step || "" }),
      h("span", { class: "log-msg", text: r.message ?? "" }),
    );
  }

  rerender() {
    const shown = this.records.filter((r) => this.matches(r));
    const tail = shown.slice(-MAX_SHOWN);
    replaceChildren(
      this.pane,
      shown.length > tail.length
        ? h("div", { class: "log-note", text: `${shown.length - tail.length} older lines hidden — download the log for everything` })
        : null,
      tail.map((r) => this.line(r)),
      shown.length ? null : h("div", { class: "log-note", text: this.records.length ? "No line matches the filters." : "No log lines yet." }),
    );
    this.unseen = 0;
    this.updateCounter();
    this.scroll();
  }

  add(record) {
    const id = Number(record.id);
    // A reconnect may replay lines already shown; ids only grow.
    if (Number.isFinite(id) && id <= this.lastId) return;
    if (Number.isFinite(id)) this.lastId = id;
    this.records.push(record);
    if (this.records.length > MAX_KEPT) this.records.splice(0, this.records.length - MAX_KEPT);
    if (this.paused) {
      if (this.matches(record)) this.unseen += 1;
      this.updateCounter();
      return;
    }
    if (!this.matches(record)) return this.updateCounter();
    const note = this.pane.querySelector(".log-note:last-child");
    if (note && !this.pane.querySelector(".log-line")) note.remove();
    this.pane.append(this.line(record));
    while (this.pane.childElementCount > MAX_SHOWN + 1) this.pane.firstElementChild.remove();
    this.updateCounter();
    this.scroll();
  }

  updateCounter() {
    this.counter.textContent = `${this.records.length} lines`;
    this.pauseBtn.textContent = this.paused
      ? `Resume${this.unseen ? ` (${this.unseen} new)` : ""}`
      : "Pause";
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseBtn.classList.toggle("active", this.paused);
    if (!this.paused) this.rerender();
    else this.updateCounter();
  }

  scroll() {
    if (this.autoScroll.checked && !this.paused) this.pane.scrollTop = this.pane.scrollHeight;
  }

  /** The log file exists once a run started; before that the link would fetch a 404. */
  setDownloadable(yes) {
    this.download.classList.toggle("hidden", !yes);
  }

  setState(text, kind) {
    this.state.textContent = text;
    this.state.className = `stream-state ${kind || ""}`;
  }

  /** Open (or re-open after a new run started) the stream from the last line received. */
  start() {
    this.stop();
    this.ended = false;
    const url = authUrl(`/tasks/${encodeURIComponent(this.taskId)}/logs/stream`, {
      after_id: this.lastId || undefined,
    });
    const es = new EventSource(url);
    this.source = es;
    this.setState("connecting…", "wait");
    es.addEventListener("open", () => {
      this.tokenBtn.classList.add("hidden");
      this.setState("● live", "live");
    });
    es.addEventListener("log", (ev) => {
      try {
        const record = JSON.parse(ev.data);
        if (record.id === undefined && ev.lastEventId) record.id = Number(ev.lastEventId);
        this.add(record);
      } catch (err) {
        console.warn("unreadable log event", err);
      }
    });
    es.addEventListener("end", (ev) => {
      this.ended = true;
      es.close();
      this.source = null;
      this.setState("run finished", "done");
      let info = {};
      try {
        info = JSON.parse(ev.data || "{}");
      } catch {
        info = {};
      }
      if (this.onEnd) this.onEnd(info);
    });
    es.addEventListener("shutdown", () => {
      // The service is stopping (a restart, a deployment): come back from the last line.
      es.close();
      this.source = null;
      this.setState("service restarting — reconnecting…", "wait");
      this.retryTimer = setTimeout(() => this.start(), RETRY_MS);
    });
    es.addEventListener("error", () => {
      if (this.source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error, which EventSource does not tell): ask once what
        // it was. Refused (401/403): stop and say so — retrying cannot help. Else try again.
        this.source = null;
        this.setState("disconnected — retrying…", "wait");
        this.whyClosed(url).then((status) => {
          if (this.source || this.ended) return;
          if (status === 401 || status === 403) {
            this.setState(status === 401 ? "not authorised — set a token" : "not allowed for this token", "error");
            this.tokenBtn.classList.toggle("hidden", status !== 401);
            return;
          }
          this.retryTimer = setTimeout(() => this.start(), RETRY_MS);
        });
      } else {
        this.setState("reconnecting…", "wait");
      }
    });
  }

  /** The HTTP status the stream's address answers now (0: no answer); the body is not read. */
  async whyClosed(url) {
    const abort = new AbortController();
    try {
      const res = await fetch(url, { signal: abort.signal, headers: { Accept: "text/event-stream" } });
      return res.status;
    } catch {
      return 0;
    } finally {
      abort.abort();
    }
  }

  /** Ask for a token (an API call that needs one does), then open the stream again. */
  async askForToken() {
    askTokenAgain();
    try {
      await get(`/tasks/${encodeURIComponent(this.taskId)}`);
    } catch {
      return; // still refused: the state line keeps saying so
    }
    this.tokenBtn.classList.add("hidden");
    this.start();
  }

  stop() {
    clearTimeout(this.retryTimer);
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  get streaming() {
    return Boolean(this.source);
  }
}
