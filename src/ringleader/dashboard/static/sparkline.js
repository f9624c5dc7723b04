// A small SVG line of recent values (a watcher's CPU on the overview).

import { svg } from "./dom.js";

const WIDTH = 100;
const HEIGHT = 24;

export function sparkline(label) {
  const line = svg("polyline", { points: "" });
  const node = svg("svg", { class: "spark", viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "none", role: "img", "aria-label": label, focusable: "false" },
  line);
  node.line = line;
  return node;
}

// values: the most recent last; the line spans the last `count` of them.
export function drawSparkline(node, values, count = 60) {
  const recent = values.slice(-count);
  if (recent.length < 2) {
    if (node.line.getAttribute("points") !== "") node.line.setAttribute("points", "");
    return;
  }
  const top = Math.max(1, ...recent);
  const step = WIDTH / (count - 1);
  const offset = (count - recent.length) * step;
  const points = recent.map((v, i) =>
    `${(offset + i * step).toFixed(1)},${(HEIGHT - 1 - (v / top) * (HEIGHT - 2)).toFixed(1)}`);
  node.line.setAttribute("points", points.join(" "));
}
