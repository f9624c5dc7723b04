// The dashboard: sign-in, the hash router, the live stream and the views.

import { Api } from "./api.js";
import { chartsView } from "./charts.js";
import { clusterView } from "./cluster.js";
import { replace, setText } from "./dom.js";
import { eventsView } from "./events.js";
import { LiveStream } from "./live.js";
import { loginView } from "./login.js";
import { logsView } from "./logs.js";
import { overviewView } from "./overview.js";
import { Store } from "./store.js";
import { watcherView } from "./watcher.js";

const NOTICE_MS = 6000;
const LIVE_TEXT = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…",
  paused: "paused", down: "disconnected", off: "" };

// [pattern of the hash, view factory, the nav link it belongs to]
const ROUTES = [
  [/^#\/?$/, (ctx) => overviewView(ctx), "#/"],
  [/^#\/w\/([^/]+)$/, (ctx, name) => watcherView(ctx, name), "#/"],
  [/^#\/logs(?:\/([^/]+))?$/, (ctx, name) => logsView(ctx, name), "#/logs"],
  [/^#\/events$/, (ctx) => eventsView(ctx), "#/events"],
  [/^#\/charts(?:\/([^/]+))?$/, (ctx, name) => chartsView(ctx, name), "#/charts"],
  [/^#\/cluster$/, (ctx) => clusterView(ctx), "#/cluster"],
];

// The one-time token arrives in the fragment, which the browser never sends: take it,
// then drop it from the address bar and the history entry before anything else runs.
function takeToken() {
  const match = /^#token=([A-Za-z0-9_-]{1,200})$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  return match[1];
}

class App {
  constructor() {
    this.api = new Api();
    this.store = new Store();
    this.session = null;
    this.view = null;
    this.noticeTimer = 0;
    this.main = document.getElementById("main");
    this.nav = document.getElementById("nav");
    this.who = document.getElementById("who");
    this.liveState = document.getElementById("live");
    this.notice = document.getElementById("notice");
    this.logout = document.getElementById("logout");
    this.live = new LiveStream({
      onBatch: (batch) => this.receive(batch),
      onState: (state) => {
        setText(this.liveState, LIVE_TEXT[state] ?? state);
        this.liveState.dataset.state = state;
      },
      onRefused: () => this.checkSession(),
    });
    this.ctx = {
      api: this.api,
      store: this.store,
      role: "read",
      notify: (text, kind) => this.notify(text, kind),
      navigate: (hash) => { location.hash = hash; },
      sessionLost: () => this.checkSession(),
    };
    this.logout.addEventListener("click", () => this.signOut());
    window.addEventListener("hashchange", () => { if (this.session) this.route(); });
    document.addEventListener("keydown", (event) => this.key(event));
  }

  async start(token) {
    let session = null;
    try {
      session = token ? await this.api.exchange(token) : await this.api.session();
    } catch (error) {
      this.showLogin(error.detail ?? error.message);
      return;
    }
    if (session) this.enter(session);
    else this.showLogin("");
  }

  enter(session) {
    this.session = session;
    this.ctx.role = session.role;
    // the role first: on a phone the name is what gets cut
    setText(this.who, `${session.role} · ${session.name.replace(/^session:/, "")}`);
    this.nav.hidden = false;
    this.logout.hidden = false;
    this.route();
  }

  async signIn(token) {
    if (!token) return "Paste a token first.";
    try {
      const session = await this.api.exchange(token);
      if (!session) return "The controller did not open a session.";
      this.enter(session);
      return null;
    } catch (error) {
      return error.detail ?? error.message;
    }
  }

  async signOut() {
    try {
      await this.api.logout();
    } catch (error) {
      // the session may be gone already: signed out either way
    }
    this.showLogin("Signed out.");
  }

  async checkSession() {
    try {
      if (await this.api.session()) return;
    } catch (error) {
      return; // unreachable: the stream retries by itself
    }
    this.showLogin("Your session has ended: sign in again.");
  }

  showLogin(message) {
    this.session = null;
    this.live.stop();
    this.nav.hidden = true;
    this.logout.hidden = true;
    setText(this.who, "");
    this.show(loginView((token) => this.signIn(token), message), null);
  }

  route() {
    const hash = location.hash || "#/";
    for (const [pattern, make, link] of ROUTES) {
      const match = pattern.exec(hash);
      if (match) {
        const arg = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
        this.show(make(this.ctx, arg), link);
        return;
      }
    }
    this.ctx.navigate("#/");
  }

  show(view, link) {
    if (this.view) this.view.destroy();
    this.view = view;
    replace(this.main, view.node);
    document.title = `${view.title} · Ringleader`;
    for (const a of this.nav.querySelectorAll("a")) {
      if (a.getAttribute("href") === link) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    // what the tab already knows renders at once; the stream brings the rest
    if (this.store.status) {
      view.update({ status: this.store.status, stats: null, events: [], logs: [],
        reset: false, dropped: 0 });
    }
    this.live.subscribe(view.stream);
    view.node.querySelector("h1")?.focus();
  }

  receive(batch) {
    if (batch.status) this.store.setStatus(batch.status);
    if (batch.stats) this.store.addStats(batch.stats);
    if (this.view) this.view.update(batch);
  }

  notify(text, kind) {
    clearTimeout(this.noticeTimer);
    this.notice.dataset.kind = kind;
    setText(this.notice, text);
    this.noticeTimer = setTimeout(() => setText(this.notice, ""), NOTICE_MS);
  }

  key(event) {
    // "/" jumps to the view's filter or search, unless the user is typing
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName);
    if (event.key === "/" && !typing && this.view?.focus) {
      event.preventDefault();
      this.view.focus.focus();
    }
  }
}

const token = takeToken();
new App().start(token);
