"""Reading a supervisord.conf and its ``[include] files`` into sections, as supervisord does.

supervisord parses with Python's RawConfigParser (option names lower-cased, ``;`` and ``#``
start a comment after whitespace, continuation lines, a repeated option or section: the last
value wins) and reads the files of the main file's ``[include]``, globs relative to that
file, in sorted order, into the same parser; included files cannot include in turn.
``%(here)s`` is the directory of the file a value was written in.
"""

from __future__ import annotations

import configparser
import glob
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ringleader.config.dialects.files import UntrustedFile, read_config_text
from ringleader.config.dialects.supervisord_values import Invalid, expand
from ringleader.config.dialects.translation import Findings

_NO_DEFAULT = "\0"  # so that [DEFAULT] reads as a section of its own, handled below
_PROGRAM_KINDS = ("program:", "eventlistener:", "fcgi-program:")


@dataclass
class Section:
    name: str
    display: str  # the file it was first defined in, as shown in messages
    options: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.display}: [{self.name}]"


@dataclass
class ReadFiles:
    sections: dict[str, Section]
    sources: list[str]  # absolute paths, main file first


def display_name(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _parse(text: str, display: str, here: str, findings: Findings) -> list[Section]:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False,
                                          default_section=_NO_DEFAULT)
    # The messages never quote the line: an included file may be no config file at all
    # (files = /etc/shadow), and its content is not ours to print.
    try:
        parser.read_string(text, source=display)
    except configparser.MissingSectionHeaderError as exc:
        findings.problems.append(f"{display}:{exc.lineno}: INI syntax error: a line before "
                                 "any [section]")
        return []
    except configparser.ParsingError as exc:
        findings.problems += [f"{display}:{lineno}: INI syntax error: expected 'name = value' "
                              "or '[section]'" for lineno, _ in exc.errors]
        return []
    # a '%' in the directory must survive the expansion pass that follows
    escaped_here = here.replace("%", "%%")
    return [Section(name, display, {k: v.replace("%(here)s", escaped_here)
                                    for k, v in parser.items(name)})
            for name in parser.sections()]


def _read(path: str, display: str, findings: Findings) -> list[Section] | None:
    try:
        text = read_config_text(path)
    except UntrustedFile as exc:
        findings.problems.append(f"{display}: {exc}")
        return None
    return _parse(text, display, os.path.dirname(os.path.abspath(path)), findings)


def _merge(into: dict[str, Section], sections: list[Section]) -> None:
    for s in sections:
        if s.name in into:
            into[s.name].options.update(s.options)  # the last value wins
        else:
            into[s.name] = s


def read_files(path: str, display: str, host: str, environ_ref: Callable[[str], str | None],
               findings: Findings) -> ReadFiles:
    """The main file and its includes, merged. *environ_ref* resolves %(ENV_X)s in the
    include patterns (they are needed now, not when the translation is loaded)."""
    main = os.path.abspath(path)
    read = ReadFiles({}, [main])
    sections = _read(path, display, findings)
    if sections is None:
        return read
    _merge(read.sections, sections)
    include = read.sections.pop("include", None)
    if include is not None:
        for extra in _included(include, os.path.dirname(main), host, environ_ref, findings):
            shown = display_name(extra)
            more = _read(extra, shown, findings)
            if more is None:
                continue
            read.sources.append(extra)
            nested = [s for s in more if s.name == "include"]
            if nested:
                findings.note(f"{shown}: [include]", "ignored: supervisord reads the "
                              "[include] of the main file only")
            _merge(read.sections, [s for s in more if s.name != "include"])
    defaults = read.sections.pop("DEFAULT", None)
    if defaults is not None:  # RawConfigParser shows [DEFAULT] in every section
        for s in read.sections.values():
            if s.name.startswith(_PROGRAM_KINDS):
                for k, v in defaults.options.items():
                    s.options.setdefault(k, v)
        findings.note(defaults.where, "its options apply to the program and event "
                      "listener sections only")
    return read


def _included(include: Section, base: str, host: str,
              environ_ref: Callable[[str], str | None], findings: Findings) -> list[str]:
    raw = include.options.get("files")
    if raw is None:
        findings.error(include.where, "files", "missing ([include] needs files = GLOB ...)")
        return []
    try:
        text = expand(raw, {"here": base, "host_node_name": host}, environ_ref)
    except Invalid as exc:
        findings.error(include.where, "files", str(exc))
        return []
    for option in include.options:
        if option != "files":
            findings.note(f"{include.where} {option}", "not a supervisord option, ignored")
    found: list[str] = []
    for pattern in text.split():
        full = os.path.join(base, pattern)  # no ~ expansion, as supervisord
        matches = sorted(glob.glob(full))
        if not matches:
            findings.note(f"{include.where} files", f"{pattern!r} matches no file")
        found += [m for m in matches if m not in found]
    return found
