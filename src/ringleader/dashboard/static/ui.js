// Pieces shared by the views: roles, state badges, actions with feedback.

import { h, replace, setText } from "./dom.js";

const RANK = { read: 0, operate: 1, admin: 2 };

// Whether a role may use an action needing `needed` (the server checks again).
export function can(role, needed) {
  return (RANK[role] ?? -1) >= RANK[needed];
}

export function badge(state) {
  return h("span", { class: `badge state-${state}`, text: state });
}

export function setBadge(node, state) {
  const cls = `badge state-${state}`;
  if (node.getAttribute("class") !== cls) node.setAttribute("class", cls);
  setText(node, state);
}

// Run an action from a button: disabled while it runs, its result or error announced.
export async function perform(ctx, button, label, action) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    ctx.notify(`${label}: done`, "ok");
    return result;
  } catch (error) {
    ctx.notify(`${label}: ${error.detail ?? error.message}`, "error");
    if (error.status === 401) ctx.sessionLost(); // expired or signed out elsewhere
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// headers: texts, or { text, class } (class "num" aligns a column of numbers right)
export function table(headers, body, caption) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "visually-hidden", text: caption }) : null,
      h("thead", {}, h("tr", {}, headers.map((head) => (typeof head === "string"
        ? h("th", { scope: "col", text: head })
        : h("th", { scope: "col", class: head.class, text: head.text }))))),
      body));
}

export function heading(text, ...extra) {
  return h("div", { class: "view-head" }, h("h1", { tabindex: "-1", text }), ...extra);
}

// Parse a value typed for `set`: JSON when it is JSON (5, true, "x", [1, 2]), else text.
export function parseValue(text) {
  const trimmed = text.trim();
  try {
    return JSON.parse(trimmed);
  } catch (error) {
    return text;
  }
}

export function shown(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

// The options of a "which watcher" select: all, then each name; rebuilt only on change.
export function fillWatcherChoices(select, store, only) {
  const names = store.names();
  if (only && !names.includes(only)) names.push(only);
  const values = ["", ...names];
  if ([...select.options].map((o) => o.value).join("\n") === values.join("\n")) return;
  replace(select, h("option", { value: "", text: "All watchers" }),
    names.map((n) => h("option", { value: n, text: n })));
  select.value = only ?? "";
}

export const num = (text) => ({ text, class: "num" });
