// Numbers and times as people read them.

const SIGNALS = {
  1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 6: "ABRT", 7: "BUS", 8: "FPE", 9: "KILL",
  10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM", 17: "CHLD",
  18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU",
};

export function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? size : size.toFixed(1)} ${units[unit]}`;
}

export function percent(value) {
  if (value === null || value === undefined) return "–";
  return `${value.toFixed(1)} %`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || seconds <= 0) return "–";
  const s = Math.floor(seconds);
  const parts = [[Math.floor(s / 86400), "d"], [Math.floor(s / 3600) % 24, "h"],
    [Math.floor(s / 60) % 60, "m"], [s % 60, "s"]];
  const first = parts.findIndex(([n]) => n > 0);
  if (first < 0) return "0s";
  return parts.slice(first, first + 2).map(([n, u]) => `${n}${u}`).join(" ");
}

export function clock(at) {
  const d = new Date(at * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.` +
    pad(d.getMilliseconds(), 3);
}

export function signalName(number) {
  return SIGNALS[number] ? `SIG${SIGNALS[number]}` : `signal ${number}`;
}

// A recorded exit: a code, or (negative) the signal that killed it.
export function exitText(code) {
  if (code === null || code === undefined) return "–";
  return code < 0 ? signalName(-code) : `exit ${code}`;
}

export function lastExit(process) {
  if (process.exit_signal) return signalName(process.exit_signal);
  if (process.exit_code !== null && process.exit_code !== undefined) {
    return `exit ${process.exit_code}`;
  }
  const history = process.exit_history || [];
  return history.length ? exitText(history[history.length - 1]) : "–";
}

// Why a watcher is parked (failed, flapping, backoff) and when it is tried next.
export function parkedText(info) {
  const at = info.retry_at;
  const next = typeof at === "number" ? `next try at ${clock(at).slice(0, 8)}` : "";
  return [info.detail || "", next].filter(Boolean).join(" · ");
}
