"""Pure formatters of `ringleader cluster ...`: the library's answers as plain data (what
``--json`` prints) -> text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ringleader.cli.format import STATE_COLORS, duration, event, paint, table

_HEALTH_STATES = {"healthy": "active", "draining": "stopping", "disconnected": "backoff",
                  "unreachable": "failed", "no-api": "stopped"}


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def nodes(data: Sequence[Mapping[str, Any]], now: float) -> str:
    """`cluster nodes`: one line per live node."""
    if not data:
        return "no live node"
    rows = [(n["name"], _labels(n["labels"]), n["api"] or "-", n["version"] or "-",
             duration(now - n["registered"]) if n.get("registered") else "-",
             " ".join(w for w, on in (("drained", n["drained"]),
                                      ("scheduler", n["scheduler"])) if on) or "-")
            for n in data]
    return table(("NODE", "LABELS", "API", "VERSION", "LEASE AGE", "ROLE"), rows)


def _cell(cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return "·"
    running = "?" if cell["running"] is None else str(cell["running"])
    mark = "!" if cell.get("problem") else ""
    return f"{running}/{cell['desired']}{mark}"


def status(data: Mapping[str, Any], *, color: bool = False) -> str:
    """`cluster status`: the nodes (health, labels, lease age), then jobs x nodes as
    running/desired (`!`: a problem, explained below), then what is pending and why."""
    node_rows = [(n["name"], n["health"], _labels(n["labels"]),
                  duration(n["lease_age"]) if n["lease_age"] is not None else "-",
                  n["api"] or "-",
                  "; ".join(x for x in ("scheduler" if n["scheduler"] else "", n["detail"]) if x))
                 for n in data["nodes"]]
    out = [table(("NODE", "HEALTH", "LABELS", "LEASE AGE", "API", "DETAIL"), node_rows,
                 paints={1: lambda s: paint_health(s, color)})
           if node_rows else "no live node"]
    names = [n["name"] for n in data["nodes"]]
    extra = sorted({node for j in data["jobs"] for node in j["nodes"]} - set(names))
    columns = names + extra  # a node gone from etcd that still reports a job
    if data["jobs"]:
        rows = [(j["name"], f"{j['running']}/{j['desired']}", j["placement"],
                 *(_cell(j["nodes"].get(n)) for n in columns)) for j in data["jobs"]]
        out += ["", table(("JOB", "RUNNING", "PLACEMENT", *columns), rows,
                          right=set(range(3, 3 + len(columns))) | {1})]
    else:
        out += ["", "no jobs"]
    notes = []
    for j in data["jobs"]:
        if j["pending"]:
            notes.append(f"job {j['name']}: pending: {j['pending']}")
        for node, cell in sorted(j["nodes"].items()):
            if cell.get("problem"):
                notes.append(f"job {j['name']} on {node}: {cell['problem']}")
    notes += [f"ignored key {p}" for p in data.get("problems", [])]
    if notes:
        out += ["", *notes]
    return "\n".join(out)


def paint_health(health: str, color: bool) -> str:
    """A node's health (padded) coloured like the watcher state it resembles."""
    return paint(health, STATE_COLORS.get(_HEALTH_STATES.get(health.strip(), "")), color)


def diff(changes: Sequence[Mapping[str, Any]]) -> str:
    """`cluster apply`: `+ job web` / `~ job web` / `- job web`, then its fields (secret
    values never shown: the caller masked them)."""
    if not changes:
        return "no change"
    signs = {"add": "+", "change": "~", "remove": "-"}
    lines = []
    for change in changes:
        lines.append(f"{signs[change['kind']]} job {change['name']}")
        for f in change["fields"]:
            if f["secret"]:
                what = "removed" if f["new"] is None else ("set" if f["old"] is None
                                                           else "changed")
                lines.append(f"    {f['path']}: {what} (secret)")
            elif f["old"] is None:
                lines.append(f"    {f['path']}: {f['new']!r}")
            elif f["new"] is None:
                lines.append(f"    {f['path']}: removed (was {f['old']!r})")
            else:
                lines.append(f"    {f['path']}: {f['old']!r} -> {f['new']!r}")
    return "\n".join(lines)


def log_item(node: str, line: Mapping[str, Any]) -> str:
    """`node/job.wid | text`."""
    return f"{node}/{line.get('watcher', '?')}.{line.get('wid', '?')} | {line.get('line', '')}"


def event_item(node: str, data: Mapping[str, Any], *, color: bool = False) -> str:
    """`node/watcher.wid | 12:00:01.250 process.state ...` (`node |` without a watcher)."""
    fields = data.get("data", {})
    who = node
    if fields.get("watcher"):
        who += f"/{fields['watcher']}" + (f".{fields['wid']}" if fields.get("wid") else "")
    return f"{paint(who, '2', color)} | {event(data, color=color)}"

