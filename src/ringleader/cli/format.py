"""Pure formatters for the console: decoded API JSON (plain dicts) -> text.

No I/O and no imports beyond the stdlib's cheapest, so each is unit-tested alone and the
console pays nothing for them. `color=True` adds ANSI colours (the caller decides: a tty).
"""

from __future__ import annotations

import time

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

_GREEN, _YELLOW, _RED, _DIM = "32", "33", "31", "2"
STATE_COLORS = {
    "active": _GREEN, "running": _GREEN,
    "starting": _YELLOW, "stopping": _YELLOW, "backoff": _YELLOW,
    "stopped": _DIM,
    "exited": _RED, "flapping": _RED, "failed": _RED,
}


def paint(text: str, code: str | None, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def paint_state(text: str, color: bool) -> str:
    """Coloured by its first word: `backoff, retry in 3s` is a backoff."""
    return paint(text, STATE_COLORS.get(text.split(",", 1)[0].strip()), color)


def watcher_state(info: Mapping[str, Any]) -> str:
    """A watcher's state, with when a parked one is tried again: `backoff, retry in 3s`."""
    at = info.get("retry_at")
    if not isinstance(at, int | float):
        return str(info["state"])
    return f"{info['state']}, retry in {duration(max(0.0, at - time.time()))}"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *,
          right: Iterable[int] = (), paints: Mapping[int, Callable[[str], str]] | None = None,
          ) -> str:
    """Columns aligned on their widest cell, two spaces apart; `right` columns right-aligned.
    `paints` decorates a column's cells after padding, so colours do not skew widths."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    right = set(right)
    paints = paints or {}
    out = []
    for n, row in enumerate([list(headers), *cells]):
        parts = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            text = cell.rjust(widths[i]) if i in right else (cell if last else
                                                             cell.ljust(widths[i]))
            if n and i in paints:
                text = paints[i](text)
            parts.append(text)
        out.append("  ".join(parts).rstrip())
    return "\n".join(out)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def duration(seconds: float | None) -> str:
    """3s, 2m05s, 1h02m, 3d04h."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def size(n: int | None) -> str:
    """Bytes, binary units: 512B, 3.0K, 12.3M, 1.5G."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def value(v: Any) -> str:
    """An option value as the config file would spell it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if v is None:
        return "-"
    if isinstance(v, list | dict):
        import json  # not at the top: it imports re, ~4 ms of every console command

        return json.dumps(v, sort_keys=True)
    return str(v)


def _exit(proc: Mapping[str, Any]) -> str:
    if proc.get("exit_signal"):
        return f"signal {proc['exit_signal']}"
    code = proc.get("exit_code")
    return "-" if code is None else str(code)


# -- commands -------------------------------------------------------------------------

def status(data: Mapping[str, Any], *, color: bool = False) -> str:
    """`ringleader status`: one line per watcher (with its cluster job on a cluster
    node), then the node's cluster state."""
    watchers = data.get("watchers", [])
    jobs = any(w.get("job") for w in watchers)
    rows = [(f"{w['group']}:{w['name']}" if w.get("group") else w["name"], watcher_state(w),
             f"{w['running']}/{w['numprocesses']}",
             ",".join(str(p["pid"]) for p in w.get("processes", []) if p.get("pid")) or "-",
             *([w.get("job") or "-"] if jobs else []))
            for w in watchers]
    text = table(("WATCHER", "STATE", "RUNNING", "PIDS", *(["JOB"] if jobs else [])), rows,
                 right={2}, paints={1: lambda s: paint_state(s, color)}) if rows \
        else "no watchers"
    cluster = data.get("cluster")
    return text if not cluster else text + "\n" + cluster_node(cluster, color=color)


def cluster_node(c: Mapping[str, Any], *, color: bool = False) -> str:
    """A cluster node's state: `cluster: node a, connected, scheduler b` or `cluster
    disconnected since 14:05:30 (2m10s): REASON`; then its jobs' problems."""
    if c.get("connected"):
        head = f"cluster: node {c['node']}, connected"
        head += (", the scheduler" if c.get("is_scheduler") else
                 f", scheduler {c['scheduler']}" if c.get("scheduler") else "")
    else:
        since = c.get("disconnected_since")
        when = (f" since {clock(since)} ({duration(time.time() - since)})"
                if isinstance(since, int | float) else "")
        head = paint(f"cluster disconnected{when}", _RED, color)
        head += f" (node {c['node']})" + (f": {c['last_error']}" if c.get("last_error") else "")
    lines = [head]
    for job, info in sorted(c.get("jobs", {}).items()):
        if info.get("cut_off"):
            lines.append(f"  job {job}: stopped here (stop_after_disconnect)")
        elif info.get("problem"):
            lines.append(f"  job {job}: {info['problem']}")
    return "\n".join(lines)


def controller(data: Mapping[str, Any]) -> str:
    c = data.get("controller") or {}
    where = f", config {c['config']}" if c.get("config") else ""
    return (f"controller pid {c.get('pid', '?')}, ringleader {c.get('version', '?')}, "
            f"up {duration(c.get('uptime'))}{where}")


