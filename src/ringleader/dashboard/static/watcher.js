// One watcher: its processes (pid, state, uptime, restarts, last exit, why), actions for
// operators (start, stop, restart, reload, signal, scale), its options, and for admins
// `set` of an option and removal.

import { button, h, replace, setText } from "./dom.js";
import { bytes, duration, lastExit, parkedText, percent } from "./format.js";
import {
  badge, can, heading, num, parseValue, perform, setBadge, shown, table,
} from "./ui.js";

const SIGNALS = ["TERM", "HUP", "INT", "QUIT", "USR1", "USR2", "TTIN", "TTOU", "CONT",
  "STOP", "KILL"];

export function watcherView(ctx, name) {
  const state = badge("unknown");
  const detail = h("p", { class: "detail", hidden: true });
  const procBody = h("tbody");
  const procRows = new Map(); // wid -> row parts
  const target = h("select", { id: "signal-target", "aria-label": "Which processes" },
    h("option", { value: "", text: "all processes" }));
  const optionsBody = h("tbody");
  const optionNames = h("datalist", { id: "option-names" });
  const missing = h("p", { class: "empty", hidden: true },
    `There is no watcher named ${name}. `, h("a", { href: "#/", text: "All watchers" }));
  const encoded = encodeURIComponent(name);

  const node = h("section", { class: "view watcher" },
    heading(name, state),
    detail,
    missing,
    h("nav", { class: "sublinks", "aria-label": `Views of ${name}` },
      h("a", { href: `#/logs/${encoded}`, text: "Logs" }),
      h("a", { href: `#/charts/${encoded}`, text: "Charts" })),
    can(ctx.role, "operate") ? actions() : null,
    h("h2", { text: "Processes" }),
    table([num("WID"), num("PID"), "State", num("Uptime"), num("Restarts"), "Last exit", "Why",
      num("CPU"), num("Memory")],
      procBody, `Processes of ${name}`),
    h("h2", { text: "Options" }),
    can(ctx.role, "admin") ? setForm() : null,
    table(["Option", "Value"], optionsBody, `Options of ${name}`),
    optionNames,
    can(ctx.role, "admin") ? removeButton() : null);

  function actions() {
    const act = (label, run, spoken = label) => {
      const b = button(label, () => perform(ctx, b, `${spoken} ${name}`, run),
        spoken === label ? {} : { "aria-label": spoken, title: spoken });
      return b;
    };
    const signal = h("select", { id: "signal-name", "aria-label": "Signal" },
      SIGNALS.map((s) => h("option", { value: s, text: `SIG${s}` })));
    const send = button("Send", () => {
      const pid = Number(target.value) || undefined;
      perform(ctx, send, `SIG${signal.value} to ${name}`,
        () => ctx.api.signal(name, signal.value, pid));
    });
    return h("div", { class: "toolbar actions", role: "group", "aria-label": "Actions" },
      act("Start", () => ctx.api.action(name, "start")),
      act("Stop", () => ctx.api.action(name, "stop")),
      act("Restart", () => ctx.api.action(name, "restart")),
      act("Reload", () => ctx.api.action(name, "reload")),
      h("span", { class: "group", role: "group", "aria-label": "Scale" },
        act("−", () => ctx.api.scale(name, -1), "Remove a process"),
        h("span", { text: "scale" }),
        act("+", () => ctx.api.scale(name, +1), "Add a process")),
      h("span", { class: "group", role: "group", "aria-label": "Signal" },
        signal, target, send));
  }

  function setForm() {
    const key = h("input", { id: "set-key", list: "option-names", required: true,
      autocomplete: "off", spellcheck: "false", "aria-label": "Option" });
    const value = h("input", { id: "set-value", required: true, autocomplete: "off",
      spellcheck: "false", "aria-label": "New value",
      placeholder: "value, as in the config file (JSON for lists)" });
    const submit = h("button", { type: "submit", text: "Set" });
    const form = h("form", { class: "toolbar set-form" }, key, value, submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const options = { [key.value.trim()]: parseValue(value.value) };
      perform(ctx, submit, `Set ${key.value.trim()}`, () => ctx.api.set(name, options))
        .then((answer) => { if (answer) renderOptions(answer.options); });
    });
    return form;
  }

  function removeButton() {
    // Two steps instead of a modal confirm(): keyboard-friendly, and no dialog to dismiss.
    const remove = button("Remove watcher…", () => {
      if (!remove.dataset.armed) {
        remove.dataset.armed = "1";
        setText(remove, `Really remove ${name}?`);
        return;
      }
      perform(ctx, remove, `Remove ${name}`, () => ctx.api.remove(name)).then((done) => {
        if (done) ctx.navigate("#/");
      });
    }, { class: "danger" });
    remove.addEventListener("blur", () => {
      delete remove.dataset.armed;
      setText(remove, "Remove watcher…");
    });
    return h("div", { class: "toolbar" }, remove);
  }

  function renderOptions(options) {
    replace(optionsBody, Object.keys(options).sort().map((key) =>
      h("tr", {}, h("th", { scope: "row", text: key }),
        h("td", { class: "value", text: shown(options[key]) }))));
    replace(optionNames, Object.keys(options).sort().map((key) => h("option", { value: key })));
  }

  function renderWatcher(info) {
    missing.hidden = true;
    setBadge(state, info.state);
    const why = parkedText(info);
    detail.hidden = !why;
    setText(detail, why);
    const seen = new Set();
    let previous = null;
    for (const p of info.processes) {
      seen.add(p.wid);
      let row = procRows.get(p.wid);
      if (!row) {
        row = processRow(p.wid);
        procRows.set(p.wid, row);
      }
      const expected = previous ? previous.nextSibling : procBody.firstChild;
      if (expected !== row.tr) procBody.insertBefore(row.tr, expected); // wid order
      previous = row.tr;
      setText(row.pid, p.pid ?? "–");
      setBadge(row.state, p.state);
      setText(row.uptime, p.pid ? duration(p.uptime) : "–");
      setText(row.restarts, p.restarts);
      setText(row.exit, lastExit(p));
      setText(row.why, [p.reason, p.status].filter(Boolean).join(" · "));
    }
    for (const [wid, row] of procRows) {
      if (!seen.has(wid)) {
        row.tr.remove();
        procRows.delete(wid);
      }
    }
    replace(target, h("option", { value: "", text: "all processes" }),
      info.processes.filter((p) => p.pid).map((p) =>
        h("option", { value: String(p.pid), text: `process ${p.wid} (pid ${p.pid})` })));
  }

  function processRow(wid) {
    const row = { pid: h("td", { class: "num" }), state: badge("unknown"),
      uptime: h("td", { class: "num" }), restarts: h("td", { class: "num" }),
      exit: h("td"), why: h("td", { class: "why" }), cpu: h("td", { class: "num" }),
      rss: h("td", { class: "num" }) };
    row.tr = h("tr", { "data-wid": String(wid) },
      h("th", { scope: "row", class: "num", text: wid }),
      row.pid, h("td", {}, row.state), row.uptime, row.restarts, row.exit, row.why, row.cpu,
      row.rss);
    return row;
  }

  function renderStats() {
    for (const [wid, row] of procRows) {
      const stats = ctx.store.lastStats.get(`${name}/${wid}`);
      setText(row.cpu, stats ? percent(stats.cpu_percent) : "–");
      setText(row.rss, stats ? bytes(stats.rss) : "–");
      if (stats) setText(row.uptime, duration(stats.age));
    }
  }

  ctx.api.options(name).then((answer) => renderOptions(answer.options), (error) => {
    if (error.code !== "not_found") ctx.notify(`Options: ${error.detail}`, "error");
  });

  return {
    title: name,
    node,
    stream: { topics: ["status", "stats"], watcher: name },
    update(batch) {
      if (batch.status) {
        const info = batch.status.watchers.find((w) => w.name === name);
        if (info) renderWatcher(info);
        else missing.hidden = false;
      }
      if (batch.stats || batch.status) renderStats();
    },
    destroy() {},
  };
}
