"""The circus INI dialect: ``[circus]``, ``[watcher:NAME]``, ``[env]``, ``[env:PATTERNS]``,
``[socket:NAME]``, ``[plugin:NAME]``, with ``include`` / ``include_dir``.

The syntax (sections, options, comments, continuation lines) is read by ``ini_syntax``.
"""

from __future__ import annotations

import os

from ringleader.config.collect import Collector, PendingSection, PendingWatcher, include_paths
from ringleader.config.endpoint import INI_SECTIONS, include_patterns
from ringleader.config.ini_syntax import parse_ini

FLAPPING_PLUGIN = "circus.plugins.flapping.Flapping"


def _parse_env_option(value: str) -> dict[str, str] | None:
    """circus parse_env_str: ``env = A=1, B=2`` in a watcher section."""
    env: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            return None
        env[k.strip()] = v.strip()
    return env


def read_ini(c: Collector, path: str, display: str, text: str) -> list[str]:
    """Adds one INI file to *c*; returns the files it includes."""
    sections, problems = parse_ini(text, display)
    c.report.problems.extend(problems)
    if problems:
        return []
    base_dir = os.path.dirname(path)
    plugins: list[str] = []
    includes: list[str] = []
    for s in sections:
        where = f"{display}: [{s.name}]"
        kind, colon, name = s.name.partition(":")
        if s.name in INI_SECTIONS:
            for key, value in s.options.items():
                if key in ("include", "include_dir"):
                    includes += include_paths(include_patterns(key, value, toml=False),
                                              base_dir, where, c.report)
                else:
                    c.set_controller(key, value, where, base_dir, "ini")
        elif s.name == "env":
            for key, value in s.options.items():
                c.global_env.setdefault(key, value)
        elif kind == "env" and colon:
            patterns = [p.strip() for p in name.split(",") if p.strip()]
            c.env_sections.append((patterns, dict(s.options)))
        elif kind == "watcher" and colon:
            options = dict(s.options)
            env: dict[str, str] = {}
            if "env" in options:
                parsed = _parse_env_option(options["env"])
                if parsed is not None:
                    env = parsed
                    del options["env"]
            c.add_watcher(PendingWatcher(name, where, options, "ini", env))
        elif kind in ("socket", "plugin") and colon and not s.options:
            continue  # circus skips empty sections
        elif kind == "socket" and colon:  # circus lowercases socket names
            c.add_socket(PendingSection(name.lower(), where, dict(s.options), "ini", base_dir))
        elif kind == "plugin" and colon:
            if s.options.get("use", "").strip() != FLAPPING_PLUGIN:
                plugins.append(s.name)
            elif c.flapping_plugin is None:
                c.flapping_plugin = PendingSection(name, where, dict(s.options), "ini",
                                                   base_dir)
            else:
                c.report.warnings.append(f"{where} a second flapping plugin, ignored (the "
                                         f"first is {c.flapping_plugin.where})")
        else:
            c.report.warnings.append(f"{where} unknown section, ignored")
    if plugins:
        c.report.warnings.append(f"{display}: plugins are not supported yet, ignored: "
                                 + ", ".join(f"[{p}]" for p in plugins))
    return includes
