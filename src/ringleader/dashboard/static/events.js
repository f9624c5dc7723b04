// Events: the controller's events as a timeline, newest first, with a text filter.

import { h, setText } from "./dom.js";
import { clock, exitText, signalName } from "./format.js";
import { heading } from "./ui.js";

const MAX_EVENTS = 1000;
const BACKLOG = 200;

// One line of text for an event (PROTOCOL.md lists the topics).
export function describe(event) {
  const d = event.data || {};
  const who = d.watcher !== undefined && d.wid !== undefined ? `${d.watcher}.${d.wid}`
    : d.watcher ?? "";
  switch (event.topic) {
    case "process.state":
      return `${who} ${d.old} → ${d.new}${d.reason ? ` (${d.reason})` : ""}`;
    case "process.spawned":
      return `${who} spawned as pid ${d.pid}`;
    case "process.exited": {
      const how = d.exit_code !== null && d.exit_code !== undefined ? exitText(d.exit_code)
        : d.signal ? signalName(d.signal) : "unknown status";
      return `${who} pid ${d.pid} exited: ${how}${d.expected ? " (asked to stop)" : ""}`;
    }
    case "watcher.changed":
      return `${who} ${d.action}${d.detail ? `: ${d.detail}` : ""}`;
    case "config.reloaded":
      return d.error ? `config reload failed: ${d.error}`
        : `config reloaded (added ${(d.added || []).length}, removed ` +
          `${(d.removed || []).length}, changed ${(d.changed || []).length})`;
    default:
      return `${who} ${JSON.stringify(d)}`.trim();
  }
}

export function eventsView(ctx) {
  const items = []; // { node, lower }, oldest first
  const list = h("ol", { class: "timeline", "aria-label": "Events, newest first" });
  const filter = h("input", { type: "search", placeholder: "Filter events",
    autocomplete: "off", spellcheck: "false", "aria-label": "Filter events",
    oninput: () => refilter() });
  const count = h("span", { class: "count" });
  const node = h("section", { class: "view events" },
    heading("Events"), h("div", { class: "toolbar" }, filter, count), list);

  function matches(item) {
    const query = filter.value.trim().toLowerCase();
    return !query || item.lower.includes(query);
  }

  function refilter() {
    for (const item of items) item.node.hidden = !matches(item);
  }

  function add(events) {
    const fragment = document.createDocumentFragment();
    for (const event of events.slice(-MAX_EVENTS)) {
      const text = describe(event);
      const kind = event.topic.split(".")[0];
      const itemNode = h("li", { class: `event ${kind}` },
        h("time", { text: clock(event.at) }),
        h("span", { class: "topic", text: event.topic }),
        h("span", { class: "what", text }));
      const item = { node: itemNode, lower: `${event.topic} ${text}`.toLowerCase() };
      itemNode.hidden = !matches(item);
      items.push(item);
      fragment.prepend(itemNode); // newest first
    }
    list.prepend(fragment);
    const excess = items.length - MAX_EVENTS;
    if (excess > 0) items.splice(0, excess).forEach((item) => item.node.remove());
    setText(count, `${items.length} events`);
  }

  setText(count, "0 events");
  return {
    title: "Events",
    node,
    focus: filter,
    stream: { topics: ["events"], backlog: BACKLOG },
    update(batch) {
      if (batch.reset) {
        items.splice(0).forEach((item) => item.node.remove());
      }
      if (batch.events.length) add(batch.events);
    },
    destroy() {},
  };
}
