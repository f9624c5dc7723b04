// Sign in: with the one-time link `ringleader dashboard` prints (handled by the app before
// any view), or by pasting an API token here (the TLS listener's login).

import { h } from "./dom.js";
import { heading } from "./ui.js";

export function loginView(signIn, message) {
  const token = h("input", { id: "login-token", type: "password", required: true,
    autocomplete: "off", spellcheck: "false" });
  const submit = h("button", { type: "submit", text: "Sign in" });
  const error = h("p", { class: "error", role: "alert", hidden: !message,
    text: message || "" });
  const form = h("form", { class: "login-form" },
    h("label", { for: "login-token", text: "Token" }), token, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const problem = await signIn(token.value.trim());
    submit.disabled = false;
    if (problem) {
      error.textContent = problem;
      error.hidden = false;
      token.select();
    }
  });
  return {
    title: "Sign in",
    node: h("section", { class: "view login" },
      heading("Sign in"),
      h("p", {}, "Open the one-time link that ", h("code", { text: "ringleader dashboard" }),
        " prints, or sign in with an API token."),
      error, form),
    focus: token,
    stream: null,
    update() {},
    destroy() {},
  };
}
