"""The circus INI dialect: ``[circus]``, ``[watcher:NAME]``, ``[env]``, ``[env:PATTERNS]``,
``[socket:NAME]``, ``[plugin:NAME]``, with ``include`` / ``include_dir``.

The reader follows circus's ``StrictConfigParser`` (a RawConfigParser: no ``%`` interpolation,
option names keep their case, ``;`` starts a comment only after whitespace, ``""`` is the empty
string) but keeps line numbers for the messages; a repeated section or option, which circus
merges silently (the first value wins), is an error naming both lines.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ringleader.config.collect import (
    Collector,
    PendingSection,
    PendingWatcher,
    include_paths,
    split_patterns,
)

_SECTION = re.compile(r"\[(?P<header>.+)\]")
_OPTION = re.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")
_CONTROLLER_SECTIONS = ("circus", "ringleader")
FLAPPING_PLUGIN = "circus.plugins.flapping.Flapping"


@dataclass
class Section:
    name: str
    line: int
    options: dict[str, str] = field(default_factory=dict)


def parse_ini(text: str, display: str) -> tuple[list[Section], list[str]]:
    """Sections in file order, and syntax problems, one per bad line: also a repeated
    section or option (circus merges them silently, keeping the first value)."""
    sections: dict[str, Section] = {}
    defaults = Section("DEFAULT", 0)
    problems: list[str] = []
    current: Section | None = None
    values: dict[str, list[str]] = {}  # per (section, option) lines, joined at the end
    first: dict[str, int] = {}  # (section, option) -> the line that set it
    optname: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line[0] in "#;":
            continue
        if line[0] in "rR" and line.split(None, 1)[0].lower() == "rem":
            continue
        if line[0].isspace() and current is not None and optname is not None:
            value = line.strip()
            if value:  # continuation line
                values[f"{current.name}\0{optname}"].append(value)
            continue
        mo = _SECTION.match(line)
        if mo:
            name = mo.group("header")
            if name == "DEFAULT":
                current = defaults
            elif name in sections:
                # circus merges a repeated section silently: an edit of the second copy
                # may never take effect. Said, not guessed.
                current = sections[name]
                problems.append(f"{display}:{lineno}: [{name}] is repeated (first at line "
                                f"{current.line}): keep one")
            else:
                current = sections[name] = Section(name, lineno)
            optname = None
            continue
        # The messages never quote the line: the file may be no config file at all
        # (include = /etc/shadow), and its content is not ours to print.
        if current is None:
            problems.append(f"{display}:{lineno}: INI syntax error: option outside of any "
                            "[section]")
            continue
        mo = _OPTION.match(line)
        if not mo or not mo.group("option").strip():
            problems.append(f"{display}:{lineno}: INI syntax error: expected 'name = value' "
                            "or '[section]'")
            continue
        optname = mo.group("option").rstrip()
        key = f"{current.name}\0{optname}"
        if optname in current.options:
            # circus keeps the first value silently; the second is what was meant, maybe
            problems.append(f"{display}:{lineno}: [{current.name}] {optname}: set twice "
                            f"(first at line {first[key]}): keep one")
            optname = None
            continue
        first[key] = lineno
        value = mo.group("value")
        pos = value.find(";")
        if pos > 0 and value[pos - 1].isspace():
            value = value[:pos]
        value = value.strip()
        current.options[optname] = "" if value == '""' else value
        values[key] = [current.options[optname]]
    if problems and not sections and not defaults.options:
        return [], [f"{display}: not a config file (no [section] in it)"]
    for section in (defaults, *sections.values()):
        for opt in section.options:
            parts = values.get(f"{section.name}\0{opt}")
            if parts:
                section.options[opt] = "\n".join(parts)
    if defaults.options:  # RawConfigParser shows [DEFAULT] options in every section
        for section in sections.values():
            for opt, value in defaults.options.items():
                section.options.setdefault(opt, value)
    return list(sections.values()), problems


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
        if s.name in _CONTROLLER_SECTIONS:
            for key, value in s.options.items():
                if key == "include":
                    includes += include_paths(value.split(), base_dir, where, c.report)
                elif key == "include_dir":
                    includes += include_paths([os.path.join(d, "*.ini") for d in
                                               split_patterns(value)], base_dir, where,
                                              c.report)
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
