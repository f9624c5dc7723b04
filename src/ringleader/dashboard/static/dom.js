// Building the DOM without HTML strings. Every text goes through textContent or a text
// node, so nothing a worker prints or a server sends can become markup; the page's CSP
// enforces Trusted Types with no policy, so an HTML or script string sink would throw.

const SVG_NS = "http://www.w3.org/2000/svg";
// Attributes a view may set. No event handler, style, src or arbitrary href: those are
// script or style sinks that the CSP refuses anyway, and a mistake should fail loudly.
const SAFE_ATTRIBUTE = /^(aria-[a-z]+|data-[a-z-]+|id|type|role|title|for|name|value|placeholder|min|max|step|tabindex|disabled|checked|scope|colspan|autocomplete|inputmode|spellcheck|list|hidden|required|maxlength|size|open|lang|viewBox|preserveAspectRatio|points|d|x|y|width|height|focusable|datetime)$/;

export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  append(node, children);
  return node;
}

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setProps(node, attributes);
  append(node, children);
  return node;
}

function setProps(node, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "href") node.setAttribute("href", route(value));
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (SAFE_ATTRIBUTE.test(key)) {
      node.setAttribute(key, value === true ? "" : String(value));
    } else {
      throw new Error(`dom: attribute ${key} is not allowed`);
    }
  }
}

// Links inside the app are hash routes only: never a URL built from data.
function route(value) {
  const text = String(value);
  if (!text.startsWith("#/")) throw new Error(`dom: href ${text} is not a #/ route`);
  return text;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

// Set a text only when it changed: most updates of a 200-row table change a few cells.
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function button(label, onclick, props = {}) {
  return h("button", { type: "button", onclick, ...props }, label);
}
