// One Server-Sent Events stream per tab, multiplexing the topics the current view needs
// (PROTOCOL.md). Browsers allow 6 connections per host over HTTP/1.1: a stream per topic
// in a few tabs would leave none for a button's POST. So the stream is also closed while
// the tab is hidden, and reopened after the last id seen when it is shown again.
//
// Messages are queued and handed to the view once per animation frame: a burst of 200
// workers changing state renders once, with the latest snapshot.

const NAMES = ["hello", "status", "stats", "event", "log", "reset"];
const MAX_QUEUED = 5000; // items waiting for a frame; older ones are dropped (and counted)
const MAX_RETRY_MS = 30000;

function emptyBatch() {
  return { hello: null, status: null, stats: null, events: [], logs: [], reset: false,
    dropped: 0 };
}

export class LiveStream {
  constructor({ onBatch, onState, onRefused }) {
    this.onBatch = onBatch;
    this.onState = onState;
    this.onRefused = onRefused; // the server answered with an error: is the session over?
    this.params = null;
    this.key = null;
    this.source = null;
    this.lastId = null;
    this.pending = emptyBatch();
    this.frame = 0;
    this.retryTimer = 0;
    this.retryDelay = 1000;
    document.addEventListener("visibilitychange", () => this.visibilityChanged());
    window.addEventListener("pagehide", () => this.close("paused"));
    window.addEventListener("pageshow", (event) => { if (event.persisted) this.open(); });
  }

  // params: { topics: [...], watcher?, backlog?, interval? }, or null for no stream.
  // A new subscription starts afresh; only the same one resumes after its last id.
  subscribe(params) {
    const key = params ? JSON.stringify(params) : null;
    if (key === this.key) return;
    this.close("off");
    this.params = params;
    this.key = key;
    this.lastId = null;
    this.pending = emptyBatch();
    this.open();
  }

  open() {
    if (!this.params || this.source || document.visibilityState === "hidden") return;
    clearTimeout(this.retryTimer);
    const query = new URLSearchParams({ topics: this.params.topics.join(",") });
    for (const key of ["watcher", "backlog", "interval"]) {
      if (this.params[key] !== undefined && this.params[key] !== null) {
        query.set(key, String(this.params[key]));
      }
    }
    // The browser sends Last-Event-ID by itself only on its own reconnections; when we
    // reopen (tab shown again, stream refused earlier) the id goes in the query.
    if (this.lastId) query.set("last_event_id", this.lastId);
    const source = new EventSource(`/v1/stream?${query}`);
    this.source = source;
    this.onState("connecting");
    for (const name of NAMES) {
      source.addEventListener(name, (event) => this.receive(source, name, event));
    }
    source.onerror = () => {
      if (source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) {
        // Refused (an error status or type), so the browser will not retry: we do,
        // later, unless the session is over.
        this.source = null;
        this.onState("down");
        this.onRefused?.();
        this.retryLater();
      } else {
        this.onState("reconnecting"); // dropped: the browser reconnects with Last-Event-ID
      }
    };
  }

  close(state = "off") {
    clearTimeout(this.retryTimer);
    if (this.source) {
      this.source.close();
      this.source = null;
    }
    this.onState(state);
  }

  stop() {
    this.subscribe(null);
  }

  retryLater() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY_MS);
  }

  visibilityChanged() {
    if (document.visibilityState === "hidden") this.close("paused");
    else this.open();
  }

  receive(source, name, event) {
    if (source !== this.source) return; // a late message of a stream being replaced
    if (event.lastEventId) this.lastId = event.lastEventId;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    const batch = this.pending;
    if (name === "status") batch.status = data;
    else if (name === "stats") batch.stats = data;
    else if (name === "hello") { // the server has subscribed: from here nothing is missed
      batch.hello = data;
      this.retryDelay = 1000;
      this.onState("live");
    }
    else if (name === "reset") {
      batch.reset = true; // what was queued belongs to the lost history
      batch.events.length = 0;
      batch.logs.length = 0;
    } else {
      const list = name === "log" ? batch.logs : batch.events;
      list.push(data);
      if (list.length > MAX_QUEUED) {
        list.shift();
        batch.dropped += 1;
      }
    }
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const batch = this.pending;
    this.pending = emptyBatch();
    this.onBatch(batch);
  }
}
