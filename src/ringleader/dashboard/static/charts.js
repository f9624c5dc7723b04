// Charts: CPU and memory of every watcher, or of each process of one watcher, over the
// last minutes. uPlot is imported only here, when the view is first shown: the overview
// does not load it.

import { h, replace, setText } from "./dom.js";
import { bytes } from "./format.js";
import { HISTORY_SECONDS } from "./store.js";
import { fillWatcherChoices, heading } from "./ui.js";

const MAX_SERIES = 12; // more lines than this are unreadable: the busiest are drawn
const HEIGHT = 220;
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#8cd17d", "#d37295", "#86bcb6"];

let loading = null; // the uPlot module, loaded once per tab

function loadUplot() {
  loading ??= import("./vendor/uplot/uPlot.esm.js").then((module) => module.default);
  return loading;
}

// The series to draw: keys of the store's history, the busiest first.
function pick(store, only) {
  const keys = [];
  for (const key of store.history.keys()) {
    const slash = key.lastIndexOf("/");
    if (only ? key.startsWith(`${only}/`) && slash === only.length : slash < 0) {
      keys.push(key);
    }
  }
  const recentCpu = (key) => {
    const cpu = store.history.get(key).cpu;
    return cpu.length ? cpu[cpu.length - 1] : 0;
  };
  keys.sort((a, b) => recentCpu(b) - recentCpu(a) || a.localeCompare(b));
  return { keys: keys.slice(0, MAX_SERIES).sort(), total: keys.length };
}

// uPlot wants one x array: the union of the series' times, null where one has no value.
function align(store, keys, field) {
  const times = new Set();
  for (const key of keys) for (const t of store.history.get(key).t) times.add(t);
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const columns = keys.map((key) => {
    const series = store.history.get(key);
    const column = new Array(xs.length).fill(null);
    series.t.forEach((t, i) => { column[index.get(t)] = series[field][i]; });
    return column;
  });
  return [xs, ...columns];
}

function themeColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export function chartsView(ctx, only) {
  const note = h("p", { class: "summary" });
  const cpuBox = h("div", { class: "chart", role: "img", "aria-label": "CPU over time" });
  const rssBox = h("div", { class: "chart", role: "img", "aria-label": "Memory over time" });
  const choose = h("select", { id: "chart-watcher", "aria-label": "Watcher",
    onchange: () => ctx.navigate(choose.value ? `#/charts/${encodeURIComponent(choose.value)}`
      : "#/charts") });
  const node = h("section", { class: "view charts" },
    heading(only ? `Charts of ${only}` : "Charts"),
    h("div", { class: "toolbar" }, choose, note),
    h("h2", { text: "CPU (% of one core)" }), cpuBox,
    h("h2", { text: "Memory (RSS)" }), rssBox);
  let uPlot = null;
  let charts = null; // { keys, cpu, rss }
  let destroyed = false;
  const resize = new ResizeObserver(() => {
    if (!charts) return;
    for (const chart of [charts.cpu, charts.rss]) {
      chart.setSize({ width: cpuBox.clientWidth, height: HEIGHT });
    }
  });
  resize.observe(cpuBox);

  function options(keys, format) {
    const text = themeColor("--fg");
    const grid = themeColor("--line");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    return {
      width: Math.max(200, cpuBox.clientWidth),
      height: HEIGHT,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      series: [{}, ...keys.map((key, i) => ({
        label: only ? `process ${key.slice(only.length + 1)}` : key,
        stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false,
        value: (u, v) => (v === null || v === undefined ? "–" : format(v)),
      }))],
      axes: [axis, { ...axis, size: 84, values: (u, splits) => splits.map(format) }],
    };
  }

  function draw() {
    if (!uPlot || destroyed) return;
    const { keys, total } = pick(ctx.store, only);
    setText(note, keys.length === 0 ? "Waiting for statistics…"
      : `Last ${HISTORY_SECONDS / 60} minutes` +
        (total > keys.length ? ` · the ${keys.length} busiest of ${total}` : ""));
    const cpuData = align(ctx.store, keys, "cpu");
    const rssData = align(ctx.store, keys, "rss");
    if (!charts || charts.keys.join("\n") !== keys.join("\n")) {
      if (charts) { charts.cpu.destroy(); charts.rss.destroy(); }
      replace(cpuBox);
      replace(rssBox);
      charts = {
        keys,
        cpu: new uPlot(options(keys, (v) => `${v.toFixed(1)} %`), cpuData, cpuBox),
        rss: new uPlot(options(keys, (v) => bytes(v)), rssData, rssBox),
      };
      return;
    }
    charts.cpu.setData(cpuData);
    charts.rss.setData(rssData);
  }

  const fillChoices = () => fillWatcherChoices(choose, ctx.store, only);


  fillChoices();
  loadUplot().then((module) => {
    uPlot = module;
    draw();
  }, (error) => ctx.notify(`Charts: cannot load uPlot (${error.message})`, "error"));

  return {
    title: only ? `Charts of ${only}` : "Charts",
    node,
    stream: { topics: ["status", "stats"], watcher: only ?? undefined },
    update(batch) {
      if (batch.status) fillChoices();
      if (batch.stats) draw();
    },
    destroy() {
      destroyed = true;
      resize.disconnect();
      if (charts) { charts.cpu.destroy(); charts.rss.destroy(); }
    },
  };
}
