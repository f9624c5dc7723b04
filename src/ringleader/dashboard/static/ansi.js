// ANSI colours of log lines as spans: SGR sequences become classes (or a CSSOM colour
// for 256-colour and true-colour codes); every other escape or control character is
// dropped. The text itself only ever goes into text nodes.

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other ESC sequences, C0 controls.
const TOKEN = /\x1b\[([0-9;:?<=>]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -\/]*[0-~]?|[\x00-\x08\x0b-\x1f\x7f]/g;
const CUBE = [0, 95, 135, 175, 215, 255];

function fresh() {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
}

// A colour: a number 0..15 (a themed class) or an "rgb(...)" string.
function color256(n) {
  if (n < 16) return n;
  if (n < 232) {
    const i = n - 16;
    return `rgb(${CUBE[Math.floor(i / 36)]}, ${CUBE[Math.floor(i / 6) % 6]}, ${CUBE[i % 6]})`;
  }
  const level = 8 + (n - 232) * 10;
  return `rgb(${level}, ${level}, ${level})`;
}

function extended(codes, i) {
  // 38;5;N or 38;2;R;G;B: returns [colour, index of the last code used]
  if (codes[i + 1] === 5 && codes.length > i + 2) {
    const n = codes[i + 2];
    return [n >= 0 && n <= 255 ? color256(n) : null, i + 2];
  }
  if (codes[i + 1] === 2 && codes.length > i + 4) {
    const [r, g, b] = codes.slice(i + 2, i + 5).map((c) => Math.min(255, Math.max(0, c)));
    return [`rgb(${r}, ${g}, ${b})`, i + 4];
  }
  return [null, codes.length];
}

function applySgr(style, params) {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((c) => (c === "" ? 0 : Number(c)));
  for (let i = 0; i < codes.length; i += 1) {
    const code = codes[i];
    if (code === 0) Object.assign(style, fresh());
    else if (code === 1) style.bold = true;
    else if (code === 2) style.dim = true;
    else if (code === 3) style.italic = true;
    else if (code === 4) style.underline = true;
    else if (code === 22) { style.bold = false; style.dim = false; }
    else if (code === 23) style.italic = false;
    else if (code === 24) style.underline = false;
    else if (code >= 30 && code <= 37) style.fg = code - 30;
    else if (code >= 90 && code <= 97) style.fg = code - 90 + 8;
    else if (code === 39) style.fg = null;
    else if (code >= 40 && code <= 47) style.bg = code - 40;
    else if (code >= 100 && code <= 107) style.bg = code - 100 + 8;
    else if (code === 49) style.bg = null;
    else if (code === 38 || code === 48) {
      const [colour, last] = extended(codes, i);
      if (code === 38) style.fg = colour;
      else style.bg = colour;
      i = last;
    }
  }
}

function isPlain(style) {
  return style.fg === null && style.bg === null && !style.bold && !style.dim &&
    !style.italic && !style.underline;
}

function span(text, style) {
  if (isPlain(style)) return document.createTextNode(text);
  const node = document.createElement("span");
  const classes = [];
  if (typeof style.fg === "number") classes.push(`ansi-fg${style.fg}`);
  if (typeof style.bg === "number") classes.push(`ansi-bg${style.bg}`);
  for (const flag of ["bold", "dim", "italic", "underline"]) {
    if (style[flag]) classes.push(`ansi-${flag}`);
  }
  if (classes.length) node.className = classes.join(" ");
  // CSSOM, not a style attribute: allowed by style-src 'self'
  if (typeof style.fg === "string") node.style.color = style.fg;
  if (typeof style.bg === "string") node.style.backgroundColor = style.bg;
  node.textContent = text;
  return node;
}

// The nodes of one line, and its text without escapes (what search matches).
export function renderAnsi(line) {
  const nodes = [];
  const plain = [];
  const style = fresh();
  let at = 0;
  const emit = (text) => {
    if (!text) return;
    nodes.push(span(text, style));
    plain.push(text);
  };
  for (const match of line.matchAll(TOKEN)) {
    emit(line.slice(at, match.index));
    at = match.index + match[0].length;
    if (match[2] === "m") applySgr(style, match[1]);
  }
  emit(line.slice(at));
  return { nodes, text: plain.join("") };
}
