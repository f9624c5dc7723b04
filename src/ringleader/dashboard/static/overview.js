// The overview: every watcher with its state, processes, CPU, memory, restarts and a CPU
// sparkline; a filter; start/stop/scale for operators, add for admins.

import { button, h, setText } from "./dom.js";
import { bytes, parkedText, percent } from "./format.js";
import { drawSparkline, sparkline } from "./sparkline.js";
import { badge, can, heading, num, perform, setBadge, table } from "./ui.js";

export function overviewView(ctx) {
  const rows = new Map(); // name -> row parts
  const tbody = h("tbody");
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const empty = h("p", { class: "empty", hidden: true, text: "No watcher matches." });
  const filter = h("input", { type: "search", placeholder: "Filter by name or state",
    "aria-label": "Filter watchers", autocomplete: "off", spellcheck: "false",
    oninput: () => applyFilter() });
  const headers = ["Watcher", "State", num("Running"), num("CPU"), num("Memory"),
    num("Restarts"), "CPU history"];
  if (can(ctx.role, "operate")) headers.push("Actions");

  const node = h("section", { class: "view overview" },
    heading("Watchers", summary),
    h("div", { class: "toolbar" }, filter),
    can(ctx.role, "admin") ? addForm(ctx) : null,
    table(headers, tbody, "Watchers"),
    empty);

  function makeRow(name) {
    const cells = {
      link: h("a", { href: `#/w/${encodeURIComponent(name)}`, text: name }),
      state: badge("unknown"),
      running: h("td", { class: "num" }),
      cpu: h("td", { class: "num" }),
      rss: h("td", { class: "num" }),
      restarts: h("td", { class: "num" }),
      spark: sparkline(`CPU of ${name} over the last minutes`),
    };
    const tr = h("tr", { "data-name": name },
      h("th", { scope: "row" }, cells.link), h("td", {}, cells.state), cells.running,
      cells.cpu, cells.rss, cells.restarts, h("td", { class: "spark-cell" }, cells.spark));
    if (can(ctx.role, "operate")) {
      tr.append(h("td", {}, h("div", { class: "actions" }, rowActions(name))));
    }
    return { tr, cells, info: null };
  }

  function rowActions(name) {
    const act = (label, text, run) => {
      const b = button(text, () => perform(ctx, b, `${label} ${name}`, run),
        { "aria-label": `${label} ${name}`, title: `${label} ${name}` });
      return b;
    };
    return [
      act("Start", "Start", () => ctx.api.action(name, "start")),
      act("Stop", "Stop", () => ctx.api.action(name, "stop")),
      act("Remove a process from", "−", () => ctx.api.scale(name, -1)),
      act("Add a process to", "+", () => ctx.api.scale(name, +1)),
    ];
  }

  function applyFilter() {
    const query = filter.value.trim().toLowerCase();
    let visible = 0;
    for (const [name, row] of rows) {
      const state = row.info ? row.info.state : "";
      const match = !query || name.toLowerCase().includes(query) || state === query;
      row.tr.hidden = !match;
      if (match) visible += 1;
    }
    empty.hidden = visible > 0 || rows.size === 0;
  }

  function renderStatus(status) {
    const seen = new Set();
    let previous = null;
    for (const info of status.watchers) {
      seen.add(info.name);
      let row = rows.get(info.name);
      if (!row) {
        row = makeRow(info.name);
        rows.set(info.name, row);
      }
      // keep the server's order, moving only rows that are out of place
      const expected = previous ? previous.nextSibling : tbody.firstChild;
      if (expected !== row.tr) tbody.insertBefore(row.tr, expected);
      previous = row.tr;
      row.info = info;
      setBadge(row.cells.state, info.state);
      row.cells.state.title = parkedText(info);
      setText(row.cells.running, `${info.running}/${info.numprocesses}`);
      setText(row.cells.restarts, info.processes.reduce((n, p) => n + p.restarts, 0));
    }
    for (const [name, row] of rows) {
      if (!seen.has(name)) {
        row.tr.remove();
        rows.delete(name);
      }
    }
    const running = status.watchers.reduce((n, w) => n + w.running, 0);
    const desired = status.watchers.reduce((n, w) => n + w.numprocesses, 0);
    setText(summary, `${status.watchers.length} watchers · ${running}/${desired} processes ` +
      "running");
    applyFilter();
  }

  function renderStats() {
    for (const [name, row] of rows) {
      const stats = ctx.store.lastStats.get(name);
      setText(row.cells.cpu, stats ? percent(stats.cpu_percent) : "–");
      setText(row.cells.rss, stats ? bytes(stats.rss) : "–");
      const series = ctx.store.history.get(name);
      drawSparkline(row.cells.spark, series ? series.cpu : []);
    }
  }

  return {
    title: "Overview",
    node,
    stream: { topics: ["status", "stats"] },
    focus: filter,
    update(batch) {
      if (batch.status) renderStatus(batch.status);
      if (batch.stats || batch.status) renderStats();
    },
    destroy() {},
  };
}

function addForm(ctx) {
  const name = h("input", { id: "add-name", required: true, autocomplete: "off",
    spellcheck: "false", maxlength: "128" });
  const cmd = h("input", { id: "add-cmd", required: true, autocomplete: "off",
    spellcheck: "false" });
  const count = h("input", { id: "add-count", type: "number", min: "0", max: "100000",
    value: "1" });
  const start = h("input", { id: "add-start", type: "checkbox", checked: true });
  const submit = h("button", { type: "submit", text: "Add watcher" });
  const form = h("form", { class: "add-form" },
    h("label", { for: "add-name", text: "Name" }), name,
    h("label", { for: "add-cmd", text: "Command" }), cmd,
    h("label", { for: "add-count", text: "Processes" }), count,
    h("label", { class: "check" }, start, "Start now"),
    submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const request = { name: name.value.trim(), cmd: cmd.value,
      numprocesses: Number(count.value), start: start.checked };
    perform(ctx, submit, `Add ${request.name}`, () => ctx.api.add(request)).then((done) => {
      if (done) form.reset();
    });
  });
  return h("details", { class: "panel" }, h("summary", { text: "Add a watcher" }), form);
}
