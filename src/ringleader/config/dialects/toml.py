"""Ringleader's native TOML layout: ``[ringleader]``, ``[watchers.NAME]`` (with ``.env``,
stream and feature sub-tables: ``.flapping``, ``.backoff``, ``.autoscale``, ``.cgroup``,
``.watchdog``, ``.health``, ``.hooks``), ``[sockets.NAME]``, ``[groups.NAME]`` and a node's
``[cluster]``.

A translated foreign file (supervisord.conf, Procfile) arrives here as the same document."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
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
    for name, wwhere, options in _named_tables(c, data, "watchers", display):
        c.add_watcher(PendingWatcher(name, wwhere, options, "toml", take_env(options)))
    if isinstance(data.get("cluster"), dict):
        c.set_cluster(Setting(data["cluster"], f"{display}: [cluster]", base_dir, "toml"))
    for name, swhere, table in _named_tables(c, data, "sockets", display):
        c.add_socket(PendingSection(name, swhere, table, "toml", base_dir))
    for name, gwhere, table in _named_tables(c, data, "groups", display):
        c.groups.append(PendingSection(name, gwhere, table, "toml", base_dir))
    return includes


def _named_tables(c: Collector, data: dict[str, Any], section: str,
                  display: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The ``[SECTION.NAME]`` tables of a document: (name, where, a copy of its options);
    a NAME that is not a table is an error naming it."""
    tables = data.get(section, {})
    if not isinstance(tables, dict):
        return  # reported with the other top-level keys
    for name, table in tables.items():
        where = f"{display}: [{section}.{name}]"
        if not isinstance(table, dict):
            c.report.error(where, "", f"expected a table of options, got {show(table)}")
            continue
        yield name, where, dict(table)
