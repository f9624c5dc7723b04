"""Ringleader's native TOML layout: ``[ringleader]``, ``[watchers.NAME]`` (with ``.env``,
stream and feature sub-tables: ``.flapping``, ``.backoff``, ``.autoscale``, ``.cgroup``,
``.watchdog``, ``.health``, ``.hooks``), ``[sockets.NAME]``, ``[groups.NAME]`` and a node's
``[cluster]``.

A translated foreign file (supervisord.conf, Procfile) arrives here as the same document."""

from __future__ import annotations

import os
import re
from typing import Any

from ringleader.config.collect import (
    Collector,
    PendingSection,
    PendingWatcher,
    Setting,
    include_paths,
    take_env,
)
from ringleader.config.endpoint import include_patterns
from ringleader.config.values import show

_LINE = re.compile(r"at line (\d+)")
_TOP_LEVEL = ("ringleader", "watchers", "sockets", "groups", "cluster")


def syntax_problem(display: str, exc: Exception) -> str:
    """tomllib says '... (at line 3, column 7)': put the line where editors look for it."""
    msg = str(exc)
    m = _LINE.search(msg)
    return f"{display}:{m.group(1)}: TOML syntax error: {msg}" if m else \
        f"{display}: TOML syntax error: {msg}"


def read_toml(c: Collector, path: str, display: str, data: dict[str, Any]) -> list[str]:
    """Adds one parsed TOML document to *c*; returns the files it includes."""
    base_dir = os.path.dirname(path)
    includes: list[str] = []
    for key, value in data.items():
        if key not in _TOP_LEVEL:
            c.report.unknown(f"{display}:", key, list(_TOP_LEVEL))
        elif not isinstance(value, dict):
            c.report.error(f"{display}:", key, f"expected a table, got {show(value)}")
    ctrl = data.get("ringleader", {})
    where = f"{display}: [ringleader]"
    if isinstance(ctrl, dict):
        for key, value in ctrl.items():
            if key in ("include", "include_dir"):
                includes += include_paths(include_patterns(key, value, toml=True), base_dir,
                                          where, c.report)
            else:
                c.set_controller(key, value, where, base_dir, "toml")
    watchers = data.get("watchers", {})
    if isinstance(watchers, dict):
        for name, table in watchers.items():
            wwhere = f"{display}: [watchers.{name}]"
            if not isinstance(table, dict):
                c.report.error(wwhere, "", f"expected a table of options, got {show(table)}")
                continue
            options = dict(table)
            c.add_watcher(PendingWatcher(name, wwhere, options, "toml", take_env(options)))
    if isinstance(data.get("cluster"), dict):
        c.set_cluster(Setting(data["cluster"], f"{display}: [cluster]", base_dir, "toml"))
    sockets = data.get("sockets", {})
    if isinstance(sockets, dict):
        for name, table in sockets.items():
            swhere = f"{display}: [sockets.{name}]"
            if not isinstance(table, dict):
                c.report.error(swhere, "", f"expected a table of options, got {show(table)}")
                continue
            c.add_socket(PendingSection(name, swhere, dict(table), "toml", base_dir))
    groups = data.get("groups", {})
    if isinstance(groups, dict):
        for name, table in groups.items():
            gwhere = f"{display}: [groups.{name}]"
            if not isinstance(table, dict):
                c.report.error(gwhere, "", f"expected a table of options, got {show(table)}")
                continue
            c.groups.append(PendingSection(name, gwhere, dict(table), "toml", base_dir))
    return includes