def watcher(info: Mapping[str, Any], *, color: bool = False) -> str:
    """`ringleader status NAME`: the watcher, then one line per process."""
    head = (f"{info['name']}: {paint_state(watcher_state(info), color)} "
            f"({info['running']}/{info['numprocesses']} running)")
    if info.get("detail"):
        head += f"\n  {info['detail']}"
    procs = info.get("processes", [])
    if not procs:
        return head
    rows: list[tuple[Any, ...]] = [
        (p["wid"], p.get("pid"), p["state"], duration(p.get("uptime")), p.get("restarts", 0),
         _exit(p), p.get("status") or p.get("reason") or "") for p in procs]
    headers: tuple[str, ...] = ("WID", "PID", "STATE", "UPTIME", "RESTARTS", "LAST EXIT", "WHY")
    right, state = {0, 1, 3, 4}, 2
    if any(p.get("name", "") not in ("", f"{info['name']}.{p['wid']}") for p in procs):
        # process_name (supervisord's names): a NAME column, the name selectors take
        rows = [(row[0], p.get("name", ""), *row[1:]) for row, p in zip(rows, procs,
                                                                       strict=True)]
        headers = (headers[0], "NAME", *headers[1:])
        right, state = {0, 2, 4, 5}, 3
    body = table(headers, rows, right=right,
                 paints={state: lambda s: paint_state(s, color)})
    return head + "\n" + body


def watcher_line(info: Mapping[str, Any], *, color: bool = False) -> str:
    """After start/stop/restart/reload/add: where the watcher stands."""
    return (f"{info['name']}: {paint_state(watcher_state(info), color)} "
            f"({info['running']}/{info['numprocesses']} running)")


def daemon_stats(d: Mapping[str, Any]) -> str:
    """`dstats`: the controller process itself."""
    return (f"controller pid {d['pid']}: cpu {d['cpu']:.1f}%, rss {size(d['rss'])}, "
            f"vms {size(d['vms'])}, {d['fds']} fds, {d['threads']} threads, "
            f"{d['children']} children, up {duration(d['uptime'])}")


def options(opts: Mapping[str, Any]) -> str:
    if not opts:
        return "no options"
    return table(("OPTION", "VALUE"), [(k, value(v)) for k, v in sorted(opts.items())])


def get_values(opts: Mapping[str, Any], keys: Sequence[str]) -> str:
    """`get NAME KEY`: the bare value; several keys: KEY VALUE lines, in the order asked."""
    if len(keys) == 1:
        return value(opts.get(keys[0]))
    return table(("OPTION", "VALUE"), [(k, value(opts.get(k))) for k in keys])


def stats(data: Mapping[str, Any]) -> str:
    """A total line per watcher, then its processes (indented)."""
    rows: list[tuple[object, ...]] = []
    for w in data.get("watchers", []):
        rows.append((w["name"], "", f"{w['cpu_percent']:.1f}", size(w["rss"]),
                     "", "", "", "", ""))
        for p in w.get("processes", []):
            rows.append((f"  {w['name']}.{p['wid']}", p["pid"], f"{p['cpu_percent']:.1f}",
                         size(p["rss"]), size(p.get("uss")), p.get("num_fds"),
                         p.get("num_children", 0), duration(p.get("age")),
                         p.get("restarts", 0)))
    if not rows:
        return "no watchers"
    return table(("WATCHER", "PID", "CPU%", "RSS", "USS", "FDS", "CHILDREN", "AGE",
                  "RESTARTS"), rows, right={1, 2, 3, 4, 5, 6, 7, 8})


def clock(at: float, *, millis: bool = False) -> str:
    text = time.strftime("%H:%M:%S", time.localtime(at))
    return f"{text}.{int(at * 1000) % 1000:03d}" if millis else text


def log_line(line: Mapping[str, Any], *, color: bool = False) -> str:
    """`12:00:01 web.1 | text` (stderr lines: `web.1 !`)."""
    mark = "!" if line.get("stream") == "stderr" else "|"
    who = paint(f"{line['watcher']}.{line['wid']}", _DIM, color)
    return f"{clock(line['at'])} {who} {mark} {line['line']}"


def logs(data: Mapping[str, Any], *, color: bool = False) -> str:
    return "\n".join(log_line(x, color=color) for x in data.get("lines", []))


def event(ev: Mapping[str, Any], *, color: bool = False) -> str:
    """`12:00:01.250 process.state watcher=web wid=1 state=running`."""
    fields = " ".join(f"{k}={value(v)}" for k, v in ev.get("data", {}).items())
    at = ev.get("at")
    when = clock(at, millis=True) if isinstance(at, int | float) else "--:--:--.---"
    return f"{when} {paint(str(ev.get('topic', '?')), _DIM, color)} {fields}".rstrip()


def sockets(data: Mapping[str, Any]) -> str:
    socks = data.get("sockets", [])
    if not socks:
        return "no sockets"
    return table(("SOCKET", "ADDRESS", "FD"), [(s["name"], s["address"], s.get("fd"))
                                              for s in socks], right={2})


def reloadconfig(data: Mapping[str, Any]) -> str:
    lines = [f"{what}: {', '.join(data[what])}"
             for what in ("added", "removed", "changed", "rescaled") if data.get(what)]
    return "\n".join(lines) if lines else "no changes"


def numprocesses(data: Mapping[str, Any]) -> str:
    return str(data["numprocesses"])


def signalled(data: Mapping[str, Any]) -> str:
    n = data.get("signalled", 0)
    return f"signalled {n} process{'' if n == 1 else 'es'}"


def ok(data: Any, default: str) -> str:
    if isinstance(data, dict) and data.get("detail"):
        return str(data["detail"])
    return default
