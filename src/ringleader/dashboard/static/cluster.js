// Cluster: when this controller is a cluster node, its nodes (health, labels), jobs ×
// nodes, and drain/undrain for admins. The controller reads it server-side from etcd
// (GET /v1/cluster/overview): the page never loads anything from another origin.

import { button, h, replace } from "./dom.js";
import { badge, can, heading, perform, table } from "./ui.js";

const REFRESH_MS = 5000;

export function clusterView(ctx) {
  const body = h("div", { class: "cluster-body" }, h("p", { class: "summary",
    text: "Loading…" }));
  const refresh = button("Refresh", () => load());
  const node = h("section", { class: "view cluster" },
    heading("Cluster"), h("div", { class: "toolbar" }, refresh), body);
  let timer = 0;
  let destroyed = false;

  function render(overview) {
    const nodes = overview.nodes || []; // empty lists are left out of the answer
    const names = nodes.map((n) => n.name);
    const nodeRows = nodes.map((n) => h("tr", { "data-node": n.name },
      h("th", { scope: "row", text: n.name + (n.name === overview.node ? " (this one)" : "") }),
      h("td", {}, badge(n.health)),
      h("td", { class: "labels", text: Object.entries(n.labels || {})
        .map(([k, v]) => `${k}=${v}`).join(" ") }),
      h("td", { text: n.detail || "" }),
      can(ctx.role, "admin") ? h("td", {}, n.health === "draining"
        ? undrainButton(n.name) : drainButton(n.name)) : null));
    const nodeHeaders = ["Node", "Health", "Labels", "Detail"];
    if (can(ctx.role, "admin")) nodeHeaders.push("Actions");
    // running is known by each node for itself (null: "?"); desired comes from etcd
    const jobRows = (overview.jobs || []).map((job) => h("tr", { "data-job": job.name },
      h("th", { scope: "row", text: job.name }),
      h("td", { text: job.placement || "" }),
      h("td", { class: "pending", text: job.pending || "" }),
      names.map((name) => {
        const cell = (job.nodes || {})[name];
        const running = cell && cell.running !== null && cell.running !== undefined
          ? cell.running : "?";
        return h("td", { class: "num", "data-node": name,
          title: cell ? (cell.problem || cell.state || "known by that node") : "not placed here",
          text: cell ? `${running}/${cell.desired}` : "·" });
      })));
    replace(body,
      h("h2", { text: "Nodes" }),
      table(nodeHeaders, h("tbody", {}, nodeRows), "Nodes"),
      h("h2", { text: "Jobs × nodes (running/desired)" }),
      table(["Job", "Placement", "Pending", ...names], h("tbody", {}, jobRows),
        "Jobs by node"),
      (overview.problems || []).length ? h("p", { class: "empty",
        text: `Unreadable keys: ${overview.problems.join("; ")}` }) : null);
  }

  function drainButton(name) {
    const b = button("Drain", () => perform(ctx, b, `Drain ${name}`,
      () => ctx.api.drain(name)).then(() => load()), { "aria-label": `Drain ${name}` });
    return b;
  }

  function undrainButton(name) {
    const b = button("Undrain", () => perform(ctx, b, `Undrain ${name}`,
      () => ctx.api.undrain(name)).then(() => load()), { "aria-label": `Undrain ${name}` });
    return b;
  }

  function schedule() {
    clearTimeout(timer);
    if (!destroyed) timer = setTimeout(tick, REFRESH_MS);
  }

  function tick() { // refresh while shown only
    if (document.visibilityState === "visible") load();
    else schedule();
  }

  async function load() {
    clearTimeout(timer);
    try {
      const overview = await ctx.api.cluster();
      if (!overview.enabled) { // a lone controller: nothing to refresh
        replace(body, h("p", { class: "empty", text: "This controller is not a cluster node." }));
        return;
      }
      render(overview);
    } catch (error) {
      if (destroyed) return;
      replace(body, h("p", { class: "empty", text: `Cannot load the cluster: ${error.detail}` }));
    }
    schedule();
  }

  load();
  return {
    title: "Cluster",
    node,
    stream: null,
    update() {},
    destroy() {
      destroyed = true;
      clearTimeout(timer);
    },
  };
}
