// Logs: follow one watcher or all, stdout/stderr filter, search, pause, ANSI colours
// rendered as spans, and a capped buffer (the oldest lines leave the page).

import { button, h, setText } from "./dom.js";
import { renderAnsi } from "./ansi.js";
import { clock } from "./format.js";
import { fillWatcherChoices, heading } from "./ui.js";

export const MAX_LINES = 5000;
const BACKLOG = 200;

export function logsView(ctx, only) {
  const lines = []; // { node, text, stream }, oldest first
  let held = []; // lines received while paused
  let heldDropped = 0;
  let paused = false;

  const output = h("div", { class: "log", role: "log", tabindex: "0",
    "aria-label": only ? `Output of ${only}` : "Output of every watcher" });
  const choose = h("select", { id: "log-watcher", "aria-label": "Watcher",
    onchange: () => ctx.navigate(choose.value ? `#/logs/${encodeURIComponent(choose.value)}`
      : "#/logs") });
  const stdout = h("input", { type: "checkbox", checked: true, onchange: () => refilter() });
  const stderr = h("input", { type: "checkbox", checked: true, onchange: () => refilter() });
  const search = h("input", { type: "search", placeholder: "Search", autocomplete: "off",
    spellcheck: "false", "aria-label": "Search the lines", oninput: () => refilter() });
  const pause = button("Pause", () => setPaused(!paused), { "aria-pressed": "false" });
  const clear = button("Clear", () => clearLines());
  const count = h("span", { class: "count", "aria-live": "polite" });

  const node = h("section", { class: "view logs" },
    heading(only ? `Logs of ${only}` : "Logs"),
    h("div", { class: "toolbar" }, choose,
      h("label", { class: "check" }, stdout, "stdout"),
      h("label", { class: "check" }, stderr, "stderr"),
      search, pause, clear, count),
    output);

  const fillChoices = () => fillWatcherChoices(choose, ctx.store, only);


  function clearLines() {
    lines.splice(0).forEach((line) => line.node.remove());
    countLines();
  }

  function matches(line) {
    if (line.stream === "stdout" && !stdout.checked) return false;
    if (line.stream === "stderr" && !stderr.checked) return false;
    const query = search.value.trim().toLowerCase();
    return !query || line.lower.includes(query);
  }

  function refilter() {
    for (const line of lines) line.node.hidden = !matches(line);
    countLines();
  }

  function countLines() {
    const extra = paused ? ` · paused, ${held.length + heldDropped} new` : "";
    setText(count, `${lines.length} lines${extra}`);
  }

  function setPaused(value) {
    paused = value;
    setText(pause, paused ? "Resume" : "Pause");
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      const waiting = held;
      held = [];
      heldDropped = 0;
      show(waiting);
    }
    countLines();
  }

  function makeLine(entry) {
    const { nodes, text } = renderAnsi(entry.line);
    const lineNode = h("div", { class: `line ${entry.stream}` },
      h("span", { class: "at", text: clock(entry.at) }),
      h("span", { class: "source", text: `${entry.watcher}.${entry.wid}` }),
      h("span", { class: "text" }, nodes));
    const line = { node: lineNode, text, lower: `${entry.watcher}.${entry.wid} ${text}`
      .toLowerCase(), stream: entry.stream };
    line.node.hidden = !matches(line);
    return line;
  }

  function show(entries) {
    if (!entries.length) return;
    const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    const fragment = document.createDocumentFragment();
    for (const entry of entries.slice(-MAX_LINES)) {
      const line = makeLine(entry);
      lines.push(line);
      fragment.append(line.node);
    }
    output.append(fragment);
    const excess = lines.length - MAX_LINES;
    if (excess > 0) lines.splice(0, excess).forEach((line) => line.node.remove());
    if (atBottom) output.scrollTop = output.scrollHeight;
    countLines();
  }

  function receive(entries) {
    if (!paused) {
      show(entries);
      return;
    }
    held.push(...entries);
    if (held.length > MAX_LINES) {
      heldDropped += held.length - MAX_LINES;
      held = held.slice(-MAX_LINES);
    }
    countLines();
  }

  fillChoices();
  countLines();
  return {
    title: only ? `Logs of ${only}` : "Logs",
    node,
    focus: search,
    stream: { topics: ["status", "logs"], watcher: only ?? undefined, backlog: BACKLOG },
    update(batch) {
      if (batch.status) fillChoices();
      if (batch.reset) { // the stream starts afresh: its backlog follows
        held = [];
        clearLines();
      }
      if (batch.logs.length) receive(batch.logs);
    },
    destroy() {},
  };
}
