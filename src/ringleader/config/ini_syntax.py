"""The syntax of circus's INI files, shared by the loader (``circus_ini``) and the console's
``-c CONFIG`` (``config.endpoint``): stdlib only, nothing the console does not need.

The reader follows circus's ``StrictConfigParser`` (a RawConfigParser: no ``%`` interpolation,
option names keep their case, ``;`` starts a comment only after whitespace, ``""`` is the empty
string) but keeps line numbers for the messages; a repeated section or option, which circus
merges silently (the first value wins), is an error naming both lines.
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"\[(?P<header>.+)\]")
_OPTION = re.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")


class Section:
    """One [section]: its options in file order (a plain class: dataclasses, with inspect,
    would cost the console ~5 ms)."""

    __slots__ = ("line", "name", "options")

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line
        self.options: dict[str, str] = {}


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
